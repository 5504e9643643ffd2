"""Attacks on the web console (/console) over HTTP, against the live server: each test asserts
the SAFE behaviour, so a failing test is a finding.  Covers CSRF binding, login CSRF, open
redirects and header injection, escaping in attribute/URL contexts, secrets kept out of
pages and cookies, sessions ended when their credentials stop working, session-store
eviction, malformed and oversized forms, and work that would stall the event loop.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import uuid
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from kms_core.storage.audit_file import trail_engine
from paramstore.console import sessions as console_sessions
from tests.api.test_console import _client, _csrf, _token, sign_in
from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options", "cache-control")


@pytest.fixture
def base() -> str:
    return f"/attack-{uuid.uuid4().hex[:8]}"


def _user(server, policy: dict | None = None) -> tuple[str, dict]:
    iam = server.client("iam")
    user = "atk-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    if policy is not None:
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    return user, iam.create_access_key(UserName=user)["AccessKey"]


def _same_account_role(server) -> tuple[str, str]:
    iam = server.client("iam")
    role = "atk-role-" + uuid.uuid4().hex[:6]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return role, arn


def _settled(response: httpx.Response) -> httpx.Response:
    """After a 500, give the server thread time to log its traceback: Python 3.11's traceback
    formatting and pytest's failure report both use ast.parse, which is not thread-safe
    (SystemError: AST constructor recursion depth mismatch) when they overlap."""
    if response.status_code >= 500:
        time.sleep(0.5)
    return response


def _status(call, *args, **kwargs) -> int:
    """The status code; a dropped connection counts as a server error (599)."""
    try:
        return _settled(call(*args, **kwargs)).status_code
    except httpx.TransportError:
        time.sleep(0.5)
        return 599


def _switch(server, client, role_arn: str):
    csrf = _csrf(client.get("/console/identity").text)
    switched = client.post("/console/switch-role", data={"csrf": csrf, "role_arn": role_arn,
                                                         "session_name": "mallory"})
    assert switched.status_code == 303, switched.text
    return switched


# ---------------------------------------------------------------------------------------
# FINDINGS (these fail on the current code)
# ---------------------------------------------------------------------------------------


def test_role_session_that_stops_working_signs_out_instead_of_500(server):
    """A switched-role session whose role is deleted (or whose session token expires) must end
    the console session like a deactivated key does; IdentityStore.lookup raises
    UnrecognizedClientException / ExpiredTokenException for session tokens instead of
    returning None, and Site.visit lets it escape: every console page answers 500."""
    role, arn = _same_account_role(server)
    client = sign_in(server)
    _switch(server, client, arn)
    assert client.get("/console/identity").status_code == 200
    iam = server.client("iam")
    iam.delete_role_policy(RoleName=role, PolicyName="all")
    iam.delete_role(RoleName=role)
    page = _settled(client.get("/console/parameters"))
    assert page.status_code == 303 and page.headers["location"] == "/console/signin", page.status_code
    assert _settled(client.get("/console")).status_code == 303


def test_expired_role_session_signs_out_instead_of_500(server, monkeypatch):
    role, arn = _same_account_role(server)
    client = sign_in(server)
    _switch(server, client, arn)
    identities = server.app.state.store.kms.identities
    real = identities._wall_clock
    monkeypatch.setattr(identities, "_wall_clock", lambda: real() + 13 * 3600)  # past any role session
    page = _settled(client.get("/console/parameters"))
    assert page.status_code == 303 and page.headers["location"] == "/console/signin", page.status_code


def test_compare_does_not_stall_the_whole_server(server, base):
    """difflib.ndiff is roughly cubic on dissimilar lines and runs in the async view, on the
    event loop: a ~800-byte parameter (400 one-character lines) blocks every request (API
    included) for seconds; 1.6 KB for about a minute; a 4 KB Standard value for hours."""
    ssm = server.client("ssm")
    rng = random.Random(7)
    name = f"{base}/diff-bomb"
    lines = 400
    ssm.put_parameter(Name=name, Value="\n".join(rng.choice("ab") for _ in range(lines)), Type="String")
    ssm.put_parameter(Name=name, Value="\n".join(rng.choice("ab") for _ in range(lines)), Type="String",
                      Overwrite=True)
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameter", params={"name": name}).text)
    done = {}

    def attack() -> None:
        started = time.perf_counter()
        done["status"] = _client(server).post("/console/parameter/compare",
                                              data={"csrf": csrf, "name": name, "a": "1", "b": "2"},
                                              cookies=client.cookies).status_code
        done["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=attack)
    thread.start()
    time.sleep(0.5)
    started = time.perf_counter()
    probe = _client(server).get("/console/signin")  # anybody else's request meanwhile
    waited = time.perf_counter() - started
    thread.join(timeout=120)
    assert probe.status_code == 200
    assert waited < 2.0, f"another request waited {waited:.1f}s behind one compare"


def test_oversized_console_body_is_refused_without_reading_it(server):
    """read_form() buffers the whole body (request.body()) before checking MAX_FORM_BYTES and
    the console's routes bypass AwsJsonMiddleware's body limit: an unauthenticated POST to
    /console/signin declaring a huge Content-Length is read to the end (memory exhaustion).
    Safe: answered (413 or any refusal) as soon as the declared length is over the limit."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /console/signin HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 4000000000\r\n\r\n" + b"a=" + b"b" * 1000)
        try:
            answer = sock.recv(200)
        except socket.timeout:
            answer = b""
    assert answer.startswith(b"HTTP/1.1 4"), "the server waited for the 4 GB body instead of refusing it"


def test_sign_in_with_a_non_ascii_form_token_is_refused_not_500(server):
    """routes.signin: secrets.compare_digest(str, str) raises TypeError on non-ASCII text."""
    client = _client(server)
    client.get("/console/signin")  # the pre-sign-in cookie
    response = _settled(client.post("/console/signin", data={"token": "é", "access_key_id": ACCESS_KEY_ID,
                                                    "secret": SECRET_ACCESS_KEY, "region": "us-east-1"}))
    assert response.status_code == 403, response.status_code


@pytest.mark.parametrize("number", ["²", "٣", "9" * 5000])
def test_odd_numbers_in_forms_are_validation_errors_not_500(server, base, number):
    """str.isdigit() accepts superscripts and other Unicode digits that int() refuses, and
    int() refuses more than 4300 digits: label / unlabel / key deletion / secret deletion
    answer 500."""
    ssm, kms, sm = server.client("ssm"), server.client("kms"), server.client("secretsmanager")
    name = f"{base}/n"
    ssm.put_parameter(Name=name, Value="v", Type="String")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = sm.create_secret(Name=f"atk/{uuid.uuid4().hex[:8]}", SecretString="s")["ARN"]
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameters").text)
    statuses = {
        "label": _status(client.post, "/console/parameter/label",
                         data={"csrf": csrf, "name": name, "version": number, "labels": "x"}),
        "unlabel": _status(client.post, "/console/parameter/unlabel",
                           data={"csrf": csrf, "name": name, "version": number, "label": "x"}),
        "key": _status(client.post, "/console/key/action",
                       data={"csrf": csrf, "id": key_id, "action": "schedule-deletion", "days": number}),
        "secret": _status(client.post, "/console/secret/delete", data={"csrf": csrf, "id": secret, "days": number}),
    }
    assert all(s < 500 for s in statuses.values()), statuses
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_many_sign_ins_by_one_key_do_not_sign_everyone_else_out(server, monkeypatch):
    """Successful sign-ins are not rate-limited, so one key (even one with no rights) signing
    in over and over must evict only its own oldest sessions (MAX_SESSIONS_PER_KEY), and a
    full server refuses new sign-ins rather than evicting anyone.  Scaled down here."""
    store = server.app.state.console_sessions
    saved = dict(store._by_hash)
    store._by_hash.clear()
    monkeypatch.setattr(console_sessions, "MAX_SESSIONS", 6)
    monkeypatch.setattr(console_sessions, "MAX_SESSIONS_PER_KEY", 3)
    try:
        victim = sign_in(server)
        _, key = _user(server)  # no rights at all
        for _ in range(12):
            sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
        assert victim.get("/console/parameters").status_code == 200, "the victim was signed out"
        others = [_user(server)[1] for _ in range(2)]
        for other in others:
            sign_in(server, other["AccessKeyId"], other["SecretAccessKey"])  # 1 + 3 + 2 = 6: full
        late = _user(server)[1]
        client = _client(server)
        token = _token(client.get("/console/signin").text)
        refused = client.post("/console/signin", data={"token": token, "access_key_id": late["AccessKeyId"],
                                                       "secret": late["SecretAccessKey"], "region": "us-east-1"})
        assert refused.status_code == 503 and "ps_console=" not in refused.headers.get("set-cookie", "")
        assert victim.get("/console/parameters").status_code == 200
    finally:
        store._by_hash.clear()
        store._by_hash.update(saved)


def test_signing_in_again_ends_the_session_the_browser_had(server):
    """A new sign-in replaces the browser's cookie but leaves the old session alive on the
    server (switch-role closes it; sign-in does not): a copied old cookie keeps working."""
    client = sign_in(server)
    old = client.cookies.get("ps_console")
    token = _token(client.get("/console/signin").text)
    again = client.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                  "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert again.status_code == 303 and client.cookies.get("ps_console") != old
    stale = _client(server)
    stale.cookies.set("ps_console", old, path="/console")
    assert stale.get("/console/parameters").status_code == 303


def test_framework_error_responses_under_console_carry_the_security_headers(server):
    """FastAPI's own 404 / 405 answers under /console skip SECURITY_HEADERS (no CSP,
    X-Frame-Options, nosniff, no-store)."""
    client = sign_in(server)
    for response in (client.get("/console/region"), client.get("/console/no-such-page"),
                     client.put("/console/signin")):
        assert response.status_code in (404, 405)
        missing = [h for h in SECURITY if h not in response.headers]
        assert not missing, (response.request.method, response.request.url.path, missing)


def test_switch_role_does_not_extend_the_absolute_session_lifetime(server):
    """switch-role opens a brand-new console session (created = now), so switching again
    (role chaining) before the role session ends keeps a console session alive past
    ABSOLUTE_SECONDS forever; AWS ties the console session to the original sign-in."""
    _, arn = _same_account_role(server)
    store = server.app.state.console_sessions
    absolute = store.absolute
    store.absolute = 3.0
    try:
        client = sign_in(server)
        _switch(server, client, arn)
        time.sleep(1.6)
        _switch(server, client, arn)  # the role session assumes the role again
        time.sleep(1.8)  # 3.4 s after the sign-in
        page = client.get("/console/parameters")
        assert page.status_code == 303 and page.headers["location"] == "/console/signin"
    finally:
        store.absolute = absolute


# ---------------------------------------------------------------------------------------
# GUARDS (pass today; keep them as regression tests)
# ---------------------------------------------------------------------------------------


def test_csrf_token_is_bound_to_its_session(server, base):
    ssm = server.client("ssm")
    name = f"{base}/bound"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    mallory, alice = sign_in(server), sign_in(server)
    mallory_token = _csrf(mallory.get("/console/parameters").text)
    refused = alice.post("/console/parameter/delete", data={"csrf": mallory_token, "name": name})
    assert refused.status_code == 403 and "InvalidCsrfToken" in refused.text
    refused = alice.post("/console/signout", data={"csrf": mallory_token})
    assert refused.status_code == 403
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"
    # an htmx request with a forged token changes nothing either (it answers 200 with the error)
    forged = alice.post("/console/parameter/delete", data={"csrf": "x", "name": name}, headers={"HX-Request": "true"})
    assert "InvalidCsrfToken" in forged.text
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"


def test_csrf_token_is_not_taken_from_the_query_string(server, base):
    ssm = server.client("ssm")
    name = f"{base}/query-csrf"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameters").text)
    refused = client.post(f"/console/parameter/delete?csrf={csrf}", data={"name": name})
    assert refused.status_code == 403
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"


def test_login_csrf_needs_the_form_token_and_its_own_cookie(server):
    attacker = _client(server)
    token = _token(attacker.get("/console/signin").text)
    victim = _client(server)  # no pre-sign-in cookie (a cross-site POST would not send it)
    forged = victim.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                  "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert forged.status_code == 403 and "ps_console=" not in forged.headers.get("set-cookie", "")
    victim.get("/console/signin")  # its own cookie, the attacker's token
    forged = victim.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                  "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert forged.status_code == 403
    pre = [c for c in attacker.get("/console/signin").headers.get_list("set-cookie")
           if c.startswith("ps_console_signin=")][0]
    assert "HttpOnly" in pre and "samesite=strict" in pre.lower() and "Path=/console" in pre


def test_sign_in_issues_a_fresh_session_id(server):
    """No fixation: a cookie the attacker chose is never adopted."""
    client = _client(server)
    client.cookies.set("ps_console", "attacker-chosen-id", path="/console")
    form = client.get("/console/signin")
    signed = client.post("/console/signin", data={"token": _token(form.text), "access_key_id": ACCESS_KEY_ID,
                                                  "secret": SECRET_ACCESS_KEY, "region": "us-east-1"})
    assert signed.status_code == 303
    issued = re.search(r"ps_console=([^;]+)", signed.headers["set-cookie"]).group(1)
    assert issued != "attacker-chosen-id" and len(issued) >= 40
    lone = _client(server)
    lone.cookies.set("ps_console", "attacker-chosen-id", path="/console")
    assert lone.get("/console/parameters").headers["location"] == "/console/signin"


@pytest.mark.parametrize("cookie", [b"x" * 5000, b"%00%7f", "\u00e9".encode() * 10, b"", b"a;ps_console=b"])
def test_garbage_session_cookies_redirect_to_sign_in(server, cookie):
    response = _client(server).get("/console/parameters", headers={"Cookie": b"ps_console=" + cookie})
    assert response.status_code == 303 and response.headers["location"] == "/console/signin"


@pytest.mark.parametrize("back", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "/console//evil.example",
    "/console/\\\\evil.example", "/console/../..//evil.example", "\\/evil.example",
    "/console/x\r\nSet-Cookie: ps_console=fixed", "/console/x%0d%0aSet-Cookie:%20a=b", " /console/x",
    "/console/\t/evil.example", "javascript:alert(1)//console/"])
def test_region_back_never_leaves_the_console_nor_injects_headers(server, back):
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameters").text)
    moved = client.post("/console/region", data={"csrf": csrf, "region": "us-east-1", "back": back})
    assert moved.status_code == 303
    location = moved.headers["location"]
    assert location.startswith("/console/") and "//" not in location and "\\" not in location
    assert not any(c in location for c in "\r\n\t ")
    assert all(not c.startswith("ps_console=fixed") and not c.startswith("a=")
               for c in moved.headers.get_list("set-cookie"))


def test_redirects_built_from_names_are_encoded(server, base):
    ssm = server.client("ssm")
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameters").text)
    name = f"{base}/a?b=c&d#e"
    ssm.put_parameter(Name=f"{base}/plain", Value="v", Type="String")
    tagged = client.post("/console/parameter/tag", data={"csrf": csrf, "name": name + "\r\nX-Evil: 1",
                                                         "key": "k", "value": "v"})
    assert "x-evil" not in tagged.headers
    moved = client.post("/console/parameter/tag", data={"csrf": csrf, "name": f"{base}/plain", "key": "k",
                                                        "value": "v"})
    assert moved.status_code == 303 and moved.headers["location"].startswith("/console/parameter?name=%2F")
    for header in ("content-security-policy", "x-frame-options", "cache-control"):
        assert header in moved.headers


def test_markup_in_names_tags_labels_and_errors_stays_text(server, base):
    ssm, sm, kms = server.client("ssm"), server.client("secretsmanager"), server.client("kms")
    nasty = '"><svg onload=alert(1)>'
    name = f"{base}/x"
    ssm.put_parameter(Name=name, Value="v", Type="String", Description=nasty)
    ssm.label_parameter_version(Name=name, Labels=["lbl-" + uuid.uuid4().hex[:6]])
    secret = sm.create_secret(Name=f"atk/{uuid.uuid4().hex[:6]}", SecretString="s", Description=nasty)["ARN"]
    key_id = kms.create_key(Description=nasty, Tags=[{"TagKey": "t", "TagValue": nasty}])["KeyMetadata"]["KeyId"]
    client = sign_in(server)
    pages = [client.get("/console/parameter", params={"name": name}),
             client.get("/console/parameter/edit", params={"name": name}),
             client.get("/console/secret", params={"id": secret}),
             client.get("/console/secrets"),
             client.get("/console/key", params={"id": key_id}),
             client.get("/console/parameter", params={"name": f"{base}/{nasty}"}),  # error echoes the name
             client.get("/console/parameters", params={"path": nasty, "name": nasty, "tag": nasty}),
             client.get("/console/audit", params={"attr": nasty, "value": nasty, "start": nasty}),
             client.get("/console/secrets", params={"name": nasty}),
             client.get("/console/identity/entity", params={"kind": "user", "name": nasty})]
    for page in pages:
        assert "<svg" not in page.text, page.request.url
        assert page.status_code < 500, page.request.url


def test_secret_values_stay_out_of_get_pages_cookies_and_the_audit_pages(server):
    client = sign_in(server)
    csrf = _csrf(client.get("/console/secret/new").text)
    value = "console-secret-" + uuid.uuid4().hex
    created = client.post("/console/secret/create", data={"csrf": csrf, "name": f"atk/{uuid.uuid4().hex[:8]}",
                                                           "value": value})
    assert created.status_code == 303 and value not in created.headers["location"]
    for page in (client.get(created.headers["location"]), client.get("/console/secrets"),
                 client.get("/console/audit")):
        assert value not in page.text
    assert all(value not in c for c in created.headers.get_list("set-cookie"))
    ids = re.findall(r'href="/console/audit/event\?id=([^"]+)"', client.get("/console/audit").text)
    for event_id in ids[:10]:
        assert value not in client.get(f"/console/audit/event?id={event_id}").text


def test_failed_sign_in_page_does_not_echo_the_secret_or_session_token(server):
    client = _client(server)
    token = _token(client.get("/console/signin").text)
    refused = client.post("/console/signin", data={"token": token, "access_key_id": ACCESS_KEY_ID,
                                                   "secret": "typed-secret-xyz", "session_token": "typed-token-xyz",
                                                   "region": "us-east-1"})
    assert refused.status_code == 401
    assert "typed-secret-xyz" not in refused.text and "typed-token-xyz" not in refused.text
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event WHERE event_name = 'ConsoleLogin'")).all()
    assert not any("typed-secret-xyz" in str(r) or "typed-token-xyz" in str(r) for r in rows)


def test_switch_role_keeps_temporary_credentials_out_of_pages_and_cookies(server):
    _, arn = _same_account_role(server)
    client = sign_in(server)
    switched = _switch(server, client, arn)
    store = server.app.state.console_sessions
    session = store.get(client.cookies.get("ps_console"))
    assert session is not None and session.session_token
    secret = server.app.state.store.kms.identities.lookup(session.access_key_id, session.session_token)[0]
    cookies = " ".join(switched.headers.get_list("set-cookie"))
    assert session.session_token not in cookies and secret not in cookies
    assert session.session_token not in switched.headers.get("location", "")
    for path in ("/console/identity", "/console/parameters", "/console/audit"):
        page = client.get(path)
        assert session.session_token not in page.text and secret not in page.text
        assert session.session_token not in repr(session)


def test_deleted_access_key_or_user_ends_the_session(server):
    iam = server.client("iam")
    user, key = _user(server)
    client = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert client.get("/console/parameters").status_code in (200, 403)
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    assert client.get("/console/parameters").headers["location"] == "/console/signin"
    user2, key2 = _user(server)
    client2 = sign_in(server, key2["AccessKeyId"], key2["SecretAccessKey"])
    iam.delete_access_key(UserName=user2, AccessKeyId=key2["AccessKeyId"])
    iam.delete_user(UserName=user2)
    assert client2.get("/console/parameters").headers["location"] == "/console/signin"


def test_a_user_cannot_act_beyond_its_policy_through_any_console_route(server, base):
    ssm, kms, sm = server.client("ssm"), server.client("kms"), server.client("secretsmanager")
    name = f"{base}/guarded"
    ssm.put_parameter(Name=name, Value="guarded-value", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/guarded2", Value="guarded-plain", Type="String")
    ssm.put_parameter(Name=f"{base}/guarded2", Value="guarded-plain-2", Type="String", Overwrite=True)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = sm.create_secret(Name=f"atk/{uuid.uuid4().hex[:8]}", SecretString="guarded-secret")["ARN"]
    _, key = _user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:DescribeParameters", "secretsmanager:ListSecrets"], "Resource": "*"}]})
    client = sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])
    csrf = _csrf(client.get("/console/parameters").text)
    attempts = [
        ("/console/parameter/reveal", {"name": name, "version": "1"}),
        ("/console/parameter/compare", {"name": f"{base}/guarded2", "a": "1", "b": "2"}),
        ("/console/parameter/update", {"name": name, "value": "x"}),
        ("/console/parameter/delete", {"name": name}),
        ("/console/parameter/tag", {"name": name, "key": "k", "value": "v"}),
        ("/console/key/action", {"id": key_id, "action": "disable"}),
        ("/console/key/policy", {"id": key_id, "policy": "{}"}),
        ("/console/secret/reveal", {"id": secret}),
        ("/console/secret/value", {"id": secret, "value": "x"}),
        ("/console/secret/delete", {"id": secret, "days": "7"}),
    ]
    for route, form in attempts:
        response = client.post(route, data=dict(form, csrf=csrf), headers={"HX-Request": "true"})
        assert "AccessDenied" in response.text, route
        assert "guarded-" not in response.text, route
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "guarded-value"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == []
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert sm.get_secret_value(SecretId=secret)["SecretString"] == "guarded-secret"
    assert "DeletedDate" not in sm.describe_secret(SecretId=secret)


def test_get_routes_change_nothing(server, base):
    ssm, kms, sm = server.client("ssm"), server.client("kms"), server.client("secretsmanager")
    name = f"{base}/get-safe"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = sm.create_secret(Name=f"atk/{uuid.uuid4().hex[:8]}", SecretString="s")["ARN"]
    client = sign_in(server)
    for path, params in [("/console/parameter/delete", {"name": name}),
                         ("/console/key/confirm", {"id": key_id, "action": "schedule-deletion"}),
                         ("/console/key/action", {"id": key_id, "action": "disable"}),
                         ("/console/secret/delete", {"id": secret}),
                         ("/console/signout", {}),
                         ("/console/region", {"region": "eu-west-1"}),
                         ("/console/switch-role", {"role_arn": "arn:aws:iam::111122223333:role/x"})]:
        client.get(path, params=params)
        client.head(path, params=params)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert "DeletedDate" not in sm.describe_secret(SecretId=secret)
    page = client.get("/console/parameters")
    assert page.status_code == 200 and 'value="us-east-1"' in page.text  # still signed in, same Region


def test_oversized_and_overfull_forms_are_refused_cleanly(server, base):
    ssm = server.client("ssm")
    name = f"{base}/big"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameters").text)
    big = client.post("/console/parameter/update", data={"csrf": csrf, "name": name, "value": "x" * 70_000})
    assert big.status_code == 403
    many = {"csrf": csrf, "name": name, "value": "y", **{f"f{i}": "1" for i in range(60)}}
    assert client.post("/console/parameter/update", data=many).status_code == 403
    raw = client.post("/console/parameter/update", content=b"csrf=" + csrf.encode() + b"&name=%ff%fe&value=%00",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert raw.status_code < 500
    multipart = client.post("/console/parameter/update", files={"csrf": (None, csrf), "name": (None, name),
                                                                "value": (None, "z")})
    assert multipart.status_code < 500
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"


@pytest.mark.parametrize("query", [{"start": "0001-01-01T00:00:00"}, {"end": "9999-12-31T23:59:59-14:00"},
                                   {"start": "not a date"}, {"next": "garbage"}, {"attr": "EventId", "value": "x"}])
def test_audit_filters_with_odd_values_do_not_500(server, query):
    client = sign_in(server)
    assert client.get("/console/audit", params=query).status_code < 500
    assert client.get("/console/audit/event", params={"id": query.get("value", "nope")}).status_code < 500


def test_reveal_and_compare_answers_are_never_cached(server, base):
    ssm = server.client("ssm")
    name = f"{base}/nocache"
    ssm.put_parameter(Name=name, Value="nocache-value-one", Type="SecureString")
    ssm.put_parameter(Name=name, Value="nocache-value-two", Type="SecureString", Overwrite=True)
    client = sign_in(server)
    csrf = _csrf(client.get("/console/parameter", params={"name": name}).text)
    for response in (client.post("/console/parameter/reveal", data={"csrf": csrf, "name": name, "version": "1"}),
                     client.post("/console/parameter/compare", data={"csrf": csrf, "name": name, "a": "1", "b": "2"}),
                     client.get("/console/parameter/edit", params={"name": name})):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    edit = client.get("/console/parameter/edit", params={"name": name})
    assert "nocache-value" not in edit.text


@pytest.mark.parametrize("path, params", [
    ("/console/parameters", {"next": "garbage"}), ("/console/parameters", {"path": "/" + "a/" * 3000}),
    ("/console/parameters", {"label": "x", "next": "garbage"}), ("/console/parameters", {"tag": "=" * 300}),
    ("/console/secrets", {"next": "garbage"}), ("/console/keys", {"marker": "garbage"}),
    ("/console/key", {"id": "x" * 3000}), ("/console/key/confirm", {"id": "x", "action": "nope"}),
    ("/console/parameter", {"name": "\x00"}), ("/console/parameter/edit", {"name": "a:1"}),
    ("/console/secret", {"id": ""}), ("/console/identity/entity", {"kind": "role", "name": "\x00" * 10}),
    ("/console/static/..%2Fweb.py", {}), ("/console/static/console.js%00", {})])
def test_odd_query_values_on_pages_do_not_500(server, path, params):
    client = sign_in(server)
    response = client.get(path, params=params)
    assert response.status_code < 500, response.text[:300]
    assert "def render" not in response.text
