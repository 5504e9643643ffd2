"""The store's own facts in `ps_meta`: its id, when it was made, and its root key's check
value.  Written once by the first start (paramstore/bootstrap.py), read by every start,
by readiness checks and by `audit verify`."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kms_core.storage.session import Database, ensure_epoch_row
from kms_core.storage.tables import AccessKeyTable, KeyTable, MetaTable
from kms_core.storage.unit_of_work import Conflict

STORE_ID = "store_id"
STORE_CREATED = "store_created_at"
ROOT_CHECK = "root_key_check"
#: the advisory lock servers starting together on one PostgreSQL database take in turn
_BOOTSTRAP_LOCK = 7251002


class StoreMeta:
    """`ps_meta` inside a write transaction (the first start's, or any start's check)."""

    def __init__(self, session: Session, postgres: bool) -> None:
        self._session, self._postgres = session, postgres
        #: the transaction, for the identity store's first account and access key
        self.txn = session

    def one_start_at_a_time(self) -> None:
        """Servers starting together on an empty database bootstrap one at a time (SQLite
        write transactions are exclusive already)."""
        if self._postgres:
            self._session.execute(text(f"SELECT pg_advisory_xact_lock({_BOOTSTRAP_LOCK})"))

    def get(self, name: str) -> Optional[str]:
        row = self._session.get(MetaTable, name)
        return row.value if row is not None else None

    def put(self, name: str, value: str) -> None:
        self._session.add(MetaTable(name=name, value=value))

    def access_key_exists(self, access_key_id: str) -> bool:
        return self._session.get(AccessKeyTable, access_key_id) is not None

    def holds_keys(self) -> bool:
        """Whether anything was ever sealed under a root key here (keys or access keys)."""
        return (self._session.exec(select(KeyTable.key_id).limit(1)).first() is not None
                or self._session.exec(select(AccessKeyTable.access_key_id).limit(1)).first() is not None)


@contextmanager
def bootstrapping(db: Database) -> Iterator[StoreMeta]:
    """The start's one write transaction, one start at a time, with the change-token rows
    in place; a row another server made first is a `Conflict` (try again, and find it)."""
    try:
        with db.write() as session:
            meta = StoreMeta(session, not db.is_sqlite)
            meta.one_start_at_a_time()
            ensure_epoch_row(session)
            yield meta
    except IntegrityError as exc:
        raise Conflict() from exc


def schema_and_root_check(db: Database) -> tuple[Optional[str], Optional[str]]:
    """(the schema's migration revision, the stored root key check value), on a connection
    of its own: what readiness asks the database."""
    with db.read_engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return revision, stored_root_check_on(conn)


def stored_root_check(db: Database) -> Optional[str]:
    with db.read_engine.connect() as conn:
        return stored_root_check_on(conn)


def stored_root_check_on(conn: Any) -> Optional[str]:
    return conn.execute(text("SELECT value FROM ps_meta WHERE name = :n"), {"n": ROOT_CHECK}).scalar()
