"""Reading a source: the store at one moment (SQLite with its trail files ATTACHed, or one
PostgreSQL transaction), as tables in insert order whose rows are read while it is open."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from kms_core.storage import audit_file
from kms_core.storage.connect import masked_url, postgres_connect_args, psycopg_dsn
from paramstore.backup.common import _BATCH, BackupError

#: the trail: on SQLite in files of their own, on PostgreSQL in the store's database
TRAIL_TABLES = ("audit_head", "audit_event")
#: the migrations' own bookkeeping: the revision goes in the header instead
SKIPPED_TABLES = ("alembic_version",)


# --- reading a source ----------------------------------------------------------------------
@dataclass
class TableDump:
    name: str
    columns: list[str]
    rows: Callable[[], Iterator[tuple]]


@dataclass
class Snapshot:
    """What a source holds at one moment, read while its transaction is open."""

    dialect: str
    revision: Optional[str]
    meta: dict[str, str]
    sequences: dict[str, int]
    tables: list[TableDump] = field(default_factory=list)


def _topological(tables: list[str], parents: dict[str, set[str]]) -> list[str]:
    """Tables with the ones their foreign keys point at first (then by name)."""
    ordered: list[str] = []
    placed: set[str] = set()

    def place(name: str, seen: frozenset[str]) -> None:
        if name in placed or name in seen:
            return
        for parent in sorted(parents.get(name, ())):
            if parent in tables:
                place(parent, seen | {name})
        placed.add(name)
        ordered.append(name)

    for name in sorted(tables):
        place(name, frozenset())
    return ordered


def _sqlite_rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> Callable[[], Iterator[tuple]]:
    return lambda: iter(conn.execute(sql, params))


def sqlite_snapshot(store_path: Path, timeout: float) -> Iterator[Snapshot]:
    """Yield the store's snapshot (SQLite), its read transaction open until the caller is done."""
    if not store_path.exists() or store_path.stat().st_size == 0:
        raise BackupError(f"no store at {store_path}")
    for _ in range(5):
        conn = sqlite3.connect(str(store_path), isolation_level=None, timeout=timeout, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={max(1, int(timeout * 1000))}")
            conn.execute("PRAGMA query_only=ON")
            attached = _attach_chains(conn, store_path)
            conn.execute("BEGIN")
            meta = dict(conn.execute("SELECT name, value FROM main.ps_meta").fetchall())  # the store's moment
            named = {chain for chain in _chains_named(meta)}
            in_files = audit_file.AUDIT_FILE_META in meta
            if in_files and not named <= set(attached):
                conn.execute("ROLLBACK")  # a chain registered meanwhile: attach it too
                continue
            if in_files:
                for chain in sorted(named - {0}) + [0]:  # chain 0 last (see the package docstring)
                    conn.execute(f"SELECT count(*) FROM {attached[chain]}.audit_head").fetchone()
            yield _sqlite_dump(conn, meta, attached if in_files else {}, sorted(named))
            conn.execute("COMMIT")
            return
        finally:
            conn.close()
    raise BackupError("the store kept registering new audit chains; try again")


def _chains_named(meta: dict[str, str]) -> set[int]:
    chains = {0} if audit_file.AUDIT_FILE_META in meta else set()
    prefix = audit_file.AUDIT_FILE_META + "."
    return chains | {int(name[len(prefix):]) for name in meta
                     if name.startswith(prefix) and name[len(prefix):].isdigit()}


def _attach_chains(conn: sqlite3.Connection, store_path: Path) -> dict[int, str]:
    meta = dict(conn.execute("SELECT name, value FROM ps_meta").fetchall())
    attached: dict[int, str] = {}
    for chain in sorted(_chains_named(meta)):
        path = audit_file.audit_file_path(store_path, chain)
        if not audit_file.inspect(path)[0]:
            raise BackupError(f"audit trail {path} is missing or empty; the store can't be backed up whole")
        schema = f"trail{chain}"
        conn.execute("ATTACH DATABASE ? AS " + schema, (str(path),))
        attached[chain] = schema
    return attached


def _sqlite_dump(conn: sqlite3.Connection, meta: dict[str, str], trails: dict[int, str],
                 chains: list[int]) -> Snapshot:
    names = [row[0] for row in conn.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    revision_row = conn.execute("SELECT version_num FROM main.alembic_version").fetchone() \
        if "alembic_version" in names else None
    sequences: dict[str, int] = {}
    if "sqlite_sequence" in {row[0] for row in conn.execute("SELECT name FROM main.sqlite_master")}:
        sequences = {row[0]: int(row[1]) for row in conn.execute("SELECT name, seq FROM main.sqlite_sequence")}
    parents = {name: {row[2] for row in conn.execute(f"PRAGMA main.foreign_key_list('{name}')")} for name in names}
    columns = {name: [row[1] for row in conn.execute(f"PRAGMA main.table_info('{name}')")] for name in names}
    store_tables = [n for n in _topological(names, parents) if n not in SKIPPED_TABLES + TRAIL_TABLES]
    snapshot = Snapshot("sqlite", revision_row[0] if revision_row else None, meta, sequences)
    for name in store_tables:
        snapshot.tables.append(TableDump(name, columns[name], _sqlite_rows(
            conn, f"SELECT {', '.join(columns[name])} FROM main.{name} ORDER BY rowid")))
    snapshot.tables += _sqlite_trail(conn, columns, trails, chains)
    return snapshot


def _sqlite_trail(conn: sqlite3.Connection, columns: dict[str, list[str]], trails: dict[int, str],
                  chains: list[int]) -> list[TableDump]:
    """The trail: each chain's head and events from its file, or the store's own tables (a
    store whose trail never moved to a file)."""
    head_cols, event_cols = columns["audit_head"], columns["audit_event"]
    if not trails:
        return [TableDump("audit_head", head_cols, _sqlite_rows(
                    conn, f"SELECT {', '.join(head_cols)} FROM main.audit_head ORDER BY id")),
                TableDump("audit_event", event_cols, _sqlite_rows(
                    conn, f"SELECT {', '.join(event_cols)} FROM main.audit_event ORDER BY seq"))]

    def heads() -> Iterator[tuple]:
        for chain in chains:
            yield from conn.execute(f"SELECT {', '.join(head_cols)} FROM {trails[chain]}.audit_head WHERE id = ?",
                                    (audit_file.head_id(chain),))

    def events() -> Iterator[tuple]:
        for chain in chains:
            yield from conn.execute(
                f"SELECT {', '.join(event_cols)} FROM {trails[chain]}.audit_event WHERE seq > ? AND seq < ? "
                "ORDER BY seq", (audit_file.chain_base(chain), audit_file.chain_base(chain + 1)))

    return [TableDump("audit_head", head_cols, heads), TableDump("audit_event", event_cols, events)]


def postgres_snapshot(url: str, timeout: float) -> Iterator[Snapshot]:
    """Yield the store's snapshot (PostgreSQL): one REPEATABLE READ, READ ONLY transaction."""
    import psycopg

    conn = psycopg.connect(psycopg_dsn(url), **postgres_connect_args(max(timeout, 60.0)))
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        names = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'")]
        if "ps_meta" not in names:
            raise BackupError(f"no store in the database at {masked_url(url)}")
        meta = {row[0]: row[1] for row in conn.execute("SELECT name, value FROM ps_meta")}
        revision_row = conn.execute("SELECT version_num FROM alembic_version").fetchone() \
            if "alembic_version" in names else None
        columns = _postgres_columns(conn)
        parents: dict[str, set[str]] = {}
        for child, parent in conn.execute(
                "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' "
                "AND n.nspname = current_schema()"):
            parents.setdefault(child, set()).add(parent)
        snapshot = Snapshot("postgresql", revision_row[0] if revision_row else None, meta,
                            _postgres_sequences(conn, names))
        for name in _topological(names, parents):
            if name in SKIPPED_TABLES or name in TRAIL_TABLES:
                continue
            snapshot.tables.append(TableDump(name, columns[name][0], _pg_rows(conn, name, columns[name][0])))
        snapshot.tables.append(TableDump("audit_head", columns["audit_head"][0],
                                         _pg_rows(conn, "audit_head", columns["audit_head"][0], "id")))
        snapshot.tables.append(TableDump("audit_event", columns["audit_event"][0],
                                         _pg_rows(conn, "audit_event", columns["audit_event"][0], "seq")))
        yield snapshot
        conn.rollback()
    finally:
        conn.close()


def _pg_rows(conn: Any, table: str, columns: list[str], order: Optional[str] = None) -> Callable[[], Iterator[tuple]]:
    def rows() -> Iterator[tuple]:
        by = order or "1"
        with conn.cursor(name=f"dump_{table}") as cur:  # server side: bounded memory
            cur.itersize = _BATCH
            cur.execute(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY {by}')
            yield from cur
    return rows


def _postgres_columns(conn: Any) -> dict[str, tuple[list[str], list[str]]]:
    """{table: ([column names], [their types])} in column order."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for table, column, kind in conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        names, kinds = found.setdefault(table, ([], []))
        names.append(column)
        kinds.append(kind)
    return found


def _postgres_sequences(conn: Any, tables: list[str]) -> dict[str, int]:
    """{table: the highest value its serial column has handed out}."""
    found: dict[str, int] = {}
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_default LIKE 'nextval(%%'").fetchall():
        if table not in tables:
            continue
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (table, column)).fetchone()[0]
        if sequence:
            value, called = conn.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
            found[table] = int(value) if called else 0
    return found
