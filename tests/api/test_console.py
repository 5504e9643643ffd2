"""The web console (/console) over HTTP, against the live server on SQLite and PostgreSQL:
sign-in with an access key pair (a wrong one refused and audited), the session cookie's
attributes, CSRF, sign-out, expiry, security headers, folders, a parameter's page,
SecureString values kept out of pages, attacker-controlled text escaped, and AccessDenied
shown in the page for a user without rights (with nothing changed).
"""

from __future__ import annotations

import re
import time
import uuid
from html import unescape

import httpx
import pytest
from sqlalchemy import text

from kms_core.storage.audit_file import trail_engine
from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def _client(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=20)


def _token(page: str) -> str:
    return re.search(r'name="token" value="([^"]*)"', page).group(1)


def sign_in(server, access_key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY,
            region: str = "us-east-1") -> httpx.Client:
    client = _client(server)
    form = client.get("/console/signin")
    response = client.post("/console/signin", data={"token": _token(form.text), "access_key_id": access_key_id,
                                                    "secret": secret, "region": region})
    assert response.status_code == 303, response.text
    return client


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', page).group(1)


@pytest.fixture
def base(ssm) -> str:
    return f"/console-{uuid.uuid4().hex[:8]}"


def test_every_console_response_carries_the_security_headers(server):
    client = _client(server)
    for path in ("/console/signin", "/console/static/console.css", "/console/parameters"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
    assert _client(server).get("/console/signin").headers["cache-control"] == "no-store"


def test_sign_in_sets_a_strict_http_only_session_cookie(server):
    client = _client(server)
    form = client.get("/console/signin")
    response = client.post("/console/signin", data={"token": _token(form.text), "access_key_id": ACCESS_KEY_ID,
                                                    "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert response.status_code == 303 and response.headers["location"] == "/console/parameters"
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith("ps_console=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/console" in cookie
    assert SECRET_ACCESS_KEY not in cookie
    page = client.get("/console/parameters")
    assert page.status_code == 200 and "arn:aws:iam::111122223333:root" in page.text
    assert SECRET_ACCESS_KEY not in page.text


def test_wrong_secret_is_refused_and_audited(server):
    client = _client(server)
    form = client.get("/console/signin")
    response = client.post("/console/signin", data={"token": _token(form.text), "access_key_id": ACCESS_KEY_ID,
                                                    "secret": "not-the-secret", "region": "us-east-1"})
    assert response.status_code == 401
    assert "SignInRefused" in response.text and "ps_console=" not in response.headers.get("set-cookie", "")
    assert client.get("/console/parameters").headers["location"] == "/console/signin"
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT error_code, access_key_id, user_agent FROM audit_event "
                                 "WHERE event_name = 'ConsoleLogin' AND error_code = 'SignInRefused'")).all()
    assert rows and rows[-1][1] == ACCESS_KEY_ID and rows[-1][2] == "paramstore-console"


def test_sign_in_without_the_form_token_is_refused(server):
    client = _client(server)
    response = client.post("/console/signin", data={"access_key_id": ACCESS_KEY_ID, "secret": SECRET_ACCESS_KEY})
    assert response.status_code == 403 and "ps_console=" not in response.headers.get("set-cookie", "")


def test_browse_a_three_level_hierarchy(server, ssm, base):
    ssm.put_parameter(Name=f"{base}/app/db/password", Value="pw-value-1", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/app/db/host", Value="db.internal", Type="String")
    ssm.put_parameter(Name=f"{base}/app/name", Value="shop", Type="String")
    client = sign_in(server)
    top = client.get("/console/parameters", params={"path": base + "/"})
    assert top.status_code == 200 and ">app/<" in top.text
    level2 = client.get("/console/parameters", params={"path": f"{base}/app/"})
    assert ">db/<" in level2.text and f"{base}/app/name" in level2.text
    level3 = client.get("/console/parameters", params={"path": f"{base}/app/db/"})
    assert f"{base}/app/db/password" in level3.text and f"{base}/app/db/host" in level3.text
    assert "pw-value-1" not in level3.text


def test_parameter_page_hides_secure_values_and_shows_history(server, ssm, base):
    ssm.put_parameter(Name=f"{base}/secret", Value="s3cr3t-value", Type="SecureString", Description="the db")
    ssm.put_parameter(Name=f"{base}/secret", Value="s3cr3t-value-2", Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name=f"{base}/plain", Value="plain-value", Type="String")
    client = sign_in(server)
    page = client.get("/console/parameter", params={"name": f"{base}/secret"})
    assert page.status_code == 200 and "the db" in page.text
    assert "s3cr3t-value" not in page.text and "(hidden)" in page.text
    assert "arn:aws:iam::111122223333:root" in page.text  # who changed it
    assert "plain-value" in client.get("/console/parameter", params={"name": f"{base}/plain"}).text


def test_attacker_controlled_text_renders_as_text(server, ssm, base):
    nasty = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    name = f"{base}/xss"
    ssm.put_parameter(Name=name, Value=nasty, Type="String", Description=nasty,
                      Tags=[{"Key": "owner", "Value": "x"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "t", "Value": "a=b/c"}])
    client = sign_in(server)
    for page in (client.get("/console/parameter", params={"name": name}),
                 client.get("/console/parameters", params={"path": base + "/"})):
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
    page = client.get("/console/parameter", params={"name": name})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert unescape(page.text).count(nasty) >= 2  # value and description, as text


def test_user_without_rights_sees_access_denied_in_the_page(server, ssm, base):
    iam = server.client("iam")
    user = "console-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    ssm.put_parameter(Name=f"{base}/guarded", Value="v", Type="String")
    client = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
    page = client.get("/console/parameters", params={"path": base + "/"})
    assert page.status_code == 403 and "AccessDeniedException" in page.text
    assert "ssm:DescribeParameters" in unescape(page.text)


def test_sign_out_needs_the_csrf_token(server):
    client = sign_in(server)
    page = client.get("/console/parameters")
    refused = client.post("/console/signout", data={})
    assert refused.status_code == 403
    assert client.get("/console/parameters").status_code == 200  # still signed in
    out = client.post("/console/signout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303
    assert client.get("/console/parameters").headers["location"] == "/console/signin"


def test_idle_sessions_expire(server):
    sessions = server.app.state.console_sessions
    client = sign_in(server)
    idle = sessions.idle
    sessions.idle = 0.2
    try:
        time.sleep(0.4)
        assert client.get("/console/parameters").headers["location"] == "/console/signin"
    finally:
        sessions.idle = idle


def test_deactivating_the_key_ends_the_session(server):
    iam = server.client("iam")
    user = "console-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert client.get("/console/parameters").status_code in (200, 403)
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert client.get("/console/parameters").headers["location"] == "/console/signin"


def test_console_reads_are_audited_as_the_console(server, ssm, base):
    ssm.put_parameter(Name=f"{base}/audited", Value="v", Type="String")
    client = sign_in(server)
    client.get("/console/parameter", params={"name": f"{base}/audited"})
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT event_name, principal_arn, access_key_id FROM audit_event "
                                 "WHERE user_agent = 'paramstore-console' AND event_name = 'GetParameterHistory'")).all()
    assert rows and rows[-1][1] == "arn:aws:iam::111122223333:root" and rows[-1][2] == ACCESS_KEY_ID


def test_reveal_needs_the_csrf_token_and_is_audited(server, ssm, base):
    name = f"{base}/reveal"
    ssm.put_parameter(Name=name, Value="revealed-value-1", Type="SecureString")
    client = sign_in(server)
    page = client.get("/console/parameter", params={"name": name})
    assert "revealed-value-1" not in page.text
    refused = client.post("/console/parameter/reveal", data={"name": name, "version": "1"})
    assert refused.status_code == 403 and "revealed-value-1" not in refused.text
    shown = client.post("/console/parameter/reveal", data={"name": name, "version": "1", "csrf": _csrf(page.text)},
                        headers={"HX-Request": "true"})
    assert shown.status_code == 200 and "revealed-value-1" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT resources FROM audit_event WHERE user_agent = 'paramstore-console' "
                                 "AND event_name = 'GetParameter'")).all()
    assert any(name.lstrip("/") in (r[0] or "") for r in rows)


def test_repeated_failed_sign_ins_are_throttled(server):
    limiter = server.app.state.console_limiter
    limiter.reset()
    try:
        client = _client(server)
        token = _token(client.get("/console/signin").text)
        codes = [client.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                      "secret": f"guess-{i}", "region": "us-east-1"}).status_code
                 for i in range(11)]
        assert codes[:10] == [401] * 10 and codes[10] == 429
        # while throttled, even the right key is refused: guessing costs time
        right = client.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                     "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
        assert right.status_code == 429 and "ps_console=" not in right.headers.get("set-cookie", "")
    finally:
        limiter.reset()


def test_keys_page_lists_keys_with_aliases_state_and_manager(server):
    kms = server.client("kms", region="ca-west-1")  # a Region of its own: the first page holds every key
    nasty = '<script>alert("k")</script>'
    key = kms.create_key(Description=nasty, MultiRegion=True)["KeyMetadata"]
    alias = f"alias/console-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    other = kms.create_key(Description="to disable")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=other)
    kms.describe_key(KeyId="alias/aws/ssm")  # an AWS-managed key exists
    client = sign_in(server, region="ca-west-1")
    listing = client.get("/console/keys")
    assert listing.status_code == 200
    assert key["KeyId"] in listing.text and alias in listing.text and "multi-Region" in listing.text
    assert other in listing.text and "Disabled" in listing.text and ">AWS<" in listing.text
    assert "<script>alert" not in listing.text
    detail = client.get("/console/key", params={"id": key["Arn"]})
    assert detail.status_code == 200 and "PRIMARY" in detail.text and "key-default-1" in unescape(detail.text)
    assert "<script>alert" not in detail.text and "&lt;script&gt;" in detail.text


def test_keys_page_shows_access_denied_for_a_user_without_rights(server):
    iam = server.client("iam")
    user = "console-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
    page = client.get("/console/keys")
    assert page.status_code == 403 and "AccessDeniedException" in page.text and "kms:ListKeys" in page.text
