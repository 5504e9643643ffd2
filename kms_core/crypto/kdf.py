"""Per-message key derivation: NIST SP 800-108 counter mode with HMAC-SHA256.

AWS KMS derives a fresh AES key from the backing key and a random nonce for every
Encrypt, so GCM's 2^32 random-IV bound per key never binds.  We do the same: one
HMAC-SHA256 block gives the 256-bit message key.
"""

from __future__ import annotations

import hashlib
import hmac

_COUNTER_1 = b"\x00\x00\x00\x01"
_LENGTH_256 = b"\x00\x00\x01\x00"


def derive_message_key(material: bytes, label: bytes, context: bytes) -> bytes:
    """K = HMAC-SHA256(material, [1]_32 || label || 0x00 || context || [256]_32)."""
    return hmac.new(material, _COUNTER_1 + label + b"\x00" + context + _LENGTH_256, hashlib.sha256).digest()
