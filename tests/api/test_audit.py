"""The audit trail through the live server: every call (allowed, denied, unauthenticated)
is one event with the right fields; no secret reaches the table; `paramstore audit verify`
pinpoints an edited event; a request whose event can't be written fails closed (HTTP 500,
no ciphertext) unless the server is configured to fail open."""

from __future__ import annotations

from kms_core.storage.audit_file import trail_engine
import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from sqlalchemy import text

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY, start_server

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("seq", "event_time", "request_id", "event_source", "event_name", "region", "account_id",
           "principal_arn", "access_key_id", "source_ip", "user_agent", "resources", "encryption_context",
           "error_code", "detail", "prev_mac", "mac")


def key_arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


def db_of(server):
    return server.app.state.store.db


def event_for(server, request_id: str) -> dict:
    with trail_engine(db_of(server)).connect() as conn:
        rows = conn.execute(text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE request_id = :r"),
                            {"r": request_id}).all()
    assert len(rows) == 1, f"expected one audit event for request {request_id}, got {len(rows)}"
    event = dict(zip(COLUMNS, rows[0]))
    for name in ("resources", "encryption_context"):
        event[name] = json.loads(event[name]) if event[name] is not None else None
    return event


def request_id_of(response_or_error) -> str:
    response = response_or_error.response if isinstance(response_or_error, ClientError) else response_or_error
    return response["ResponseMetadata"]["RequestId"]


def signed_headers(url: str, body: bytes, target: str, access_key_id: str = ACCESS_KEY_ID,
                   secret: str = SECRET_ACCESS_KEY) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    SigV4Auth(Credentials(access_key_id, secret), "kms", REGION).add_auth(request)
    return dict(request.headers.items())


def cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    return subprocess.run([sys.executable, "-m", "paramstore", "audit", *args, "--data-dir", str(server.data_dir),
                           "--database-url", server.database_url], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


# --- what is recorded ------------------------------------------------------------------
def test_successful_calls_are_recorded_with_their_fields(server, kms) -> None:
    created = kms.create_key(Description="audited")
    key_id = created["KeyMetadata"]["KeyId"]
    context = {"tenant": "acme", "purpose": "audit-test"}
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext=context)
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext=context)

    for response, name in ((created, "CreateKey"), (encrypted, "Encrypt"), (decrypted, "Decrypt")):
        event = event_for(server, request_id_of(response))
        assert event["event_source"] == "kms.amazonaws.com"
        assert event["event_name"] == name
        assert event["principal_arn"] == ROOT_ARN
        assert event["account_id"] == ACCOUNT_ID
        assert event["access_key_id"] == ACCESS_KEY_ID
        assert event["source_ip"] == "127.0.0.1"
        assert "Boto3" in event["user_agent"]
        assert event["region"] == REGION
        assert event["error_code"] is None
        assert event["event_time"] > 0
    for response in (encrypted, decrypted):
        event = event_for(server, request_id_of(response))
        assert event["resources"] == [key_arn(key_id)]
        assert event["encryption_context"] == context


def test_failed_call_records_its_error_code(server, kms, key_id) -> None:
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    event = event_for(server, request_id_of(info.value))
    assert event["event_name"] == "Encrypt"
    assert event["error_code"] == "DisabledException"
    assert event["principal_arn"] == ROOT_ARN


def test_wrong_secret_is_recorded(server) -> None:
    client = server.client("kms", secret="not-the-right-secret-access-key-000000000")
    with pytest.raises(ClientError) as info:
        client.list_keys()
    event = event_for(server, request_id_of(info.value))
    assert event["event_name"] == "ListKeys"
    assert event["error_code"] == info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert event["principal_arn"] is None
    assert event["access_key_id"] == ACCESS_KEY_ID
    assert event["source_ip"] == "127.0.0.1"


def test_unknown_access_key_is_recorded(server) -> None:
    client = server.client("kms", access_key_id="AKIANOSUCHKEY0000000")
    with pytest.raises(ClientError) as info:
        client.list_keys()
    event = event_for(server, request_id_of(info.value))
    assert event["error_code"] == "UnrecognizedClientException"
    assert event["access_key_id"] == "AKIANOSUCHKEY0000000" and event["principal_arn"] is None


def test_unsigned_call_is_recorded(server) -> None:
    response = httpx.post(server.url + "/", content=b"{}", timeout=15,
                          headers={"Content-Type": "application/x-amz-json-1.1",
                                   "X-Amz-Target": "TrentService.ListKeys", "User-Agent": "curl-ish/1.0"})
    assert response.status_code == 400
    event = event_for(server, response.headers["x-amzn-RequestId"])
    assert event["error_code"] == "MissingAuthenticationTokenException"
    assert event["principal_arn"] is None and event["access_key_id"] is None
    assert event["event_source"] == "kms.amazonaws.com" and event["event_name"] == "ListKeys"
    assert event["user_agent"] == "curl-ish/1.0"


def test_access_denied_is_recorded(server, kms, key_id) -> None:
    iam = server.client("iam")
    try:
        name = "audit-" + uuid.uuid4().hex[:8]
        user_arn = iam.create_user(UserName=name)["User"]["Arn"]
        access_key = iam.create_access_key(UserName=name)["AccessKey"]
    except ClientError as exc:  # pragma: no cover - depends on the IAM API being present
        pytest.skip(f"no non-root principals on this server (IAM API unavailable: {exc})")
    user = server.client("kms", access_key_id=access_key["AccessKeyId"], secret=access_key["SecretAccessKey"])
    with pytest.raises(ClientError) as info:
        user.encrypt(KeyId=key_id, Plaintext=b"x")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    event = event_for(server, request_id_of(info.value))
    assert event["error_code"] == "AccessDeniedException"
    assert event["principal_arn"] == user_arn
    assert event["access_key_id"] == access_key["AccessKeyId"]
    assert event["event_name"] == "Encrypt"


def test_hostile_headers_do_not_break_the_trail(server) -> None:
    """A huge user agent and access key id are cut to size, not a failed insert (=500)."""
    body = b"{}"
    headers = signed_headers(server.url, body, "TrentService.ListKeys", access_key_id="AKIA" + "Z" * 400)
    headers["User-Agent"] = "u" * 10_000
    response = httpx.post(server.url + "/", content=body, headers=headers, timeout=15)
    assert response.status_code == 400, response.text
    event = event_for(server, response.headers["x-amzn-RequestId"])
    assert len(event["user_agent"]) == 512 and len(event["access_key_id"]) <= 128


# --- no secrets ------------------------------------------------------------------------
def forms(secret: bytes) -> dict[str, str]:
    b64 = base64.b64encode(secret).decode()
    return {"raw": secret.decode("latin-1"), "hex": secret.hex(), "HEX": secret.hex().upper(), "base64": b64,
            "base64-unpadded": b64.rstrip("="), "urlsafe": base64.urlsafe_b64encode(secret).decode().rstrip("=")}


def test_no_secret_in_audit_rows(server, kms, key_id) -> None:
    plaintext = b"audit-canary-" + os.urandom(24).hex().encode()
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    random = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    reencrypted = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id)["CiphertextBlob"]
    secrets = {"plaintext": plaintext, "data key": data_key["Plaintext"], "random": random,
               "secret access key": SECRET_ACCESS_KEY.encode()}
    with trail_engine(db_of(server)).connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event")).all()
    haystack = "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)
    assert "ReEncrypt" in haystack and "GenerateDataKey" in haystack  # the scan covers these calls
    leaks = [f"{name} ({form})" for name, secret in secrets.items() for form, needle in forms(secret).items()
             if needle in haystack]
    assert not leaks, leaks
    # Ciphertexts are not logged either (AWS leaves cryptographic responses out).
    for blob_value in (blob, data_key["CiphertextBlob"], reencrypted):
        assert base64.b64encode(blob_value).decode() not in haystack


# --- verify ----------------------------------------------------------------------------
def test_cli_verify_pinpoints_an_edited_event(server, kms, key_id) -> None:
    response = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"who": "alice"})
    target = event_for(server, request_id_of(response))
    kms.describe_key(KeyId=key_id)  # the edited event is not the last one

    intact = cli(server, "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith("audit trail intact: ")

    engine = trail_engine(db_of(server))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET encryption_context = :v WHERE seq = :s"),
                     {"v": '{"who":"mallory"}', "s": target["seq"]})
    try:
        broken = cli(server, "verify")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert f"seq {target['seq']}" in broken.stdout, broken.stdout
        assert "altered" in broken.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET encryption_context = :v WHERE seq = :s"),
                         {"v": json.dumps(target["encryption_context"], sort_keys=True, separators=(",", ":")),
                          "s": target["seq"]})
    again = cli(server, "verify")
    assert again.returncode == 0, again.stdout + again.stderr


def test_cli_ls_filters_and_formats(server, kms, key_id) -> None:
    response = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"ls": "yes"})
    request_id = request_id_of(response)
    listed = cli(server, "ls", "--key", key_id, "--event", "Encrypt", "--principal", ROOT_ARN, "--json")
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    assert request_id in [e["request_id"] for e in events]
    assert all(e["event_name"] == "Encrypt" and key_arn(key_id) in e["resources"] for e in events)
    by_arn = cli(server, "ls", "--key", key_arn(key_id), "--limit", "1", "--json")
    assert [json.loads(line)["request_id"] for line in by_arn.stdout.splitlines()] == [request_id]
    table = cli(server, "ls", "--key", key_id, "--since", "1970-01-01T00:00:00Z", "--until", "4000000000")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["SEQ", "TIME", "EVENT"]
    assert "kms:Encrypt" in table.stdout
    none = cli(server, "ls", "--key", key_id, "--until", "2000-01-01", "--json")
    assert none.returncode == 0 and none.stdout == ""


# --- fail closed / fail open -----------------------------------------------------------
@pytest.fixture
def backend(fresh_database):
    return fresh_database


def _encrypt_raw(url: str, key_id: str) -> httpx.Response:
    body = json.dumps({"KeyId": key_id, "Plaintext": base64.b64encode(b"top secret").decode()}).encode()
    return httpx.post(url + "/", content=body, headers=signed_headers(url, body, "TrentService.Encrypt"), timeout=15)


@pytest.mark.parametrize("fail_closed", [True, False], ids=["fail-closed", "fail-open"])
def test_audit_write_failure(backend, tmp_path, fail_closed) -> None:
    name, database_url = backend
    live, stop = start_server(tmp_path / "data", database_url, name, audit_fail_closed=fail_closed)
    try:
        kms = live.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        with trail_engine(live.app.state.store.db).begin() as conn:
            conn.execute(text("ALTER TABLE audit_event RENAME TO audit_event_broken"))
        response = _encrypt_raw(live.url, key_id)
        if fail_closed:
            assert response.status_code == 500, response.text
            assert "CiphertextBlob" not in response.text
            assert response.json()["__type"] in ("InternalFailure", "KMSInternalException")
        else:
            assert response.status_code == 200, response.text
            blob = base64.b64decode(response.json()["CiphertextBlob"])
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"top secret"
        with trail_engine(live.app.state.store.db).begin() as conn:
            conn.execute(text("ALTER TABLE audit_event_broken RENAME TO audit_event"))
        # The writer recovers once the table is back, and the chain is intact.
        assert _encrypt_raw(live.url, key_id).status_code == 200
        from kms_core.audit import verify

        result = verify(live.app.state.store.db, live.app.state.store.root)
        assert result.ok, str(result)
    finally:
        stop()


def test_create_key_event_names_the_new_key(server, kms):
    from kms_core.audit import query

    arn = kms.create_key()["KeyMetadata"]["Arn"]
    events = query(server.app.state.store.db, key=arn, event_name="CreateKey")
    assert len(events) == 1 and events[0]["resources"] == [arn]
