"""SecureString parameters and their KMS side, through boto3.

REF = aws_api.md §5.7 (SecureString and KMS), §4.12 (AWS-managed keys), §8 items 8–9.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, key_arn, stored_data_key


@pytest.fixture
def name(base) -> str:
    return f"{base}/secret"


def parameter_arn(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"


def metadata(ssm, name: str) -> dict:
    [meta] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    return meta


@pytest.fixture
def managed_key(ssm, kms):
    """The account's AWS-managed alias/aws/ssm key (made on first use by a default SecureString put)."""
    ssm.put_parameter(Name=f"/t/{uuid.uuid4().hex[:10]}/first-use", Value="x", Type="SecureString")
    return kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]


# --- default key ---------------------------------------------------------------------------------

def test_default_key_round_trip(ssm, name):
    out = ssm.put_parameter(Name=name, Value="s3cr3t", Type="SecureString")
    assert (out["Version"], out["Tier"]) == (1, "Standard")
    hidden = ssm.get_parameter(Name=name)["Parameter"]
    assert hidden["Type"] == "SecureString"
    assert hidden["Value"] != "s3cr3t"
    assert base64.b64decode(hidden["Value"], validate=True)  # base64 ciphertext, not a mask
    assert b"s3cr3t" not in base64.b64decode(hidden["Value"])
    shown = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert shown["Value"] == "s3cr3t"
    assert "KeyId" not in shown
    assert metadata(ssm, name)["KeyId"] == "alias/aws/ssm"


def test_with_decryption_does_not_change_plain_types(ssm, base):
    ssm.put_parameter(Name=f"{base}/s", Value="plain", Type="String")
    ssm.put_parameter(Name=f"{base}/l", Value="a,b", Type="StringList")
    out = ssm.get_parameters(Names=[f"{base}/s", f"{base}/l"], WithDecryption=True)
    assert sorted(p["Value"] for p in out["Parameters"]) == ["a,b", "plain"]


def test_get_parameters_and_history_decrypt(ssm, name):
    ssm.put_parameter(Name=name, Value="one", Type="SecureString")
    ssm.put_parameter(Name=name, Value="two", Type="SecureString", Overwrite=True)
    hidden = ssm.get_parameters(Names=[name])["Parameters"][0]["Value"]
    assert hidden not in ("one", "two")
    assert ssm.get_parameters(Names=[name], WithDecryption=True)["Parameters"][0]["Value"] == "two"
    assert ssm.get_parameters(Names=[f"{name}:1"], WithDecryption=True)["Parameters"][0]["Value"] == "one"
    hist = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
    assert [(h["Value"], h["KeyId"]) for h in hist] == [("one", "alias/aws/ssm"), ("two", "alias/aws/ssm")]
    hist = ssm.get_parameter_history(Name=name)["Parameters"]
    assert all(h["Value"] not in ("one", "two") for h in hist)


def test_each_put_encrypts_afresh(ssm, base):
    ssm.put_parameter(Name=f"{base}/a", Value="same", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/b", Value="same", Type="SecureString")
    a = ssm.get_parameter(Name=f"{base}/a")["Parameter"]["Value"]
    b = ssm.get_parameter(Name=f"{base}/b")["Parameter"]["Value"]
    assert a != b


def test_advanced_secure_string(ssm, name):
    value = "z" * 6000
    assert ssm.put_parameter(Name=name, Value=value, Type="SecureString", Tier="Advanced")["Tier"] == "Advanced"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
    hidden = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assert base64.b64decode(hidden, validate=True) and value not in hidden


def test_standard_to_advanced_secure_string(ssm, name):
    ssm.put_parameter(Name=name, Value="small", Type="SecureString")
    ssm.put_parameter(Name=name, Value="y" * 5000, Overwrite=True, Tier="Advanced")
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "y" * 5000
    assert ssm.get_parameter(Name=f"{name}:1", WithDecryption=True)["Parameter"]["Value"] == "small"


# --- customer keys -------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_customer_key_forms(ssm, kms, name, form):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/ssm-test-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    given = {"id": key_id, "arn": key_arn(key_id), "alias": alias,
             "alias_arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{alias}"}[form]
    ssm.put_parameter(Name=name, Value="customer", Type="SecureString", KeyId=given)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "customer"
    assert metadata(ssm, name)["KeyId"] == given  # stored as given, not resolved
    assert ssm.get_parameter_history(Name=name)["Parameters"][0]["KeyId"] == given


def test_stored_data_key_is_kms_ciphertext_bound_to_the_parameter_arn(ssm, kms, name):
    """The value is sealed under a data key (KMS Encrypt or GenerateDataKey); that data key is a KMS
    ciphertext under the parameter's key with the PARAMETER_ARN encryption context."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value="bound", Type="SecureString", KeyId=key_id)
    blob = stored_data_key(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": parameter_arn(name)})
    assert len(out["Plaintext"]) == 32 and b"bound" not in out["Plaintext"]
    assert out["KeyId"] == key_arn(key_id)
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob), "InvalidCiphertextException")
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": parameter_arn(name + "x")}),
                 "InvalidCiphertextException")


def test_key_id_carried_over_and_changed_on_overwrite(ssm, kms, name):
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value="v1", Type="SecureString", KeyId=first)
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True)
    assert metadata(ssm, name)["KeyId"] == first
    ssm.put_parameter(Name=name, Value="v3", Overwrite=True, KeyId=second)
    assert metadata(ssm, name)["KeyId"] == second
    hist = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
    assert [(h["Value"], h["KeyId"]) for h in hist] == [("v1", first), ("v2", first), ("v3", second)]


@pytest.mark.parametrize("key", ["alias/does-not-exist", "1234abcd-12ab-34cd-56ef-1234567890ab",
                                 f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
def test_unknown_key(ssm, name, key):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key), "InvalidKeyId")
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


@pytest.mark.parametrize("spec, usage", [("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "SIGN_VERIFY"),
                                         ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_non_symmetric_key_rejected(ssm, kms, name, spec, usage):
    """SecureString needs a symmetric encryption key (Encrypt / GenerateDataKey with SYMMETRIC_DEFAULT)."""
    key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id), "InvalidKeyId")
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


def test_disabled_key(ssm, kms, name):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value="before", Type="SecureString", KeyId=key_id)
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: ssm.put_parameter(Name=name + "2", Value="v", Type="SecureString", KeyId=key_id),
                 "InvalidKeyId")
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] != "before"  # ciphertext still readable
    kms.enable_key(KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "before"


def test_disabled_key_advanced(ssm, kms, name):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value="adv", Type="SecureString", KeyId=key_id, Tier="Advanced")
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    kms.enable_key(KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "adv"


def test_key_pending_deletion(ssm, kms, name):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value="before", Type="SecureString", KeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Overwrite=True), "InvalidKeyId")
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1
    kms.cancel_key_deletion(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "before"


def test_get_parameters_with_a_disabled_key(ssm, kms, base):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=f"{base}/a", Value="v", Type="SecureString", KeyId=key_id)
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: ssm.get_parameters(Names=[f"{base}/a"], WithDecryption=True), "InvalidKeyId")
    kms.enable_key(KeyId=key_id)


# --- the AWS-managed key alias/aws/ssm -------------------------------------------------------------

def test_managed_key_metadata(managed_key, kms):
    assert managed_key["KeyManager"] == "AWS"
    assert managed_key["KeyState"] == "Enabled"
    assert managed_key["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert managed_key["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert managed_key["Arn"] == key_arn(managed_key["KeyId"])
    aliases = [a for a in kms.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]
               if a["AliasName"] == "alias/aws/ssm"]
    assert len(aliases) == 1 and aliases[0]["TargetKeyId"] == managed_key["KeyId"]
    key_ids = [k["KeyId"] for k in kms.get_paginator("list_keys").paginate().build_full_result()["Keys"]]
    assert managed_key["KeyId"] in key_ids


def test_managed_key_is_one_key(ssm, managed_key, kms, base):
    ssm.put_parameter(Name=f"{base}/again", Value="x", Type="SecureString")
    assert kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyId"] == managed_key["KeyId"]
    explicit = f"{base}/explicit"
    ssm.put_parameter(Name=explicit, Value="x", Type="SecureString", KeyId="alias/aws/ssm")
    assert ssm.get_parameter(Name=explicit, WithDecryption=True)["Parameter"]["Value"] == "x"


def test_managed_key_rotation_always_on(managed_key, kms):
    assert kms.get_key_rotation_status(KeyId=managed_key["KeyId"])["KeyRotationEnabled"] is True


def test_managed_key_policy_only_allows_use_through_ssm(managed_key, kms):
    text = kms.get_key_policy(KeyId=managed_key["KeyId"], PolicyName="default")["Policy"]
    doc = json.loads(text)
    conditions = json.dumps([s.get("Condition", {}) for s in doc["Statement"]])
    assert f"ssm.{REGION}.amazonaws.com" in conditions
    assert ACCOUNT_ID in conditions


@pytest.mark.parametrize("operation", ["disable_key", "schedule_key_deletion", "put_key_policy", "tag_resource",
                                       "disable_key_rotation", "update_key_description", "encrypt",
                                       "generate_data_key"])
def test_managed_key_cannot_be_changed_or_used_directly(managed_key, kms, operation):
    key_id = managed_key["KeyId"]
    calls = {
        "disable_key": lambda: kms.disable_key(KeyId=key_id),
        "schedule_key_deletion": lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7),
        "put_key_policy": lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}}]})),
        "tag_resource": lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}]),
        "disable_key_rotation": lambda: kms.disable_key_rotation(KeyId=key_id),
        "update_key_description": lambda: kms.update_key_description(KeyId=key_id, Description="mine"),
        "encrypt": lambda: kms.encrypt(KeyId="alias/aws/ssm", Plaintext=b"direct"),
        "generate_data_key": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
    }
    expect_error(calls[operation], "AccessDeniedException")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_managed_key_cannot_be_aliased_by_the_user(managed_key, kms):
    with pytest.raises(ClientError):
        kms.create_alias(AliasName=f"alias/mine-{uuid.uuid4().hex[:8]}", TargetKeyId=managed_key["KeyId"])


def test_managed_key_ciphertext_not_decryptable_directly(ssm, managed_key, kms, name):
    ssm.put_parameter(Name=name, Value="only-via-ssm", Type="SecureString")
    blob = stored_data_key(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": parameter_arn(name)}),
                 "AccessDeniedException")
