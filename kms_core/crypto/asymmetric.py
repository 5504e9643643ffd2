"""Asymmetric and HMAC primitives for KMS keys, through `cryptography` (OpenSSL).

Key material at rest is bytes: a DER PKCS#8 private key for RSA, EC, Ed25519 and ML-DSA
specs, the raw secret for HMAC keys.  `load_private` turns it into a key object once per
cache fill.  Signatures follow KMS exactly: ECDSA DER-encoded, RSA-PSS with MGF1 and the
salt as long as the hash, DIGEST messages signed without hashing again (Prehashed).

Ed25519ph (RFC 8032 §5.1, phflag 1, empty context) is not in `cryptography`; it is
computed here from the key's seed with the RFC's own arithmetic (`_ed25519ph_*`).  Secret
scalars are multiplied in a fixed number of uniform steps, but Python integers are not
constant-time, so this path is weaker against timing attacks than OpenSSL's: it is what
ED25519_PH_SHA_512 (DIGEST messages) needs, and the pure ED25519_SHA_512 path stays on
OpenSSL.  AWS signs the 64-byte DIGEST message M itself with Ed25519ph, so PH(M) =
SHA-512(M) is taken here: "KMS still performs the SHA-512 prehash ... the input is hashed
twice: once by you and once by KMS" (Sign API reference, MessageType).  A standard
Ed25519ph verifier given M, the caller's digest, accepts the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from kms_core.domain.specs import SIGNING_HASH, Spec

_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_CURVES: dict[str, type[ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1 | ec.SECP256K1]] = {
    "ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1}
_CURVE_SPEC = {cls.name: spec for spec, cls in _CURVES.items()}


class CryptoFailure(Exception):
    """A signature, MAC or ciphertext that does not check out; carries no detail."""


# --- material ------------------------------------------------------------------------------
def generate_material(spec: Spec) -> bytes:
    """Fresh material for a key of this spec (PKCS#8 DER, or the raw HMAC/AES secret)."""
    if spec.family == "symmetric":
        return os.urandom(32)
    if spec.family == "hmac":
        return os.urandom(spec.bits // 8)
    return _pkcs8(_generate_private(spec))


def _generate_private(spec: Spec) -> Any:
    if spec.family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
    if spec.family == "ec":
        return ec.generate_private_key(_CURVES[spec.name]())
    if spec.family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec.family == "mldsa":
        from cryptography.hazmat.primitives.asymmetric import mldsa

        classes: dict[int, type[mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey]] = {
            44: mldsa.MLDSA44PrivateKey, 65: mldsa.MLDSA65PrivateKey, 87: mldsa.MLDSA87PrivateKey}
        return classes[spec.bits].generate()
    raise ValueError(f"no private key for {spec.name}")


def _pkcs8(private: Any) -> bytes:
    return cast(bytes, private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))


def load_private(material: bytes) -> Any:
    return serialization.load_der_private_key(material, password=None)


def spec_of_private(private: Any) -> str | None:
    """The KeySpec name a private key matches (imports check it against the key's spec)."""
    if isinstance(private, rsa.RSAPrivateKey):
        return f"RSA_{private.key_size}"
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return _CURVE_SPEC.get(private.curve.name)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ECC_NIST_EDWARDS25519"
    name = type(private).__name__
    for level in (44, 65, 87):
        if f"MLDSA{level}" in name:
            return f"ML_DSA_{level}"
    return None


def public_der(private: Any) -> bytes:
    """DER SubjectPublicKeyInfo, what GetPublicKey returns."""
    return cast(bytes, private.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))


def generate_key_pair(spec: Spec) -> tuple[bytes, bytes]:
    """(PKCS#8 DER private key, DER SPKI public key): GenerateDataKeyPair."""
    private = _generate_private(spec)
    return _pkcs8(private), public_der(private)


# --- signatures ----------------------------------------------------------------------------
def sign(spec: Spec, private: Any, algorithm: str, message: bytes, message_type: str) -> bytes:
    """The KMS signature of `message` (RAW: hashed here; DIGEST: already hashed)."""
    if spec.family == "ed25519":
        if algorithm == "ED25519_PH_SHA_512":
            return _ed25519ph_sign(_ed25519_seed(private), hashlib.sha512(message).digest())
        return cast(bytes, private.sign(message))
    if spec.family == "mldsa":
        if message_type == "EXTERNAL_MU":
            return cast(bytes, private.sign_mu(message) if hasattr(private, "sign_mu") else _no_external_mu())
        return cast(bytes, private.sign(message))
    hash_name, _ = SIGNING_HASH[algorithm]
    chosen, data = _hash_and_data(hash_name, message, message_type)
    if spec.family == "ec":
        return cast(bytes, private.sign(data, ec.ECDSA(chosen)))
    return cast(bytes, private.sign(data, _rsa_padding(algorithm, hash_name), chosen))


def verify(spec: Spec, public: Any, algorithm: str, message: bytes, message_type: str,
           signature: bytes) -> None:
    """Raise CryptoFailure unless `signature` is valid (KMS never answers "false")."""
    try:
        if spec.family == "ed25519":
            if algorithm == "ED25519_PH_SHA_512":
                raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                if not _ed25519ph_verify(raw, hashlib.sha512(message).digest(), signature):
                    raise InvalidSignature()
                return
            public.verify(signature, message)
            return
        if spec.family == "mldsa":
            if message_type == "EXTERNAL_MU":
                if not hasattr(public, "verify_mu"):
                    _no_external_mu()
                public.verify_mu(signature, message)
                return
            public.verify(signature, message)
            return
        hash_name, _ = SIGNING_HASH[algorithm]
        chosen, data = _hash_and_data(hash_name, message, message_type)
        if spec.family == "ec":
            public.verify(signature, data, ec.ECDSA(chosen))
        else:
            public.verify(signature, data, _rsa_padding(algorithm, hash_name), chosen)
    except (InvalidSignature, ValueError, TypeError):
        raise CryptoFailure() from None


def _no_external_mu() -> Any:
    raise CryptoFailure()


def _hash_and_data(hash_name: str, message: bytes, message_type: str) -> tuple[Any, bytes]:
    algorithm = _HASHES[hash_name]()
    if message_type == "DIGEST":
        return Prehashed(algorithm), message
    return algorithm, message


def _rsa_padding(algorithm: str, hash_name: str) -> Any:
    if algorithm.startswith("RSASSA_PSS"):
        # KMS: MGF1 with the message hash, salt length = hash length
        return padding.PSS(mgf=padding.MGF1(_HASHES[hash_name]()), salt_length=_HASHES[hash_name].digest_size)
    return padding.PKCS1v15()


# --- RSA encryption -------------------------------------------------------------------------
def _oaep(algorithm: str) -> Any:
    chosen = _HASHES["sha1" if algorithm == "RSAES_OAEP_SHA_1" else "sha256"]()
    return padding.OAEP(mgf=padding.MGF1(chosen), algorithm=chosen, label=None)


def rsa_encrypt(public: Any, algorithm: str, plaintext: bytes) -> bytes:
    return cast(bytes, public.encrypt(plaintext, _oaep(algorithm)))


def rsa_decrypt(private: Any, algorithm: str, ciphertext: bytes) -> bytes:
    try:
        return cast(bytes, private.decrypt(ciphertext, _oaep(algorithm)))
    except ValueError:
        raise CryptoFailure() from None


# --- HMAC ----------------------------------------------------------------------------------
def mac(secret: bytes, algorithm: str, message: bytes) -> bytes:
    """RFC 2104 HMAC; `algorithm` is HMAC_SHA_224/256/384/512."""
    return hmac.digest(secret, message, "sha" + algorithm.rsplit("_", 1)[1])


def verify_mac(secret: bytes, algorithm: str, message: bytes, tag: bytes) -> None:
    if not hmac.compare_digest(mac(secret, algorithm, message), tag):
        raise CryptoFailure()


# --- key agreement ---------------------------------------------------------------------------
def derive_shared_secret(spec: Spec, private: Any, peer_public_der: bytes) -> bytes:
    """Raw ECDH (no KDF), as KMS returns it.  ValueError: not a public key on this curve."""
    try:
        peer = serialization.load_der_public_key(peer_public_der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # UnsupportedAlgorithm is not a ValueError: a well-formed key on a curve OpenSSL lacks
        # (brainpool, secp224k1), with explicit curve parameters, or with an unknown algorithm
        # OID is the caller's bad input, not an internal error
        raise ValueError("not a DER SubjectPublicKeyInfo") from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or _CURVE_SPEC.get(peer.curve.name) != spec.name:
        raise ValueError("the public key is not on the key's curve")
    return cast(bytes, private.exchange(ec.ECDH(), peer))


# --- Ed25519ph (RFC 8032 §5.1) --------------------------------------------------------------
_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes((1, 0))  # phflag 1, empty context

#: a point in extended coordinates (X, Y, Z, T)
_Point = tuple[int, int, int, int]


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p: _Point) -> _Point:
    """s·p for public scalars (verification)."""
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _mul_secret(s: int, p: _Point) -> _Point:
    """s·p for secret scalars: a fixed 256 steps, each doing the same additions whatever
    the bit, so the step count and work don't follow the scalar's length or weight."""
    q = (0, 1, 1, 0)
    for i in range(256):
        candidates = (q, _add(q, p))
        q = candidates[(s >> i) & 1]
        p = _add(p, p)
    return q


def _equal(p: _Point, q: _Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None  # the base point's y has an x
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(p: _Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(s: bytes) -> _Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _ed25519_seed(private: Any) -> bytes:
    return cast(bytes, private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption()))


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(_DOM2_PH + b"".join(parts)).digest(), "little")


def _ed25519ph_sign(seed: bytes, digest: bytes) -> bytes:
    """Ed25519ph given PH(M) = `digest`, the SHA-512 of the message M that RFC 8032 signs."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    public = _compress(_mul_secret(a, _G))
    r = _h(h[32:], digest) % _L
    big_r = _compress(_mul_secret(r, _G))
    k = _h(big_r, public, digest) % _L
    s = (r + k * a) % _L
    return big_r + int.to_bytes(s, 32, "little")


def _ed25519ph_verify(public: bytes, digest: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = _h(signature[:32], public, digest) % _L
    return _equal(_mul(s, _G), _add(r, _mul(k, a)))
