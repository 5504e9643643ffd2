"""Canonical encryption-context bytes, used as AAD.

Layout (all integers big-endian):

    empty context -> b"" (zero bytes)
    otherwise     -> count:u16 || (key_len:u16 || key || value_len:u16 || value) * count

Pairs are sorted by the UTF-8 bytes of the key, so the map's order never matters and
equal maps give equal bytes.  Lengths make the encoding injective (moto and LocalStack
concatenate key and value, which is ambiguous).  `decode` is strict: sorted, no duplicate
keys, no trailing bytes.
"""

from __future__ import annotations

import struct

MAX_FIELD = 0xFFFF


class EncryptionContextError(ValueError):
    """The context can't be encoded (too large) or the bytes are not canonical."""


def encode(context: dict[str, str] | None) -> bytes:
    if not context:
        return b""
    try:
        pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    except UnicodeEncodeError:  # a lone surrogate, which JSON's "\ud800" can carry
        raise EncryptionContextError("encryption context is not valid Unicode") from None
    if len(pairs) > MAX_FIELD:
        raise EncryptionContextError("too many encryption context pairs")
    out = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        if len(key) > MAX_FIELD or len(value) > MAX_FIELD:
            raise EncryptionContextError("encryption context key or value too long")
        out.append(struct.pack(">H", len(key)) + key + struct.pack(">H", len(value)) + value)
    return b"".join(out)


def decode(data: bytes) -> dict[str, str]:
    if not data:
        return {}
    if len(data) < 2:
        raise EncryptionContextError("truncated count")
    (count,) = struct.unpack_from(">H", data, 0)
    if count == 0:
        raise EncryptionContextError("an empty context is encoded as zero bytes")
    pos = 2
    result: dict[str, str] = {}
    previous = None
    for _ in range(count):
        key, pos = _field(data, pos)
        value, pos = _field(data, pos)
        if previous is not None and key <= previous:
            raise EncryptionContextError("keys not strictly sorted")
        previous = key
        try:
            result[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise EncryptionContextError("not UTF-8") from None
    if pos != len(data):
        raise EncryptionContextError("trailing bytes")
    return result


def _field(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise EncryptionContextError("truncated length")
    (n,) = struct.unpack_from(">H", data, pos)
    pos += 2
    if pos + n > len(data):
        raise EncryptionContextError("truncated field")
    return data[pos:pos + n], pos + n
