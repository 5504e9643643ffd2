"""Request header limits, through the live server on both databases: over MAX_HEADER_COUNT
headers or MAX_HEADER_BYTES (request target plus header lines) is answered 431 with an AWS
JSON error before any signature work, and audited like any refused request (uvicorn's
httptools parser has no limit of its own); at the limits, and for ordinary SDK calls,
nothing changes."""

from __future__ import annotations

from kms_core.storage.audit_file import trail_engine
import json
import socket
import uuid
from typing import Optional
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import text

from paramstore.server import MAX_HEADER_BYTES, MAX_HEADER_COUNT
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

CONTENT_TYPE = "application/x-amz-json-1.1"
COLUMNS = ("request_id", "event_source", "event_name", "region", "access_key_id", "source_ip", "user_agent",
           "principal_arn", "error_code", "detail")
CODE = "RequestHeaderSectionTooLarge"


def signed(url: str, body: bytes, target: str, agent: str, token: Optional[str] = None) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target, "User-Agent": agent})
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, token), "kms", REGION).add_auth(request)
    return dict(request.headers.items())


def event_for(server, request_id: str) -> dict:
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE request_id = :r"),
                            {"r": request_id}).all()
        raw = conn.execute(text("SELECT * FROM audit_event WHERE request_id = :r"), {"r": request_id}).all()
    assert len(rows) == 1, f"expected one audit event for {request_id}, got {len(rows)}"
    event = dict(zip(COLUMNS, rows[0]))
    event["detail"] = json.loads(event["detail"]) if event["detail"] else None
    event["_raw"] = "\t".join("" if v is None else str(v) for v in raw[0])
    return event


def assert_refused(response: httpx.Response) -> str:
    assert response.status_code == 431, (response.status_code, response.text[:300])
    body = response.json()
    assert body["__type"] == CODE and isinstance(body["message"], str) and body["message"], body
    assert response.headers["content-type"] == CONTENT_TYPE
    return response.headers["x-amzn-RequestId"]


def assert_recorded(server, request_id: str, agent: str, headers: dict[str, str]) -> dict:
    event = event_for(server, request_id)
    assert event["error_code"] == CODE
    assert event["event_source"] == "kms.amazonaws.com" and event["event_name"] == "Encrypt"
    assert event["access_key_id"] == ACCESS_KEY_ID and event["region"] == REGION
    assert event["source_ip"] == "127.0.0.1" and event["user_agent"] == agent
    assert event["principal_arn"] is None
    assert headers["Authorization"].rsplit("Signature=", 1)[1] not in event["_raw"]
    return event


# --- over the limits ---------------------------------------------------------------------
def test_two_hundred_headers_are_refused_and_audited(server, kms):
    agent = "limits-count/" + uuid.uuid4().hex
    headers = signed(server.url, b"{}", "TrentService.Encrypt", agent)
    padded = {**headers, **{f"X-Pad-{i:03d}": "v" for i in range(200)}}
    request_id = assert_refused(httpx.post(server.url + "/", content=b"{}", headers=padded, timeout=15))
    event = assert_recorded(server, request_id, agent, headers)
    assert event["detail"]["headerCount"] > 200
    assert kms.list_keys()["Keys"] is not None  # still serving


def test_one_twenty_kib_header_is_refused_and_audited(server, kms):
    agent = "limits-bytes/" + uuid.uuid4().hex
    token = "FAKE-TOKEN-" + uuid.uuid4().hex
    headers = signed(server.url, b"{}", "TrentService.Encrypt", agent, token=token)
    big = {**headers, "X-Big": "b" * (20 * 1024)}
    request_id = assert_refused(httpx.post(server.url + "/", content=b"{}", headers=big, timeout=15))
    event = assert_recorded(server, request_id, agent, headers)
    assert event["detail"]["headerBytes"] > 20 * 1024
    assert token not in event["_raw"] and "b" * 100 not in event["_raw"]
    assert kms.list_keys()["Keys"] is not None


def test_huge_user_agent_is_refused_and_recorded_cut_short(server):
    agent = "limits-agent/" + "u" * (64 * 1024)
    response = httpx.post(server.url + "/", content=b"{}", timeout=15,
                          headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": "TrentService.ListKeys",
                                   "User-Agent": agent})
    event = event_for(server, assert_refused(response))
    assert event["error_code"] == CODE and event["event_name"] == "ListKeys"
    assert event["user_agent"] == agent[:512]


def test_other_paths_are_limited_too(server):
    response = httpx.get(server.url + "/health", headers={f"X-Pad-{i}": "v" for i in range(150)}, timeout=15)
    event = event_for(server, assert_refused(response))
    assert event["error_code"] == CODE and event["event_source"] == "paramstore"
    assert httpx.get(server.url + "/health", timeout=15).status_code == 200


# --- at the limits -----------------------------------------------------------------------
def raw_post(url: str, header_lines: list[tuple[str, str]], body: bytes) -> bytes:
    host = urlsplit(url)
    head = "".join(f"{name}: {value}\r\n" for name, value in header_lines)
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\n{head}\r\n".encode() + body)
        data = b""
        while True:  # up to the end of the body its content-length announces
            part = sock.recv(65536)
            data += part
            head_part, sep, rest = data.partition(b"\r\n\r\n")
            if not part or sep and len(rest) >= _content_length(head_part):
                return data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def exact_request(url: str, count: int, size: int) -> list[tuple[str, str]]:
    """A signed ListKeys with exactly `count` headers of `size` bytes as MAX_HEADER_BYTES counts
    them (target "/" plus name, value and 4 bytes per header)."""
    headers = signed(url, b"{}", "TrentService.ListKeys", "limits-exact")
    lines = [("Host", urlsplit(url).netloc)] + [(k, v) for k, v in headers.items() if k.lower() != "host"]
    if not any(k.lower() == "content-length" for k, _ in lines):
        lines.append(("Content-Length", "2"))
    pads = count - len(lines)
    assert pads >= 2
    lines += [(f"X-Pad-{i:03d}", "v") for i in range(pads)]
    used = 1 + sum(len(k) + len(v) + 4 for k, v in lines)
    assert used <= size
    name, value = lines[-1]
    lines[-1] = (name, value + "v" * (size - used))
    assert 1 + sum(len(k) + len(v) + 4 for k, v in lines) == size and len(lines) == count
    return lines


@pytest.mark.parametrize("count, size, refused", [
    (MAX_HEADER_COUNT, MAX_HEADER_BYTES, False),
    (MAX_HEADER_COUNT + 1, 4096, True),
    (20, MAX_HEADER_BYTES + 1, True),
], ids=["at-both-limits", "one-header-over", "one-byte-over"])
def test_limits_are_exact(server, count, size, refused):
    data = raw_post(server.url, exact_request(server.url, count, size), b"{}")
    status = data.split(b"\r\n", 1)[0]
    if refused:
        assert status.startswith(b"HTTP/1.1 431"), data[:300]
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["__type"] == CODE
    else:
        assert status.startswith(b"HTTP/1.1 200"), data[:500]


def test_ordinary_sdk_calls_are_unaffected(server, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"fine")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"fine"
    ssm = server.client("ssm")
    name = f"/limits/{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=name, Value="v", Type="String")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v"
    assert server.client("sts").get_caller_identity()["Account"]
