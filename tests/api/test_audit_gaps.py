"""Audit-trail gaps closed, through the live server on both databases:

* deleting the newest events (the last one, the last few, with or without moving the head
  back) makes `paramstore audit verify` fail and say so;
* a request refused before it reaches a service (body too large, declared or streamed;
  Content-Length not a number; malformed JSON; unknown target; missing or bad signature;
  unknown access key) is one audit event with its error code, source IP, user agent, access
  key id, region and operation, and nothing secret (no body, signature or token);
* `paramstore audit ls --resource NAME-or-ARN` and `--event svc:Name`.
"""

from __future__ import annotations

from kms_core.storage.audit_file import trail_engine
import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import text

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import raw_request

REPO = Path(__file__).resolve().parents[2]
CONTENT_TYPE = "application/x-amz-json-1.1"
COLUMNS = ("seq", "event_time", "request_id", "event_source", "event_name", "region", "account_id",
           "principal_arn", "access_key_id", "source_ip", "user_agent", "resources", "encryption_context",
           "error_code", "detail", "prev_mac", "mac")


# --- helpers ---------------------------------------------------------------------------
def db_of(server):
    return server.app.state.store.db


def rows_where(db, where: str, **params) -> list[dict]:
    with trail_engine(db).connect() as conn:
        rows = conn.execute(text("SELECT " + ", ".join(COLUMNS) + f" FROM audit_event WHERE {where} ORDER BY seq"),
                            params).all()
    out = []
    for row in rows:
        event = dict(zip(COLUMNS, row))
        event["detail"] = json.loads(event["detail"]) if event["detail"] else None
        event["_raw"] = "\t".join("" if v is None else str(v) for v in row)
        out.append(event)
    return out


def one_event(server, request_id: str) -> dict:
    rows = rows_where(db_of(server), "request_id = :r", r=request_id)
    assert len(rows) == 1, f"expected one audit event for request {request_id}, got {len(rows)}"
    return rows[0]


def event_by_agent(server, agent: str) -> dict:
    rows = rows_where(db_of(server), "user_agent = :a", a=agent)
    assert len(rows) == 1, f"expected one audit event with user agent {agent}, got {len(rows)}"
    return rows[0]


def signed_headers(url: str, body: bytes, target: Optional[str], access_key_id: str = ACCESS_KEY_ID,
                   secret: str = SECRET_ACCESS_KEY, token: Optional[str] = None,
                   extra: Optional[dict] = None) -> dict[str, str]:
    headers = {"Content-Type": CONTENT_TYPE}
    if target is not None:
        headers["X-Amz-Target"] = target
    headers.update(extra or {})
    request = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(access_key_id, secret, token), "kms", REGION).add_auth(request)
    return dict(request.headers.items())


def signature_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


def response_request_id(data: bytes) -> str:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-amzn-requestid":
            return value.strip().decode()
    raise AssertionError(f"no request id in {data[:300]!r}")


def cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    return subprocess.run([sys.executable, "-m", "paramstore", "audit", *args, "--data-dir", str(server.data_dir),
                           "--database-url", server.database_url], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def listed(server, *args: str) -> list[str]:
    """Request ids `paramstore audit ls ARGS --json` lists."""
    result = cli(server, "ls", *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line)["request_id"] for line in result.stdout.splitlines()]


def assert_refusal_recorded(event: dict, code: str, agent: str, *, name: str = "Encrypt",
                            source: str = "kms.amazonaws.com", access_key_id: Optional[str] = ACCESS_KEY_ID,
                            region: Optional[str] = REGION) -> None:
    assert event["error_code"] == code, event
    assert event["event_source"] == source and event["event_name"] == name, event
    assert event["source_ip"] == "127.0.0.1"
    assert event["user_agent"] == agent
    assert event["access_key_id"] == access_key_id
    assert event["region"] == region
    assert event["principal_arn"] is None and event["account_id"] is None


# --- 1. a deleted tail is reported ------------------------------------------------------
@pytest.fixture
def restore_trail(server):
    """Put back whatever a test deletes from the shared server's trail (rows and head)."""
    engine = trail_engine(db_of(server))
    saved: dict = {}

    def save(first_seq: int) -> None:
        with engine.connect() as conn:
            saved["rows"] = conn.execute(text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE seq >= :s"),
                                         {"s": first_seq}).all()
            saved["head"] = conn.execute(text("SELECT * FROM audit_head")).one()._asdict()

    yield save
    if saved:
        insert = text("INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") VALUES ("
                      + ", ".join(":" + c for c in COLUMNS) + ")")
        with engine.begin() as conn:
            present = {r[0] for r in conn.execute(text("SELECT seq FROM audit_event WHERE seq >= :s"),
                                                  {"s": saved["rows"][0][0]})}
            for row in saved["rows"]:
                if row[0] not in present:
                    conn.execute(insert, dict(zip(COLUMNS, row)))
            current = conn.execute(text("SELECT last_seq FROM audit_head")).scalar()
            if current < saved["head"]["last_seq"]:
                conn.execute(text("UPDATE audit_head SET " + ", ".join(f"{c} = :{c}" for c in saved["head"])),
                             saved["head"])
        again = cli(server, "verify")
        assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("deleted, move_head", [(1, False), (5, False), (3, True)],
                         ids=["last-event", "last-5", "last-3-and-head-moved-back"])
def test_cli_verify_reports_deleted_newest_events(server, kms, restore_trail, deleted, move_head):
    for _ in range(deleted + 1):
        kms.list_keys()
    intact = cli(server, "verify")
    assert intact.returncode == 0 and intact.stdout.startswith("audit trail intact: "), intact.stdout + intact.stderr
    assert "not authenticated" not in intact.stdout  # the running server keeps the head sealed

    engine = trail_engine(db_of(server))
    with engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(seq) FROM audit_event")).scalar()
    first_deleted = last - deleted + 1
    restore_trail(first_deleted)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq >= :s"), {"s": first_deleted})
        if move_head:  # what someone without the root key would also do
            conn.execute(text("UPDATE audit_head SET last_seq = :s, "
                              "last_mac = (SELECT mac FROM audit_event WHERE seq = :s)"), {"s": first_deleted - 1})
    broken = cli(server, "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    if move_head:
        assert "head was altered" in broken.stdout, broken.stdout
    else:
        assert f"BROKEN at seq {first_deleted}" in broken.stdout, broken.stdout
        assert "deleted from the tail" in broken.stdout, broken.stdout


# --- 2. requests refused before dispatch are audited ---------------------------------------
def test_declared_oversize_body_is_audited(server):
    agent = "gaps-declared/" + uuid.uuid4().hex
    token = "FAKE-SESSION-TOKEN-" + uuid.uuid4().hex
    headers = signed_headers(server.url, b"{}", "TrentService.Encrypt", token=token, extra={"User-Agent": agent})
    lines = [f"Content-Length: {10 * 1024 * 1024}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "host")]
    data = raw_request(server.url, lines)
    assert data.startswith(b"HTTP/1.1 413"), data[:300]
    event = one_event(server, response_request_id(data))
    assert_refusal_recorded(event, "RequestEntityTooLargeException", agent)
    assert event["detail"]["errorMessage"].startswith("Request body is larger than")
    assert signature_of(headers) not in event["_raw"] and token not in event["_raw"]


def test_oversize_query_protocol_body_is_audited(server):
    """IAM and STS (form-encoded, no X-Amz-Target): the service comes from the credential
    scope, the operation from an Action in the URL (the body is not read)."""
    agent = "gaps-query/" + uuid.uuid4().hex
    query = "Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="POST", url=f"{server.url}/?{query}", data=b"",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                  "User-Agent": agent})
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "sts", REGION).add_auth(request)
    lines = [f"Content-Length: {10 * 1024 * 1024}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("content-length", "host")]
    data = raw_request(server.url, lines, target="/?" + query)
    assert data.startswith(b"HTTP/1.1 413"), data[:300]
    event = one_event(server, response_request_id(data))
    assert_refusal_recorded(event, "RequestEntityTooLargeException", agent, name="GetCallerIdentity",
                            source="sts.amazonaws.com")


def test_streamed_oversize_body_is_audited(server):
    agent = "gaps-streamed/" + uuid.uuid4().hex
    canary = b"body-canary-" + uuid.uuid4().hex.encode()
    headers = signed_headers(server.url, b"", "TrentService.Encrypt",
                             extra={"User-Agent": agent, "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    headers.pop("Content-Length", None)

    def stream() -> Iterator[bytes]:
        yield b"{\"KeyId\": \"" + canary
        for _ in range(8):
            yield b"a" * (256 * 1024)
        yield b"\"}"

    try:
        response = httpx.post(server.url + "/", content=stream(), headers=headers, timeout=15)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # answered early and closed: the event is found by its user agent
    else:
        assert response.status_code == 413, response.text[:300]
    event = event_by_agent(server, agent)
    assert_refusal_recorded(event, "RequestEntityTooLargeException", agent)
    assert canary.decode() not in event["_raw"] and signature_of(headers) not in event["_raw"]


def test_malformed_json_is_audited(server):
    agent = "gaps-json/" + uuid.uuid4().hex
    body = b"{\"KeyId\": \"secret-looking-canary\", "
    headers = signed_headers(server.url, body, "TrentService.Encrypt", extra={"User-Agent": agent})
    response = httpx.post(server.url + "/", content=body, headers=headers, timeout=15)
    assert response.status_code == 400 and response.json()["__type"] == "SerializationException"
    event = one_event(server, response.headers["x-amzn-RequestId"])
    assert event["error_code"] == "SerializationException" and event["event_name"] == "Encrypt"
    assert event["user_agent"] == agent and event["source_ip"] == "127.0.0.1"
    assert event["access_key_id"] == ACCESS_KEY_ID
    assert "secret-looking-canary" not in event["_raw"]


@pytest.mark.parametrize("target, source, name", [
    ("TrentService.NoSuchOperation", "kms.amazonaws.com", "NoSuchOperation"),
    ("Foo.Bar", "paramstore", "Bar"),
], ids=["unknown-operation", "unknown-service"])
def test_bad_target_is_audited(server, target, source, name):
    agent = "gaps-target/" + uuid.uuid4().hex
    headers = signed_headers(server.url, b"{}", target, extra={"User-Agent": agent})
    response = httpx.post(server.url + "/", content=b"{}", headers=headers, timeout=15)
    assert response.status_code == 400 and response.json()["__type"] == "UnknownOperationException"
    event = one_event(server, response.headers["x-amzn-RequestId"])
    assert event["error_code"] == "UnknownOperationException"
    assert event["event_source"] == source and event["event_name"] == name
    assert event["user_agent"] == agent and event["access_key_id"] == ACCESS_KEY_ID


@pytest.mark.parametrize("case", ["missing-signature", "invalid-signature", "unknown-access-key"])
def test_failed_authentication_is_audited_with_its_region(server, case):
    agent = "gaps-auth/" + uuid.uuid4().hex
    if case == "missing-signature":
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": "TrentService.ListKeys", "User-Agent": agent}
        code, access_key_id, region = "MissingAuthenticationTokenException", None, None
    elif case == "invalid-signature":
        headers = signed_headers(server.url, b"{}", "TrentService.ListKeys", secret="x" * 40,
                                 extra={"User-Agent": agent})
        code, access_key_id, region = "InvalidSignatureException", ACCESS_KEY_ID, REGION
    else:
        headers = signed_headers(server.url, b"{}", "TrentService.ListKeys", access_key_id="AKIANOSUCHKEY0000000",
                                 extra={"User-Agent": agent})
        code, access_key_id, region = "UnrecognizedClientException", "AKIANOSUCHKEY0000000", REGION
    response = httpx.post(server.url + "/", content=b"{}", headers=headers, timeout=15)
    assert response.status_code in (400, 403) and response.json()["__type"] == code
    event = one_event(server, response.headers["x-amzn-RequestId"])
    assert_refusal_recorded(event, code, agent, name="ListKeys", access_key_id=access_key_id, region=region)
    if "Authorization" in headers:
        assert signature_of(headers) not in event["_raw"]


# Content-Length that is not a number never gets past uvicorn's HTTP parser (it answers 400
# itself, before any application code runs), so this drives the ASGI app directly.
@pytest.fixture
def asgi_app(fresh_database, tmp_path):
    from kms_core.runtime import FakeClock, Runtime
    from paramstore.server import create_app
    from paramstore.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url=fresh_database[1], account_id=ACCOUNT_ID,
                        admin_access_key_id=ACCESS_KEY_ID, admin_secret_access_key=SECRET_ACCESS_KEY)
    app = create_app(settings, Runtime(clock=FakeClock()))
    yield app
    store = app.state.store
    app.audit.close()
    if store.params is not None:
        store.params.sql.dispose()
    store.db.dispose()


def asgi_post(app, headers: list[tuple[bytes, bytes]], body: bytes = b"{}") -> tuple[int, dict, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "headers": headers,
             "client": ("192.0.2.7", 40000), "server": ("127.0.0.1", 8080)}
    sent: list[dict] = []

    async def go() -> None:
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(go())
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent
                                                         if m["type"] == "http.response.body")


def test_content_length_not_a_number_is_audited(asgi_app):
    agent = "gaps-length/" + uuid.uuid4().hex
    signed = signed_headers("http://127.0.0.1:8080", b"{}", "TrentService.Encrypt", extra={"User-Agent": agent})
    headers = [(k.lower().encode(), v.encode()) for k, v in signed.items() if k.lower() != "content-length"]
    headers.append((b"content-length", b"12abc"))
    status, response_headers, body = asgi_post(asgi_app, headers)
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"

    from kms_core.audit import query

    events = [e for e in query(asgi_app.state.store.db) if e["request_id"] == response_headers["x-amzn-requestid"]]
    assert len(events) == 1, events
    event = events[0]
    assert event["error_code"] == "SerializationException" and event["event_name"] == "Encrypt"
    assert event["event_source"] == "kms.amazonaws.com" and event["source_ip"] == "192.0.2.7"
    assert event["user_agent"] == agent and event["access_key_id"] == ACCESS_KEY_ID and event["region"] == REGION
    assert signature_of(signed) not in json.dumps(event)


# --- 4. audit ls --resource and --event svc:Name -----------------------------------------
def test_ls_resource_by_parameter_name_and_arn(server, name):
    """Needs SSM operations to record the parameter's ARN among the event's resources."""
    ssm = server.client("ssm")
    name = name + "/db-password"
    put = ssm.put_parameter(Name=name, Value="not-logged-" + uuid.uuid4().hex, Type="SecureString")
    got = ssm.get_parameter(Name=name, WithDecryption=True)
    other = ssm.put_parameter(Name=name + "-other", Value="x", Type="String")
    put_id, get_id = put["ResponseMetadata"]["RequestId"], got["ResponseMetadata"]["RequestId"]
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{name}"

    by_name = listed(server, "--resource", name)
    assert put_id in by_name and get_id in by_name, by_name
    assert other["ResponseMetadata"]["RequestId"] not in by_name  # a longer name is another parameter
    assert listed(server, "--resource", name.lstrip("/")) == by_name  # with or without the leading slash
    assert listed(server, "--resource", arn) == by_name
    assert listed(server, "--resource", arn.replace(REGION, "eu-west-3")) == []
    assert listed(server, "--resource", name, "--event", "ssm:GetParameter") == [get_id]
    assert listed(server, "--resource", name, "--event", "GetParameter") == [get_id]
    assert listed(server, "--resource", name, "--event", "kms:GetParameter") == []
    table = cli(server, "ls", "--resource", name)
    assert table.returncode == 0 and "ssm:GetParameter" in table.stdout and arn in table.stdout, table.stdout


def test_ls_event_with_and_without_service(server, kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    decrypt_id = kms.decrypt(CiphertextBlob=blob)["ResponseMetadata"]["RequestId"]
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    for event in ("kms:Decrypt", "Decrypt", "KMS:Decrypt"):
        assert listed(server, "--event", event, "--resource", key_arn) == [decrypt_id], event
    assert listed(server, "--event", "ssm:Decrypt", "--resource", key_arn) == []
    assert listed(server, "--event", "kms:Decrypt", "--key", key_id) == [decrypt_id]


def test_ls_event_of_the_paramstore_source(server):
    """Unknown services are listed as paramstore:<name>; that spelling filters too."""
    agent = "gaps-ls/" + uuid.uuid4().hex
    op = "Op" + uuid.uuid4().hex[:8]
    headers = signed_headers(server.url, b"{}", "NoSuchService." + op, extra={"User-Agent": agent})
    response = httpx.post(server.url + "/", content=b"{}", headers=headers, timeout=15)
    assert listed(server, "--event", "paramstore:" + op) == [response.headers["x-amzn-RequestId"]]


def test_ls_resource_query_matches_exactly(fresh_database, tmp_path):
    """The store-level filter: parameter names against ARNs in any region and account, ARNs
    exactly, and no prefix or suffix look-alikes."""
    from kms_core.audit import AuditEvent, AuditLog, query
    from kms_core.crypto.root import RootKey
    from kms_core.storage import migrate
    from kms_core.storage.session import Database
    from kms_core.storage.connect import sqlite_url

    db = Database(fresh_database[1] or sqlite_url(tmp_path))
    migrate.upgrade(db)
    log = AuditLog(db, RootKey(os.urandom(32), "t"), clock=lambda: 0.0)
    arns = ["arn:aws:ssm:us-east-1:111122223333:parameter/myapp/prod/db-password",
            "arn:aws:ssm:eu-west-1:444455556666:parameter/myapp/prod/db-password",
            "arn:aws:ssm:us-east-1:111122223333:parameter/myapp/prod/db-password2",
            "arn:aws:ssm:us-east-1:111122223333:parameter/x/myapp/prod/db-password",
            "arn:aws:ssm:us-east-1:111122223333:parameter/myapp/prod",
            "arn:aws:kms:us-east-1:111122223333:key/1234"]

    async def go() -> None:
        for i, arn in enumerate(arns):
            await log.append(AuditEvent(event_time=float(i), request_id=f"r{i}", event_source="ssm.amazonaws.com",
                                        event_name="GetParameter", resources=[arns[-1], arn]))

    try:
        asyncio.run(go())
        seqs = lambda **kw: [e["seq"] for e in query(db, **kw)]  # noqa: E731
        assert seqs(resource="/myapp/prod/db-password") == [1, 2]
        assert seqs(resource="myapp/prod/db-password") == [1, 2]
        assert seqs(resource=arns[1]) == [2]
        assert seqs(resource="/myapp/prod") == [5]
        assert seqs(resource=arns[-1]) == [1, 2, 3, 4, 5, 6]
        assert seqs(resource="/myapp/prod/db-password", event_name="ssm:GetParameter") == [1, 2]
        assert seqs(resource="/myapp/prod/db-password", event_name="kms:GetParameter") == []
        assert seqs(resource="/my%app_") == []  # LIKE wildcards are literal
    finally:
        log.close()
        db.dispose()
