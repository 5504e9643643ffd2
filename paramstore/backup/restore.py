"""Restore end to end, around the rows: the root key to check the backup with (and one it
carries to write), the marker, and the verification of the restored store."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kms_core.crypto.root import ROOT_KEY_ENV, ROOT_KEY_FILE, RootKey, RootKeyError, RootKeyring
from kms_core.storage import root_versions
from paramstore.backup.common import BackupError
from paramstore.backup.file_format import BackupFile
from paramstore.backup.sealing import PASSPHRASE_ENV, export_root_key, open_root_key


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
