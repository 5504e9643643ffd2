"""AWS Signature Version 4 verification (Authorization-header form).

Verifies what botocore and the AWS CLI send: `Authorization: AWS4-HMAC-SHA256
Credential=<akid>/<yyyymmdd>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=...`
plus `X-Amz-Date`.  The errors are the codes and wording AWS JSON services use, so SDKs
react as they do against AWS (botocore corrects its clock on "Signature expired").
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, quote

from kms_core.domain.arn import REGION_NAME
from kms_core.crypto.keyed_hash import HmacSha256Key
from kms_core.domain.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
#: AWS KMS refuses requests signed more than 5 minutes from its clock.
MAX_SKEW_SECONDS = 300
_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. "
             "Consult the service documentation for details.")
_INVALID_TOKEN = "The security token included in the request is invalid."
#: AWS region names (us-east-1, us-gov-west-1, eu-isoe-west-1, ...).  The scope's region ends
#: up in every ARN the request creates, so nothing else may pass ("*", "us-east-1:1234...").
#: Headers that must be covered by the signature whenever the request carries them: an
#: unsigned X-Amz-Target would let a captured GetParameter be replayed as DeleteParameter.
MUST_SIGN = ("x-amz-date", "x-amz-target", "x-amz-security-token", "x-amz-content-sha256")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a verified signature establishes about a request."""

    access_key_id: str
    region: str
    service: str
    #: whatever the credential lookup returned with the secret (the caller's principal)
    identity: Any


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


#: the exact form botocore and the other SDKs send, parsed by one match (the general parser
#: below gives the same result, and AWS's messages for anything malformed)
_SDK_FORM = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,\s=]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request, "
                       r"SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})\Z", re.ASCII)
#: SignedHeaders text -> tuple: each client sends the same few lists
_signed_lists: dict[str, tuple[str, ...]] = {}


def parse_authorization(value: str) -> _Authorization:
    fast = _SDK_FORM.match(value)
    if fast is not None:
        akid, date, region, service, signed_text, signature = fast.groups()
        signed = _signed_lists.get(signed_text)
        if signed is None:
            if len(_signed_lists) > 256:
                _signed_lists.clear()
            signed = _signed_lists[signed_text] = tuple(signed_text.split(";"))
        return _Authorization(akid, date, region, service, signed, signature)
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm}'. Only {ALGORITHM} is supported.")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, val = part.partition("=")
        if eq:
            params[name.strip()] = val.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not params.get(p)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
            + f" Authorization={ALGORITHM}")
    scope = params["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got '" + params["Credential"] + "'")
    akid, date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
    signed = tuple(h.strip().lower() for h in params["SignedHeaders"].split(";") if h.strip())
    return _Authorization(akid, date, region, service, signed, params["Signature"])


#: lookup(access_key_id, session_token) -> (secret, identity), or None for an unknown key;
#: it may raise (ExpiredTokenException for an expired session token).
CredentialLookup = Callable[[str, Optional[str]], Optional[tuple[str, Any]]]


class SigV4Verifier:
    """Checks signatures against secrets found by `lookup(access_key_id, session_token)`.

    Derived signing keys are cached per (secret, date, region, service): they change daily.
    """

    def __init__(self, lookup: CredentialLookup, wall_clock: Callable[[], float] = time.time) -> None:
        self._lookup = lookup
        self._wall_clock = wall_clock
        self._signing_keys: dict[tuple[str, str, str, str], HmacSha256Key] = {}

    def verify(self, method: str, raw_path: str, query: str, headers: dict[str, str],
               body: bytes, expected_service: str) -> SignedRequest:
        authorization = headers.get("authorization")
        if not authorization:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        auth = parse_authorization(authorization)
        amz_date = headers.get("x-amz-date")
        if not amz_date:
            raise IncompleteSignatureException(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                f"Authorization={ALGORITHM}")
        signed_at = _parse_amz_date(amz_date)
        if auth.date != amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.")
        if auth.service != expected_service:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{expected_service}'. ")
        if auth.region not in _valid_regions and not _remember_region(auth.region):
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{auth.region[:64]}'. ")
        if "host" not in auth.signed_headers:
            raise InvalidSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        for name in MUST_SIGN:
            if name in headers and name not in auth.signed_headers:
                raise InvalidSignatureException(
                    f"'{_title(name)}' must be a 'SignedHeader' in the AWS Authorization.")
        self._check_skew(signed_at, amz_date)

        found = self._lookup(auth.access_key_id, headers.get("x-amz-security-token"))
        if found is None:
            raise UnrecognizedClientException(_INVALID_TOKEN)
        secret, identity = found

        canonical = _canonical_request(method, raw_path, query, headers, auth.signed_headers, body)
        scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
        string_to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
        key = self._signing_key(secret, auth.date, auth.region, auth.service)
        expected = key.digest(string_to_sign.encode()).hex()
        # Constant-time comparison: a byte-by-byte early exit would leak the signature.
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            raise InvalidSignatureException(_MISMATCH)
        return SignedRequest(auth.access_key_id, auth.region, auth.service, identity)

    def _check_skew(self, signed_at: float, amz_date: str) -> None:
        now = self._wall_clock()
        if signed_at < now - MAX_SKEW_SECONDS:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than {_fmt(now - MAX_SKEW_SECONDS)} "
                f"({_fmt(now)} - 5 min.)")
        if signed_at > now + MAX_SKEW_SECONDS:
            raise InvalidSignatureException(
                f"Signature not yet current: {amz_date} is still later than {_fmt(now + MAX_SKEW_SECONDS)} "
                f"({_fmt(now)} + 5 min.)")

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> HmacSha256Key:
        cache_key = (secret, date, region, service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            if len(self._signing_keys) > 4096:
                self._signing_keys.clear()
            key = HmacSha256Key(derive_signing_key(secret, date, region, service))
            self._signing_keys[cache_key] = key
        return key

    def forget(self) -> None:
        """Drop cached signing keys (after an access key is changed or deleted)."""
        self._signing_keys.clear()


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _canonical_request(method: str, raw_path: str, query: str, headers: dict[str, str],
                       signed_headers: tuple[str, ...], body: bytes) -> str:
    lines = []
    for name in signed_headers:
        value = headers.get(name)
        if value is None:
            value = ""
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "\n".join((
        method,
        _canonical_uri(raw_path),
        _canonical_query(query),
        "".join(lines),
        ";".join(signed_headers),
        hashlib.sha256(body).hexdigest(),
    ))


def _canonical_uri(raw_path: str) -> str:
    if raw_path == "/" or not raw_path:
        return "/"
    return quote(raw_path, safe="/~")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                   for k, v in parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{k}={v}" for k, v in pairs)


_last_date: tuple[str, float] = ("", 0.0)


def _parse_amz_date(value: str) -> float:
    # Hand-parsed: strptime costs more than the rest of the signature check; and requests
    # arrive many to a second, so the last one parsed is kept.
    global _last_date
    if value == _last_date[0]:
        return _last_date[1]
    epoch = _parse_amz_date_uncached(value)
    _last_date = (value, epoch)
    return epoch


def _parse_amz_date_uncached(value: str) -> float:
    try:
        if len(value) != 16 or value[8] != "T" or value[15] != "Z":
            raise ValueError(value)
        fields = (int(value[0:4]), int(value[4:6]), int(value[6:8]),
                  int(value[9:11]), int(value[11:13]), int(value[13:15]))
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60
                and fields[5] < 61):
            raise ValueError(value)
        return float(calendar.timegm(fields + (0, 0, 0)))
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


_valid_regions: set[str] = set()


def _remember_region(region: str) -> bool:
    """Whether `region` is a region name (remembered, so the pattern runs once per region)."""
    if not REGION_NAME.match(region):
        return False
    if len(_valid_regions) < 1024:
        _valid_regions.add(region)
    return True


def _title(header: str) -> str:
    """x-amz-target -> X-Amz-Target, as AWS spells header names in its messages."""
    return "-".join(part.capitalize() for part in header.split("-"))


def _fmt(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
