"""A second, minimal reader of the CiphertextBlob v1 format, written from the spec alone.

It deliberately imports nothing from kms_core: it follows the layout in the docstring of
kms_core/engine/ciphertext.py and the context encoding in the docstring of
kms_core/engine/encryption_context.py, so that a bug shared by kms_core's writer and
reader (say, a field in the wrong place) can't make the vectors pass.

    offset  size  field
    0       1     version 0x01
    1       1     L, key id length, 1..64
    2       L     key id (ASCII)
    2+L     32    key material id
    34+L    16    nonce N
    50+L    12    AES-GCM IV
    62+L    n     ciphertext
    62+L+n  16    tag
    message key = HMAC-SHA256(material, 00000001 || "paramstore/kms/v1" || 00 || N || 00000100)
    AAD         = header (bytes [0, 62+L)) || canonical context
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecodeError(Exception):
    pass


@dataclass(frozen=True)
class Decoded:
    key_id: str
    material_id: bytes
    nonce: bytes
    iv: bytes
    plaintext: bytes


def encode_context(context: dict[str, str]) -> bytes:
    """count:u16 || (klen:u16 || key || vlen:u16 || value)*, sorted by key bytes; {} -> b""."""
    if not context:
        return b""
    items = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = bytearray(struct.pack(">H", len(items)))
    for k, v in items:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return bytes(out)


def decode_context(data: bytes) -> dict[str, str]:
    """Strict inverse of encode_context: rejects anything encode_context can't produce."""
    if data == b"":
        return {}
    try:
        (count,) = struct.unpack(">H", data[:2])
    except struct.error:
        raise DecodeError("short count") from None
    if count == 0:
        raise DecodeError("zero count")
    i, out, last = 2, {}, None
    for _ in range(count):
        fields = []
        for _f in range(2):
            if len(data) < i + 2:
                raise DecodeError("short length")
            (n,) = struct.unpack(">H", data[i:i + 2])
            i += 2
            if len(data) < i + n:
                raise DecodeError("short field")
            fields.append(data[i:i + n])
            i += n
        k, v = fields
        if last is not None and not last < k:
            raise DecodeError("unsorted or duplicate key")
        last = k
        try:
            out[k.decode("utf-8")] = v.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("bad UTF-8") from None
    if i != len(data):
        raise DecodeError("trailing bytes")
    return out


def message_key(material: bytes, nonce: bytes) -> bytes:
    data = (1).to_bytes(4, "big") + b"paramstore/kms/v1" + b"\x00" + nonce + (256).to_bytes(4, "big")
    return hmac.new(material, data, hashlib.sha256).digest()


def decode_blob(blob: bytes, material: bytes, context: dict[str, str]) -> Decoded:
    if len(blob) < 2:
        raise DecodeError("too short")
    if blob[0] != 1:
        raise DecodeError("version")
    kid_len = blob[1]
    if not 1 <= kid_len <= 64:
        raise DecodeError("key id length")
    header_len = 2 + kid_len + 32 + 16 + 12
    if len(blob) < header_len + 16:
        raise DecodeError("too short for header and tag")
    header = blob[:header_len]
    try:
        key_id = header[2:2 + kid_len].decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("key id not ASCII") from None
    material_id = header[2 + kid_len:34 + kid_len]
    nonce = header[34 + kid_len:50 + kid_len]
    iv = header[50 + kid_len:62 + kid_len]
    aad = header + encode_context(context)
    try:
        plaintext = AESGCM(message_key(material, nonce)).decrypt(iv, blob[header_len:], aad)
    except InvalidTag:
        raise DecodeError("authentication failed") from None
    return Decoded(key_id, material_id, nonce, iv, plaintext)
