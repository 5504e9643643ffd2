"""AES-256-GCM with library-chosen IVs: callers can't pass a nonce, so they can't reuse one."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12
TAG_BYTES = 16


class DecryptionFailed(Exception):
    """Opaque: a wrong key, tag, IV, AAD or truncated input all look the same to callers."""


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def gcm_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Return iv || ciphertext || tag."""
    iv = os.urandom(IV_BYTES)
    return iv + AESGCM(key).encrypt(iv, plaintext, aad)


def gcm_seal_with_iv(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Ciphertext || tag for a caller-made IV: only for formats that put the IV in an AAD header."""
    return AESGCM(key).encrypt(iv, plaintext, aad)


def gcm_open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < IV_BYTES + TAG_BYTES:
        raise DecryptionFailed()
    return gcm_open_with_iv(key, sealed[:IV_BYTES], sealed[IV_BYTES:], aad)


def gcm_open_with_iv(key: bytes, iv: bytes, ciphertext_and_tag: bytes, aad: bytes) -> bytes:
    if len(iv) != IV_BYTES or len(ciphertext_and_tag) < TAG_BYTES:
        raise DecryptionFailed()
    try:
        return AESGCM(key).decrypt(iv, ciphertext_and_tag, aad)
    except (InvalidTag, ValueError):
        raise DecryptionFailed() from None


class GcmKey:
    """An AES-256-GCM key set up once, to seal or open many `gcm_seal` messages (a cached
    data key): the key schedule is the costly part of a short message."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """iv || ciphertext || tag, as `gcm_seal`, with an IV chosen here."""
        iv = os.urandom(IV_BYTES)
        return iv + self._aead.encrypt(iv, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < IV_BYTES + TAG_BYTES:
            raise DecryptionFailed()
        try:
            return self._aead.decrypt(sealed[:IV_BYTES], sealed[IV_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise DecryptionFailed() from None
