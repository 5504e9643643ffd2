"""The AWS query protocol (IAM, STS): form-encoded `Action=...&Version=...` requests, XML answers.

What boto3's iam and sts clients speak.  A request is a form-encoded POST body whose
flattened parameters (`Tags.member.1.Key=...`) decode into nested dicts and lists; it is
SigV4-verified by the same verifier as the JSON protocol, scoped to the service named in
the credential scope ("iam" or "sts").  Results render as

    <{Action}Response xmlns="..."><{Action}Result>...</{Action}Result>
      <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></{Action}Response>

with lists as `<member>` elements and timestamps in ISO 8601; errors as `<ErrorResponse>`
with the AWS query error code and HTTP status.  Like awsjson.py it returns an `Outcome`,
so the HTTP layer answers and audits both protocols the same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from kms_core.domain.principal import Principal
from kms_core.protocol.awsjson import Outcome, RecordsChanges, access_key_of, new_request_id
from kms_core.storage.session import NeedsDatabase, retry_on_worker
from kms_core.domain.errors import AwsError
from kms_core.protocol.sigv4 import SigV4Verifier, parse_authorization

log = logging.getLogger("paramstore.protocol")

CONTENT_TYPE = "text/xml"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

#: JSON-protocol (and KMS) error codes -> (query error code, HTTP status)
_QUERY_CODES: dict[str, tuple[str, int]] = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "AccessDeniedException": ("AccessDenied", 403),
    "ValidationException": ("ValidationError", 400),
    "SerializationException": ("MalformedQueryString", 400),
    "UnknownOperationException": ("InvalidAction", 400),
    "MalformedPolicyDocumentException": ("MalformedPolicyDocument", 400),
    "LimitExceededException": ("LimitExceeded", 409),
    "ThrottlingException": ("Throttling", 400),
    "RequestEntityTooLargeException": ("RequestEntityTooLarge", 413),
    "InternalFailure": ("InternalFailure", 500),
}

Handler = Callable[[Any, dict], Optional[dict]]


@dataclass
class QueryService:
    """One query-protocol service on the shared endpoint ("iam" or "sts")."""

    signing_name: str
    xmlns: str
    event_source: str  # "iam.amazonaws.com"
    #: make_context(principal, region, request_id, operation, source_ip, secure_transport)
    make_context: Callable[..., Any]
    operations: dict[str, Handler] = field(default_factory=dict)
    internal_error_code: str = "ServiceFailure"


class InvalidAction(AwsError):
    code = "InvalidAction"
    http_status = 400


class MalformedQueryString(AwsError):
    code = "MalformedQueryString"
    http_status = 400


# --- parameters ------------------------------------------------------------------------------
def parse_params(body: bytes, query: str = "") -> dict:
    """Form-encoded parameters as nested values: `A.member.1.B=x` -> {"A": [{"B": "x"}]}."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedQueryString("The request body is not valid UTF-8.") from None
    try:
        pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(text, keep_blank_values=True)
    except ValueError:
        raise MalformedQueryString("The request body is not a valid query string.") from None
    root: dict = {}
    for name, value in pairs:
        parts = name.split(".")
        if len(parts) > 12 or not all(parts):
            raise MalformedQueryString(f"Invalid parameter name: {name[:100]}")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if not isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if set(node) == {"member"} and isinstance(node["member"], dict) and all(k.isdigit() for k in node["member"]):
        items = node["member"]
        return [_listify(items[k]) for k in sorted(items, key=int)]
    return {k: _listify(v) for k, v in node.items()}


# --- rendering -------------------------------------------------------------------------------
#: characters XML 1.0 can't carry even escaped (controls, lone surrogates, U+FFFE/U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """Escaped character data; characters XML can't hold (echoed input) become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value))


def _iso(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    return _text(str(value))


def result_body(action: str, xmlns: str, result: Optional[dict], request_id: str) -> bytes:
    inner = f"<{action}Result>{_xml(result)}</{action}Result>" if result is not None else ""
    return (f'<{action}Response xmlns="{xmlns}">{inner}'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>").encode()


def query_error(error: AwsError) -> tuple[str, int]:
    """The query protocol's (code, status) for an error raised anywhere."""
    mapped = _QUERY_CODES.get(error.code)
    return mapped if mapped is not None else (error.code, error.http_status)


def error_body(xmlns: str, code: str, status: int, message: str, request_id: str) -> bytes:
    kind = "Receiver" if status >= 500 else "Sender"
    return (f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type><Code>{_text(code)}</Code>'
            f"<Message>{_text(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>").encode()


# --- the protocol ----------------------------------------------------------------------------
#: how a request is authenticated: (principal, Region, an error to answer once they are recorded)
Authenticate = Callable[[], tuple[Principal, str, Optional[AwsError]]]


class AwsQueryProtocol(RecordsChanges):
    content_type = CONTENT_TYPE

    def __init__(self, services: list[QueryService], verifier: SigV4Verifier,
                 before_request: Callable[[], None]) -> None:
        self._services = {s.signing_name: s for s in services}
        self._verifier = verifier
        self._before_request = before_request

    def services(self) -> list:
        """The services answered here (for the metrics' label set)."""
        return list(self._services.values())

    def inline_first(self, headers: dict[str, str]) -> bool:
        """IAM and STS requests read or write the database: always on the worker."""
        return False

    def internal_error_body(self, outcome: Outcome, message: str) -> bytes:
        """A 500 in this protocol's XML, for a request the HTTP layer refuses after the fact
        (its audit event couldn't be written)."""
        service = next((s for s in self._services.values() if s.event_source == outcome.event_source),
                       next(iter(self._services.values())))
        return error_body(service.xmlns, service.internal_error_code, 500, message, outcome.request_id)

    def _service_for(self, headers: dict[str, str], action: str) -> QueryService:
        """The service named in the credential scope; else the one that has the action."""
        authorization = headers.get("authorization")
        if authorization:
            try:
                scoped = self._services.get(parse_authorization(authorization).service)
            except AwsError:
                scoped = None
            if scoped is not None:
                return scoped
        for service in self._services.values():
            if action in service.operations:
                return service
        return next(iter(self._services.values()))

    def handle(self, method: str, raw_path: str, query: str, headers: dict[str, str],
               body: bytes, source_ip: Optional[str] = None, secure: bool = False) -> Outcome:
        """One signed HTTP request: verify its signature, then run its action."""
        params: dict = {}
        parse_error: Optional[AwsError] = None
        try:
            params = parse_params(body, query)
        except AwsError as error:
            parse_error = error
        action = params.pop("Action", "")
        action = action if isinstance(action, str) else ""
        params.pop("Version", None)
        service = self._service_for(headers, action)

        def authenticate() -> tuple[Principal, str, Optional[AwsError]]:
            signed = self._verifier.verify(method, raw_path, query, headers, body, service.signing_name)
            return signed.identity, signed.region, parse_error

        return self._serve(service, action, params, headers, source_ip, secure, authenticate)

    def dispatch(self, principal: Principal, region: str, service_name: str, action: str, params: dict,
                 access_key_id: str, user_agent: str, source_ip: Optional[str] = None,
                 secure: bool = False) -> Outcome:
        """Run one action ("iam" / "ListUsers", params as decoded query parameters) as a
        principal authenticated another way (the web console's session): everything a
        signed request goes through but the signature check.  `Outcome.result` holds the
        result before it is written as XML."""
        service = self._services[service_name]
        headers = {"authorization": f"session Credential={access_key_id}/", "user-agent": user_agent}
        return self._serve(service, action, dict(params), headers, source_ip, secure, lambda: (principal, region, None))

    def _serve(self, service: QueryService, action: str, params: dict, headers: dict[str, str],
               source_ip: Optional[str], secure: bool, authenticate: Authenticate) -> Outcome:
        """`authenticate` gives the principal, the Region and an error to answer once they
        are recorded (a malformed query, found before the signature was checked)."""
        request_id = new_request_id()
        out = Outcome(0, b"", request_id, service.event_source, action or "(none)")
        ctx = None
        try:
            self._before_request()
            principal, region, deferred = authenticate()
            out.principal, out.region = principal, region
            if deferred is not None:
                raise deferred
            handler = service.operations.get(action)
            if handler is None:
                raise InvalidAction(f"Could not find operation {action or '(none)'} for version "
                                    f"{'2011-06-15' if service.signing_name == 'sts' else '2010-05-08'}")
            ctx = service.make_context(principal, region, request_id, action, source_ip, secure)
            result = self.run_handler(handler, ctx, params, out, headers, source_ip)
            out.status, out.body, out.result = 200, result_body(action, service.xmlns, result, request_id), result
        except AwsError as error:
            code, status = query_error(error)
            out.status, out.error_code = status, code
            out.body = error_body(service.xmlns, code, status, error.message, request_id)
        except Exception as exc:  # a bug: answer 500 without internals, keep the traceback in the log
            if retry_on_worker(exc):
                raise NeedsDatabase() from None
            log.exception("internal error handling %s (request %s)", action, request_id)
            code = service.internal_error_code
            out.status, out.error_code = 500, code
            out.body = error_body(service.xmlns, code, 500, "An internal error occurred.", request_id)
        out.access_key_id = access_key_of(headers)
        if ctx is not None:
            out.resources = getattr(ctx, "resources", [])
        return out
