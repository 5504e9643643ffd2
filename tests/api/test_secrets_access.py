"""Who may read and change a secret: IAM policies, the secret's resource policy (same
account and cross-account), the KMS key policy of the secret's key (kms:ViaService,
the SecretARN encryption context, key state), the condition keys Secrets Manager sets,
BlockPublicPolicy, and what the audit trail says about each call."""

from __future__ import annotations

import json
import uuid

import pytest

from sqlalchemy import text

from kms_core.storage.audit_file import trail_engine
from tests.api.test_audit import COLUMNS, request_id_of
from tests.api.test_kms_grants import make_user
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, second_account_key

OTHER_ACCOUNT = "444455556666"
VIA_SECRETS = f"secretsmanager.{REGION}.amazonaws.com"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture(scope="session")
def other_sm(server):
    akid, secret = second_account_key(server, OTHER_ACCOUNT)
    return server.client("secretsmanager", access_key_id=akid, secret=secret)


def user_client(server, policy: dict | None):
    user = make_user(server, policy)
    return server.client("secretsmanager", access_key_id=user.access_key_id, secret=user.secret), user


def allow(actions, resource="*", **extra) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource,
                                                    **extra}]}


def unique(prefix: str = "acc") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def key_with_policy(kms, *statements: dict) -> str:
    root = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
            "Action": "kms:*", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [root, *statements]}
    return kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]


# --- IAM ---------------------------------------------------------------------------------------
def test_a_user_without_a_policy_is_denied_and_learns_nothing(server, sm):
    client, user = user_client(server, None)
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    err = expect_error(lambda: client.get_secret_value(SecretId=arn), "AccessDeniedException")
    assert err["Message"] == (f"User: {user.arn} is not authorized to perform: secretsmanager:GetSecretValue on "
                              f"resource: {arn} because no identity-based policy allows the "
                              "secretsmanager:GetSecretValue action")
    # a name that doesn't exist is refused the same way, not reported missing
    expect_error(lambda: client.get_secret_value(SecretId=unique()), "AccessDeniedException")


def test_an_identity_policy_scoped_to_one_secret(server, sm):
    mine, other = unique("team-a"), unique("team-b")
    for name in (mine, other):
        sm.create_secret(Name=name, SecretString="v-" + name)
    client, _ = user_client(server, allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                                          f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:team-a/*"))
    assert client.get_secret_value(SecretId=mine)["SecretString"] == "v-" + mine
    expect_error(lambda: client.get_secret_value(SecretId=other), "AccessDeniedException")
    expect_error(lambda: client.put_secret_value(SecretId=mine, SecretString="x"), "AccessDeniedException")


def test_the_arn_suffix_pattern_matches_one_generation_only(server, sm):
    name = unique()
    first = sm.create_secret(Name=name, SecretString="one")["ARN"]
    client, _ = user_client(server, allow("secretsmanager:GetSecretValue", first))
    assert client.get_secret_value(SecretId=name)["SecretString"] == "one"
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    second = sm.create_secret(Name=name, SecretString="two")["ARN"]
    assert second != first and second[:-6] == first[:-6]
    expect_error(lambda: client.get_secret_value(SecretId=name), "AccessDeniedException")


def test_resource_tag_and_version_stage_conditions(server, sm):
    tagged, untagged = unique(), unique()
    sm.create_secret(Name=tagged, SecretString="t", Tags=[{"Key": "env", "Value": "prod"}])
    sm.put_secret_value(SecretId=tagged, SecretString="t2")
    sm.create_secret(Name=untagged, SecretString="u")
    client, _ = user_client(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:ResourceTag/env": "prod"}}},
        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSPREVIOUS"}}}]})
    assert client.get_secret_value(SecretId=tagged)["SecretString"] == "t2"
    expect_error(lambda: client.get_secret_value(SecretId=tagged, VersionStage="AWSPREVIOUS"),
                 "AccessDeniedException", contains="explicit deny")
    expect_error(lambda: client.get_secret_value(SecretId=untagged), "AccessDeniedException")


def test_create_conditions_name_and_request_tags(server, sm):
    client, _ = user_client(server, allow(["secretsmanager:CreateSecret", "secretsmanager:TagResource"], "*",
                                          Condition={"StringLike": {"secretsmanager:Name": "apps/*"},
                                                     "StringEquals": {"aws:RequestTag/owner": "alice"}}))
    client.create_secret(Name=unique("apps"), SecretString="v", Tags=[{"Key": "owner", "Value": "alice"}])
    expect_error(lambda: client.create_secret(Name=unique("other"), SecretString="v",
                                              Tags=[{"Key": "owner", "Value": "alice"}]), "AccessDeniedException")
    expect_error(lambda: client.create_secret(Name=unique("apps"), SecretString="v",
                                              Tags=[{"Key": "owner", "Value": "bob"}]), "AccessDeniedException")


def test_creating_with_tags_needs_tag_resource(server):
    client, _ = user_client(server, allow("secretsmanager:CreateSecret"))
    client.create_secret(Name=unique(), SecretString="v")
    expect_error(lambda: client.create_secret(Name=unique(), SecretString="v", Tags=[{"Key": "k", "Value": "v"}]),
                 "AccessDeniedException", contains="secretsmanager:TagResource")


def test_batch_get_checks_each_secret(server, sm):
    allowed, denied = unique("batch-ok"), unique("batch-no")
    sm.create_secret(Name=allowed, SecretString="a")
    sm.create_secret(Name=denied, SecretString="d")
    client, _ = user_client(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:batch-ok/*"}]})
    out = client.batch_get_secret_value(SecretIdList=[allowed, denied])
    assert [v["SecretString"] for v in out["SecretValues"]] == ["a"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in out["Errors"]] == [(denied, "AccessDeniedException")]


# --- resource policies -------------------------------------------------------------------------
def test_a_resource_policy_alone_lets_a_named_user_in(server, sm):
    client, user = user_client(server, None)
    arn = sm.create_secret(Name=unique(), SecretString="shared")["ARN"]
    expect_error(lambda: client.get_secret_value(SecretId=arn), "AccessDeniedException")
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "secretsmanager:GetSecretValue",
         "Resource": "*"}]}))
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "shared"
    expect_error(lambda: client.describe_secret(SecretId=arn), "AccessDeniedException")
    sm.delete_resource_policy(SecretId=arn)
    expect_error(lambda: client.get_secret_value(SecretId=arn), "AccessDeniedException")


def test_a_resource_policy_naming_the_account_does_not_bypass_iam(server, sm):
    client, _ = user_client(server, None)
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
         "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    expect_error(lambda: client.get_secret_value(SecretId=arn), "AccessDeniedException")


def test_an_explicit_deny_in_the_resource_policy_wins(server, sm):
    client, user = user_client(server, allow("secretsmanager:*"))
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": user.arn}, "Action": "secretsmanager:GetSecretValue",
         "Resource": "*"}]}))
    expect_error(lambda: client.get_secret_value(SecretId=arn), "AccessDeniedException",
                 contains="explicit deny in a resource-based policy")
    assert client.describe_secret(SecretId=arn)["ARN"] == arn


def test_block_public_policy(sm):
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                      "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    expect_error(lambda: sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(public),
                                                BlockPublicPolicy=True), "PublicPolicyException")
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(public))  # accepted when not blocked
    narrowed = dict(public)
    narrowed["Statement"] = [{**public["Statement"][0],
                              "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}}]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(narrowed), BlockPublicPolicy=True)
    result = sm.validate_resource_policy(ResourcePolicy=json.dumps(public))
    assert result["PolicyValidationPassed"] is False
    assert sm.validate_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(narrowed))["PolicyValidationPassed"]


def test_a_malformed_resource_policy_is_refused(sm):
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    for bad in ("not json", json.dumps({"Statement": [{"Effect": "Maybe"}]}),
                json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})):
        expect_error(lambda: sm.put_resource_policy(SecretId=arn, ResourcePolicy=bad),
                     "MalformedPolicyDocumentException")


# --- cross-account -----------------------------------------------------------------------------
def cross_account_policy(actions) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": actions,
         "Resource": "*"}]})


def test_a_cross_account_read_through_a_resource_policy_and_a_customer_key(server, sm, kms, other_sm):
    key_arn = key_with_policy(kms, {"Sid": "other account through Secrets Manager", "Effect": "Allow",
                                    "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                                    "Action": "kms:Decrypt", "Resource": "*",
                                    "Condition": {"StringEquals": {"kms:ViaService": VIA_SECRETS}}})
    arn = sm.create_secret(Name=unique("shared"), SecretString="for the other account", KmsKeyId=key_arn)["ARN"]
    expect_error(lambda: other_sm.get_secret_value(SecretId=arn), "AccessDeniedException",
                 contains="no resource-based policy allows")
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=cross_account_policy(
        ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]))
    assert other_sm.get_secret_value(SecretId=arn)["SecretString"] == "for the other account"
    assert other_sm.describe_secret(SecretId=arn)["ARN"] == arn
    expect_error(lambda: other_sm.put_secret_value(SecretId=arn, SecretString="x"), "AccessDeniedException")
    # by name, the other account looks in its own account; it never lists ours
    expect_error(lambda: other_sm.get_secret_value(SecretId=arn.split(":secret:")[1][:-7]),
                 "ResourceNotFoundException")
    assert arn not in [s["ARN"] for s in other_sm.list_secrets()["SecretList"]]


def test_cross_account_needs_the_key_policy_too(server, sm, kms, other_sm):
    key_arn = key_with_policy(kms)  # the other account is not in the key policy
    arn = sm.create_secret(Name=unique("shared"), SecretString="v", KmsKeyId=key_arn)["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=cross_account_policy("secretsmanager:GetSecretValue"))
    expect_error(lambda: other_sm.get_secret_value(SecretId=arn), "AccessDeniedException",
                 "Access to KMS is not allowed")


def test_cross_account_with_the_default_key_is_refused(server, sm, other_sm):
    arn = sm.create_secret(Name=unique("shared"), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=cross_account_policy(
        ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]))
    expect_error(lambda: other_sm.get_secret_value(SecretId=arn), "InvalidRequestException",
                 "You can't access a secret from a different AWS account if you encrypt the secret with the default "
                 "KMS service key.")
    assert other_sm.describe_secret(SecretId=arn)["Name"]


# --- the KMS key -------------------------------------------------------------------------------
def test_the_key_policy_decides_reads_and_writes(server, sm, kms):
    client, user = user_client(server, allow("secretsmanager:*"))
    key_arn = key_with_policy(kms, {"Sid": "user reads only for this secret", "Effect": "Allow",
                                    "Principal": {"AWS": user.arn}, "Action": "kms:Decrypt", "Resource": "*",
                                    "Condition": {"StringEquals": {"kms:ViaService": VIA_SECRETS},
                                                  "StringLike": {"kms:EncryptionContext:SecretARN":
                                                                 "arn:aws:secretsmanager:*:secret:readable-*"}}})
    readable = sm.create_secret(Name="readable-" + uuid.uuid4().hex[:6], SecretString="r", KmsKeyId=key_arn)["ARN"]
    other = sm.create_secret(Name="other-" + uuid.uuid4().hex[:6], SecretString="o", KmsKeyId=key_arn)["ARN"]
    assert client.get_secret_value(SecretId=readable)["SecretString"] == "r"
    expect_error(lambda: client.get_secret_value(SecretId=other), "AccessDeniedException",
                 "Access to KMS is not allowed")
    expect_error(lambda: client.put_secret_value(SecretId=readable, SecretString="w"), "AccessDeniedException",
                 "Access to KMS is not allowed")
    expect_error(lambda: client.create_secret(Name=unique(), SecretString="w", KmsKeyId=key_arn),
                 "AccessDeniedException", "Access to KMS is not allowed")


def test_the_key_is_used_only_through_secrets_manager_when_its_policy_says_so(server, sm, kms):
    client, user = user_client(server, allow("secretsmanager:*"))
    key_arn = key_with_policy(kms, {"Sid": "only through ssm", "Effect": "Allow", "Principal": {"AWS": user.arn},
                                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                                    "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}})
    expect_error(lambda: client.create_secret(Name=unique(), SecretString="v", KmsKeyId=key_arn),
                 "AccessDeniedException", "Access to KMS is not allowed")


def test_a_disabled_key_fails_reads_and_writes(sm, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = sm.create_secret(Name=unique(), SecretString="v", KmsKeyId=key_id)["ARN"]
    kms.disable_key(KeyId=key_id)
    try:
        expect_error(lambda: sm.get_secret_value(SecretId=arn), "DecryptionFailure", contains="disabled")
        expect_error(lambda: sm.put_secret_value(SecretId=arn, SecretString="w"), "EncryptionFailure",
                     contains="disabled")
    finally:
        kms.enable_key(KeyId=key_id)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v"


def test_changing_the_key_re_encrypts_the_labelled_versions(sm, kms):
    old_key, new_key = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    name = unique()
    sm.create_secret(Name=name, SecretString="v1", KmsKeyId=old_key)
    for value in ("v2", "v3"):
        sm.put_secret_value(SecretId=name, SecretString=value)  # v1 is now unlabelled
    sm.update_secret(SecretId=name, KmsKeyId=new_key)
    described = sm.describe_secret(SecretId=name)
    assert described["KmsKeyId"] == new_key
    versions = {v.get("VersionStages", [None])[0]: v["KmsKeyIds"]
                for v in sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]}
    assert versions == {"AWSCURRENT": [new_key], "AWSPREVIOUS": [new_key], None: [old_key]}
    kms.disable_key(KeyId=old_key)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v3"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "v2"
    sm.update_secret(SecretId=name, KmsKeyId="")  # back to aws/secretsmanager
    assert "KmsKeyId" not in sm.describe_secret(SecretId=name)
    assert sm.list_secret_version_ids(SecretId=name)["Versions"][0]["KmsKeyIds"] == ["DefaultEncryptionKey"]


def test_an_asymmetric_key_is_refused(sm, kms):
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    expect_error(lambda: sm.create_secret(Name=unique(), SecretString="v", KmsKeyId=key_id), "EncryptionFailure")


def test_the_aws_managed_key_is_made_on_first_use_and_listed(sm, kms):
    sm.create_secret(Name=unique(), SecretString="v")
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    managed = kms.describe_key(KeyId=aliases["alias/aws/secretsmanager"]["TargetKeyId"])["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    expect_error(lambda: kms.encrypt(KeyId="alias/aws/secretsmanager", Plaintext=b"x"), "AccessDeniedException")


# --- the audit trail -----------------------------------------------------------------------------
def event_for(server, request_id: str) -> dict:
    """The request's own record (not the record of a key made on the way, `sideChange`)."""
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE request_id = :r"),
                            {"r": request_id}).all()
    events = [dict(zip(COLUMNS, row)) for row in rows]
    own = [e for e in events if "sideChange" not in json.loads(e["detail"] or "{}")]
    assert len(own) == 1, events
    own[0]["resources"] = json.loads(own[0]["resources"] or "[]")
    return own[0]


def test_reads_and_writes_are_audited_with_the_version(server, sm):
    created = sm.create_secret(Name=unique(), SecretString="audited value")
    read = sm.get_secret_value(SecretId=created["ARN"])
    event = event_for(server, request_id_of(read))
    assert event["event_source"] == "secretsmanager.amazonaws.com" and event["event_name"] == "GetSecretValue"
    assert created["ARN"] in event["resources"]
    assert json.loads(event["detail"])["versionId"] == created["VersionId"]
    assert "audited value" not in json.dumps(event, default=str)
    write_event = event_for(server, request_id_of(created))
    assert json.loads(write_event["detail"])["versionId"] == created["VersionId"]
    assert any(r.startswith("arn:aws:kms:") for r in write_event["resources"])  # the key it used


# --- what an attacker tried (each a repro of a bug once found) ------------------------------------
def test_batch_get_judges_each_secret_by_its_own_condition_keys(server, sm):
    """A key set for one secret (its rotation function) must not be read for the next."""
    target = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-random"
    rotating, other = unique("batch-rot"), unique("batch-other")
    sm.create_secret(Name=rotating, SecretString="r")
    sm.create_secret(Name=other, SecretString="TOP-SECRET")
    sm.rotate_secret(SecretId=rotating, RotationLambdaARN=target, RotateImmediately=False,
                     RotationRules={"AutomaticallyAfterDays": 30})
    client, _ = user_client(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:resource/AllowRotationLambdaArn": target}}},
        {"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"}]})
    out = client.batch_get_secret_value(SecretIdList=[rotating, other])
    assert [v["Name"] for v in out["SecretValues"]] == [rotating]
    assert [e["SecretId"] for e in out["Errors"]] == [other]


@pytest.mark.parametrize("condition", [
    {"StringLike": {"aws:PrincipalAccount": "????????????"}},
    {"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}},
    {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::????????????:root"}},
    {"StringEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT_ID}},
])
def test_block_public_policy_sees_through_conditions_that_narrow_nothing(sm, condition):
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*", "Condition": condition}]})
    expect_error(lambda: sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy, BlockPublicPolicy=True),
                 "PublicPolicyException")
    assert sm.validate_resource_policy(ResourcePolicy=policy)["PolicyValidationPassed"] is False


def test_a_wildcard_account_principal_is_never_stored(sm):
    arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::*:root"]}, "Action": "secretsmanager:*",
         "Resource": "*"}]})
    for block in (True, False):
        expect_error(lambda: sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy, BlockPublicPolicy=block),
                     "MalformedPolicyDocumentException")


def test_a_create_retry_is_no_oracle_for_a_caller_who_cannot_read(server, sm):
    name = unique("pin")
    version = sm.create_secret(Name=name, SecretString="4711")["VersionId"]
    client, _ = user_client(server, allow(["secretsmanager:CreateSecret"]))
    for guess in ("1234", "4711"):
        expect_error(lambda: client.create_secret(Name=name, SecretString=guess, ClientRequestToken=version),
                     "ResourceExistsException", f"The operation failed because the secret {name} already exists.")


def test_a_create_retry_answers_a_caller_who_can_read(sm):
    name = unique("retry")
    first = sm.create_secret(Name=name, SecretString="same")
    again = sm.create_secret(Name=name, SecretString="same", ClientRequestToken=first["VersionId"])
    assert again["VersionId"] == first["VersionId"]


def test_cross_account_update_secret_with_the_default_key_is_refused(server, sm, other_sm):
    name = unique("shared")
    arn = sm.create_secret(Name=name, SecretString="owner's")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=cross_account_policy(
        ["secretsmanager:UpdateSecret", "secretsmanager:PutSecretValue"]))
    for call in (lambda: other_sm.update_secret(SecretId=arn, SecretString="attacker"),
                 lambda: other_sm.put_secret_value(SecretId=arn, SecretString="attacker")):
        expect_error(call, "InvalidRequestException", contains="default KMS service key")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "owner's"


def test_a_refusal_names_the_secret_as_the_caller_did(server, sm):
    client, _ = user_client(server, None)
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    err = expect_error(lambda: client.describe_secret(SecretId=name), "AccessDeniedException")
    assert err["Message"].endswith(f"on resource: {name} because no identity-based policy allows the "
                                   "secretsmanager:DescribeSecret action")


def test_another_accounts_missing_and_existing_secrets_look_the_same(server, sm, other_sm):
    existing = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    missing = existing[:-20] + "no-such-secret-AbCdEf"
    answers = []
    for arn in (existing, missing):
        for call in (lambda: other_sm.describe_secret(SecretId=arn),
                     lambda: other_sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)):
            answers.append(expect_error(call, "AccessDeniedException", contains="no resource-based policy allows")[
                "Code"])
    assert answers == ["AccessDeniedException"] * 4
    assert sm.describe_secret(SecretId=existing)["ARN"] == existing


def test_a_password_with_tiny_character_types_comes_at_once(sm):
    import string
    import time

    started = time.monotonic()
    password = sm.get_random_password(PasswordLength=5, IncludeSpace=True, ExcludeCharacters=(
        string.ascii_lowercase[1:] + string.ascii_uppercase[1:] + string.digits[1:]))["RandomPassword"]
    assert time.monotonic() - started < 1.0
    assert {"a", "A", "0", " "} <= set(password)


@pytest.mark.parametrize("where", ["secret", "key", "iam", "ssm"])
def test_a_deeply_nested_policy_is_malformed_not_a_crash(server, sm, kms, where):
    deep = "[" * 5000 + "]" * 5000
    if where == "secret":
        arn = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
        expect_error(lambda: sm.put_resource_policy(SecretId=arn, ResourcePolicy=deep),
                     "MalformedPolicyDocumentException")
        expect_error(lambda: sm.validate_resource_policy(ResourcePolicy=deep), "MalformedPolicyDocumentException")
    elif where == "key":
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        expect_error(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=deep),
                     "MalformedPolicyDocumentException")
    elif where == "iam":
        iam = server.client("iam")
        iam.create_user(UserName="deep-" + uuid.uuid4().hex[:8])
        user = iam.list_users()["Users"][-1]["UserName"]
        expect_error(lambda: iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=deep),
                     "MalformedPolicyDocument")
    else:
        ssm = server.client("ssm")
        within_limit = "[" * 2000 + "]" * 2000  # Policies is at most 4096 characters
        expect_error(lambda: ssm.put_parameter(Name="/deep/" + uuid.uuid4().hex[:8], Value="v", Type="String",
                                               Tier="Advanced", Policies=within_limit), "InvalidPolicyTypeException")
