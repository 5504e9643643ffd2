"""The root of trust: the keys that wrap every key material and secret stored in SQL.

Rows are wrapped with AES-256-GCM and an AAD naming the row ("kms_key_material|<key>|<id>"),
so a wrapped value copied onto another row fails to unwrap (Vault's barrier does the
same with the storage path).

The root has *versions* (Vault's keyring, AWS KMS's domain keys): rotation adds a version
that takes every new wrap at once, and a rewrap moves the old rows onto it
(kms_core/storage/root_versions.py).  A wrapped value names its version:

    version 1, in-process key:  0x01 || iv || ciphertext || tag   (the original format)
    any other:                  0x02 || version (2 bytes) || the provider's sealed bytes

A version's key lives in a *provider*: a key file or environment variable (in-process
AES-GCM), or a PKCS#11 token that seals and opens itself (crypto/pkcs11_root.py) so the key
never leaves it.

Keys for MACs and tokens (the audit chain, session tokens, page tokens, import tokens) come
from the *domain key* by HMAC, not from a root version, so they outlive rotation.  A store
made before versions existed uses its first root key's bytes as its domain key; any other
store makes a random one, kept wrapped under the current root in ps_meta.  The store's
check value (ps_meta root_key_check) is an HMAC of a fixed label under the domain key: a
wrong or missing root is found at start-up instead of failing later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol

from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_seal

ROOT_KEY_BYTES = 32
ROOT_KEY_ENV = "PARAMSTORE_ROOT_KEY"
ROOT_KEY_FILE = "root.key"
_LEGACY_FORMAT = b"\x01"
_VERSIONED_FORMAT = b"\x02"
_CHECK_LABEL = b"paramstore root key check v1"
#: what a version's check blob seals: opening it proves the provider holds that version
VERSION_CHECK_PLAINTEXT = b"paramstore root version check v1"
DOMAIN_KEY_IDENTITY = "ps_meta|root_key.domain"


class RootKeyError(Exception):
    """The root key is missing, malformed or not the one this store was made with."""


class RootVersionUnavailable(DecryptionFailed):
    """A value is wrapped under a root version this process does not hold."""


class RootProvider(Protocol):
    """One root version's key: seals and opens with an AAD; never hands the key out."""

    source: str

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, sealed: bytes, aad: bytes) -> bytes: ...


class RootKey:
    """A root version held in process memory (from a key file or an environment variable)."""

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != ROOT_KEY_BYTES:
            raise RootKeyError(f"root key from {source} must be {ROOT_KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.source = source

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return gcm_seal(self._key, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return gcm_open(self._key, sealed, aad)

    def export_for_backup(self) -> bytes:
        return self._key

    def legacy_domain_key(self) -> bytes:
        """A store made before root versions derived its keys from this key's bytes."""
        return self._key

    # A lone in-process key is also a one-version keyring (a store from before versions).
    def wrap(self, secret: bytes, row_identity: str) -> bytes:
        return seal_under(self, 1, secret, row_identity)

    def unwrap(self, wrapped: bytes, row_identity: str) -> bytes:
        if not wrapped or wrapped[:1] != _LEGACY_FORMAT:
            raise DecryptionFailed()
        return open_under(self, wrapped, row_identity)

    def derive(self, label: bytes) -> bytes:
        return derive_key(self._key, label)

    def check_value(self) -> str:
        return domain_check_value(self._key)

    def matches(self, stored_check_value: str) -> bool:
        return hmac.compare_digest(self.check_value(), stored_check_value)

    def __repr__(self) -> str:  # never print the key
        return f"RootKey(source={self.source!r})"


def _aad(row_identity: str) -> bytes:
    return b"paramstore-root-wrap-v1|" + row_identity.encode()


def wrapped_version(wrapped: bytes) -> Optional[int]:
    """The root version a wrapped value names, or None if it is not a wrapped value."""
    if wrapped[:1] == _LEGACY_FORMAT:
        return 1
    if wrapped[:1] == _VERSIONED_FORMAT and len(wrapped) >= 3:
        return int.from_bytes(wrapped[1:3], "big")
    return None


def seal_under(provider: RootProvider, version: int, secret: bytes, row_identity: str) -> bytes:
    """Wrap `secret` under one root version (the keyring's wrap, for a version it may not
    hold yet: rotation seals the domain key under the new version before it is current)."""
    if version == 1 and isinstance(provider, RootKey):
        return _LEGACY_FORMAT + provider.seal(secret, _aad(row_identity))
    return _VERSIONED_FORMAT + version.to_bytes(2, "big") + provider.seal(secret, _aad(row_identity))


def open_under(provider: RootProvider, wrapped: bytes, row_identity: str) -> bytes:
    header = 1 if wrapped[:1] == _LEGACY_FORMAT else 3
    return provider.open(wrapped[header:], _aad(row_identity))


def version_check_blob(provider: RootProvider, version: int) -> str:
    return base64.b64encode(seal_under(provider, version, VERSION_CHECK_PLAINTEXT, f"root_key.v{version}")).decode()


def opens_check_blob(provider: RootProvider, version: int, blob: str) -> bool:
    try:
        return open_under(provider, base64.b64decode(blob), f"root_key.v{version}") == VERSION_CHECK_PLAINTEXT
    except Exception:  # a wrong key, a token error: this provider is not that version
        return False


def derive_key(domain_key: bytes, label: bytes) -> bytes:
    return hmac.new(domain_key, b"paramstore-derive-v1|" + label, hashlib.sha256).digest()


def domain_check_value(domain_key: bytes) -> str:
    return hmac.new(domain_key, _CHECK_LABEL, hashlib.sha256).hexdigest()


class RootKeyring:
    """The root versions one process holds, the current one, and the domain key.

    Every wrap uses the current version.  An unwrap of a version this process has not
    loaded yet (another process rotated) asks `refresh` once for the store's versions,
    so a rotation reaches every server without a restart."""

    def __init__(self, versions: dict[int, RootProvider], current: int, domain_key: bytes) -> None:
        if current not in versions:
            raise RootKeyError(f"root key version {current} is not loaded")
        self._versions = dict(versions)
        self.current = current
        self._domain_key = domain_key
        self._lock = threading.Lock()
        #: loads the store's versions again (set by whoever opened the store)
        self.refresh: Optional[Callable[[], None]] = None

    # --- the versions -------------------------------------------------------------------
    @property
    def versions(self) -> dict[int, RootProvider]:
        return dict(self._versions)

    def provider(self, version: int) -> RootProvider:
        try:
            return self._versions[version]
        except KeyError:
            raise RootVersionUnavailable() from None

    def adopt(self, versions: dict[int, RootProvider], current: int) -> None:
        """Take the store's versions as they are now (after a rotation, or a retirement)."""
        with self._lock:
            merged = {**self._versions, **versions}
            if current not in merged:
                raise RootKeyError(f"root key version {current} is not available to this process")
            self._versions = {v: p for v, p in merged.items() if v in versions or v == current}
            self.current = current

    @property
    def source(self) -> str:
        return self._versions[self.current].source

    def export_for_backup(self) -> bytes:
        """The current version's key bytes (only an in-process key; the backup command
        refuses an HSM-held one with its own message)."""
        provider = self._versions[self.current]
        if not isinstance(provider, RootKey):
            raise RootKeyError("the root key is held in an HSM and cannot be exported; "
                               "back it up with the HSM's own tools")
        return provider.export_for_backup()

    def probe(self) -> None:
        """Raise RootKeyError if the current version's key store can't seal now (readiness:
        an HSM token that went away).  An in-process key always can."""
        current = self._versions[self.current]
        if not isinstance(current, RootKey):
            current.seal(b"", b"paramstore-root-probe")

    # --- wrapping -----------------------------------------------------------------------
    def wrap(self, secret: bytes, row_identity: str) -> bytes:
        current = self.current
        return seal_under(self._versions[current], current, secret, row_identity)

    def unwrap(self, wrapped: bytes, row_identity: str) -> bytes:
        version = wrapped_version(wrapped) if wrapped else None
        if version is None:
            raise DecryptionFailed()
        provider = self._versions.get(version)
        if provider is None and self.refresh is not None:
            self.refresh()
            provider = self._versions.get(version)
        if provider is None:
            raise RootVersionUnavailable()
        return open_under(provider, wrapped, row_identity)

    def rewrap(self, wrapped: bytes, row_identity: str) -> Optional[bytes]:
        """The value under the current version, or None if it is there already."""
        if wrapped_version(wrapped) == self.current:
            return None
        return self.wrap(self.unwrap(wrapped, row_identity), row_identity)

    # --- keys derived from the domain key -----------------------------------------------
    def derive(self, label: bytes) -> bytes:
        """A 256-bit subkey for one purpose (session tokens, the audit chain, grant tokens)."""
        return derive_key(self._domain_key, label)

    def domain_key_for_rotation(self) -> bytes:
        """Only for sealing the domain key under a new version (root_versions.rotate)."""
        return self._domain_key

    def check_value(self) -> str:
        """A value that identifies the store's key hierarchy without revealing it (ps_meta)."""
        return domain_check_value(self._domain_key)

    def matches(self, stored_check_value: str) -> bool:
        return hmac.compare_digest(self.check_value(), stored_check_value)

    def __repr__(self) -> str:  # never print a key
        return f"RootKeyring(current={self.current}, versions={sorted(self._versions)})"


def single_version(key: RootKey) -> RootKeyring:
    """A store with one in-process root and no recorded versions: today's layout, whose
    domain key is that root's bytes."""
    return RootKeyring({1: key}, 1, key.legacy_domain_key())


def new_key_file(path: Path) -> None:
    """Write a new random root key file (mode 0600); refuse to replace one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(os.urandom(ROOT_KEY_BYTES)) + b"\n")


def read_key_file(path: Path) -> RootKey:
    if not path.exists():
        raise RootKeyError(f"root key file {path} is missing (restore it from your backup)")
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RootKeyError(f"root key file {path} is not valid base64") from None
    return RootKey(key, str(path))


def read_key_env(name: str, environ: Optional[Mapping[str, str]] = None) -> RootKey:
    env = os.environ if environ is None else environ
    encoded = env.get(name)
    if not encoded:
        raise RootKeyError(f"the environment variable {name} holding a root key is not set")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RootKeyError(f"{name} is not valid base64") from None
    return RootKey(key, f"${name}")


def load_root_key(data_dir: Path, environ: dict[str, str] | None = None, create: bool = False) -> RootKey:
    """The first root version of a store without recorded versions: the env var if set,
    else the key file.  `create`: make the file (mode 0600) if the data dir has none; only
    for a new store (paramstore/preflight.py decides), never to replace a key that went
    missing."""
    env = os.environ if environ is None else environ
    if env.get(ROOT_KEY_ENV):
        return read_key_env(ROOT_KEY_ENV, environ)
    path = Path(data_dir) / ROOT_KEY_FILE
    if not path.exists():
        if not create:
            raise RootKeyError(f"root key file {path} is missing (restore it from your backup, or set {ROOT_KEY_ENV})")
        new_key_file(path)
    return read_key_file(path)
