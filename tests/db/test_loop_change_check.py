"""PostgreSQL: the event loop's change check (kms_core/storage/session.py,
`LoopChangeCheck`) is awaited, not blocking, and shared: requests arriving while a check is
in flight wait for the next one (which starts after they arrived, so it sees every commit
before them), a commit elsewhere is seen by the next check, and a check that doesn't answer
in time sends the request to the database worker instead of freezing the loop."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from kms_core.storage import migrate
from kms_core.storage.session import LOOP_CHECK_SECONDS, Database, NeedsDatabase


@pytest.fixture
def db(fresh_postgres_url):
    database = Database(fresh_postgres_url)
    migrate.upgrade(database)
    database._monitor.connect(database.url, database.timeout)
    yield database
    database.dispose()


def bump_epoch(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE ps_epoch SET value = value + 1")


def test_concurrent_requests_share_round_trips(db, monkeypatch) -> None:
    sent: list[int] = []
    real = db.loop_check._send
    monkeypatch.setattr(db.loop_check, "_send", lambda loop, future: (sent.append(1), real(loop, future)))

    async def go() -> list:
        return await asyncio.gather(*(db.loop_check.token() for _ in range(40)))

    tokens = asyncio.run(go())
    assert len(set(tokens)) == 1
    assert len(sent) == 2  # the first request's check, then one for all who came meanwhile


def test_a_commit_elsewhere_is_seen_by_the_next_check(db, fresh_postgres_url) -> None:
    async def go() -> tuple:
        before = await db.loop_check.token()
        bump_epoch(fresh_postgres_url)
        return before, await db.loop_check.token()

    before, after = asyncio.run(go())
    assert before != after


def test_a_request_arriving_mid_check_waits_for_a_check_started_after_it(db, fresh_postgres_url) -> None:
    """The first check is on the wire (held up by a lock); a request arriving now joins
    the next check, not that one; a commit lands before the next starts: it sees it."""
    locker = psycopg.connect(fresh_postgres_url)
    locker.execute("LOCK TABLE ps_epoch IN ACCESS EXCLUSIVE MODE")

    async def go() -> tuple:
        first = asyncio.ensure_future(db.loop_check.token())
        await asyncio.sleep(0.02)  # the first check is sent, and waits for the lock
        assert db.loop_check.in_flight is not None
        later = asyncio.ensure_future(db.loop_check.token())
        await asyncio.sleep(0)
        assert db.loop_check._next is not None  # joined the check after the one in flight
        await asyncio.to_thread(lambda: (locker.execute("UPDATE ps_epoch SET value = value + 1"), locker.commit()))
        return await first, await later

    try:
        _, later = asyncio.run(go())
    finally:
        locker.close()
    with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
        now = tuple(v for _, v in sorted(conn.execute("SELECT id, value FROM ps_epoch").fetchall()))
    assert later == now


def test_a_stalled_check_sends_the_request_to_the_worker(db, fresh_postgres_url) -> None:
    with psycopg.connect(fresh_postgres_url) as locker:
        locker.execute("LOCK TABLE ps_epoch IN ACCESS EXCLUSIVE MODE")  # the check's SELECT waits

        async def go() -> float:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(NeedsDatabase):
                await db.loop_check.token()
            return loop.time() - started

        waited = asyncio.run(go())
        locker.rollback()
    assert LOOP_CHECK_SECONDS * 0.9 <= waited < LOOP_CHECK_SECONDS + 1
    assert db._monitor.conn is None  # mid-query: closed, for the worker to reconnect
    assert db.loop_check.in_flight is None
    with pytest.raises(NeedsDatabase):  # no connection on the loop until the worker makes one
        asyncio.run(db.loop_check.token())
