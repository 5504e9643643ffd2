"""A request waiting on the database doesn't hold up the others, and gets a clean, retryable
error once the database timeout passes.

Another connection locks a table (PostgreSQL) or holds the write lock (SQLite, which has no
table locks).  While a write waits on it, requests answered from memory, `/health` and
`/health/ready` answer at once; the write gets its service's retryable error within the
timeout plus a second, and holds no connection afterwards.

Nothing is answered unaudited, and the trail doesn't wait on the store's lock: PostgreSQL
writes it on its own connection, SQLite in its own file (kms_core/storage/audit_file.py).
If the trail itself is locked, a cached Encrypt waits for its record and then fails cleanly."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.process_helpers import ServerProcess

TIMEOUT = 2.0


def hold_lock(url, data_dir, table: str, sqlite_file: str = "paramstore.db") -> subprocess.Popen:
    """A process that takes the lock and keeps it until its stdin closes."""
    if url is None:
        code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read(); c.execute('ROLLBACK')")
        target = str(data_dir / sqlite_file)
    else:
        from kms_core.storage.connect import psycopg_dsn

        code = ("import psycopg, sys; c = psycopg.connect(sys.argv[1]); "
                f"c.execute('LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE'); print('locked', flush=True); "
                "sys.stdin.read(); c.rollback()")
        target = psycopg_dsn(url)
    holder = subprocess.Popen([sys.executable, "-c", code, target], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=30)


def timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def waiting_in_background(call) -> dict:
    """Start `call` on a thread; the dict gets its error code and how long it took."""
    outcome: dict = {}

    def run() -> None:
        start = time.monotonic()
        try:
            call()
            outcome["code"] = None
        except ClientError as exc:
            outcome["code"] = exc.response["Error"]["Code"]
            outcome["status"] = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        outcome["seconds"] = time.monotonic() - start

    outcome["thread"] = threading.Thread(target=run)
    outcome["thread"].start()
    return outcome


@pytest.fixture
def live(tmp_path, fresh_database):
    _, url = fresh_database
    server = ServerProcess(tmp_path, url, extra_args=("--db-timeout", str(TIMEOUT))).wait_ready()
    yield server, url, tmp_path
    server.stop()


@pytest.mark.parametrize("table, write, expected", [
    ("ssm_parameter", lambda s: s.client("ssm").put_parameter(Name="/stall/new", Value="v", Type="String"),
     "InternalServerError"),
    ("kms_key", lambda s: s.client("kms").create_key(Description="stalled"), "DependencyTimeoutException"),
])
def test_a_write_waiting_on_a_lock_holds_up_nothing_else(live, table, write, expected):
    server, url, data_dir = live
    kms, ssm = server.client("kms"), server.client("ssm")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=b"warm")  # the key is cached
    ssm.put_parameter(Name="/stall/cached", Value="v", Type="String")
    ssm.get_parameter(Name="/stall/cached")
    holder = hold_lock(url, data_dir, table)
    try:
        waiting = waiting_in_background(lambda: write(server))
        time.sleep(0.3)  # the write is waiting on the lock now
        health, seconds = timed(lambda: httpx.get(server.url + "/health", timeout=10))
        assert health.status_code == 200 and seconds < 0.1, seconds
        ready, seconds = timed(lambda: httpx.get(server.url + "/health/ready", timeout=10))
        assert seconds < 0.5, seconds
        # cached requests answer at once, and are audited
        _, seconds = timed(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"during"))
        assert seconds < 0.1, seconds
        _, seconds = timed(lambda: ssm.get_parameter(Name="/stall/cached"))
        assert seconds < 0.1, seconds
        waiting["thread"].join(timeout=30)
        assert waiting["code"] == expected, waiting
        assert waiting["status"] >= 500
        assert TIMEOUT * 0.8 <= waiting["seconds"] <= TIMEOUT + 1.0, waiting
    finally:
        release(holder)
    # afterwards all is well: the write goes through, and no connection was left behind
    write(server)
    if url is not None:
        import psycopg
        from sqlalchemy.engine import make_url

        from kms_core.storage.connect import psycopg_dsn

        with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
            stuck = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                 "(state LIKE 'idle in transaction%%' OR wait_event_type = 'Lock')",
                                 (make_url(url).database,)).fetchone()[0]
        assert stuck == 0


def test_sqlite_cached_encrypt_waits_for_its_locked_audit_trail_then_fails_cleanly(tmp_path):
    """SQLite: with the trail file itself locked, a cached Encrypt is not answered
    unaudited, and gets a clean 5xx (not a hang) if the lock outlives the timeout."""
    server = ServerProcess(tmp_path, None, extra_args=("--db-timeout", str(TIMEOUT))).wait_ready()
    try:
        kms = server.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key_id, Plaintext=b"warm")
        holder = hold_lock(None, tmp_path, "", "paramstore-audit.db")
        try:
            waiting = waiting_in_background(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"during"))
            time.sleep(0.3)
            health, seconds = timed(lambda: httpx.get(server.url + "/health", timeout=10))
            assert health.status_code == 200 and seconds < 0.1
            waiting["thread"].join(timeout=30)
            assert waiting["status"] >= 500 and waiting["seconds"] <= TIMEOUT + 1.0, waiting
        finally:
            release(holder)
        assert kms.encrypt(KeyId=key_id, Plaintext=b"after")["KeyId"].endswith(key_id)
    finally:
        server.stop()


def test_a_frozen_postgres_backend_does_not_freeze_the_event_loop(tmp_path, fresh_postgres_url):
    """PostgreSQL can't enforce its own statement_timeout when the server process itself has
    stopped (SIGSTOP here; a paused VM or a hung host alike).  The event loop's change check
    gives up after LOOP_CHECK_SECONDS and hands the request to the database worker, whose
    connection answers; the loop's connection is then made again, on the worker."""
    import os
    import signal

    from kms_core.storage.session import LOOP_CHECK_SECONDS
    from tests.conftest import start_server

    live, stop = start_server(tmp_path, fresh_postgres_url, "postgres")
    try:
        kms = live.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key_id, Plaintext=b"warm")
        db = live.app.state.store.db
        frozen = db._monitor_conn.info.backend_pid
        os.kill(frozen, signal.SIGSTOP)
        try:
            _, seconds = timed(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"during"))
            assert seconds < LOOP_CHECK_SECONDS + 1.0, seconds
            health, seconds = timed(lambda: httpx.get(live.url + "/health", timeout=10))
            assert health.status_code == 200 and seconds < 0.1, seconds
        finally:
            os.kill(frozen, signal.SIGCONT)
        assert db._monitor_conn is not None and db._monitor_conn.info.backend_pid != frozen
        _, seconds = timed(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"after"))
        assert seconds < 0.1, seconds  # back on the loop, with its new connection
    finally:
        stop()
