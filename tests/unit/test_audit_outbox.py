"""SQLite: a change's record commits with the change, in the store's `audit_outbox`, and
moves to the trail file right after (kms_core/audit.py, AuditLog.write_in_transaction).

A record is never lost and never doubled: a process that dies after the commit (before
or after the move) leaves a row the sweeper settles exactly once; a trail that refuses
the record leaves the change committed and its record in the outbox until it takes it;
the outbox stays small under a stream of changes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from kms_core import audit as audit_module
from kms_core.audit import AuditEvent, AuditLog, _fields, begin_request, end_request, verify
from kms_core.crypto.root import RootKey
from kms_core.storage import migrate
from kms_core.storage.audit_file import audit_file_path
from kms_core.storage.connect import sqlite_url
from kms_core.storage.session import Database
from tests.fakes.clock import FakeClock

NOW = 1_800_000_000.0
ROOT_ARN = "arn:aws:iam::111122223333:root"


def Clock() -> FakeClock:  # noqa: N802  (reads as the class it makes)
    return FakeClock(NOW)


@pytest.fixture
def store(tmp_path: Path):
    db = Database(sqlite_url(tmp_path))
    migrate.upgrade(db)
    root = RootKey(os.urandom(32), "test")
    clock = Clock()
    log = AuditLog(db, root, clock)
    db.audit_log = log
    yield db, root, log, clock
    log.close()
    db.dispose()


def event(name: str, when: float) -> AuditEvent:
    return AuditEvent(event_time=when, request_id=f"req-{name}", event_source="kms.amazonaws.com",
                      event_name="TagResource", region="us-east-1", account_id="111122223333",
                      principal_arn=ROOT_ARN, access_key_id="AKIAIOSFODNN7EXAMPLE", source_ip="127.0.0.1",
                      user_agent="Boto3/1.0", resources=[f"arn:aws:kms:us-east-1:111122223333:key/{name}"])


def change(db: Database, log: AuditLog, name: str, when: float) -> None:
    """One committed change (a row in ps_meta) made by a request, as the server makes them."""
    begin_request(log, lambda: event(name, when))
    try:
        with db.write() as session:
            session.execute(text("INSERT INTO ps_meta (name, value) VALUES (:n, 'x')").bindparams(n=f"test-{name}"))
    finally:
        assert end_request()


def trail(db: Database) -> list[str]:
    conn = sqlite3.connect(audit_file_path(db.sqlite_path))
    try:
        return [r[0] for r in conn.execute("SELECT request_id FROM audit_event ORDER BY seq")]
    finally:
        conn.close()


def outbox(db: Database) -> list[tuple]:
    conn = sqlite3.connect(db.sqlite_path)
    try:
        return conn.execute("SELECT id, request_id FROM audit_outbox ORDER BY id").fetchall()
    finally:
        conn.close()


def leave_in_outbox(db: Database, name: str, when: float) -> None:
    """What a process that died right after its commit leaves: the row, no trail record."""
    conn = sqlite3.connect(db.sqlite_path, isolation_level=None)
    try:
        conn.execute(audit_module._OUTBOX_INSERT, _fields(event(name, when)))
    finally:
        conn.close()


def test_a_changes_record_is_in_the_trail_once_the_change_commits(store):
    db, root, log, _ = store
    change(db, log, "one", NOW)
    assert trail(db) == ["req-one"]
    assert [r[1] for r in outbox(db)] == ["req-one"]  # until the trail holds it on disk
    assert verify(db, root).ok


def test_the_outbox_stays_small_under_a_stream_of_changes(store):
    db, root, log, _ = store
    count = 3 * audit_module.OUTBOX_SYNC_EVERY + 5
    for i in range(count):
        change(db, log, f"c{i}", NOW + i)
    assert trail(db) == [f"req-c{i}" for i in range(count)]
    left = outbox(db)
    assert len(left) <= audit_module.OUTBOX_SYNC_EVERY + 1
    assert {r[1] for r in left} <= set(trail(db))  # nothing waits that isn't in the trail
    assert verify(db, root).ok


def test_a_record_left_by_a_process_that_died_is_moved_once(store):
    db, root, log, clock = store
    change(db, log, "before", NOW)
    leave_in_outbox(db, "orphan", NOW + 1)
    clock.now = NOW + 30
    assert log.sweep_outbox() == 0  # too young: its writer may still be moving it
    assert "req-orphan" not in trail(db)
    clock.now = NOW + 1 + audit_module.OUTBOX_ORPHAN_SECONDS + 1
    assert log.sweep_outbox() == 1
    assert trail(db).count("req-orphan") == 1
    assert log.sweep_outbox() == 0  # a second sweep (or another process's) moves nothing
    assert trail(db).count("req-orphan") == 1
    assert [r[1] for r in outbox(db)] == []
    change(db, log, "after", clock.now)
    assert trail(db)[-1] == "req-after"
    assert verify(db, root).ok


def test_a_record_already_moved_by_a_process_that_died_is_not_moved_again(store):
    db, root, log, clock = store
    other = AuditLog(db, root, clock)  # the process that died: it moved the record, then died
    change(db, other, "moved", NOW)
    other._outbox_synced.clear()
    other._outbox_unsynced.clear()
    other.close()
    for i in range(30):  # the trail goes on meanwhile
        change(db, log, f"later{i}", NOW + 5 + i)
    assert "req-moved" in [r[1] for r in outbox(db)]
    clock.now = NOW + 10 * audit_module.OUTBOX_ORPHAN_SECONDS
    assert log.sweep_outbox() == 0
    assert trail(db).count("req-moved") == 1
    assert "req-moved" not in [r[1] for r in outbox(db)]
    assert verify(db, root).ok


def test_a_trail_that_refuses_the_record_leaves_it_in_the_outbox_until_it_takes_it(store):
    db, root, log, clock = store
    change(db, log, "first", NOW)
    conn = sqlite3.connect(audit_file_path(db.sqlite_path), isolation_level=None)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'no'); END")
    try:
        change(db, log, "refused", NOW + 1)  # committed: the record is safe in the outbox
        assert "req-refused" in [r[1] for r in outbox(db)]
        assert "req-refused" not in trail(db)
        clock.now = NOW + 1 + audit_module.OUTBOX_ORPHAN_SECONDS + 1
        with pytest.raises(sqlite3.IntegrityError):
            log.sweep_outbox()
        assert "req-refused" in [r[1] for r in outbox(db)]
    finally:
        conn.execute("DROP TRIGGER refuse")
        conn.close()
    assert log.sweep_outbox() == 1
    assert trail(db).count("req-refused") == 1
    assert verify(db, root).ok
