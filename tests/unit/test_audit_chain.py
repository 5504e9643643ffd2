"""The audit chain on a real (temporary SQLite) database: writes, batching, and verify()
catching an edited, deleted, reordered or truncated trail."""

from __future__ import annotations

from kms_core.storage.audit_file import trail_engine
import asyncio
import logging
import os
from pathlib import Path

import pytest

from kms_core.audit import GENESIS_MAC, AuditEvent, AuditLog, AuditUnavailable, query, verify
from kms_core.crypto.root import RootKey
from kms_core.storage import migrate
from kms_core.storage.session import Database

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_ARN = "arn:aws:iam::111122223333:root"


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'paramstore.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def event(i: int, **over) -> AuditEvent:
    fields = dict(event_time=1_700_000_000.0 + i * 0.001, request_id=f"req-{i:04d}",
                  event_source="kms.amazonaws.com", event_name="Encrypt", region="us-east-1",
                  account_id="111122223333", principal_arn=ROOT_ARN, access_key_id="AKIAIOSFODNN7EXAMPLE",
                  source_ip="127.0.0.1", user_agent="Boto3/1.0", resources=[KEY_ARN],
                  encryption_context={"purpose": f"test-{i}"})
    fields.update(over)
    return AuditEvent(**fields)


def append_all(log: AuditLog, events: list[AuditEvent]) -> None:
    async def go() -> None:
        await asyncio.gather(*(log.append(e) for e in events))

    asyncio.run(go())


def sql(db: Database, statement: str, *params) -> list:
    with trail_engine(db).begin() as conn:
        result = conn.exec_driver_sql(statement, params)
        return result.fetchall() if result.returns_rows else []


@pytest.fixture
def trail(db, root):
    """Ten events, written one flush at a time."""
    log = AuditLog(db, root, clock=lambda: 0.0)
    for i in range(1, 11):
        append_all(log, [event(i)])
    log.close()
    return db


def test_intact_chain(trail, root) -> None:
    result = verify(trail, root)
    assert result.ok and result.count == 10, str(result)
    assert str(result) == "audit trail intact: 10 events"
    rows = sql(trail, "SELECT seq, prev_mac, mac FROM audit_event ORDER BY seq")
    assert [r[0] for r in rows] == list(range(1, 11))
    assert rows[0][1] == GENESIS_MAC
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 10))
    assert sql(trail, "SELECT last_seq, last_mac FROM audit_head") == [(10, rows[-1][2])]


def test_empty_trail_is_intact(db, root) -> None:
    assert verify(db, root).ok and verify(db, root).count == 0


@pytest.mark.parametrize("column, value", [
    ("principal_arn", "arn:aws:iam::111122223333:user/someone-else"),
    ("error_code", "AccessDeniedException"),
    ("encryption_context", '{"purpose":"other"}'),
    ("event_time", 1_600_000_000.0),
    ("user_agent", None),
])
def test_edited_field_is_pinpointed(trail, root, column, value) -> None:
    sql(trail, f"UPDATE audit_event SET {column} = ? WHERE seq = 6", value)
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 6, str(result)
    assert "altered" in result.reason and result.count == 5


def test_wrong_root_key_breaks_first_event(trail) -> None:
    """Someone with only database access can't recompute the macs."""
    result = verify(trail, RootKey(os.urandom(32), "other"))
    assert not result.ok and result.first_broken_seq == 1


def test_reforged_mac_without_key_is_caught_at_next_link(trail, root) -> None:
    # An attacker edits seq 4 and, lacking the key, copies the edit into an unkeyed hash:
    # still a mac mismatch at 4.  Replacing seq 4's mac by seq 5's breaks 4 as well.
    mac5 = sql(trail, "SELECT mac FROM audit_event WHERE seq = 5")[0][0]
    sql(trail, "UPDATE audit_event SET mac = ? WHERE seq = 4", mac5)
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 4


def test_deleted_middle_row_is_pinpointed(trail, root) -> None:
    sql(trail, "DELETE FROM audit_event WHERE seq = 4")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 4, str(result)
    assert "deleted" in result.reason


def test_deleted_and_renumbered_is_caught(trail, root) -> None:
    """Delete seq 4 and shift 5..10 down to close the gap: the mac covers seq."""
    sql(trail, "DELETE FROM audit_event WHERE seq = 4")
    for seq in range(5, 11):
        sql(trail, "UPDATE audit_event SET seq = ? WHERE seq = ?", seq - 1, seq)
    sql(trail, "UPDATE audit_head SET last_seq = 9")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 4, str(result)


def test_deleted_first_row(trail, root) -> None:
    sql(trail, "DELETE FROM audit_event WHERE seq = 1")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 1


def test_truncated_tail_is_caught(trail, root) -> None:
    sql(trail, "DELETE FROM audit_event WHERE seq >= 9")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 9, str(result)
    assert "tail" in result.reason


def test_reordered_rows_are_caught(trail, root) -> None:
    """Swap the seq numbers of two events (their contents and macs move with them)."""
    sql(trail, "UPDATE audit_event SET seq = -1 WHERE seq = 3")
    sql(trail, "UPDATE audit_event SET seq = 3 WHERE seq = 4")
    sql(trail, "UPDATE audit_event SET seq = 4 WHERE seq = -1")
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 3, str(result)


def test_row_inserted_beyond_head_is_caught(trail, root) -> None:
    row = sql(trail, "SELECT * FROM audit_event WHERE seq = 10")[0]
    cols = [r[1] for r in sql(trail, "PRAGMA table_info(audit_event)")]
    values = dict(zip(cols, row), seq=11)
    sql(trail, f"INSERT INTO audit_event ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        *values.values())
    result = verify(trail, root)
    assert not result.ok and result.first_broken_seq == 11


def test_concurrent_appends_are_written_in_order(db, root, monkeypatch) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    batches: list[int] = []
    real = log.write_batch
    monkeypatch.setattr(log, "write_batch", lambda batch: (batches.append(len(batch)), real(batch))[1])
    append_all(log, [event(i) for i in range(1, 51)])
    append_all(log, [event(i) for i in range(51, 61)])
    # PostgreSQL groups concurrent appends into one statement; SQLite writes each inline.
    assert batches == ([1] * 60 if db.is_sqlite else [50, 10])
    rows = sql(db, "SELECT seq, request_id FROM audit_event ORDER BY seq")
    assert rows == [(i, f"req-{i:04d}") for i in range(1, 61)]
    assert verify(db, root).count == 60


def test_two_writers_extend_one_chain(db, root) -> None:
    """Two AuditLogs (as two server processes would) interleave on one chain."""
    a, b = AuditLog(db, root, clock=lambda: 0.0), AuditLog(db, root, clock=lambda: 0.0)
    for i in range(1, 21):
        append_all(a if i % 2 else b, [event(i)])
    result = verify(db, root)
    assert result.ok and result.count == 20


def test_long_and_hostile_strings_are_stored_safely(db, root) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    append_all(log, [event(1, user_agent="x" * 5000, access_key_id="A" * 500 + "\x00",
                           encryption_context={"k\ud800": "v\x00"}, event_name="N" * 300)])
    stored = query(db)[0]
    assert len(stored["user_agent"]) == 512
    assert len(stored["access_key_id"]) == 128 and "\x00" not in stored["access_key_id"]
    assert len(stored["event_name"]) == 128
    assert verify(db, root).ok


def test_fail_closed_raises_and_fail_open_returns(db, root, caplog) -> None:
    append_all(AuditLog(db, root, clock=lambda: 0.0), [event(1)])
    sql(db, "DROP TABLE audit_head")
    with pytest.raises(AuditUnavailable):
        append_all(AuditLog(db, root, clock=lambda: 0.0), [event(2, user_agent="secret-ish-agent")])
    caplog.set_level(logging.ERROR, logger="paramstore.audit")
    append_all(AuditLog(db, root, clock=lambda: 0.0, fail_closed=False), [event(3, user_agent="secret-ish-agent")])
    assert "NOT recorded" in caplog.text and "secret-ish-agent" not in caplog.text


def test_writer_recovers_after_failure(db, root) -> None:
    log = AuditLog(db, root, clock=lambda: 0.0)
    append_all(log, [event(1)])
    sql(db, "ALTER TABLE audit_event RENAME TO audit_event_x")
    with pytest.raises(AuditUnavailable):
        append_all(log, [event(2)])
    sql(db, "ALTER TABLE audit_event_x RENAME TO audit_event")
    append_all(log, [event(3)])
    result = verify(db, root)
    assert result.ok and result.count == 2


def test_query_filters(db, root) -> None:
    other_key = KEY_ARN.replace("1234abcd", "9999abcd")
    user = "arn:aws:iam::111122223333:user/alice"
    log = AuditLog(db, root, clock=lambda: 0.0)
    append_all(log, [event(1), event(2, event_name="Decrypt"), event(3, resources=[other_key]),
                     event(4, principal_arn=user), event(5, resources=[], error_code="AccessDeniedException")])
    assert [e["seq"] for e in query(db)] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in query(db, event_name="Decrypt")] == [2]
    assert [e["seq"] for e in query(db, key=other_key)] == [3]
    assert [e["seq"] for e in query(db, key="1234abcd-12ab-34cd-56ef-1234567890ab")] == [1, 2, 4]
    assert [e["seq"] for e in query(db, principal=user)] == [4]
    assert [e["seq"] for e in query(db, since=1_700_000_000.0025, until=1_700_000_000.0045)] == [3, 4]
    assert [e["seq"] for e in query(db, limit=2)] == [4, 5]
    first = query(db)[0]
    assert first["resources"] == [KEY_ARN] and first["encryption_context"] == {"purpose": "test-1"}


def test_audit_writes_do_not_invalidate_caches(db, root) -> None:
    """Appending must not look like a store change (which would drop every cache)."""
    log = AuditLog(db, root, clock=lambda: 0.0)
    append_all(log, [event(1)])
    before = db.change_token()
    append_all(log, [event(2), event(3)])
    assert db.change_token() == before
    assert verify(db, root).count == 3


def test_head_moves_with_every_event(db, root) -> None:
    """The head is the last event after every append (tail deletion: tests/unit/test_audit_tail.py)."""
    log = AuditLog(db, root, clock=lambda: 0.0)
    for i in range(1, 11):
        append_all(log, [event(i)])
        assert sql(db, "SELECT last_seq FROM audit_head")[0][0] == i
    assert verify(db, root).ok
    sql(db, "DELETE FROM audit_event WHERE seq >= 8")
    result = verify(db, root)
    assert not result.ok and result.first_broken_seq == 8 and "tail" in result.reason


# --- the resources column's JSON: the shortcut gives the encoder's text -------------------
from hypothesis import given, strategies as st  # noqa: E402


@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_resources_json_matches_the_encoder(items):
    from kms_core.audit import _json, _resources_json

    assert _resources_json(items) == _json(list(items))
    arns = [f"arn:aws:ssm:us-east-1:111122223333:parameter/{i.encode('ascii', 'ignore').decode()}" for i in items]
    assert _resources_json(arns) == _json(arns)
