"""kms_core.protocol.shapes validators, compiled from the real KMS model, worded as AWS words them."""

from __future__ import annotations

import base64

import pytest

from kms_core.domain.errors import SerializationException, ValidationException
from kms_core.protocol.kms_model import OPERATIONS
from kms_core.protocol.shapes import compile_operation, validation_error

V = {name: compile_operation(spec) for name, spec in OPERATIONS.items()}
B64_HI = base64.b64encode(b"hi").decode()
NOT_NULL = "failed to satisfy constraint: Member must not be null"


def invalid(op: str, body) -> str:
    with pytest.raises(ValidationException) as e:
        V[op](body)
    assert e.value.code == "ValidationException"
    return e.value.message


def serialization(op: str, body) -> str:
    with pytest.raises(SerializationException) as e:
        V[op](body)
    assert e.value.code == "SerializationException"
    return e.value.message


def test_every_operation_compiles():
    assert len(V) == len(OPERATIONS) > 40
    for name in ("Encrypt", "Decrypt", "CreateKey", "ListKeys", "TagResource", "CreateAlias"):
        assert name in V


# -- required members --------------------------------------------------------------------------


def test_required_member_missing():
    assert invalid("Encrypt", {"Plaintext": B64_HI}) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null")


def test_two_errors_joined_with_semicolons():
    msg = invalid("Encrypt", {})
    assert msg.startswith("2 validation errors detected: ")
    parts = msg[len("2 validation errors detected: "):].split("; ")
    assert sorted(parts) == sorted([f"Value null at 'keyId' {NOT_NULL}", f"Value null at 'plaintext' {NOT_NULL}"])


def test_three_errors_are_counted():
    msg = invalid("Encrypt", {"KeyId": "", "Plaintext": "", "GrantTokens": [""]})
    assert msg.startswith("3 validation errors detected: ")
    assert msg.count("; ") == 2


def test_null_member_is_treated_as_absent():
    assert invalid("Encrypt", {"KeyId": None, "Plaintext": B64_HI}) == (
        f"1 validation error detected: Value null at 'keyId' {NOT_NULL}")
    out = V["Encrypt"]({"KeyId": "k", "Plaintext": B64_HI, "EncryptionContext": None, "GrantTokens": None})
    assert out == {"KeyId": "k", "Plaintext": b"hi"}


def test_unknown_members_are_ignored():
    out = V["Encrypt"]({"KeyId": "k", "Plaintext": B64_HI, "NoSuchMember": {"x": [1, 2]}, "keyId": 5})
    assert out == {"KeyId": "k", "Plaintext": b"hi"}


def test_valid_body_converts():
    out = V["Encrypt"]({"KeyId": "alias/a", "Plaintext": B64_HI, "EncryptionContext": {"a": "b"},
                        "GrantTokens": ["t"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DryRun": False})
    assert out == {"KeyId": "alias/a", "Plaintext": b"hi", "EncryptionContext": {"a": "b"},
                   "GrantTokens": ["t"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DryRun": False}
    assert V["ListKeys"]({}) == {}


# -- constraint messages ---------------------------------------------------------------------


def test_string_length_min_and_max():
    assert invalid("CancelKeyDeletion", {"KeyId": ""}) == (
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")
    long_id = "k" * 2049
    assert invalid("CancelKeyDeletion", {"KeyId": long_id}) == (
        f"1 validation error detected: Value '{long_id}' at 'keyId' failed to satisfy constraint: "
        "Member must have length less than or equal to 2048")
    assert V["CancelKeyDeletion"]({"KeyId": "k" * 2048}) == {"KeyId": "k" * 2048}


def test_integer_range():
    assert invalid("ListKeys", {"Limit": 0}) == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")
    assert invalid("ListKeys", {"Limit": 1001}) == (
        "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000")
    assert V["ListKeys"]({"Limit": 1000}) == {"Limit": 1000}
    assert V["ListKeys"]({"Limit": 1}) == {"Limit": 1}


def test_enum():
    assert invalid("CreateKey", {"KeyUsage": "ENCRYPT"}) == (
        "1 validation error detected: Value 'ENCRYPT' at 'keyUsage' failed to satisfy constraint: "
        "Member must satisfy enum value set: "
        "[SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]")
    assert V["CreateKey"]({"KeyUsage": "ENCRYPT_DECRYPT"}) == {"KeyUsage": "ENCRYPT_DECRYPT"}


def test_pattern():
    assert invalid("CreateAlias", {"AliasName": "alias/bad name", "TargetKeyId": "k"}) == (
        "1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$")
    assert V["CreateAlias"]({"AliasName": "alias/good-name_1", "TargetKeyId": "k"})["AliasName"] == \
        "alias/good-name_1"


def test_length_failure_reports_length_not_pattern():
    """One failure per value: a too-long alias that also breaks the pattern reports the length."""
    msg = invalid("CreateAlias", {"AliasName": " " * 257, "TargetKeyId": "k"})
    assert msg.startswith("1 validation error detected: ")
    assert "Member must have length less than or equal to 256" in msg


def test_list_length():
    msg = invalid("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "GrantTokens": ["t"] * 11})
    assert msg.startswith("1 validation error detected: ")
    assert "at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10" in msg
    msg = invalid("ListKeys", {"ResourceOwners": []})
    assert "at 'resourceOwners' failed to satisfy constraint: Member must have length greater than or equal to 1" \
        in msg


def test_blob_length_is_of_decoded_bytes():
    raw = base64.b64encode(b"x" * 4096).decode()
    assert V["Encrypt"]({"KeyId": "k", "Plaintext": raw})["Plaintext"] == b"x" * 4096
    msg = invalid("Encrypt", {"KeyId": "k", "Plaintext": base64.b64encode(b"x" * 4097).decode()})
    assert msg == ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                   "Member must have length less than or equal to 4096")
    assert invalid("Encrypt", {"KeyId": "k", "Plaintext": ""}) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")


# -- sensitive values are not echoed ------------------------------------------------------------


def test_sensitive_blob_is_not_echoed():
    secret = base64.b64encode(b"S3CRET-" * 700).decode()
    msg = invalid("Encrypt", {"KeyId": "k", "Plaintext": secret})
    assert secret not in msg and "S3CRET" not in msg
    assert "Value at 'plaintext'" in msg


def test_sensitive_string_is_not_echoed():
    msg = invalid("CreateCustomKeyStore", {"CustomKeyStoreName": "n", "KeyStorePassword": "hunter"})
    assert "hunter" not in msg
    assert msg == ("1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: "
                   "Member must have length greater than or equal to 7")


def test_non_sensitive_blob_is_not_echoed_either():
    msg = invalid("Decrypt", {"CiphertextBlob": base64.b64encode(b"c" * 6145).decode()})
    assert "Y2Nj" not in msg and "Value at 'ciphertextBlob'" in msg


# -- nested paths -------------------------------------------------------------------------------


def test_nested_list_member_paths():
    msg = invalid("CreateKey", {"Tags": [{"TagKey": "a", "TagValue": "b"}, {"TagValue": "x"}]})
    assert msg == f"1 validation error detected: Value null at 'tags.2.member.tagKey' {NOT_NULL}"
    msg = invalid("TagResource", {"KeyId": "k", "Tags": [{"TagKey": "", "TagValue": "v"}]})
    assert msg == ("1 validation error detected: Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: "
                   "Member must have length greater than or equal to 1")


def test_errors_in_several_list_members():
    msg = invalid("TagResource", {"KeyId": "k", "Tags": [{"TagKey": "ok", "TagValue": "v" * 257}, {}]})
    assert msg.startswith("3 validation errors detected: ")
    assert "at 'tags.1.member.tagValue' failed to satisfy constraint: " \
           "Member must have length less than or equal to 256" in msg
    assert f"Value null at 'tags.2.member.tagKey' {NOT_NULL}" in msg
    assert f"Value null at 'tags.2.member.tagValue' {NOT_NULL}" in msg


def test_nested_structure_path():
    msg = invalid("GenerateDataKey", {"KeyId": "k", "Recipient": {"KeyEncryptionAlgorithm": "RSA"}})
    assert "at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set" \
        in msg


def test_list_of_enums_path():
    msg = invalid("ListKeys", {"ResourceOwners": ["SELF", "NOBODY"]})
    assert "Value 'NOBODY' at 'resourceOwners.2.member' failed to satisfy constraint: " \
           "Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]" in msg


# -- wrong JSON types -> SerializationException --------------------------------------------------


@pytest.mark.parametrize("op,body", [
    ("Encrypt", {"KeyId": 5, "Plaintext": B64_HI}),
    ("Encrypt", {"KeyId": ["k"], "Plaintext": B64_HI}),
    ("Encrypt", {"KeyId": "k", "Plaintext": 12}),
    ("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "EncryptionContext": ["a", "b"]}),
    ("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "EncryptionContext": {"a": 1}}),
    ("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "GrantTokens": "t"}),
    ("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "DryRun": "true"}),
    ("Encrypt", {"KeyId": "k", "Plaintext": B64_HI, "DryRun": 1}),
    ("ListKeys", {"Limit": "5"}),
    ("ListKeys", {"Limit": True}),
    ("ListKeys", {"Limit": 1.5}),
    ("CreateKey", {"Tags": {"TagKey": "a", "TagValue": "b"}}),
    ("CreateKey", {"Tags": ["a"]}),
    ("GenerateDataKey", {"KeyId": "k", "Recipient": "x"}),
    ("Encrypt", []),
    ("Encrypt", "body"),
    ("Encrypt", None),
])
def test_wrong_json_type(op, body):
    serialization(op, body)


def test_wrong_type_names_the_path():
    assert "'keyId'" in serialization("Encrypt", {"KeyId": 5, "Plaintext": B64_HI})
    assert "'tags.1.member'" in serialization("CreateKey", {"Tags": ["a"]})


def test_type_error_wins_over_validation_errors():
    serialization("Encrypt", {"Plaintext": 5})  # keyId is also missing, but the type error is raised


def test_integral_float_is_accepted():
    assert V["ListKeys"]({"Limit": 5.0}) == {"Limit": 5}


# -- base64 blobs ----------------------------------------------------------------------------------


def test_base64_blob_is_decoded():
    data = bytes(range(256))
    out = V["Decrypt"]({"CiphertextBlob": base64.b64encode(data).decode()})
    assert out["CiphertextBlob"] == data


@pytest.mark.parametrize("bad", ["!!!!", "aGk", "aGk=x", "a GVsbG8=", "aGVsbG8=\n"])
def test_bad_base64_is_serialization_error(bad):
    msg = serialization("Decrypt", {"CiphertextBlob": bad})
    assert "ciphertextBlob" in msg


def test_validation_error_helper():
    assert validation_error(["a"]).message == "1 validation error detected: a"
    assert validation_error(["a", "b"]).message == "2 validation errors detected: a; b"
