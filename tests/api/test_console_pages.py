"""The console's management pages over HTTP, on SQLite and PostgreSQL: parameter filters,
labels, tags, compare; secrets (create, reveal, new version, delete and restore); the
identity pages; the Region switch; and CSRF on every state-changing route.  boto3 checks
what the store holds after each form.
"""

from __future__ import annotations

import json
import re
import uuid
from html import unescape

import pytest

from tests.api.test_console import _csrf, sign_in
from tests.helpers import second_account_key

#: every POST route but sign-in/sign-out (tested in test_console.py)
POST_ROUTES = ("/console/parameter/create", "/console/parameter/update", "/console/parameter/reveal",
               "/console/parameter/compare", "/console/parameter/label", "/console/parameter/unlabel",
               "/console/parameter/tag", "/console/parameter/untag", "/console/parameter/delete",
               "/console/key/policy", "/console/key/action", "/console/secret/create", "/console/secret/value",
               "/console/secret/reveal", "/console/secret/tag", "/console/secret/delete",
               "/console/secret/restore", "/console/audit/verify", "/console/region")


@pytest.fixture
def base() -> str:
    return f"/pages-{uuid.uuid4().hex[:8]}"


def test_every_state_changing_route_needs_the_csrf_token(server, base):
    ssm, kms = server.client("ssm"), server.client("kms")
    name = f"{base}/guarded"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    client = sign_in(server)
    for route in POST_ROUTES:
        form = {"name": name, "id": key_id, "action": "disable", "value": "changed", "key": "k", "labels": "l",
                "version": "1", "policy": "{}", "region": "eu-west-1"}
        for token in (None, "forged-token"):
            response = client.post(route, data=dict(form, **({"csrf": token} if token else {})))
            assert response.status_code == 403 and "InvalidCsrfToken" in response.text, route
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == []
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    page = client.get("/console/parameters")
    assert "us-east-1" in page.text  # the Region did not change


def test_routes_need_a_session(server):
    client = sign_in(server)
    client.cookies.clear()
    for route in ("/console/secrets", "/console/identity", "/console/audit", "/console/parameter/new"):
        assert client.get(route).headers["location"] == "/console/signin"
    assert client.post("/console/parameter/create", data={"name": "/x"}).headers["location"] == "/console/signin"


def test_parameter_filters_by_name_type_tag_and_label(server, base):
    ssm = server.client("ssm")
    ssm.put_parameter(Name=f"{base}/a/db-host", Value="h", Type="String", Tags=[{"Key": "team", "Value": "red"}])
    ssm.put_parameter(Name=f"{base}/b/db-pass", Value="p", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/b/api-url", Value="u", Type="String")
    ssm.label_parameter_version(Name=f"{base}/b/api-url", Labels=["live"])
    client = sign_in(server)

    def names(**query) -> set:
        page = client.get("/console/parameters", params={"path": base, **query})
        assert page.status_code == 200, page.text
        return set(re.findall(r'href="/console/parameter\?name=[^"]*">([^<]+)</a>', unescape(page.text)))

    assert names(name="db-") == {f"{base}/a/db-host", f"{base}/b/db-pass"}
    assert names(type="SecureString") == {f"{base}/b/db-pass"}
    assert names(tag="team=red") == {f"{base}/a/db-host"}
    assert names(tag="team") == {f"{base}/a/db-host"}
    assert names(label="live") == {f"{base}/b/api-url"}
    assert names(name="nothing-like-this") == set()


def test_label_unlabel_tag_untag_and_compare(server, base):
    ssm = server.client("ssm")
    name = f"{base}/compare/secret"
    ssm.put_parameter(Name=name, Value="line-1\nline-2", Type="SecureString")
    ssm.put_parameter(Name=name, Value="line-1\nline-two", Type="SecureString", Overwrite=True)
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameter", params={"name": name}).text)
    assert client.post("/console/parameter/label", data={"csrf": csrf, "name": name, "version": "1",
                                                         "labels": "old, first"}).status_code == 303
    labels = {v["Version"]: v.get("Labels", []) for v in ssm.get_parameter_history(Name=name)["Parameters"]}
    assert sorted(labels[1]) == ["first", "old"]
    assert client.post("/console/parameter/unlabel", data={"csrf": csrf, "name": name, "version": "1",
                                                           "label": "old"}).status_code == 303
    labels = {v["Version"]: v.get("Labels", []) for v in ssm.get_parameter_history(Name=name)["Parameters"]}
    assert labels[1] == ["first"]
    assert client.post("/console/parameter/tag", data={"csrf": csrf, "name": name, "key": "env",
                                                       "value": "prod"}).status_code == 303
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == [
        {"Key": "env", "Value": "prod"}]
    assert client.post("/console/parameter/untag", data={"csrf": csrf, "name": name, "key": "env"}).status_code == 303
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == []
    page = client.get("/console/parameter", params={"name": name})
    assert "line-2" not in page.text and "line-two" not in page.text  # hidden until compared or revealed
    compared = client.post("/console/parameter/compare", data={"csrf": csrf, "name": name, "a": "1", "b": "2"})
    assert compared.status_code == 200 and compared.headers["cache-control"] == "no-store"
    assert re.search(r'class="removed">.*line-2', compared.text, re.S)
    assert re.search(r'class="added">.*line-two', compared.text, re.S)
    bad = client.post("/console/parameter/label", data={"csrf": csrf, "name": name, "version": "1",
                                                        "labels": "aws-reserved"})
    assert bad.status_code == 400 and "aws-reserved" in unescape(bad.text)


def test_create_refused_shows_the_form_again_without_the_value(server, base):
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameter/new").text)
    refused = client.post("/console/parameter/create", data={"csrf": csrf, "name": f"{base}/bad name!",
                                                             "value": "typed-secret-value", "type": "SecureString"})
    assert refused.status_code == 400 and "ValidationException" in refused.text
    assert "typed-secret-value" not in refused.text and "bad name!" in unescape(refused.text)


def test_secrets_create_reveal_new_version_delete_and_restore(server):
    sm = server.client("secretsmanager")
    name = f"console/{uuid.uuid4().hex[:8]}"
    client = sign_in(server)
    csrf = _csrf(client.get("/console/secret/new").text)
    created = client.post("/console/secret/create", data={"csrf": csrf, "name": name, "value": "first-secret-value",
                                                           "description": "made in the console"})
    assert created.status_code == 303, created.text
    arn = sm.describe_secret(SecretId=name)["ARN"]
    page = client.get(created.headers["location"])
    assert page.status_code == 200 and "AWSCURRENT" in page.text and "first-secret-value" not in page.text
    listing = client.get("/console/secrets", params={"name": "console/"})
    assert name in listing.text
    shown = client.post("/console/secret/reveal", data={"csrf": csrf, "id": arn}, headers={"HX-Request": "true"})
    assert "first-secret-value" in shown.text
    assert client.post("/console/secret/value", data={"csrf": csrf, "id": arn,
                                                      "value": "second-secret-value"}).status_code == 303
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "second-secret-value"
    page = client.get("/console/secret", params={"id": arn})
    assert "AWSPREVIOUS" in page.text and "second-secret-value" not in page.text
    assert "Schedule deletion" in client.get("/console/secret/delete", params={"id": arn}).text
    assert client.post("/console/secret/delete", data={"csrf": csrf, "id": arn, "days": "7"}).status_code == 303
    assert "DeletedDate" in sm.describe_secret(SecretId=name)
    assert client.post("/console/secret/restore", data={"csrf": csrf, "id": arn}).status_code == 303
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)


def test_identity_page_for_the_root_and_for_a_user(server):
    iam = server.client("iam")
    user = "console-id-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="reader", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:DescribeParameters"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:ListUserPolicies", "iam:GetUserPolicy"],
             "Resource": f"arn:aws:iam::111122223333:user/{user}"},
            {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    root = sign_in(server)
    page = root.get("/console/identity")
    assert page.status_code == 200 and "arn:aws:iam::111122223333:root" in page.text
    assert "/console/identity/entity?kind=user" in page.text  # the shared server's users (a page of them)
    detail = root.get("/console/identity/entity", params={"kind": "user", "name": user})
    assert detail.status_code == 200 and "ssm:GetParameter" in detail.text and key["AccessKeyId"] in detail.text
    assert key["SecretAccessKey"] not in detail.text
    mine = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"]).get("/console/identity")
    assert mine.status_code == 200 and f"user/{user}" in mine.text
    assert "ssm:GetParameter, ssm:DescribeParameters" in mine.text and "kms:*" in mine.text
    assert "AccessDenied" in mine.text and "iam:ListUsers" in mine.text  # shown in place; the page still works
    iam.delete_user_policy(UserName=user, PolicyName="reader")
    iam.put_user_policy(UserName=user, PolicyName="ssm-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}))
    blind = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"]).get("/console/identity")
    assert blind.status_code == 200 and "iam:ListUserPolicies" in blind.text  # may not read its own policies


def test_region_switch(server):
    kms_west = server.client("kms", region="eu-south-2")
    key_id = kms_west.create_key(Description="in eu-south-2")["KeyMetadata"]["KeyId"]
    client = sign_in(server)
    page = client.get("/console/keys")
    csrf = _csrf(page.text)
    refused = client.post("/console/region", data={"csrf": csrf, "region": "not a region"})
    assert refused.status_code == 400 and "ValidationException" in refused.text
    moved = client.post("/console/region", data={"csrf": csrf, "region": "eu-south-2", "back": "/console/keys"})
    assert moved.status_code == 303 and moved.headers["location"] == "/console/keys"
    assert key_id in client.get("/console/keys").text
    away = client.post("/console/region", data={"csrf": csrf, "region": "eu-south-2", "back": "https://evil.example/"})
    assert away.headers["location"] == "/console/parameters"  # never redirects off the console


def test_switch_role_into_another_account(server):
    """The console acts as the role session, in the role's account, after AssumeRole."""
    other = "444455556666"
    role = "console-switch-" + uuid.uuid4().hex[:6]
    # the other account's root makes a role that trusts account 111122223333
    other_iam = _other_account_client(server, other, "iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}
    created = other_iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    other_iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    client = sign_in(server)
    csrf = _csrf(client.get("/console/identity").text)
    switched = client.post("/console/switch-role", data={"csrf": csrf, "role_arn": created["Arn"],
                                                         "session_name": "alice"})
    assert switched.status_code == 303, switched.text
    page = client.get("/console/identity")
    assert f"arn:aws:sts::{other}:assumed-role/{role}/alice" in page.text
    refused = client.post("/console/switch-role", data={"csrf": _csrf(page.text),
                                                        "role_arn": f"arn:aws:iam::{other}:role/no-such-role"})
    assert refused.status_code == 403 and "AccessDenied" in refused.text


def _other_account_client(server, account: str, service: str):
    access_key_id, secret = second_account_key(server, account)
    return server.client(service, access_key_id=access_key_id, secret=secret)
