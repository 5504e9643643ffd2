"""The AWS-managed key set `alias/aws/ssm`: made on first use, visible, usable only through
Parameter Store, and closed to customer changes.  And the encryption context binding
SecureString values to their parameter."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from kms_core.service_keys import ServiceKeySet
from tests.helpers import expect_error, stored_data_key


def _managed_key(kms) -> dict:
    return kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]


def _stored_data_key(ssm, name: str) -> bytes:
    return stored_data_key(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def test_managed_key_is_visible_with_aws_key_manager_and_rotates(server, kms, ssm):
    ssm.put_parameter(Name=f"/managed/{uuid.uuid4().hex[:8]}", Value="x", Type="SecureString")
    meta = _managed_key(kms)
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled"
    assert any(k["KeyId"] == meta["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"])
    aliases = [a for page in kms.get_paginator("list_aliases").paginate() for a in page["Aliases"]]
    assert {"AliasName": "alias/aws/ssm", "TargetKeyId": meta["KeyId"]}.items() <= next(
        a for a in aliases if a["AliasName"] == "alias/aws/ssm").items()
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    condition = policy["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {"kms:ViaService": "ssm.us-east-1.amazonaws.com", "kms:CallerAccount": "111122223333"}


@pytest.mark.parametrize("call", [
    lambda kms, k: kms.disable_key(KeyId=k),
    lambda kms, k: kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7),
    lambda kms, k: kms.put_key_policy(KeyId=k, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*",
                                               "Resource": "*"}]})),
    lambda kms, k: kms.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}]),
    lambda kms, k: kms.disable_key_rotation(KeyId=k),
    lambda kms, k: kms.update_key_description(KeyId=k, Description="mine"),
    lambda kms, k: kms.create_alias(AliasName=f"alias/onto-managed-{uuid.uuid4().hex[:6]}", TargetKeyId=k),
    lambda kms, k: kms.encrypt(KeyId=k, Plaintext=b"direct"),
    lambda kms, k: kms.generate_data_key(KeyId="alias/aws/ssm", KeySpec="AES_256"),
], ids=["disable", "delete", "policy", "tag", "rotation", "description", "alias", "encrypt", "data-key"])
def test_customers_cannot_change_or_directly_use_the_managed_key(kms, ssm, call):
    ssm.put_parameter(Name=f"/managed/{uuid.uuid4().hex[:8]}", Value="x", Type="SecureString")
    key_id = _managed_key(kms)["KeyId"]
    expect_error(lambda: call(kms, key_id), "AccessDeniedException")
    assert _managed_key(kms)["KeyState"] == "Enabled"


def test_direct_decrypt_of_a_parameters_data_key_is_denied(kms, ssm):
    name = f"/managed/{uuid.uuid4().hex[:8]}/secret"
    ssm.put_parameter(Name=name, Value="only-through-ssm", Type="SecureString")
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    blob = _stored_data_key(ssm, name)
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": arn}),
                 "AccessDeniedException")


def test_customer_key_data_key_is_bound_to_the_parameter_arn(kms, ssm):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/managed/{uuid.uuid4().hex[:8]}/cmk"
    ssm.put_parameter(Name=name, Value="bound", Type="SecureString", KeyId=key_id)
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    blob = _stored_data_key(ssm, name)
    # the caller may decrypt its own key's ciphertext directly, but only with this parameter's ARN
    assert len(kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": arn})["Plaintext"]) == 32
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": arn + "x"}),
                 "InvalidCiphertextException")
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob), "InvalidCiphertextException")


def test_describe_key_on_the_alias_makes_the_managed_key(server):
    """A fresh account (region) gets its key from DescribeKey alone, as on AWS."""
    kms = server.client("kms", region="eu-west-3")
    meta = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["Arn"].startswith("arn:aws:kms:eu-west-3:")
    assert kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyId"] == meta["KeyId"]  # one key


def test_undeclared_service_aliases_are_not_created(server):
    kms = server.client("kms", region="eu-west-2")
    expect_error(lambda: kms.describe_key(KeyId="alias/aws/nosuchservice"), "NotFoundException")


def test_a_new_service_gets_its_key_set_by_registering_it(server):
    service_keys = server.app.state.store.kms.service_keys
    key_set = ServiceKeySet("appconfig", "AppConfig", "Default key for AppConfig")
    service_keys.register(key_set)
    assert service_keys.for_alias("alias/aws/appconfig") is key_set
    kms = server.client("kms", region="ap-south-1")
    meta = kms.describe_key(KeyId="alias/aws/appconfig")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["Description"] == "Default key for AppConfig"
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"] == \
        "appconfig.ap-south-1.amazonaws.com"


def test_disabled_customer_key_gives_invalid_key_id_on_put_and_read(kms, ssm):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/managed/{uuid.uuid4().hex[:8]}/disabled"
    ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"  # data key now cached
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    expect_error(lambda: ssm.put_parameter(Name=name, Value="w", Type="SecureString", KeyId=key_id, Overwrite=True),
                 "InvalidKeyId")
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1  # nothing stored, nothing lost
    kms.enable_key(KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    try:
        ssm.put_parameter(Name=name, Value="w", Type="SecureString", KeyId="alias/does-not-exist", Overwrite=True)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidKeyId"
    else:
        raise AssertionError("an unknown alias was accepted")


def test_deleted_key_gives_invalid_key_id_not_a_wrong_value(server, kms, ssm):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/managed/{uuid.uuid4().hex[:8]}/deleted"
    ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    server.clock.advance(days=8)
    expect_error(lambda: kms.describe_key(KeyId=key_id), "NotFoundException")
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "InvalidKeyId")
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1  # still there, undecryptable


def test_a_policy_change_applies_to_cached_data_keys_at_once(server, kms, ssm):
    """Repeat reads skip re-opening the data key but never the authorization."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/managed/{uuid.uuid4().hex[:8]}/revoked"
    ssm.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"
    deny = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "no-ssm", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}}}]}
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(deny))
    expect_error(lambda: ssm.get_parameter(Name=name, WithDecryption=True), "AccessDeniedException")
