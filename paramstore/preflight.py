"""Before the store is opened: look, without changing anything, at the data directory and
the database, and decide whether a store lives here, a new one may be made, or start must
be refused, and say why in one line.

A store is known by an id and its root key's check value (both in `ps_meta`), and by a
marker file beside the root key (`store.json`: the id, when it was made, and the database
it lives in, credentials masked).  The marker is what tells "a new, empty place" from "a
store whose database was lost or emptied": without it, a truncated database next to a
surviving root key would start over as an empty store, and every parameter would read as
ParameterNotFound.  A root key is generated only when a new store is made in an empty place.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from kms_core.crypto.root import ROOT_KEY_ENV, ROOT_KEY_FILE
from kms_core.storage import audit_file
from kms_core.storage.audit_file import AUDIT_FILE_META
from kms_core.storage.connect import masked_url, read_only_sqlite, sqlite_path, database_url_parts
from kms_core.storage.store_meta import ROOT_CHECK, STORE_CREATED, STORE_ID

MARKER_FILE = "store.json"
MARKER_MODE = 0o600
_SUPPORTED = ("sqlite", "postgresql")
#: less free space than this in the data dir at start is a full disk: refused before any
#: file is touched (a WAL append or a checkpoint needs room)
MIN_FREE_BYTES = 1 << 20


class StartupError(Exception):
    """The server can't start safely; the message says why and what to do."""


# --- what the database holds -----------------------------------------------------------
@dataclass(frozen=True)
class StoredFacts:
    """What the database says about the store in it (empty: no schema at all)."""

    empty: bool
    store_id: Optional[str] = None
    created_at: Optional[float] = None
    root_check: Optional[str] = None
    #: SQLite: the file the store's audit trail lives in (kms_core/storage/audit_file.py)
    audit_file: Optional[str] = None
    #: SQLite: the further audit chains whose files the store names (one per writer process)
    audit_chains: tuple[int, ...] = ()
    #: the store records its root-key versions (each names where its key lives)
    versioned_root: bool = False


def masked(url: str) -> str:
    """A database URL fit for a message or a log line: the password replaced by ***."""
    return masked_url(url)


def check_url(url: str) -> None:
    """Only a SQLite file or PostgreSQL: anything else is refused before it is opened."""
    parts = database_url_parts(url)
    if parts is None:
        raise StartupError(f"database URL {masked(url)} is not a valid URL "
                           "(use sqlite:////path/to/file.db or postgresql://user@host/dbname)")
    backend, database = parts
    if backend not in _SUPPORTED:
        raise StartupError(f"database URL {masked(url)} is not supported: use sqlite:////path/to/file.db "
                           "or postgresql://user@host/dbname")
    if backend == "sqlite" and sqlite_path(url) is None:
        raise StartupError(f"database URL {masked(url)} names no file: an in-memory SQLite database would lose "
                           "every key at exit; use sqlite:////path/to/file.db")
    if backend == "postgresql" and not database:
        raise StartupError(f"database URL {masked(url)} names no database (postgresql://user@host/dbname)")


def inspect_sqlite(path: Path) -> StoredFacts:
    """Read-only: a missing or zero-length file is empty; so is one with no tables."""
    try:
        if path.stat().st_size == 0:
            return StoredFacts(empty=True)
    except FileNotFoundError:
        return StoredFacts(empty=True)
    except OSError as exc:
        raise StartupError(f"database file {path}: {_os_reason(exc)}") from None
    try:
        conn = read_only_sqlite(path)
    except sqlite3.Error as exc:
        raise StartupError(f"database file {path} can't be opened: {exc}") from None
    try:
        return _facts(conn.execute, "SELECT name FROM sqlite_master WHERE type = 'table'")
    except sqlite3.DatabaseError as exc:
        raise StartupError(_sqlite_reason(path, exc)) from None
    finally:
        conn.close()


def inspect_postgres(url: str) -> StoredFacts:
    import psycopg

    from kms_core.storage.connect import psycopg_dsn

    try:
        conn = psycopg.connect(psycopg_dsn(url), connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise StartupError(f"can't connect to the database at {masked(url)}: {first_line(exc)}") from None
    try:
        with conn.cursor() as cur:
            return _facts(lambda sql: cur.execute(sql),
                          "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    except psycopg.Error as exc:
        raise StartupError(f"the database at {masked(url)} can't be read: {first_line(exc)}") from None
    finally:
        conn.close()


def _facts(execute: Any, list_tables: str) -> StoredFacts:
    tables = {row[0] for row in execute(list_tables).fetchall()}
    if "alembic_version" not in tables and "ps_meta" not in tables:
        return StoredFacts(empty=True)
    if "ps_meta" not in tables:
        return StoredFacts(empty=False)
    names = (STORE_ID, STORE_CREATED, ROOT_CHECK, AUDIT_FILE_META, "root_key.v1")
    meta = dict(execute("SELECT name, value FROM ps_meta WHERE name IN (" + ", ".join(f"'{n}'" for n in names)
                        + ")").fetchall())
    chains = tuple(sorted(int(row[0][len(AUDIT_FILE_META) + 1:]) for row in execute(
        f"SELECT name FROM ps_meta WHERE name LIKE '{AUDIT_FILE_META}.%'").fetchall()
        if row[0][len(AUDIT_FILE_META) + 1:].isdigit()))
    created = meta.get(STORE_CREATED)
    return StoredFacts(empty=False, store_id=meta.get(STORE_ID),
                       created_at=float(created) if created else None, root_check=meta.get(ROOT_CHECK),
                       audit_file=meta.get(AUDIT_FILE_META), audit_chains=chains,
                       versioned_root="root_key.v1" in meta)


def inspect_database(url: str) -> StoredFacts:
    path = sqlite_path(url)
    if path is not None:
        return inspect_sqlite(path)
    return inspect_postgres(url)


# --- the marker beside the root key ----------------------------------------------------
def read_marker(data_dir: Path) -> Optional[dict]:
    path = Path(data_dir) / MARKER_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StartupError(f"store marker {path}: {_os_reason(exc)}") from None
    try:
        marker = json.loads(text)
    except ValueError:
        marker = None
    if not isinstance(marker, dict) or not isinstance(marker.get("store_id"), str):
        raise StartupError(f"store marker {path} is damaged; restore it from your backup (it names the store "
                           "this data dir belongs to)")
    return marker


def write_marker(data_dir: Path, store_id: str, created_at: float, url: str, creating: bool = False) -> Path:
    """Atomic (a temporary file renamed over), mode 0600.  `creating`: the store is being
    made; a start that finds it so (and an empty database) carries on making it."""
    path = Path(data_dir) / MARKER_FILE
    marker: dict = {"store_id": store_id, "created_at": _iso(created_at), "database": masked(url)}
    if creating:
        marker["creating"] = True
    body = json.dumps(marker, indent=2)
    tmp = path.with_name(f".{MARKER_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MARKER_MODE)
    try:
        os.fchmod(fd, MARKER_MODE)
        os.write(fd, body.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def root_key_available(data_dir: Path, environ: Optional[dict] = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get(ROOT_KEY_ENV)) or (Path(data_dir) / ROOT_KEY_FILE).exists()


# --- the decision ----------------------------------------------------------------------
def refuse_damaged_store(data_dir: Path, url: str, facts: StoredFacts, marker: Optional[dict],
                         environ: Optional[dict] = None) -> bool:
    """Raise StartupError where a store existed but can't be opened as it was; return
    whether this is a new store (an empty database and no marker)."""
    key_path = Path(data_dir) / ROOT_KEY_FILE
    if facts.empty:
        if marker is not None and marker.get("creating"):
            return True  # a first start that stopped part way: carry on
        if marker is None and key_path.exists() and not (os.environ if environ is None else environ).get(ROOT_KEY_ENV):
            # Stores made by this version always have a marker before their root key.
            raise StartupError(
                f"the database at {masked(url)} is empty (no schema) but {key_path} is there: a store lived here "
                f"(made before {MARKER_FILE} was kept). Restore its database from a backup; or, for a new store "
                f"with a new key, move {ROOT_KEY_FILE} away or pick another data dir (--data-dir)")
        if marker is not None:
            raise StartupError(
                f"the database at {masked(url)} is empty (no schema), but {Path(data_dir) / MARKER_FILE} says store "
                f"{marker['store_id']} (created {marker.get('created_at', '?')}) lives here; restore the database "
                "from a backup, or pick another data dir (--data-dir) for a new store")
        return True
    # A store with recorded root versions names where each lives (kms_core/storage/root_versions.py)
    if facts.root_check is not None and not facts.versioned_root and not root_key_available(data_dir, environ):
        store = facts.store_id or (marker or {}).get("store_id") or "(id not recorded)"
        created = _iso(facts.created_at) if facts.created_at else (marker or {}).get("created_at", "?")
        raise StartupError(
            f"root key file {key_path} is missing; store {store} (created {created}) can't be opened without it. "
            f"Restore {ROOT_KEY_FILE} from your backup (mode 0600), or set {ROOT_KEY_ENV} to its base64 value")
    if marker is not None and facts.store_id is not None and marker["store_id"] != facts.store_id:
        raise StartupError(
            f"{Path(data_dir) / MARKER_FILE} belongs to store {marker['store_id']}, but the database at {masked(url)} "
            f"holds store {facts.store_id}; point --data-dir and --database-url at the same store")
    store_path = sqlite_path(url)
    if facts.audit_file is not None and store_path is not None:
        try:
            audit_file.check(store_path, facts.store_id, facts.audit_chains)
        except audit_file.AuditFileError as exc:
            raise StartupError(str(exc)) from None
    return False


def check_writable(data_dir: Path) -> None:
    """The data dir (or the nearest existing parent, if it is still to be made) must take
    writes: a read-only mount or a directory this user can't write is refused by name."""
    probe = Path(data_dir)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise StartupError(f"data directory {data_dir} is on a read-only file system; the store needs to write there")
    try:
        stats = os.statvfs(probe)
        free = stats.f_bavail * stats.f_frsize
    except OSError:
        free = MIN_FREE_BYTES
    if free < MIN_FREE_BYTES:
        raise StartupError(f"data directory {data_dir}: no space left on the device ({free // 1024} KiB free; "
                           f"the store needs at least {MIN_FREE_BYTES // 2**20} MiB to start)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StartupError(f"data directory {data_dir} is not writable by this user (uid {os.geteuid()})")


# --- one-line reasons for what can go wrong while opening -------------------------------
def describe(exc: BaseException, url: str, data_dir: Path) -> Optional[str]:
    """A one-line reason for a failure to open the store, or None for an unexpected one."""
    if isinstance(exc, StartupError):
        return str(exc)
    path = sqlite_path(url)
    where = str(path) if path is not None else masked(url)
    cause: BaseException = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    if isinstance(cause, OSError):
        return f"{where}: {_os_reason(cause)}"
    if isinstance(cause, sqlite3.Error):
        return _sqlite_reason(where, cause)
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        psycopg = None  # type: ignore[assignment]  # the module, or None where the driver is not installed
    if psycopg is not None and isinstance(cause, psycopg.Error):
        return f"the database at {where}: {first_line(cause)}"
    return None


def _sqlite_reason(where: Any, exc: BaseException) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"database {where} is locked by another program (another server or a sqlite3 shell holds it)"
    if "disk is full" in text or "database or disk is full" in text:
        return f"database {where}: no space left on the device"
    if "readonly" in text or "read-only" in text:
        return f"database {where} is read-only (the file, its directory or the file system)"
    if "not a database" in text or "malformed" in text:
        return f"database {where} is damaged ({text}); restore it from a backup"
    if "unable to open" in text:
        return f"database {where} can't be opened (is its directory there and writable?)"
    return f"database {where}: {text}"


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied (uid {os.geteuid()})"
    return exc.strerror or str(exc)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _iso(ts: Optional[float]) -> str:
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
