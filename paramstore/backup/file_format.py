"""The backup file: written from a snapshot (magic, header, zlib body, trailer) atomically,
and read back, its SHA-256 checked on opening and its HMAC (keyed by the root key) on demand."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from kms_core.crypto.root import RootKeyring
from kms_core.storage import root_versions
from kms_core.storage.connect import sqlite_path
from kms_core.storage.store_meta import ROOT_CHECK, STORE_CREATED, STORE_ID
from paramstore.backup.common import _BATCH, FILE_MODE, BackupError
from paramstore.backup.sealing import PASSPHRASE_ENV, export_root_key, seal_root_key
from paramstore.backup.snapshot import Snapshot, postgres_snapshot, sqlite_snapshot
from paramstore.backup.values import decode_value, encode_value

MAGIC = b"paramstore-backup v1\n"
FORMAT_VERSION = 1
HMAC_LABEL = b"paramstore-backup-v1"


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
