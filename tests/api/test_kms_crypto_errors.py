"""boto3 API tests of the symmetric cryptographic operations, error paths: validation,
encryption-context mismatches, tampered/truncated blobs, key states, regions.

AWS behaviour: aws_api.md sections 1, 4.3, 4.4, 4.5, 4.14, 8.
Blob layout (kms_core/engine/ciphertext.py), for a 36-char UUID key id:
    0 version | 1 key-id length | 2..37 key id | 38..69 material id | 70..85 nonce
    86..97 IV | 98..98+n-1 body | last 16 tag
"""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.config import Config

from tests.api.test_kms_crypto import CONTEXT, PLAINTEXT, key_arn, make_alias
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import error_of as fail

OTHER_REGION = "eu-west-1"
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
EITHER_SPEC = "Please specify either number of bytes or key spec."


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    data = bytearray(blob)
    data[position] ^= mask
    return bytes(data)


@pytest.fixture
def raw_kms(server):
    """A client without botocore's client-side checks, so out-of-range values reach the server."""
    return boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def other_key(kms) -> str:
    return kms.create_key(Description="other key")["KeyMetadata"]["KeyId"]


@pytest.fixture
def blob(kms, key_id) -> bytes:
    """PLAINTEXT under key_id with CONTEXT."""
    return kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)["CiphertextBlob"]


# --- request validation ------------------------------------------------------------------
def test_encrypt_plaintext_4097_bytes_validation_exception(kms, key_id):
    code, message = fail(kms.encrypt, KeyId=key_id, Plaintext=b"x" * 4097)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                       "Member must have length less than or equal to 4096")


def test_encrypt_empty_plaintext_validation_exception(raw_kms, key_id):
    code, message = fail(raw_kms.encrypt, KeyId=key_id, Plaintext=b"")
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                       "Member must have length greater than or equal to 1")


def test_encrypt_missing_plaintext_validation_exception(raw_kms, key_id):
    code, message = fail(raw_kms.encrypt, KeyId=key_id)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value null at 'plaintext' failed to satisfy "
                       "constraint: Member must not be null")


def test_encrypt_unknown_key_not_found_exception(kms):
    missing = "00000000-0000-4000-8000-000000000000"
    code, message = fail(kms.encrypt, KeyId=missing, Plaintext=PLAINTEXT)
    assert code == "NotFoundException"
    assert message == f"Key '{key_arn(missing)}' does not exist"


def test_encrypt_unknown_alias_not_found_exception(kms):
    code, _ = fail(kms.encrypt, KeyId="alias/does-not-exist-crypto", Plaintext=PLAINTEXT)
    assert code == "NotFoundException"


def test_encrypt_asymmetric_algorithm_on_symmetric_key_invalid_key_usage(kms, key_id):
    code, _ = fail(kms.encrypt, KeyId=key_id, Plaintext=PLAINTEXT, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert code == "InvalidKeyUsageException"


def test_decrypt_blob_6145_bytes_validation_exception(kms):
    code, message = fail(kms.decrypt, CiphertextBlob=b"\x01" * 6145)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy "
                       "constraint: Member must have length less than or equal to 6144")


def test_decrypt_blob_6144_bytes_of_garbage_invalid_ciphertext(kms):
    code, _ = fail(kms.decrypt, CiphertextBlob=os.urandom(6144))
    assert code == "InvalidCiphertextException"


def test_decrypt_empty_blob_validation_exception(raw_kms):
    code, message = fail(raw_kms.decrypt, CiphertextBlob=b"")
    assert code == "ValidationException"
    assert "'ciphertextBlob'" in message
    assert "greater than or equal to 1" in message


def test_decrypt_missing_blob_validation_exception(raw_kms):
    code, message = fail(raw_kms.decrypt)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
                       "constraint: Member must not be null")


def test_re_encrypt_missing_destination_key_validation_exception(raw_kms, blob):
    code, message = fail(raw_kms.re_encrypt, CiphertextBlob=blob, SourceEncryptionContext=CONTEXT)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value null at 'destinationKeyId' failed to satisfy "
                       "constraint: Member must not be null")


@pytest.mark.parametrize("operation", ["generate_data_key", "generate_data_key_without_plaintext"])
@pytest.mark.parametrize("n,bound", [(0, "greater than or equal to 1"), (1025, "less than or equal to 1024")])
def test_generate_data_key_number_of_bytes_out_of_range_validation_exception(raw_kms, key_id, operation,
                                                                            n, bound):
    code, message = fail(getattr(raw_kms, operation), KeyId=key_id, NumberOfBytes=n)
    assert code == "ValidationException"
    assert message == (f"1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy "
                       f"constraint: Member must have value {bound}")


@pytest.mark.parametrize("operation", ["generate_data_key", "generate_data_key_without_plaintext"])
@pytest.mark.parametrize("size_args", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}], ids=["neither", "both"])
def test_generate_data_key_neither_or_both_sizes_validation_exception(kms, key_id, operation, size_args):
    code, message = fail(getattr(kms, operation), KeyId=key_id, **size_args)
    assert code == "ValidationException"
    assert message == EITHER_SPEC


@pytest.mark.parametrize("operation", ["generate_data_key", "generate_data_key_without_plaintext"])
def test_generate_data_key_unknown_key_spec_validation_exception(raw_kms, key_id, operation):
    code, message = fail(getattr(raw_kms, operation), KeyId=key_id, KeySpec="AES_512")
    assert code == "ValidationException"
    assert "'keySpec'" in message and "enum value set: [AES_256, AES_128]" in message


@pytest.mark.parametrize("n,bound", [(0, "greater than or equal to 1"), (1025, "less than or equal to 1024")])
def test_generate_random_out_of_range_validation_exception(raw_kms, n, bound):
    code, message = fail(raw_kms.generate_random, NumberOfBytes=n)
    assert code == "ValidationException"
    assert message == (f"1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy "
                       f"constraint: Member must have value {bound}")


def test_generate_random_missing_number_of_bytes_validation_exception(kms):
    code, message = fail(kms.generate_random)
    assert code == "ValidationException"
    assert message == ("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy "
                       "constraint: Member must not be null")


# --- KeyId on Decrypt / ReEncrypt ----------------------------------------------------------
def test_decrypt_other_existing_key_id_incorrect_key_exception(kms, blob, other_key):
    code, message = fail(kms.decrypt, CiphertextBlob=blob, KeyId=other_key, EncryptionContext=CONTEXT)
    assert code == "IncorrectKeyException"
    assert message == INCORRECT_KEY


def test_decrypt_other_key_alias_incorrect_key_exception(kms, blob, other_key):
    alias = make_alias(kms, other_key)
    code, message = fail(kms.decrypt, CiphertextBlob=blob, KeyId=alias, EncryptionContext=CONTEXT)
    assert code == "IncorrectKeyException"
    assert message == INCORRECT_KEY


def test_decrypt_unknown_key_id_not_found_exception(kms, blob):
    code, _ = fail(kms.decrypt, CiphertextBlob=blob, KeyId="00000000-0000-4000-8000-000000000000",
                   EncryptionContext=CONTEXT)
    assert code == "NotFoundException"


def test_re_encrypt_source_key_id_mismatch_incorrect_key_exception(kms, blob, key_id, other_key):
    code, message = fail(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=other_key,
                         SourceEncryptionContext=CONTEXT, DestinationKeyId=key_id)
    assert code == "IncorrectKeyException"
    assert message == INCORRECT_KEY


# --- encryption context mismatches ---------------------------------------------------------
CONTEXT_MISMATCHES = {
    "missing": None,
    "empty": {},
    "pair_missing": {"purpose": "test"},
    "pair_extra": {**CONTEXT, "extra": "1"},
    "value_changed": {**CONTEXT, "tenant": "acme2"},
    "key_changed": {"purpose": "test", "tenant2": "acme"},
    "key_case": {"Purpose": "test", "tenant": "acme"},
    "value_case": {"purpose": "TEST", "tenant": "acme"},
    "swapped_values": {"purpose": "acme", "tenant": "test"},
}


@pytest.mark.parametrize("context", list(CONTEXT_MISMATCHES.values()), ids=list(CONTEXT_MISMATCHES))
def test_decrypt_context_mismatch_invalid_ciphertext(kms, blob, context):
    kwargs = {} if context is None else {"EncryptionContext": context}
    code, _ = fail(kms.decrypt, CiphertextBlob=blob, **kwargs)
    assert code == "InvalidCiphertextException"


def test_decrypt_context_given_but_none_used_invalid_ciphertext(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    code, _ = fail(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert code == "InvalidCiphertextException"


@pytest.mark.parametrize("context", [{"k": "v" * 70000}, {"k" * 70000: "v"}], ids=["long_value", "long_key"])
def test_encrypt_oversized_context_validation_exception(kms, key_id, context):
    # too long for the canonical AAD encoding: a 4xx, never a 500
    code, _ = fail(kms.encrypt, KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=context)
    assert code == "ValidationException"


def test_re_encrypt_wrong_source_context_invalid_ciphertext(kms, blob, other_key):
    code, _ = fail(kms.re_encrypt, CiphertextBlob=blob, SourceEncryptionContext={"purpose": "test"},
                   DestinationKeyId=other_key)
    assert code == "InvalidCiphertextException"


def test_generate_data_key_context_mismatch_invalid_ciphertext(kms, key_id):
    out = kms.generate_data_key(KeyId=key_id, KeySpec="AES_128", EncryptionContext=CONTEXT)
    code, _ = fail(kms.decrypt, CiphertextBlob=out["CiphertextBlob"],
                   EncryptionContext={**CONTEXT, "tenant": "other"})
    assert code == "InvalidCiphertextException"


# --- tampering -----------------------------------------------------------------------------
TAMPER_POSITIONS = {
    "version": 0,
    "key_id_length": 1,
    "key_id_first": 2,
    "key_id_middle": 20,
    "key_id_last": 37,
    "material_first": 38,
    "material_last": 69,
    "nonce_first": 70,
    "nonce_last": 85,
    "iv_first": 86,
    "iv_last": 97,
    "body_first": 98,
    "body_last": -17,
    "tag_first": -16,
    "tag_last": -1,
}


@pytest.mark.parametrize("mask", [0x01, 0x80], ids=["low_bit", "high_bit"])
@pytest.mark.parametrize("position", list(TAMPER_POSITIONS.values()), ids=list(TAMPER_POSITIONS))
def test_decrypt_flipped_byte_invalid_ciphertext(kms, blob, position, mask):
    tampered = flip(blob, position, mask)
    code, _ = fail(kms.decrypt, CiphertextBlob=tampered, EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"
    # the untampered blob still works
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT


@pytest.mark.parametrize("position", [2, 20, 37])
def test_decrypt_flipped_key_id_byte_with_key_id_incorrect_key_exception(kms, blob, key_id, position):
    # the blob now names a key other than the one requested
    code, message = fail(kms.decrypt, CiphertextBlob=flip(blob, position), KeyId=key_id,
                         EncryptionContext=CONTEXT)
    assert code == "IncorrectKeyException"
    assert message == INCORRECT_KEY


@pytest.mark.parametrize("position", list(TAMPER_POSITIONS.values()), ids=list(TAMPER_POSITIONS))
def test_re_encrypt_flipped_byte_invalid_ciphertext(kms, blob, key_id, position):
    code, _ = fail(kms.re_encrypt, CiphertextBlob=flip(blob, position), SourceEncryptionContext=CONTEXT,
                   DestinationKeyId=key_id)
    assert code == "InvalidCiphertextException"


def test_decrypt_blob_relabelled_to_other_key_invalid_ciphertext(kms, blob, key_id, other_key):
    # splice another existing key's id (same length) into the header
    relabelled = blob.replace(key_id.encode(), other_key.encode())
    assert relabelled != blob and len(relabelled) == len(blob)
    code, _ = fail(kms.decrypt, CiphertextBlob=relabelled, EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"
    # ... with that key's current material id too
    other_material = bytes.fromhex(kms.describe_key(KeyId=other_key)["KeyMetadata"]["CurrentKeyMaterialId"])
    relabelled = relabelled[:38] + other_material + relabelled[70:]
    code, _ = fail(kms.decrypt, CiphertextBlob=relabelled, EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"
    code, _ = fail(kms.decrypt, CiphertextBlob=relabelled, KeyId=other_key, EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"


def test_decrypt_blob_with_other_material_id_of_same_key_invalid_ciphertext(kms, key_id):
    # after a rotation the key has two materials; point an old blob at the new one
    old = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new_material = bytes.fromhex(kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"])
    assert old[38:70] != new_material
    code, _ = fail(kms.decrypt, CiphertextBlob=old[:38] + new_material + old[70:])
    assert code == "InvalidCiphertextException"


@pytest.mark.parametrize("key_id_bytes", [
    b"\x00" * 36,
    b"'; DROP TABLE keys; --" + b"x" * 14,
    b"%" * 36,
    b"../" * 12,
    b"\xff" * 36,
    b"a",
    b"k" * 64,
], ids=["nul", "sql", "percent", "dots", "non_ascii", "one_char", "max_length"])
def test_decrypt_forged_key_id_invalid_ciphertext(kms, blob, key_id_bytes):
    forged = bytes((1, len(key_id_bytes))) + key_id_bytes + blob[38:]
    code, _ = fail(kms.decrypt, CiphertextBlob=forged)
    assert code == "InvalidCiphertextException"


@pytest.mark.parametrize("length", [1, 2, 3, 37, 38, 70, 97, 98, 113, -1], ids=lambda n: f"len{n}")
def test_decrypt_truncated_blob_invalid_ciphertext(kms, blob, length):
    truncated = blob[:length]
    assert 0 < len(truncated) < len(blob)
    code, _ = fail(kms.decrypt, CiphertextBlob=truncated, EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"


def test_decrypt_blob_with_appended_byte_invalid_ciphertext(kms, blob):
    code, _ = fail(kms.decrypt, CiphertextBlob=blob + b"\x00", EncryptionContext=CONTEXT)
    assert code == "InvalidCiphertextException"


@pytest.mark.parametrize("garbage", [
    b"\x00",
    b"\x01",
    b"hello world",
    bytes(200),
    b"\x01\x24" + bytes(200),
    b"\x01\xff" + bytes(300),
    b"\x02" + bytes(150),
], ids=["zero", "version_only", "text", "zeros", "v1_header_zeros", "v1_bad_length", "version2"])
def test_decrypt_garbage_invalid_ciphertext(kms, garbage):
    code, _ = fail(kms.decrypt, CiphertextBlob=garbage)
    assert code == "InvalidCiphertextException"


def test_decrypt_random_garbage_invalid_ciphertext(kms):
    for size in (16, 128, 1024):
        code, _ = fail(kms.decrypt, CiphertextBlob=os.urandom(size))
        assert code == "InvalidCiphertextException"


# --- key states ------------------------------------------------------------------------------
CRYPTO_OPERATIONS = ["encrypt", "decrypt", "re_encrypt_source", "generate_data_key",
                     "generate_data_key_without_plaintext"]


def call_crypto(kms, operation: str, key_id: str, blob: bytes):
    """Run one crypto operation that needs `key_id` usable (blob is under key_id, with CONTEXT)."""
    if operation == "encrypt":
        return kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)
    if operation == "decrypt":
        return kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    if operation == "re_encrypt_source":
        return kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=CONTEXT,
                              DestinationKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    if operation == "re_encrypt_destination":
        source = kms.create_key()["KeyMetadata"]["KeyId"]
        source_blob = kms.encrypt(KeyId=source, Plaintext=PLAINTEXT)["CiphertextBlob"]
        return kms.re_encrypt(CiphertextBlob=source_blob, DestinationKeyId=key_id)
    return getattr(kms, operation)(KeyId=key_id, KeySpec="AES_256")


@pytest.mark.parametrize("operation", CRYPTO_OPERATIONS + ["re_encrypt_destination"])
def test_crypto_disabled_key_disabled_exception(kms, key_id, blob, operation):
    kms.disable_key(KeyId=key_id)
    code, message = fail(call_crypto, kms=kms, operation=operation, key_id=key_id, blob=blob)
    assert code == "DisabledException"
    assert message == f"{key_arn(key_id)} is disabled."


@pytest.mark.parametrize("operation", CRYPTO_OPERATIONS + ["re_encrypt_destination"])
def test_crypto_pending_deletion_key_invalid_state_exception(kms, key_id, blob, operation):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    code, message = fail(call_crypto, kms=kms, operation=operation, key_id=key_id, blob=blob)
    assert code == "KMSInvalidStateException"
    assert message == f"{key_arn(key_id)} is pending deletion."


@pytest.mark.parametrize("operation", CRYPTO_OPERATIONS + ["re_encrypt_destination"])
def test_crypto_re_enabled_key_succeeds(kms, key_id, blob, operation):
    kms.disable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    assert call_crypto(kms, operation, key_id, blob)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_decrypt_disabled_key_via_alias_disabled_exception(kms, key_id, blob):
    alias = make_alias(kms, key_id)
    kms.disable_key(KeyId=key_id)
    code, message = fail(kms.decrypt, CiphertextBlob=blob, KeyId=alias, EncryptionContext=CONTEXT)
    assert code == "DisabledException"
    assert message == f"{key_arn(key_id)} is disabled."


def test_decrypt_ciphertext_from_before_disable_after_re_enable_succeeds(kms, key_id, blob):
    kms.disable_key(KeyId=key_id)
    code, _ = fail(kms.decrypt, CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert code == "DisabledException"
    kms.enable_key(KeyId=key_id)
    dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert dec["Plaintext"] == PLAINTEXT
    assert dec["KeyId"] == key_arn(key_id)


def test_decrypt_ciphertext_after_cancelled_deletion_succeeds(kms, key_id, blob):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)
    # cancelling leaves the key Disabled
    code, message = fail(kms.decrypt, CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert (code, message) == ("DisabledException", f"{key_arn(key_id)} is disabled.")
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT
    assert kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["KeyId"] == key_arn(key_id)


def test_decrypt_tampered_blob_of_disabled_key_is_still_an_error(kms, key_id, blob):
    # whichever check runs first, the answer is a 4xx KMS error
    kms.disable_key(KeyId=key_id)
    code, _ = fail(kms.decrypt, CiphertextBlob=flip(blob, -1), EncryptionContext=CONTEXT)
    assert code in ("DisabledException", "InvalidCiphertextException")


# --- regions -----------------------------------------------------------------------------------
@pytest.fixture
def eu_kms(server):
    return server.client("kms", region=OTHER_REGION)


def test_decrypt_ciphertext_from_other_region_client_error(eu_kms, blob):
    code, _ = fail(eu_kms.decrypt, CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert code in ("InvalidCiphertextException", "NotFoundException")


def test_decrypt_ciphertext_from_other_region_with_key_arn_not_found(eu_kms, blob, key_id):
    code, _ = fail(eu_kms.decrypt, CiphertextBlob=blob, KeyId=key_arn(key_id), EncryptionContext=CONTEXT)
    assert code == "NotFoundException"


def test_re_encrypt_ciphertext_from_other_region_client_error(eu_kms, blob):
    dest = eu_kms.create_key()["KeyMetadata"]["KeyId"]
    code, _ = fail(eu_kms.re_encrypt, CiphertextBlob=blob, SourceEncryptionContext=CONTEXT,
                   DestinationKeyId=dest)
    assert code in ("InvalidCiphertextException", "NotFoundException")


def test_decrypt_eu_ciphertext_in_us_region_client_error(kms, eu_kms):
    eu_key = eu_kms.create_key()["KeyMetadata"]["KeyId"]
    eu_blob = eu_kms.encrypt(KeyId=eu_key, Plaintext=PLAINTEXT)["CiphertextBlob"]
    dec = eu_kms.decrypt(CiphertextBlob=eu_blob)
    assert dec["Plaintext"] == PLAINTEXT
    assert dec["KeyId"] == key_arn(eu_key, OTHER_REGION)
    code, _ = fail(kms.decrypt, CiphertextBlob=eu_blob)
    assert code in ("InvalidCiphertextException", "NotFoundException")
    code, _ = fail(kms.encrypt, KeyId=eu_key, Plaintext=PLAINTEXT)
    assert code == "NotFoundException"
