"""KeySpec x KeyUsage x algorithms, as AWS defines them (reference §4.2).

One table answers every question an operation asks about a key's kind: which usages a
spec allows, which algorithms DescribeKey/GetPublicKey report for (spec, usage), which
digest an algorithm uses, and how long imported material may be.  Nothing else in the
code base lists specs or algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"

ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
RSA_SIGNING = ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
               "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512")


@dataclass(frozen=True)
class Spec:
    """One KeySpec: its family ("symmetric", "rsa", "ec", "ed25519", "mldsa", "hmac"),
    the usages it allows, and the algorithms per usage."""

    name: str
    family: str
    usages: tuple[str, ...]
    encryption: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    mac: tuple[str, ...] = ()
    agreement: tuple[str, ...] = ()
    #: RSA modulus / EC curve bits; HMAC digest bits
    bits: int = 0
    #: imported material length range (bytes) for symmetric and HMAC keys
    import_lengths: Optional[tuple[int, int]] = None

    def algorithms(self, usage: str) -> dict[str, list[str]]:
        """The algorithm fields KeyMetadata and GetPublicKey report for this usage."""
        if usage == ENCRYPT_DECRYPT:
            return {"EncryptionAlgorithms": list(self.encryption)}
        if usage == SIGN_VERIFY:
            return {"SigningAlgorithms": list(self.signing)}
        if usage == GENERATE_VERIFY_MAC:
            return {"MacAlgorithms": list(self.mac)}
        if usage == KEY_AGREEMENT:
            return {"KeyAgreementAlgorithms": list(self.agreement)}
        return {}

    @property
    def asymmetric(self) -> bool:
        return self.family in ("rsa", "ec", "ed25519", "mldsa")


def _rsa(bits: int) -> Spec:
    return Spec(f"RSA_{bits}", "rsa", (ENCRYPT_DECRYPT, SIGN_VERIFY), encryption=RSA_ENCRYPTION,
                signing=RSA_SIGNING, bits=bits)


def _ec(name: str, bits: int, hash_bits: int, agreement: bool) -> Spec:
    return Spec(name, "ec", (SIGN_VERIFY, KEY_AGREEMENT) if agreement else (SIGN_VERIFY,),
                signing=(f"ECDSA_SHA_{hash_bits}",), agreement=("ECDH",) if agreement else (), bits=bits)


def _hmac(bits: int, lengths: tuple[int, int]) -> Spec:
    return Spec(f"HMAC_{bits}", "hmac", (GENERATE_VERIFY_MAC,), mac=(f"HMAC_SHA_{bits}",), bits=bits,
                import_lengths=lengths)


def _mldsa(level: int) -> Spec:
    return Spec(f"ML_DSA_{level}", "mldsa", (SIGN_VERIFY,), signing=("ML_DSA_SHAKE_256",), bits=level)


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec(SYMMETRIC_DEFAULT, "symmetric", (ENCRYPT_DECRYPT,), encryption=(SYMMETRIC_DEFAULT,), bits=256,
         import_lengths=(32, 32)),
    _rsa(2048), _rsa(3072), _rsa(4096),
    _ec("ECC_NIST_P256", 256, 256, True), _ec("ECC_NIST_P384", 384, 384, True),
    _ec("ECC_NIST_P521", 521, 512, True), _ec("ECC_SECG_P256K1", 256, 256, False),
    Spec("ECC_NIST_EDWARDS25519", "ed25519", (SIGN_VERIFY,), signing=("ED25519_SHA_512", "ED25519_PH_SHA_512"),
         bits=255),
    _hmac(224, (28, 64)), _hmac(256, (32, 64)), _hmac(384, (48, 128)), _hmac(512, (64, 128)),
)}


def _mldsa_available() -> bool:
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa  # noqa: F401
    except ImportError:
        return False
    return True


if _mldsa_available():
    SPECS.update({s.name: s for s in (_mldsa(44), _mldsa(65), _mldsa(87))})

#: specs only valid in China Regions: refused here as AWS refuses them elsewhere
CHINA_ONLY = frozenset({"SM2"})

#: GenerateDataKeyPair KeyPairSpec values (SM2 is China-only)
KEY_PAIR_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                  "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519")

#: signing algorithm -> (hash name, digest bytes); ML-DSA hashes inside the scheme
SIGNING_HASH: dict[str, tuple[str, int]] = {
    "RSASSA_PSS_SHA_256": ("sha256", 32), "RSASSA_PSS_SHA_384": ("sha384", 48),
    "RSASSA_PSS_SHA_512": ("sha512", 64),
    "RSASSA_PKCS1_V1_5_SHA_256": ("sha256", 32), "RSASSA_PKCS1_V1_5_SHA_384": ("sha384", 48),
    "RSASSA_PKCS1_V1_5_SHA_512": ("sha512", 64),
    "ECDSA_SHA_256": ("sha256", 32), "ECDSA_SHA_384": ("sha384", 48), "ECDSA_SHA_512": ("sha512", 64),
    "ED25519_SHA_512": ("sha512", 64), "ED25519_PH_SHA_512": ("sha512", 64),
}

#: RSA OAEP: plaintext limit = modulus bytes - 2 * hash bytes - 2
OAEP_HASH_BYTES = {"RSAES_OAEP_SHA_1": 20, "RSAES_OAEP_SHA_256": 32}


def oaep_limit(spec: Spec, algorithm: str) -> int:
    return spec.bits // 8 - 2 * OAEP_HASH_BYTES[algorithm] - 2


def spec_of(name: str) -> Spec:
    return SPECS[name]
