"""Reaching a database: URLs, SQLite files, PostgreSQL connection options, and telling a
database that is slow or gone from a bug.  No project imports: the storage modules above
(session, the audit trail, its file) all build on it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Optional

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def is_timeout(exc: BaseException) -> bool:
    """A statement gave up waiting (a lock, statement_timeout, a busy SQLite): trying it
    again at once would only wait again."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    return isinstance(cause, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable))


def is_unavailable(exc: BaseException) -> bool:
    """The database timed out, was locked past the timeout, or went away: a retryable
    condition for the caller, not a bug."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, sqlite3.OperationalError):
            return is_timeout(exc) or "disk I/O" in str(exc) or "unable to open" in str(exc)
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):  # timeouts are OperationalErrors
            return True
        if type(exc).__name__ in ("TimeoutError", "DisconnectionError") and type(exc).__module__.startswith(
                "sqlalchemy"):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__  # type: ignore[assignment]  # a driver error or a cause: any exception, and None ends the walk
        seen += 1
    return False


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'paramstore.db'}"


#: The SQLite database and the files SQLite keeps beside it (policies, names, keys; the
#: audit trail has a file of its own with the same side files, kms_core/storage/audit_file.py).
SQLITE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class Conflict(Exception):
    """A unique row another transaction created first (two requests creating the same
    thing at once): the caller reads theirs, or answers AlreadyExists, without knowing the
    driver's exception."""


def masked_url(url: str) -> str:
    """A database URL fit for a message or a log line: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def database_url_parts(url: str) -> Optional[tuple[str, Optional[str]]]:
    """The URL's kind of database ("sqlite", "postgresql", ...) and the database it names;
    None if it is no URL at all."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return None
    return parsed.get_backend_name(), parsed.database


def sqlite_path(url: str) -> Optional[Path]:
    """The database file of a SQLite URL (None for another database, :memory: or a file: URI)."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_sqlite_file(path: Path) -> bool:
    """Create an empty database file, mode 0600 whatever the umask, unless one is there; True
    if this call made it.  SQLite gives the -wal, -shm and -journal files it creates later the
    main file's permissions, so they are 0600 too.  A missing directory is left for SQLite to
    report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return False
    try:
        os.fchmod(fd, SQLITE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def read_only_sqlite(path: Path) -> sqlite3.Connection:
    """Look at a SQLite file without changing anything: without a WAL file the main file is
    the whole database, read as immutable (no locks, no -shm/-wal made: a refused start
    must leave the data dir as it was); with one, read-only."""
    wal = Path(f"{path}-wal")
    options = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    return sqlite3.connect(f"file:{path}?{options}", uri=True, timeout=5)


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_connect_args(timeout: float) -> dict:
    """Every PostgreSQL connection: a statement, or a wait for a lock, ends after `timeout`
    (SQLSTATE 57014 / 55P03, which the protocol answers as a retryable error); a server that
    doesn't answer the connect in `timeout` (at least 2 s, libpq's floor) is unreachable."""
    ms = max(1, int(timeout * 1000))
    return {"options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
            "connect_timeout": max(2, int(timeout + 0.999))}
