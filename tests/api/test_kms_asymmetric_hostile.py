"""Hostile input to the asymmetric, HMAC, key-agreement and key-import operations never
gives a 5xx, a hang or a crash, and never loses or alters stored keys.

Operations: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret,
GenerateDataKeyPair(WithoutPlaintext), GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and Encrypt/Decrypt/ReEncrypt with RSA keys.

Every request is a raw, correctly SigV4-signed POST, so its body can be anything (not only
what boto3 would send) and still reach the validators and the operations.  Bodies start
from a valid request against a real key of each kind and are mutated (seeded, so a failure
reproduces): wrong JSON types, base64 garbage, empty / oversized blobs at the model's
limits, hostile signatures, MACs and public keys, every enum value with every key kind,
DIGEST and EXTERNAL_MU messages of every length, RSA ciphertexts of every length around
the modulus, import tokens from other keys or garbled, wrapped material of every wrong
kind (and RSA keys whose primes are slow to check), extreme ValidTo values, and KeyIds in
every form (alias, ARN, garbage, NUL, long).

Every answer must be a 2xx, or a 4xx with `x-amzn-RequestId` and a JSON body carrying
`__type` and `message`; an error must never echo the request's message, plaintext or key
material.  After every test, the keys' public keys, states, an earlier symmetric and RSA
ciphertext, signatures, a MAC and a shared secret are checked unchanged (`intact`).

The full matrix runs against the SQLite server; the PostgreSQL server gets a
representative subset: KeyIds in every form (NUL bytes), hostile imports and ValidTo
values, deletion and re-import, a small random sample of every operation, and the
integrity checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from kms_core.domain.specs import SPECS
from kms_core.protocol.kms_model import OPERATIONS as SHAPES
from tests.api.test_protocol_hostile import TIMEOUT, signed_headers
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import wrap_key_material

HAVE_MLDSA = "ML_DSA_44" in SPECS

#: run this test on the SQLite server only (the PostgreSQL run covers a representative subset)
SQLITE_ONLY = pytest.mark.parametrize("server", ["sqlite"], indirect=True)

#: in every message, plaintext and key material the tests send, so an echo is easy to spot
MARK = b"HOSTILE-ECHO-MARK-5d1e7"
MARK_TEXT = MARK.decode()

OPERATIONS = ("Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
              "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GetParametersForImport",
              "ImportKeyMaterial", "DeleteImportedKeyMaterial", "Encrypt", "Decrypt", "ReEncrypt")

RSA_SIGNING = ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
               "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512")
DIGEST_BYTES = {"RSASSA_PSS_SHA_256": 32, "RSASSA_PSS_SHA_384": 48, "RSASSA_PSS_SHA_512": 64,
                "RSASSA_PKCS1_V1_5_SHA_256": 32, "RSASSA_PKCS1_V1_5_SHA_384": 48, "RSASSA_PKCS1_V1_5_SHA_512": 64,
                "ECDSA_SHA_256": 32, "ECDSA_SHA_384": 48, "ECDSA_SHA_512": 64, "ED25519_PH_SHA_512": 64}

#: key kind -> (KeySpec, KeyUsage); these keys are never deleted, disabled or re-keyed
PRESERVED = {
    "rsa_sign": ("RSA_2048", "SIGN_VERIFY"),
    "rsa_enc": ("RSA_2048", "ENCRYPT_DECRYPT"),
    "p256_sign": ("ECC_NIST_P256", "SIGN_VERIFY"),
    "p256_agree": ("ECC_NIST_P256", "KEY_AGREEMENT"),
    "k1": ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    "ed25519": ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
    "hmac": ("HMAC_256", "GENERATE_VERIFY_MAC"),
    "sym": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
}
if HAVE_MLDSA:
    PRESERVED["mldsa"] = ("ML_DSA_44", "SIGN_VERIFY")

#: what each signing kind accepts: (SigningAlgorithm, MessageType) -> success; anything else is a 4xx
VALID_SIGNING: dict[str, set[tuple[str, str]]] = {
    "rsa_sign": {(a, t) for a in RSA_SIGNING for t in ("RAW", "DIGEST")},
    "p256_sign": {("ECDSA_SHA_256", "RAW"), ("ECDSA_SHA_256", "DIGEST")},
    "k1": {("ECDSA_SHA_256", "RAW"), ("ECDSA_SHA_256", "DIGEST")},
    "ed25519": {("ED25519_SHA_512", "RAW"), ("ED25519_PH_SHA_512", "DIGEST")},
}
if HAVE_MLDSA:
    VALID_SIGNING["mldsa"] = {("ML_DSA_SHAKE_256", "RAW"), ("ML_DSA_SHAKE_256", "EXTERNAL_MU")}
VALID_SIGNING["ext_ec_imported"] = VALID_SIGNING["p256_sign"]

#: Origin EXTERNAL keys: kind -> (KeySpec, KeyUsage).  ext_imported and ext_ec_imported get
#: their material when the fleet is made and keep it; the *_pending ones never get any;
#: ext_victim is the target of real deletions; imp_* are the targets of hostile imports.
EXTERNAL = {
    "ext_pending": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    "ext_rsa_pending": ("RSA_2048", "ENCRYPT_DECRYPT"),
    "ext_ec_pending": ("ECC_NIST_P256", "KEY_AGREEMENT"),
    "ext_imported": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    "ext_ec_imported": ("ECC_NIST_P256", "SIGN_VERIFY"),
    "ext_victim": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    "imp_sym": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    "imp_hmac": ("HMAC_256", "GENERATE_VERIFY_MAC"),
    "imp_ec": ("ECC_NIST_P256", "SIGN_VERIFY"),
}
PENDING = ("ext_pending", "ext_rsa_pending", "ext_ec_pending")
KEPT_IMPORTED = ("ext_imported", "ext_ec_imported")

ASYMMETRIC = ("rsa_sign", "rsa_enc", "p256_sign", "p256_agree", "k1", "ed25519", "ext_ec_imported") + (
    ("mldsa",) if HAVE_MLDSA else ())
#: kinds every general-purpose KeyId mutation may pick (never the import/deletion targets)
GENERAL_KINDS = tuple(PRESERVED) + PENDING + KEPT_IMPORTED
EXTERNAL_KINDS = tuple(EXTERNAL)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def marked(n: int, rnd: Optional[random.Random] = None) -> bytes:
    """n bytes that contain the echo mark where they can (and are random after it)."""
    tail = bytes((rnd or random).getrandbits(8) for _ in range(max(0, n - len(MARK))))
    return (MARK + tail)[:n]


# --- DER builders for hostile public keys and signatures -----------------------------------
def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _der_len(len(content)) + content


def _der_int(n: int) -> bytes:
    if n < 0:
        raw = n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)
    else:
        raw = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return _tlv(0x02, raw)


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    out = bytes((40 * nums[0] + nums[1],))
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, out)


_P256_P = 2 ** 256 - 2 ** 224 + 2 ** 192 + 2 ** 96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_P256_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_P256_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def explicit_ec_spki(point: bytes, b: int = _P256_B) -> bytes:
    """An EC SubjectPublicKeyInfo whose curve is spelled out (explicit ECParameters, RFC
    3279) instead of named: P-256's own parameters, or (another `b`) a made-up curve."""
    params = _seq(_der_int(1), _seq(_oid("1.2.840.10045.1.1"), _der_int(_P256_P)),
                  _seq(_tlv(0x04, (_P256_P - 3).to_bytes(32, "big")), _tlv(0x04, b.to_bytes(32, "big"))),
                  _tlv(0x04, b"\x04" + _P256_GX.to_bytes(32, "big") + _P256_GY.to_bytes(32, "big")),
                  _der_int(_P256_N), _der_int(1))
    return _seq(_seq(_oid("1.2.840.10045.2.1"), params), _tlv(0x03, b"\x00" + point))


def named_ec_spki(curve_oid: str, point: bytes) -> bytes:
    return _seq(_seq(_oid("1.2.840.10045.2.1"), _oid(curve_oid)), _tlv(0x03, b"\x00" + point))


def spki(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def pkcs8(private: Any) -> bytes:
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@dataclass
class Hostile:
    """Hostile blobs made once per test session (key generation is the slow part)."""

    peer: ec.EllipticCurvePrivateKey                  # a valid P-256 peer for DeriveSharedSecret
    peer_spki: bytes
    #: label -> DER (or not DER) that is NOT a usable P-256 public key
    bad_public_keys: dict[str, bytes]
    #: label -> a P-256 public key in another valid encoding (may be accepted)
    odd_p256_public_keys: dict[str, bytes]
    #: label -> a signature that no key of the fleet made over the messages used
    bad_signatures: dict[str, bytes]
    #: label -> PKCS #8 / other private key DER that is not ECC_NIST_P256 material
    wrong_private_keys: dict[str, bytes]
    p256_material: bytes                              # valid ECC_NIST_P256 material (PKCS #8)


_HOSTILE: list[Hostile] = []


def hostile() -> Hostile:
    if _HOSTILE:
        return _HOSTILE[0]
    rnd = random.Random(7)
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_spki = spki(peer)
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    compressed = peer.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.CompressedPoint)
    off_curve = point[:-1] + bytes((point[-1] ^ 0x01,))
    p384, k1, p521 = (ec.generate_private_key(c()) for c in (ec.SECP384R1, ec.SECP256K1, ec.SECP521R1))
    rsa1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    dsa1024 = dsa.generate_private_key(key_size=1024)
    x_25519, x_448 = x25519.X25519PrivateKey.generate(), x448.X448PrivateKey.generate()
    ed_25519, ed_448 = ed25519.Ed25519PrivateKey.generate(), ed448.Ed448PrivateKey.generate()
    bad_public_keys = {
        "p384": spki(p384), "secp256k1": spki(k1), "p521": spki(p521), "rsa1024": spki(rsa1024),
        "dsa1024": spki(dsa1024), "x25519": spki(x_25519), "x448": spki(x_448), "ed25519": spki(ed_25519),
        "ed448": spki(ed_448),
        "explicit-made-up-curve": explicit_ec_spki(point, b=7),
        "brainpool-p256r1-oid": named_ec_spki("1.3.36.3.3.2.8.1.1.7", point),
        "unknown-curve-oid": named_ec_spki("1.2.3.4.5.6.7", point),
        "p256-point-off-curve": named_ec_spki("1.2.840.10045.3.1.7", off_curve),
        "p256-point-at-infinity": named_ec_spki("1.2.840.10045.3.1.7", b"\x00"),
        "p256-point-all-zero": named_ec_spki("1.2.840.10045.3.1.7", b"\x04" + bytes(64)),
        "p256-point-x-is-p": named_ec_spki("1.2.840.10045.3.1.7",
                                           b"\x04" + _P256_P.to_bytes(32, "big") + point[33:]),
        "p256-point-short": named_ec_spki("1.2.840.10045.3.1.7", point[:40]),
        "truncated-1": peer_spki[:1], "truncated-half": peer_spki[:len(peer_spki) // 2],
        "truncated-minus-1": peer_spki[:-1],
        "trailing-byte": peer_spki + b"\x00",
        "length-overflow": b"\x30\x84\xff\xff\xff\xff" + peer_spki[2:],
        "indefinite-length": b"\x30\x80" + peer_spki[2:] + b"\x00\x00",
        "raw-point-not-spki": point,
        "pem-text": peer.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "pkcs8-private-key": pkcs8(peer),
        "random-91": bytes(rnd.getrandbits(8) for _ in range(91)),
        "zeros-91": bytes(91),
        "max-8192": peer_spki + bytes(8192 - len(peer_spki)),
        "deep-nesting": b"\x30\x82\x1f\xfc" + b"\x30\x80" * 4094,
    }
    # the same P-256 point spelled differently (compressed, hybrid, explicit curve
    # parameters equal to P-256's): OpenSSL may read them as P-256, so they may be accepted
    odd = {"p256-compressed-point": named_ec_spki("1.2.840.10045.3.1.7", compressed),
           "p256-hybrid-point-even": named_ec_spki("1.2.840.10045.3.1.7", b"\x06" + point[1:]),
           "p256-hybrid-point-odd": named_ec_spki("1.2.840.10045.3.1.7", b"\x07" + point[1:]),
           "explicit-p256": explicit_ec_spki(point)}

    message = MARK + b" signed by nobody in the fleet"
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad_signatures: dict[str, bytes] = {f"random-{n}": bytes(rnd.getrandbits(8) for _ in range(n))
                                        for n in (1, 2, 8, 31, 32, 33, 63, 64, 65, 70, 71, 72, 73, 96, 104, 132,
                                                  255, 256, 257, 384, 512, 2419, 2420, 2421, 3309, 4627, 6144)}
    bad_signatures.update({
        "zeros-64": bytes(64), "ones-64": b"\xff" * 64, "zeros-256": bytes(256), "ones-256": b"\xff" * 256,
        "ecdsa-r0-s0": _seq(_der_int(0), _der_int(0)),
        "ecdsa-r-n-s-1": _seq(_der_int(_P256_N), _der_int(1)),
        "ecdsa-negative": _seq(_der_int(-1), _der_int(-5)),
        "ecdsa-huge-r": _seq(_der_int(2 ** 4000 + 1), _der_int(1)),
        "ecdsa-trailing": _seq(_der_int(1), _der_int(1)) + b"\x00",
        "ecdsa-one-int": _seq(_der_int(1)),
        "ecdsa-empty-seq": b"\x30\x00",
        "ecdsa-p384": p384.sign(message, ec.ECDSA(hashes.SHA384())),
        "ecdsa-k1": k1.sign(message, ec.ECDSA(hashes.SHA256())),
        "rsa-other-key-pss": other_rsa.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                                 salt_length=32), hashes.SHA256()),
        "rsa-other-key-pkcs1": other_rsa.sign(message, padding.PKCS1v15(), hashes.SHA256()),
        "rsa-1024": rsa1024.sign(message, padding.PKCS1v15(), hashes.SHA256()),
        "ed25519-other-key": ed_25519.sign(message),
        "ed448": ed_448.sign(message),
        # Ed25519(ph) signatures the pure-Python verifier must refuse without a crash
        "ed25519-R-not-a-point": b"\xff" * 32 + bytes(32),
        "ed25519-R-y-equals-p": (2 ** 255 - 19).to_bytes(32, "little") + bytes(32),
        "ed25519-s-equals-L": bytes(32) + (2 ** 252 + 27742317777372353535851937790883648493).to_bytes(32, "little"),
        "ed25519-s-all-ones": bytes(31) + b"\x01" + b"\xff" * 32,
        "ed25519-identity-R": b"\x01" + bytes(31) + bytes(32),
        "ed25519-R-x-zero-sign-1": b"\x01" + bytes(30) + b"\x80" + bytes(32),
        "spki-as-signature": peer_spki,
    })

    p256_material = pkcs8(ec.generate_private_key(ec.SECP256R1()))
    wrong = {
        "p384": pkcs8(p384), "secp256k1": pkcs8(k1), "rsa1024": pkcs8(rsa1024), "dsa1024": pkcs8(dsa1024),
        "x25519": pkcs8(x_25519), "ed25519": pkcs8(ed_25519), "ed448": pkcs8(ed_448),
        "encrypted-pkcs8": peer.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(b"pw")),
        "truncated-pkcs8": p256_material[:-3],
        "pkcs8-trailing": p256_material + b"\x00",
        "spki-not-private": peer_spki,
        "pem-text": peer.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()),
        "marked-random": marked(150, rnd),
        "one-byte": b"\x30",
    }
    _HOSTILE.append(Hostile(peer, peer_spki, bad_public_keys, odd, bad_signatures, wrong, p256_material))
    return _HOSTILE[0]


# --- raw signed requests --------------------------------------------------------------------
class Wire:
    """Signed raw POSTs on one keep-alive connection, each answer checked for shape."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=TIMEOUT)

    def close(self) -> None:
        self.client.close()

    def send(self, operation: str, body: Any, sensitive: Iterable[bytes] = ()) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = signed_headers(self.url, raw, f"TrentService.{operation}")
        response = self.client.post(self.url + "/", content=raw, headers=headers)
        check_answer(operation, raw, response, sensitive)
        return response

    def ok(self, operation: str, body: Any) -> dict:
        response = self.send(operation, body)
        assert response.status_code == 200, (operation, response.text[:500])
        return response.json()

    def error(self, operation: str, body: Any, code: Optional[str] = None,
              sensitive: Iterable[bytes] = ()) -> dict:
        response = self.send(operation, body, sensitive)
        assert 400 <= response.status_code < 500, (operation, response.status_code, response.text[:500])
        error = response.json()
        if code is not None:
            assert error["__type"] == code, (operation, error)
        return error


def check_answer(operation: str, raw: bytes, response: httpx.Response, sensitive: Iterable[bytes]) -> None:
    where = (operation, raw[:400], response.status_code, response.text[:400])
    assert response.status_code < 500, where
    assert response.status_code == 200 or 400 <= response.status_code < 500, where
    assert response.headers.get("x-amzn-RequestId"), where
    body = response.json()
    assert isinstance(body, dict), where
    if response.status_code == 200:
        return
    assert isinstance(body.get("__type"), str) and body["__type"], where
    assert isinstance(body.get("message"), str), where
    text = response.text
    assert MARK_TEXT not in text, where
    assert b64(MARK)[:20] not in text, where
    for value in sensitive:
        if len(value) >= 12:
            assert b64(value)[:16] not in text and value.hex()[:24] not in text, where


# --- the fleet: one real key of every kind, and what was made with them before the run ------
@dataclass
class Fleet:
    ids: dict[str, str]
    arns: dict[str, str]
    aliases: dict[str, str]                                   # kind -> alias name
    public: dict[str, bytes]                                  # kind -> GetPublicKey DER
    #: (kind, algorithm, message type) -> (message, signature) made before the run
    signatures: dict[tuple[str, str, str], tuple[bytes, bytes]]
    mac: tuple[bytes, bytes]
    shared_secret: bytes
    sym_ciphertext: tuple[bytes, bytes]                       # (plaintext, blob) under "sym"
    ext_ciphertext: tuple[bytes, bytes]                       # under "ext_imported"
    victim_ciphertext: tuple[bytes, bytes]                    # under "ext_victim"
    rsa_ciphertexts: dict[str, tuple[bytes, bytes]]           # algorithm -> (plaintext, blob)
    materials: dict[str, bytes]                               # import kind -> its key material
    material_ids: dict[str, str]
    #: import kind -> (ImportToken, EncryptedKeyMaterial of materials[kind], wrapping algorithm, wrapping public DER)
    imports: dict[str, tuple[bytes, bytes, str, bytes]] = field(default_factory=dict)

    def refs(self, kind: str) -> list[str]:
        """Every valid way to name the key: id, ARN and, where it has one, alias name and ARN."""
        out = [self.ids[kind], self.arns[kind]]
        if kind in self.aliases:
            out += [self.aliases[kind], f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{self.aliases[kind]}"]
        return out


wrap = wrap_key_material


def import_parameters(wire: Wire, key_id: str, algorithm: str, spec: str = "RSA_2048") -> tuple[bytes, bytes]:
    out = wire.ok("GetParametersForImport", {"KeyId": key_id, "WrappingAlgorithm": algorithm,
                                             "WrappingKeySpec": spec})
    return base64.b64decode(out["ImportToken"]), base64.b64decode(out["PublicKey"])


def import_material(wire: Wire, key_id: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256") -> dict:
    token, public = import_parameters(wire, key_id, algorithm)
    return wire.ok("ImportKeyMaterial", {"KeyId": key_id, "ImportToken": b64(token),
                                         "EncryptedKeyMaterial": b64(wrap(public, material, algorithm)),
                                         "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})


def _create(wire: Wire, spec: str, usage: str, origin: str = "AWS_KMS") -> dict:
    return wire.ok("CreateKey", {"KeySpec": spec, "KeyUsage": usage, "Origin": origin,
                                 "Description": "hostile input target"})["KeyMetadata"]


def make_fleet(wire: Wire) -> Fleet:
    ids, arns, aliases = {}, {}, {}
    for kind, (spec, usage) in PRESERVED.items():
        meta = _create(wire, spec, usage)
        ids[kind], arns[kind] = meta["KeyId"], meta["Arn"]
    for kind, (spec, usage) in EXTERNAL.items():
        meta = _create(wire, spec, usage, "EXTERNAL")
        ids[kind], arns[kind] = meta["KeyId"], meta["Arn"]
    tag = uuid.uuid4().hex[:8]
    for kind in ("sym", "rsa_sign", "p256_agree", "hmac", "ext_pending", "ext_imported"):
        aliases[kind] = f"alias/hostile-{tag}-{kind.replace('_', '-')}"
        wire.ok("CreateAlias", {"AliasName": aliases[kind], "TargetKeyId": ids[kind]})

    materials = {"ext_imported": marked(32), "ext_victim": os.urandom(32), "imp_sym": marked(32),
                 "imp_hmac": marked(48), "imp_ec": hostile().p256_material,
                 "ext_ec_imported": pkcs8(ec.generate_private_key(ec.SECP256R1()))}
    material_ids = {}
    for kind in ("ext_imported", "ext_victim", "ext_ec_imported"):
        material_ids[kind] = import_material(wire, ids[kind], materials[kind],
                                             "RSA_AES_KEY_WRAP_SHA_1")["KeyMaterialId"]
    imports = {}
    for kind in ("ext_imported", "ext_ec_imported", "imp_sym", "imp_hmac", "imp_ec"):
        algorithm = "RSA_AES_KEY_WRAP_SHA_256" if EXTERNAL[kind][0].startswith("ECC") else "RSAES_OAEP_SHA_256"
        token, public = import_parameters(wire, ids[kind], algorithm)
        imports[kind] = (token, wrap(public, materials[kind], algorithm), algorithm, public)

    public = {kind: base64.b64decode(wire.ok("GetPublicKey", {"KeyId": ids[kind]})["PublicKey"])
              for kind in ASYMMETRIC}
    signatures = {}
    for kind, combos in VALID_SIGNING.items():
        for algorithm, message_type in sorted(combos):
            n = {"DIGEST": DIGEST_BYTES.get(algorithm, 64), "EXTERNAL_MU": 64}.get(message_type, 77)
            message = marked(n)
            out = wire.ok("Sign", {"KeyId": ids[kind], "Message": b64(message), "SigningAlgorithm": algorithm,
                                   "MessageType": message_type})
            signatures[(kind, algorithm, message_type)] = (message, base64.b64decode(out["Signature"]))
    mac_message = marked(60)
    mac = base64.b64decode(wire.ok("GenerateMac", {"KeyId": ids["hmac"], "Message": b64(mac_message),
                                                   "MacAlgorithm": "HMAC_SHA_256"})["Mac"])
    secret = base64.b64decode(wire.ok("DeriveSharedSecret", {
        "KeyId": ids["p256_agree"], "KeyAgreementAlgorithm": "ECDH",
        "PublicKey": b64(hostile().peer_spki)})["SharedSecret"])

    def seal(kind: str) -> tuple[bytes, bytes]:
        plaintext = marked(40)
        blob = wire.ok("Encrypt", {"KeyId": ids[kind], "Plaintext": b64(plaintext),
                                   "EncryptionContext": {"purpose": "hostile"}})["CiphertextBlob"]
        return plaintext, base64.b64decode(blob)

    rsa_ciphertexts = {}
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        plaintext = marked(100)
        blob = wire.ok("Encrypt", {"KeyId": ids["rsa_enc"], "Plaintext": b64(plaintext),
                                   "EncryptionAlgorithm": algorithm})["CiphertextBlob"]
        rsa_ciphertexts[algorithm] = (plaintext, base64.b64decode(blob))
    return Fleet(ids, arns, aliases, public, signatures, (mac_message, mac), secret, seal("sym"),
                 seal("ext_imported"), seal("ext_victim"), rsa_ciphertexts, materials, material_ids, imports)


def check_intact(wire: Wire, fleet: Fleet) -> None:
    """Nothing stored was lost or altered: keys, states, and what was made before the run."""
    ids = fleet.ids
    for kind in tuple(PRESERVED) + KEPT_IMPORTED + PENDING:
        meta = wire.ok("DescribeKey", {"KeyId": ids[kind]})["KeyMetadata"]
        assert meta["KeyState"] == ("PendingImport" if kind in PENDING else "Enabled"), (kind, meta)
        if kind in KEPT_IMPORTED:
            assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta, meta
    for kind, der in fleet.public.items():
        assert base64.b64decode(wire.ok("GetPublicKey", {"KeyId": ids[kind]})["PublicKey"]) == der, kind
    for (plaintext, blob) in (fleet.sym_ciphertext, fleet.ext_ciphertext):
        out = wire.ok("Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": {"purpose": "hostile"}})
        assert base64.b64decode(out["Plaintext"]) == plaintext
    for algorithm, (plaintext, blob) in fleet.rsa_ciphertexts.items():
        out = wire.ok("Decrypt", {"CiphertextBlob": b64(blob), "KeyId": ids["rsa_enc"],
                                  "EncryptionAlgorithm": algorithm})
        assert base64.b64decode(out["Plaintext"]) == plaintext
    for (kind, algorithm, message_type), (message, signature) in fleet.signatures.items():
        out = wire.ok("Verify", {"KeyId": ids[kind], "Message": b64(message), "Signature": b64(signature),
                                 "SigningAlgorithm": algorithm, "MessageType": message_type})
        assert out["SignatureValid"] is True
    message, mac = fleet.mac
    assert wire.ok("VerifyMac", {"KeyId": ids["hmac"], "Message": b64(message), "Mac": b64(mac),
                                 "MacAlgorithm": "HMAC_SHA_256"})["MacValid"] is True
    out = wire.ok("DeriveSharedSecret", {"KeyId": ids["p256_agree"], "KeyAgreementAlgorithm": "ECDH",
                                         "PublicKey": b64(hostile().peer_spki)})
    assert base64.b64decode(out["SharedSecret"]) == fleet.shared_secret


_FLEETS: dict[str, Fleet] = {}


@pytest.fixture
def wire(server):
    w = Wire(server.url)
    yield w
    w.close()


@pytest.fixture
def fleet(server, wire) -> Fleet:
    """The fleet of this server (made once per server), checked intact after the test."""
    if server.url not in _FLEETS:
        _FLEETS[server.url] = make_fleet(wire)
    made = _FLEETS[server.url]
    yield made
    check_intact(wire, made)


# --- valid requests per operation, and how to mutate them ------------------------------------
def signing_combos() -> list[tuple[str, str, str]]:
    return sorted((kind, a, t) for kind, combos in VALID_SIGNING.items() for a, t in combos)


def base_request(op: str, fleet: Fleet, rnd: random.Random) -> tuple[dict, list[bytes]]:
    """A valid request for `op` against a real key (chosen at random among those that fit),
    and the secret bytes in it that an error must never echo."""
    if op in ("Sign", "Verify"):
        kind, algorithm, message_type = rnd.choice(signing_combos())
        message, signature = fleet.signatures[(kind, algorithm, message_type)]
        body = {"KeyId": rnd.choice(fleet.refs(kind)), "Message": b64(message), "SigningAlgorithm": algorithm,
                "MessageType": message_type}
        if op == "Verify":
            body["Signature"] = b64(signature)
        return body, [message]
    if op == "GetPublicKey":
        return {"KeyId": rnd.choice(fleet.refs(rnd.choice(ASYMMETRIC)))}, []
    if op in ("GenerateMac", "VerifyMac"):
        message, mac = fleet.mac
        body = {"KeyId": rnd.choice(fleet.refs("hmac")), "Message": b64(message), "MacAlgorithm": "HMAC_SHA_256"}
        if op == "VerifyMac":
            body["Mac"] = b64(mac)
        return body, [message]
    if op == "DeriveSharedSecret":
        return {"KeyId": rnd.choice(fleet.refs("p256_agree")), "KeyAgreementAlgorithm": "ECDH",
                "PublicKey": b64(hostile().peer_spki)}, []
    if op.startswith("GenerateDataKeyPair"):
        body = {"KeyId": rnd.choice(fleet.refs(rnd.choice(("sym", "ext_imported")))),
                "KeyPairSpec": rnd.choice(("ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519",
                                           "ECC_NIST_P384", "RSA_2048"))}
        if rnd.random() < 0.5:
            body["EncryptionContext"] = {"purpose": "hostile"}
        return body, []
    if op == "GetParametersForImport":
        return {"KeyId": rnd.choice(fleet.refs(rnd.choice(EXTERNAL_KINDS))[:2]),
                "WrappingAlgorithm": rnd.choice(("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                                 "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")),
                "WrappingKeySpec": "RSA_2048"}, []
    if op == "ImportKeyMaterial":
        kind = rnd.choice(sorted(fleet.imports))
        token, encrypted, _, _ = fleet.imports[kind]
        return {"KeyId": rnd.choice(fleet.refs(kind)[:2]), "ImportToken": b64(token),
                "EncryptedKeyMaterial": b64(encrypted),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}, [fleet.materials[kind]]
    if op == "DeleteImportedKeyMaterial":
        body = {"KeyId": rnd.choice(fleet.refs("ext_victim")[:2])}
        if rnd.random() < 0.5:
            body["KeyMaterialId"] = fleet.material_ids["ext_victim"]
        return body, []
    if op == "Encrypt":
        if rnd.random() < 0.7:
            algorithm = rnd.choice(("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"))
            plaintext = marked(rnd.randint(12, 190), rnd)
            return {"KeyId": rnd.choice(fleet.refs("rsa_enc")), "Plaintext": b64(plaintext),
                    "EncryptionAlgorithm": algorithm}, [plaintext]
        plaintext = marked(rnd.randint(12, 400), rnd)
        return {"KeyId": rnd.choice(fleet.refs("sym")), "Plaintext": b64(plaintext)}, [plaintext]
    if op in ("Decrypt", "ReEncrypt"):
        if rnd.random() < 0.7:
            algorithm = rnd.choice(sorted(fleet.rsa_ciphertexts))
            plaintext, blob = fleet.rsa_ciphertexts[algorithm]
            body = {"CiphertextBlob": b64(blob)}
            if op == "Decrypt":
                body.update(KeyId=rnd.choice(fleet.refs("rsa_enc")), EncryptionAlgorithm=algorithm)
            else:
                body.update(SourceKeyId=rnd.choice(fleet.refs("rsa_enc")), SourceEncryptionAlgorithm=algorithm)
        else:
            plaintext, blob = fleet.sym_ciphertext
            body = {"CiphertextBlob": b64(blob), "EncryptionContext": {"purpose": "hostile"}}
            if op == "ReEncrypt":
                body["SourceEncryptionContext"] = body.pop("EncryptionContext")
        if op == "ReEncrypt":
            if rnd.random() < 0.5:
                body.update(DestinationKeyId=rnd.choice(fleet.refs("rsa_enc")),
                            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
            else:
                body["DestinationKeyId"] = rnd.choice(fleet.refs("sym"))
        return body, [plaintext]
    raise AssertionError(op)


B64_GARBAGE = ["!!!!", "aGk", "a===", "====", "=", "aGk=\n", "aG k=", "\u00e9\u00e9\u00e9\u00e9", "-_-_",
               "aGk=aGk=", "\u0000\u0000\u0000\u0000", "AAAA" * 3 + "A", "\ud800AAA"]
STRING_GARBAGE = ["", " ", "\u0000", "a\u0000b", "\ud800", "\udfff", "\u00e9", "x" * 2048, "x" * 2049,
                  "x" * 100_000, "rsa_2048", "RAW ", "null", "*", "${aws:username}", "%s%s%n", "../../etc",
                  "SM2", "SM2DSA", "SM2PKE", "ML_KEM_768", "ECDH", "SYMMETRIC_DEFAULT", "RSAES_PKCS1_V1_5"]
WRONG_TYPES: dict[str, list] = {
    "string": [1, -1, 1.5, True, False, [], {}, ["x"], {"a": "b"}],
    "blob": [1, 0, True, [], {}, ["aGk="], {"b": "aGk="}],
    "boolean": ["true", "false", 1, 0, [], {}, "yes"],
    "timestamp": ["2030-01-01T00:00:00Z", "1700000000", True, [], {}],
    "list": ["x", 1, {}, True, {"0": "x"}],
    "map": ["x", 1, [], True, ["a", "b"]],
    "structure": ["x", 1, [], True],
}


def key_id_pool(fleet: Fleet, kinds: Iterable[str]) -> list[str]:
    """KeyIds for a mutation: every form of every given kind, and garbage of every sort."""
    sym = fleet.ids["sym"]
    pool = [ref for kind in kinds for ref in fleet.refs(kind)]
    pool += STRING_GARBAGE[:10] + [
        sym + "\u0000", "\u0000" + sym, sym.upper(), " " + sym, sym + " ", sym[:-1], sym + "0",
        "alias/", "alias/aws/ssm", "alias/aws/kms", "alias/hostile-does-not-exist", "alias/" + "a" * 250,
        "alias/a\u0000", f"arn:aws:kms:us-west-2:{ACCOUNT_ID}:key/{sym}",
        f"arn:aws:kms:{REGION}:999999999999:key/{sym}",
        f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{sym}/extra",
        f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/hostile-none",
        f"arn:aws-cn:kms:{REGION}:{ACCOUNT_ID}:key/{sym}", f"arn:aws:s3:::{sym}", "arn:aws:kms:::key/x", "arn:",
        f"key/{sym}", "mrk-" + "0" * 32, "mrk-" + "z" * 32, "00000000-0000-0000-0000-000000000000",
        "1234abcd-12ab-34cd-56ef-1234567890ab", str(uuid.uuid4()), sym + "\ud800",
    ]
    return pool


def _blob_of_size(rnd: random.Random, spec: dict) -> str:
    lo, hi = spec.get("min", 1), spec.get("max", 6144)
    n = rnd.choice([0, lo, lo + 1, hi - 1, hi, hi + 1, rnd.randint(lo, hi)])
    return b64(marked(n, rnd) if n < 20_000 else os.urandom(n))


def interesting_blobs(op: str, member: str, fleet: Fleet) -> list[bytes]:
    h = hostile()
    if member == "Signature":
        return list(h.bad_signatures.values()) + [sig for (_, sig) in fleet.signatures.values()]
    if member == "Mac":
        message, mac = fleet.mac
        return [mac[:-1], mac + b"\x00", mac[:16], bytes(32), hashlib.sha256(message).digest(),
                hashlib.sha512(message).digest(), mac * 2, b"\x00", os.urandom(6144)]
    if member == "PublicKey":
        return list(h.bad_public_keys.values()) + list(h.odd_p256_public_keys.values())
    if member == "Message":
        return [marked(n) for n in (1, 20, 28, 31, 32, 33, 47, 48, 49, 63, 64, 65, 4096)]
    if member == "Plaintext":
        return [marked(n) for n in (1, 189, 190, 191, 213, 214, 215, 256, 4096)]
    if member == "ImportToken":
        return token_variants(fleet)
    if member == "EncryptedKeyMaterial":
        return [encrypted for (_, encrypted, _, _) in fleet.imports.values()] + [
            os.urandom(n) for n in (1, 255, 256, 257, 264, 272, 296, 512, 6144)]
    if member == "CiphertextBlob":
        blobs = [blob for (_, blob) in fleet.rsa_ciphertexts.values()]
        return blobs + [fleet.sym_ciphertext[1], fleet.ext_ciphertext[1], blobs[0][:-1], blobs[0] + b"\x00",
                        b"\x00" + blobs[0], os.urandom(256), b"\xff" * 256, bytes(256), b"\x01"]
    if member == "AttestationDocument":
        return [b"\x00", os.urandom(100)]
    return [os.urandom(32)]


def token_variants(fleet: Fleet) -> list[bytes]:
    token = fleet.imports["imp_sym"][0]
    flips = [token[:i] + bytes((token[i] ^ 0x01,)) + token[i + 1:] for i in (0, 1, 12, 13, 40, len(token) - 1)]
    return flips + [token[:1], token[:13], token[:28], token[:29], token[:-1], token + b"\x00",
                    b"\x01" + os.urandom(len(token) - 1), b"\x02" + token[1:], os.urandom(6144),
                    b"\x01" * 6144] + [t for (t, _, _, _) in fleet.imports.values()]


VALID_TO_POOL: list[Any] = [0, -1, -1e300, 1.5, 1e300, -1e300, float("nan"), float("inf"), float("-inf"),
                            2 ** 63, -(2 ** 63), 1e18, 253402300800]


def mutate(op: str, body: dict, rnd: random.Random, fleet: Fleet, kinds: Iterable[str]) -> dict:
    """One random change to a request body, anywhere in the operation's input shape."""
    shape = SHAPES[op]
    members = shape["members"]
    name = rnd.choice(sorted(members))
    spec = members[name]
    kind = spec["type"]
    choice = rnd.random()
    body = dict(body)
    if choice < 0.12:
        body[name] = rnd.choice(WRONG_TYPES[kind])
    elif choice < 0.18:
        body.pop(name, None)
    elif choice < 0.21:
        body[rnd.choice(["Unknown", "keyId", "KEYID", "__type", ""])] = rnd.choice([1, "x", None, {}])
    elif choice < 0.24:
        body[name] = None
    elif name in ("KeyId", "SourceKeyId", "DestinationKeyId"):
        body[name] = rnd.choice(key_id_pool(fleet, kinds))
    elif kind == "blob":
        roll = rnd.random()
        if roll < 0.25:
            body[name] = rnd.choice(B64_GARBAGE)
        elif roll < 0.5:
            body[name] = _blob_of_size(rnd, spec)
        else:
            body[name] = b64(rnd.choice(interesting_blobs(op, name, fleet)))
    elif kind == "string":
        if "enum" in spec and rnd.random() < 0.75:
            body[name] = rnd.choice(spec["enum"])
        else:
            body[name] = rnd.choice(STRING_GARBAGE + ["a" * 64, "0" * 64, "A" * 64, "f" * 63, "g" * 64])
    elif kind == "timestamp":
        body[name] = rnd.choice(VALID_TO_POOL)
    elif kind == "boolean":
        body[name] = rnd.random() < 0.5
    elif kind == "list":
        body[name] = rnd.choice([[], ["x"], [""], ["t"] * 11, ["x" * 8193], ["\u0000"], [1], [None], ["\ud800"]])
    elif kind == "map":
        body[name] = rnd.choice([{}, {"": ""}, {"k": "\u0000"}, {"\u0000": "v"}, {"k": "x" * 10_000},
                                 {f"k{i}": "v" for i in range(300)}, {"aws:x": "y"}, {"k": 1}, {"k": None}])
    elif kind == "structure":
        body[name] = rnd.choice([{}, {"AttestationDocument": b64(b"\x00")}, {"KeyEncryptionAlgorithm": "x"},
                                 {"AttestationDocument": "!!"}, {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}])
    return body


def kinds_for(op: str) -> tuple[str, ...]:
    """The key kinds a KeyId mutation may pick: never a key this operation could legitimately destroy."""
    if op == "DeleteImportedKeyMaterial":
        return tuple(k for k in GENERAL_KINDS if k not in KEPT_IMPORTED) + ("ext_victim",)
    return GENERAL_KINDS


def sensitive_of(body: dict) -> list[bytes]:
    out = []
    for name in ("Message", "Plaintext"):
        value = body.get(name)
        if isinstance(value, str):
            try:
                out.append(base64.b64decode(value, validate=True))
            except ValueError:
                pass
    return out


def restore_victim(wire: Wire, fleet: Fleet) -> None:
    """Import ext_victim's material again if a deletion took it (same material, same id)."""
    if wire.ok("DescribeKey", {"KeyId": fleet.ids["ext_victim"]})["KeyMetadata"]["KeyState"] == "PendingImport":
        out = import_material(wire, fleet.ids["ext_victim"], fleet.materials["ext_victim"])
        assert out["KeyMaterialId"] == fleet.material_ids["ext_victim"]


def fuzz(wire: Wire, fleet: Fleet, op: str, seed: str, count: int) -> dict[int, int]:
    rnd = random.Random(f"{op}/{seed}")
    statuses: dict[int, int] = {}
    for _ in range(count):
        body, secrets = base_request(op, fleet, rnd)
        for _ in range(rnd.choice((0, 1, 1, 2, 3))):
            body = mutate(op, body, rnd, fleet, kinds_for(op))
        response = wire.send(op, body, secrets + sensitive_of(body) + list(fleet.materials.values()))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    restore_victim(wire, fleet)
    return statuses


# --- the tests ----------------------------------------------------------------------------------
@SQLITE_ONLY
@pytest.mark.parametrize("op", OPERATIONS)
def test_base_requests_are_valid(wire, fleet, op):
    # The mutations below start from these: each kind of base request succeeds as it is,
    # so the 4xx answers later come from the mutation, not from a broken starting point.
    rnd = random.Random(f"base/{op}")
    for _ in range(6):
        body, _ = base_request(op, fleet, rnd)
        wire.ok(op, body)
        if op == "DeleteImportedKeyMaterial":
            restore_victim(wire, fleet)


@SQLITE_ONLY
@pytest.mark.parametrize("op", OPERATIONS)
def test_random_mutations_never_give_a_5xx(wire, fleet, op):
    statuses = fuzz(wire, fleet, op, "sqlite-1", 40)
    assert sum(statuses.values()) == 40
    assert any(400 <= s < 500 for s in statuses), statuses


@pytest.mark.parametrize("op", OPERATIONS)
def test_random_mutations_sample_on_each_database(wire, fleet, op):
    fuzz(wire, fleet, op, "every-database", 6)


@SQLITE_ONLY
@pytest.mark.parametrize("op", OPERATIONS)
def test_every_member_of_a_wrong_json_type_is_a_serialization_exception(wire, fleet, op):
    rnd = random.Random(f"types/{op}")
    base, _ = base_request(op, fleet, rnd)
    for name, spec in SHAPES[op]["members"].items():
        for wrong in WRONG_TYPES[spec["type"]]:
            wire.error(op, {**base, name: wrong}, "SerializationException")
        if spec["type"] == "blob":
            for garbage in B64_GARBAGE:
                error = wire.error(op, {**base, name: garbage})
                assert error["__type"] in ("SerializationException", "ValidationException"), (name, garbage, error)


@SQLITE_ONLY
@pytest.mark.parametrize("op", OPERATIONS)
def test_every_blob_at_and_over_its_model_limits(wire, fleet, op):
    rnd = random.Random(f"limits/{op}")
    base, _ = base_request(op, fleet, rnd)
    for name, spec in SHAPES[op]["members"].items():
        if spec["type"] != "blob":
            continue
        lo, hi = spec.get("min", 1), spec.get("max", 6144)
        for n in (0, lo, hi, hi + 1):
            data = marked(n) if n < 20_000 else os.urandom(n)
            response = wire.send(op, {**base, name: b64(data)}, [data])
            if n < lo or n > hi:
                assert response.status_code == 400, (name, n, response.text[:300])
                assert response.json()["__type"] == "ValidationException", (name, n, response.text[:300])


@SQLITE_ONLY
@pytest.mark.parametrize("op", OPERATIONS)
def test_every_enum_value_and_garbage_in_every_enum_member(wire, fleet, op):
    rnd = random.Random(f"enums/{op}")
    bases = [base_request(op, fleet, rnd)[0] for _ in range(3)]
    for name, spec in SHAPES[op]["members"].items():
        if "enum" not in spec:
            continue
        for value in list(spec["enum"]) + STRING_GARBAGE:
            for base in bases:
                response = wire.send(op, {**base, name: value})
                if value not in spec["enum"]:
                    assert response.status_code == 400, (name, value, response.text[:300])


def _kind_message(algorithm: str, message_type: str) -> bytes:
    n = {"DIGEST": DIGEST_BYTES.get(algorithm, 64), "EXTERNAL_MU": 64}.get(message_type, 50)
    return marked(n)


@SQLITE_ONLY
def test_every_signing_algorithm_and_message_type_with_every_key_kind(wire, fleet):
    # 200 exactly for the (algorithm, message type) pairs the key's spec allows; and a
    # signature made that way verifies, while every other combination is a 4xx.
    algorithms = SHAPES["Sign"]["members"]["SigningAlgorithm"]["enum"]
    for kind in GENERAL_KINDS:
        for algorithm in algorithms:
            for message_type in ("RAW", "DIGEST", "EXTERNAL_MU", None):
                message = _kind_message(algorithm, message_type or "RAW")
                body = {"KeyId": fleet.ids[kind], "Message": b64(message), "SigningAlgorithm": algorithm}
                if message_type is not None:
                    body["MessageType"] = message_type
                valid = (algorithm, message_type or "RAW") in VALID_SIGNING.get(kind, set())
                signed = wire.send("Sign", body, [message])
                assert (signed.status_code == 200) == valid, (kind, algorithm, message_type, signed.text[:300])
                signature = (base64.b64decode(signed.json()["Signature"]) if valid
                             else hostile().bad_signatures["random-64"])
                verified = wire.send("Verify", {**body, "Signature": b64(signature)}, [message])
                assert (verified.status_code == 200) == valid, (kind, algorithm, message_type, verified.text[:300])


@SQLITE_ONLY
def test_digest_of_every_length_from_0_to_129(wire, fleet):
    # Only the algorithm's own hash length signs (and that signature verifies); length 0 is
    # below the model minimum; every other length is a ValidationException, for Sign and Verify.
    for kind, algorithm, message_type in signing_combos():
        if message_type != "DIGEST":
            continue
        for n in range(130):
            digest = marked(n)
            body = {"KeyId": fleet.ids[kind], "Message": b64(digest), "SigningAlgorithm": algorithm,
                    "MessageType": "DIGEST"}
            signed = wire.send("Sign", body, [digest])
            if n == DIGEST_BYTES[algorithm]:
                assert signed.status_code == 200, (kind, algorithm, n, signed.text[:300])
                wire.ok("Verify", {**body, "Signature": signed.json()["Signature"]})
                continue
            assert signed.json()["__type"] == "ValidationException", (kind, algorithm, n, signed.text[:300])
            wire.error("Verify", {**body, "Signature": b64(os.urandom(64))}, "ValidationException", [digest])
    # DIGEST with algorithms that never take one, at a few lengths
    for kind, algorithm in (("ed25519", "ED25519_SHA_512"), ("mldsa", "ML_DSA_SHAKE_256")):
        if kind not in fleet.ids:
            continue
        for n in (1, 32, 64, 129):
            wire.error("Sign", {"KeyId": fleet.ids[kind], "Message": b64(marked(n)), "SigningAlgorithm": algorithm,
                                "MessageType": "DIGEST"}, "ValidationException")


@SQLITE_ONLY
def test_external_mu_of_every_length_from_0_to_129(wire, fleet):
    for kind in ("rsa_sign", "p256_sign", "k1", "ed25519") + (("mldsa",) if HAVE_MLDSA else ()):
        algorithm = sorted(VALID_SIGNING[kind])[0][0]
        for n in range(130):
            mu = marked(n)
            body = {"KeyId": fleet.ids[kind], "Message": b64(mu), "SigningAlgorithm": algorithm,
                    "MessageType": "EXTERNAL_MU"}
            signed = wire.send("Sign", body, [mu])
            if kind == "mldsa" and n == 64:
                assert signed.status_code == 200, signed.text[:300]
                wire.ok("Verify", {**body, "Signature": signed.json()["Signature"]})
                wire.error("Verify", {**body, "Signature": b64(os.urandom(2420))}, "KMSInvalidSignatureException")
                continue
            assert signed.json()["__type"] == "ValidationException", (kind, n, signed.text[:300])
            wire.error("Verify", {**body, "Signature": b64(os.urandom(64))}, "ValidationException", [mu])


@SQLITE_ONLY
def test_hostile_signatures_never_verify(wire, fleet):
    # Random bytes, DER of other curves and algorithms, out-of-range ECDSA integers,
    # Ed25519 encodings that aren't points, signatures of the other keys in the fleet.
    pool = dict(hostile().bad_signatures)
    pool["max-6144"] = os.urandom(6144)
    for (other, algorithm, message_type), (_, signature) in fleet.signatures.items():
        pool[f"fleet-{other}-{algorithm}-{message_type}"] = signature
    for (kind, algorithm, message_type), (message, own) in sorted(fleet.signatures.items()):
        for _label, signature in pool.items():
            if signature == own:
                continue
            wire.error("Verify", {"KeyId": fleet.ids[kind], "Message": b64(message), "Signature": b64(signature),
                                  "SigningAlgorithm": algorithm, "MessageType": message_type},
                       "KMSInvalidSignatureException", [message])
        for mangled in (own[:-1], own + b"\x00", b"\x00" + own, own[:1], bytes((own[0] ^ 1,)) + own[1:],
                        own[:-1] + bytes((own[-1] ^ 0x80,))):
            wire.error("Verify", {"KeyId": fleet.ids[kind], "Message": b64(message), "Signature": b64(mangled),
                                  "SigningAlgorithm": algorithm, "MessageType": message_type},
                       "KMSInvalidSignatureException", [message])
        wire.error("Verify", {"KeyId": fleet.ids[kind], "Message": b64(message), "Signature": b64(os.urandom(6145)),
                              "SigningAlgorithm": algorithm, "MessageType": message_type}, "ValidationException")


@SQLITE_ONLY
def test_every_mac_algorithm_with_every_key_kind_and_hostile_macs(wire, fleet):
    message, mac = fleet.mac
    for kind in GENERAL_KINDS:
        for algorithm in SHAPES["GenerateMac"]["members"]["MacAlgorithm"]["enum"]:
            body = {"KeyId": fleet.ids[kind], "Message": b64(message), "MacAlgorithm": algorithm}
            valid = kind == "hmac" and algorithm == "HMAC_SHA_256"
            made = wire.send("GenerateMac", body, [message])
            assert (made.status_code == 200) == valid, (kind, algorithm, made.text[:300])
            checked = wire.send("VerifyMac", {**body, "Mac": b64(mac)}, [message])
            assert (checked.status_code == 200) == valid, (kind, algorithm, checked.text[:300])
    for bad in interesting_blobs("VerifyMac", "Mac", fleet):
        wire.error("VerifyMac", {"KeyId": fleet.ids["hmac"], "Message": b64(message), "Mac": b64(bad),
                                 "MacAlgorithm": "HMAC_SHA_256"}, "KMSInvalidMacException", [message])
    for other in (b"", os.urandom(6145)):
        wire.error("VerifyMac", {"KeyId": fleet.ids["hmac"], "Message": b64(message), "Mac": b64(other),
                                 "MacAlgorithm": "HMAC_SHA_256"}, "ValidationException", [message])


@SQLITE_ONLY
def test_derive_shared_secret_refuses_every_hostile_public_key(wire, fleet):
    h = hostile()
    base = {"KeyId": fleet.ids["p256_agree"], "KeyAgreementAlgorithm": "ECDH"}
    for name, der in h.bad_public_keys.items():
        error = wire.error("DeriveSharedSecret", {**base, "PublicKey": b64(der)})
        assert error["__type"] == "ValidationException", (name, error)
    for name, der in h.odd_p256_public_keys.items():
        response = wire.send("DeriveSharedSecret", {**base, "PublicKey": b64(der)})
        if response.status_code == 200:
            assert base64.b64decode(response.json()["SharedSecret"]) == fleet.shared_secret, name
    wire.error("DeriveSharedSecret", {**base, "PublicKey": b64(os.urandom(8193))}, "ValidationException")
    wire.error("DeriveSharedSecret", {**base, "PublicKey": ""}, "ValidationException")


@SQLITE_ONLY
def test_derive_shared_secret_every_key_kind(wire, fleet):
    for kind in GENERAL_KINDS + ("imp_ec",):
        for algorithm in ("ECDH", "ECDH_P256", "SM2", ""):
            response = wire.send("DeriveSharedSecret", {"KeyId": fleet.ids[kind], "KeyAgreementAlgorithm": algorithm,
                                                        "PublicKey": b64(hostile().peer_spki)})
            assert (response.status_code == 200) == (kind == "p256_agree" and algorithm == "ECDH"), (
                kind, algorithm, response.text[:300])


@SQLITE_ONLY
@pytest.mark.parametrize("op", ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"])
def test_every_key_pair_spec_with_every_key_kind(wire, fleet, op):
    supported = {"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                 "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"}
    for kind in GENERAL_KINDS:
        for pair_spec in SHAPES[op]["members"]["KeyPairSpec"]["enum"]:
            body = {"KeyId": fleet.ids[kind], "KeyPairSpec": pair_spec}
            if pair_spec in ("RSA_3072", "RSA_4096") and kind != "sym":
                body["DryRun"] = True  # the answer without the seconds an RSA key takes to make
            response = wire.send(op, body)
            valid = kind in ("sym", "ext_imported") and pair_spec in supported and "DryRun" not in body
            assert (response.status_code == 200) == valid, (kind, pair_spec, response.text[:300])
            if valid:
                out = response.json()
                plain = wire.ok("Decrypt", {"CiphertextBlob": out["PrivateKeyCiphertextBlob"]})
                private = serialization.load_der_private_key(base64.b64decode(plain["Plaintext"]), None)
                assert spki(private) == base64.b64decode(out["PublicKey"])


@SQLITE_ONLY
def test_every_wrapping_algorithm_and_spec_with_every_key_kind(wire, fleet):
    supported = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"}
    members = SHAPES["GetParametersForImport"]["members"]
    for kind in GENERAL_KINDS:
        for algorithm in members["WrappingAlgorithm"]["enum"]:
            for spec in members["WrappingKeySpec"]["enum"]:
                body = {"KeyId": fleet.ids[kind], "WrappingAlgorithm": algorithm, "WrappingKeySpec": spec}
                response = wire.send("GetParametersForImport", body)
                valid = kind.startswith("ext_") and algorithm in supported and spec != "SM2"
                assert (response.status_code == 200) == valid, (kind, algorithm, spec, response.text[:300])


@SQLITE_ONLY
def test_every_encryption_algorithm_with_every_key_kind(wire, fleet):
    algorithms = SHAPES["Encrypt"]["members"]["EncryptionAlgorithm"]["enum"]
    plaintext = marked(100)
    for kind in GENERAL_KINDS:
        for algorithm in list(algorithms) + [None]:
            body = {"KeyId": fleet.ids[kind], "Plaintext": b64(plaintext)}
            if algorithm is not None:
                body["EncryptionAlgorithm"] = algorithm
            valid = ((kind == "rsa_enc" and algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"))
                     or (kind in ("sym", "ext_imported") and algorithm in ("SYMMETRIC_DEFAULT", None)))
            encrypted = wire.send("Encrypt", body, [plaintext])
            assert (encrypted.status_code == 200) == valid, (kind, algorithm, encrypted.text[:300])
            blob = encrypted.json()["CiphertextBlob"] if valid else b64(fleet.rsa_ciphertexts["RSAES_OAEP_SHA_256"][1])
            decrypt = {"CiphertextBlob": blob, "KeyId": fleet.ids[kind]}
            if algorithm is not None:
                decrypt["EncryptionAlgorithm"] = algorithm
            decrypted = wire.send("Decrypt", decrypt)
            if valid:
                assert base64.b64decode(decrypted.json()["Plaintext"]) == plaintext
            reencrypt = {"CiphertextBlob": blob, "SourceKeyId": fleet.ids[kind], "DestinationKeyId": fleet.ids[kind]}
            if algorithm is not None:
                reencrypt.update(SourceEncryptionAlgorithm=algorithm, DestinationEncryptionAlgorithm=algorithm)
            wire.send("ReEncrypt", reencrypt)


@SQLITE_ONLY
def test_rsa_ciphertexts_of_every_length_around_the_modulus(wire, fleet):
    # RSA_2048: 256-byte ciphertexts.  Every other length, and every 256 bytes that aren't a
    # ciphertext, is InvalidCiphertextException; past the model maximum a ValidationException.
    lengths = sorted(set(range(1, 9)) | set(range(240, 273)) | {127, 128, 129, 384, 511, 512, 513, 6144})
    for algorithm, (plaintext, real) in fleet.rsa_ciphertexts.items():
        other = "RSAES_OAEP_SHA_1" if algorithm == "RSAES_OAEP_SHA_256" else "RSAES_OAEP_SHA_256"
        candidates = [os.urandom(n) for n in lengths] + [
            real[:-1], real + b"\x00", b"\x00" + real, b"\x00" + real[:-1], bytes(256), b"\xff" * 256,
            (int.from_bytes(real, "big") + 1).to_bytes(256, "big"), real[::-1]]
        for blob in candidates:
            wire.error("Decrypt", {"CiphertextBlob": b64(blob), "KeyId": fleet.ids["rsa_enc"],
                                   "EncryptionAlgorithm": algorithm}, "InvalidCiphertextException")
            wire.error("ReEncrypt", {"CiphertextBlob": b64(blob), "SourceKeyId": fleet.arns["rsa_enc"],
                                     "SourceEncryptionAlgorithm": algorithm, "DestinationKeyId": fleet.ids["sym"]},
                       "InvalidCiphertextException")
        # the real ciphertext under the other OAEP hash, or without a KeyId (read as a symmetric blob)
        wire.error("Decrypt", {"CiphertextBlob": b64(real), "KeyId": fleet.ids["rsa_enc"],
                               "EncryptionAlgorithm": other}, "InvalidCiphertextException", [plaintext])
        wire.error("Decrypt", {"CiphertextBlob": b64(real), "EncryptionAlgorithm": algorithm}, None, [plaintext])
        wire.error("Decrypt", {"CiphertextBlob": b64(os.urandom(6145)), "KeyId": fleet.ids["rsa_enc"],
                               "EncryptionAlgorithm": algorithm}, "ValidationException")
        out = wire.ok("ReEncrypt", {"CiphertextBlob": b64(real), "SourceKeyId": fleet.ids["rsa_enc"],
                                    "SourceEncryptionAlgorithm": algorithm, "DestinationKeyId": fleet.ids["rsa_enc"],
                                    "DestinationEncryptionAlgorithm": other})
        again = wire.ok("Decrypt", {"CiphertextBlob": out["CiphertextBlob"], "KeyId": fleet.ids["rsa_enc"],
                                    "EncryptionAlgorithm": other})
        assert base64.b64decode(again["Plaintext"]) == plaintext


@SQLITE_ONLY
def test_rsa_plaintexts_of_every_length_around_the_oaep_limit(wire, fleet):
    # RSA_2048 OAEP: at most 256 - 2*20 - 2 = 214 bytes (SHA-1), 190 (SHA-256).
    for algorithm, limit in (("RSAES_OAEP_SHA_1", 214), ("RSAES_OAEP_SHA_256", 190)):
        for n in list(range(limit - 3, limit + 4)) + [0, 1, 256, 4096, 4097]:
            plaintext = marked(n)
            body = {"KeyId": fleet.ids["rsa_enc"], "Plaintext": b64(plaintext), "EncryptionAlgorithm": algorithm}
            response = wire.send("Encrypt", body, [plaintext])
            assert (response.status_code == 200) == (1 <= n <= limit), (algorithm, n, response.text[:300])
            if response.status_code != 200:
                assert response.json()["__type"] == "ValidationException"


@pytest.mark.parametrize("form", ["valid", "garbage"])
def test_key_id_in_every_form_for_every_operation(wire, fleet, form):
    # Every valid name of every key kind, and every garbage KeyId (NUL bytes, lone surrogates,
    # 2048/2049/100k characters, other regions and accounts...), on every operation.
    rnd = random.Random(f"keyids/{form}")
    garbage = key_id_pool(fleet, ())
    for op in OPERATIONS:
        member = {"ReEncrypt": "DestinationKeyId"}.get(op, "KeyId")
        base, _ = base_request(op, fleet, rnd)
        if form == "garbage":
            for key_id in garbage:
                response = wire.send(op, {**base, member: key_id})
                assert 400 <= response.status_code < 500, (op, key_id[:80], response.text[:300])
        else:
            for kind in kinds_for(op):
                for key_id in fleet.refs(kind):
                    wire.send(op, {**base, member: key_id})


def _import_body(fleet: Fleet, kind: str, **changes: Any) -> dict:
    token, encrypted, _, _ = fleet.imports[kind]
    body = {"KeyId": fleet.ids[kind], "ImportToken": b64(token), "EncryptedKeyMaterial": b64(encrypted),
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_import_key_material_hostile_tokens_and_material(wire, fleet):
    ids = fleet.ids
    secrets = list(fleet.materials.values())
    # tokens from other keys, garbled anywhere, truncated, extended, random
    for kind in sorted(fleet.imports):
        own = fleet.imports[kind][0]
        for token in token_variants(fleet):
            if token == own:
                continue
            wire.error("ImportKeyMaterial", _import_body(fleet, kind, ImportToken=b64(token)),
                       "InvalidImportTokenException", secrets)
    # a token for ext_pending (never imported) presented for every other key, and the reverse
    token, public = import_parameters(wire, ids["ext_pending"], "RSAES_OAEP_SHA_256")
    for kind in sorted(fleet.imports):
        wire.error("ImportKeyMaterial", _import_body(fleet, kind, ImportToken=b64(token)),
                   "InvalidImportTokenException", secrets)
    for kind in sorted(fleet.imports):
        wire.error("ImportKeyMaterial", _import_body(fleet, kind, KeyId=ids["ext_pending"]),
                   "InvalidImportTokenException", secrets)
    # EncryptedKeyMaterial: random bytes of every length around the 256-byte modulus, under
    # both plain OAEP and the hybrid AES key wrap, and ciphertexts that open to the wrong thing
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"):
        token, public = import_parameters(wire, ids["imp_sym"], algorithm)
        candidates = [os.urandom(n) for n in (1, 8, 128, 254, 255, 256, 257, 258, 263, 264, 271, 272, 280, 296,
                                               512, 6144)]
        hash_cls = hashes.SHA1 if algorithm.endswith("SHA_1") else hashes.SHA256
        other_hash = hashes.SHA256 if algorithm.endswith("SHA_1") else hashes.SHA1
        pub = serialization.load_der_public_key(public)
        oaep = padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)
        aes_key = os.urandom(32)
        candidates += [
            pub.encrypt(fleet.materials["imp_sym"], padding.OAEP(mgf=padding.MGF1(other_hash()),  # type: ignore[union-attr]  # an RSA key here
                                                                 algorithm=other_hash(), label=None)),
            pub.encrypt(aes_key, oaep) + os.urandom(40),  # type: ignore[union-attr]  # an RSA key here
            pub.encrypt(os.urandom(16), oaep)  # type: ignore[union-attr]  # an RSA key here
            + aes_key_wrap_with_padding(os.urandom(16), os.urandom(32)),
            pub.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(os.urandom(32), os.urandom(32)),  # type: ignore[union-attr]  # an RSA key here
            pub.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, os.urandom(32))[:-8],  # type: ignore[union-attr]  # an RSA key here
            wrap(fleet.imports["imp_hmac"][3], fleet.materials["imp_sym"], algorithm),  # another key's wrapping key
        ]
        for encrypted in candidates:
            wire.error("ImportKeyMaterial", _import_body(fleet, "imp_sym", ImportToken=b64(token),
                                                         EncryptedKeyMaterial=b64(encrypted)),
                       "InvalidCiphertextException", secrets)
        wire.error("ImportKeyMaterial", _import_body(fleet, "imp_sym", ImportToken=b64(token),
                                                     EncryptedKeyMaterial=b64(os.urandom(6145))), "ValidationException")
    # material that unwraps fine but is the wrong kind or size for the key
    wrong_material = {
        "imp_sym": [b"\x00", marked(16), marked(31), marked(33), marked(64), hostile().p256_material],
        "imp_hmac": [marked(31), marked(65), marked(128), hostile().p256_material],
        "imp_ec": list(hostile().wrong_private_keys.values()) + [marked(32)],
    }
    for kind, materials in wrong_material.items():
        for material in materials:
            token, public = import_parameters(wire, ids[kind], "RSA_AES_KEY_WRAP_SHA_256")
            wire.error("ImportKeyMaterial", _import_body(fleet, kind, ImportToken=b64(token),
                                                         EncryptedKeyMaterial=b64(wrap(public, material,
                                                                                       "RSA_AES_KEY_WRAP_SHA_256"))),
                       "IncorrectKeyMaterialException", secrets + [material])
    # none of that imported anything: the import targets take their own material afterwards
    for kind in ("imp_sym", "imp_hmac", "imp_ec"):
        state = wire.ok("DescribeKey", {"KeyId": ids[kind]})["KeyMetadata"]["KeyState"]
        assert state in ("PendingImport", "Enabled"), (kind, state)
        out = import_material(wire, ids[kind], fleet.materials[kind], "RSA_AES_KEY_WRAP_SHA_256")
        assert wire.ok("DescribeKey", {"KeyId": ids[kind]})["KeyMetadata"]["KeyState"] == "Enabled"
        assert out["KeyMaterialId"]
    message = marked(32)
    signed = wire.ok("Sign", {"KeyId": ids["imp_ec"], "Message": b64(message), "SigningAlgorithm": "ECDSA_SHA_256"})
    wire.ok("Verify", {"KeyId": ids["imp_ec"], "Message": b64(message), "Signature": signed["Signature"],
                       "SigningAlgorithm": "ECDSA_SHA_256"})
    # different material into a key that has some is refused, and changes nothing
    token, public = import_parameters(wire, ids["ext_imported"], "RSAES_OAEP_SHA_256")
    other = wrap(public, marked(32), "RSAES_OAEP_SHA_256")
    wire.error("ImportKeyMaterial", _import_body(fleet, "ext_imported", ImportToken=b64(token),
                                                 EncryptedKeyMaterial=b64(other)),
               "IncorrectKeyMaterialException", secrets)


def rsa_pkcs8_unchecked(p: int, q: int) -> bytes:
    """PKCS #8 of the RSA key with primes p and q, made without the library's key checks."""
    e = 65537
    assert math.gcd(e, p - 1) == 1 and math.gcd(e, q - 1) == 1
    d = pow(e, -1, (p - 1) * (q - 1) // math.gcd(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, p * q))
    return pkcs8(numbers.private_key(unsafe_skip_rsa_key_validation=True))


@SQLITE_ONLY
def test_import_rsa_material_slow_to_check_is_refused_quickly(wire, fleet):
    # Loading an RSA private key tests its primes, on the server's event loop.  Mersenne
    # primes cost an attacker nothing to write down and OpenSSL seconds to test: an
    # 8676-bit key (2**4253-1 and 2**4423-1) took ~6 s, and a 4096-bit key with one
    # 3217-bit prime ~1.3 s (a normal 4096-bit key: ~0.2 s).  Both must be refused
    # quickly, into keys of any asymmetric spec, and a normal key still imports.
    def refused(key_id: str, material: bytes) -> float:
        token, public = import_parameters(wire, key_id, "RSA_AES_KEY_WRAP_SHA_256")
        body = {"KeyId": key_id, "ImportToken": b64(token), "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
                "EncryptedKeyMaterial": b64(wrap(public, material, "RSA_AES_KEY_WRAP_SHA_256"))}
        started = time.monotonic()
        wire.error("ImportKeyMaterial", body, "IncorrectKeyMaterialException", [material])
        return time.monotonic() - started

    huge = rsa_pkcs8_unchecked(2 ** 4253 - 1, 2 ** 4423 - 1)
    small_prime = rsa.generate_private_key(public_exponent=65537, key_size=1758).private_numbers().p
    lopsided = rsa_pkcs8_unchecked(2 ** 3217 - 1, small_prime)
    assert serialization.load_der_private_key(lopsided, None, unsafe_skip_rsa_key_validation=True).key_size == 4096
    targets = {spec: _create(wire, spec, usage, "EXTERNAL")["KeyId"]
               for spec, usage in (("RSA_2048", "SIGN_VERIFY"), ("RSA_4096", "ENCRYPT_DECRYPT"),
                                   ("ECC_NIST_P256", "SIGN_VERIFY"))}
    for spec, key_id in targets.items():
        for material in (huge, lopsided):
            assert refused(key_id, material) < 1.0, (spec, len(material))
        assert wire.ok("DescribeKey", {"KeyId": key_id})["KeyMetadata"]["KeyState"] == "PendingImport"
    # the right size but not a consistent key: a wrong private exponent, a composite "prime"
    normal = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = normal.private_numbers()
    wrong_d = rsa.RSAPrivateNumbers(n.p, n.q, n.d + 2, n.dmp1, n.dmq1, n.iqmp, n.public_numbers)
    refused(targets["RSA_2048"], pkcs8(wrong_d.private_key(unsafe_skip_rsa_key_validation=True)))
    refused(targets["RSA_2048"], rsa_pkcs8_unchecked(n.p, n.p + 2 if n.p % 3 == 1 else n.p + 4))  # 3 divides q
    import_material(wire, targets["RSA_2048"], pkcs8(normal), "RSA_AES_KEY_WRAP_SHA_256")
    assert base64.b64decode(wire.ok("GetPublicKey", {"KeyId": targets["RSA_2048"]})["PublicKey"]) == spki(normal)


VALID_TO_CASES = [
    ("nan", b"NaN"), ("infinity", b"Infinity"), ("minus-infinity", b"-Infinity"), ("1e400", b"1e400"),
    ("minus-1e400", b"-1e400"), ("1e300", b"1e300"), ("minus-1e300", b"-1e300"), ("zero", b"0"),
    ("negative", b"-1"), ("past", b"1000000000"), ("2-pow-63", str(2 ** 63).encode()),
    ("2-pow-1023", str(2 ** 1023).encode()), ("tiny-fraction", b"5e-324"), ("year-10000", b"253402300800"),
    ("string", b"\"2030-01-01T00:00:00Z\""), ("numeric-string", b"\"1900000000\""), ("true", b"true"),
    ("list", b"[1]"), ("object", b"{}"),
]


@pytest.mark.parametrize("label, literal", VALID_TO_CASES, ids=[c[0] for c in VALID_TO_CASES])
def test_import_valid_to_extreme_values_are_refused(wire, fleet, server, label, literal):
    body = _import_body(fleet, "ext_imported", ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=0)
    raw = json.dumps(body).encode().replace(b'"ValidTo": 0', b'"ValidTo": ' + literal)
    assert literal in raw
    error = wire.error("ImportKeyMaterial", raw, sensitive=list(fleet.materials.values()))
    assert error["__type"] in ("ValidationException", "SerializationException"), error
    meta = wire.ok("DescribeKey", {"KeyId": fleet.ids["ext_imported"]})["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE", meta
    assert "ValidTo" not in meta, meta


@SQLITE_ONLY
def test_import_valid_to_integer_too_large_for_a_float(wire, fleet):
    """A timestamp member holding a JSON integer beyond any double (10**400) is a
    SerializationException, not an OverflowError."""
    body = _import_body(fleet, "ext_imported", ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=0)
    raw = json.dumps(body).encode().replace(b'"ValidTo": 0', b'"ValidTo": 1' + b"0" * 400)
    wire.error("ImportKeyMaterial", raw, "SerializationException")


def test_import_valid_to_within_a_year_is_accepted_and_restored(wire, fleet, server):
    # The boundary: a ValidTo in range is taken (same material, so nothing else changes) ...
    now = server.clock.now
    for valid_to, ok in ((now + 86_400, True), (now + 365 * 86_400 - 60, True), (now + 366 * 86_400, False),
                         (now - 1, False), (now, False)):
        response = wire.send("ImportKeyMaterial", _import_body(fleet, "ext_imported",
                                                               ExpirationModel="KEY_MATERIAL_EXPIRES",
                                                               ValidTo=valid_to))
        assert (response.status_code == 200) == ok, (valid_to - now, response.text[:300])
    # ... and restored to no expiry, so the integrity check finds the key as it was
    wire.ok("ImportKeyMaterial", _import_body(fleet, "ext_imported"))
    assert wire.ok("DescribeKey", {"KeyId": fleet.ids["ext_imported"]})["KeyMetadata"]["ExpirationModel"] == \
        "KEY_MATERIAL_DOES_NOT_EXPIRE"


def test_delete_imported_key_material_hostile_then_reimport_restores(wire, fleet):
    ids, victim = fleet.ids, fleet.ids["ext_victim"]
    restore_victim(wire, fleet)
    wrong_ids = ["0" * 64, "f" * 64, fleet.material_ids["ext_imported"], "A" * 64, "g" * 64, "0" * 63, "0" * 65,
                 "", "\u0000" * 64, fleet.material_ids["ext_victim"].upper()]
    for material_id in wrong_ids:
        wire.error("DeleteImportedKeyMaterial", {"KeyId": victim, "KeyMaterialId": material_id})
    for kind in ("sym", "rsa_sign", "hmac", "p256_agree"):
        wire.error("DeleteImportedKeyMaterial", {"KeyId": ids[kind]}, "UnsupportedOperationException")
    for kind in KEPT_IMPORTED:  # a KeyMaterialId that is not the key's deletes nothing
        wire.error("DeleteImportedKeyMaterial", {"KeyId": ids[kind], "KeyMaterialId": fleet.material_ids["ext_victim"]},
                   "NotFoundException")
    for alias_kind in ("ext_imported", "ext_pending"):
        wire.error("DeleteImportedKeyMaterial", {"KeyId": fleet.aliases[alias_kind]}, "NotFoundException")
    assert wire.ok("DescribeKey", {"KeyId": victim})["KeyMetadata"]["KeyState"] == "Enabled"
    # a real deletion: the key is PendingImport, its ciphertext can't be opened ...
    out = wire.ok("DeleteImportedKeyMaterial", {"KeyId": victim, "KeyMaterialId": fleet.material_ids["ext_victim"]})
    assert out["KeyMaterialId"] == fleet.material_ids["ext_victim"]
    plaintext, blob = fleet.victim_ciphertext
    wire.error("Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": {"purpose": "hostile"}},
               None, [plaintext])
    wire.send("DeleteImportedKeyMaterial", {"KeyId": victim})
    # ... and importing the same material again restores it, with the same material id
    out = import_material(wire, victim, fleet.materials["ext_victim"])
    assert out["KeyMaterialId"] == fleet.material_ids["ext_victim"]
    again = wire.ok("Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": {"purpose": "hostile"}})
    assert base64.b64decode(again["Plaintext"]) == plaintext


@SQLITE_ONLY
def test_errors_never_echo_messages_plaintexts_or_material(wire, fleet):
    # Distinctive markers in every secret-bearing member of requests that fail at each
    # stage (validation, key usage, algorithm, state, crypto): the answer must not carry them.
    ids, mark = fleet.ids, MARK * 200
    oaep1, oaep256 = "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"
    cases = [
        ("Sign", {"KeyId": ids["rsa_sign"], "Message": b64(mark[:4097]), "SigningAlgorithm": "RSASSA_PSS_SHA_256"}),
        ("Sign", {"KeyId": ids["rsa_sign"], "Message": b64(mark[:33]), "SigningAlgorithm": "RSASSA_PSS_SHA_256",
                  "MessageType": "DIGEST"}),
        ("Sign", {"KeyId": ids["hmac"], "Message": b64(mark[:40]), "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("Sign", {"KeyId": ids["ext_pending"], "Message": b64(mark[:40]), "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("Verify", {"KeyId": ids["p256_sign"], "Message": b64(mark[:40]), "Signature": b64(mark[:72]),
                    "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("GenerateMac", {"KeyId": ids["hmac"], "Message": b64(mark[:4097]), "MacAlgorithm": "HMAC_SHA_256"}),
        ("GenerateMac", {"KeyId": ids["hmac"], "Message": b64(mark[:40]), "MacAlgorithm": "HMAC_SHA_512"}),
        ("VerifyMac", {"KeyId": ids["hmac"], "Message": b64(mark[:40]), "Mac": b64(mark[:32]),
                       "MacAlgorithm": "HMAC_SHA_256"}),
        ("Encrypt", {"KeyId": ids["rsa_enc"], "Plaintext": b64(mark[:191]), "EncryptionAlgorithm": oaep256}),
        ("Encrypt", {"KeyId": ids["rsa_enc"], "Plaintext": b64(mark[:4097]), "EncryptionAlgorithm": oaep1}),
        ("Encrypt", {"KeyId": ids["rsa_sign"], "Plaintext": b64(mark[:40]), "EncryptionAlgorithm": oaep1}),
        ("Encrypt", {"KeyId": ids["ext_pending"], "Plaintext": b64(mark[:40])}),
        ("Decrypt", {"KeyId": ids["rsa_enc"], "CiphertextBlob": b64(mark[:256]), "EncryptionAlgorithm": oaep1}),
        ("DeriveSharedSecret", {"KeyId": ids["p256_agree"], "KeyAgreementAlgorithm": "ECDH",
                                "PublicKey": b64(mark[:91])}),
    ]
    for kind, material in (("imp_sym", mark[:31]), ("imp_hmac", mark[:200]), ("imp_ec", mark[:138])):
        token, public = import_parameters(wire, ids[kind], "RSA_AES_KEY_WRAP_SHA_256")
        cases.append(("ImportKeyMaterial", _import_body(fleet, kind, ImportToken=b64(token),
                                                        EncryptedKeyMaterial=b64(wrap(public, material,
                                                                                      "RSA_AES_KEY_WRAP_SHA_256")))))
    for op, body in cases:
        wire.error(op, body, None, [mark[:64]])
        text = wire.send(op, body).text
        assert MARK_TEXT not in text and "HOSTILE" not in text, (op, text[:300])


@SQLITE_ONLY
def test_server_still_answers_after_the_hostile_run(wire, fleet, kms):
    # A normal client, after everything above: nothing hangs, the pool and the keys work.
    assert len(kms.generate_random(NumberOfBytes=16)["Plaintext"]) == 16
    signed = kms.sign(KeyId=fleet.ids["p256_sign"], Message=b"after", SigningAlgorithm="ECDSA_SHA_256")
    assert kms.verify(KeyId=fleet.ids["p256_sign"], Message=b"after", Signature=signed["Signature"],
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


def test_nothing_stored_was_lost_or_altered(wire, fleet):
    # the `fleet` fixture checks this after every test; here it is the test itself, last
    check_intact(wire, fleet)
