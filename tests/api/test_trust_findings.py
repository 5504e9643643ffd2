"""Privilege-escalation and signing holes, each tried as an attacker would: boto3 clients,
a second account and crafted signatures against the live server (SQLite and PostgreSQL).

Each test names the finding it closes; each failed on the build before the fix."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.api.test_authorization import other_account  # noqa: F401  (the second-account fixture)
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def uid() -> str:
    return uuid.uuid4().hex[:8]


def client_for(server, service: str, creds: dict):
    return boto3.client(service, endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"),
                        config=Config(retries={"total_max_attempts": 1}))


def new_user(server, policy_document: str, path: str = "/"):
    """(name, access key) of a fresh IAM user with one inline policy."""
    iam = server.client("iam")
    name = "u-" + uid()
    iam.create_user(UserName=name, Path=path)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy_document)
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def error_of(call, **kwargs) -> tuple[str, str]:
    """(code, message) of the client error the call must raise (any 4xx status)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert 400 <= response["ResponseMetadata"]["HTTPStatusCode"] < 500, response
    return response["Error"]["Code"], response["Error"].get("Message", "")


def code_of(call, **kwargs) -> str:
    return error_of(call, **kwargs)[0]


# --- 1. IAM paths are part of the resource ARN --------------------------------------------
def test_iam_actions_are_checked_on_the_arn_with_its_path(server):
    admin = server.client("iam")
    tag = uid()
    boss = f"boss-{tag}"
    admin.create_user(UserName=boss, Path="/admins/")
    admin_role = f"AdminRole-{tag}"
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                 "Action": "sts:AssumeRole"})
    admin.create_role(RoleName=admin_role, Path="/admin/", AssumeRolePolicyDocument=trust)
    admin.put_role_policy(RoleName=admin_role, PolicyName="all", PolicyDocument=doc(allow("kms:*")))

    _, key = new_user(server, doc(
        allow("iam:*", [f"arn:aws:iam::{ACCOUNT_ID}:user/*", f"arn:aws:iam::{ACCOUNT_ID}:role/*"]),
        allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT_ID}:role/*"),
        deny("iam:*", [f"arn:aws:iam::{ACCOUNT_ID}:user/admins/*", f"arn:aws:iam::{ACCOUNT_ID}:role/admin/*"]),
        deny("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT_ID}:role/admin/*")))
    attacker = client_for(server, "iam", key)
    sts = client_for(server, "sts", key)

    for call, kwargs in [
        (attacker.create_access_key, {"UserName": boss}),
        (attacker.list_access_keys, {"UserName": boss}),
        (attacker.get_user, {"UserName": boss}),
        (attacker.put_user_policy, {"UserName": boss, "PolicyName": "x", "PolicyDocument": doc(allow("*"))}),
        (attacker.list_user_policies, {"UserName": boss}),
        (attacker.delete_user, {"UserName": boss}),
        (attacker.get_role, {"RoleName": admin_role}),
        (attacker.update_assume_role_policy, {"RoleName": admin_role, "PolicyDocument": trust}),
        (attacker.put_role_policy, {"RoleName": admin_role, "PolicyName": "x", "PolicyDocument": doc(allow("*"))}),
        (attacker.get_role_policy, {"RoleName": admin_role, "PolicyName": "all"}),
        (attacker.delete_role_policy, {"RoleName": admin_role, "PolicyName": "all"}),
        (attacker.delete_role, {"RoleName": admin_role}),
    ]:
        code, message = error_of(call, **kwargs)
        assert code == "AccessDenied", (call, code, message)
        assert ":user/admins/" in message or ":role/admin/" in message, message
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/admin/{admin_role}"
    assert code_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="attempt") == "AccessDenied"
    # nothing changed: the boss has no key, the role its policy
    assert admin.list_access_keys(UserName=boss)["AccessKeyMetadata"] == []
    assert admin.list_role_policies(RoleName=admin_role)["PolicyNames"] == ["all"]

    # outside the denied paths the same rights work
    plain = "plain-" + tag
    admin.create_user(UserName=plain)
    assert attacker.create_access_key(UserName=plain)["AccessKey"]["UserName"] == plain


# --- 2. Aliases are resources of their own ---------------------------------------------------
def test_alias_operations_check_the_alias_and_every_key(server):
    kms = server.client("kms")
    tag = uid()
    prod_key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/prod-db-{tag}", TargetKeyId=prod_key)
    _, key = new_user(server, doc(
        allow(["kms:CreateKey", "kms:DescribeKey", "kms:Encrypt", "kms:Decrypt"]),
        allow(["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
              [f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/dev-*", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/*"])))
    attacker = client_for(server, "kms", key)
    own_key = attacker.create_key()["KeyMetadata"]["KeyId"]

    assert code_of(attacker.update_alias, AliasName=f"alias/prod-db-{tag}", TargetKeyId=own_key) \
        == "AccessDeniedException"
    assert code_of(attacker.delete_alias, AliasName=f"alias/prod-db-{tag}") == "AccessDeniedException"
    assert code_of(attacker.create_alias, AliasName=f"alias/prod-x-{tag}", TargetKeyId=own_key) \
        == "AccessDeniedException"
    assert kms.describe_key(KeyId=f"alias/prod-db-{tag}")["KeyMetadata"]["KeyId"] == prod_key

    # its own alias namespace works: create, repoint between keys it may use, delete
    attacker.create_alias(AliasName=f"alias/dev-{tag}", TargetKeyId=own_key)
    second = attacker.create_key()["KeyMetadata"]["KeyId"]
    attacker.update_alias(AliasName=f"alias/dev-{tag}", TargetKeyId=second)
    attacker.delete_alias(AliasName=f"alias/dev-{tag}")


def test_update_alias_needs_the_right_on_the_old_key(server):
    kms = server.client("kms")
    tag = uid()
    guarded = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/dev-guarded-{tag}", TargetKeyId=guarded)
    _, key = new_user(server, doc(
        allow(["kms:CreateKey"]),
        allow("kms:UpdateAlias", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/dev-*"),
        allow("kms:UpdateAlias", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/*"),
        deny("kms:UpdateAlias", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{guarded}")))
    attacker = client_for(server, "kms", key)
    own_key = attacker.create_key()["KeyMetadata"]["KeyId"]
    assert code_of(attacker.update_alias, AliasName=f"alias/dev-guarded-{tag}", TargetKeyId=own_key) \
        == "AccessDeniedException"


# --- 3. aws:TokenIssueTime revokes older sessions ---------------------------------------------
def _role_with_session(server, policy_document: str):
    iam, sts = server.client("iam"), server.client("sts")
    name = "r-" + uid()
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                 "Action": "sts:AssumeRole"})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="use", PolicyDocument=policy_document)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="app")["Credentials"]
    return name, arn, creds


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_token_issue_time_revokes_sessions_issued_before_a_date(server):
    iam = server.client("iam")
    name, _, creds = _role_with_session(server, doc(allow("kms:ListKeys")))
    session = client_for(server, "kms", creds)
    session.list_keys()

    now = datetime.now(timezone.utc)
    revoke = {"Effect": "Deny", "Action": "*", "Resource": "*",
              "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(now - timedelta(hours=1))}}}
    iam.put_role_policy(RoleName=name, PolicyName="revoke", PolicyDocument=doc(revoke))
    session.list_keys()  # issued after the cut-off: still good

    revoke["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = _iso(now + timedelta(minutes=5))
    iam.put_role_policy(RoleName=name, PolicyName="revoke", PolicyDocument=doc(revoke))
    code, message = error_of(session.list_keys)
    assert code == "AccessDeniedException" and "explicit deny" in message


def test_token_issue_time_is_absent_for_long_term_keys(server):
    now = datetime.now(timezone.utc)
    _, key = new_user(server, doc(allow("kms:ListKeys"), {
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(now + timedelta(days=1))}}}))
    client_for(server, "kms", key).list_keys()  # no session token: the key is absent, no match


# --- 5. Sessions belong to the role they were issued for --------------------------------------
def test_session_of_a_deleted_role_is_refused_even_if_the_name_returns(server):
    iam = server.client("iam")
    name, _, creds = _role_with_session(server, doc(allow("kms:ListKeys")))
    session = client_for(server, "kms", creds)
    session.list_keys()

    iam.delete_role_policy(RoleName=name, PolicyName="use")
    iam.delete_role(RoleName=name)
    assert code_of(session.list_keys) == "UnrecognizedClientException"

    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                 "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=doc(allow("kms:*")))
    assert code_of(session.list_keys) == "UnrecognizedClientException"
    assert code_of(session.create_key) == "UnrecognizedClientException"


# --- 4. Tag condition keys (ABAC) ----------------------------------------------------------
def test_tag_keys_condition_stops_retagging_a_key(server):
    kms = server.client("kms")
    red_key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=red_key, Plaintext=b"red secret")["CiphertextBlob"]
    _, key = new_user(server, doc(
        allow(["kms:TagResource", "kms:UntagResource", "kms:CreateKey", "kms:DescribeKey"]),
        allow("kms:Decrypt", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}}),
        deny(["kms:TagResource", "kms:UntagResource"],
             Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}),
        deny("kms:CreateKey", Condition={"StringEquals": {"aws:RequestTag/project": "red"}})))
    blue = client_for(server, "kms", key)

    assert code_of(blue.tag_resource, KeyId=red_key, Tags=[{"TagKey": "team", "TagValue": "blue"}]) \
        == "AccessDeniedException"
    assert code_of(blue.untag_resource, KeyId=red_key, TagKeys=["team"]) == "AccessDeniedException"
    assert code_of(blue.decrypt, CiphertextBlob=blob) == "AccessDeniedException"
    # other tag keys may change; the key's team stays red
    blue.tag_resource(KeyId=red_key, Tags=[{"TagKey": "owner", "TagValue": "x"}])
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=red_key)["Tags"]}
    assert tags == {"team": "red", "owner": "x"}
    # aws:RequestTag on CreateKey, and the aws:TagKeys deny of tagging applies to tags at creation
    assert code_of(blue.create_key, Tags=[{"TagKey": "project", "TagValue": "red"}]) == "AccessDeniedException"
    assert code_of(blue.create_key, Tags=[{"TagKey": "team", "TagValue": "green"}]) == "AccessDeniedException"
    blue.create_key(Tags=[{"TagKey": "project", "TagValue": "green"}])


def test_create_key_with_tags_needs_tag_resource(server):
    _, key = new_user(server, doc(allow("kms:CreateKey")))
    user = client_for(server, "kms", key)
    user.create_key()
    assert code_of(user.create_key, Tags=[{"TagKey": "a", "TagValue": "b"}]) == "AccessDeniedException"


def test_resource_tag_condition_on_parameters(server):
    ssm = server.client("ssm")
    base = f"/abac/{uid()}"
    ssm.put_parameter(Name=f"{base}/secret", Value="s3cr3t-value", Type="SecureString",
                      Tags=[{"Key": "classification", "Value": "secret"}])
    ssm.put_parameter(Name=f"{base}/plain", Value="plain", Type="String")
    _, key = new_user(server, doc(
        allow(["ssm:*", "kms:Decrypt", "kms:GenerateDataKey"]),
        deny(["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory"],
             Condition={"StringEquals": {"aws:ResourceTag/classification": "secret"}})))
    reader = client_for(server, "ssm", key)

    assert code_of(reader.get_parameter, Name=f"{base}/secret", WithDecryption=True) == "AccessDeniedException"
    assert code_of(reader.get_parameter_history, Name=f"{base}/secret") == "AccessDeniedException"
    assert code_of(reader.get_parameters, Names=[f"{base}/secret", f"{base}/plain"]) == "AccessDeniedException"
    got = reader.get_parameters(Names=[f"{base}/plain"])
    assert [p["Name"] for p in got["Parameters"]] == [f"{base}/plain"]
    assert reader.get_parameter(Name=f"{base}/plain")["Parameter"]["Value"] == "plain"

    # a tag added later applies at once (no stale cache)
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=f"{base}/plain",
                             Tags=[{"Key": "classification", "Value": "secret"}])
    assert code_of(reader.get_parameter, Name=f"{base}/plain") == "AccessDeniedException"


def test_request_tag_conditions_on_parameter_tagging(server):
    ssm = server.client("ssm")
    base = f"/abac/{uid()}"
    ssm.put_parameter(Name=f"{base}/p", Value="v", Type="String",
                      Tags=[{"Key": "classification", "Value": "secret"}])
    _, key = new_user(server, doc(
        allow("ssm:*"),
        deny(["ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"],
             Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["classification"]}}),
        deny("ssm:PutParameter", Condition={"StringEquals": {"aws:RequestTag/classification": "public"}})))
    user = client_for(server, "ssm", key)
    assert code_of(user.remove_tags_from_resource, ResourceType="Parameter", ResourceId=f"{base}/p",
                   TagKeys=["classification"]) == "AccessDeniedException"
    assert code_of(user.add_tags_to_resource, ResourceType="Parameter", ResourceId=f"{base}/p",
                   Tags=[{"Key": "classification", "Value": "public"}]) == "AccessDeniedException"
    assert code_of(user.put_parameter, Name=f"{base}/q", Value="v", Type="String",
                   Tags=[{"Key": "classification", "Value": "public"}]) == "AccessDeniedException"
    user.put_parameter(Name=f"{base}/q", Value="v", Type="String", Tags=[{"Key": "owner", "Value": "me"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{base}/p")["TagList"]
    assert tags == [{"Key": "classification", "Value": "secret"}]


def test_iam_resource_and_request_tags(server):
    admin = server.client("iam")
    tag = uid()
    admin.create_user(UserName=f"vip-{tag}", Tags=[{"Key": "tier", "Value": "vip"}])
    admin.create_user(UserName=f"std-{tag}")
    _, key = new_user(server, doc(
        allow(["iam:*"]),
        deny("iam:*", Condition={"StringEquals": {"aws:ResourceTag/tier": "vip"}}),
        deny("iam:CreateUser", Condition={"StringEquals": {"aws:RequestTag/tier": "vip"}})))
    user = client_for(server, "iam", key)
    assert code_of(user.create_access_key, UserName=f"vip-{tag}") == "AccessDenied"
    user.create_access_key(UserName=f"std-{tag}")
    assert code_of(user.create_user, UserName=f"new-{tag}", Tags=[{"Key": "tier", "Value": "vip"}]) \
        == "AccessDenied"


# --- 6. ListRetirableGrants stays in the caller's account -------------------------------------
def test_list_retirable_grants_refuses_another_accounts_principal(server, other_account):  # noqa: F811
    kms = server.client("kms")
    iam = server.client("iam")
    name = "retirer-" + uid()
    retirer = iam.create_user(UserName=name)["User"]["Arn"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=key_id, GranteePrincipal=retirer, RetiringPrincipal=retirer, Operations=["Decrypt"])
    assert len(kms.list_retirable_grants(RetiringPrincipal=retirer)["Grants"]) == 1

    akid, secret = other_account
    other = server.client("kms", access_key_id=akid, secret=secret)
    assert code_of(other.list_retirable_grants, RetiringPrincipal=retirer) == "AccessDeniedException"


# --- 8 and 11. What the signature must cover, and the scope it names -------------------------
def _signed(server, target: str, body: dict, *, unsigned: dict | None = None, region: str = REGION,
            service: str = "ssm", extra_signed: dict | None = None) -> httpx.Response:
    """A request signed with SigV4 over the headers given, then `unsigned` headers added."""
    headers = {"Content-Type": "application/x-amz-json-1.1", **(extra_signed or {})}
    if unsigned is None:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=server.url + "/", data=json.dumps(body).encode(), headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), service, region).add_auth(request)
    sent = dict(request.headers.items())
    sent.update(unsigned or {})
    return httpx.post(server.url + "/", content=request.body, headers=sent)


def test_x_amz_target_must_be_signed(server):
    ssm = server.client("ssm")
    name = f"/sig/{uid()}"
    ssm.put_parameter(Name=name, Value="keep me", Type="String")
    # a GetParameter signature replayed with another, unsigned target
    response = _signed(server, "AmazonSSM.GetParameter", {"Name": name},
                       unsigned={"X-Amz-Target": "AmazonSSM.DeleteParameter"})
    assert response.status_code in (400, 403)
    assert response.json()["__type"].endswith("InvalidSignatureException")
    assert "X-Amz-Target" in response.json()["message"]
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "keep me"
    # signed, it works
    ok = _signed(server, "AmazonSSM.GetParameter", {"Name": name})
    assert ok.status_code == 200, ok.text


def test_security_token_and_content_hash_must_be_signed_when_present(server):
    response = _signed(server, "TrentService.ListKeys", {}, service="kms",
                       unsigned={"X-Amz-Target": "TrentService.ListKeys", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    assert response.status_code in (400, 403)
    assert "InvalidSignatureException" in response.json()["__type"]


@pytest.mark.parametrize("region", ["*", "us-east-1:123456789012", "x" * 200, "US-EAST-1", "us_east_1",
                                    "us-east-1/../", "ab-cd-1x",
                                    "us-" + "a" * 40 + "-1"])
def test_credential_scope_region_must_be_a_region_name(server, region):
    response = _signed(server, "TrentService.CreateKey", {}, service="kms", region=region)
    assert response.status_code in (400, 403), response.text
    body = response.json()
    assert body["__type"].endswith("SignatureException")
    assert "valid region" in body["message"] or "5 slash-delimited" in body["message"]
    assert server.client("kms").list_keys()  # nothing was created under that region
    assert region not in json.dumps(server.client("kms").list_aliases(), default=str)


def test_credential_scope_service_must_match_the_target(server):
    response = _signed(server, "TrentService.ListKeys", {}, service="ssm")
    assert response.status_code in (400, 403)
    assert "InvalidSignatureException" in response.json()["__type"]


def test_other_regions_still_work(server):
    kms = server.client("kms", region="eu-west-3")
    key_id = kms.create_key()["KeyMetadata"]["Arn"]
    assert key_id.startswith("arn:aws:kms:eu-west-3:")


# --- 12. IAM names are ASCII ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["\u0430dmin", "admin\n", "caf\u00e9", "\uff41dmin", "\u0661\u0662"])
def test_iam_names_must_be_ascii(server, name):
    iam = server.client("iam")
    iam_raw = boto3.client("iam", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                           aws_secret_access_key=SECRET_ACCESS_KEY,
                           config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))
    assert code_of(iam_raw.create_user, UserName=name) == "ValidationError"
    assert code_of(iam_raw.create_role, RoleName=name, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"})) \
        == "ValidationError"
    names = [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
    assert name not in names


def test_session_names_must_be_ascii(server):
    _, arn, _ = _role_with_session(server, doc(allow("kms:ListKeys")))
    sts = boto3.client("sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                       aws_secret_access_key=SECRET_ACCESS_KEY,
                       config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))
    assert code_of(sts.assume_role, RoleArn=arn, RoleSessionName="\u0430pp-session") == "ValidationError"


# --- AssumeRole's session policy, session tags and source identity ----------------------------
def _role(server, trust_actions, role_policy: str) -> str:
    iam = server.client("iam")
    name = "r-" + uid()
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                 "Action": trust_actions})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="use", PolicyDocument=role_policy)
    return arn


def test_session_policy_narrows_the_session(server):
    arn = _role(server, "sts:AssumeRole", doc(allow("kms:*")))
    sts = server.client("sts")
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="narrow", Policy=doc(allow("kms:ListKeys")))["Credentials"]
    narrow = client_for(server, "kms", creds)
    narrow.list_keys()
    assert code_of(narrow.create_key) == "AccessDeniedException"
    # a Deny in the session policy wins too
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="deny",
                            Policy=doc(allow("kms:*"), deny("kms:ListKeys")))["Credentials"]
    assert code_of(client_for(server, "kms", creds).list_keys) == "AccessDeniedException"
    # ...and without one the role's rights are whole
    whole = client_for(server, "kms", sts.assume_role(RoleArn=arn, RoleSessionName="whole")["Credentials"])
    whole.create_key()


def test_session_policy_errors(server):
    arn = _role(server, "sts:AssumeRole", doc(allow("kms:*")))
    sts = server.client("sts")
    assert code_of(sts.assume_role, RoleArn=arn, RoleSessionName="bad", Policy="{not json") == "MalformedPolicyDocument"
    assert code_of(sts.assume_role, RoleArn=arn, RoleSessionName="arns",
                   PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]) == "ValidationError"


def test_session_tags_need_tag_session_and_act_as_principal_tags(server):
    role_policy = doc(allow("kms:ListKeys", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
    sts = server.client("sts")
    no_tagging = _role(server, "sts:AssumeRole", role_policy)
    assert code_of(sts.assume_role, RoleArn=no_tagging, RoleSessionName="tagged",
                   Tags=[{"Key": "team", "Value": "blue"}]) == "AccessDenied"

    arn = _role(server, ["sts:AssumeRole", "sts:TagSession"], role_policy)
    blue = sts.assume_role(RoleArn=arn, RoleSessionName="blue", Tags=[{"Key": "team", "Value": "blue"}])
    client_for(server, "kms", blue["Credentials"]).list_keys()
    red = sts.assume_role(RoleArn=arn, RoleSessionName="red", Tags=[{"Key": "team", "Value": "red"}])
    assert code_of(client_for(server, "kms", red["Credentials"]).list_keys) == "AccessDeniedException"
    assert code_of(sts.assume_role, RoleArn=arn, RoleSessionName="bad", Tags=[{"Key": "a", "Value": "b"}],
                   TransitiveTagKeys=["c"]) == "InvalidParameterValue"


def test_source_identity_needs_set_source_identity(server):
    role_policy = doc(allow("kms:ListKeys", Condition={"StringEquals": {"aws:SourceIdentity": "alice"}}))
    sts = server.client("sts")
    plain = _role(server, "sts:AssumeRole", role_policy)
    assert code_of(sts.assume_role, RoleArn=plain, RoleSessionName="who", SourceIdentity="alice") == "AccessDenied"
    arn = _role(server, ["sts:AssumeRole", "sts:SetSourceIdentity"], role_policy)
    alice = sts.assume_role(RoleArn=arn, RoleSessionName="who", SourceIdentity="alice")["Credentials"]
    client_for(server, "kms", alice).list_keys()
    nobody = sts.assume_role(RoleArn=arn, RoleSessionName="who")["Credentials"]
    assert code_of(client_for(server, "kms", nobody).list_keys) == "AccessDeniedException"


# --- 10. Parameter Store events name the parameters -------------------------------------------
def test_ssm_events_name_every_parameter_read(server):
    from kms_core.audit import query

    ssm = server.client("ssm")
    base = f"/audited/{uid()}"
    for leaf in ("db-password", "api-key"):
        ssm.put_parameter(Name=f"{base}/{leaf}", Value="v-" + uid(), Type="SecureString")
    by_path = ssm.get_parameters_by_path(Path=base, WithDecryption=True)["ResponseMetadata"]["RequestId"]
    one = ssm.get_parameter(Name=f"{base}/db-password", WithDecryption=True)["ResponseMetadata"]["RequestId"]
    _, key = new_user(server, doc(deny("ssm:*")))
    refused = error_of(client_for(server, "ssm", key).get_parameter, Name=f"{base}/api-key")
    assert refused[0] == "AccessDeniedException"

    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{base}/db-password"
    events = {e["request_id"]: e for e in query(server.app.state.store.db, resource=f"{base}/db-password")}
    assert by_path in events and one in events
    assert arn in events[one]["resources"] and arn in events[by_path]["resources"]
    denied = query(server.app.state.store.db, resource=f"{base}/api-key", event_name="ssm:GetParameter")
    assert [e["error_code"] for e in denied] == ["AccessDeniedException"]
