"""Importing key material (BYOK): RSA wrapping keys, import tokens, unwrapping, checks.

GetParametersForImport hands out an RSA public wrapping key and an import token; the
caller wraps its key material under the public key and sends it back with the token in
ImportKeyMaterial.  The token is stateless and self-authenticating, so any server process
sharing the database (and so the root key) accepts it, and nothing about it is stored.

Import token, version 1 (at most ~2.5 KB with an RSA-4096 wrapping key; the model allows
6144 bytes)::

    0x01 || IV (12) || AES-256-GCM(body) || tag (16)

    body = [len(key id)]_8   || key id (ASCII)
        || [len(algorithm)]_8 || wrapping algorithm (ASCII)
        || valid-to          (IEEE-754 double, big-endian: epoch seconds)
        || wrapping private key (PKCS#8 DER, to the end)

    key     = root.derive(b"import-token-v1")
    AAD     = b"paramstore-import-token-v1|" || 0x01 || key ARN

The key ARN as AAD binds the token to one KMS key (a token presented for another key
fails to open, exactly like a garbled one); the key id inside is checked again after
opening.  The wrapping algorithm rides inside, so material must be wrapped the way the
caller asked for.  Expiry is checked only after the tag verified, so it can't be forged.

Wrapping algorithms (AWS "Select a wrapping algorithm"):

- RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: EncryptedKeyMaterial is RSAES-OAEP (MGF1 with the
  same hash, empty label) of the material itself.
- RSA_AES_KEY_WRAP_SHA_1 / _SHA_256: the first (modulus bytes) of EncryptedKeyMaterial are
  RSAES-OAEP of an ephemeral AES-256 key; the rest is AES Key Wrap with Padding (RFC 5649)
  of the material under that key.  Needed for RSA private keys, too long for plain OAEP.
- RSAES_PKCS1_V1_5 is no longer accepted by AWS (since 2023-10-10); SM2PKE is China-only.

Every unwrapping failure raises the one opaque `UnwrapFailed` (no padding oracle detail).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from kms_core.crypto import asymmetric
from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_seal
from kms_core.domain.specs import Spec

TOKEN_VERSION = b"\x01"
TOKEN_KEY_LABEL = b"import-token-v1"
MATERIAL_ID_LABEL = b"imported-material-id-v1"
_TOKEN_AAD_PREFIX = b"paramstore-import-token-v1|"
_VALID_TO = struct.Struct(">d")

#: WrappingAlgorithm -> (OAEP hash, hybrid RSA + AES key wrap?)
WRAPPING_ALGORITHMS: dict[str, tuple[type[hashes.HashAlgorithm], bool]] = {
    "RSAES_OAEP_SHA_1": (hashes.SHA1, False),
    "RSAES_OAEP_SHA_256": (hashes.SHA256, False),
    "RSA_AES_KEY_WRAP_SHA_1": (hashes.SHA1, True),
    "RSA_AES_KEY_WRAP_SHA_256": (hashes.SHA256, True),
}
#: WrappingKeySpec -> RSA modulus bits
WRAPPING_KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_EPHEMERAL_AES_KEY_BYTES = 32
#: how far (bits) each RSA prime of imported material may be from half the modulus size
_RSA_PRIME_BITS_SLACK = 8


class InvalidToken(Exception):
    """Garbled, truncated, from another key, or made under another root key."""


class ExpiredToken(Exception):
    """Authentic, but past its valid-to."""


class UnwrapFailed(Exception):
    """The encrypted key material does not open under the token's wrapping key; no detail."""


class IncorrectMaterial(Exception):
    """The unwrapped material is not valid for the key's spec; the message says why (it
    never contains material)."""


@dataclass(frozen=True)
class ImportToken:
    key_id: str
    wrapping_algorithm: str
    valid_to: float
    private: Any = None  # the RSA wrapping private key


# --- wrapping key pairs --------------------------------------------------------------------
class WrappingKeyCache:
    """One RSA wrapping key pair per (KMS key, WrappingKeySpec), made on first use and
    replaced once it is `max_age` seconds old.

    Why a cache: generating an RSA-3072/4096 key takes from a few hundred milliseconds to
    several seconds, and operation handlers run on the server's event loop, so generating
    one per GetParametersForImport call would stall every other request for that long.
    Each token carries its own private key, so replacing a pair never invalidates tokens
    already issued.

    Why per KMS key: two tokens issued from the same pair accept the same wrapped
    material.  Shared between keys, material wrapped for key A could be imported, with a
    token for key B, into B — and whoever may use B (but not A) could then sign or MAC as
    A.  Per key, a pair only ever unwraps material meant for that key, as AWS's
    one-pair-per-call does.  Process-local on purpose: nothing here is stored."""

    def __init__(self, max_age: float = 600.0, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._pairs: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def private_key(self, key_id: str, wrapping_key_spec: str) -> Any:
        bits = WRAPPING_KEY_SPECS[wrapping_key_spec]
        slot = (key_id, wrapping_key_spec)
        now = self._clock()
        with self._lock:
            cached = self._pairs.get(slot)
            if cached is not None and now - cached[0] < self.max_age:
                return cached[1]
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        with self._lock:
            if len(self._pairs) >= self.max_entries:
                oldest = min(self._pairs, key=lambda k: self._pairs[k][0])
                del self._pairs[oldest]
            self._pairs[slot] = (now, private)
        return private


# --- import tokens -----------------------------------------------------------------------------
def _aad(key_arn: str) -> bytes:
    return _TOKEN_AAD_PREFIX + TOKEN_VERSION + key_arn.encode()


def seal_token(token_key: bytes, key_arn: str, token: ImportToken) -> bytes:
    key_id = token.key_id.encode("ascii")
    algorithm = token.wrapping_algorithm.encode("ascii")
    private_der = token.private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
    body = (bytes((len(key_id),)) + key_id + bytes((len(algorithm),)) + algorithm
            + _VALID_TO.pack(token.valid_to) + private_der)
    return TOKEN_VERSION + gcm_seal(token_key, body, _aad(key_arn))


def open_token(token_key: bytes, key_arn: str, key_id: str, blob: bytes, now: float) -> ImportToken:
    """The token's contents; InvalidToken unless it is authentic and for this key,
    ExpiredToken if it is authentic but past its valid-to."""
    if blob[:1] != TOKEN_VERSION:
        raise InvalidToken()
    try:
        body = gcm_open(token_key, blob[1:], _aad(key_arn))
    except DecryptionFailed:
        raise InvalidToken() from None
    try:
        n = body[0]
        token_key_id = body[1:1 + n].decode("ascii")
        at = 1 + n
        m = body[at]
        algorithm = body[at + 1:at + 1 + m].decode("ascii")
        at += 1 + m
        (valid_to,) = _VALID_TO.unpack_from(body, at)
        private = serialization.load_der_private_key(body[at + _VALID_TO.size:], password=None)
    except (IndexError, UnicodeDecodeError, struct.error, ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidToken() from None  # authentic but not ours to parse: a bug elsewhere
    # The AAD already bound the ARN; these re-checks cost nothing and catch a wrong writer.
    if token_key_id != key_id or algorithm not in WRAPPING_ALGORITHMS or not isinstance(private, rsa.RSAPrivateKey):
        raise InvalidToken()
    if now >= valid_to:
        raise ExpiredToken()
    return ImportToken(token_key_id, algorithm, valid_to, private)


# --- unwrapping ----------------------------------------------------------------------------
def _oaep(hash_cls: type[hashes.HashAlgorithm]) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)


def unwrap(private: Any, algorithm: str, encrypted: bytes) -> bytes:
    """The key material inside `encrypted`; UnwrapFailed if it does not open."""
    hash_cls, hybrid = WRAPPING_ALGORITHMS[algorithm]
    k = private.key_size // 8
    try:
        if not hybrid:
            if len(encrypted) != k:
                raise UnwrapFailed()
            return bytes(private.decrypt(encrypted, _oaep(hash_cls)))
        if len(encrypted) <= k:
            raise UnwrapFailed()
        aes_key = private.decrypt(encrypted[:k], _oaep(hash_cls))
        if len(aes_key) != _EPHEMERAL_AES_KEY_BYTES:
            raise UnwrapFailed()
        return bytes(aes_key_unwrap_with_padding(aes_key, encrypted[k:]))
    except (ValueError, InvalidUnwrap):
        raise UnwrapFailed() from None


# --- material ------------------------------------------------------------------------------
def check_material(spec: Spec, material: bytes) -> bytes:
    """The material as it is stored, if it suits a key of this spec: symmetric 32 bytes,
    HMAC within the spec's import lengths, asymmetric a PKCS#8 DER private key of exactly
    this spec (RSA: with primes of about half the modulus size each, and consistent)
    (re-encoded canonically, so the same key always gets the same material id).
    Raises IncorrectMaterial."""
    if spec.import_lengths is not None:
        low, high = spec.import_lengths
        if not low <= len(material) <= high:
            size = f"{low} bytes" if low == high else f"between {low} and {high} bytes"
            raise IncorrectMaterial(f"Key material for a {spec.name} key must be {size}.")
        return material
    not_pkcs8 = f"Key material for a {spec.name} key must be a DER-encoded PKCS #8 private key."
    try:
        # First without OpenSSL's RSA key check: it tests the primes, on the event loop, and
        # primes an attacker can write down for free (Mersenne primes) take it seconds — an
        # 8676-bit key ~6 s, a 4096-bit one with a 3217-bit prime ~1.3 s.  So the kind and
        # size come first, and only an RSA key of the key's spec with balanced primes (as
        # every key generator makes them; then the check costs what a normal key's does)
        # is checked.
        private = serialization.load_der_private_key(material, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise IncorrectMaterial(not_pkcs8) from None
    actual = asymmetric.spec_of_private(private)
    if actual != spec.name:
        raise IncorrectMaterial(
            f"The private key is {'not of a supported kind' if actual is None else 'of key spec ' + actual}; "
            f"the KMS key's spec is {spec.name}.")
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        half = private.key_size // 2
        if any(abs(prime.bit_length() - half) > _RSA_PRIME_BITS_SLACK for prime in (numbers.p, numbers.q)):
            raise IncorrectMaterial("The RSA private key's two primes must each be about half the size of its "
                                    "modulus.")
        try:
            private = asymmetric.load_private(material)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise IncorrectMaterial(not_pkcs8) from None
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def material_id(id_key: bytes, key_id: str, material: bytes) -> str:
    """HMAC-SHA256(id_key, key id || material), hex: the same material imported into the
    same key always gets the same id, so a re-import restores what old ciphertexts name,
    and a different material is recognised without keeping a second copy.  Keyed (by a
    subkey of the root key) so the id reveals nothing about the material.  Key ids have
    one length (36 characters: a UUID, or "mrk-" and 32 hex digits), so the
    concatenation is unambiguous."""
    return hmac.new(id_key, key_id.encode("ascii") + material, hashlib.sha256).hexdigest()


def same_material_id(a: Optional[str], b: str) -> bool:
    return a is not None and hmac.compare_digest(a, b)
