"""Per-message key derivation: NIST SP 800-108 counter mode with HMAC-SHA256.

AWS KMS derives a fresh AES key from the backing key and a random nonce for every
Encrypt, so GCM's 2^32 random-IV bound per key never binds.  We do the same: one
HMAC-SHA256 block gives the 256-bit message key.
"""

from __future__ import annotations

import hashlib
import hmac

from kms_core.crypto.keyed_hash import HmacSha256Key

_COUNTER_1 = b"\x00\x00\x00\x01"
_LENGTH_256 = b"\x00\x00\x01\x00"


def derive_message_key(material: "bytes | HmacSha256Key", label: bytes, context: bytes) -> bytes:
    """K = HMAC-SHA256(material, [1]_32 || label || 0x00 || context || [256]_32).

    `material` may come prepared (KeyMaterial.kdf): the same K for less CPU."""
    message = _COUNTER_1 + label + b"\x00" + context + _LENGTH_256
    if type(material) is HmacSha256Key:
        return material.digest(message)
    return hmac.new(material, message, hashlib.sha256).digest()  # type: ignore[arg-type]  # `type(x) is` (exact, faster than isinstance) does not narrow for mypy
