"""Hostile input on the AWS JSON 1.1 endpoint never gives a 500 or a hang.

Every request here carries a CORRECT SigV4 signature over the bad body, so the request
gets past authentication and reaches the body parser / validator.  Every answer must be a
4xx with an `x-amzn-RequestId` header and a JSON body `{"__type": ..., "message": ...}`,
and afterwards the server still answers a normal boto3 call.
"""

from __future__ import annotations

import json
import socket
import time
from base64 import b64encode
from typing import Optional
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import raw_request

CONTENT_TYPE = "application/x-amz-json-1.1"
TIMEOUT = httpx.Timeout(15.0)


def signed_headers(url: str, body: bytes, target: Optional[str], service: str = "kms",
                   extra: Optional[dict] = None) -> dict[str, str]:
    headers = {"Content-Type": CONTENT_TYPE}
    if target is not None:
        headers["X-Amz-Target"] = target
    if extra:
        headers.update(extra)
    request = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), service, REGION).add_auth(request)
    return dict(request.headers.items())


def post(url: str, body: bytes, target: Optional[str] = "TrentService.Encrypt",
         extra: Optional[dict] = None) -> httpx.Response:
    headers = signed_headers(url, body, target, extra=extra)
    return httpx.post(url + "/", content=body, headers=headers, timeout=TIMEOUT)


def assert_aws_error(response: httpx.Response, code: Optional[str] = None) -> dict:
    """A 4xx with a request id and an AWS JSON error body (optionally of `code`)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers.get("x-amzn-RequestId"), dict(response.headers)
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("__type"), str) and body["__type"], body
    assert isinstance(body.get("message"), str), body
    if code is not None:
        assert body["__type"] == code, body
    return body


@pytest.fixture
def still_up(server, kms):
    """After the test body, a normal boto3 call still works."""
    yield
    out = kms.generate_random(NumberOfBytes=16)
    assert len(out["Plaintext"]) == 16


@pytest.fixture
def key_arn(kms) -> str:
    return kms.create_key(Description="hostile")["KeyMetadata"]["Arn"]


def test_health_get_returns_200(server):
    response = httpx.get(server.url + "/health", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_signed_valid_request_helper_succeeds(server, key_arn):
    # The raw signing helper itself is right: a well-formed body gets a 200, so the
    # 4xx answers below come from the body, not from a broken signature.
    body = json.dumps({"KeyId": key_arn, "Plaintext": b64encode(b"hi").decode()}).encode()
    response = post(server.url, body)
    assert response.status_code == 200, response.text
    assert response.headers.get("x-amzn-RequestId")
    assert response.json()["KeyId"] == key_arn


@pytest.mark.parametrize("body", [
    b"{", b"{\"KeyId\": ", b"not json", b"{\"KeyId\": 'single'}", b"{\"a\":1}}", b"{,}",
    b"\x00\x00\x00", b"{\"KeyId\": \"x\",}",
], ids=["open-brace", "truncated", "bare-word", "single-quotes", "trailing-brace", "comma",
        "nul-bytes", "trailing-comma"])
def test_body_malformed_json_returns_serialization_exception(server, still_up, body):
    assert_aws_error(post(server.url, body), "SerializationException")


@pytest.mark.parametrize("body", [b"[]", b"[{\"KeyId\": \"x\"}]", b"\"a string\"", b"42", b"3.5",
                                  b"true", b"null"],
                         ids=["list", "list-of-object", "string", "int", "float", "bool", "null"])
def test_body_json_not_object_returns_serialization_exception(server, still_up, body):
    assert_aws_error(post(server.url, body), "SerializationException")


@pytest.mark.parametrize("target, members", [
    ("TrentService.Encrypt", {"KeyId": 123, "Plaintext": "aGk="}),
    ("TrentService.Encrypt", {"KeyId": ["k"], "Plaintext": "aGk="}),
    ("TrentService.Encrypt", {"KeyId": "alias/x", "Plaintext": 5}),
    ("TrentService.Encrypt", {"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": "x"}),
    ("TrentService.Encrypt", {"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": ["a"]}),
    ("TrentService.Encrypt", {"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}),
    ("TrentService.GenerateRandom", {"NumberOfBytes": "10"}),
    ("TrentService.GenerateRandom", {"NumberOfBytes": True}),
    ("TrentService.GenerateRandom", {"NumberOfBytes": 10.5}),
    ("TrentService.GenerateDataKey", {"KeyId": "alias/x", "NumberOfBytes": "10"}),
    ("TrentService.CreateKey", {"Tags": {}}),
    ("TrentService.CreateKey", {"Tags": [{"TagKey": 1, "TagValue": "v"}]}),
    ("TrentService.CreateKey", {"Description": {"nested": "object"}}),
    ("TrentService.ListKeys", {"Limit": "5"}),
], ids=["keyid-int", "keyid-list", "plaintext-int", "context-string", "context-list",
        "context-value-int", "numberofbytes-string", "numberofbytes-bool", "numberofbytes-fraction",
        "gdk-numberofbytes-string", "tags-object", "tag-key-int", "description-object", "limit-string"])
def test_member_wrong_json_type_returns_serialization_exception(server, still_up, target, members):
    body = json.dumps(members).encode()
    assert_aws_error(post(server.url, body, target), "SerializationException")


@pytest.mark.parametrize("blob", ["!!!!", "aGk", "a===", "aGk=\n", "\u00e9\u00e9\u00e9\u00e9"],
                         ids=["punctuation", "unpadded", "bad-padding", "newline", "non-ascii"])
def test_blob_invalid_base64_returns_4xx(server, still_up, key_arn, blob):
    body = json.dumps({"KeyId": key_arn, "Plaintext": blob}).encode()
    assert_aws_error(post(server.url, body))


def test_decrypt_blob_invalid_base64_returns_4xx(server, still_up):
    body = json.dumps({"CiphertextBlob": "%%%not-base64%%%"}).encode()
    assert_aws_error(post(server.url, body, "TrentService.Decrypt"))


@pytest.mark.parametrize("body", [
    b"\xff\xfe{}", b"{\"KeyId\": \"\xc3\x28\"}", b"{\"KeyId\": \"\xed\xa0\x80\"}", b"\x80",
], ids=["bom-like", "bad-continuation", "encoded-surrogate", "lone-continuation"])
def test_body_not_utf8_returns_serialization_exception(server, still_up, body):
    assert_aws_error(post(server.url, body), "SerializationException")


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b"{\"KeyId\": " + b"[" * 100_000,
    b"{\"EncryptionContext\": " + b"{\"a\": " * 50_000,
    b"{\"KeyId\": " + b"[" * 100_000 + b"]" * 100_000 + b"}",
], ids=["open-lists", "member-open-lists", "open-objects", "closed-lists"])
def test_body_deeply_nested_returns_4xx_quickly(server, still_up, body):
    started = time.monotonic()
    assert_aws_error(post(server.url, body))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("members", [
    {"KeyId": "\ud800", "Plaintext": "aGk="},
    {"KeyId": "alias/\udfff", "Plaintext": "aGk="},
    {"KeyId": "KEY", "Plaintext": "aGk=", "EncryptionContext": {"\ud800": "v"}},
    {"KeyId": "KEY", "Plaintext": "aGk=", "EncryptionContext": {"k": "\udc00"}},
], ids=["keyid-lone-surrogate", "alias-lone-surrogate", "context-key-surrogate",
        "context-value-surrogate"])
def test_string_lone_surrogate_escape_returns_4xx(server, still_up, key_arn, members):
    # "\ud800" is valid JSON text but not a Unicode scalar value; it must not reach a
    # UTF-8 encoder (database driver, AAD builder) unchecked and blow up as a 500.
    members = {k: (key_arn if v == "KEY" else v) for k, v in members.items()}
    body = json.dumps(members).encode()  # ensure_ascii: the surrogate travels as \ud800
    assert b"\\ud" in body or b"\\udc" in body or b"\\udf" in body
    assert_aws_error(post(server.url, body))


@pytest.mark.parametrize("target, members", [
    ("TrentService.Encrypt", {"KeyId": "alias/nul\u0000here", "Plaintext": "aGk="}),
    ("TrentService.Encrypt", {"KeyId": "\u0000", "Plaintext": "aGk="}),
    ("TrentService.DescribeKey", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890a\u0000"}),
    ("TrentService.CreateAlias", {"AliasName": "alias/a\u0000b", "TargetKeyId": "KEY"}),
], ids=["alias-nul", "keyid-only-nul", "uuid-nul", "create-alias-nul"])
def test_string_nul_character_does_not_500(server, still_up, key_arn, target, members):
    # PostgreSQL text cannot hold NUL; a NUL in an identifier must be refused, not crash.
    members = {k: (key_arn if v == "KEY" else v) for k, v in members.items()}
    assert_aws_error(post(server.url, json.dumps(members).encode(), target))


def test_create_key_description_nul_does_not_500(server, still_up):
    body = json.dumps({"Description": "before\u0000after"}).encode()
    response = post(server.url, body, "TrentService.CreateKey")
    # AWS accepts any Unicode in a description; either storing it or refusing it is fine,
    # a 500 is not.
    if response.status_code != 200:
        assert_aws_error(response)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_number_is_a_serialization_error(server, still_up, literal):
    """NaN and Infinity aren't JSON, and 1e400 doesn't fit a double: refused at parse time,
    before any member (a timestamp such as ValidTo) can carry them into the operation."""
    body = b"{\"KeyId\": \"alias/x\", \"ValidTo\": " + literal + b"}"
    response = post(server.url, body, "TrentService.ImportKeyMaterial")
    assert_aws_error(response)
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize("literal", [b"1" * 5000, b"1e400", b"-1e400", b"NaN", b"Infinity", b"1e300"],
                         ids=["5000-digits", "overflow", "neg-overflow", "nan", "infinity", "1e300"])
def test_number_extreme_literal_returns_4xx(server, still_up, literal):
    body = b"{\"NumberOfBytes\": " + literal + b"}"
    assert_aws_error(post(server.url, body, "TrentService.GenerateRandom"))


def test_body_10_mib_returns_413_quickly(server, still_up):
    body = b"{\"KeyId\": \"" + b"a" * (10 * 1024 * 1024) + b"\"}"
    headers = signed_headers(server.url, body, "TrentService.Encrypt")
    started = time.monotonic()
    try:
        response = httpx.post(server.url + "/", content=body, headers=headers, timeout=TIMEOUT)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered early and closed the connection: also acceptable
    else:
        assert response.status_code == 413, response.text[:300]
        assert_aws_error(response, "RequestEntityTooLargeException")
    assert time.monotonic() - started < 10


def test_body_10_mib_chunked_without_length_returns_413(server, still_up):
    # No Content-Length: the server must count bytes as they arrive, not buffer them all.
    chunk = b"a" * (256 * 1024)
    sent = {"bytes": 0}

    def stream():
        yield b"{\"KeyId\": \""
        for _ in range(40):
            sent["bytes"] += len(chunk)
            yield chunk
        yield b"\"}"

    headers = signed_headers(server.url, b"", "TrentService.Encrypt",
                             extra={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    headers.pop("Content-Length", None)
    started = time.monotonic()
    try:
        response = httpx.post(server.url + "/", content=stream(), headers=headers, timeout=TIMEOUT)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass
    else:
        assert response.status_code == 413, (response.status_code, response.text[:300])
        assert_aws_error(response, "RequestEntityTooLargeException")
    assert time.monotonic() - started < 10


def test_body_declared_huge_length_returns_413_without_waiting(server, still_up):
    # Declares 10 MiB but sends nothing: the answer must come from the header alone.
    body = b"{}"
    headers = signed_headers(server.url, body, "TrentService.Encrypt")
    lines = [f"Content-Length: {10 * 1024 * 1024}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "host")]
    data = raw_request(server.url, lines)
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), data[:300]
    assert b"x-amzn-requestid" in data.lower()


def test_content_length_not_a_number_does_not_500(server, still_up):
    host = urlsplit(server.url)
    request = (f"POST / HTTP/1.1\r\nHost: {host.netloc}\r\nContent-Length: abc\r\n"
               f"X-Amz-Target: TrentService.Encrypt\r\nContent-Type: {CONTENT_TYPE}\r\n\r\n{{}}").encode()
    with socket.create_connection((host.hostname, host.port), timeout=5) as sock:
        sock.sendall(request)
        data = sock.recv(65536)
    # The HTTP parser may refuse it itself; it must be a 4xx or a closed connection.
    if data:
        assert data.startswith(b"HTTP/1.1 4"), data[:300]


def test_target_unknown_operation_returns_unknown_operation(server, still_up):
    assert_aws_error(post(server.url, b"{}", "TrentService.Nope"), "UnknownOperationException")


@pytest.mark.parametrize("target", ["Foo.Bar", "TrentService", "", "trentservice.Encrypt",
                                    "TrentService.Encrypt.Extra", ".Encrypt", "TrentService."],
                         ids=["other-prefix", "no-dot", "empty", "lowercase-prefix", "extra-part",
                              "empty-prefix", "empty-operation"])
def test_target_unknown_prefix_returns_unknown_operation(server, still_up, target):
    assert_aws_error(post(server.url, b"{}", target), "UnknownOperationException")


def test_target_missing_returns_4xx(server, still_up):
    body = assert_aws_error(post(server.url, b"{}", None))
    assert body["__type"] in ("UnknownOperationException", "MissingAuthenticationTokenException",
                              "SerializationException", "ValidationException"), body


@pytest.mark.parametrize("target", ["TrentService.__init__", "TrentService.__class__",
                                    "TrentService.handle", "TrentService.encrypt"],
                         ids=["dunder-init", "dunder-class", "internal-name", "lowercase-op"])
def test_target_python_internal_name_returns_unknown_operation(server, still_up, target):
    assert_aws_error(post(server.url, b"{}", target), "UnknownOperationException")


def test_encrypt_missing_key_id_returns_validation_exception(server, still_up):
    body = json.dumps({"Plaintext": "aGk="}).encode()
    error = assert_aws_error(post(server.url, body), "ValidationException")
    assert error["message"] == ("1 validation error detected: Value null at 'keyId' failed to satisfy "
                                "constraint: Member must not be null"), error


def test_encrypt_missing_plaintext_returns_validation_exception(server, still_up, key_arn):
    body = json.dumps({"KeyId": key_arn}).encode()
    error = assert_aws_error(post(server.url, body), "ValidationException")
    assert error["message"] == ("1 validation error detected: Value null at 'plaintext' failed to "
                                "satisfy constraint: Member must not be null"), error


@pytest.mark.parametrize("body", [b"{}", b"", b"{\"KeyId\": null, \"Plaintext\": null}",
                                  b"{\"Unknown\": 1}"],
                         ids=["empty-object", "empty-body", "nulls", "unknown-member"])
def test_encrypt_missing_both_members_returns_plural_validation_exception(server, still_up, body):
    error = assert_aws_error(post(server.url, body), "ValidationException")
    message = error["message"]
    assert message.startswith("2 validation errors detected: "), message
    assert "Value null at 'keyId' failed to satisfy constraint: Member must not be null" in message
    assert "Value null at 'plaintext' failed to satisfy constraint: Member must not be null" in message


def test_validation_message_never_echoes_plaintext(server, still_up, key_arn):
    # A too-long plaintext fails validation; the message must not carry the secret bytes.
    secret = b"S3CRET-" * 1000
    body = json.dumps({"KeyId": key_arn, "Plaintext": b64encode(secret).decode()}).encode()
    error = assert_aws_error(post(server.url, body), "ValidationException")
    assert "S3CRET" not in error["message"]
    assert b64encode(secret).decode()[:40] not in error["message"]


def test_many_hostile_requests_keep_connection_pool_usable(server, kms):
    # A burst of bad requests on one keep-alive connection, then a good one on it.
    with httpx.Client(timeout=TIMEOUT) as client:
        for body in (b"{", b"[]", b"\xff", b"{\"KeyId\": 1}", b"[" * 5000):
            headers = signed_headers(server.url, body, "TrentService.Encrypt")
            assert_aws_error(client.post(server.url + "/", content=body, headers=headers))
        body = b"{\"NumberOfBytes\": 8}"
        headers = signed_headers(server.url, body, "TrentService.GenerateRandom")
        response = client.post(server.url + "/", content=body, headers=headers)
        assert response.status_code == 200, response.text
    assert len(kms.generate_random(NumberOfBytes=8)["Plaintext"]) == 8
