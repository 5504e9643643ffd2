"""Readiness (`GET /health/ready`): whether this process can serve requests now.

Liveness (`GET /health`) only says the process answers.  Readiness also asks the database,
with a connection of its own and the database timeout: it is reachable, its schema is at
this release's migration head, and the root key this process holds is the store's (its
check value matches the one recorded at creation).  An orchestrator takes a not-ready
server out of rotation instead of restarting it; outages recover without a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from kms_core.crypto.root import RootKeyError
from kms_core.storage import migrate
from kms_core.storage.store_meta import schema_and_root_check
from paramstore.preflight import first_line, masked

if TYPE_CHECKING:
    from paramstore.bootstrap import Store


class Readiness:
    def __init__(self, store: "Store") -> None:
        self.store = store
        self._head: Optional[str] = None  # parsing the migration scripts: once, at the first probe

    def problem(self) -> Optional[str]:
        """None when ready, else a one-line reason (never a secret: the URL is masked)."""
        store = self.store
        if store.root is None:
            return "the root key is not loaded"
        where = "SQLite database" if store.db.is_sqlite else f"database at {masked(store.db.url)}"
        try:
            revision, check = schema_and_root_check(store.db)
        except Exception as exc:  # noqa: BLE001 - any failure to ask is "not ready"
            return f"the {where} can't be reached: {first_line(getattr(exc, 'orig', None) or exc)}"
        if self._head is None:
            self._head = migrate.head_revision(store.db)
        if revision != self._head:
            return f"the database schema is at {revision or 'no revision'}, this release needs {self._head} " \
                   "(run `paramstore db upgrade`)"
        if check is None or not store.root.matches(check):
            return "the root key loaded is not this store's"
        try:
            store.root.probe()
        except RootKeyError as exc:
            return str(exc)
        return None
