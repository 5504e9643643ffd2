"""boto3 API tests of the asymmetric, HMAC and key-agreement operations, error paths:
CreateKey validation per KeySpec x KeyUsage, wrong key usage and wrong algorithms
(InvalidKeyUsageException), message type and digest rules, request validation,
DeriveSharedSecret public-key checks, DryRun, and the key-state matrix.

AWS behaviour: aws_api.md sections 3b, 4.2, 4.3, 4.14; the Sign
MessageType documentation in botocore's kms service-2.json.  Where AWS's wording is not
documented, the comment next to the assertion names where it comes from.
"""

from __future__ import annotations

import base64
import os

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.api.test_kms_asymmetric import needs_mldsa, shared_key
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import error_of, key_arn

NO_USAGE = "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."


@pytest.fixture
def keys(server):
    return lambda spec, usage: shared_key(server, spec, usage)


@pytest.fixture
def raw_kms(server):
    """A client without botocore's client-side checks, so out-of-range values reach the server."""
    return boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))


def key_count(kms) -> int:
    total, marker = 0, None
    while True:
        page = kms.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
        total += len(page["Keys"])
        if not page["Truncated"]:
            return total
        marker = page["NextMarker"]


def spki(public) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# === CreateKey =====================================================================================
NON_SYMMETRIC_SPECS = ["RSA_2048", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P521", "ECC_SECG_P256K1",
                       "ECC_NIST_EDWARDS25519", "HMAC_224", "HMAC_512",
                       pytest.param("ML_DSA_65", marks=needs_mldsa)]


@pytest.mark.parametrize("spec", NON_SYMMETRIC_SPECS)
def test_create_key_without_key_usage_validation_exception(kms, spec):
    before = key_count(kms)
    code, message = error_of(kms.create_key, KeySpec=spec)
    assert (code, message) == ("ValidationException", NO_USAGE)  # aws_api.md §4.2 [obs]
    assert key_count(kms) == before


# the allowed usages per spec are those of aws_api.md §4.2 and the CreateKey KeyUsage docs;
# everything else is refused, and nothing is created
INCOMPATIBLE = [("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("ECC_SECG_P256K1", "ENCRYPT_DECRYPT"),
                ("HMAC_256", "ENCRYPT_DECRYPT"), ("HMAC_256", "SIGN_VERIFY"), ("HMAC_384", "KEY_AGREEMENT"),
                ("RSA_2048", "KEY_AGREEMENT"), ("RSA_3072", "GENERATE_VERIFY_MAC"),
                ("ECC_NIST_P256", "ENCRYPT_DECRYPT"), ("ECC_NIST_P384", "GENERATE_VERIFY_MAC"),
                ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"), ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT"),
                ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", "KEY_AGREEMENT"),
                pytest.param("ML_DSA_44", "ENCRYPT_DECRYPT", marks=needs_mldsa),
                pytest.param("ML_DSA_87", "KEY_AGREEMENT", marks=needs_mldsa)]


@pytest.mark.parametrize("spec,usage", INCOMPATIBLE)
def test_create_key_incompatible_usage_validation_exception(kms, spec, usage):
    before = key_count(kms)
    code, message = error_of(kms.create_key, KeySpec=spec, KeyUsage=usage)
    assert code == "ValidationException"
    # nsmithuk/local-kms words it "KeyUsage <usage> is not compatible with KeySpec <spec>"
    assert message.startswith(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
    assert key_count(kms) == before


@pytest.mark.parametrize("usage", ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"])
def test_create_key_sm2_unsupported_outside_china(kms, usage):
    code, message = error_of(kms.create_key, KeySpec="SM2", KeyUsage=usage)
    assert code == "UnsupportedOperationException"
    assert message == "KeySpec SM2 is not supported in this Region"  # aws_api.md §4.2 [obs]


def test_create_key_deprecated_customer_master_key_spec_asymmetric(kms):
    meta = kms.create_key(CustomerMasterKeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "ECC_NIST_P256"
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]


# === InvalidKeyUsageException: wrong usage for the operation ======================================
def _usage_message(key_id: str, usage: str, operation: str) -> str:
    # aws_api.md §4.2 / §4.14 [obs]
    return f"{key_arn(key_id)} key usage is {usage} which is not valid for {operation}."


WRONG_USAGE = [
    # (spec, usage of the key, operation, call)
    ("RSA_2048", "SIGN_VERIFY", "Encrypt",
     lambda kms, k: kms.encrypt(KeyId=k, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
    ("ECC_NIST_P256", "SIGN_VERIFY", "Encrypt", lambda kms, k: kms.encrypt(KeyId=k, Plaintext=b"x")),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "Encrypt", lambda kms, k: kms.encrypt(KeyId=k, Plaintext=b"x")),
    ("RSA_2048", "SIGN_VERIFY", "Decrypt",
     lambda kms, k: kms.decrypt(KeyId=k, CiphertextBlob=b"\x00" * 256, EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Sign",
     lambda kms, k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    ("RSA_2048", "ENCRYPT_DECRYPT", "Sign",
     lambda kms, k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "Sign",
     lambda kms, k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "Sign",
     lambda kms, k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    ("RSA_2048", "ENCRYPT_DECRYPT", "Verify",
     lambda kms, k: kms.verify(KeyId=k, Message=b"m", Signature=b"s", SigningAlgorithm="RSASSA_PSS_SHA_256")),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "GenerateMac",
     lambda kms, k: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
    ("ECC_NIST_P256", "SIGN_VERIFY", "GenerateMac",
     lambda kms, k: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
    ("RSA_2048", "SIGN_VERIFY", "VerifyMac",
     lambda kms, k: kms.verify_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=b"\x00" * 32)),
    ("ECC_NIST_P256", "SIGN_VERIFY", "DeriveSharedSecret",
     lambda kms, k: kms.derive_shared_secret(KeyId=k, KeyAgreementAlgorithm="ECDH", PublicKey=b"\x30\x00")),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "DeriveSharedSecret",
     lambda kms, k: kms.derive_shared_secret(KeyId=k, KeyAgreementAlgorithm="ECDH", PublicKey=b"\x30\x00")),
    ("RSA_2048", "SIGN_VERIFY", "GenerateDataKey",
     lambda kms, k: kms.generate_data_key(KeyId=k, KeySpec="AES_256")),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "GenerateDataKeyWithoutPlaintext",
     lambda kms, k: kms.generate_data_key_without_plaintext(KeyId=k, KeySpec="AES_256")),
    ("ECC_NIST_P256", "SIGN_VERIFY", "GenerateDataKeyPair",
     lambda kms, k: kms.generate_data_key_pair(KeyId=k, KeyPairSpec="ECC_NIST_P256")),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "GenerateDataKeyPairWithoutPlaintext",
     lambda kms, k: kms.generate_data_key_pair_without_plaintext(KeyId=k, KeyPairSpec="RSA_2048")),
]


@pytest.mark.parametrize("spec,usage,operation,call", WRONG_USAGE,
                         ids=[f"{o}-{s}-{u}" for s, u, o, _ in WRONG_USAGE])
def test_wrong_key_usage_invalid_key_usage_exception(kms, keys, spec, usage, operation, call):
    key_id = keys(spec, usage)
    code, message = error_of(call, kms=kms, k=key_id)
    assert code == "InvalidKeyUsageException"
    assert message == _usage_message(key_id, usage, operation)


@pytest.mark.parametrize("operation,call", [
    ("GenerateDataKey", lambda kms, k: kms.generate_data_key(KeyId=k, KeySpec="AES_256")),
    ("GenerateDataKeyPair", lambda kms, k: kms.generate_data_key_pair(KeyId=k, KeyPairSpec="ECC_NIST_P256")),
    ("GenerateDataKeyPairWithoutPlaintext",
     lambda kms, k: kms.generate_data_key_pair_without_plaintext(KeyId=k, KeyPairSpec="ECC_NIST_P256"))])
def test_data_keys_under_rsa_encryption_key_invalid_key_usage(kms, keys, operation, call):
    # "To generate a data key pair, you must specify a symmetric encryption KMS key ... You
    # cannot use an asymmetric KMS key" (GenerateDataKeyPair API reference); the RSA key's
    # usage is ENCRYPT_DECRYPT, so it is the spec that is refused
    key_id = keys("RSA_2048", "ENCRYPT_DECRYPT")
    code, message = error_of(call, kms=kms, k=key_id)
    assert code == "InvalidKeyUsageException"
    assert message.startswith(key_arn(key_id)) and "RSA_2048" in message and operation in message


# === InvalidKeyUsageException: algorithm not valid for the key spec ===============================
def _algorithm_message(algorithm: str, spec: str) -> str:
    # aws_api.md §4.14 [obs]; the encryption case is quoted from real AWS by users
    # (zalando/spring-cloud-config-aws-kms issue 82: "Algorithm SYMMETRIC_DEFAULT is
    # incompatible with key spec RSA_4096.")
    return f"Algorithm {algorithm} is incompatible with key spec {spec}."


WRONG_ALGORITHM = [
    ("RSA_2048", "SIGN_VERIFY", "ECDSA_SHA_256"), ("RSA_3072", "SIGN_VERIFY", "ED25519_SHA_512"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "ECDSA_SHA_384"), ("ECC_NIST_P384", "SIGN_VERIFY", "ECDSA_SHA_256"),
    ("ECC_NIST_P521", "SIGN_VERIFY", "ECDSA_SHA_384"), ("ECC_SECG_P256K1", "SIGN_VERIFY", "ECDSA_SHA_512"),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "ECDSA_SHA_512"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "RSASSA_PSS_SHA_256"),
    pytest.param("ML_DSA_44", "SIGN_VERIFY", "ED25519_SHA_512", marks=needs_mldsa),
    ("RSA_2048", "SIGN_VERIFY", "ML_DSA_SHAKE_256"),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SM2DSA"),
]


@pytest.mark.parametrize("spec,usage,algorithm", WRONG_ALGORITHM)
def test_sign_and_verify_algorithm_of_other_spec_invalid_key_usage(kms, keys, spec, usage, algorithm):
    key_id = keys(spec, usage)
    for call, extra in ((kms.sign, {}), (kms.verify, {"Signature": b"\x30\x00"})):
        code, message = error_of(call, KeyId=key_id, Message=b"m", SigningAlgorithm=algorithm, **extra)
        assert (code, message) == ("InvalidKeyUsageException", _algorithm_message(algorithm, spec))


@pytest.mark.parametrize("spec,used,wanted", [("HMAC_384", "HMAC_SHA_256", "HMAC_SHA_384"),
                                              ("HMAC_224", "HMAC_SHA_512", "HMAC_SHA_224"),
                                              ("HMAC_512", "HMAC_SHA_384", "HMAC_SHA_512")])
def test_mac_algorithm_must_match_spec(kms, keys, spec, used, wanted):
    key_id = keys(spec, "GENERATE_VERIFY_MAC")
    mac = kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm=wanted)["Mac"]
    code, message = error_of(kms.generate_mac, KeyId=key_id, Message=b"m", MacAlgorithm=used)
    assert (code, message) == ("InvalidKeyUsageException", _algorithm_message(used, spec))
    code, message = error_of(kms.verify_mac, KeyId=key_id, Message=b"m", MacAlgorithm=used, Mac=mac)
    assert (code, message) == ("InvalidKeyUsageException", _algorithm_message(used, spec))


def test_encrypt_rsa_key_without_algorithm_invalid_key_usage(kms, keys):
    key_id = keys("RSA_4096", "ENCRYPT_DECRYPT")
    code, message = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert (code, message) == ("InvalidKeyUsageException", _algorithm_message("SYMMETRIC_DEFAULT", "RSA_4096"))


def test_encrypt_symmetric_key_with_rsa_algorithm_invalid_key_usage(kms, key_id):
    code, message = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert (code, message) == ("InvalidKeyUsageException",
                               _algorithm_message("RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT"))


def test_encrypt_rsa_key_with_sm2pke_invalid_key_usage(kms, keys):
    code, message = error_of(kms.encrypt, KeyId=keys("RSA_2048", "ENCRYPT_DECRYPT"), Plaintext=b"x",
                             EncryptionAlgorithm="SM2PKE")
    assert (code, message) == ("InvalidKeyUsageException", _algorithm_message("SM2PKE", "RSA_2048"))


# === message types and digests ====================================================================
@pytest.mark.parametrize("spec,algorithm,length", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", 31), ("ECC_NIST_P256", "ECDSA_SHA_256", 33),
    ("ECC_NIST_P521", "ECDSA_SHA_512", 48), ("RSA_2048", "RSASSA_PSS_SHA_384", 32),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", 20), ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", 32)])
def test_digest_of_wrong_length_validation_exception(kms, keys, spec, algorithm, length):
    key_id = keys(spec, "SIGN_VERIFY")
    # AWS's wording, quoted by aws-sdk-rust users (awslabs/aws-sdk-rust discussion 571)
    expected = ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")
    assert error_of(kms.sign, KeyId=key_id, Message=os.urandom(length), MessageType="DIGEST",
                    SigningAlgorithm=algorithm) == expected
    assert error_of(kms.verify, KeyId=key_id, Message=os.urandom(length), MessageType="DIGEST",
                    Signature=b"\x30\x00", SigningAlgorithm=algorithm) == expected


@pytest.mark.parametrize("algorithm,message_type", [("ED25519_SHA_512", "DIGEST"), ("ED25519_PH_SHA_512", "RAW")])
def test_ed25519_message_type_must_suit_algorithm(kms, keys, algorithm, message_type):
    # AWS: "ED25519_SHA_512 signing algorithm requires KMS MessageType:RAW,
    # ED25519_PH_SHA_512 ... requires MessageType:DIGEST" (Sign API reference)
    key_id = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    expected = ("ValidationException", f"Message type {message_type} is incompatible with algorithm {algorithm}.")
    assert error_of(kms.sign, KeyId=key_id, Message=os.urandom(64), MessageType=message_type,
                    SigningAlgorithm=algorithm) == expected
    assert error_of(kms.verify, KeyId=key_id, Message=os.urandom(64), MessageType=message_type,
                    Signature=os.urandom(64), SigningAlgorithm=algorithm) == expected


@needs_mldsa
def test_ml_dsa_digest_refused_and_external_mu_must_be_64_bytes(kms, keys):
    key_id = keys("ML_DSA_44", "SIGN_VERIFY")
    assert error_of(kms.sign, KeyId=key_id, Message=os.urandom(64), MessageType="DIGEST",
                    SigningAlgorithm="ML_DSA_SHAKE_256") == (
        "ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_44.")
    for length in (32, 63, 65):
        assert error_of(kms.sign, KeyId=key_id, Message=os.urandom(length), MessageType="EXTERNAL_MU",
                        SigningAlgorithm="ML_DSA_SHAKE_256") == (
            "ValidationException", "Digest is invalid length for algorithm ML_DSA_SHAKE_256.")


@pytest.mark.parametrize("spec,algorithm", [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_512"),
                                            ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512")])
def test_external_mu_only_for_ml_dsa(kms, keys, spec, algorithm):
    key_id = keys(spec, "SIGN_VERIFY")
    assert error_of(kms.sign, KeyId=key_id, Message=os.urandom(64), MessageType="EXTERNAL_MU",
                    SigningAlgorithm=algorithm) == (
        "ValidationException", f"Message type EXTERNAL_MU is incompatible with key spec {spec}.")


def test_sign_message_over_4096_bytes_validation_exception(kms, keys):
    key_id = keys("ECC_NIST_P256", "SIGN_VERIFY")
    for call, extra in ((kms.sign, {}), (kms.verify, {"Signature": b"\x30\x00"})):
        code, message = error_of(call, KeyId=key_id, Message=os.urandom(4097), SigningAlgorithm="ECDSA_SHA_256",
                                 **extra)
        assert code == "ValidationException"
        assert message == ("1 validation error detected: Value at 'message' failed to satisfy constraint: "
                           "Member must have length less than or equal to 4096")


def test_generate_mac_message_over_4096_bytes_validation_exception(kms, keys):
    code, message = error_of(kms.generate_mac, KeyId=keys("HMAC_256", "GENERATE_VERIFY_MAC"),
                             Message=os.urandom(4097), MacAlgorithm="HMAC_SHA_256")
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'message' failed to satisfy constraint: "
                       "Member must have length less than or equal to 4096")


def test_sign_empty_message_validation_exception(raw_kms, keys):
    code, message = error_of(raw_kms.sign, KeyId=keys("ECC_NIST_P256", "SIGN_VERIFY"), Message=b"",
                             SigningAlgorithm="ECDSA_SHA_256")
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'message' failed to satisfy constraint: "
                       "Member must have length greater than or equal to 1")


def test_verify_signature_over_6144_bytes_validation_exception(raw_kms, keys):
    code, message = error_of(raw_kms.verify, KeyId=keys("ECC_NIST_P256", "SIGN_VERIFY"), Message=b"m",
                             Signature=os.urandom(6145), SigningAlgorithm="ECDSA_SHA_256")
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'signature' failed to satisfy constraint: "
                       "Member must have length less than or equal to 6144")


def test_sign_unknown_algorithm_validation_exception(raw_kms, keys):
    code, message = error_of(raw_kms.sign, KeyId=keys("ECC_NIST_P256", "SIGN_VERIFY"), Message=b"m",
                             SigningAlgorithm="ECDSA_SHA_1")
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value 'ECDSA_SHA_1' at 'signingAlgorithm' failed to "
                              "satisfy constraint: Member must satisfy enum value set: [")


def test_sign_unknown_key_not_found(kms):
    missing = "00000000-0000-4000-8000-000000000000"
    assert error_of(kms.sign, KeyId=missing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256") == (
        "NotFoundException", f"Key '{key_arn(missing)}' does not exist")
    assert error_of(kms.get_public_key, KeyId="alias/no-such-alias-here")[0] == "NotFoundException"


def test_garbage_grant_token_invalid_grant_token(kms, keys):
    code, _ = error_of(kms.sign, KeyId=keys("ECC_NIST_P256", "SIGN_VERIFY"), Message=b"m",
                       SigningAlgorithm="ECDSA_SHA_256", GrantTokens=["not-a-grant-token"])
    assert code == "InvalidGrantTokenException"


# === GenerateDataKeyPair specs ======================================================================
def test_generate_data_key_pair_sm2_unsupported(kms, key_id):
    for call in (kms.generate_data_key_pair, kms.generate_data_key_pair_without_plaintext):
        assert error_of(call, KeyId=key_id, KeyPairSpec="SM2") == (
            "UnsupportedOperationException", "KeyPairSpec SM2 is not supported in this Region")


def test_generate_data_key_pair_unknown_spec_validation_exception(raw_kms, key_id):
    code, message = error_of(raw_kms.generate_data_key_pair, KeyId=key_id, KeyPairSpec="RSA_1024")
    assert code == "ValidationException"
    assert "'RSA_1024' at 'keyPairSpec'" in message


# === DeriveSharedSecret: the peer's public key ====================================================
def _bad_public_keys() -> dict[str, bytes]:
    p256_private = ec.generate_private_key(ec.SECP256R1())
    return {
        "other-curve": spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
        "secp256k1": spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
        "rsa": spki(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
        "ed25519": spki(ed25519.Ed25519PrivateKey.generate().public_key()),
        "garbage": os.urandom(91),
        "truncated": spki(p256_private.public_key())[:-1],
        "raw-point": p256_private.public_key().public_bytes(serialization.Encoding.X962,
                                                            serialization.PublicFormat.UncompressedPoint),
        "private-key": p256_private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()),
        "pem": p256_private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo),
        "base64-twice": base64.b64encode(spki(p256_private.public_key())),
    }


@pytest.mark.parametrize("case", sorted(_bad_public_keys()))
def test_derive_shared_secret_bad_public_key_validation_exception(kms, keys, case):
    # "the AWS CLI Base64-encodes the public key a second time, resulting in a
    # ValidationException" (DeriveSharedSecret API reference, PublicKey)
    key_id = keys("ECC_NIST_P256", "KEY_AGREEMENT")
    code, message = error_of(kms.derive_shared_secret, KeyId=key_id, KeyAgreementAlgorithm="ECDH",
                             PublicKey=_bad_public_keys()[case])
    assert code == "ValidationException"
    assert message == "The PublicKey must be a DER-encoded X.509 public key on the curve of ECC_NIST_P256."


def test_derive_shared_secret_public_key_over_8192_bytes(raw_kms, keys):
    code, message = error_of(raw_kms.derive_shared_secret, KeyId=keys("ECC_NIST_P256", "KEY_AGREEMENT"),
                             KeyAgreementAlgorithm="ECDH", PublicKey=os.urandom(8193))
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'publicKey' failed to satisfy constraint: "
                       "Member must have length less than or equal to 8192")


# === DryRun =========================================================================================
DRY_RUNS = [
    ("ECC_NIST_P256", "SIGN_VERIFY", lambda kms, k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                                                            DryRun=True)),
    ("ECC_NIST_P256", "SIGN_VERIFY", lambda kms, k: kms.verify(KeyId=k, Message=b"m", Signature=b"\x30\x00",
                                                              SigningAlgorithm="ECDSA_SHA_256", DryRun=True)),
    ("HMAC_256", "GENERATE_VERIFY_MAC", lambda kms, k: kms.generate_mac(KeyId=k, Message=b"m",
                                                                       MacAlgorithm="HMAC_SHA_256", DryRun=True)),
    ("HMAC_256", "GENERATE_VERIFY_MAC", lambda kms, k: kms.verify_mac(KeyId=k, Message=b"m", Mac=b"\x00" * 32,
                                                                     MacAlgorithm="HMAC_SHA_256", DryRun=True)),
    ("ECC_NIST_P256", "KEY_AGREEMENT", lambda kms, k: kms.derive_shared_secret(
        KeyId=k, KeyAgreementAlgorithm="ECDH", DryRun=True,
        PublicKey=spki(ec.generate_private_key(ec.SECP256R1()).public_key()))),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", lambda kms, k: kms.generate_data_key_pair(
        KeyId=k, KeyPairSpec="ECC_NIST_P256", DryRun=True)),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", lambda kms, k: kms.generate_data_key_pair_without_plaintext(
        KeyId=k, KeyPairSpec="ECC_NIST_P256", DryRun=True)),
    ("RSA_2048", "ENCRYPT_DECRYPT", lambda kms, k: kms.encrypt(KeyId=k, Plaintext=b"x", DryRun=True,
                                                              EncryptionAlgorithm="RSAES_OAEP_SHA_1")),
]


@pytest.mark.parametrize("spec,usage,call", DRY_RUNS, ids=[f"{i}-{s}" for i, (s, _, _) in enumerate(DRY_RUNS)])
def test_dry_run_checks_then_refuses(kms, keys, spec, usage, call):
    code, message = error_of(call, kms=kms, k=keys(spec, usage))
    assert (code, message) == ("DryRunOperationException",
                               "The request would have succeeded, but the DryRun option is set.")


def test_dry_run_with_bad_request_reports_the_error(kms, keys):
    key_id = keys("ECC_NIST_P256", "SIGN_VERIFY")
    code, _ = error_of(kms.sign, KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_384", DryRun=True)
    assert code == "InvalidKeyUsageException"


# === key states =====================================================================================
def _prepare(kms, spec: str, usage: str) -> tuple[str, dict]:
    """A fresh key and, made while it is still enabled, what the later calls need."""
    key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    made: dict = {}
    if usage == "SIGN_VERIFY":
        made["signature"] = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    elif usage == "GENERATE_VERIFY_MAC":
        made["mac"] = kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    elif spec.startswith("RSA"):
        made["blob"] = kms.encrypt(KeyId=key_id, Plaintext=b"x",
                                   EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    made["peer"] = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    return key_id, made


STATE_OPERATIONS = {
    "Sign": ("ECC_NIST_P256", "SIGN_VERIFY",
             lambda kms, k, m: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    "Verify": ("ECC_NIST_P256", "SIGN_VERIFY",
               lambda kms, k, m: kms.verify(KeyId=k, Message=b"m", Signature=m["signature"],
                                            SigningAlgorithm="ECDSA_SHA_256")),
    "GetPublicKey": ("ECC_NIST_P256", "SIGN_VERIFY", lambda kms, k, m: kms.get_public_key(KeyId=k)),
    "GenerateMac": ("HMAC_256", "GENERATE_VERIFY_MAC",
                    lambda kms, k, m: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
    "VerifyMac": ("HMAC_256", "GENERATE_VERIFY_MAC",
                  lambda kms, k, m: kms.verify_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=m["mac"])),
    "DeriveSharedSecret": ("ECC_NIST_P256", "KEY_AGREEMENT",
                           lambda kms, k, m: kms.derive_shared_secret(KeyId=k, KeyAgreementAlgorithm="ECDH",
                                                                      PublicKey=m["peer"])),
    "GenerateDataKeyPair": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
                            lambda kms, k, m: kms.generate_data_key_pair(KeyId=k, KeyPairSpec="ECC_NIST_P256")),
    "GenerateDataKeyPairWithoutPlaintext": (
        "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
        lambda kms, k, m: kms.generate_data_key_pair_without_plaintext(KeyId=k, KeyPairSpec="ECC_NIST_P256")),
    "Encrypt-RSA": ("RSA_2048", "ENCRYPT_DECRYPT",
                      lambda kms, k, m: kms.encrypt(KeyId=k, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
    "Decrypt-RSA": ("RSA_2048", "ENCRYPT_DECRYPT",
                      lambda kms, k, m: kms.decrypt(KeyId=k, CiphertextBlob=m["blob"],
                                                    EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
}


@pytest.mark.parametrize("operation", list(STATE_OPERATIONS))
def test_disabled_key_disabled_exception_then_enabled_works(kms, operation):
    spec, usage, call = STATE_OPERATIONS[operation]
    key_id, made = _prepare(kms, spec, usage)
    call(kms, key_id, made)  # works while enabled
    kms.disable_key(KeyId=key_id)
    # aws_api.md §4.3 footnote 1
    assert error_of(call, kms=kms, k=key_id, m=made) == ("DisabledException", f"{key_arn(key_id)} is disabled.")
    kms.enable_key(KeyId=key_id)
    call(kms, key_id, made)


@pytest.mark.parametrize("operation", list(STATE_OPERATIONS))
def test_pending_deletion_key_invalid_state_then_cancelled_is_disabled(kms, operation):
    spec, usage, call = STATE_OPERATIONS[operation]
    key_id, made = _prepare(kms, spec, usage)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    # aws_api.md §4.3 footnote 2: KMSInvalidStateException, as AWS-validated emulators see it
    assert error_of(call, kms=kms, k=key_id, m=made) == (
        "KMSInvalidStateException", f"{key_arn(key_id)} is pending deletion.")
    kms.cancel_key_deletion(KeyId=key_id)  # leaves the key Disabled
    assert error_of(call, kms=kms, k=key_id, m=made) == ("DisabledException", f"{key_arn(key_id)} is disabled.")


def test_describe_key_and_policy_still_work_on_disabled_asymmetric_key(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]

