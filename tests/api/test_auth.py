"""SigV4 authentication: every way a signature can be missing, malformed, wrong, stale or
tampered with gets AWS's error code (and wording), never a 500, never a success."""

from __future__ import annotations

import datetime
import json
from typing import Optional

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

CONTENT_TYPE = "application/x-amz-json-1.1"
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.")
INVALID_TOKEN = "The security token included in the request is invalid."
BODY = b"{\"NumberOfBytes\": 16}"
TARGET = "TrentService.GenerateRandom"


def sign(url: str, body: bytes = BODY, target: str = TARGET, *, access_key_id: str = ACCESS_KEY_ID,
         secret: str = SECRET_ACCESS_KEY, service: str = "kms", region: str = REGION) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target})
    SigV4Auth(Credentials(access_key_id, secret), service, region).add_auth(request)
    return dict(request.headers.items())


def send(url: str, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(url + "/", content=body, headers=headers, timeout=15)


def error_of(response: httpx.Response, status: Optional[int] = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers.get("x-amzn-RequestId")
    body = response.json()
    assert isinstance(body.get("__type"), str) and isinstance(body.get("message"), str), body
    return body


def shifted_now(monkeypatch, delta: datetime.timedelta) -> None:
    """Make botocore sign as if its clock were off by `delta`."""
    real = botocore.auth.get_current_datetime

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + delta)


def auth_with(headers: dict[str, str], value: str) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    out["Authorization"] = value
    return out


# --- the baseline: the same helpers with nothing wrong succeed -------------------------------

def test_raw_signed_request_valid_succeeds(server):
    response = send(server.url, sign(server.url))
    assert response.status_code == 200, response.text
    assert "Plaintext" in response.json()


# --- missing / malformed Authorization --------------------------------------------------------

def test_request_unsigned_returns_missing_authentication_token(server):
    response = send(server.url, {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET})
    assert error_of(response)["__type"] == "MissingAuthenticationTokenException"


def test_request_empty_authorization_returns_missing_authentication_token(server):
    headers = auth_with(sign(server.url), "")
    assert error_of(send(server.url, headers))["__type"] == "MissingAuthenticationTokenException"


def _malformed(header: str) -> list[tuple[str, str]]:
    algorithm, _, rest = header.partition(" ")
    parts = {p.strip().split("=", 1)[0]: p.strip() for p in rest.split(",")}
    cred = parts["Credential"].split("=", 1)[1]
    akid, date, region, service, term = cred.split("/")
    return [
        ("no-signature", f"{algorithm} {parts['Credential']}, {parts['SignedHeaders']}"),
        ("no-credential", f"{algorithm} {parts['SignedHeaders']}, {parts['Signature']}"),
        ("no-signed-headers", f"{algorithm} {parts['Credential']}, {parts['Signature']}"),
        ("wrong-algorithm", f"AWS4-HMAC-SHA1 {rest}"),
        ("sigv2-style", f"AWS {akid}:c2lnbmF0dXJl"),
        ("bearer", "Bearer abcdef"),
        ("scope-4-parts", f"{algorithm} Credential={akid}/{date}/{region}/{service}, "
                          f"{parts['SignedHeaders']}, {parts['Signature']}"),
        ("scope-6-parts", f"{algorithm} Credential={akid}/{date}/{region}/{service}/{term}/x, "
                          f"{parts['SignedHeaders']}, {parts['Signature']}"),
        ("scope-empty-part", f"{algorithm} Credential={akid}//{region}/{service}/{term}, "
                             f"{parts['SignedHeaders']}, {parts['Signature']}"),
        ("only-algorithm", algorithm),
        ("garbage-params", f"{algorithm} ,,,===,,"),
    ]


MALFORMED_IDS = ["no-signature", "no-credential", "no-signed-headers", "wrong-algorithm", "sigv2-style",
                 "bearer", "scope-4-parts", "scope-6-parts", "scope-empty-part", "only-algorithm",
                 "garbage-params"]


@pytest.mark.parametrize("case", MALFORMED_IDS)
def test_authorization_malformed_returns_incomplete_signature(server, case):
    headers = sign(server.url)
    variants = dict(_malformed(headers["Authorization"]))
    response = send(server.url, auth_with(headers, variants[case]))
    body = error_of(response)
    assert body["__type"] == "IncompleteSignatureException", body


def test_authorization_missing_signature_names_the_parameter(server):
    headers = sign(server.url)
    variants = dict(_malformed(headers["Authorization"]))
    body = error_of(send(server.url, auth_with(headers, variants["no-signature"])))
    assert "Authorization header requires 'Signature' parameter." in body["message"], body


def test_authorization_scope_4_parts_message_quotes_credential(server):
    headers = sign(server.url)
    variants = dict(_malformed(headers["Authorization"]))
    body = error_of(send(server.url, auth_with(headers, variants["scope-4-parts"])))
    assert "Credential must have exactly 5 slash-delimited elements" in body["message"], body


def test_request_missing_amz_date_returns_incomplete_signature(server):
    headers = {k: v for k, v in sign(server.url).items() if k.lower() != "x-amz-date"}
    assert error_of(send(server.url, headers))["__type"] == "IncompleteSignatureException"


def test_request_amz_date_not_iso8601_returns_incomplete_signature(server):
    headers = sign(server.url)
    headers["X-Amz-Date"] = "yesterday"
    assert error_of(send(server.url, headers))["__type"] == "IncompleteSignatureException"


def test_credential_wrong_terminator_returns_4xx(server):
    headers = sign(server.url)
    headers["Authorization"] = headers["Authorization"].replace("/aws4_request", "/aws5_request")
    assert error_of(send(server.url, headers))["__type"] in ("InvalidSignatureException",
                                                              "IncompleteSignatureException")


# --- unknown key / wrong secret --------------------------------------------------------------

def test_access_key_unknown_raw_returns_unrecognized_client(server):
    headers = sign(server.url, access_key_id="AKIAUNKNOWNKEY000000")
    body = error_of(send(server.url, headers))
    assert body["__type"] == "UnrecognizedClientException", body
    assert body["message"] == INVALID_TOKEN, body


def test_access_key_unknown_boto3_raises_unrecognized_client(server):
    kms = server.client("kms", access_key_id="AKIAUNKNOWNKEY000000")
    with pytest.raises(ClientError) as info:
        kms.list_keys()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["Error"]["Message"] == INVALID_TOKEN
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["ResponseMetadata"]["RequestId"]


def test_secret_wrong_raw_returns_invalid_signature(server):
    headers = sign(server.url, secret=SECRET_ACCESS_KEY[:-1] + "X")
    body = error_of(send(server.url, headers))
    assert body["__type"] == "InvalidSignatureException", body
    assert body["message"].startswith(MISMATCH), body
    assert SECRET_ACCESS_KEY not in body["message"]


def test_secret_wrong_boto3_raises_invalid_signature(server):
    kms = server.client("kms", secret="wrong-secret-key")
    with pytest.raises(ClientError) as info:
        kms.generate_random(NumberOfBytes=16)
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"].startswith("The request signature we calculated does not match"), error


def test_secret_wrong_boto3_encrypt_raises_invalid_signature(server, key_id):
    kms = server.client("kms", secret="wrong-secret-key")
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


# --- tampering after signing -----------------------------------------------------------------

def test_body_tampered_after_signing_returns_invalid_signature(server):
    headers = sign(server.url, BODY)
    body = error_of(send(server.url, headers, b"{\"NumberOfBytes\": 17}"))
    assert body["__type"] == "InvalidSignatureException", body
    assert body["message"].startswith(MISMATCH), body


def test_body_appended_whitespace_after_signing_returns_invalid_signature(server):
    headers = sign(server.url, BODY)
    assert error_of(send(server.url, headers, BODY + b" "))["__type"] == "InvalidSignatureException"


def test_target_tampered_after_signing_returns_invalid_signature(server):
    headers = sign(server.url, b"{}", "TrentService.ListKeys")
    headers["X-Amz-Target"] = "TrentService.ListAliases"
    body = error_of(send(server.url, headers, b"{}"))
    assert body["__type"] == "InvalidSignatureException", body


def test_amz_date_tampered_after_signing_returns_invalid_signature(server):
    headers = sign(server.url)
    stamp = datetime.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    # One second earlier: same day (unless signed at exactly midnight), within the skew window.
    moved = stamp - datetime.timedelta(seconds=1) if stamp.second or stamp.minute or stamp.hour \
        else stamp + datetime.timedelta(seconds=1)
    headers["X-Amz-Date"] = moved.strftime("%Y%m%dT%H%M%SZ")
    body = error_of(send(server.url, headers))
    assert body["__type"] == "InvalidSignatureException", body


def test_signature_hex_flipped_returns_invalid_signature(server):
    headers = sign(server.url)
    auth = headers["Authorization"]
    last = auth[-1]
    headers["Authorization"] = auth[:-1] + ("0" if last != "0" else "1")
    assert error_of(send(server.url, headers))["__type"] == "InvalidSignatureException"


def test_signature_truncated_returns_invalid_signature(server):
    headers = sign(server.url)
    headers["Authorization"] = headers["Authorization"][:-10]
    assert error_of(send(server.url, headers))["__type"] == "InvalidSignatureException"


def test_signed_header_dropped_after_signing_returns_invalid_signature(server):
    headers = sign(server.url)
    # content-type is signed by botocore; removing it must break the signature.
    assert "content-type" in headers["Authorization"].lower()
    headers.pop("Content-Type")
    assert error_of(send(server.url, headers))["__type"] == "InvalidSignatureException"


def test_signed_headers_without_host_returns_invalid_signature(server):
    headers = sign(server.url)
    headers["Authorization"] = headers["Authorization"].replace("SignedHeaders=content-type;host;",
                                                                "SignedHeaders=content-type;")
    assert "host" not in headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert error_of(send(server.url, headers))["__type"] == "InvalidSignatureException"


def test_credential_date_mismatch_returns_invalid_signature(server):
    headers = sign(server.url)
    date = headers["X-Amz-Date"][:8]
    other = (datetime.datetime.strptime(date, "%Y%m%d") - datetime.timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{date}/", f"/{other}/")
    assert error_of(send(server.url, headers))["__type"] == "InvalidSignatureException"


# --- clock skew ------------------------------------------------------------------------------

def test_signed_10_minutes_past_raw_returns_signature_expired(server, monkeypatch):
    shifted_now(monkeypatch, datetime.timedelta(minutes=-10))
    body = error_of(send(server.url, sign(server.url)))
    assert body["__type"] == "InvalidSignatureException", body
    assert body["message"].startswith("Signature expired:"), body


def test_signed_10_minutes_past_boto3_raises_signature_expired(server, monkeypatch):
    shifted_now(monkeypatch, datetime.timedelta(minutes=-10))
    with pytest.raises(ClientError) as info:
        server.client("kms").list_keys()
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"].startswith("Signature expired:"), error


def test_signed_10_minutes_future_returns_signature_not_yet_current(server, monkeypatch):
    shifted_now(monkeypatch, datetime.timedelta(minutes=10))
    body = error_of(send(server.url, sign(server.url)))
    assert body["__type"] == "InvalidSignatureException", body
    assert body["message"].startswith("Signature not yet current"), body


def test_signed_10_minutes_future_boto3_raises_invalid_signature(server, monkeypatch):
    shifted_now(monkeypatch, datetime.timedelta(minutes=10))
    with pytest.raises(ClientError) as info:
        server.client("kms").list_keys()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["Error"]["Message"].startswith("Signature not yet current")


def test_signed_2_minutes_past_succeeds(server, monkeypatch):
    # Inside the 5-minute window a skewed client is still served.
    shifted_now(monkeypatch, datetime.timedelta(minutes=-2))
    assert server.client("kms").list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_signed_expired_with_unknown_key_still_does_not_500(server, monkeypatch):
    shifted_now(monkeypatch, datetime.timedelta(days=-3))
    headers = sign(server.url, access_key_id="AKIAUNKNOWNKEY000000")
    body = error_of(send(server.url, headers))
    assert body["__type"] in ("InvalidSignatureException", "UnrecognizedClientException"), body


# --- wrong service / region -----------------------------------------------------------------

def test_signed_for_ssm_sent_to_trent_returns_invalid_signature(server):
    headers = sign(server.url, service="ssm")
    body = error_of(send(server.url, headers))
    assert body["__type"] == "InvalidSignatureException", body


def test_signed_for_ssm_boto3_kms_client_raises_invalid_signature(server, monkeypatch):
    # A kms client whose SigV4 signer scopes its credential to "ssm".
    kms = server.client("kms")
    real_init = SigV4Auth.__init__

    def init(self, credentials, service_name, region_name):
        real_init(self, credentials, "ssm", region_name)

    monkeypatch.setattr(SigV4Auth, "__init__", init)
    with pytest.raises(ClientError) as info:
        kms.list_keys()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_signed_for_other_region_is_served_in_that_region(server):
    # The region comes from the credential scope, as in AWS; a correctly signed request
    # for another region is not an auth error.
    headers = sign(server.url, b"{}", "TrentService.ListKeys", region="eu-west-1")
    response = send(server.url, headers, b"{}")
    assert response.status_code == 200, response.text


def all_key_ids(kms) -> set[str]:
    pages = kms.get_paginator("list_keys").paginate()
    return {k["KeyId"] for page in pages for k in page["Keys"]}


def test_auth_failures_never_create_state(server, kms):
    """A body that would create a key, with a bad signature, creates nothing."""
    before = all_key_ids(kms)
    body = json.dumps({"Description": "must-not-exist"}).encode()
    bad = [sign(server.url, body, "TrentService.CreateKey", secret="nope"),
           sign(server.url, body, "TrentService.CreateKey", access_key_id="AKIAUNKNOWNKEY000000"),
           sign(server.url, body, "TrentService.CreateKey", service="ssm")]
    for headers in bad:
        error_of(send(server.url, headers, body))
    tampered = sign(server.url, b"{}", "TrentService.CreateKey")
    error_of(send(server.url, tampered, body))
    after = all_key_ids(kms)
    assert after == before
