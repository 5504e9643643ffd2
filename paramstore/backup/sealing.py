"""The root key in a backup: exported from the keyring, sealed under a passphrase (scrypt,
AES-256-GCM) and opened again; the passphrase read, and a restored key file written."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Optional

from kms_core.crypto.root import ROOT_KEY_BYTES, RootKey
from paramstore.backup.common import FILE_MODE, BackupError
from paramstore.backup.values import _b64

PASSPHRASE_ENV = "PARAMSTORE_BACKUP_PASSPHRASE"
HSM_MESSAGE = "the root key is held in an HSM and cannot be exported; back it up with the HSM's own tools"
#: scrypt's cost for the passphrase key: ~32 MiB and a fraction of a second
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1


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
