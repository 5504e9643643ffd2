"""Backups of a whole store in one portable, authenticated file, and restores from them.

Why a logical dump, not a copy of the database files: the file must restore into either
database (a SQLite store into PostgreSQL and back), and on SQLite the store and its audit
trail files must be caught at one moment while servers keep writing.

The snapshot.  SQLite: one connection to the store with every trail file ATTACHed, and one
read transaction over all of them (WAL: each file's snapshot is fixed when the transaction
first reads it, and holds until it ends).  The store is read first, then the chains other
than 0, then chain 0, the order that keeps the trail whole: a change's record is in the
store's outbox or in the trail (never in neither) at any later moment, and a chain's start
is recorded in chain 0 before its first event.  PostgreSQL: one REPEATABLE READ, READ ONLY
transaction reads every table.

The file::

    paramstore-backup v1\\n
    <header: one line of JSON>\\n           store id, source dialect, schema revision, creation
                                           time, tables with their columns and row counts, the
                                           body's length, the sealed root key (if included)
    <body: zlib of JSON lines>             ["table", [value, ...]] per row, in insert order
                                           (foreign keys first); bytes as {"b64": "..."}
    \\n<trailer: one line of JSON>\\n        {"sha256": ..., "hmac": ...} over everything above

The HMAC-SHA256 is keyed by `root.derive(b"paramstore-backup-v1")`: a file changed by
anyone without the root key is refused; the plain SHA-256 names damage even without it.
The root key is in the file only if asked for, sealed with AES-256-GCM under a key from
scrypt of a passphrase.

Restore goes only into an empty place (no marker, no rows, no trail files), makes the
schema with the project's migrations, inserts every row, lays the trail out as the target
keeps it (SQLite: a file per chain, named in `ps_meta`; PostgreSQL: the store's own
tables), writes the marker with the same store id, and then verifies the result: the root
key's check value, the audit chains, and every root-sealed value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional

from kms_core.crypto.root import ROOT_KEY_BYTES, ROOT_KEY_ENV, ROOT_KEY_FILE, RootKey, RootKeyError, RootKeyring
from kms_core.storage import root_versions
from kms_core.storage import audit_file
from kms_core.storage.connect import masked_url, postgres_connect_args, psycopg_dsn, sqlite_path
from kms_core.storage.store_meta import ROOT_CHECK, STORE_CREATED, STORE_ID

MAGIC = b"paramstore-backup v1\n"
FORMAT_VERSION = 1
HMAC_LABEL = b"paramstore-backup-v1"
PASSPHRASE_ENV = "PARAMSTORE_BACKUP_PASSPHRASE"
HSM_MESSAGE = "the root key is held in an HSM and cannot be exported; back it up with the HSM's own tools"
#: scrypt's cost for the passphrase key: ~32 MiB and a fraction of a second
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
#: the trail: on SQLite in files of their own, on PostgreSQL in the store's database
TRAIL_TABLES = ("audit_head", "audit_event")
OUTBOX_TABLE = "audit_outbox"
#: kept by triggers as rows are inserted: its own rows go in last, replacing theirs
COUNT_TABLE = "ps_resource_count"
#: the migrations' own bookkeeping: the revision goes in the header instead
SKIPPED_TABLES = ("alembic_version",)
FILE_MODE = 0o600
_BATCH = 1000


class BackupError(Exception):
    """A backup or restore that can't go on; the message says why and what to do."""


# --- the root key --------------------------------------------------------------------------
def export_root_key(root: Any) -> bytes:
    """The root key's bytes, for `--include-root-key` (a key held in an HSM has none to give)."""
    export = getattr(root, "export_for_backup", None)
    try:
        key = export() if export is not None else getattr(root, "_key", None)
    except Exception:
        raise BackupError(HSM_MESSAGE) from None
    if not isinstance(key, bytes) or len(key) != ROOT_KEY_BYTES:
        raise BackupError(HSM_MESSAGE)
    return key


def _passphrase_key(passphrase: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode("utf-8"))


def _sealed_key_aad(store_id: str) -> bytes:
    return b"paramstore-backup-root-key-v1|" + store_id.encode()


def seal_root_key(key: bytes, passphrase: str, store_id: str) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_passphrase_key(passphrase, salt)).encrypt(nonce, key, _sealed_key_aad(store_id))
    return {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt),
            "cipher": "AES-256-GCM", "nonce": _b64(nonce), "sealed": _b64(sealed)}


def open_root_key(sealed: dict, passphrase: str, store_id: str) -> RootKey:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    try:
        salt = base64.b64decode(sealed["salt"])
        kdf = Scrypt(salt=salt, length=32, n=int(sealed["n"]), r=int(sealed["r"]), p=int(sealed["p"]))
        wrapping = kdf.derive(passphrase.encode("utf-8"))
        key = AESGCM(wrapping).decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["sealed"]),
                                       _sealed_key_aad(store_id))
    except InvalidTag:
        raise BackupError("wrong passphrase: the root key in the backup can't be opened with it") from None
    except (KeyError, TypeError, ValueError):
        raise BackupError("the root key in the backup is damaged") from None
    return RootKey(key, "the backup file")


def read_passphrase(passphrase_file: Optional[Path]) -> Optional[str]:
    """From the file (its first line) or $PARAMSTORE_BACKUP_PASSPHRASE; never from the command line."""
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_text()
        except OSError as exc:
            raise BackupError(f"passphrase file {passphrase_file}: {exc.strerror or exc}") from None
        passphrase = text.splitlines()[0] if text.splitlines() else ""
    else:
        passphrase = os.environ.get(PASSPHRASE_ENV, "")
    return passphrase or None


def write_root_key_file(path: Path, key: bytes) -> Path:
    """A root key file as the store reads it (crypto/root.py): base64 and a newline, mode 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
    return path


# --- values: dialect-neutral JSON ----------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b64": _b64(bytes(value))}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def coerce(value: Any, column_type: str) -> Any:
    """A value as the target column takes it (SQLite keeps booleans as 0/1, PostgreSQL as
    booleans; a float column may have been handed an integer)."""
    if value is None:
        return None
    kind = column_type.lower()
    if "bool" in kind:
        return bool(value)
    if any(word in kind for word in ("float", "double", "real", "numeric")):
        return float(value)
    if "int" in kind and isinstance(value, bool):
        return int(value)
    return value


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
                for chain in sorted(named - {0}) + [0]:  # chain 0 last (see the module docstring)
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


# --- writing the file ----------------------------------------------------------------------
@dataclass
class BackupResult:
    path: Path
    store_id: str
    counts: dict[str, int]
    root_key_included: bool


def open_snapshot(url: str, timeout: float) -> Iterator[Snapshot]:
    path = sqlite_path(url)
    if path is not None:
        return sqlite_snapshot(path, timeout)
    return postgres_snapshot(url, timeout)


def store_keyring(data_dir: Path, url: str, timeout: float) -> RootKeyring:
    """The store's root keyring, opened read-only (a backup never writes to the store)."""
    from kms_core.storage.session import Database
    from paramstore import preflight

    preflight.check_url(url)
    db = Database(url, timeout=timeout)
    try:
        return root_versions.open_keyring(db, data_dir)[0]
    finally:
        db.dispose()


def _root_version_rows(meta: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in meta.items() if name.startswith("root_key.")}


def write_backup(target: Path, url: str, root: RootKeyring, marker: Optional[dict], timeout: float,
                 passphrase: Optional[str] = None, include_root_key: bool = False,
                 clock: Callable[[], float] = time.time) -> BackupResult:
    """Snapshot the store at `url` into `target` (atomically, mode 0600)."""
    if include_root_key and len(root.versions) > 1:
        raise BackupError("a root-key rotation is unfinished (values under more than one root version); "
                          "finish it (`paramstore admin rotate-root-key` or the servers' sweepers) and back up again")
    key_bytes = export_root_key(root) if include_root_key else None
    if include_root_key and not passphrase:
        raise BackupError(f"--include-root-key needs a passphrase: --passphrase-file FILE or ${PASSPHRASE_ENV}")
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
        for snapshot in open_snapshot(url, timeout):
            store_id = snapshot.meta.get(STORE_ID) or (marker or {}).get("store_id")
            if not store_id:
                raise BackupError("the store has no id yet (start it once); nothing to back up")
            check = snapshot.meta.get(ROOT_CHECK)
            if check is None or not root.matches(check):
                raise BackupError(f"the root key from {root.source} is not this store's root key")
            counts, body_bytes = _write_body(body, snapshot)
            header = {
                "format": FORMAT_VERSION, "store_id": store_id, "source_dialect": snapshot.dialect,
                "schema_revision": snapshot.revision, "store_created_at": _float(snapshot.meta.get(STORE_CREATED)),
                "backup_created_at": clock(), "root_key_check": check, "compression": "zlib",
                "tables": [{"name": t.name, "columns": t.columns, "rows": counts[t.name]} for t in snapshot.tables],
                "sequences": snapshot.sequences, "body_bytes": body_bytes,
                "root_key": seal_root_key(key_bytes, passphrase or "", store_id) if key_bytes else None,
                "root_versions": _root_version_rows(snapshot.meta),
            }
        body.seek(0)
        _write_atomically(target, header, body, hmac_key(root))
    return BackupResult(target, store_id, counts, key_bytes is not None)


def hmac_key(root: RootKeyring) -> bytes:
    return root.derive(HMAC_LABEL)


def _float(value: Optional[str]) -> Optional[float]:
    return float(value) if value else None


def _write_body(body: IO[bytes], snapshot: Snapshot) -> tuple[dict[str, int], int]:
    """Every row as a JSON line, compressed; returns (rows per table, compressed length)."""
    compressor = zlib.compressobj(6)
    counts: dict[str, int] = {}
    written = 0
    for table in snapshot.tables:
        count = 0
        prefix = json.dumps(table.name)
        lines: list[str] = []
        for row in table.rows():
            lines.append(f"[{prefix},{json.dumps([encode_value(v) for v in row], separators=(',', ':'))}]\n")
            count += 1
            if len(lines) >= _BATCH:
                written += body.write(compressor.compress("".join(lines).encode("utf-8", "surrogatepass")))
                lines = []
        if lines:
            written += body.write(compressor.compress("".join(lines).encode("utf-8", "surrogatepass")))
        counts[table.name] = count
    written += body.write(compressor.flush())
    return counts, written


def _write_atomically(target: Path, header: dict, body: IO[bytes], key: bytes) -> None:
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest, mac = hashlib.sha256(), hmac.new(key, digestmod=hashlib.sha256)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            def put(chunk: bytes) -> None:
                digest.update(chunk)
                mac.update(chunk)
                out.write(chunk)

            put(MAGIC)
            put(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            while chunk := body.read(1 << 20):
                put(chunk)
            put(b"\n")  # the trailer is the file's last line
            out.write(json.dumps({"sha256": digest.hexdigest(), "hmac": mac.hexdigest()}).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- reading the file ----------------------------------------------------------------------
@dataclass
class BackupFile:
    """A backup whose checksum is good; `authenticate` checks its HMAC."""

    path: Path
    header: dict
    body_offset: int
    content_length: int
    trailer: dict

    def authenticate(self, root: RootKeyring) -> None:
        if not root.matches(str(self.header.get("root_key_check"))):
            raise BackupError(f"the root key from {root.source} is not the root key of store "
                              f"{self.header.get('store_id')} (the backup's)")
        mac = hmac.new(hmac_key(root), digestmod=hashlib.sha256)
        for chunk in _chunks(self.path, self.content_length):
            mac.update(chunk)
        if not hmac.compare_digest(mac.hexdigest(), str(self.trailer.get("hmac"))):
            raise BackupError(f"backup {self.path} fails its authentication (HMAC): it was changed; refusing it")

    def rows(self) -> Iterator[tuple[str, list]]:
        """(table, row) in the file's order."""
        decompressor = zlib.decompressobj()
        pending = b""
        with open(self.path, "rb") as fh:
            fh.seek(self.body_offset)
            left = int(self.header["body_bytes"])
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                pending += decompressor.decompress(chunk)
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    table, row = json.loads(line.decode("utf-8", "surrogatepass"))
                    yield table, [decode_value(v) for v in row]
        pending += decompressor.flush()
        for line in pending.split(b"\n"):
            if line:
                table, row = json.loads(line.decode("utf-8", "surrogatepass"))
                yield table, [decode_value(v) for v in row]


def _chunks(path: Path, length: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while length > 0:
            chunk = fh.read(min(length, 1 << 20))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def read_backup(path: Path) -> BackupFile:
    """Open a backup and check its SHA-256 (damage of any kind), not yet its HMAC."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 4096))
            tail = fh.read()
            fh.seek(0)
            head = fh.read(len(MAGIC))
    except OSError as exc:
        raise BackupError(f"backup {path}: {exc.strerror or exc}") from None
    damaged = f"backup {path} is damaged or not a paramstore backup"
    if head != MAGIC or not tail.endswith(b"\n"):
        raise BackupError(damaged)
    start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
    try:
        trailer = json.loads(tail[start:])
        content_length = size - (len(tail) - start)
    except ValueError:
        raise BackupError(damaged + " (its checksum line is unreadable)") from None
    digest = hashlib.sha256()
    for chunk in _chunks(path, content_length):
        digest.update(chunk)
    if not isinstance(trailer, dict) or not hmac.compare_digest(digest.hexdigest(), str(trailer.get("sha256"))):
        raise BackupError(f"backup {path} is damaged: its SHA-256 checksum does not match; refusing it")
    with open(path, "rb") as fh:
        fh.seek(len(MAGIC))
        header_line = fh.readline()
    try:
        header = json.loads(header_line)
    except ValueError:
        raise BackupError(damaged + " (its header is unreadable)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise BackupError(f"backup {path} has format {header.get('format') if isinstance(header, dict) else '?'}; "
                          f"this release reads format {FORMAT_VERSION}")
    return BackupFile(path, header, len(MAGIC) + len(header_line), content_length, trailer)


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


# --- restore, end to end -------------------------------------------------------------------
@dataclass
class Verification:
    root_key_matches: bool
    audit_ok: bool
    audit: str
    wrapped_opened: int
    wrapped_failed: list[str]

    @property
    def ok(self) -> bool:
        return self.root_key_matches and self.audit_ok and not self.wrapped_failed


def root_for_restore(backup: BackupFile, data_dir: Path, passphrase: Optional[str]
                     ) -> tuple[RootKeyring, Optional[tuple[Path, bytes]]]:
    """The keyring the restore checks the backup with, and (where, bytes) of a key to write
    to the data dir: a key the backup carries, with none where the store expects it."""
    sealed = backup.header.get("root_key")
    store_id = str(backup.header.get("store_id"))
    stored = root_versions.versions_from_rows(dict(backup.header.get("root_versions") or {}).items())
    carried: Optional[RootKey] = None
    if sealed:
        if not passphrase:
            raise BackupError(f"the backup carries the root key, sealed: give its passphrase with "
                              f"--passphrase-file FILE or ${PASSPHRASE_ENV}")
        carried = open_root_key(sealed, passphrase, store_id)
    try:
        keyring, _ = root_versions.keyring_for(stored, data_dir)
        local = True
    except RootKeyError as exc:
        if carried is None:
            raise BackupError(f"no root key: {exc}; the backup doesn't carry it: put the store's root key where "
                              f"the store expects it (for most stores, {ROOT_KEY_FILE} in {data_dir}, mode 0600, "
                              f"or ${ROOT_KEY_ENV})") from None
        keyring, _ = root_versions.keyring_for(stored, data_dir, carried=carried)
        local = False
    if carried is None:
        return keyring, None
    if local:
        if not _same_key(carried, keyring):
            raise BackupError(f"the root key from {keyring.source} is not the one the backup carries")
        return keyring, None
    return keyring, (_carried_key_path(stored, data_dir), export_root_key(carried))


def _same_key(carried: RootKey, keyring: RootKeyring) -> bool:
    held = keyring.provider(keyring.current)
    return isinstance(held, RootKey) and hmac.compare_digest(held.export_for_backup(), carried.export_for_backup())


def _carried_key_path(stored: "root_versions.StoredVersions", data_dir: Path) -> Path:
    """Where the store looks for its current root key file."""
    record = stored.records.get(stored.current, {"kind": "legacy"})
    if record.get("kind") == "file":
        return root_versions.key_file_path(record, data_dir)
    if record.get("kind") == "legacy":
        return Path(data_dir) / ROOT_KEY_FILE
    raise BackupError(f"the backup's root key lives in {root_versions.where(record)}; put it there yourself")


def verify_restored(data_dir: Path, url: str, timeout: float) -> Verification:
    """Open the restored store the normal way and check it whole."""
    from kms_core.audit import verify
    from kms_core.storage.session import Database
    from kms_core.storage.store_meta import stored_root_check
    from kms_core.storage.wrapped_rows import open_all

    db = Database(url, timeout=timeout)
    try:
        try:
            root = root_versions.open_keyring(db, data_dir)[0]
        except RootKeyError as exc:
            return Verification(False, False, f"the restored store's root key can't be opened: {exc}", 0, [])
        stored = stored_root_check(db)
        matches = stored is not None and root.matches(stored)
        audit = verify(db, root)
        with db.session() as session:
            opened = open_all(session, root)
    finally:
        db.dispose()
    return Verification(matches, audit.ok, str(audit), opened.opened, list(opened.failed))


def write_marker(data_dir: Path, backup: BackupFile, url: str) -> None:
    from paramstore import preflight

    created = backup.header.get("store_created_at") or backup.header.get("backup_created_at") or time.time()
    preflight.write_marker(data_dir, str(backup.header["store_id"]), float(created), url)
