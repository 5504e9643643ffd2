"""The only package that touches `cryptography.hazmat`: small primitives with opaque errors."""

from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_seal, random_bytes
from kms_core.crypto.kdf import derive_message_key

__all__ = ["DecryptionFailed", "gcm_open", "gcm_seal", "random_bytes", "derive_message_key"]
