"""The symmetric CiphertextBlob, format version 1.

    offset      size  field
    0           1     format version, 0x01
    1           1     L = length of the key id (1..64)
    2           L     key id, ASCII (e.g. a lowercase UUID)
    2+L         32    key material id (raw bytes; hex of it is the API's KeyMaterialId)
    34+L        16    derivation nonce N (random)
    50+L        12    AES-GCM IV (random)
    62+L        n     AES-256-GCM ciphertext of the plaintext (n = plaintext length)
    62+L+n      16    AES-GCM tag

    header      = bytes [0, 62+L)
    message key = HMAC-SHA256(material, 00000001 || "paramstore/kms/v1" || 00 || N || 00000100)
                  (NIST SP 800-108 counter-mode KDF, one block)
    AAD         = header || canonical encryption context (engine/encryption_context.py)

The header names the key and the material version, so Decrypt needs no KeyId and keeps
working after rotation; because the whole header is AAD, editing it (say, to point at
another key) fails authentication.  A fresh message key per call keeps AES-GCM far from
its random-IV limit.  Overhead: 78 + L bytes (114 for a UUID key id).

tests/vectors/ciphertext_v1.json holds vectors; tests/vectors/independent_decoder.py
opens them without this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_core.crypto import DecryptionFailed, derive_message_key, random_bytes
from kms_core.crypto.aes_gcm import IV_BYTES, TAG_BYTES, gcm_open_with_iv, gcm_seal_with_iv
from kms_core.crypto.keyed_hash import HmacSha256Key

VERSION = 1
MATERIAL_ID_BYTES = 32
NONCE_BYTES = 16
KDF_LABEL = b"paramstore/kms/v1"
MAX_KEY_ID = 64


class MalformedCiphertext(Exception):
    """The blob can't be parsed or opened; deliberately carries no detail."""


@dataclass(frozen=True, slots=True)
class BlobHeader:
    key_id: str
    material_id: bytes
    header: bytes  # the exact header bytes, bound as AAD
    body: bytes    # ciphertext || tag
    nonce: bytes
    iv: bytes


def seal(key_id: str, material_id: bytes, material: "bytes | HmacSha256Key", plaintext: bytes, context_bytes: bytes,
         nonce: bytes | None = None, iv: bytes | None = None) -> bytes:
    """Encrypt `plaintext`.  `nonce`/`iv` are for test vectors only; leave them None."""
    kid = key_id.encode("ascii")
    if not 1 <= len(kid) <= MAX_KEY_ID or len(material_id) != MATERIAL_ID_BYTES:
        raise ValueError("bad key id or material id")
    if nonce is None or iv is None:  # one getrandom for both (a syscall per request saved)
        fresh = random_bytes(NONCE_BYTES + IV_BYTES)
        nonce = nonce if nonce is not None else fresh[:NONCE_BYTES]
        iv = iv if iv is not None else fresh[NONCE_BYTES:]
    header = bytes((VERSION, len(kid))) + kid + material_id + nonce + iv
    message_key = derive_message_key(material, KDF_LABEL, nonce)
    return header + gcm_seal_with_iv(message_key, iv, plaintext, header + context_bytes)


def parse(blob: bytes) -> BlobHeader:
    """Split a blob into header fields (not yet authenticated)."""
    if len(blob) < 2 or blob[0] != VERSION:
        raise MalformedCiphertext()
    n = blob[1]
    if not 1 <= n <= MAX_KEY_ID:
        raise MalformedCiphertext()
    header_len = 2 + n + MATERIAL_ID_BYTES + NONCE_BYTES + IV_BYTES
    if len(blob) < header_len + TAG_BYTES:
        raise MalformedCiphertext()
    try:
        key_id = blob[2:2 + n].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedCiphertext() from None
    p = 2 + n
    material_id = blob[p:p + MATERIAL_ID_BYTES]
    p += MATERIAL_ID_BYTES
    nonce = blob[p:p + NONCE_BYTES]
    p += NONCE_BYTES
    iv = blob[p:p + IV_BYTES]
    return BlobHeader(key_id, material_id, blob[:header_len], blob[header_len:], nonce, iv)


def open_blob(parsed: BlobHeader, material: "bytes | HmacSha256Key", context_bytes: bytes) -> bytes:
    """Authenticate and decrypt; any failure is MalformedCiphertext."""
    message_key = derive_message_key(material, KDF_LABEL, parsed.nonce)
    try:
        return gcm_open_with_iv(message_key, parsed.iv, parsed.body, parsed.header + context_bytes)
    except DecryptionFailed:
        raise MalformedCiphertext() from None
