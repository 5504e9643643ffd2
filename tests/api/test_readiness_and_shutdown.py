"""`/health/ready` reports what stops a server from serving; SIGTERM drains in-flight requests.

SQLite and PostgreSQL, each against a server process of its own."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.process_helpers import ServerProcess


def ready(server: ServerProcess) -> tuple[int, dict]:
    response = httpx.get(server.url + "/health/ready", timeout=30)
    return response.status_code, response.json()


def execute(url, data_dir, statement: str) -> None:
    """One statement on the server's database, from this process, committed."""
    if url is None:
        conn = sqlite3.connect(data_dir / "paramstore.db", isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    from kms_core.storage.connect import psycopg_dsn

    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def live(tmp_path, fresh_database):
    _, url = fresh_database
    server = ServerProcess(tmp_path, url, extra_args=("--db-timeout", "2")).wait_ready()
    yield server, url, tmp_path
    server.stop()


def test_ready_when_all_is_well_and_liveness_is_separate(live):
    server, _, _ = live
    assert ready(server) == (200, {"status": "ready", "version": ready(server)[1]["version"]})
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_not_ready_while_the_schema_is_not_this_releases_then_ready_again(live):
    server, url, data_dir = live
    execute(url, data_dir, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    status, body = ready(server)
    assert status == 503 and body["status"] == "unavailable"
    assert "schema" in body["reason"] and "ffffffffffff" in body["reason"]
    assert httpx.get(server.url + "/health").status_code == 200  # liveness is unaffected
    from kms_core.storage.migrate import head_revision
    from kms_core.storage.session import Database
    from kms_core.storage.connect import sqlite_url

    db = Database(url or sqlite_url(data_dir))
    head = head_revision(db)
    db.dispose()
    execute(url, data_dir, f"UPDATE alembic_version SET version_num = '{head}'")
    assert ready(server)[0] == 200


def test_not_ready_when_the_stored_root_key_check_differs(live):
    server, url, data_dir = live
    execute(url, data_dir, "UPDATE ps_meta SET value = 'x' || value WHERE name = 'root_key_check'")
    status, body = ready(server)
    assert status == 503 and "root key" in body["reason"]
    execute(url, data_dir, "UPDATE ps_meta SET value = substr(value, 2) WHERE name = 'root_key_check'")
    assert ready(server)[0] == 200


def test_not_ready_while_postgres_refuses_connections_then_recovers(tmp_path, fresh_postgres_url):
    import psycopg
    from sqlalchemy.engine import make_url

    from kms_core.storage.connect import psycopg_dsn

    server = ServerProcess(tmp_path, fresh_postgres_url, extra_args=("--db-timeout", "2")).wait_ready()
    name = make_url(fresh_postgres_url).database
    admin = psycopg_dsn(make_url(fresh_postgres_url).set(database="postgres").render_as_string(hide_password=False))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        status, body = ready(server)
        assert status == 503 and "can't be reached" in body["reason"]
        assert name in body["reason"]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        deadline = time.time() + 20
        while ready(server)[0] != 200:  # no restart needed
            assert time.time() < deadline, ready(server)
            time.sleep(0.2)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        server.stop()


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tmp_path, fresh_database):
    """A PutParameter waits on a lock held elsewhere; SIGTERM arrives; the lock is let go;
    the PutParameter is answered (and stored), and the process exits 0."""
    _, url = fresh_database
    server = ServerProcess(tmp_path, url, extra_args=("--db-timeout", "20", "--shutdown-grace", "30")).wait_ready()
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/drain/p", Value="v1", Type="String")
    if url is None:
        holder = subprocess.Popen([sys.executable, "-c", (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()"),
            str(tmp_path / "paramstore.db")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    else:
        from kms_core.storage.connect import psycopg_dsn

        holder = subprocess.Popen([sys.executable, "-c", (
            "import psycopg, sys; c = psycopg.connect(sys.argv[1]); "
            "c.execute('LOCK TABLE ssm_parameter IN ACCESS EXCLUSIVE MODE'); print('locked', flush=True); "
            "sys.stdin.read(); c.rollback()"), psycopg_dsn(url)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    answer: dict = {}

    def put() -> None:
        try:
            answer["version"] = ssm.put_parameter(Name="/drain/p", Value="v2", Type="String", Overwrite=True)["Version"]
        except Exception as exc:  # noqa: BLE001
            answer["error"] = exc

    worker = threading.Thread(target=put)
    worker.start()
    time.sleep(1.0)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert server.proc.poll() is None  # still draining
    holder.stdin.close()
    holder.wait(timeout=30)
    worker.join(timeout=30)
    code = server.wait_exit(timeout=30)
    log = server.log()
    server.stop()
    assert answer == {"version": 2}, (answer, log)
    assert code == 0, log
    restarted = ServerProcess(tmp_path, url).wait_ready()
    try:
        assert restarted.client("ssm").get_parameter(Name="/drain/p")["Parameter"]["Value"] == "v2"
    finally:
        restarted.stop()
