"""One audit chain per writer process, on both databases: each server process claims a
chain no other running process writes (so workers don't contend for one head), chain 0
records every other chain's start, and verify() walks them all: deleting a whole chain,
a chain's tail, or chain 0's record of a chain is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from kms_core.audit import CHAIN_OPENED, AuditEvent, AuditLog, _fields, head_tag, HEAD_LABEL, query, verify
from kms_core.storage import audit_file
from kms_core.storage.audit_file import audit_file_path, chain_base, trail_engine
from kms_core.storage.session import Database

ROOT_ARN = "arn:aws:iam::111122223333:root"


def event(i: int) -> AuditEvent:
    return AuditEvent(event_time=1_700_000_000.0 + i, request_id=f"req-{i:04d}", event_source="kms.amazonaws.com",
                      event_name="Encrypt", region="us-east-1", account_id="111122223333", principal_arn=ROOT_ARN)


def append(log: AuditLog, *events: AuditEvent) -> None:
    async def go() -> None:
        await asyncio.gather(*(log.append(e) for e in events))

    asyncio.run(go())


def sql(db: Database, statement: str, chain: int = 0, **params) -> list:
    with trail_engine(db, chain).begin() as conn:
        result = conn.execute(text(statement), params)
        return result.all() if result.returns_rows else []


@pytest.fixture
def two_writers(db, root):
    """Two server processes' logs: chain 0 and chain 1, events 1..20 alternating."""
    a, b = AuditLog(db, root, clock=lambda: 1_600_000_000.0), AuditLog(db, root, clock=lambda: 1_600_000_000.0)
    assert (a.claim_chain(), b.claim_chain()) == (0, 1)
    for i in range(1, 21):
        append(a if i % 2 else b, event(i))
    yield a, b
    a.close()
    b.close()


def test_each_writer_extends_its_own_chain(db, root, two_writers) -> None:
    chain0 = sql(db, "SELECT seq, request_id, event_name FROM audit_event WHERE seq < :next ORDER BY seq",
                 next=chain_base(1))
    chain1 = sql(db, "SELECT seq, request_id FROM audit_event WHERE seq > :base ORDER BY seq", 1, base=chain_base(1))
    # chain 0: the record of chain 1's start, then the odd events; chain 1: the even ones
    assert chain0[0][2] == CHAIN_OPENED
    assert [r[1] for r in chain0[1:]] == [f"req-{i:04d}" for i in range(1, 21, 2)]
    assert chain1 == [(chain_base(1) + n, f"req-{i:04d}") for n, i in enumerate(range(2, 21, 2), start=1)]
    result = verify(db, root)
    assert result.ok and result.count == 21, result
    # Listed in time order across chains
    listed = [e["request_id"] for e in query(db) if e["event_name"] == "Encrypt"]
    assert listed == [f"req-{i:04d}" for i in range(1, 21)]
    assert [e["request_id"] for e in query(db, limit=3)] == ["req-0018", "req-0019", "req-0020"]


def test_a_released_chain_is_reused_without_a_second_start_record(db, root, two_writers) -> None:
    _, b = two_writers
    b.close()
    c = AuditLog(db, root, clock=lambda: 1_600_000_000.0)
    try:
        assert c.claim_chain() == 1
        append(c, event(21))
    finally:
        c.close()
    assert len([e for e in query(db) if e["event_name"] == CHAIN_OPENED]) == 1
    result = verify(db, root)
    assert result.ok and result.count == 22, result


def test_a_chain_deleted_whole_is_reported(db, root, two_writers) -> None:
    _, b = two_writers
    b.close()
    if db.is_sqlite:
        path = audit_file_path(db.sqlite_path, 1)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        with db.engine.begin() as conn:  # and the store's record of its file
            conn.execute(text("DELETE FROM ps_meta WHERE name LIKE 'audit_trail_file.%'"))
    else:
        sql(db, "DELETE FROM audit_event WHERE seq > :base", base=chain_base(1))
        sql(db, "DELETE FROM audit_head WHERE id = 2")
    result = verify(db, root)
    assert not result.ok
    assert "audit chain 1" in result.reason and "missing" in result.reason, result


def test_a_chains_tail_deleted_is_reported(db, root, two_writers) -> None:
    sql(db, "DELETE FROM audit_event WHERE seq > :cut", 1, cut=chain_base(1) + 8)
    result = verify(db, root)
    assert not result.ok
    assert result.reason.startswith("audit chain 1: 2 events deleted from the tail"), result
    assert result.first_broken_seq == chain_base(1) + 9


def test_chain_zero_cut_back_below_a_chains_start_is_reported(db, root, two_writers) -> None:
    """Chain 0 rolled back to before chain 1 started (its head rewritten to match, as an
    older copy of it would be): chain 1 still holds events, which gives it away."""
    sql(db, "DELETE FROM audit_event WHERE seq >= 1 AND seq < :next", next=chain_base(1))
    sql(db, "UPDATE audit_head SET last_seq = 0, last_mac = :genesis, head_mac = :tag WHERE id = 1",
        genesis="0" * 64, tag=head_tag(root.derive(HEAD_LABEL), 0, "0" * 64))
    result = verify(db, root)
    assert not result.ok
    assert "does not record its start" in result.reason, result


def test_a_head_copied_from_another_chain_is_reported(db, root, two_writers) -> None:
    other = sql(db, "SELECT last_seq, last_mac, head_mac FROM audit_head WHERE id = 2", 1)[0]
    sql(db, "UPDATE audit_head SET last_seq = :s, last_mac = :m, head_mac = :t WHERE id = 1",
        s=other[0], m=other[1], t=other[2])
    result = verify(db, root)
    assert not result.ok and "audit head was altered" in result.reason, result


def test_service_records_go_to_the_claiming_chain(db, root) -> None:
    """A change's record (written in the change's own transaction) goes to the chain of
    the process that made it, and the chain stays intact with appends beside it."""
    a, b = AuditLog(db, root, clock=lambda: 1_600_000_000.0), AuditLog(db, root, clock=lambda: 1_600_000_000.0)
    try:
        a.claim_chain()
        assert b.claim_chain() == 1
        if db.is_sqlite:
            with db.engine.begin() as conn:
                staged = b.write_in_transaction(lambda s, p: conn.exec_driver_sql(s, p), False,
                                                _fields(event(1)))
            b.move_out([staged[1:]])
        else:
            with db.engine.begin() as conn:
                b.write_in_transaction(lambda s, p: conn.exec_driver_sql(s, p), True, _fields(event(1)))
        append(b, event(2))
    finally:
        a.close()
        b.close()
    rows = sql(db, "SELECT request_id FROM audit_event WHERE seq > :base ORDER BY seq", 1, base=chain_base(1))
    assert [r[0] for r in rows] == ["req-0001", "req-0002"]
    assert verify(db, root).ok


@pytest.mark.parametrize("fresh_database", ["sqlite"], indirect=True)
def test_sqlite_chain_files_are_named_in_the_store_and_checked_at_start(db, root, two_writers) -> None:
    with db.engine.connect() as conn:
        names = dict(conn.execute(text("SELECT name, value FROM ps_meta WHERE name LIKE 'audit_trail_file%'")).all())
    assert names == {"audit_trail_file": "paramstore-audit.db", "audit_trail_file.1": "paramstore-audit-1.db"}
    audit_file.check(db.sqlite_path, None, (1,))
    path = audit_file_path(db.sqlite_path, 1)
    two_writers[1].close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(audit_file.AuditFileError, match="paramstore-audit-1.db"):
        audit_file.check(db.sqlite_path, None, (1,))
