"""STS through boto3's sts client: GetCallerIdentity, AssumeRole and the temporary
credentials it issues (session tokens verified, tampering and expiry refused)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def trust(*principals: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}]})


ACCOUNT_TRUST = trust(f"arn:aws:iam::{ACCOUNT_ID}:root")


def allow(*actions: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


@pytest.fixture
def iam(server):
    return server.client("iam")


@pytest.fixture
def sts(server):
    return server.client("sts")


@pytest.fixture
def unvalidated_sts(server):
    """An sts client that sends what botocore would refuse, so the server's checks answer."""
    from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    return boto3.client("sts", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))


def session_client(server, service: str, credentials: dict):
    return boto3.client(service, endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"],
                        config=Config(retries={"total_max_attempts": 1}))


def make_role(iam, trust_policy: str = ACCOUNT_TRUST, *policies: str, **kwargs) -> tuple[str, str]:
    name = unique()
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy, **kwargs)["Role"]["Arn"]
    for i, document in enumerate(policies):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=document)
    return name, arn


def make_user(server, iam, *policies: str):
    name = unique("u")
    iam.create_user(UserName=name)
    for i, document in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, server.client("sts", access_key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]), key


# --- GetCallerIdentity --------------------------------------------------------------------------

def test_get_caller_identity_root(sts):
    found = sts.get_caller_identity()
    assert found["Account"] == ACCOUNT_ID and found["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert found["UserId"] == ACCOUNT_ID


def test_get_caller_identity_user(server, iam):
    name, user_sts, _ = make_user(server, iam)  # needs no permission
    found = user_sts.get_caller_identity()
    assert found["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"
    assert found["UserId"] == iam.get_user(UserName=name)["User"]["UserId"]


# --- AssumeRole ----------------------------------------------------------------------------------

def test_assume_role_returns_working_temporary_credentials(server, iam, sts):
    name, arn = make_role(iam, ACCOUNT_TRUST, allow("kms:ListKeys", "kms:CreateKey"))
    role_id = iam.get_role(RoleName=name)["Role"]["RoleId"]
    before = time.time()
    out = sts.assume_role(RoleArn=arn, RoleSessionName="build-42")
    creds, user = out["Credentials"], out["AssumedRoleUser"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"] and creds["SecretAccessKey"]
    assert before + 3590 <= creds["Expiration"].timestamp() <= time.time() + 3610
    assert user == {"AssumedRoleId": f"{role_id}:build-42",
                    "Arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/build-42"}

    who = session_client(server, "sts", creds).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/build-42"
    assert who["UserId"] == f"{role_id}:build-42" and who["Account"] == ACCOUNT_ID

    kms = session_client(server, "kms", creds)
    assert "Keys" in kms.list_keys()
    key = kms.create_key(Description="by a role session")["KeyMetadata"]["KeyId"]
    expect_error(lambda: kms.describe_key(KeyId=key), "AccessDeniedException")  # not in the role's policy


def test_assume_role_duration_seconds(server, iam, sts, unvalidated_sts):
    _, arn = make_role(iam, ACCOUNT_TRUST, MaxSessionDuration=7200)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="short", DurationSeconds=900)["Credentials"]
    assert abs(creds["Expiration"].timestamp() - (time.time() + 900)) < 10
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="long", DurationSeconds=7200)["Credentials"]
    assert abs(creds["Expiration"].timestamp() - (time.time() + 7200)) < 10
    expect_error(lambda: unvalidated_sts.assume_role(RoleArn=arn, RoleSessionName="ss", DurationSeconds=899),
                 "ValidationError")
    err = expect_error(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ss", DurationSeconds=7201),
                       "ValidationError")
    assert "MaxSessionDuration" in err["Message"]


@pytest.mark.parametrize("session_name", ["x", "has space", "s" * 65, "bad/slash"])
def test_assume_role_invalid_session_name(iam, unvalidated_sts, session_name):
    _, arn = make_role(iam)
    expect_error(lambda: unvalidated_sts.assume_role(RoleArn=arn, RoleSessionName=session_name), "ValidationError")


def test_assume_role_missing_or_untrusted_role_is_access_denied(iam, sts, unvalidated_sts):
    missing = f"arn:aws:iam::{ACCOUNT_ID}:role/{unique()}"
    expect_error(lambda: sts.assume_role(RoleArn=missing, RoleSessionName="ss"), "AccessDenied",
                 f"User: arn:aws:iam::{ACCOUNT_ID}:root is not authorized to perform: sts:AssumeRole "
                 f"on resource: {missing}")
    _, arn = make_role(iam, trust(f"arn:aws:iam::{ACCOUNT_ID}:user/someone-else"))
    expect_error(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ss"), "AccessDenied")
    expect_error(lambda: unvalidated_sts.assume_role(RoleArn="arn:aws:iam::bad:role/x" + "y" * 20, RoleSessionName="ss"),
                 "ValidationError")


def test_assume_role_delegated_to_account_needs_identity_policy(server, iam):
    name, arn = make_role(iam, ACCOUNT_TRUST)
    user, user_sts, _ = make_user(server, iam)
    err = expect_error(lambda: user_sts.assume_role(RoleArn=arn, RoleSessionName="ss"), "AccessDenied")
    assert err["Message"] == (f"User: arn:aws:iam::{ACCOUNT_ID}:user/{user} is not authorized to perform: "
                              f"sts:AssumeRole on resource: {arn}")
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", resource=arn))
    assert user_sts.assume_role(RoleArn=arn, RoleSessionName="ss")["AssumedRoleUser"]["Arn"].endswith(f"/{name}/ss")


def test_assume_role_trusting_the_user_directly_needs_no_identity_policy(server, iam):
    user = unique("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _, arn = make_role(iam, trust(f"arn:aws:iam::{ACCOUNT_ID}:user/{user}"))
    user_sts = server.client("sts", access_key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
    user_sts.assume_role(RoleArn=arn, RoleSessionName="direct")
    _, other_sts, _ = make_user(server, iam, allow("sts:AssumeRole"))
    expect_error(lambda: other_sts.assume_role(RoleArn=arn, RoleSessionName="ss"), "AccessDenied")


def test_assume_role_trust_policy_conditions(iam, sts):
    document = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                          "Action": "sts:AssumeRole",
                                          "Condition": {"StringEquals": {"sts:ExternalId": "secret-123"}}}]})
    _, arn = make_role(iam, document)
    expect_error(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ss"), "AccessDenied")
    expect_error(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ss", ExternalId="wrong"), "AccessDenied")
    sts.assume_role(RoleArn=arn, RoleSessionName="ss", ExternalId="secret-123")


def test_role_chaining_is_limited_to_one_hour(server, iam, sts):
    _, first = make_role(iam, ACCOUNT_TRUST, allow("sts:AssumeRole"))
    _, second = make_role(iam, ACCOUNT_TRUST, MaxSessionDuration=7200)
    creds = sts.assume_role(RoleArn=first, RoleSessionName="one")["Credentials"]
    chained = session_client(server, "sts", creds)
    out = chained.assume_role(RoleArn=second, RoleSessionName="two")
    assert out["AssumedRoleUser"]["Arn"].endswith("/two")
    expect_error(lambda: chained.assume_role(RoleArn=second, RoleSessionName="two", DurationSeconds=7200),
                 "ValidationError")


# --- session tokens ----------------------------------------------------------------------------

def _tampered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]


def test_tampered_session_token_is_refused(server, iam, sts):
    _, arn = make_role(iam, ACCOUNT_TRUST, allow("kms:ListKeys"))
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="ss")["Credentials"]
    bad = {**creds, "SessionToken": _tampered(creds["SessionToken"])}
    expect_error(session_client(server, "kms", bad).list_keys, "UnrecognizedClientException")
    expect_error(session_client(server, "sts", bad).get_caller_identity, "InvalidClientTokenId")
    # a valid token with another session's key id
    other = sts.assume_role(RoleArn=arn, RoleSessionName="tt")["Credentials"]
    mixed = {**creds, "SessionToken": other["SessionToken"]}
    expect_error(session_client(server, "kms", mixed).list_keys, "UnrecognizedClientException")
    # a session key without its token
    no_token = boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            config=Config(retries={"total_max_attempts": 1}))
    expect_error(no_token.list_keys, "UnrecognizedClientException")


def test_wrong_session_secret_is_signature_mismatch(server, iam, sts):
    _, arn = make_role(iam)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="ss")["Credentials"]
    bad = {**creds, "SecretAccessKey": "x" * 40}
    expect_error(session_client(server, "sts", bad).get_caller_identity, "SignatureDoesNotMatch")


def test_expired_session_token_is_refused(server, iam):
    name, _ = make_role(iam, ACCOUNT_TRUST, allow("kms:ListKeys"))
    role_id = iam.get_role(RoleName=name)["Role"]["RoleId"]
    sessions = server.app.state.store.kms.identities.sessions
    session, token = sessions.issue(ACCOUNT_ID, name, role_id, "old", expires=time.time() - 1)
    creds = {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
             "SessionToken": token}
    expect_error(session_client(server, "kms", creds).list_keys, "ExpiredTokenException")
    err = expect_error(session_client(server, "sts", creds).get_caller_identity, "ExpiredToken")
    assert "expired" in err["Message"]
    # the same session, not yet expired, works
    session, token = sessions.issue(ACCOUNT_ID, name, role_id, "fresh", expires=time.time() + 900)
    fresh = {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
             "SessionToken": token}
    assert "Keys" in session_client(server, "kms", fresh).list_keys()


def test_role_session_permissions_follow_role_policy_changes(server, iam, sts):
    name, arn = make_role(iam)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="ss")["Credentials"]
    kms = session_client(server, "kms", creds)
    expect_error(kms.list_keys, "AccessDeniedException")
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=allow("kms:ListKeys"))
    assert "Keys" in kms.list_keys()
    iam.delete_role_policy(RoleName=name, PolicyName="list")
    expect_error(kms.list_keys, "AccessDeniedException")
