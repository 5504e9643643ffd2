"""Shared fixtures: live servers on SQLite and PostgreSQL, boto3 clients, a fake clock.

The `server` fixture is parametrized over both databases.  PostgreSQL runs when
TEST_POSTGRES_URL is set (a server URL; each test session makes and drops its own fresh
database there); with PARAMSTORE_REQUIRE_POSTGRES=1 (as in CI) a missing URL is an error,
not a skip.  Each server runs uvicorn in a thread of the test process with a FakeClock, so
tests can move key lifecycles forward in time (`server.clock.advance(days=31)`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import boto3
import pytest
from botocore.config import Config

from kms_core.runtime import FakeClock, Runtime

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"


def postgres_admin_url() -> Optional[str]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url and os.environ.get("PARAMSTORE_REQUIRE_POSTGRES") == "1":
        raise RuntimeError("PARAMSTORE_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
    return url


class PostgresDatabase:
    """A fresh database on the TEST_POSTGRES_URL server, dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        self._admin = make_url(admin_url.replace("postgresql+psycopg://", "postgresql://"))
        self.name = "paramstore_t_" + uuid.uuid4().hex[:10]
        with psycopg.connect(self._dsn(self._admin.database or "postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self._admin.set(database=self.name).render_as_string(hide_password=False)

    def _dsn(self, database: str) -> str:
        return self._admin.set(database=database, drivername="postgresql").render_as_string(hide_password=False)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn(self._admin.database or "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    clock: FakeClock
    data_dir: Path
    database_url: str
    backend: str
    app: object

    def client(self, service: str = "kms", region: str = REGION, access_key_id: str = ACCESS_KEY_ID,
               secret: str = SECRET_ACCESS_KEY):
        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id=access_key_id, aws_secret_access_key=secret,
                            config=Config(retries={"total_max_attempts": 1}))


def start_server(data_dir: Path, database_url: Optional[str], backend: str,
                 log_file: Optional[Path] = None,
                 audit_fail_closed: Optional[bool] = None) -> tuple[LiveServer, callable]:
    import logging

    import uvicorn

    from paramstore.server import create_app
    from paramstore.settings import Settings

    clock = FakeClock()
    settings = Settings(data_dir=data_dir, database_url=database_url, account_id=ACCOUNT_ID,
                        admin_access_key_id=ACCESS_KEY_ID, admin_secret_access_key=SECRET_ACCESS_KEY,
                        sweep_interval_seconds=0.5)
    if audit_fail_closed is not None:
        settings.audit_fail_closed = audit_fail_closed
    handler = None
    if log_file is not None:
        handler = logging.FileHandler(log_file)
        handler.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.DEBUG)
    app = create_app(settings, Runtime(clock=clock))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, loop="asyncio", http="httptools"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()

    live = LiveServer(f"http://127.0.0.1:{port}", clock, data_dir, settings.resolved_database_url(), backend, app)
    return live, stop


@contextmanager
def database_for(backend: str) -> Iterator[tuple[Optional[str], Optional[PostgresDatabase]]]:
    """(database_url, PostgresDatabase) for a backend: (None, None) for SQLite (the server's
    own data dir), or a fresh PostgreSQL database dropped afterwards (skips without one)."""
    if backend != "postgres":
        yield None, None
        return
    admin = postgres_admin_url()
    if not admin:
        pytest.skip("TEST_POSTGRES_URL not set")
    pg = PostgresDatabase(admin)
    try:
        yield pg.url, pg
    finally:
        pg.drop()


def _backends() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=_backends())
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server per database backend, shared by the whole session."""
    backend = request.param
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    with database_for(backend) as (database_url, _):
        live, stop = start_server(data_dir, database_url, backend)
        try:
            yield live
        finally:
            stop()


@pytest.fixture
def kms(server: LiveServer):
    return server.client("kms")


@pytest.fixture
def clock(server: LiveServer) -> FakeClock:
    return server.clock


@pytest.fixture
def key_id(kms) -> str:
    """A fresh enabled symmetric key."""
    return kms.create_key(Description="test key")["KeyMetadata"]["KeyId"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database(request):
    """(backend, database_url): None for SQLite (the test's own data dir), or the URL of a
    fresh PostgreSQL database that is dropped afterwards."""
    with database_for(request.param) as (database_url, _):
        yield request.param, database_url


@pytest.fixture
def fresh_server(fresh_database, tmp_path) -> Iterator[LiveServer]:
    """A live server of the test's own, per backend, on a fresh store (for tests that
    change what every other test would see: lowered quotas, bulk fills, recorded SQL)."""
    backend, database_url = fresh_database
    live, stop = start_server(tmp_path / "data", database_url, backend)
    try:
        yield live
    finally:
        stop()


@pytest.fixture
def fresh_postgres_url():
    """The URL of a fresh PostgreSQL database (skips without TEST_POSTGRES_URL)."""
    with database_for("postgres") as (database_url, _):
        yield database_url


@pytest.fixture(autouse=True)
def _no_event_loop_left_running_by_browser_tests(request):
    """pytest-playwright's sync API keeps its event loop marked as running in this thread
    from one browser test to the next (its `playwright` fixture is session-scoped); a later
    test of this process that calls asyncio.run() would refuse to start.  Other tests run
    with no loop marked running; the browser tests find theirs as they left it."""
    import asyncio

    loop = asyncio.events._get_running_loop()
    if loop is None or "browser" in request.node.path.parts:
        yield
        return
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(loop)
