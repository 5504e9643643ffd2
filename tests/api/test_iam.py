"""The IAM API subset (AWS query protocol) through boto3's iam client: users, roles, access
keys, inline policies, their errors, and what a user's access key can then do on KMS."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import expect_error

TRUST_ACCOUNT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]}


def allow(*actions: str, resource: str = "*", effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": effect, "Action": list(actions), "Resource": resource}]})


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def status_of(call) -> int:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def iam(server):
    return server.client("iam")


def user_with_key(server, iam, *policies: str):
    """A new user with an access key (and the given inline policies): (name, key id, secret)."""
    name = unique()
    iam.create_user(UserName=name)
    for i, document in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


# --- users ------------------------------------------------------------------------------------

def test_create_get_list_delete_user(iam):
    name = unique()
    created = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "dept", "Value": "ops"}])["User"]
    assert created["UserName"] == name and created["Path"] == "/team/"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/team/{name}"
    assert created["UserId"].startswith("AIDA") and created["CreateDate"]
    assert created["Tags"] == [{"Key": "dept", "Value": "ops"}]

    got = iam.get_user(UserName=name)["User"]
    assert got["UserId"] == created["UserId"] and got["Tags"] == [{"Key": "dept", "Value": "ops"}]
    team = [u for page in iam.get_paginator("list_users").paginate(PathPrefix="/team/") for u in page["Users"]]
    listed = [u for u in team if u["UserName"] == name]
    assert listed and listed[0]["Arn"] == created["Arn"]
    assert all(u["Path"].startswith("/team/") for u in iam.list_users(PathPrefix="/team/")["Users"])

    iam.delete_user(UserName=name)
    expect_error(lambda: iam.get_user(UserName=name), "NoSuchEntity",
                 f"The user with name {name} cannot be found.")
    assert name not in [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]


def test_create_user_duplicate_is_entity_already_exists(iam):
    name = unique()
    iam.create_user(UserName=name)
    expect_error(lambda: iam.create_user(UserName=name), "EntityAlreadyExists",
                 f"User with name {name} already exists.")
    assert status_of(lambda: iam.create_user(UserName=name.upper())) == 409  # names are case-insensitive


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "slash/no", "star*"])
def test_create_user_invalid_name_is_validation_error(iam, bad):
    expect_error(lambda: iam.create_user(UserName=bad), "ValidationError")


def test_create_user_invalid_path_is_validation_error(iam):
    expect_error(lambda: iam.create_user(UserName=unique(), Path="no-slashes"), "ValidationError")


def test_get_and_delete_missing_user_are_no_such_entity(iam):
    assert status_of(lambda: iam.get_user(UserName=unique())) == 404
    expect_error(lambda: iam.delete_user(UserName=unique()), "NoSuchEntity")


def test_list_users_paginates(iam):
    prefix = f"/pg{uuid.uuid4().hex[:6]}/"
    names = sorted(unique("pg") for _ in range(3))
    for name in names:
        iam.create_user(UserName=name, Path=prefix)
    first = iam.list_users(PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] is True and [u["UserName"] for u in first["Users"]] == names[:2]
    rest = iam.list_users(PathPrefix=prefix, MaxItems=2, Marker=first["Marker"])
    assert rest["IsTruncated"] is False and [u["UserName"] for u in rest["Users"]] == names[2:]
    paged = [u["UserName"] for page in iam.get_paginator("list_users").paginate(PathPrefix=prefix,
                                                                                PaginationConfig={"PageSize": 1})
             for u in page["Users"]]
    assert paged == names


def test_list_roles_pages_in_code_point_order_with_mixed_case_names(iam):
    """Pages are keyset queries in the database: the order must be the same on both (upper
    case before lower, `-` before letters), or a page boundary would skip or repeat a name."""
    tag = uuid.uuid4().hex[:6]
    prefix = f"/cp{tag}/"
    names = [f"b-{tag}", f"C-{tag}", f"a_{tag}", f"Z{tag}", f"y{tag}", f"A0{tag}"]  # names are case-blind unique
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
             '"Action":"sts:AssumeRole"}]}')
    for name in names:
        iam.create_role(RoleName=name, Path=prefix, AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName=f"other{tag}", Path=f"/cq{tag}/", AssumeRolePolicyDocument=trust)
    paged = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate(PathPrefix=prefix,
                                                                                PaginationConfig={"PageSize": 2})
             for r in page["Roles"]]
    assert paged == sorted(names)


def test_delete_user_with_access_key_or_policy_is_delete_conflict(iam):
    name = unique()
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    expect_error(lambda: iam.delete_user(UserName=name), "DeleteConflict",
                 "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key(UserName=name, AccessKeyId=key)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=allow("kms:ListKeys"))
    err = expect_error(lambda: iam.delete_user(UserName=name), "DeleteConflict")
    assert "policies" in err["Message"]
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_user(UserName=name)


def test_get_user_without_name_is_the_caller(server, iam):
    name, akid, secret = user_with_key(server, iam, allow("iam:GetUser", resource=f"arn:aws:iam::{ACCOUNT_ID}:user/*"))
    me = server.client("iam", access_key_id=akid, secret=secret).get_user()["User"]
    assert me["UserName"] == name
    root = iam.get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"


# --- roles ------------------------------------------------------------------------------------

def test_create_get_list_delete_role(iam):
    name = unique("role")
    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT),
                              Description="for tests", MaxSessionDuration=7200,
                              Tags=[{"Key": "k", "Value": "v"}])["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
    assert created["RoleId"].startswith("AROA")
    assert created["AssumeRolePolicyDocument"] == TRUST_ACCOUNT  # botocore decodes the URL-encoded JSON
    assert created["MaxSessionDuration"] == 7200 and created["Description"] == "for tests"
    got = iam.get_role(RoleName=name)["Role"]
    assert got["RoleId"] == created["RoleId"] and got["Tags"] == [{"Key": "k", "Value": "v"}]
    assert got["AssumeRolePolicyDocument"] == TRUST_ACCOUNT
    assert name in [r["RoleName"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]]
    iam.delete_role(RoleName=name)
    expect_error(lambda: iam.get_role(RoleName=name), "NoSuchEntity",
                 f"The role with name {name} cannot be found.")
    expect_error(lambda: iam.delete_role(RoleName=name), "NoSuchEntity")


def test_create_role_duplicate_is_entity_already_exists(iam):
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    expect_error(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT)),
                 "EntityAlreadyExists", f"Role with name {name} already exists.")


@pytest.mark.parametrize("document, fragment", [
    ("not json", "not valid JSON"),
    (json.dumps({"Statement": []}), "Statement"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}), "Principal"),
    (json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sts:AssumeRole"}]}), "Effect"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "nobody"}, "Action": "sts:AssumeRole"}]}),
     "principal"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                                "Resource": "*"}]}), "Resource"),
])
def test_create_role_malformed_trust_policy(iam, document, fragment):
    err = expect_error(lambda: iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=document),
                       "MalformedPolicyDocument")
    assert fragment in err["Message"]


def test_create_role_bad_max_session_duration_is_validation_error(iam):
    expect_error(lambda: iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT),
                                         MaxSessionDuration=50000), "ValidationError")


def test_update_assume_role_policy(iam):
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    everyone = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                         "Action": "sts:AssumeRole"}]}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(everyone))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == everyone
    expect_error(lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument="{"), "MalformedPolicyDocument")
    expect_error(lambda: iam.update_assume_role_policy(RoleName=unique(), PolicyDocument=json.dumps(everyone)),
                 "NoSuchEntity")


def test_delete_role_with_policy_is_delete_conflict(iam):
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow("kms:*"))
    expect_error(lambda: iam.delete_role(RoleName=name), "DeleteConflict")
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)


# --- inline policies -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["user", "role"])
def test_inline_policy_put_get_list_delete(iam, kind):
    name = unique(kind)
    if kind == "user":
        iam.create_user(UserName=name)
        owner, put, get, lst, delete = ({"UserName": name}, iam.put_user_policy, iam.get_user_policy,
                                        iam.list_user_policies, iam.delete_user_policy)
    else:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
        owner, put, get, lst, delete = ({"RoleName": name}, iam.put_role_policy, iam.get_role_policy,
                                        iam.list_role_policies, iam.delete_role_policy)
    document = allow("kms:Encrypt", "kms:Decrypt")
    put(**owner, PolicyName="b", PolicyDocument=document)
    put(**owner, PolicyName="a", PolicyDocument=allow("kms:ListKeys"))
    got = get(**owner, PolicyName="b")
    assert got["PolicyName"] == "b" and got["PolicyDocument"] == json.loads(document)
    assert got[next(iter(owner))] == name
    assert lst(**owner)["PolicyNames"] == ["a", "b"]
    put(**owner, PolicyName="b", PolicyDocument=allow("kms:DescribeKey"))  # replaces
    assert get(**owner, PolicyName="b")["PolicyDocument"]["Statement"][0]["Action"] == ["kms:DescribeKey"]
    delete(**owner, PolicyName="b")
    assert lst(**owner)["PolicyNames"] == ["a"]
    expect_error(lambda: get(**owner, PolicyName="b"), "NoSuchEntity")
    expect_error(lambda: delete(**owner, PolicyName="b"), "NoSuchEntity")


def test_inline_policy_on_missing_owner_is_no_such_entity(iam):
    expect_error(lambda: iam.put_user_policy(UserName=unique(), PolicyName="p", PolicyDocument=allow("kms:*")),
                 "NoSuchEntity")
    expect_error(lambda: iam.list_role_policies(RoleName=unique()), "NoSuchEntity")


@pytest.mark.parametrize("document, fragment", [
    ("[]", "JSON object"),
    ("{nope", "not valid JSON"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}), "Resource"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}),
     "Principal"),
    (json.dumps({"Version": "2099-01-01", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
     "version"),
])
def test_put_user_policy_malformed(iam, document, fragment):
    name = unique()
    iam.create_user(UserName=name)
    err = expect_error(lambda: iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document),
                       "MalformedPolicyDocument")
    assert fragment in err["Message"]


def test_inline_policy_size_quotas(iam):
    name = unique()
    iam.create_user(UserName=name)
    big = json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:ListKeys",
                                     "Resource": "arn:aws:kms:*:*:key/" + "x" * 1200}]})
    iam.put_user_policy(UserName=name, PolicyName="one", PolicyDocument=big)
    iam.put_user_policy(UserName=name, PolicyName="one", PolicyDocument=big)  # replacing doesn't double count
    err = expect_error(lambda: iam.put_user_policy(UserName=name, PolicyName="two", PolicyDocument=big),
                       "LimitExceeded")
    assert "2048" in err["Message"]
    assert status_of(lambda: iam.put_user_policy(UserName=name, PolicyName="two", PolicyDocument=big)) == 409
    role = unique("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    for i in range(7):
        iam.put_role_policy(RoleName=role, PolicyName=f"p{i}", PolicyDocument=big)  # ~9 KB: under 10240
    expect_error(lambda: iam.put_role_policy(RoleName=role, PolicyName="p9", PolicyDocument=big), "LimitExceeded")


# --- access keys ----------------------------------------------------------------------------------

def test_access_keys_create_list_update_delete(iam):
    name = unique()
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert key["UserName"] == name and key["Status"] == "Active"
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["UserName"]) for k in listed] == [(key["AccessKeyId"], "Active", name)]
    assert "SecretAccessKey" not in listed[0]
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    expect_error(lambda: iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Paused"),
                 "ValidationError")
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []


def test_access_key_limit_is_two_per_user(iam):
    name = unique()
    iam.create_user(UserName=name)
    iam.create_access_key(UserName=name)
    iam.create_access_key(UserName=name)
    err = expect_error(lambda: iam.create_access_key(UserName=name), "LimitExceeded")
    assert "AccessKeysPerUser: 2" in err["Message"]


def test_access_key_errors(iam):
    a, b = unique(), unique()
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    key_a = iam.create_access_key(UserName=a)["AccessKey"]["AccessKeyId"]
    expect_error(lambda: iam.create_access_key(UserName=unique()), "NoSuchEntity")
    expect_error(lambda: iam.list_access_keys(UserName=unique()), "NoSuchEntity")
    # another user's key is not found under this user
    expect_error(lambda: iam.delete_access_key(UserName=b, AccessKeyId=key_a), "NoSuchEntity",
                 f"The Access Key with id {key_a} cannot be found.")
    expect_error(lambda: iam.update_access_key(UserName=b, AccessKeyId=key_a, Status="Inactive"), "NoSuchEntity")
    expect_error(lambda: iam.delete_access_key(UserName=a, AccessKeyId="AKIADOESNOTEXIST0000"), "NoSuchEntity")


def test_user_access_key_authenticates_kms_with_identity_policy(server, iam):
    name, akid, secret = user_with_key(server, iam)
    kms = server.client("kms", access_key_id=akid, secret=secret)
    err = expect_error(kms.list_keys, "AccessDeniedException")
    assert f"arn:aws:iam::{ACCOUNT_ID}:user/{name}" in err["Message"]
    iam.put_user_policy(UserName=name, PolicyName="list", PolicyDocument=allow("kms:ListKeys"))
    assert "Keys" in kms.list_keys()
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=allow("kms:ListKeys", effect="Deny"))
    expect_error(kms.list_keys, "AccessDeniedException")


def test_inactive_and_deleted_access_keys_are_refused_by_kms(server, iam):
    name, akid, secret = user_with_key(server, iam, allow("kms:ListKeys"))
    kms = server.client("kms", access_key_id=akid, secret=secret)
    kms.list_keys()
    iam.update_access_key(UserName=name, AccessKeyId=akid, Status="Inactive")
    expect_error(kms.list_keys, "UnrecognizedClientException")
    iam.update_access_key(UserName=name, AccessKeyId=akid, Status="Active")
    kms.list_keys()
    iam.delete_access_key(UserName=name, AccessKeyId=akid)
    expect_error(kms.list_keys, "UnrecognizedClientException")
    expect_error(server.client("sts", access_key_id=akid, secret=secret).get_caller_identity, "InvalidClientTokenId")


def test_user_without_access_key_name_manages_own_keys(server, iam):
    name, akid, secret = user_with_key(server, iam, allow("iam:ListAccessKeys", "iam:CreateAccessKey",
                                                          resource=f"arn:aws:iam::{ACCOUNT_ID}:user/${{aws:username}}"))
    own = server.client("iam", access_key_id=akid, secret=secret)
    assert [k["AccessKeyId"] for k in own.list_access_keys()["AccessKeyMetadata"]] == [akid]
    created = own.create_access_key()["AccessKey"]
    assert created["UserName"] == name
    other = unique()
    iam.create_user(UserName=other)
    expect_error(lambda: own.list_access_keys(UserName=other), "AccessDenied")


# --- authorization and scoping ---------------------------------------------------------------

def test_user_needs_identity_policy_for_iam_actions(server, iam):
    name, akid, secret = user_with_key(server, iam)
    client = server.client("iam", access_key_id=akid, secret=secret)
    err = expect_error(lambda: client.create_user(UserName=unique()), "AccessDenied")
    assert err["Message"].startswith(f"User: arn:aws:iam::{ACCOUNT_ID}:user/{name} is not authorized to perform: "
                                     "iam:CreateUser on resource: arn:aws:iam::")
    assert status_of(lambda: client.list_users()) == 403
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=allow("iam:CreateUser", "iam:ListUsers"))
    target = unique()
    client.create_user(UserName=target)
    listed = [u["UserName"] for page in client.get_paginator("list_users").paginate() for u in page["Users"]]
    assert target in listed
    expect_error(lambda: client.delete_user(UserName=target), "AccessDenied")
    # resource-scoped: only users under /ops/
    iam.put_user_policy(UserName=name, PolicyName="admin",
                        PolicyDocument=allow("iam:CreateUser", resource=f"arn:aws:iam::{ACCOUNT_ID}:user/ops/*"))
    client.create_user(UserName=unique(), Path="/ops/")
    expect_error(lambda: client.create_user(UserName=unique()), "AccessDenied")


def test_account_scoping_other_account_sees_nothing(server, iam):
    """A principal of another account neither sees nor reaches this account's users."""
    import time

    from kms_core.identity import admin

    kms_core = server.app.state.store.kms
    other = "444455556666"
    with kms_core.db.write() as session:
        kms_core.identities.create_account(session, other, time.time())
        session.flush()
        akid, secret = kms_core.identities.add_access_key(session, other, time.time())
    kms_core.changed()
    mine = unique()
    iam.create_user(UserName=mine)
    foreign = server.client("iam", access_key_id=akid, secret=secret)
    assert mine not in [u["UserName"] for u in foreign.list_users()["Users"]]
    expect_error(lambda: foreign.get_user(UserName=mine), "NoSuchEntity")
    foreign.create_user(UserName=mine)  # the same name is free in the other account
    assert foreign.get_user(UserName=mine)["User"]["Arn"] == f"arn:aws:iam::{other}:user/{mine}"
    assert iam.get_user(UserName=mine)["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/{mine}"
    assert admin.USER == "user"


# --- protocol -----------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def signed_form(url: str, body: str, *, service: str = "iam", secret: str = SECRET_ACCESS_KEY,
                access_key_id: str = ACCESS_KEY_ID) -> dict:
    request = AWSRequest(method="POST", url=url + "/", data=body.encode(), headers={"Content-Type": FORM})
    SigV4Auth(Credentials(access_key_id, secret), service, REGION).add_auth(request)
    return dict(request.headers.items())


def test_query_unknown_action_is_invalid_action(server):
    body = "Action=FlyToTheMoon&Version=2010-05-08"
    response = httpx.post(server.url + "/", content=body, headers=signed_form(server.url, body))
    assert response.status_code == 400
    assert "<Code>InvalidAction</Code>" in response.text and "<ErrorResponse" in response.text
    assert response.headers["content-type"].startswith("text/xml")


def test_query_auth_errors(server):
    body = "Action=ListUsers&Version=2010-05-08"
    unsigned = httpx.post(server.url + "/", content=body, headers={"Content-Type": FORM})
    assert unsigned.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in unsigned.text
    wrong = httpx.post(server.url + "/", content=body, headers=signed_form(server.url, body, secret="x" * 40))
    assert wrong.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in wrong.text
    unknown = httpx.post(server.url + "/", content=body,
                         headers=signed_form(server.url, body, access_key_id="AKIAUNKNOWNKEY000000"))
    assert unknown.status_code == 403 and "<Code>InvalidClientTokenId</Code>" in unknown.text
    incomplete = httpx.post(server.url + "/", content=body,
                            headers={"Content-Type": FORM, "Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert incomplete.status_code == 400 and "<Code>IncompleteSignature</Code>" in incomplete.text
    iam = server.client("iam", secret="y" * 40)
    expect_error(iam.list_users, "SignatureDoesNotMatch")


def test_query_missing_required_parameter_is_validation_error(server):
    body = "Action=CreateUser&Version=2010-05-08"
    response = httpx.post(server.url + "/", content=body, headers=signed_form(server.url, body))
    assert response.status_code == 400 and "<Code>ValidationError</Code>" in response.text


def test_query_requests_are_audited(server, iam):
    from tests.api.test_audit import event_for, request_id_of

    name = unique()
    create = event_for(server, request_id_of(iam.create_user(UserName=name)))
    with pytest.raises(ClientError) as missing_error:
        iam.get_user(UserName=unique())
    missing = event_for(server, request_id_of(missing_error.value))
    whoami = event_for(server, request_id_of(server.client("sts").get_caller_identity()))
    assert (create["event_source"], create["event_name"], create["error_code"]) == \
        ("iam.amazonaws.com", "CreateUser", None)
    assert create["principal_arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root" and create["access_key_id"] == ACCESS_KEY_ID
    assert create["resources"] == [f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"]
    assert (missing["event_name"], missing["error_code"]) == ("GetUser", "NoSuchEntity")
    assert (whoami["event_source"], whoami["event_name"]) == ("sts.amazonaws.com", "GetCallerIdentity")


def test_kms_json_requests_still_work_alongside_query(kms, iam):
    assert "Keys" in kms.list_keys()
    assert isinstance(iam.list_users()["Users"], list)


def test_control_characters_in_tags_and_descriptions_are_validation_errors(iam):
    expect_error(lambda: iam.create_user(UserName=unique(), Tags=[{"Key": "k", "Value": "a\x01b"}]),
                 "ValidationError")
    expect_error(lambda: iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT),
                                         Description="bell\x07"), "ValidationError")
    name = unique()
    created = iam.create_user(UserName=name, Tags=[{"Key": "a b:c/d", "Value": "<x & 'y'>"[1:2] + "é"}])["User"]
    assert created["Tags"] == [{"Key": "a b:c/d", "Value": "xé"}]


@pytest.mark.parametrize("body", [
    "Action=CreateUser&Version=2010-05-08&UserName.x=y",
    "Action=CreateUser&Version=2010-05-08&UserName=ok1&Path.a=b",
    "Action=CreateUser&Version=2010-05-08&UserName=ok2&Tags=notalist",
    "Action=CreateUser&Version=2010-05-08&UserName=ok3&Tags.member.1=flat",
    "Action=CreateUser&Version=2010-05-08&UserName=ok4&Tags.member.1.Key.x=y&Tags.member.1.Value=v",
    "Action=ListUsers&Version=2010-05-08&PathPrefix.a=b",
    "Action=ListUsers&Version=2010-05-08&Marker.a=b",
    "Action=ListUsers&Version=2010-05-08&MaxItems=lots",
    "Action=ListUsers&Version=2010-05-08&MaxItems=0",
    "Action=DeleteAccessKey&Version=2010-05-08&AccessKeyId.a=b&UserName=x",
    "Action=PutUserPolicy&Version=2010-05-08&UserName=x&PolicyName=p&PolicyDocument.a=b",
    "Action.a=CreateUser&Version=2010-05-08",
    "Action=%3Cx%3E&Version=2010-05-08",
    "Action=ListUsers&" + "a." * 40 + "b=c",
    "Action=ListUsers&..=x",
    "%ff%fe=%00",
])
def test_query_hostile_parameters_never_500(server, body):
    response = httpx.post(server.url + "/", content=body, headers=signed_form(server.url, body))
    assert response.status_code < 500, response.text
    import xml.etree.ElementTree as ET

    ET.fromstring(response.content)  # always well-formed XML


@pytest.mark.parametrize("body", [
    "Action=AssumeRole&Version=2011-06-15&RoleArn.a=b&RoleSessionName=ss",
    "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/x&RoleSessionName.a=b",
    "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/x&RoleSessionName=ss"
    "&DurationSeconds=abc&ExternalId.a=b",
])
def test_sts_hostile_parameters_never_500(server, body):
    response = httpx.post(server.url + "/", content=body, headers=signed_form(server.url, body, service="sts"))
    assert 400 <= response.status_code < 500, response.text
