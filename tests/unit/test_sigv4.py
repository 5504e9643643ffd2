"""SigV4Verifier with a fixed wall clock: botocore-signed requests, the AWS SigV4 test
suite's published signatures, and every rejection path with AWS's error codes."""

from __future__ import annotations

import calendar
import datetime as dt
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kms_core.protocol import sigv4
from kms_core.domain.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from kms_core.protocol.sigv4 import SigV4Verifier

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = dt.datetime(2024, 5, 17, 10, 30, 0, tzinfo=dt.timezone.utc)
NOW_EPOCH = float(calendar.timegm(NOW.utctimetuple()))
HOST = "kms.us-east-1.amazonaws.com"
BODY = json.dumps({"KeyId": "alias/test", "Plaintext": "aGVsbG8="}).encode()

# The AWS SigV4 test suite's credentials and time (aws-sig-v4-test-suite, 20150830T123600Z).
SUITE_AKID = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_EPOCH = float(calendar.timegm((2015, 8, 30, 12, 36, 0)))
SUITE_SCOPE = f"Credential={SUITE_AKID}/20150830/us-east-1/service/aws4_request"


def lookup(secrets: dict[str, str]):
    """A credential lookup over a dict: (secret, identity) with the key id as the identity."""
    def find(akid: str, token: str | None):
        secret = secrets.get(akid)
        return None if secret is None else (secret, akid)
    return find


def verifier(now: float = NOW_EPOCH, secrets: dict | None = None) -> SigV4Verifier:
    return SigV4Verifier(lookup(secrets or {AKID: SECRET, SUITE_AKID: SUITE_SECRET}), wall_clock=lambda: now)


def botocore_sign(monkeypatch, *, at: dt.datetime = NOW, secret: str = SECRET, service: str = "kms",
                  region: str = "us-east-1", body: bytes = BODY, url: str = f"https://{HOST}/",
                  extra_headers: dict | None = None, token: str | None = None) -> dict[str, str]:
    """Sign with botocore at time `at`; return the headers as the server passes them (lowercased)."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: at.replace(tzinfo=None))
    headers = {"Host": HOST, "Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": "TrentService.Encrypt", **(extra_headers or {})}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(AKID, secret, token), service, region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


def verify(v: SigV4Verifier, headers: dict, body: bytes = BODY, query: str = "", method: str = "POST",
           service: str = "kms"):
    return v.verify(method, "/", query, headers, body, service)


# -- accepted --------------------------------------------------------------------------------


def test_botocore_signed_request_verifies(monkeypatch):
    headers = botocore_sign(monkeypatch)
    assert headers["x-amz-date"] == "20240517T103000Z"
    signed = verify(verifier(), headers)
    assert signed.access_key_id == AKID
    assert signed.region == "us-east-1"
    assert signed.service == "kms"
    assert signed.identity == AKID


def test_botocore_session_token_is_signed_and_passed_to_the_lookup(monkeypatch):
    headers = botocore_sign(monkeypatch, token="session-token-value")
    seen = []

    def find(akid, token):
        seen.append(token)
        return SECRET, akid

    verify(SigV4Verifier(find, wall_clock=lambda: NOW_EPOCH), headers)
    assert seen == ["session-token-value"]
    headers["x-amz-security-token"] = "another-token"
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers)


def test_botocore_query_string_verifies(monkeypatch):
    headers = botocore_sign(monkeypatch, url=f"https://{HOST}/?b=2&a=1&a=0&empty=&sp=a%20b&tilde=~x")
    verify(verifier(), headers, query="b=2&a=1&a=0&empty=&sp=a%20b&tilde=~x")
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers, query="b=2&a=1&a=0&empty=&sp=a%20b&tilde=~y")


def test_botocore_other_region(monkeypatch):
    headers = botocore_sign(monkeypatch, region="eu-west-3")
    assert verify(verifier(), headers).region == "eu-west-3"


def test_skew_within_five_minutes_is_accepted(monkeypatch):
    headers = botocore_sign(monkeypatch)
    for delta in (-300, -299, 0, 299, 300):
        verify(verifier(NOW_EPOCH + delta), headers)


def test_signing_key_cache_is_per_secret(monkeypatch):
    secrets = {AKID: SECRET}
    v = SigV4Verifier(lookup(secrets), wall_clock=lambda: NOW_EPOCH)
    headers = botocore_sign(monkeypatch)
    verify(v, headers)
    secrets[AKID] = "a-rotated-secret"
    with pytest.raises(InvalidSignatureException):
        verify(v, headers)
    v.forget()
    with pytest.raises(InvalidSignatureException):
        verify(v, headers)


def test_derive_signing_key_matches_aws_example():
    # AWS's documented signing key for the test-suite credentials and scope.
    key = sigv4.derive_signing_key(SUITE_SECRET, "20150830", "us-east-1", "service")
    assert key.hex() == "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75"


# -- the AWS SigV4 test suite (header form), published signatures ------------------------------

SUITE = [
    # name, method, query (as on the wire), extra headers (as the server hands them), signed headers, signature
    ("get-vanilla", "GET", "", {}, "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("post-vanilla", "POST", "", {}, "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("get-vanilla-query-order-key-case", "GET", "Param2=value2&Param1=value1", {}, "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-empty-query-key", "GET", "Param1=value1", {}, "host;x-amz-date",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
    ("get-vanilla-query-unreserved", "GET",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, "host;x-amz-date",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "%E1%88%B4=bar", {}, "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    # header values are trimmed and inner runs of spaces collapse to one
    ("get-header-value-trim", "GET", "", {"my-header1": " value1", "my-header2": '"a   b   c"'},
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    # repeated headers reach the verifier joined with "," in arrival order (paramstore/server.py)
    ("get-header-key-duplicate", "GET", "", {"my-header1": "value2,value2,value1"},
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "", {"my-header1": "value4,value1,value3,value2"},
     "host;my-header1;x-amz-date",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
]


def suite_headers(extra: dict, signed: str, signature: str) -> dict[str, str]:
    return {
        "host": "example.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
        **extra,
        "authorization": f"AWS4-HMAC-SHA256 {SUITE_SCOPE}, SignedHeaders={signed}, Signature={signature}",
    }


@pytest.mark.parametrize("name,method,query,extra,signed,signature", SUITE, ids=[s[0] for s in SUITE])
def test_aws_sigv4_test_suite(name, method, query, extra, signed, signature):
    v = verifier(SUITE_EPOCH)
    headers = suite_headers(extra, signed, signature)
    result = v.verify(method, "/", query, headers, b"", "service")
    assert result.access_key_id == SUITE_AKID
    # and the same request with one signature hex digit changed is refused
    bad = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(InvalidSignatureException):
        v.verify(method, "/", query, suite_headers(extra, signed, bad), b"", "service")


def test_suite_header_whitespace_inside_value_matters():
    # "a b c" is what "a   b   c" canonicalises to; "abc" is not.
    name, method, query, extra, signed, signature = SUITE[6]
    v = verifier(SUITE_EPOCH)
    v.verify(method, "/", query, suite_headers({**extra, "my-header2": '"a b c"'}, signed, signature), b"", "service")
    v.verify(method, "/", query, suite_headers({**extra, "my-header2": ' "a \t b  c"  '}, signed, signature), b"",
             "service")
    with pytest.raises(InvalidSignatureException):
        v.verify(method, "/", query, suite_headers({**extra, "my-header2": '"abc"'}, signed, signature), b"",
                 "service")


def test_suite_header_value_order_matters():
    name, method, query, extra, signed, signature = SUITE[8]
    with pytest.raises(InvalidSignatureException):
        verifier(SUITE_EPOCH).verify(method, "/", query,
                                     suite_headers({"my-header1": "value1,value2,value3,value4"}, signed, signature),
                                     b"", "service")


def test_suite_query_order_does_not_matter_but_values_do():
    name, method, _, extra, signed, signature = SUITE[2]
    v = verifier(SUITE_EPOCH)
    v.verify(method, "/", "Param1=value1&Param2=value2", suite_headers(extra, signed, signature), b"", "service")
    with pytest.raises(InvalidSignatureException):
        v.verify(method, "/", "Param1=value2&Param2=value1", suite_headers(extra, signed, signature), b"", "service")


# -- refused: signature mismatch ---------------------------------------------------------------


def test_wrong_secret(monkeypatch):
    headers = botocore_sign(monkeypatch, secret="not-the-secret")
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert e.value.message.startswith("The request signature we calculated does not match")
    assert e.value.code == "InvalidSignatureException"


def test_changed_body(monkeypatch):
    headers = botocore_sign(monkeypatch)
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers, body=BODY.replace(b"alias/test", b"alias/tesu"))
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers, body=BODY + b" ")


def test_changed_signed_header(monkeypatch):
    headers = botocore_sign(monkeypatch)
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), {**headers, "x-amz-target": "TrentService.Decrypt"})
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), {**headers, "host": "evil.example.com"})


def test_changed_method_or_path(monkeypatch):
    headers = botocore_sign(monkeypatch)
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers, method="PUT")
    with pytest.raises(InvalidSignatureException):
        verifier().verify("POST", "/other", "", headers, BODY, "kms")


def test_unsigned_header_may_change(monkeypatch):
    headers = botocore_sign(monkeypatch)
    signed_list = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "user-agent" not in signed_list
    verify(verifier(), {**headers, "user-agent": "something else"})


def test_dropping_a_signed_header_fails(monkeypatch):
    headers = botocore_sign(monkeypatch)
    del headers["x-amz-target"]
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers)


# -- refused: clock skew -----------------------------------------------------------------------


def test_signature_expired(monkeypatch):
    headers = botocore_sign(monkeypatch, at=NOW - dt.timedelta(seconds=301))
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert e.value.message == ("Signature expired: 20240517T102459Z is now earlier than 20240517T102500Z "
                               "(20240517T103000Z - 5 min.)")


def test_signature_not_yet_current(monkeypatch):
    headers = botocore_sign(monkeypatch, at=NOW + dt.timedelta(seconds=301))
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert e.value.message == ("Signature not yet current: 20240517T103501Z is still later than 20240517T103500Z "
                               "(20240517T103000Z + 5 min.)")


@pytest.mark.parametrize("delta", [-86400, -301, 301, 3600])
def test_skew_beyond_five_minutes_either_way(monkeypatch, delta):
    headers = botocore_sign(monkeypatch)
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(NOW_EPOCH + delta), headers)  # server clock moved by delta
    expected = "Signature expired: " if delta > 0 else "Signature not yet current: "
    assert e.value.message.startswith(expected)


# -- refused: malformed or incomplete ----------------------------------------------------------


def _auth(headers: dict) -> str:
    return headers["authorization"]


def test_missing_authorization_header(monkeypatch):
    headers = botocore_sign(monkeypatch)
    del headers["authorization"]
    with pytest.raises(MissingAuthenticationTokenException):
        verify(verifier(), headers)


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_missing_authorization_part(monkeypatch, part):
    headers = botocore_sign(monkeypatch)
    algorithm, rest = _auth(headers).split(" ", 1)
    kept = [p for p in rest.split(", ") if not p.startswith(part + "=")]
    assert len(kept) == 2
    headers["authorization"] = algorithm + " " + ", ".join(kept)
    with pytest.raises(IncompleteSignatureException) as e:
        verify(verifier(), headers)
    assert f"Authorization header requires '{part}' parameter." in e.value.message


def test_empty_authorization_part(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["authorization"] = _auth(headers).split("Signature=")[0] + "Signature="
    with pytest.raises(IncompleteSignatureException):
        verify(verifier(), headers)


def test_missing_x_amz_date(monkeypatch):
    headers = botocore_sign(monkeypatch)
    del headers["x-amz-date"]
    with pytest.raises(IncompleteSignatureException) as e:
        verify(verifier(), headers)
    assert "X-Amz-Date" in e.value.message


def test_malformed_x_amz_date(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["x-amz-date"] = "2024-05-17T10:30:00Z"
    with pytest.raises((IncompleteSignatureException, InvalidSignatureException)):
        verify(verifier(), headers)


def test_unsupported_algorithm(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["authorization"] = _auth(headers).replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1)
    with pytest.raises(IncompleteSignatureException) as e:
        verify(verifier(), headers)
    assert "AWS4-HMAC-SHA512" in e.value.message


def test_credential_with_too_few_elements(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["authorization"] = _auth(headers).replace("/us-east-1/kms/", "/kms/", 1)
    with pytest.raises(IncompleteSignatureException):
        verify(verifier(), headers)


def test_credential_with_wrong_terminator(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["authorization"] = _auth(headers).replace("/aws4_request", "/aws5_request", 1)
    with pytest.raises(InvalidSignatureException):
        verify(verifier(), headers)


def test_host_must_be_signed():
    headers = suite_headers({}, "x-amz-date", "0" * 64)
    with pytest.raises(InvalidSignatureException):
        verifier(SUITE_EPOCH).verify("GET", "/", "", headers, b"", "service")


# -- refused: identity and scope ---------------------------------------------------------------


def test_unknown_access_key(monkeypatch):
    headers = botocore_sign(monkeypatch)
    with pytest.raises(UnrecognizedClientException) as e:
        verify(verifier(secrets={"AKIAOTHER": SECRET}), headers)
    assert e.value.message == "The security token included in the request is invalid."


def test_wrong_service_in_scope(monkeypatch):
    headers = botocore_sign(monkeypatch, service="ssm")
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert "Credential should be scoped to correct service: 'kms'" in e.value.message
    # ... and the same request checked as an SSM request verifies
    verify(verifier(), headers, service="ssm")


def test_scope_date_differs_from_x_amz_date(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["authorization"] = _auth(headers).replace("/20240517/", "/20240516/", 1)
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert "Date in Credential scope does not match YYYYMMDD" in e.value.message
    assert "'20240516' != '20240517'" in e.value.message


def test_x_amz_date_changed_within_window_breaks_signature(monkeypatch):
    headers = botocore_sign(monkeypatch)
    headers["x-amz-date"] = "20240517T103001Z"
    with pytest.raises(InvalidSignatureException) as e:
        verify(verifier(), headers)
    assert e.value.message.startswith("The request signature we calculated does not match")


def test_sdk_form_fast_path_parses_as_the_general_parser_does():
    """The one-regex parse of the SDKs' exact form gives what the general parser gives (a
    trailing space takes the general path)."""
    from kms_core.protocol.sigv4 import parse_authorization

    for signed in ("host", "content-type;host;x-amz-date;x-amz-target",
                   "host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target"):
        for region in ("us-east-1", "eu-west-3", "us-gov-west-1"):
            value = (f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261202/{region}/kms/aws4_request, "
                     f"SignedHeaders={signed}, Signature={'ab' * 32}")
            assert parse_authorization(value) == parse_authorization(value + " ")
