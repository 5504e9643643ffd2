"""SQLite keeps the audit trail in a database file of its own, beside the store's.

Why: SQLite has one write lock per file.  With the trail in the store's file, whoever
holds that lock (a PutParameter, another server process, another program) holds up every
audited request, cached Encrypts included, since nothing is answered unaudited.  With its
own file, a locked store delays only the requests that change the store.  (PostgreSQL
locks rows, not databases: there the trail stays in the store's database.)

A change and its record still go together (kms_core/audit.py, `write_in_transaction`): the
record commits with the change, in the store's `audit_outbox`, and moves here right after;
a record that can't be written rolls the change back.  The outbox's helpers are at the end
of this module.

The trail file and the store belong together:
* `ps_meta` names the trail file once the store's trail lives there (`AUDIT_FILE_META`);
  start is refused (paramstore/preflight.py) if it is then missing, emptied, damaged, or
  belongs to another store (the file records the store id);
* a store made before this version kept its trail in `audit_event` of its own file: the
  first writer moves those rows over (`adopt`), in one transaction of the store.
Back the two files up together (README, "Files").
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from kms_core.storage.connect import create_sqlite_file, read_only_sqlite
from kms_core.storage.tables import AuditEventTable, AuditHeadTable

#: `ps_meta` row naming the trail file: the store's trail lives there, not in the store's file
AUDIT_FILE_META = "audit_trail_file"
#: the chain's genesis: the prev_mac of the first event, and the head of an empty trail
GENESIS_MAC = "0" * 64
#: a chain's events have seqs in (base, base + 2**CHAIN_BITS), base = chain << CHAIN_BITS:
#: chain 0 is the one every earlier version wrote (seqs 1, 2, ...); each is a hash chain of
#: its own with its own head (`audit_head.id = chain + 1`), see kms_core/audit.py, "Chains"
CHAIN_BITS = 40
#: how many chains a store may have: one per concurrent writer process, reused after it exits
MAX_CHAINS = 64


def chain_base(chain: int) -> int:
    """The seq before a chain's first event (its empty head's last_seq)."""
    return chain << CHAIN_BITS


def chain_of(seq: int) -> int:
    return seq >> CHAIN_BITS


def head_id(chain: int) -> int:
    return chain + 1


def _create(table: Any) -> str:
    return str(CreateTable(table.__table__, if_not_exists=True).compile(dialect=sqlite_dialect.dialect()))


def _schema(chain: int) -> tuple[str, ...]:
    """The same tables as the store's own (kms_core/storage/tables.py, one definition for
    both), with the empty head of the chain the file holds, plus the store it belongs to."""
    return (
        _create(AuditEventTable),
        _create(AuditHeadTable),
        f"INSERT OR IGNORE INTO audit_head (id, last_seq, last_mac) "
        f"VALUES ({head_id(chain)}, {chain_base(chain)}, '{GENESIS_MAC}')",
        "CREATE TABLE IF NOT EXISTS audit_meta (name VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT)",
    )
_COLUMNS = ", ".join(column.name for column in AuditEventTable.__table__.columns)  # type: ignore[attr-defined]  # SQLModel sets __table__


class AuditFileError(Exception):
    """The store says its trail is in a file that is missing, damaged or another store's."""


def audit_file_path(store_path: Path, chain: int = 0) -> Path:
    """`paramstore.db` -> `paramstore-audit.db` (chain 0) or `paramstore-audit-<chain>.db`,
    in the same directory."""
    store_path = Path(store_path)
    suffix = f"-{chain}" if chain else ""
    return store_path.with_name(f"{store_path.stem}-audit{suffix}{store_path.suffix}")


def chain_meta_name(chain: int) -> str:
    """The `ps_meta` row naming a chain's file (chain 0: AUDIT_FILE_META itself)."""
    return f"{AUDIT_FILE_META}.{chain}" if chain else AUDIT_FILE_META


def try_lock_chain(store_path: Path, chain: int) -> Optional[int]:
    """An exclusive, non-blocking flock on the chain's lock file (`<trail file>.lock`):
    held by the process writing that chain for as long as it runs (the OS drops it when
    the process dies).  Returns the descriptor, or None if another process holds it."""
    path = Path(str(audit_file_path(store_path, chain)) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def register_chain(db: Any, chain: int) -> None:
    """Name a chain's file in the store's `ps_meta` (start-up then requires it, `check`),
    and the store in the file (idempotent)."""
    store = _store(db)
    try:
        row = store.execute("SELECT value FROM ps_meta WHERE name = 'store_id'").fetchone()
        conn = connect(audit_file_path(db.sqlite_path, chain), max(1, int(db.timeout * 1000)), chain=chain)
        try:
            if row is not None:
                conn.execute("INSERT OR IGNORE INTO audit_meta (name, value) VALUES ('store_id', ?)", (row[0],))
        finally:
            conn.close()
        store.execute("INSERT OR IGNORE INTO ps_meta (name, value) VALUES (?, ?)",
                      (chain_meta_name(chain), audit_file_path(db.sqlite_path, chain).name))
    finally:
        store.close()


def chain_files(db: Any) -> dict[int, Path]:
    """The store's chains and their files: chain 0, those `ps_meta` names (a file it names
    may be gone: `verify` reports it), and any chain file beside the store."""
    store_path = Path(db.sqlite_path)
    chains = {0: audit_file_path(store_path)}
    with db.read_engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name FROM ps_meta WHERE name LIKE ?", (AUDIT_FILE_META + ".%",)).all()
    names = [row[0][len(AUDIT_FILE_META) + 1:] for row in rows]
    prefix = f"{store_path.stem}-audit-"
    names += [p.name[len(prefix):-len(store_path.suffix) or None]
              for p in store_path.parent.glob(f"{prefix}*{store_path.suffix}")]
    for name in names:
        if name.isdigit() and 0 < int(name) < MAX_CHAINS:
            chains[int(name)] = audit_file_path(store_path, int(name))
    return dict(sorted(chains.items()))


def connect(path: Path, busy_timeout_ms: int, durable: bool = False, chain: int = 0) -> sqlite3.Connection:
    """A writer's connection: autocommit, WAL, `synchronous=NORMAL`, or FULL if `durable`
    (for the records of changes), made 0600 if it creates the file (holding `chain`)."""
    create_sqlite_file(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_meta'").fetchone() is None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _schema(chain):
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn


def inspect(path: Path) -> tuple[bool, Optional[str]]:
    """Read-only, no locks, no side files: (a trail is there, the store id it records).
    Raises AuditFileError for a file that isn't a trail."""
    try:
        if path.stat().st_size == 0:
            return False, None
    except FileNotFoundError:
        return False, None
    try:
        conn = read_only_sqlite(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"audit_event", "audit_head", "audit_meta"} <= tables:
                return False, None
            row = conn.execute("SELECT value FROM audit_meta WHERE name = 'store_id'").fetchone()
            return True, row[0] if row else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise AuditFileError(f"audit trail {path} is damaged ({exc})") from None


def trail_in_file(db: Any) -> bool:
    """Whether this store's trail lives in its own file (SQLite, once adopted)."""
    if not db.is_sqlite or db.sqlite_path is None:
        return False
    with db.read_engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT value FROM ps_meta WHERE name = ?", (AUDIT_FILE_META,)).fetchone()
    return row is not None


def adopt(db: Any) -> None:
    """Make the store's trail live in its own file (idempotent; SQLite only).  Rows a
    store of an earlier version kept in its own `audit_event` move over, in one
    transaction of the store (which holds its write lock: several servers starting at
    once adopt once).  A file left by a start that died half-way is written again; a file
    holding more than the store has to give is never overwritten."""
    if not db.is_sqlite or db.sqlite_path is None:
        return
    path = audit_file_path(db.sqlite_path)
    store = sqlite3.connect(str(db.sqlite_path), isolation_level=None, timeout=db.timeout)
    try:
        store.execute("BEGIN IMMEDIATE")
        try:
            if store.execute("SELECT 1 FROM ps_meta WHERE name = ?", (AUDIT_FILE_META,)).fetchone() is None:
                row = store.execute("SELECT value FROM ps_meta WHERE name = 'store_id'").fetchone()
                _copy_trail(db, store, path, row[0] if row else None)
                store.execute("INSERT INTO ps_meta (name, value) VALUES (?, ?)", (AUDIT_FILE_META, path.name))
                store.execute("DELETE FROM audit_event")
                store.execute(f"UPDATE audit_head SET last_seq = 0, last_mac = '{GENESIS_MAC}', head_mac = NULL")
            store.execute("COMMIT")
        except BaseException:
            if store.in_transaction:
                store.execute("ROLLBACK")
            raise
    finally:
        store.close()


def _copy_trail(db: Any, store: sqlite3.Connection, path: Path, store_id: Optional[str]) -> None:
    """The store's own trail rows into the trail file, in one durable transaction of the
    file (read through ATTACH: a read, which the store's write lock doesn't block)."""
    conn = connect(path, max(1, int(db.timeout * 1000)))
    try:
        theirs = conn.execute("SELECT max(seq) FROM audit_event").fetchone()[0] or 0
        ours = store.execute("SELECT max(seq) FROM audit_event").fetchone()[0] or 0
        if theirs > ours:
            raise AuditFileError(
                f"audit trail {path} holds events up to {theirs} but the store doesn't name it as its trail; "
                "refusing to overwrite it (restore the store and its trail from the same backup)")
        conn.execute("ATTACH DATABASE ? AS store", (str(db.sqlite_path),))
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN")
        try:
            conn.execute("DELETE FROM main.audit_event")
            conn.execute(f"INSERT INTO main.audit_event ({_COLUMNS}) SELECT {_COLUMNS} FROM store.audit_event")
            conn.execute("INSERT OR REPLACE INTO main.audit_head (id, last_seq, last_mac, head_mac) "
                         "SELECT id, last_seq, last_mac, head_mac FROM store.audit_head")
            if store_id is not None:
                conn.execute("INSERT OR REPLACE INTO main.audit_meta (name, value) VALUES ('store_id', ?)",
                             (store_id,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("DETACH DATABASE store")
    finally:
        conn.close()


def check(store_path: Path, store_id: Optional[str], chains: tuple[int, ...] = ()) -> None:
    """Start-up (read-only): the store names its trail files (chain 0 and `chains`); each
    must be there, be a trail, and be this store's."""
    for chain in (0, *chains):
        path = audit_file_path(store_path, chain)
        present, owner = inspect(path)
        if not present:
            raise AuditFileError(
                f"audit trail {path} of store {store_id or '(id not recorded)'} is missing or empty; restore it "
                f"from the backup taken with {Path(store_path).name} (the store and its trail files go together)")
        if owner is not None and store_id is not None and owner != store_id:
            raise AuditFileError(f"audit trail {path} belongs to store {owner}, not to store {store_id}; "
                                 "restore this store's own trail")


def trail_engine(db: Any, chain: int = 0) -> Engine:
    """The engine that reads (and, for tests and tools, writes) a chain's tables: its trail
    file's if the store keeps its trail in files, else the store's own (PostgreSQL: all
    chains share the store's `audit_event`)."""
    if not trail_in_file(db):
        return db.engine
    engines = db.__dict__.setdefault("_trail_engines", {})
    engine = engines.get(chain)
    if engine is None:
        from sqlmodel import create_engine

        path = audit_file_path(db.sqlite_path, chain)
        if not inspect(path)[0]:
            raise AuditFileError(f"audit trail {path} is missing or empty")
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False,
                                                                  "timeout": db.timeout}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA busy_timeout={max(1, int(db.timeout * 1000))}")

        engines[chain] = engine
    return engine


# --- the outbox (kms_core/audit.py, AuditLog.write_in_transaction) -----------------------
#: an event's 14 fields, event_time..detail: the trail's columns but its chain's
EVENT_FIELDS: tuple[str, ...] = tuple(
    column.name for column in AuditEventTable.__table__.columns  # type: ignore[attr-defined]  # SQLModel sets __table__
    if column.name not in ("seq", "prev_mac", "mac"))
_FIELDS = ", ".join(EVENT_FIELDS)


def _store(db: Any) -> sqlite3.Connection:
    return sqlite3.connect(str(db.sqlite_path), isolation_level=None, timeout=db.timeout)


def outbox_rows_before(db: Any, before: float) -> list[tuple[int, list]]:
    """Outbox rows (id, the event's 14 fields) with an event time before `before`, oldest first."""
    store = _store(db)
    try:
        return [(row[0], list(row[1:])) for row in store.execute(
            f"SELECT id, {_FIELDS} FROM audit_outbox WHERE event_time < ? ORDER BY id", (before,))]
    finally:
        store.close()


def delete_outbox_rows(db: Any, ids: list[int]) -> None:
    """Rows whose records the trail holds on disk (bookkeeping: no record of its own)."""
    store = _store(db)
    try:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            store.execute(f"DELETE FROM audit_outbox WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
    finally:
        store.close()


def sync_trail(conn: sqlite3.Connection) -> None:
    """A FULL commit on the trail (`conn` is a durable connection): it syncs the trail's
    WAL, so everything committed there before is on disk."""
    conn.execute("INSERT OR REPLACE INTO audit_meta (name, value) VALUES ('outbox_synced_at', ?)",
                 (repr(time.time()),))


def in_trail(conn: sqlite3.Connection, values: list, slack: float) -> bool:
    """Whether the trail holds an event with exactly these fields.  Its copy was appended
    within `slack` seconds of its event time, where its neighbours' times are: a binary
    search on seq (event times follow seq to within a request's duration) finds where
    that window starts, and only the window is read."""
    when = values[0]
    bounds = conn.execute("SELECT min(seq), max(seq) FROM audit_event").fetchone()
    if bounds[0] is None:
        return False
    low, high = int(bounds[0]), int(bounds[1])
    while low < high:  # the first seq whose event time is at or after when - slack
        middle = (low + high) // 2
        row = conn.execute("SELECT event_time FROM audit_event WHERE seq >= ? ORDER BY seq LIMIT 1",
                           (middle,)).fetchone()
        if row is not None and row[0] < when - slack:
            low = middle + 1
        else:
            high = middle
    cursor = conn.execute(f"SELECT {_FIELDS} FROM audit_event WHERE seq >= ? ORDER BY seq", (low,))
    for row in cursor:
        if row[0] > when + slack:
            break
        if list(row) == values:
            return True
    return False


def in_any_trail(db: Any, chain0: sqlite3.Connection, values: list, slack: float) -> bool:
    """`in_trail` over every chain: chain 0 on `chain0` (the sweeper's, holding its write
    lock), the others on read connections of their own."""
    if in_trail(chain0, values, slack):
        return True
    for chain, path in chain_files(db).items():
        if chain == 0 or not path.exists():
            continue
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=db.timeout)
        try:
            if in_trail(conn, values, slack):
                return True
        finally:
            conn.close()
    return False
