"""The AWS JSON 1.1 protocol: X-Amz-Target dispatch, SigV4, body validation, errors.

No business logic here.  A request becomes (operation, principal, region, validated
members); the operation's dict result becomes a JSON body with blobs base64-encoded.
Errors render as `{"__type": code, "message": text}` with the class's HTTP status; any
other exception is a bug and renders as the service's internal error (500) without
internals, while the traceback goes to the log.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kms_core.audit import begin_request, end_request
from kms_core.crypto.root import RootKeyError
from kms_core.domain.principal import Principal
from kms_core.storage.session import NeedsDatabase, retry_on_worker
from kms_core.storage.connect import is_timeout, is_unavailable
from kms_core.domain.errors import (
    AwsError,
    SerializationException,
    UnknownOperationException,
)
from kms_core.protocol.shapes import compile_operation
from kms_core.protocol.sigv4 import SigV4Verifier
from kms_core.protocol.throttling import Charges, Throttle

log = logging.getLogger("paramstore.protocol")

CONTENT_TYPE = "application/x-amz-json-1.1"
Handler = Callable[[Any, dict], dict]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: Handler
    validate: Callable[[Any], dict]


@dataclass
class ServiceSpec:
    """One AWS service on the shared endpoint: "TrentService" (kms) or "AmazonSSM" (ssm)."""

    target_prefix: str
    signing_name: str
    event_source: str  # as in CloudTrail: "kms.amazonaws.com"
    internal_error: type[AwsError]
    #: make_context(principal, region, request_id, operation, source_ip, secure_transport)
    make_context: Callable[..., Any]
    operations: dict[str, Operation] = field(default_factory=dict)
    #: the retryable error for a database that timed out or went away (else internal_error)
    timeout_error: Optional[type[AwsError]] = None
    #: operations usually answered from memory: tried on the event loop first (a cache miss
    #: moves them to the database worker); all others go to the worker directly
    inline_operations: frozenset = frozenset()
    #: quota_of(operation, account_id, region, request): the request quota (kms_core/protocol/throttling.py)
    #: an operation is charged to before it runs, or None
    quota_of: Optional[Callable[[str, str, str, dict], Optional[str]]] = None

    def add(self, name: str, handler: Handler, input_shape: dict) -> None:
        self.operations[name] = Operation(name, handler, compile_operation(input_shape))


@dataclass(slots=True)
class Outcome:
    """What the HTTP layer needs to answer, plus what the audit trail needs to record.

    Only non-secret facts: never a plaintext, a value, a data key or key material."""

    status: int
    body: bytes
    request_id: str
    event_source: str = ""          # "kms.amazonaws.com"
    event_name: str = ""            # the operation, e.g. "Encrypt" (or the raw target if unknown)
    error_code: Optional[str] = None
    principal: Optional[Principal] = None
    access_key_id: Optional[str] = None
    region: Optional[str] = None
    resources: list = field(default_factory=list)           # ARNs the request touched
    encryption_context: Optional[dict] = None               # as sent (AWS logs it in the clear)
    detail: Optional[dict] = None                           # the operation's audit_detail
    #: the request's event was committed with its change (kms_core/audit.py, begin_request)
    audited: bool = False
    #: the request failed because the database timed out or went away
    database_unavailable: bool = False
    #: "timeout" (a statement waited too long) or "unavailable" (the database went away)
    database_error: Optional[str] = None
    #: a query-protocol action's result before it is written as XML (for the console)
    result: Any = None


class RecordsChanges:
    """A protocol whose handlers' write transactions carry the request's audit event.  The
    HTTP layer sets `audit_log` and `event_of(outcome, source_ip, headers)`."""

    audit_log: Any = None
    event_of: Any = None

    def run_handler(self, handler: Handler, ctx: Any, params: dict, out: "Outcome", headers: dict[str, str],
                    source_ip: Optional[str]) -> Any:
        log = self.audit_log
        if log is None:
            return handler(ctx, params)

        def make_event() -> Any:
            out.resources = getattr(ctx, "resources", [])
            out.detail = getattr(ctx, "audit_detail", None)
            out.access_key_id = access_key_of(headers)
            return self.event_of(out, source_ip, headers)

        begin_request(log, make_event)
        try:
            return handler(ctx, params)
        finally:
            out.audited = end_request()


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)


def _dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


class _RequestIds:
    """UUID-shaped request ids, unique without a getrandom per request: a random 64-bit
    prefix per process (drawn again in a forked child) and a counter.  They identify
    requests in the audit trail; they are not secrets."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        p = os.urandom(8).hex()  # the first three groups (version nibble 4), fixed per process
        self._prefix = f"{p[:8]}-{p[8:12]}-4{p[13:16]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def __call__(self) -> str:
        n = next(self._counter) & 0xFFFFFFFFFFFFFFFF
        return f"{self._prefix}{n >> 48:04x}-{n & 0xFFFFFFFFFFFF:012x}"


new_request_id = _RequestIds()


def error_body(error: AwsError) -> bytes:
    return _dumps({"__type": error.code, error.message_field: error.message})


_DATABASE_UNAVAILABLE = "The service could not reach its database in time. The request can be retried."


class AwsJsonProtocol(RecordsChanges):
    def __init__(self, services: list[ServiceSpec], verifier: SigV4Verifier,
                 before_request: Callable[[], None]) -> None:
        self._services = {s.target_prefix: s for s in services}
        self._verifier = verifier
        self._before_request = before_request
        #: request quotas (kms_core/protocol/throttling.py), or None when throttling is off
        self.throttle: Optional[Throttle] = None

    def services(self) -> list:
        """The services answered here (for the metrics' label set)."""
        return list(self._services.values())

    def inline_first(self, headers: dict[str, str]) -> bool:
        """Whether to try this request on the event loop (see ServiceSpec.inline_operations)."""
        prefix, op_name = split_target(headers.get("x-amz-target", ""), self._services)
        service = self._services.get(prefix)
        return service is not None and op_name in service.inline_operations

    def handle(self, method: str, raw_path: str, query: str, headers: dict[str, str],
               body: bytes, source_ip: Optional[str] = None, secure: bool = False) -> Outcome:
        """One signed HTTP request: verify its signature, then run its operation."""
        return self._serve(headers.get("x-amz-target", ""), headers, source_ip, secure,
                           lambda service: self._authenticate(service, method, raw_path, query, headers, body))

    def dispatch(self, principal: Principal, region: str, target: str, request: dict, access_key_id: str,
                 user_agent: str, source_ip: Optional[str] = None, secure: bool = False) -> Outcome:
        """Run one operation as a principal already authenticated another way (the web
        console's session): the same validation, quotas, authorization, errors and audit
        record as a signed request, with nothing but the signature check skipped.  The
        audit record names `access_key_id` and `user_agent` (which marks the channel)."""
        headers = {"authorization": f"session Credential={access_key_id}/", "user-agent": user_agent}
        return self._serve(target, headers, source_ip, secure, lambda service: (principal, region, request))

    def _authenticate(self, service: ServiceSpec, method: str, raw_path: str, query: str, headers: dict[str, str],
                      body: bytes) -> tuple[Principal, str, Any]:
        signed = self._verifier.verify(method, raw_path, query, headers, body, service.signing_name)
        return signed.identity, signed.region, body

    def _serve(self, target: str, headers: dict[str, str], source_ip: Optional[str], secure: bool,
               authenticate: Callable[[ServiceSpec], tuple[Principal, str, Any]]) -> Outcome:
        request_id = new_request_id()
        prefix, op_name = split_target(target, self._services)
        service = self._services.get(prefix)
        out = Outcome(0, b"", request_id, service.event_source if service else "", op_name or target)
        ctx = None
        charges = None
        try:
            if service is None:
                raise UnknownOperationException(f"Operation {target or '(none)'} is not supported.")
            self._before_request()
            principal, region, body = authenticate(service)
            out.principal, out.region = principal, region
            operation = service.operations.get(op_name)
            if operation is None:
                raise UnknownOperationException(f"Operation {op_name} is not supported.")
            request = operation.validate(body if isinstance(body, dict) else _parse_body(body))
            out.encryption_context = _audited_context(request)
            ctx = service.make_context(principal, region, request_id, op_name, source_ip, secure)
            if self.throttle is not None and service.quota_of is not None:
                charges = ctx.charges = Charges(self.throttle, principal.account_id, region, op_name)
                quota = service.quota_of(op_name, charges.account_id, region, request)
                if quota is not None:
                    charges.charge(quota)
            result = self.run_handler(operation.handler, ctx, request, out, headers, source_ip)
            out.status, out.body = 200, _dumps(result)
        except AwsError as error:
            out.status, out.body, out.error_code = error.http_status, error_body(error), error.code
        except Exception as exc:
            if retry_on_worker(exc):
                if charges is not None:  # charged when it runs again, on the worker
                    charges.refund()
                raise NeedsDatabase() from None
            if service is not None and is_unavailable(exc):  # retryable: the database timed out or went away
                out.database_error = "timeout" if is_timeout(exc) else "unavailable"
                log.warning("database unavailable handling %s (request %s): %s", target, request_id,
                            type(getattr(exc, "orig", None) or exc).__name__)
                error = (service.timeout_error or service.internal_error)(_DATABASE_UNAVAILABLE)
                out.database_unavailable = True
            elif isinstance(exc, RootKeyError):  # the root (an HSM token) can't be reached: retryable
                log.warning("root key unavailable handling %s (request %s): %s", target, request_id, exc)
                error = (service.internal_error if service else AwsError)(_ROOT_UNAVAILABLE)
            else:  # a bug: answer 500 without internals, keep the traceback in the log
                log.exception("internal error handling %s (request %s)", target, request_id)
                error = (service.internal_error if service else AwsError)("An internal error occurred.")
            out.status, out.body, out.error_code = error.http_status, error_body(error), error.code
        out.access_key_id = access_key_of(headers)
        if ctx is not None:
            out.resources = getattr(ctx, "resources", [])
            out.detail = getattr(ctx, "audit_detail", None)
        return out


_ROOT_UNAVAILABLE = "The service's root key is unavailable (its key store cannot be reached). Retry the request."

_CONTEXT_MEMBERS = ("EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext")


def _audited_context(request: dict) -> Optional[dict]:
    found = {name: request[name] for name in _CONTEXT_MEMBERS if name in request}
    if not found:
        return None
    return found.get("EncryptionContext", found) if len(found) == 1 else found


def split_target(target: str, prefixes: Any) -> tuple[str, str]:
    """X-Amz-Target -> (service prefix, operation).  Most prefixes are one word
    ("TrentService.Encrypt"); CloudTrail's holds dots
    ("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"), so a target
    whose first word is no known prefix is split at its last dot if that names one."""
    prefix, _, operation = target.partition(".")
    if prefix not in prefixes:
        longer, _, last = target.rpartition(".")
        if longer in prefixes:
            return longer, last
    return prefix, operation


def access_key_of(headers: dict[str, str]) -> Optional[str]:
    """The access key id a request claims (for the audit trail, even when it fails)."""
    auth = headers.get("authorization", "")
    start = auth.find("Credential=")
    if start < 0:
        return None
    akid = auth[start + 11:].split("/", 1)[0]
    return akid[:128] or None


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), though Python's parser reads them."""
    raise ValueError(name)


def _finite_float(text: str) -> float:
    """A number literal too large for a double (1e400) would read as infinity: refuse it."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


#: built once (json.loads with options builds a decoder per call)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _parse_body(body: bytes) -> Any:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SerializationException("The request body is not valid UTF-8.") from None
    try:
        parsed = _DECODER.decode(text)
    except (ValueError, RecursionError):
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    return parsed
