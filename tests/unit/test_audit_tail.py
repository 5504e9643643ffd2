"""The authenticated audit head on both databases: removing any suffix of the trail (the
last event, the last N, everything after what used to be the last checkpoint, everything)
is reported by verify(), and so is rewriting or un-sealing the head without the root key;
a rollback to an older copy of the head is not (documented: it needs an external anchor);
a trail written before the head was authenticated still verifies after the upgrade."""

from __future__ import annotations

from kms_core.storage.audit_file import trail_engine
import asyncio
import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import text

from kms_core.audit import (
    GENESIS_MAC,
    LEGACY_CHAIN_LABEL,
    AuditEvent,
    AuditLog,
    _fields,
    compute_mac,
    verify,
)
from kms_core.crypto.root import RootKey
from kms_core.storage import migrate
from kms_core.storage.session import Database
from kms_core.storage.connect import sqlite_url

ROOT_ARN = "arn:aws:iam::111122223333:root"
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BEFORE_HEAD_MAC = "e5c0ffee0005"  # the last revision without audit_head.head_mac


def event(i: int) -> AuditEvent:
    return AuditEvent(event_time=1_700_000_000.0 + i * 0.001, request_id=f"req-{i:04d}",
                      event_source="kms.amazonaws.com", event_name="Encrypt", region="us-east-1",
                      account_id="111122223333", principal_arn=ROOT_ARN, access_key_id="AKIAIOSFODNN7EXAMPLE",
                      source_ip="127.0.0.1", user_agent="Boto3/1.0", resources=[KEY_ARN],
                      encryption_context={"n": str(i)})


def append(log: AuditLog, *events: AuditEvent) -> None:
    async def go() -> None:
        await asyncio.gather(*(log.append(e) for e in events))

    asyncio.run(go())


def sql(db: Database, statement: str, **params) -> list:
    with trail_engine(db).begin() as conn:
        result = conn.execute(text(statement), params)
        return result.all() if result.returns_rows else []


def head(db: Database) -> tuple:
    return tuple(sql(db, "SELECT last_seq, last_mac, head_mac FROM audit_head WHERE id = 1")[0])


def write_trail(db: Database, root: RootKey, n: int) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    try:
        for i in range(1, n + 1):
            append(log, event(i))
    finally:
        log.close()


@pytest.fixture
def trail(db, root):
    write_trail(db, root, 10)
    return db


# --- untouched -------------------------------------------------------------------------
def test_untouched_trail_verifies_and_the_head_is_the_last_event(trail, root) -> None:
    result = verify(trail, root)
    assert result.ok and result.count == 10 and result.note is None, str(result)
    assert str(result) == "audit trail intact: 10 events"
    last_seq, last_mac, tag = head(trail)
    assert (last_seq, last_mac) == tuple(sql(trail, "SELECT seq, mac FROM audit_event WHERE seq = 10")[0])
    assert tag is not None and len(tag) == 64


def test_batched_appends_move_the_head_once_per_batch(db, root) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    try:
        append(log, *(event(i) for i in range(1, 41)))
        append(log, event(41))
    finally:
        log.close()
    assert head(db)[0] == 41
    assert verify(db, root).ok


def test_two_writers_keep_the_head_on_the_last_event(db, root) -> None:
    """Two AuditLogs, as two server processes sharing the database would be."""
    a, b = AuditLog(db, root, clock=lambda: 0.0), AuditLog(db, root, clock=lambda: 0.0)
    try:
        for i in range(1, 21):
            append(a if i % 3 else b, event(i))
    finally:
        a.close()
        b.close()
    result = verify(db, root)
    assert result.ok and result.count == 20, str(result)
    assert head(db)[0] == 20


# --- removing a suffix -------------------------------------------------------------------
@pytest.mark.parametrize("first_deleted", [10, 7, 1], ids=["last-1", "last-4", "all"])
def test_deleted_suffix_is_reported(trail, root, first_deleted) -> None:
    sql(trail, "DELETE FROM audit_event WHERE seq >= :s", s=first_deleted)
    result = verify(trail, root)
    gone = 11 - first_deleted
    assert not result.ok and result.first_broken_seq == first_deleted, str(result)
    assert result.count == first_deleted - 1
    assert "deleted from the tail" in result.reason and f"{gone} event" in result.reason, result.reason


def test_events_after_the_old_checkpoint_are_covered(db, root) -> None:
    """The SQLite head used to move every 64 events (checkpoints at 1, 65, ...): deleting
    66..70 went unnoticed there.  Now any deletion after the last event is reported."""
    write_trail(db, root, 70)
    sql(db, "DELETE FROM audit_event WHERE seq > 65")
    result = verify(db, root)
    assert not result.ok and result.first_broken_seq == 66 and "tail" in result.reason, str(result)


def test_deleted_suffix_with_head_pointed_at_the_new_last_event(trail, root) -> None:
    """What someone without the root key would do: also move the head back.  Its tag can't follow."""
    sql(trail, "DELETE FROM audit_event WHERE seq >= 8")
    sql(trail, "UPDATE audit_head SET last_seq = 7, last_mac = (SELECT mac FROM audit_event WHERE seq = 7)")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 7, str(result)
    assert "head was altered" in result.reason


def test_deleted_suffix_with_the_tag_removed(trail, root) -> None:
    """Nulling the tag doesn't pass the trail off as one from before the upgrade: its events
    carry the current chain key."""
    sql(trail, "DELETE FROM audit_event WHERE seq >= 8")
    sql(trail, "UPDATE audit_head SET last_seq = 7, last_mac = (SELECT mac FROM audit_event WHERE seq = 7), "
               "head_mac = NULL")
    result = verify(trail, root)
    assert not result.ok and "not authenticated" in result.reason, str(result)


def test_tag_copied_from_another_state_is_refused(trail, root) -> None:
    """The tag binds seq and mac: keep the tag, change what it vouches for."""
    sql(trail, "UPDATE audit_head SET last_seq = 9, last_mac = (SELECT mac FROM audit_event WHERE seq = 9)")
    sql(trail, "DELETE FROM audit_event WHERE seq = 10")
    result = verify(trail, root)
    assert not result.ok and "head was altered" in result.reason, str(result)


def test_head_written_back_behind_the_trail_is_reported(db, root) -> None:
    """An older copy of the head written back while the events stay: events beyond it."""
    write_trail(db, root, 7)
    old = head(db)
    log = AuditLog(db, root, clock=lambda: 0.0)
    try:
        for i in range(8, 11):
            append(log, event(i))
    finally:
        log.close()
    sql(db, "UPDATE audit_head SET last_seq = :s, last_mac = :m, head_mac = :t", s=old[0], m=old[1], t=old[2])
    result = verify(db, root)
    assert not result.ok and result.first_broken_seq == 8 and "not covered" in result.reason, str(result)


def test_rollback_to_an_older_head_copy_needs_an_external_anchor(db, root) -> None:
    """The documented limit: delete the tail AND write back the head as it was then, and the
    trail is the one that existed then.  Only a copy of the head kept elsewhere tells."""
    write_trail(db, root, 7)
    anchor = head(db)  # e.g. shipped off the database after the 7th event
    log = AuditLog(db, root, clock=lambda: 0.0)
    try:
        for i in range(8, 11):
            append(log, event(i))
    finally:
        log.close()
    external_copy = head(db)
    sql(db, "DELETE FROM audit_event WHERE seq >= 8")
    sql(db, "UPDATE audit_head SET last_seq = :s, last_mac = :m, head_mac = :t",
        s=anchor[0], m=anchor[1], t=anchor[2])
    assert verify(db, root).ok
    assert head(db)[0] < external_copy[0]  # what comparing with the external copy shows


def test_empty_trail(db, root) -> None:
    result = verify(db, root)
    assert result.ok and result.count == 0 and "not authenticated yet" in result.note


# --- upgrading a trail written before the head was authenticated -------------------------
def legacy_trail(db: Database, root: RootKey, n: int, checkpoint: int) -> None:
    """Events chained as the earlier version did (chain key v1), its head a checkpoint."""
    key = root.derive(LEGACY_CHAIN_LABEL)
    prev, macs = GENESIS_MAC, {}
    columns = ("seq", "event_time", "request_id", "event_source", "event_name", "region", "account_id",
               "principal_arn", "access_key_id", "source_ip", "user_agent", "resources", "encryption_context",
               "error_code", "detail", "prev_mac", "mac")
    insert = text("INSERT INTO audit_event (" + ", ".join(columns) + ") VALUES ("
                  + ", ".join(":" + c for c in columns) + ")")
    with trail_engine(db).begin() as conn:
        for seq in range(1, n + 1):
            values = _fields(event(seq))
            mac = compute_mac(key, prev, seq, values)
            conn.execute(insert, dict(zip(columns, [seq, *values, prev, mac])))
            prev, macs[seq] = mac, mac
        conn.execute(text("UPDATE audit_head SET last_seq = :s, last_mac = :m WHERE id = 1"),
                     {"s": checkpoint, "m": macs[checkpoint]})


@pytest.fixture
def old_db(fresh_database, tmp_path: Path):
    database = Database(fresh_database[1] or sqlite_url(tmp_path))
    migrate.upgrade(database, BEFORE_HEAD_MAC)
    yield database
    database.dispose()


def test_upgraded_trail_verifies_then_gets_sealed(old_db, root) -> None:
    legacy_trail(old_db, root, 8, checkpoint=5)
    migrate.upgrade(old_db)
    assert head(old_db)[2] is None
    result = verify(old_db, root)
    assert result.ok and result.count == 8, str(result)
    assert "not authenticated yet" in result.note and "after seq 5" in result.note

    # The next event this version writes seals the head: from then on, the tail is covered.
    log = AuditLog(old_db, root, clock=lambda: 0.0)
    try:
        append(log, event(9))
        append(log, event(10))
    finally:
        log.close()
    result = verify(old_db, root)
    assert result.ok and result.count == 10 and result.note is None, str(result)
    assert head(old_db)[0] == 10 and head(old_db)[2] is not None
    sql(old_db, "DELETE FROM audit_event WHERE seq = 10")
    result = verify(old_db, root)
    assert not result.ok and result.first_broken_seq == 10 and "tail" in result.reason, str(result)


def test_upgraded_trail_below_the_old_checkpoint_is_still_checked(old_db, root) -> None:
    legacy_trail(old_db, root, 8, checkpoint=5)
    migrate.upgrade(old_db)
    sql(old_db, "DELETE FROM audit_event WHERE seq >= 4")
    result = verify(old_db, root)
    assert not result.ok and result.first_broken_seq == 4 and "tail" in result.reason, str(result)


def test_legacy_event_after_a_current_one_is_refused(old_db, root) -> None:
    """Events under the old chain key are a prefix: one after an event under the current key
    is refused, so the current era can't be passed off as (or mixed with) the old one."""
    legacy_trail(old_db, root, 3, checkpoint=3)
    migrate.upgrade(old_db)
    log = AuditLog(old_db, root, clock=lambda: 0.0)
    try:
        append(log, event(4))
    finally:
        log.close()
    # Re-chain event 5 with the legacy key onto event 4 and point a stale head at it.
    key = root.derive(LEGACY_CHAIN_LABEL)
    prev = sql(old_db, "SELECT mac FROM audit_event WHERE seq = 4")[0][0]
    values = _fields(event(5))
    mac = compute_mac(key, prev, 5, values)
    columns = ("seq", "event_time", "request_id", "event_source", "event_name", "region", "account_id",
               "principal_arn", "access_key_id", "source_ip", "user_agent", "resources", "encryption_context",
               "error_code", "detail", "prev_mac", "mac")
    sql(old_db, "INSERT INTO audit_event (" + ", ".join(columns) + ") VALUES ("
        + ", ".join(":" + c for c in columns) + ")", **dict(zip(columns, [5, *values, prev, mac])))
    result = verify(old_db, root)
    assert not result.ok and result.first_broken_seq == 5, str(result)


def test_event_times_never_go_backwards_when_the_wall_clock_steps_back(db, root) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    times = [1_700_000_100.0, 1_700_000_101.5, 1_700_000_050.0, 1_700_000_099.0, 1_700_000_102.0]

    async def go() -> None:
        for i, t in enumerate(times):
            await log.append(dataclasses.replace(event(i), event_time=t))

    asyncio.run(go())
    log.close()
    stored = [row[0] for row in sql(db, "SELECT event_time FROM audit_event ORDER BY seq")]
    assert stored == [1_700_000_100.0, 1_700_000_101.5, 1_700_000_101.5, 1_700_000_101.5, 1_700_000_102.0]
    assert verify(db, root).ok
