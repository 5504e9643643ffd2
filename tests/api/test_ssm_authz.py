"""ssm:* authorisation for IAM users, and the KMS permission a SecureString read needs.

REF = aws_api.md §5.7 (KMS calls made as the caller via ssm.<region>.amazonaws.com),
§5.9 (IAM actions, parameter ARNs as resources), §4.12 (AWS-managed key policy lets any principal of the
account use it through SSM).
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, stored_data_key


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


PROD_PARAMS = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/prod/*"


@pytest.fixture
def user(server):
    """user(identity_policy) -> (ssm client, kms client) for a new IAM user."""
    iam = server.client("iam")

    def make(identity_policy: str):
        name = "ssm-u-" + uuid.uuid4().hex[:8]
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=identity_policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        creds = {"access_key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
        return server.client("ssm", **creds), server.client("kms", **creds)
    return make


@pytest.fixture
def app() -> str:
    return uuid.uuid4().hex[:10]


def test_get_parameter_limited_to_a_path(ssm, user, app):
    prod, dev = f"/app/prod/{app}/db", f"/app/dev/{app}/db"
    ssm.put_parameter(Name=prod, Value="p", Type="String")
    ssm.put_parameter(Name=dev, Value="d", Type="String")
    reader, _ = user(policy(allow("ssm:GetParameter", PROD_PARAMS)))
    assert reader.get_parameter(Name=prod)["Parameter"]["Value"] == "p"
    expect_error(lambda: reader.get_parameter(Name=dev), "AccessDeniedException")
    expect_error(lambda: reader.put_parameter(Name=prod, Value="x", Overwrite=True), "AccessDeniedException")
    expect_error(lambda: reader.delete_parameter(Name=prod), "AccessDeniedException")
    expect_error(lambda: reader.get_parameter_history(Name=prod), "AccessDeniedException")
    expect_error(lambda: reader.describe_parameters(), "AccessDeniedException")
    assert ssm.get_parameter(Name=prod)["Parameter"]["Value"] == "p"


def test_denied_message_names_the_action_and_parameter(ssm, user, app):
    dev = f"/app/dev/{app}/db"
    ssm.put_parameter(Name=dev, Value="d", Type="String")
    reader, _ = user(policy(allow("ssm:GetParameter", PROD_PARAMS)))
    err = expect_error(lambda: reader.get_parameter(Name=dev), "AccessDeniedException")
    assert "ssm:GetParameter" in err["Message"], err
    assert f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/dev/{app}/db" in err["Message"], err


def test_secure_string_with_customer_key_needs_kms_decrypt(ssm, kms, user, app):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/app/prod/{app}/secret"
    ssm.put_parameter(Name=name, Value="s3cr3t", Type="SecureString", KeyId=key_id)

    ssm_only, _ = user(policy(allow("ssm:GetParameter", PROD_PARAMS)))
    assert ssm_only.get_parameter(Name=name)["Parameter"]["Value"] != "s3cr3t"  # ciphertext needs no KMS call
    expect_error(lambda: ssm_only.get_parameter(Name=name, WithDecryption=True), "AccessDeniedException")

    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    with_kms, _ = user(policy(allow("ssm:GetParameter", PROD_PARAMS), allow("kms:Decrypt", key_arn)))
    assert with_kms.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"


def test_secure_string_put_with_customer_key_needs_kms_encrypt(ssm, kms, user, app):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    writer, _ = user(policy(allow(["ssm:PutParameter", "ssm:GetParameter"], PROD_PARAMS)))
    name = f"/app/prod/{app}/w"
    expect_error(lambda: writer.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id),
                 "AccessDeniedException")
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    writer2, _ = user(policy(allow(["ssm:PutParameter", "ssm:GetParameter"], PROD_PARAMS),
                             allow(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], key_arn)))
    writer2.put_parameter(Name=name, Value="v", Type="SecureString", KeyId=key_id)
    assert writer2.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"


def test_kms_decrypt_only_through_ssm_for_the_right_parameter(ssm, kms, user, app):
    """A key policy grant pinned with kms:ViaService lets SSM decrypt but not a direct call."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/app/prod/{app}/pinned"
    ssm.put_parameter(Name=name, Value="pinned", Type="SecureString", KeyId=key_id)
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    reader, reader_kms = user(policy(
        allow("ssm:GetParameter", PROD_PARAMS),
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}}))
    assert reader.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "pinned"
    blob = stored_data_key(reader.get_parameter(Name=name)["Parameter"]["Value"])
    expect_error(lambda: reader_kms.decrypt(
        CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{name}"}),
        "AccessDeniedException")


def test_managed_key_usable_by_any_ssm_authorised_principal(ssm, user, app):
    name = f"/app/prod/{app}/default-key"
    ssm.put_parameter(Name=name, Value="via-aws-ssm", Type="SecureString")
    reader, _ = user(policy(allow("ssm:GetParameter", PROD_PARAMS)))
    assert reader.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "via-aws-ssm"


def test_get_parameters_by_path_permission_covers_the_subtree(ssm, user, app):
    ssm.put_parameter(Name=f"/app/prod/{app}/a", Value="a", Type="String")
    ssm.put_parameter(Name=f"/app/prod/{app}/deep/b", Value="b", Type="String")
    lister, _ = user(policy(allow("ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/prod/{app}")))
    got = lister.get_parameters_by_path(Path=f"/app/prod/{app}", Recursive=True)["Parameters"]
    assert sorted(p["Value"] for p in got) == ["a", "b"]
    expect_error(lambda: lister.get_parameters_by_path(Path=f"/app/dev/{app}"), "AccessDeniedException")


def test_last_modified_user_is_the_caller(ssm, server, app):
    iam = server.client("iam")
    user_name = "ssm-w-" + uuid.uuid4().hex[:8]
    user_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=policy(allow("ssm:PutParameter", PROD_PARAMS)))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    writer = server.client("ssm", access_key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
    name = f"/app/prod/{app}/who"
    ssm.put_parameter(Name=name, Value="root", Type="String")
    writer.put_parameter(Name=name, Value="user", Overwrite=True)
    hist = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [h["LastModifiedUser"] for h in hist] == [f"arn:aws:iam::{ACCOUNT_ID}:root", user_arn]
    [meta] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert meta["LastModifiedUser"] == user_arn


def test_encryption_context_condition_pins_one_parameter(ssm, kms, user, app):
    """REF §5.7: every KMS call carries {"PARAMETER_ARN": <arn>}; IAM can pin a parameter with it."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    mine, other = f"/app/prod/{app}/mine", f"/app/prod/{app}/other"
    for n in (mine, other):
        ssm.put_parameter(Name=n, Value=n, Type="SecureString", KeyId=key_id)
    reader, _ = user(policy(
        allow("ssm:GetParameter", PROD_PARAMS),
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
         "Condition": {"StringEquals": {
             "kms:EncryptionContext:PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{mine}"}}}))
    assert reader.get_parameter(Name=mine, WithDecryption=True)["Parameter"]["Value"] == mine
    expect_error(lambda: reader.get_parameter(Name=other, WithDecryption=True), "AccessDeniedException")


@pytest.mark.parametrize("tier, kms_action, allowed", [
    ("Standard", "kms:GenerateDataKey", False),
    ("Standard", "kms:Encrypt", True),
    ("Advanced", "kms:GenerateDataKey", True),
    ("Advanced", "kms:Encrypt", False),
])
def test_kms_permission_needed_per_tier(kms, user, app, tier, kms_action, allowed):
    """As on AWS: a Standard-tier SecureString needs kms:Encrypt, an Advanced-tier one
    kms:GenerateDataKey (KMS developer guide, "How Parameter Store uses AWS KMS")."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    writer, _ = user(policy(allow("ssm:PutParameter", PROD_PARAMS), allow(kms_action, key_arn)))
    put = lambda: writer.put_parameter(Name=f"/app/prod/{app}/{tier}", Value="v",  # noqa: E731
                                       Type="SecureString", KeyId=key_id, Tier=tier)
    if allowed:
        assert put()["Tier"] == tier
    else:
        expect_error(put, "AccessDeniedException")


def test_listing_checks_each_values_encryption_context(ssm, kms, user, app):
    """GetParametersByPath decides kms:Decrypt once per key only when the decision did not
    read the encryption context; a policy pinned to one PARAMETER_ARN is applied per value."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    base = f"/app/prod/{app}/list"
    for leaf in ("a", "b"):
        ssm.put_parameter(Name=f"{base}/{leaf}", Value=leaf, Type="SecureString", KeyId=key_id)
    lister, _ = user(policy(
        allow(["ssm:GetParametersByPath", "ssm:GetParameter"], f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/*"),
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key,
         "Condition": {"StringEquals": {
             "kms:EncryptionContext:PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{base}/a"}}}))
    for _ in range(2):  # the second round reads with the data keys cached
        assert lister.get_parameter(Name=f"{base}/a", WithDecryption=True)["Parameter"]["Value"] == "a"
        expect_error(lambda: lister.get_parameters_by_path(Path=base, WithDecryption=True), "AccessDeniedException")
    assert sorted(p["Value"] for p in ssm.get_parameters_by_path(Path=base, WithDecryption=True)["Parameters"]) == \
        ["a", "b"]
    unpinned, _ = user(policy(
        allow("ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/app/*"),
        allow("kms:Decrypt", key)))
    assert sorted(p["Value"] for p in unpinned.get_parameters_by_path(Path=base, WithDecryption=True)["Parameters"]) \
        == ["a", "b"]
