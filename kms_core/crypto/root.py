"""The root of trust: the key that wraps every key material and secret stored in SQL.

Rows are wrapped with AES-256-GCM and an AAD naming the row ("kms_key_material|<key>|<id>"),
so a wrapped value copied onto another row fails to unwrap (Vault's barrier does the
same with the storage path).  The store keeps a check value (an HMAC of a fixed label),
so a wrong root key is detected at start-up instead of silently failing later.

Providers: a key file in the data directory (made when a new store is created, mode 0600;
the default) or the `PARAMSTORE_ROOT_KEY` environment variable (base64 of 32 bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_seal

ROOT_KEY_BYTES = 32
ROOT_KEY_ENV = "PARAMSTORE_ROOT_KEY"
ROOT_KEY_FILE = "root.key"
_WRAP_VERSION = b"\x01"
_CHECK_LABEL = b"paramstore root key check v1"


class RootKeyError(Exception):
    """The root key is missing, malformed or not the one this store was made with."""


class RootKey:
    """Wraps and unwraps row secrets.  Holds the key only in process memory."""

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != ROOT_KEY_BYTES:
            raise RootKeyError(f"root key from {source} must be {ROOT_KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.source = source

    def wrap(self, secret: bytes, row_identity: str) -> bytes:
        return _WRAP_VERSION + gcm_seal(self._key, secret, _aad(row_identity))

    def unwrap(self, wrapped: bytes, row_identity: str) -> bytes:
        if not wrapped or wrapped[:1] != _WRAP_VERSION:
            raise DecryptionFailed()
        return gcm_open(self._key, wrapped[1:], _aad(row_identity))

    def derive(self, label: bytes) -> bytes:
        """A 256-bit subkey for one purpose (session tokens, the audit chain, grant tokens)."""
        return hmac.new(self._key, b"paramstore-derive-v1|" + label, hashlib.sha256).digest()

    def check_value(self) -> str:
        """A value that identifies the key without revealing it (stored in ps_meta)."""
        return hmac.new(self._key, _CHECK_LABEL, hashlib.sha256).hexdigest()

    def matches(self, stored_check_value: str) -> bool:
        return hmac.compare_digest(self.check_value(), stored_check_value)

    def __repr__(self) -> str:  # never print the key
        return f"RootKey(source={self.source!r})"


def _aad(row_identity: str) -> bytes:
    return b"paramstore-root-wrap-v1|" + row_identity.encode()


def load_root_key(data_dir: Path, environ: dict[str, str] | None = None, create: bool = False) -> RootKey:
    """Env var if set, else the key file.  `create`: make the file (mode 0600) if the data
    dir has none; only for a new store (paramstore/preflight.py decides), never to replace
    a key that went missing."""
    env = os.environ if environ is None else environ
    encoded = env.get(ROOT_KEY_ENV)
    if encoded:
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise RootKeyError(f"{ROOT_KEY_ENV} is not valid base64") from None
        return RootKey(key, f"${ROOT_KEY_ENV}")
    path = Path(data_dir) / ROOT_KEY_FILE
    if not path.exists():
        if not create:
            raise RootKeyError(f"root key file {path} is missing (restore it from your backup, or set {ROOT_KEY_ENV})")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(os.urandom(ROOT_KEY_BYTES)) + b"\n")
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RootKeyError(f"root key file {path} is not valid base64") from None
    return RootKey(key, str(path))
