"""boto3 API tests of the asymmetric, HMAC and key-agreement operations, happy paths and
semantics: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret,
GenerateDataKeyPair(WithoutPlaintext), and RSA OAEP Encrypt/Decrypt/ReEncrypt.

Every signature, ciphertext and shared secret the server produces is checked *outside*
the server, using only the public key GetPublicKey returns: with the `openssl` command
line, with `cryptography`, and for Ed25519ph (which OpenSSL 3.0's CLI can't do) with
pycryptodome.  The server's own code is never the oracle.

Error paths and key states: test_kms_asymmetric_errors.py; policies, conditions and
grants: test_kms_asymmetric_authz.py.
AWS behaviour: aws_api.md sections 3b, 4.2, 4.3; the Sign/Verify
MessageType documentation in botocore's kms service-2.json.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tests.api.test_no_secrets_at_rest import dedicated, quiet_client_logs  # noqa: F401 (fixtures)
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import error_of, key_arn

# --- the reference's table (aws_api.md §4.2), written out: the oracle, not the server's ---
RSA_SIGNING = ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
               "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"]
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
SIGNING_ALGORITHMS = {
    "RSA_2048": RSA_SIGNING, "RSA_3072": RSA_SIGNING, "RSA_4096": RSA_SIGNING,
    "ECC_NIST_P256": ["ECDSA_SHA_256"], "ECC_NIST_P384": ["ECDSA_SHA_384"], "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    "ML_DSA_44": ["ML_DSA_SHAKE_256"], "ML_DSA_65": ["ML_DSA_SHAKE_256"], "ML_DSA_87": ["ML_DSA_SHAKE_256"],
}
MAC_ALGORITHMS = {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256", "HMAC_384": "HMAC_SHA_384",
                  "HMAC_512": "HMAC_SHA_512"}
AGREEMENT_SPECS = ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"]
KEY_PAIR_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                  "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
#: (spec, usage) -> the one algorithm field KeyMetadata/GetPublicKey carry, and its value
ALGORITHM_FIELDS: dict[tuple[str, str], tuple[str, list]] = {}
for _spec, _algs in SIGNING_ALGORITHMS.items():
    ALGORITHM_FIELDS[(_spec, "SIGN_VERIFY")] = ("SigningAlgorithms", _algs)
for _bits in (2048, 3072, 4096):
    ALGORITHM_FIELDS[(f"RSA_{_bits}", "ENCRYPT_DECRYPT")] = ("EncryptionAlgorithms", RSA_ENCRYPTION)
for _spec in AGREEMENT_SPECS:
    ALGORITHM_FIELDS[(_spec, "KEY_AGREEMENT")] = ("KeyAgreementAlgorithms", ["ECDH"])
for _spec, _alg in MAC_ALGORITHMS.items():
    ALGORITHM_FIELDS[(_spec, "GENERATE_VERIFY_MAC")] = ("MacAlgorithms", [_alg])
ALGORITHM_FIELDS[("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")] = ("EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"])
ALL_ALGORITHM_FIELDS = {"SigningAlgorithms", "EncryptionAlgorithms", "KeyAgreementAlgorithms", "MacAlgorithms"}

#: RSAES-OAEP plaintext limits from the Encrypt API reference (bytes)
OAEP_LIMITS = {("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
               ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
               ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446}

_HASH_OF = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVE_OF = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1,
             "ECC_SECG_P256K1": ec.SECP256K1}

ML_DSA_SPECS = ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"]
try:  # ML-DSA needs a `cryptography` built on an OpenSSL that has it
    from cryptography.hazmat.primitives.asymmetric import mldsa  # noqa: F401
    HAVE_MLDSA = True
except ImportError:  # pragma: no cover - depends on the installed wheel
    HAVE_MLDSA = False
needs_mldsa = pytest.mark.skipif(not HAVE_MLDSA, reason="cryptography without ML-DSA")

#: run this test on the SQLite server only (the PostgreSQL run covers a representative subset)
SQLITE_ONLY = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def sign_cases() -> list:
    cases = []
    for spec, algorithms in SIGNING_ALGORITHMS.items():
        for algorithm in algorithms:
            marks = [needs_mldsa] if spec.startswith("ML_DSA") else []
            cases.append(pytest.param(spec, algorithm, marks=marks, id=f"{spec}-{algorithm}"))
    return cases


# --- shared keys: one per (server, spec, usage), never disabled or deleted ------------------
_SHARED: dict[tuple[str, str, str], str] = {}


def shared_key(server, spec: str, usage: str) -> str:
    """A key of this spec and usage on this server, made once per test session.  Tests that
    change a key's state make their own."""
    slot = (server.url, spec, usage)
    if slot not in _SHARED:
        meta = server.client("kms").create_key(KeySpec=spec, KeyUsage=usage, Description=f"shared {spec}")
        _SHARED[slot] = meta["KeyMetadata"]["KeyId"]
    return _SHARED[slot]


@pytest.fixture
def keys(server):
    return lambda spec, usage: shared_key(server, spec, usage)


def public_key_of(kms, key_id: str):
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    return der, serialization.load_der_public_key(der)


def hash_name(algorithm: str) -> str:
    return "sha" + algorithm.rsplit("_", 1)[1]


def digest_of(algorithm: str, message: bytes) -> bytes:
    return hashlib.new(hash_name(algorithm), message).digest()


# --- the openssl command line ---------------------------------------------------------------
class OpenSSL:
    """`openssl` verifications over files in a temporary directory; each returns whether
    the command line accepted the signature (exit status 0)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _file(self, data: bytes) -> str:
        path = self.dir / uuid.uuid4().hex
        path.write_bytes(data)
        return str(path)

    def _run(self, *args: str) -> bool:
        done = subprocess.run(["openssl", *args], capture_output=True, timeout=60)
        return done.returncode == 0

    @staticmethod
    def _rsa_opts(flag: str, algorithm: str, salt: str) -> list:
        if algorithm.startswith("RSASSA_PSS"):
            return [flag, "rsa_padding_mode:pss", flag, f"rsa_pss_saltlen:{salt}"]
        return []

    def dgst_verify(self, public_der: bytes, algorithm: str, message: bytes, signature: bytes,
                    salt: str = "digest") -> bool:
        """`openssl dgst -verify`: hashes the message itself."""
        return self._run("dgst", "-" + hash_name(algorithm), "-verify", self._file(public_der), "-keyform", "DER",
                         *self._rsa_opts("-sigopt", algorithm, salt), "-signature", self._file(signature),
                         self._file(message))

    def pkeyutl_verify_digest(self, public_der: bytes, algorithm: str, digest: bytes, signature: bytes,
                              salt: str = "digest") -> bool:
        """`openssl pkeyutl -verify` over a digest computed here."""
        return self._run("pkeyutl", "-verify", "-pubin", "-inkey", self._file(public_der), "-keyform", "DER",
                         "-in", self._file(digest), "-sigfile", self._file(signature),
                         "-pkeyopt", f"digest:{hash_name(algorithm)}", *self._rsa_opts("-pkeyopt", algorithm, salt))

    def ed25519_verify(self, public_der: bytes, message: bytes, signature: bytes) -> bool:
        return self._run("pkeyutl", "-verify", "-pubin", "-inkey", self._file(public_der), "-keyform", "DER",
                         "-rawin", "-in", self._file(message), "-sigfile", self._file(signature))

    def oaep_encrypt(self, public_der: bytes, algorithm: str, plaintext: bytes) -> bytes:
        digest = "sha1" if algorithm == "RSAES_OAEP_SHA_1" else "sha256"
        out = self.dir / uuid.uuid4().hex
        subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", self._file(public_der),
                        "-keyform", "DER", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{digest}",
                        "-pkeyopt", f"rsa_mgf1_md:{digest}", "-in", self._file(plaintext), "-out", str(out)],
                       check=True, capture_output=True, timeout=60)
        return out.read_bytes()


@pytest.fixture
def openssl(tmp_path) -> OpenSSL:
    return OpenSSL(tmp_path)


# --- verification with `cryptography` and pycryptodome --------------------------------------
def cryptography_verifies(public, algorithm: str, message: bytes, signature: bytes,
                          message_type: str = "RAW") -> bool:
    try:
        if algorithm == "ED25519_SHA_512":
            public.verify(signature, message)
        elif algorithm == "ML_DSA_SHAKE_256":
            public.verify(signature, message)
        else:
            chosen = _HASH_OF[algorithm.rsplit("_", 1)[1]]()
            algo = Prehashed(chosen) if message_type == "DIGEST" else chosen
            if algorithm.startswith("ECDSA"):
                public.verify(signature, message, ec.ECDSA(algo))
            elif algorithm.startswith("RSASSA_PSS"):
                public.verify(signature, message, padding.PSS(padding.MGF1(chosen), chosen.digest_size), algo)
            else:
                public.verify(signature, message, padding.PKCS1v15(), algo)
    except InvalidSignature:
        return False
    return True


def ed25519ph_verifies(public_der: bytes, kms_message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519ph with pycryptodome.  AWS: for ED25519_PH_SHA_512 with MessageType
    DIGEST, "KMS still performs the SHA-512 prehash ... the input is hashed twice" (Sign API
    reference, MessageType), so the message RFC 8032 signs is the 64 bytes sent to KMS."""
    from Crypto.Hash import SHA512
    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa

    verifier = eddsa.new(ECC.import_key(public_der), "rfc8032")
    try:
        verifier.verify(SHA512.new(kms_message), signature)
    except ValueError:
        return False
    return True


def pss_salt_length(public: rsa.RSAPublicKey, signature: bytes, algorithm: str) -> int:
    """The salt length inside an RSASSA-PSS signature, recovered with RFC 8017 §9.1.2
    arithmetic (EMSA-PSS-VERIFY steps 4-10), independent of any PSS implementation."""
    numbers = public.public_numbers()
    mod_bits = public.key_size
    em_len = math.ceil((mod_bits - 1) / 8)
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    name = hash_name(algorithm)
    h_len = hashlib.new(name).digest_size
    assert em[-1] == 0xBC
    masked_db, h = em[:em_len - h_len - 1], em[em_len - h_len - 1:-1]
    mask = b""
    counter = 0
    while len(mask) < len(masked_db):  # MGF1 with the same hash
        mask += hashlib.new(name, h + counter.to_bytes(4, "big")).digest()
        counter += 1
    db = bytearray(a ^ b for a, b in zip(masked_db, mask))
    db[0] &= 0xFF >> (8 * em_len - (mod_bits - 1))
    separator = db.index(1)
    assert not any(db[:separator])
    return len(db) - separator - 1


def ml_dsa_mu(public_raw: bytes, message: bytes) -> bytes:
    """FIPS 204 §6.2 / Algorithm 7 step 6: mu = H(tr || M'), tr = H(pk), M' = 0 || 0 || M
    (pure ML-DSA, empty context), H = SHAKE256 with 64-byte output."""
    tr = hashlib.shake_256(public_raw).digest(64)
    return hashlib.shake_256(tr + b"\x00\x00" + message).digest(64)


# === Sign / Verify ===========================================================================
def _check_outside(openssl, spec: str, algorithm: str, public_der: bytes, public,
                   message: bytes, signature: bytes) -> None:
    """The RAW-message signature verifies outside the server, and not for another message."""
    other = message + b"!"
    if algorithm == "ED25519_SHA_512":
        assert openssl.ed25519_verify(public_der, message, signature)
        assert not openssl.ed25519_verify(public_der, other, signature)
    elif algorithm != "ML_DSA_SHAKE_256":
        assert openssl.dgst_verify(public_der, algorithm, message, signature)
        assert not openssl.dgst_verify(public_der, algorithm, other, signature)
        assert openssl.pkeyutl_verify_digest(public_der, algorithm, digest_of(algorithm, message), signature)
    assert cryptography_verifies(public, algorithm, message, signature)
    assert not cryptography_verifies(public, algorithm, other, signature)


def _sign_and_check(kms, openssl, key_id: str, spec: str, algorithm: str) -> None:
    public_der, public = public_key_of(kms, key_id)
    message = b"pay 100 to alice " + os.urandom(24)
    if algorithm == "ED25519_PH_SHA_512":
        digest = hashlib.sha512(message).digest()
        out = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
        assert out["KeyId"] == key_arn(key_id) and out["SigningAlgorithm"] == algorithm
        signature = out["Signature"]
        assert len(signature) == 64
        assert ed25519ph_verifies(public_der, digest, signature)
        assert not ed25519ph_verifies(public_der, hashlib.sha512(message + b"!").digest(), signature)
        # a different scheme: neither a pure Ed25519 signature of the digest nor of the message
        assert not cryptography_verifies(public, "ED25519_SHA_512", digest, signature)
        assert not cryptography_verifies(public, "ED25519_SHA_512", message, signature)
        assert kms.verify(KeyId=key_id, Message=digest, MessageType="DIGEST", Signature=signature,
                          SigningAlgorithm=algorithm)["SignatureValid"] is True
        return

    out = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)  # MessageType RAW by default
    assert out["KeyId"] == key_arn(key_id) and out["SigningAlgorithm"] == algorithm
    signature = out["Signature"]
    _check_outside(openssl, spec, algorithm, public_der, public, message, signature)
    verified = kms.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=signature,
                          SigningAlgorithm=algorithm)
    assert verified == {**verified, "KeyId": key_arn(key_id), "SignatureValid": True, "SigningAlgorithm": algorithm}

    if spec.startswith("RSA"):
        assert len(signature) == int(spec.split("_")[1]) // 8
    if algorithm.startswith("ECDSA"):  # DER SEQUENCE { r, s }
        assert signature[0] == 0x30
    if algorithm.startswith("ML_DSA") or algorithm.startswith("ED25519"):
        return

    # DIGEST: the caller hashed; the signature is over the same hash as RAW's
    digest = digest_of(algorithm, message)
    digest_signature = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                                SigningAlgorithm=algorithm)["Signature"]
    assert openssl.pkeyutl_verify_digest(public_der, algorithm, digest, digest_signature)
    assert openssl.dgst_verify(public_der, algorithm, message, digest_signature)
    assert cryptography_verifies(public, algorithm, digest, digest_signature, "DIGEST")
    # the message type need not match between Sign and Verify, only the hashing
    assert kms.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=digest_signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True
    assert kms.verify(KeyId=key_id, Message=digest, MessageType="DIGEST", Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True
    # a digest signed as RAW is hashed again: a different signature
    twice = kms.sign(KeyId=key_id, Message=digest, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]
    assert not openssl.pkeyutl_verify_digest(public_der, algorithm, digest, twice)
    assert openssl.dgst_verify(public_der, algorithm, digest, twice)

    if algorithm.startswith("RSASSA_PSS"):
        h_len = hashlib.new(hash_name(algorithm)).digest_size
        # salt length = hash length, read out of the signature itself ...
        assert pss_salt_length(public, signature, algorithm) == h_len
        assert pss_salt_length(public, digest_signature, algorithm) == h_len
        # ... so verifiers that insist on another explicit salt length refuse it
        for wrong in (h_len - 1, h_len + 1, 20 if h_len != 20 else 32):
            assert not openssl.dgst_verify(public_der, algorithm, message, signature, salt=str(wrong))
            chosen = _HASH_OF[algorithm.rsplit("_", 1)[1]]()
            with pytest.raises(InvalidSignature):
                public.verify(signature, message, padding.PSS(padding.MGF1(chosen), wrong), chosen)
        # and the salt is random: two signatures of one message differ
        again = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
        assert again != signature


@SQLITE_ONLY
@pytest.mark.parametrize("spec,algorithm", sign_cases())
def test_sign_every_spec_and_algorithm_verifies_outside(kms, keys, openssl, spec, algorithm):
    _sign_and_check(kms, openssl, keys(spec, "SIGN_VERIFY"), spec, algorithm)


@pytest.mark.parametrize("spec,algorithm", [("RSA_2048", "RSASSA_PSS_SHA_256"),
                                            ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
                                            ("ECC_NIST_P384", "ECDSA_SHA_384"),
                                            ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
                                            ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
                                            ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512")])
def test_sign_representative_specs_verify_outside_on_each_database(kms, keys, openssl, spec, algorithm):
    _sign_and_check(kms, openssl, keys(spec, "SIGN_VERIFY"), spec, algorithm)


def test_sign_rsa_pkcs1_is_deterministic_and_ecdsa_is_not(kms, keys):
    rsa_key, ec_key = keys("RSA_2048", "SIGN_VERIFY"), keys("ECC_NIST_P256", "SIGN_VERIFY")
    message = os.urandom(32)

    def sig(key_id: str, algorithm: str) -> bytes:
        return kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]

    assert sig(rsa_key, "RSASSA_PKCS1_V1_5_SHA_256") == sig(rsa_key, "RSASSA_PKCS1_V1_5_SHA_256")
    assert sig(ec_key, "ECDSA_SHA_256") != sig(ec_key, "ECDSA_SHA_256")


@needs_mldsa
@pytest.mark.parametrize("spec", ML_DSA_SPECS)
def test_sign_ml_dsa_external_mu_is_pure_ml_dsa_of_the_message(kms, keys, spec):
    key_id = keys(spec, "SIGN_VERIFY")
    _, public = public_key_of(kms, key_id)
    message = b"ml-dsa " + os.urandom(40)
    mu = ml_dsa_mu(public.public_bytes_raw(), message)
    signature = kms.sign(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU",
                         SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    # a signature over mu is the pure ML-DSA (empty context) signature of the message
    public.verify(signature, message)
    assert kms.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=signature,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    raw = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert kms.verify(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", Signature=raw,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        kms.verify(KeyId=key_id, Message=ml_dsa_mu(public.public_bytes_raw(), message + b"!"),
                   MessageType="EXTERNAL_MU", Signature=raw, SigningAlgorithm="ML_DSA_SHAKE_256")


@pytest.mark.parametrize("form", ["arn", "alias", "alias_arn"])
def test_sign_and_verify_accept_every_key_reference(kms, keys, form):
    key_id = keys("ECC_NIST_P256", "SIGN_VERIFY")
    alias = f"alias/asym-{uuid.uuid4().hex[:12]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    ref = {"arn": key_arn(key_id), "alias": alias, "alias_arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{alias}"}[form]
    out = kms.sign(KeyId=ref, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert out["KeyId"] == key_arn(key_id)
    assert kms.verify(KeyId=ref, Message=b"m", Signature=out["Signature"],
                      SigningAlgorithm="ECDSA_SHA_256")["KeyId"] == key_arn(key_id)
    assert kms.get_public_key(KeyId=ref)["KeyId"] == key_arn(key_id)


def test_sign_message_of_4096_bytes_accepted(kms, keys, openssl):
    key_id = keys("ECC_NIST_P256", "SIGN_VERIFY")
    der, _ = public_key_of(kms, key_id)
    message = os.urandom(4096)
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert openssl.dgst_verify(der, "ECDSA_SHA_256", message, signature)


# --- Verify never answers "false" ---------------------------------------------------------------
def _flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("spec,algorithm,message_type", [
    ("RSA_2048", "RSASSA_PSS_SHA_256", "RAW"), ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", "RAW"),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "RAW"), ("ECC_NIST_P521", "ECDSA_SHA_512", "DIGEST"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", "RAW"), ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", "DIGEST"),
    pytest.param("ML_DSA_44", "ML_DSA_SHAKE_256", "RAW", marks=needs_mldsa)])
def test_verify_bad_signature_raises_invalid_signature(kms, keys, spec, algorithm, message_type):
    key_id = keys(spec, "SIGN_VERIFY")
    message = os.urandom(64) if message_type == "DIGEST" else b"the message"
    signature = kms.sign(KeyId=key_id, Message=message, MessageType=message_type,
                         SigningAlgorithm=algorithm)["Signature"]
    other_key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"] \
        if not spec.startswith("RSA") else keys("RSA_3072", "SIGN_VERIFY")
    other_message = _flip(message, 0)
    cases = [
        (key_id, message, _flip(signature, len(signature) // 2)),   # tampered signature
        (key_id, message, _flip(signature, len(signature) - 1)),
        (key_id, other_message, signature),                          # another message
        (key_id, message, signature[:-1]),                           # truncated
        (key_id, message, b"\x00"),                                  # garbage
        (other_key, message, signature),                             # another key
    ]
    for verifying_key, verified_message, candidate in cases:
        code, text = error_of(kms.verify, KeyId=verifying_key, Message=verified_message,
                              MessageType=message_type, Signature=candidate, SigningAlgorithm=algorithm)
        assert code == "KMSInvalidSignatureException"
        assert text == ""  # AWS sends no message (aws_api.md §4.14)
    assert kms.verify(KeyId=key_id, Message=message, MessageType=message_type, Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True


def test_verify_rsa_signature_of_other_algorithm_invalid(kms, keys):
    key_id = keys("RSA_2048", "SIGN_VERIFY")
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    for algorithm in ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_384"):
        with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
            kms.verify(KeyId=key_id, Message=b"m", Signature=signature, SigningAlgorithm=algorithm)


# === GetPublicKey, CreateKey and DescribeKey metadata ============================================
def metadata_cases() -> list:
    cases = []
    for (spec, usage) in ALGORITHM_FIELDS:
        marks = [needs_mldsa] if spec.startswith("ML_DSA") else []
        cases.append(pytest.param(spec, usage, marks=marks, id=f"{spec}-{usage}"))
    return cases


def _public_key_matches_spec(public, spec: str) -> None:
    if spec.startswith("RSA"):
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == int(spec.split("_")[1])
        assert public.public_numbers().e == 65537
    elif spec in _CURVE_OF:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, _CURVE_OF[spec])
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
    else:
        assert type(public).__name__.startswith("MLDSA" + spec.rsplit("_", 1)[1])


@SQLITE_ONLY
@pytest.mark.parametrize("spec,usage", metadata_cases())
def test_create_describe_get_public_key_report_spec_usage_and_algorithms(kms, spec, usage):
    field, algorithms = ALGORITHM_FIELDS[(spec, usage)]
    created = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    described = kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
    for meta in (created, described):
        assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == spec
        assert meta["KeyUsage"] == usage
        assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
        assert meta["Origin"] == "AWS_KMS"
        assert meta[field] == algorithms
        assert not (ALL_ALGORITHM_FIELDS - {field}) & set(meta), meta
    if spec.startswith("HMAC") or spec == "SYMMETRIC_DEFAULT":
        code, message = error_of(kms.get_public_key, KeyId=created["KeyId"])
        assert code == "UnsupportedOperationException"  # aws_api.md §4.2 [?]: symmetric/HMAC keys have none
        assert message.startswith(created["Arn"])
        return
    out = kms.get_public_key(KeyId=created["KeyId"])
    assert out["KeyId"] == created["Arn"]
    assert out["KeySpec"] == out["CustomerMasterKeySpec"] == spec
    assert out["KeyUsage"] == usage
    assert out[field] == algorithms
    assert not (ALL_ALGORITHM_FIELDS - {field}) & set(out), out
    public = serialization.load_der_public_key(out["PublicKey"])
    # DER SubjectPublicKeyInfo, exactly as re-encoded
    assert public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
    _public_key_matches_spec(public, spec)
    # stable: the same key every time
    assert kms.get_public_key(KeyId=created["KeyId"])["PublicKey"] == out["PublicKey"]


def test_get_public_key_differs_between_keys(kms, keys):
    a = kms.get_public_key(KeyId=keys("ECC_NIST_P256", "SIGN_VERIFY"))["PublicKey"]
    b = kms.get_public_key(KeyId=keys("ECC_NIST_P256", "KEY_AGREEMENT"))["PublicKey"]
    assert a != b


# === GenerateMac / VerifyMac ======================================================================
@pytest.mark.parametrize("spec", list(MAC_ALGORITHMS))
def test_generate_mac_deterministic_and_verify_mac_accepts_it(kms, keys, spec):
    key_id, algorithm = keys(spec, "GENERATE_VERIFY_MAC"), MAC_ALGORITHMS[spec]
    message = b"mac me " + os.urandom(16)
    out = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)
    assert out["KeyId"] == key_arn(key_id) and out["MacAlgorithm"] == algorithm
    mac = out["Mac"]
    assert len(mac) == int(spec.split("_")[1]) // 8
    assert kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)["Mac"] == mac
    assert kms.generate_mac(KeyId=key_id, Message=message + b"!", MacAlgorithm=algorithm)["Mac"] != mac
    # not an HMAC under a guessable key (the key is random and secret)
    hash_fn = "sha" + spec.split("_")[1]
    assert mac not in {hmac.digest(k, message, hash_fn) for k in (b"", b"\x00" * 32, key_id.encode())}
    verified = kms.verify_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm, Mac=mac)
    assert verified == {**verified, "KeyId": key_arn(key_id), "MacValid": True, "MacAlgorithm": algorithm}


def test_generate_mac_differs_between_keys_of_one_spec(kms):
    a = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    b = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac_a = kms.generate_mac(KeyId=a, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    mac_b = kms.generate_mac(KeyId=b, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac_a != mac_b
    with pytest.raises(kms.exceptions.KMSInvalidMacException):
        kms.verify_mac(KeyId=b, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac_a)


def test_verify_mac_bad_mac_raises_invalid_mac(kms, keys):
    key_id = keys("HMAC_384", "GENERATE_VERIFY_MAC")
    mac = kms.generate_mac(KeyId=key_id, Message=b"msg", MacAlgorithm="HMAC_SHA_384")["Mac"]
    for message, candidate in ((b"msg", _flip(mac, 0)), (b"msg", _flip(mac, 47)), (b"msg", mac[:-1]),
                               (b"msg", mac + b"\x00"), (b"msh", mac), (b"msg", b"\x01")):
        code, text = error_of(kms.verify_mac, KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_384",
                              Mac=candidate)
        assert code == "KMSInvalidMacException"
        assert text == ""


# === RSA OAEP Encrypt / Decrypt / ReEncrypt =======================================================
def _oaep(algorithm: str):
    chosen = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(chosen), algorithm=chosen, label=None)


def oaep_cases(sqlite_only: bool) -> list:
    cases = []
    for (spec, algorithm) in OAEP_LIMITS:
        representative = spec == "RSA_2048"
        if sqlite_only != representative:
            cases.append(pytest.param(spec, algorithm, id=f"{spec}-{algorithm}"))
    return cases


def _rsa_round_trips(kms, openssl, key_id: str, spec: str, algorithm: str) -> None:
    der, public = public_key_of(kms, key_id)
    limit = OAEP_LIMITS[(spec, algorithm)]
    k = int(spec.split("_")[1]) // 8
    for size in (1, limit):
        plaintext = os.urandom(size)
        # encrypted outside: with the openssl command line and with `cryptography`
        for blob in (openssl.oaep_encrypt(der, algorithm, plaintext), public.encrypt(plaintext, _oaep(algorithm))):
            assert len(blob) == k
            out = kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm=algorithm)
            assert out["Plaintext"] == plaintext
            assert out["KeyId"] == key_arn(key_id) and out["EncryptionAlgorithm"] == algorithm
        # encrypted by the server: plain RSAES-OAEP of the modulus size, randomized
        enc = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
        assert enc["KeyId"] == key_arn(key_id) and enc["EncryptionAlgorithm"] == algorithm
        assert len(enc["CiphertextBlob"]) == k
        again = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)["CiphertextBlob"]
        assert again != enc["CiphertextBlob"]
        for blob in (enc["CiphertextBlob"], again):
            assert kms.decrypt(CiphertextBlob=blob, KeyId=key_id,
                               EncryptionAlgorithm=algorithm)["Plaintext"] == plaintext
    # one byte over the limit: refused by the server; the limit is OAEP's own (k - 2hLen - 2)
    code, message = error_of(kms.encrypt, KeyId=key_id, Plaintext=os.urandom(limit + 1),
                             EncryptionAlgorithm=algorithm)
    assert code == "ValidationException"
    # aws_api.md §4.14 (AWS-validated emulators)
    assert message == (f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than "
                       f"{limit} bytes.")
    with pytest.raises(ValueError):
        public.encrypt(os.urandom(limit + 1), _oaep(algorithm))


@SQLITE_ONLY
@pytest.mark.parametrize("spec,algorithm", oaep_cases(sqlite_only=True))
def test_rsa_oaep_encrypted_outside_decrypts_inside_larger_keys(kms, keys, openssl, spec, algorithm):
    _rsa_round_trips(kms, openssl, keys(spec, "ENCRYPT_DECRYPT"), spec, algorithm)


@pytest.mark.parametrize("spec,algorithm", oaep_cases(sqlite_only=False))
def test_rsa_oaep_encrypted_outside_decrypts_inside(kms, keys, openssl, spec, algorithm):
    _rsa_round_trips(kms, openssl, keys(spec, "ENCRYPT_DECRYPT"), spec, algorithm)


def test_rsa_decrypt_wrong_algorithm_or_key_invalid_ciphertext(kms, keys):
    key_id = keys("RSA_2048", "ENCRYPT_DECRYPT")
    other = keys("RSA_3072", "ENCRYPT_DECRYPT")
    _, public = public_key_of(kms, key_id)
    blob = public.encrypt(b"secret", _oaep("RSAES_OAEP_SHA_256"))
    for kwargs in ({"KeyId": key_id, "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"},
                   {"KeyId": other, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
                   {"KeyId": key_id, "EncryptionAlgorithm": "RSAES_OAEP_SHA_256", "CiphertextBlob": _flip(blob, 9)}):
        code, _ = error_of(kms.decrypt, **{"CiphertextBlob": blob, **kwargs})
        assert code == "InvalidCiphertextException"


def test_rsa_decrypt_without_key_id_fails(kms, keys):
    # RSA ciphertext carries no key id: AWS needs KeyId (and EncryptionAlgorithm)
    key_id = keys("RSA_2048", "ENCRYPT_DECRYPT")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert code == "InvalidCiphertextException"
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob)
    assert code == "InvalidCiphertextException"


def test_rsa_decrypt_without_algorithm_invalid_key_usage(kms, keys):
    key_id = keys("RSA_2048", "ENCRYPT_DECRYPT")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    code, message = error_of(kms.decrypt, CiphertextBlob=blob, KeyId=key_id)
    assert code == "InvalidKeyUsageException"
    assert message == "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."


def test_re_encrypt_between_rsa_and_symmetric_keys(kms, keys, key_id):
    rsa_key = keys("RSA_2048", "ENCRYPT_DECRYPT")
    other_rsa = keys("RSA_4096", "ENCRYPT_DECRYPT")
    _, public = public_key_of(kms, rsa_key)
    blob = public.encrypt(b"move me", _oaep("RSAES_OAEP_SHA_1"))
    # RSA -> symmetric
    out = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=rsa_key, SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                         DestinationKeyId=key_id, DestinationEncryptionContext={"k": "v"})
    assert out["SourceKeyId"] == key_arn(rsa_key) and out["KeyId"] == key_arn(key_id)
    assert out["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_1"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == b"move me"
    # symmetric -> RSA (another size)
    back = kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], SourceEncryptionContext={"k": "v"},
                          DestinationKeyId=other_rsa, DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert back["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert len(back["CiphertextBlob"]) == 512
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"], KeyId=other_rsa,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"move me"


# === GenerateDataKeyPair / GenerateDataKeyPairWithoutPlaintext =====================================
def _check_pair(spec: str, public_der: bytes, private_der: bytes) -> None:
    public = serialization.load_der_public_key(public_der)
    private = serialization.load_der_private_key(private_der, password=None)  # PKCS#8 DER
    assert private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()) == private_der
    assert public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo) == public_der
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == public_der
    _public_key_matches_spec(public, spec)
    message = b"signed with a data key pair"
    if spec.startswith("RSA"):
        signature = private.sign(message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        public.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        assert private.decrypt(public.encrypt(b"x", _oaep("RSAES_OAEP_SHA_256")), _oaep("RSAES_OAEP_SHA_256")) == b"x"
    elif spec == "ECC_NIST_EDWARDS25519":
        public.verify(private.sign(message), message)
    else:
        public.verify(private.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256()))
        peer = ec.generate_private_key(_CURVE_OF[spec]())
        assert private.exchange(ec.ECDH(), peer.public_key()) == peer.exchange(ec.ECDH(), public)


def pair_cases(sqlite_only: bool) -> list:
    representative = {"RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519"}
    return [s for s in KEY_PAIR_SPECS if (s in representative) != sqlite_only]


def _data_key_pairs(kms, key_id: str, spec: str) -> None:
    context = {"purpose": "data-key-pair", "spec": spec}
    out = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
    assert out["KeyId"] == key_arn(key_id) and out["KeyPairSpec"] == spec
    assert out["KeyMaterialId"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    _check_pair(spec, out["PublicKey"], out["PrivateKeyPlaintext"])
    # the ciphertext blob is a symmetric KMS ciphertext of the PKCS#8 bytes, under this context
    dec = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert dec["Plaintext"] == out["PrivateKeyPlaintext"] and dec["KeyId"] == key_arn(key_id)
    for wrong in (None, {"purpose": "data-key-pair"}, {**context, "spec": "other"}):
        kwargs = {} if wrong is None else {"EncryptionContext": wrong}
        code, _ = error_of(kms.decrypt, CiphertextBlob=out["PrivateKeyCiphertextBlob"], **kwargs)
        assert code == "InvalidCiphertextException"

    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
    assert "PrivateKeyPlaintext" not in bare
    assert bare["KeyId"] == key_arn(key_id) and bare["KeyPairSpec"] == spec
    assert bare["PublicKey"] != out["PublicKey"]  # a fresh pair per call
    private = kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"], EncryptionContext=context)["Plaintext"]
    _check_pair(spec, bare["PublicKey"], private)


@SQLITE_ONLY
@pytest.mark.parametrize("spec", pair_cases(sqlite_only=True))
def test_generate_data_key_pair_every_other_spec(kms, key_id, spec):
    _data_key_pairs(kms, key_id, spec)


@pytest.mark.parametrize("spec", pair_cases(sqlite_only=False))
def test_generate_data_key_pair_representative_specs(kms, key_id, spec):
    _data_key_pairs(kms, key_id, spec)


def test_generate_data_key_pair_without_context_decrypts_without_context(kms, key_id):
    out = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    assert kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"] == out["PrivateKeyPlaintext"]
    code, _ = error_of(kms.decrypt, CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"a": "b"})
    assert code == "InvalidCiphertextException"


# === DeriveSharedSecret ============================================================================
@pytest.mark.parametrize("spec", AGREEMENT_SPECS)
def test_derive_shared_secret_is_raw_ecdh(kms, keys, spec):
    key_id = keys(spec, "KEY_AGREEMENT")
    _, kms_public = public_key_of(kms, key_id)
    peer = ec.generate_private_key(_CURVE_OF[spec]())
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    assert out["KeyId"] == key_arn(key_id)
    assert out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS"
    # the peer computes the same raw secret (no KDF) from the KMS key's public half
    expected = peer.exchange(ec.ECDH(), kms_public)
    assert out["SharedSecret"] == expected
    assert len(expected) == math.ceil(_CURVE_OF[spec].key_size / 8)
    # ... and with the openssl command line
    assert out["SharedSecret"] == _openssl_derive(peer, kms_public)


def _openssl_derive(peer, kms_public) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        mine, theirs, out = Path(d, "mine.der"), Path(d, "theirs.der"), Path(d, "out")
        mine.write_bytes(peer.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        theirs.write_bytes(kms_public.public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
        subprocess.run(["openssl", "pkeyutl", "-derive", "-inkey", str(mine), "-keyform", "DER",
                        "-peerkey", str(theirs), "-peerform", "DER", "-out", str(out)],
                       check=True, capture_output=True, timeout=60)
        return out.read_bytes()


def test_derive_shared_secret_two_kms_keys_agree(kms, keys):
    a = keys("ECC_NIST_P384", "KEY_AGREEMENT")
    b = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    secret_ab = kms.derive_shared_secret(KeyId=a, KeyAgreementAlgorithm="ECDH",
                                         PublicKey=kms.get_public_key(KeyId=b)["PublicKey"])["SharedSecret"]
    secret_ba = kms.derive_shared_secret(KeyId=b, KeyAgreementAlgorithm="ECDH",
                                         PublicKey=kms.get_public_key(KeyId=a)["PublicKey"])["SharedSecret"]
    assert secret_ab == secret_ba and len(secret_ab) == 48


# === rotation ======================================================================================
@pytest.mark.parametrize("spec,usage", [("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "SIGN_VERIFY"),
                                        ("ECC_NIST_P256", "KEY_AGREEMENT"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                                        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")])
def test_rotation_refused_for_asymmetric_and_hmac_keys(kms, keys, spec, usage):
    key_id = keys(spec, usage)
    before = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
        code, message = error_of(call, KeyId=key_id)
        assert code == "UnsupportedOperationException"
        assert message.startswith(key_arn(key_id))
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == before
    code, _ = error_of(kms.list_key_rotations, KeyId=key_id)
    assert code == "UnsupportedOperationException"


# === no secret at rest or in the log ===============================================================
def _secret_forms(name: str, private_der: bytes) -> dict[str, bytes]:
    """A private key as the secrets that would betray it: its PKCS#8 DER, the raw private
    value (scalar, seed, RSA prime) and every line of its PEM."""
    private = serialization.load_der_private_key(private_der, password=None)
    out = {f"{name}-pkcs8": private_der}
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        out[f"{name}-p"] = numbers.p.to_bytes((numbers.p.bit_length() + 7) // 8, "big")
        out[f"{name}-d"] = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        value = private.private_numbers().private_value
        out[f"{name}-scalar"] = value.to_bytes((private.curve.key_size + 7) // 8, "big")
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        out[f"{name}-seed"] = private.private_bytes_raw()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).splitlines()
    for i, line in enumerate(pem[1:-2]):  # full 64-character lines: exact substrings of any PEM copy
        out[f"{name}-pem-line-{i}"] = base64.b64decode(line)
    return out


def test_asymmetric_and_hmac_secrets_never_at_rest_or_logged(dedicated):
    from tests.api import test_no_secrets_at_rest as at_rest
    from kms_core.crypto.root import load_root_key
    from kms_core.storage.tables import material_row_identity

    live, stop, log_file, pg = dedicated
    kms = live.client("kms")
    made = {name: kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"] for name, spec, usage in (
        ("rsa-sign", "RSA_2048", "SIGN_VERIFY"), ("rsa-encrypt", "RSA_2048", "ENCRYPT_DECRYPT"),
        ("ec-sign", "ECC_NIST_P256", "SIGN_VERIFY"), ("ec-agree", "ECC_NIST_P384", "KEY_AGREEMENT"),
        ("ed25519", "ECC_NIST_EDWARDS25519", "SIGN_VERIFY"), ("hmac", "HMAC_256", "GENERATE_VERIFY_MAC"),
        ("symmetric", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"))}
    secrets: dict[str, bytes] = {}

    # use every key, including requests that fail
    for name, algorithm in (("rsa-sign", "RSASSA_PSS_SHA_256"), ("ec-sign", "ECDSA_SHA_256"),
                            ("ed25519", "ED25519_SHA_512")):
        sig = kms.sign(KeyId=made[name], Message=b"m", SigningAlgorithm=algorithm)["Signature"]
        kms.verify(KeyId=made[name], Message=b"m", Signature=sig, SigningAlgorithm=algorithm)
        with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
            kms.verify(KeyId=made[name], Message=b"n", Signature=sig, SigningAlgorithm=algorithm)
    kms.sign(KeyId=made["ed25519"], Message=os.urandom(64), MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    rsa_plaintext = os.urandom(100)
    secrets["rsa-plaintext"] = rsa_plaintext
    blob = kms.encrypt(KeyId=made["rsa-encrypt"], Plaintext=rsa_plaintext,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=made["rsa-encrypt"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == rsa_plaintext
    with pytest.raises((ClientError, ParamValidationError)):  # refused by botocore or by us
        kms.encrypt(KeyId=made["rsa-encrypt"], Plaintext=rsa_plaintext * 3, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    mac_message = b"mac " + os.urandom(8)
    mac = kms.generate_mac(KeyId=made["hmac"], Message=mac_message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    peer = ec.generate_private_key(ec.SECP384R1())
    shared = kms.derive_shared_secret(
        KeyId=made["ec-agree"], KeyAgreementAlgorithm="ECDH",
        PublicKey=peer.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))["SharedSecret"]
    secrets["shared-secret"] = shared
    for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519", "ECC_SECG_P256K1"):
        pair = kms.generate_data_key_pair(KeyId=made["symmetric"], KeyPairSpec=spec, EncryptionContext={"s": spec})
        secrets.update(_secret_forms(f"data-key-pair-{spec}", pair["PrivateKeyPlaintext"]))
        bare = kms.generate_data_key_pair_without_plaintext(KeyId=made["symmetric"], KeyPairSpec=spec)
        secrets.update(_secret_forms(f"data-key-pair-bare-{spec}",
                                     kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"]))

    # the key materials, unwrapped here with the root key; each is what the API says it is
    rows = at_rest.rows_of(live, pg)
    root = load_root_key(live.data_dir, environ={})
    by_key = {}
    for table, row in rows:
        if table == "kms_key_material":
            material = root.unwrap(at_rest.as_bytes(row["material_wrapped"]),
                                   material_row_identity(str(row["key_id"]), str(row["material_id"])))
            by_key[str(row["key_id"])] = material
    for name, key_id in made.items():
        material = by_key[key_id]
        if name == "hmac":
            assert len(material) == 32
            # GenerateMac is RFC 2104 HMAC-SHA-256 under exactly this secret
            assert hmac.digest(material, mac_message, "sha256") == mac
            secrets["hmac-key"] = material
        elif name == "symmetric":
            secrets["symmetric-key"] = material
        else:
            private = serialization.load_der_private_key(material, password=None)
            assert private.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                == kms.get_public_key(KeyId=key_id)["PublicKey"]
            secrets.update(_secret_forms(f"kms-key-{name}", material))
    assert peer.exchange(ec.ECDH(), serialization.load_der_private_key(
        by_key[made["ec-agree"]], password=None).public_key()) == shared

    leaks = [f"{table}.{column}: {leak}" for table, column, value in at_rest.cells(rows)
             for leak in at_rest.find_leaks(at_rest.as_bytes(value), secrets)]
    assert not leaks, leaks
    if pg is None:
        for file_name, data in at_rest.file_bytes(live.data_dir).items():
            assert not at_rest.find_leaks(data, secrets), (file_name, at_rest.find_leaks(data, secrets))
    stop()
    log_text = log_file.read_bytes()
    assert log_text, "the server log is empty: the log check would prove nothing"
    assert not at_rest.find_leaks(log_text, secrets), at_rest.find_leaks(log_text, secrets)
    if pg is None:
        for file_name, data in at_rest.file_bytes(live.data_dir).items():
            assert not at_rest.find_leaks(data, secrets), (file_name, at_rest.find_leaks(data, secrets))
