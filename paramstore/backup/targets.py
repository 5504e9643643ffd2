"""The restore target: refusing a place that isn't empty, the SQLite and PostgreSQL targets,
and putting a backup's rows in, the audit trail laid out as the target keeps it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from kms_core.crypto.root import RootKeyring
from kms_core.storage import audit_file
from kms_core.storage.connect import masked_url, postgres_connect_args, psycopg_dsn, sqlite_path
from paramstore.backup.common import _BATCH, BackupError
from paramstore.backup.file_format import BackupFile
from paramstore.backup.snapshot import TRAIL_TABLES, _postgres_columns
from paramstore.backup.values import coerce

OUTBOX_TABLE = "audit_outbox"
#: kept by triggers as rows are inserted: its own rows go in last, replacing theirs
COUNT_TABLE = "ps_resource_count"


# --- the target ----------------------------------------------------------------------------
def refuse_non_empty_target(data_dir: Path, url: str) -> None:
    """Restore never goes over a store: a marker, a trail file or any row refuses it."""
    from paramstore import preflight

    marker = preflight.read_marker(data_dir)
    if marker is not None:
        raise BackupError(f"{Path(data_dir) / preflight.MARKER_FILE} says store {marker['store_id']} lives there; "
                          "restore only into an empty data dir or database")
    path = sqlite_path(url)
    if path is not None:
        for chain in range(audit_file.MAX_CHAINS):
            trail = audit_file.audit_file_path(path, chain)
            if trail.exists() and trail.stat().st_size > 0:
                raise BackupError(f"audit trail {trail} is there; restore only into an empty data dir")
    busy = non_empty_tables(url)
    if busy:
        raise BackupError(f"the database at {masked_url(url)} is not empty (rows in {', '.join(busy[:5])}); "
                          "restore only into an empty database")


def non_empty_tables(url: str) -> list[str]:
    path = sqlite_path(url)
    if path is not None:
        if not path.exists() or path.stat().st_size == 0:
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return [n for n in names if conn.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone() is not None]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(psycopg_dsn(url), **postgres_connect_args(30.0)) as conn:
        names = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")]
        return [n for n in names if conn.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone() is not None]


class _Target:
    """Where restored rows go: the store's tables in one transaction, and the trail."""

    def columns(self, table: str) -> dict[str, str]:
        raise NotImplementedError

    def clear(self, table: str) -> None:
        raise NotImplementedError

    def insert(self, table: str, columns: list[str], rows: list[list]) -> None:
        raise NotImplementedError

    def insert_events(self, chain: int, columns: list[str], rows: list[list]) -> None:
        raise NotImplementedError

    def put_heads(self, columns: list[str], heads: list[list]) -> None:
        raise NotImplementedError

    def raise_sequences(self, sequences: dict[str, int]) -> None:
        raise NotImplementedError

    def commit(self, store_id: str) -> None:
        raise NotImplementedError

    def abandon(self) -> None:
        raise NotImplementedError

    def _coerced(self, table: str, columns: list[str], rows: list[list]) -> list[tuple]:
        kinds = self.columns(table)
        missing = [c for c in columns if c not in kinds]
        if missing:
            raise BackupError(f"table {table} of the target has no column {missing[0]} (schema mismatch)")
        types = [kinds[c] for c in columns]
        return [tuple(coerce(v, t) for v, t in zip(row, types)) for row in rows]


class _SqliteTarget(_Target):
    """The store's file in one transaction; each chain's trail in a file of its own
    (kms_core/storage/audit_file.py), named in `ps_meta` as the server names them."""

    def __init__(self, store_path: Path, timeout: float) -> None:
        self.store_path = store_path
        self.busy_ms = max(1, int(timeout * 1000))
        self.conn = sqlite3.connect(str(store_path), isolation_level=None, timeout=timeout)
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("BEGIN IMMEDIATE")
        self.trails: dict[int, sqlite3.Connection] = {}
        self._columns: dict[str, dict[str, str]] = {}

    def columns(self, table: str) -> dict[str, str]:
        if table not in self._columns:
            self._columns[table] = {r[1]: r[2] for r in self.conn.execute(f"PRAGMA table_info('{table}')")}
        return self._columns[table]

    def clear(self, table: str) -> None:
        self.conn.execute(f'DELETE FROM "{table}"')

    def insert(self, table: str, columns: list[str], rows: list[list]) -> None:
        self.conn.executemany(_insert_sql(table, columns, "?"), self._coerced(table, columns, rows))

    def trail(self, chain: int) -> sqlite3.Connection:
        conn = self.trails.get(chain)
        if conn is None:
            path = audit_file.audit_file_path(self.store_path, chain)
            conn = audit_file.connect(path, self.busy_ms, durable=True, chain=chain)
            conn.execute("BEGIN IMMEDIATE")
            self.trails[chain] = conn
        return conn

    def insert_events(self, chain: int, columns: list[str], rows: list[list]) -> None:
        self.trail(chain).executemany(_insert_sql("audit_event", columns, "?"),
                                      self._coerced("audit_event", columns, rows))

    def put_heads(self, columns: list[str], heads: list[list]) -> None:
        ids = columns.index("id")
        for head in heads:
            self.trail(int(head[ids]) - 1).execute(
                f"INSERT OR REPLACE INTO audit_head ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                head)
        self.trail(0)  # a store's trail has chain 0's file, even if empty

    def raise_sequences(self, sequences: dict[str, int]) -> None:
        autoincrement = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'")}
        for table, value in sequences.items():
            if table not in autoincrement or value <= 0:
                continue
            row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
            if row is None:
                self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value))
            elif int(row[0]) < value:
                self.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (value, table))

    def commit(self, store_id: str) -> None:
        """The trail files first, then the store that names them."""
        for chain, conn in sorted(self.trails.items()):
            conn.execute("INSERT OR REPLACE INTO audit_meta (name, value) VALUES ('store_id', ?)", (store_id,))
            conn.execute("COMMIT")
            self.conn.execute("INSERT OR REPLACE INTO ps_meta (name, value) VALUES (?, ?)",
                              (audit_file.chain_meta_name(chain), audit_file.audit_file_path(self.store_path,
                                                                                           chain).name))
        self.conn.execute("COMMIT")
        self.close()

    def close(self) -> None:
        for conn in self.trails.values():
            conn.close()
        self.conn.close()

    def abandon(self) -> None:
        """A restore that failed part way: the files it made go (the place was empty)."""
        for conn in [*self.trails.values(), self.conn]:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self.close()
        from kms_core.storage.connect import SQLITE_SIDE_FILES

        for chain in range(audit_file.MAX_CHAINS):
            for path in (self.store_path, audit_file.audit_file_path(self.store_path, chain)):
                for suffix in ("", *SQLITE_SIDE_FILES, ".lock"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)


class _PostgresTarget(_Target):
    """Everything, the trail included, in one transaction of the database."""

    def __init__(self, url: str, timeout: float) -> None:
        import psycopg

        self.conn = psycopg.connect(psycopg_dsn(url), **postgres_connect_args(max(timeout, 60.0)))
        self._columns = {table: dict(zip(*cols)) for table, cols in _postgres_columns(self.conn).items()}
        self.conn.execute("DELETE FROM audit_head")

    def columns(self, table: str) -> dict[str, str]:
        return self._columns.get(table, {})

    def clear(self, table: str) -> None:
        self.conn.execute(f'DELETE FROM "{table}"')

    def insert(self, table: str, columns: list[str], rows: list[list]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_insert_sql(table, columns, "%s"), self._coerced(table, columns, rows))

    def insert_events(self, chain: int, columns: list[str], rows: list[list]) -> None:
        self.insert("audit_event", columns, rows)

    def put_heads(self, columns: list[str], heads: list[list]) -> None:
        self.insert("audit_head", columns, heads)
        if not any(int(head[columns.index("id")]) == audit_file.head_id(0) for head in heads):
            self.conn.execute("INSERT INTO audit_head (id, last_seq, last_mac) VALUES (1, 0, %s)",
                              (audit_file.GENESIS_MAC,))

    def raise_sequences(self, sequences: dict[str, int]) -> None:
        """Serial columns continue after the highest id the source handed out."""
        tables = list(self._columns)
        for table, column in self.conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND column_default LIKE 'nextval(%%'").fetchall():
            if table not in tables:
                continue
            highest = self.conn.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()[0] or 0
            value = max(int(highest), int(sequences.get(table, 0)))
            if value > 0:
                self.conn.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, true)", (table, column, value))

    def commit(self, store_id: str) -> None:
        self.conn.commit()
        self.conn.close()

    def abandon(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def _insert_sql(table: str, columns: list[str], mark: str) -> str:
    return (f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join([mark] * len(columns))})')


@dataclass
class _Trail:
    """The audit rows as they stream in: each chain's tail, and the outbox's records (a
    change's record not yet moved to the trail when the snapshot was taken)."""

    outbox: dict[tuple, int] = field(default_factory=dict)
    tails: dict[int, tuple[int, str]] = field(default_factory=dict)
    heads: list[list] = field(default_factory=list)
    head_columns: list[str] = field(default_factory=list)

    def saw_event(self, event: dict) -> None:
        key = tuple(event[f] for f in audit_file.EVENT_FIELDS)
        if key in self.outbox:
            self.outbox[key] -= 1
            if not self.outbox[key]:
                del self.outbox[key]
        self.tails[audit_file.chain_of(int(event["seq"]))] = (int(event["seq"]), str(event["mac"]))


def _fold_outbox(trail: _Trail, root: RootKeyring, event_columns: list[str]) -> list[list]:
    """The outbox records the trail doesn't hold, appended to chain 0 (as the server's
    sweeper would): the restored store keeps every change's record, on either database.
    Returns the new events; chain 0's head moves to the last of them."""
    from kms_core.audit import CHAIN_LABEL, HEAD_LABEL, compute_mac, head_tag

    missing = [list(values) for values, n in trail.outbox.items() for _ in range(n)]
    if not missing:
        return []
    missing.sort(key=lambda values: values[0])
    seq, mac = trail.tails.get(0, (audit_file.chain_base(0), audit_file.GENESIS_MAC))
    chain_key = root.derive(CHAIN_LABEL)
    events = []
    for values in missing:
        seq += 1
        new_mac = compute_mac(chain_key, mac, seq, values)
        row = dict(zip(audit_file.EVENT_FIELDS, values), seq=seq, prev_mac=mac, mac=new_mac)
        events.append([row[c] for c in event_columns])
        mac = new_mac
    ids = trail.head_columns.index("id")
    trail.heads = [h for h in trail.heads if int(h[ids]) != audit_file.head_id(0)]
    head = {"id": audit_file.head_id(0), "last_seq": seq, "last_mac": mac,
            "head_mac": head_tag(root.derive(HEAD_LABEL), seq, mac)}
    trail.heads.append([head[c] for c in trail.head_columns])
    return events


def restore_rows(backup: BackupFile, url: str, root: RootKeyring, timeout: float) -> dict[str, int]:
    """Make the schema and put every row of the backup in; returns rows per table."""
    from kms_core.storage import migrate
    from kms_core.storage.session import Database

    db = Database(url, timeout=timeout)
    try:
        head = migrate.head_revision(db)
        if backup.header.get("schema_revision") != head:
            raise BackupError(f"the backup's schema is at revision {backup.header.get('schema_revision')} but this "
                              f"release's is {head}; restore it with the release that made it")
        migrate.upgrade(db)
    finally:
        db.dispose()
    path = sqlite_path(url)
    target: _Target = _SqliteTarget(path, timeout) if path is not None else _PostgresTarget(url, timeout)
    try:
        counts = _put_rows(backup, target, root)
        target.raise_sequences({k: int(v) for k, v in (backup.header.get("sequences") or {}).items()})
        target.commit(str(backup.header["store_id"]))
    except BaseException:
        target.abandon()
        raise
    return counts


def _put_rows(backup: BackupFile, target: _Target, root: RootKeyring) -> dict[str, int]:
    columns = {t["name"]: list(t["columns"]) for t in backup.header["tables"]}
    counts: dict[str, int] = {name: 0 for name in columns}
    trail = _Trail(head_columns=columns.get("audit_head", []))
    deferred_counts: list[list] = []
    batch: list[list] = []
    current: Optional[str] = None

    def flush() -> None:
        if current is None or not batch:
            return
        if current == "audit_event":
            by_chain: dict[int, list[list]] = {}
            seq = columns[current].index("seq")
            for row in batch:
                by_chain.setdefault(audit_file.chain_of(int(row[seq])), []).append(row)
            for chain, rows in by_chain.items():
                target.insert_events(chain, columns[current], rows)
        else:
            target.insert(current, columns[current], batch)
        batch.clear()

    for table, row in backup.rows():
        if table != current:
            flush()
            current = table
            if table not in TRAIL_TABLES and table not in (OUTBOX_TABLE, COUNT_TABLE):
                target.clear(table)
        counts[table] = counts.get(table, 0) + 1
        named = dict(zip(columns[table], row))
        if table == OUTBOX_TABLE:
            key = tuple(named[f] for f in audit_file.EVENT_FIELDS)
            trail.outbox[key] = trail.outbox.get(key, 0) + 1
            continue
        if table == COUNT_TABLE:
            deferred_counts.append(row)
            continue
        if table == "audit_head":
            trail.heads.append(row)
            continue
        if table == "ps_meta" and str(named["name"]).startswith(audit_file.AUDIT_FILE_META):
            continue  # the trail's layout is the target's own (SQLite: named at commit)
        if table == "audit_event":
            trail.saw_event(named)
        batch.append(row)
        if len(batch) >= _BATCH:
            flush()
    flush()
    expected = {t["name"]: int(t["rows"]) for t in backup.header["tables"]}
    if counts != expected:
        raise BackupError(f"backup {backup.path} holds other row counts than its header says; refusing it")
    folded = _fold_outbox(trail, root, columns.get("audit_event", []))
    if folded:
        target.insert_events(0, columns["audit_event"], folded)
    target.put_heads(trail.head_columns, trail.heads)
    if COUNT_TABLE in columns:
        target.clear(COUNT_TABLE)
        if deferred_counts:
            target.insert(COUNT_TABLE, columns[COUNT_TABLE], deferred_counts)
    return counts
