"""Driving a root-key rotation to its end: rewrap in batches, then retire the old versions.

Both the `rotate-root-key` command and every server's sweeper call `finish_step`, so a
rotation whose command died part way is finished by the servers (or by running the
command again): the work is idempotent and each batch is its own transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from kms_core.audit import AuditEvent
from kms_core.crypto.root import RootKeyring
from kms_core.storage import root_versions
from kms_core.storage.session import Database

ROTATION_SOURCE = "paramstore"


def root_event(clock: Callable[[], float], principal: str) -> Callable[[str, dict], AuditEvent]:
    """How a root-key step is recorded: by the operator's command or by the service."""
    def make(name: str, detail: dict) -> AuditEvent:
        return AuditEvent(event_time=clock(), request_id=str(uuid.uuid4()), event_source=ROTATION_SOURCE,
                          event_name=name, principal_arn=principal, detail=detail)
    return make


@dataclass
class Step:
    """What one `finish_step` did: values moved, versions retired, or why it is stuck."""

    moved: int = 0
    retired: list[int] = field(default_factory=list)
    stuck: Optional[str] = None


def finish_step(db: Database, keyring: RootKeyring, clock: Callable[[], float], principal: str,
                batch: int = 200, cursor: Optional[root_versions.RewrapCursor] = None) -> Optional[Step]:
    """One step of an unfinished rotation: a batch rewrapped, or (the pass over) the old
    versions retired.  None when no rotation is unfinished.  Pass the same `cursor` to
    each step of one pass."""
    if not root_versions.rewrap_pending(db):
        return None
    make = root_event(clock, principal)
    done = root_versions.rewrap_batch(db, keyring, batch, make, cursor)
    if done.visited:
        return Step(moved=done.moved)
    retired = root_versions.retire_finished(db, keyring, clock(), None, make)
    if retired:
        return Step(retired=retired)
    if not root_versions.rewrap_pending(db):
        return None  # another process retired them first
    left = {v: n for per in root_versions.counts(db).values() for v, n in per.items()
            if n and v != keyring.current}
    return Step(stuck=f"values under root versions {sorted(left)} could not be rewrapped" if left
                else "another process changed the root versions; run the command again")
