"""The AWS JSON 1.1 protocol: X-Amz-Target dispatch, SigV4, body validation, errors.

No business logic here.  A request becomes (operation, principal, region, validated
members); the operation's dict result becomes a JSON body with blobs base64-encoded.
Errors render as `{"__type": code, "message": text}` with the class's HTTP status; any
other exception is a bug and renders as the service's internal error (500) without
internals, while the traceback goes to the log.
"""

from __future__ import annotations

import json
import logging
import os
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kms_core.identity.principal import Principal
from kms_core.protocol.errors import (
    AwsError,
    SerializationException,
    UnknownOperationException,
    UnrecognizedClientException,
)
from kms_core.protocol.shapes import compile_operation
from kms_core.protocol.sigv4 import SigV4Verifier

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
    internal_error: type[AwsError]
    make_context: Callable[[Principal, str, str, str], Any]
    operations: dict[str, Operation] = field(default_factory=dict)

    def add(self, name: str, handler: Handler, input_shape: dict) -> None:
        self.operations[name] = Operation(name, handler, compile_operation(input_shape))


@dataclass(slots=True)
class Outcome:
    """What the HTTP layer needs to answer, plus what the audit trail needs to record."""

    status: int
    body: bytes
    request_id: str
    target: str = ""
    error_code: Optional[str] = None
    principal: Optional[Principal] = None


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)


def _dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def new_request_id() -> str:
    """A random UUID-shaped id (cheaper than uuid.uuid4(), same format)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def error_body(error: AwsError) -> bytes:
    return _dumps({"__type": error.code, error.message_field: error.message})


class AwsJsonProtocol:
    def __init__(self, services: list[ServiceSpec], verifier: SigV4Verifier,
                 lookup_principal: Callable[[str], Optional[Principal]],
                 before_request: Callable[[], None]) -> None:
        self._services = {s.target_prefix: s for s in services}
        self._verifier = verifier
        self._lookup_principal = lookup_principal
        self._before_request = before_request

    def handle(self, method: str, raw_path: str, query: str, headers: dict[str, str],
               body: bytes) -> Outcome:
        request_id = new_request_id()
        target = headers.get("x-amz-target", "")
        service: Optional[ServiceSpec] = None
        principal: Optional[Principal] = None
        try:
            prefix, _, op_name = target.partition(".")
            service = self._services.get(prefix)
            if service is None:
                raise UnknownOperationException(f"Operation {target or '(none)'} is not supported.")
            self._before_request()
            signed = self._verifier.verify(method, raw_path, query, headers, body, service.signing_name)
            principal = self._lookup_principal(signed.access_key_id)
            if principal is None:
                raise UnrecognizedClientException("The security token included in the request is invalid.")
            operation = service.operations.get(op_name)
            if operation is None:
                raise UnknownOperationException(f"Operation {op_name} is not supported.")
            request = operation.validate(_parse_body(body))
            ctx = service.make_context(principal, signed.region, request_id, op_name)
            result = operation.handler(ctx, request)
            return Outcome(200, _dumps(result), request_id, target, None, principal)
        except AwsError as error:
            return Outcome(error.http_status, error_body(error), request_id, target, error.code, principal)
        except Exception:  # a bug: answer 500 without internals, keep the traceback in the log
            log.exception("internal error handling %s (request %s)", target, request_id)
            internal = (service.internal_error if service else AwsError)("An internal error occurred.")
            return Outcome(500, error_body(internal), request_id, target, internal.code, principal)


def _parse_body(body: bytes) -> Any:
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SerializationException("The request body is not valid UTF-8.") from None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    return parsed
