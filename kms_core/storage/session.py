"""Engines, transactions and cross-process change detection.

One `Database` per process.  Writes run in `write()` transactions that also bump a
`ps_epoch` row, so other processes sharing the database learn that their caches are stale.
There is one row per cache domain (KMS_EPOCH: keys, aliases, identities; PARAMS_EPOCH:
parameters; SECRETS_EPOCH: secrets), so a parameter write doesn't empty the key cache and vice versa; the change
token is the tuple of all of them:

* SQLite: `PRAGMA data_version` on a dedicated connection changes whenever any other
  connection commits.  It reads shared memory, not tables, so the check costs microseconds;
  only when it moves are the `ps_epoch` rows read (the audit trail has a file of its own,
  kms_core/storage/audit_file.py, so its appends don't move it at all).
* PostgreSQL: one indexed read of `ps_epoch` (three rows) per request, on a dedicated
  autocommit connection.  A committed change is therefore seen by every process on its
  very next request (a key disabled through one server is refused by the others).
"""

from __future__ import annotations

import asyncio
import select
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from kms_core.audit import record_in_transaction
from kms_core.storage.connect import (create_sqlite_file, is_timeout, normalize_url, postgres_connect_args,
                                      psycopg_dsn, sqlite_path)
from kms_core.storage.tables import EpochTable

#: How long one statement may wait (a lock, a busy SQLite, a slow PostgreSQL) before the
#: request fails with a retryable error: SQLite's busy_timeout, PostgreSQL's
#: statement_timeout and lock_timeout.  Settings.db_timeout_seconds overrides it.
DEFAULT_DB_TIMEOUT = 5.0
#: the longest the event loop waits for PostgreSQL's change check (normally ~0.1 ms)
#: before handing the request to the database worker
LOOP_CHECK_SECONDS = 0.25

class NeedsDatabase(BaseException):
    """Raised on the event loop's thread where a request would wait on the database: the
    server runs the request again on its database worker thread (paramstore/server.py),
    so one stalled query never holds up requests answered from memory.  A BaseException,
    so that no handler's `except Exception` can swallow it."""


class _InlineAttempt(threading.local):
    """Set while the event loop runs a request that may touch the database (SQLite)."""

    db: "Optional[Database]" = None
    commits = 0


inline_attempt = _InlineAttempt()


def retry_on_worker(exc: BaseException) -> bool:
    """On the loop, a statement that would have had to wait (SQLite's write lock is taken)
    before anything committed: the request is run again on the database worker."""
    db = inline_attempt.db
    return db is not None and db.commits == inline_attempt.commits and is_timeout(exc)


KMS_EPOCH = 1
PARAMS_EPOCH = 2
SECRETS_EPOCH = 3
EPOCHS = (KMS_EPOCH, PARAMS_EPOCH, SECRETS_EPOCH)


class Database:
    """`hide_parameters`: SQL errors in the log never carry bound values (wrapped secrets,
    descriptions, anything a caller sent)."""

    def __init__(self, url: str, timeout: float = DEFAULT_DB_TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.timeout = timeout
        self.is_sqlite = self.url.startswith("sqlite")
        #: the SQLite database file, if that is what this is
        self.sqlite_path = sqlite_path(self.url)
        if self.sqlite_path is not None:
            create_sqlite_file(self.sqlite_path)
        if self.is_sqlite:
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": timeout},
                                        hide_parameters=True)
            _configure_sqlite(self.engine, writer=True, timeout=timeout)
            event.listen(self.engine, "checkout", self._on_checkout)
            # Reads get their own engine with deferred transactions: in WAL mode they never
            # wait for a writer, even one held open by this very process.
            self.read_engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": timeout},
                                             hide_parameters=True)
            _configure_sqlite(self.read_engine, writer=False, timeout=timeout)
            event.listen(self.read_engine, "checkout", self._on_checkout)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                                        hide_parameters=True, connect_args=postgres_connect_args(timeout))
            self.read_engine = self.engine
        self._sqlite_file = make_url(self.url).database if self.is_sqlite else None
        self._monitor = _ChangeMonitor()
        self._worker_monitor = threading.local()
        self._other_monitors: list[_ChangeMonitor] = []
        #: where changes the service makes by itself are recorded (set by the server)
        self.audit_log: Any = None
        #: SQLite: the loop runs database work itself while the worker is idle (set by the
        #: server; the worker keeps `worker_busy`).  A thread hand-off costs more than a put.
        self.inline_on_loop = False
        self.worker_busy = False
        self.commits = 0
        #: the event loop's thread once the server runs: database work there raises
        #: NeedsDatabase (the monitor and audit connections excepted: they never wait long)
        self.loop_thread: Optional[int] = None
        #: PostgreSQL: the change token the loop's shared check read for the request running
        #: on the loop now (`LoopChangeCheck`), which change_token() then answers with
        self.loop_token: Optional[object] = None
        self.loop_check = LoopChangeCheck(self) if not self.is_sqlite else None
        #: what every write session carries in `Session.info` (storage/root_versions.py: guard)
        self.session_info: dict = {}

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        self._set_busy_timeout(record.info, dbapi_conn)

    def _set_busy_timeout(self, info: dict, dbapi_conn: Any) -> None:
        wanted = self.busy_timeout_for_thread()
        if info.get("busy_timeout") != wanted:  # a PRAGMA only when the connection changes threads
            dbapi_conn.execute(f"PRAGMA busy_timeout={wanted}")
            info["busy_timeout"] = wanted

    def off_loop(self) -> None:
        """Refuse to touch the database on the event loop's thread (see NeedsDatabase),
        unless this is SQLite and the worker is idle: then the loop may, never waiting for
        the write lock (its statements don't wait: `busy_timeout_for_thread`)."""
        if (self.loop_thread is not None and threading.get_ident() == self.loop_thread
                and (self.worker_busy or not self.inline_on_loop)):
            raise NeedsDatabase()

    def require_worker(self) -> None:
        """Long reads (a walk of the audit trail) never run on the event loop's thread, not
        even where `off_loop` lets short ones run there (SQLite, worker idle): raise
        NeedsDatabase there, so the request runs on the database worker."""
        if self.loop_thread is not None and threading.get_ident() == self.loop_thread:
            raise NeedsDatabase()

    def busy_timeout_for_thread(self) -> int:
        """SQLite busy_timeout (ms) for a statement on this thread: 0 on the event loop (a
        locked database sends the request to the worker), the database timeout elsewhere,
        and on the loop too once the request running there has committed something: it
        can't be handed over any more, and a lock held for a moment (another process's
        commit) is no reason to fail it."""
        if self.loop_thread is not None and threading.get_ident() == self.loop_thread:
            if inline_attempt.db is not self or inline_attempt.commits == self.commits:
                return 0
        return max(1, int(self.timeout * 1000))

    def adjust_busy_timeout(self, conn: Any) -> None:
        """A long-held pooled connection (checked out once): its busy_timeout for this
        thread.  SQLite only; nothing to do for PostgreSQL."""
        if self.is_sqlite:
            self._set_busy_timeout(conn.info, conn.driver_connection)

    def committed(self, then: Optional[Callable[[], None]] = None) -> None:
        """Count a commit: an attempt on the loop that committed something is not re-run.
        `then`: what record_in_transaction left to do once committed (SQLite: its records
        move from the store's outbox to the trail)."""
        self.commits += 1
        if then is not None:
            then()

    # --- transactions -------------------------------------------------------------------
    def session(self) -> Session:
        """A session for reads (SQLite: never blocks on, nor blocks, a writer)."""
        self.off_loop()
        return Session(self.read_engine, expire_on_commit=False)

    def write_session(self) -> Session:
        self.off_loop()
        session = Session(self.engine, expire_on_commit=False)
        if self.session_info:
            session.info.update(self.session_info)  # the root-version guard (storage/root_versions.py)
        return session

    @contextmanager
    def write(self, epoch: int = KMS_EPOCH, service_events: Optional[list] = None) -> Iterator[Session]:
        """A read-write transaction that marks one cache domain changed when it commits, and
        carries its audit records: the running request's, and `service_events` (filled in
        by the block: what the service itself changed)."""
        with self.write_session() as session:
            try:
                yield session
                bump_epoch(session, epoch)
                moved = record_in_transaction(session_runner(session), not self.is_sqlite, service_events or (),
                                              self.audit_log)
                session.commit()
                self.committed(moved)
            except BaseException:
                session.rollback()
                raise

    # --- change detection ---------------------------------------------------------------
    @property
    def _monitor_conn(self) -> Any:
        """The event loop's change-monitor connection."""
        return self._monitor.conn

    def _thread_monitor(self) -> "_ChangeMonitor":
        """The loop (and start-up) use one monitor; the database worker its own: a
        connection is never used by two threads at once."""
        if self.loop_thread is None or threading.get_ident() == self.loop_thread:
            return self._monitor
        monitor = getattr(self._worker_monitor, "monitor", None)
        if monitor is None:
            monitor = self._worker_monitor.monitor = _ChangeMonitor()
            self._other_monitors.append(monitor)
        return monitor

    def change_token(self) -> object:
        """A value that differs after any other connection or process commits."""
        monitor = self._thread_monitor()
        if self.is_sqlite:
            return monitor.sqlite_token(self._sqlite_file, self.timeout)
        if monitor is self._monitor and self.loop_thread is not None:
            return self._loop_postgres_token()
        try:
            token = monitor.postgres_token(self.url, self.timeout)
        except Exception:
            monitor.close()  # a dropped connection: reconnect once, then give up
            token = monitor.postgres_token(self.url, self.timeout)
        if self.loop_thread is not None and self._monitor.conn is None:
            # The event loop never connects (a connect can wait seconds): its monitor is
            # made here, on the worker, once the database answers again.
            self._monitor.connect(self.url, self.timeout)
        return token

    def _loop_postgres_token(self) -> object:
        """The event loop's change check: at most LOOP_CHECK_SECONDS, and never a connect.
        A missing connection or a slow answer sends the request to the database worker,
        which waits (or fails cleanly) in its place: a stalled or frozen server, which
        can't enforce its own statement_timeout, never freezes the loop."""
        if self.loop_token is not None:
            return self.loop_token
        monitor = self._monitor
        if monitor.conn is None or monitor.conn.closed or (self.loop_check and self.loop_check.in_flight):
            raise NeedsDatabase()
        try:
            return monitor.postgres_token(self.url, min(self.timeout, LOOP_CHECK_SECONDS))
        except Exception:
            monitor.close()
            raise NeedsDatabase() from None

    def _close_monitor(self) -> None:
        self._monitor.close()

    def dispose(self) -> None:
        self._monitor.close()
        for monitor in self._other_monitors:
            monitor.close()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


class LoopChangeCheck:
    """PostgreSQL: the event loop's change check, awaited instead of blocking the loop, and
    shared: requests that arrive while a check is in flight wait for the next one, which
    starts when it ends (a check that began before a request arrived can't vouch for it),
    so under load one round trip answers many requests.  Any failure or an answer slower
    than LOOP_CHECK_SECONDS raises NeedsDatabase: the request goes to the database
    worker, which checks (and reconnects) on its own connection, as before."""

    def __init__(self, db: "Database") -> None:
        self.db = db
        self.in_flight: Any = None  # the future of the check on the wire
        self._next: Any = None  # the future of the check that starts when it ends

    async def token(self) -> object:
        loop = asyncio.get_running_loop()
        monitor = self.db._monitor
        if monitor.conn is None or monitor.conn.closed:
            raise NeedsDatabase()
        if self.in_flight is None:
            self.in_flight = future = loop.create_future()
            self._send(loop, future)
        else:
            if self._next is None:
                self._next = loop.create_future()
            future = self._next
        try:
            return await asyncio.shield(future)
        except NeedsDatabase:
            raise
        except Exception:
            raise NeedsDatabase() from None

    def _send(self, loop: Any, future: Any) -> None:
        monitor = self.db._monitor
        try:
            pgconn = monitor.conn.pgconn
            pgconn.send_query_prepared(b"ps_epoch", None)
            if pgconn.flush():  # not all out (a full socket buffer): not worth waiting here
                raise psycopg.OperationalError("the change check could not be sent at once")
            fd = pgconn.socket
        except Exception as exc:
            self._finish(loop, future, exc)
            return
        timer = loop.call_later(min(self.db.timeout, LOOP_CHECK_SECONDS), self._timed_out, loop, future, fd)
        loop.add_reader(fd, self._readable, loop, future, fd, timer)

    def _readable(self, loop: Any, future: Any, fd: int, timer: Any) -> None:
        pgconn = self.db._monitor.conn.pgconn
        try:
            pgconn.consume_input()
            if pgconn.is_busy():
                return
            result = None
            while True:
                next_result = pgconn.get_result()
                if next_result is None:
                    break
                result = next_result
            if result is None or result.status != ExecStatus.TUPLES_OK:
                raise RuntimeError("epoch check failed")
            token: Any = _token([(int(result.get_value(i, 0)), int(result.get_value(i, 1)))
                                 for i in range(result.ntuples)])
        except Exception as exc:
            token = exc
        loop.remove_reader(fd)
        timer.cancel()
        self._finish(loop, future, token)

    def _timed_out(self, loop: Any, future: Any, fd: int) -> None:
        loop.remove_reader(fd)
        self._finish(loop, future, NeedsDatabase())

    def _finish(self, loop: Any, future: Any, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            self.db._monitor.close()  # mid-query or broken: the worker reconnects it
            future.set_exception(outcome)
            future.exception()  # retrieved: only the waiters care
        else:
            future.set_result(outcome)
        self.in_flight, following, self._next = None, self._next, None
        if following is not None:
            if isinstance(outcome, BaseException):  # no connection now: they go to the worker too
                following.set_exception(NeedsDatabase())
                following.exception()
            else:
                self.in_flight = following
                self._send(loop, following)


class _ChangeMonitor:
    """One connection that watches for commits: SQLite's `PRAGMA data_version`, then
    `ps_epoch` only when something committed; PostgreSQL's `ps_epoch` by a libpq prepared
    statement."""

    def __init__(self) -> None:
        self.conn: Any = None
        self._data_version: object = None
        self._epoch: object = None

    def sqlite_token(self, path: str, timeout: float) -> object:
        if self.conn is None:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
            self._data_version = None
        conn = self.conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            # Something committed; only a change of ps_epoch (a state change) makes
            # caches stale.
            self._data_version = version
            rows = conn.execute("SELECT id, value FROM ps_epoch").fetchall()
            self._epoch = _token(rows)
        return self._epoch

    def connect(self, url: str, timeout: float) -> None:
        conn = psycopg.connect(psycopg_dsn(url), autocommit=True, **postgres_connect_args(timeout))
        conn.pgconn.prepare(b"ps_epoch", b"SELECT id, value FROM ps_epoch")
        self.conn = conn

    def postgres_token(self, url: str, timeout: float) -> tuple:
        """`timeout`: how long to wait for the answer, measured here (the server's
        statement_timeout can't help when the server itself has stopped answering)."""
        # libpq-level prepared statement: a third of the CPU of a psycopg cursor round trip.
        if self.conn is None or self.conn.closed:
            self.connect(url, timeout)
        result = _answer_within(self.conn.pgconn, timeout)
        if result.status != ExecStatus.TUPLES_OK:
            raise RuntimeError("epoch check failed: " + (result.error_message or b"").decode(errors="replace"))
        return _token([(int(result.get_value(i, 0)), int(result.get_value(i, 1))) for i in range(result.ntuples)])

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def _answer_within(pgconn: Any, timeout: float) -> Any:
    """The prepared change check's result, or psycopg.OperationalError after `timeout`
    (the connection is then mid-query: the caller closes it)."""
    pgconn.send_query_prepared(b"ps_epoch", None)
    deadline = time.monotonic() + timeout
    while pgconn.flush():  # psycopg's connections are non-blocking: the query may not be out yet
        if not select.select([], [pgconn.socket], [], max(0.0, deadline - time.monotonic()))[1]:
            raise psycopg.OperationalError("the database did not take the change check in time")
    result = None
    while True:
        while pgconn.is_busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pgconn.socket], [], [], remaining)[0]:
                raise psycopg.OperationalError("the database did not answer the change check in time")
            pgconn.consume_input()
        next_result = pgconn.get_result()
        if next_result is None:
            return result
        result = next_result


def _token(rows: list) -> tuple:
    """(KMS epoch, parameters epoch, secrets epoch) from the ps_epoch rows."""
    values = dict(rows)
    return tuple(values.get(epoch, 0) for epoch in EPOCHS)


def session_runner(session: Session) -> Callable[[str, tuple], Any]:
    """`run(sql, params)` on a session's transaction, in the driver's own placeholders."""
    return lambda sql, params: session.connection().exec_driver_sql(sql, params)


def bump_epoch(session: Session, epoch: int = KMS_EPOCH) -> None:
    session.execute(text("UPDATE ps_epoch SET value = value + 1 WHERE id = :id").bindparams(id=epoch))


def ensure_epoch_row(session: Session) -> None:
    for epoch in EPOCHS:
        if session.get(EpochTable, epoch) is None:
            session.add(EpochTable(id=epoch, value=0))


def _configure_sqlite(engine: Engine, writer: bool, timeout: float = DEFAULT_DB_TIMEOUT) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE: a write transaction takes
        # the write lock up front, so two processes can't deadlock upgrading read locks.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged CreateKey must survive power loss, or every ciphertext
        # made under that key would be lost with it.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={max(1, int(timeout * 1000))}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
