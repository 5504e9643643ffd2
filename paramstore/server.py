"""The product, assembled: one FastAPI app answering TrentService.* (KMS) and
AmazonSSM.* (Parameter Store) on `POST /`, plus `GET /health`.

`POST /` is answered by a pure ASGI layer wrapped around the FastAPI app: the AWS
protocol needs neither routing nor request objects, and skipping FastAPI's per-request
stack (router, request objects, its telemetry hook) is most of what keeps the server's CPU
per request near an empty FastAPI handler's.  Every other request goes to FastAPI.
Handlers run inline on the event loop: hot-path requests are answered from memory, and
writes are short transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from kms_core.context import RequestContext
from kms_core.domain.principal import Principal
from kms_core.protocol.awsjson import (CONTENT_TYPE, AwsJsonProtocol, access_key_of, error_body, new_request_id,
                                      split_target)
from kms_core.audit import AuditEvent, AuditLog, AuditUnavailable
from kms_core.errors import KMSInternalException
from kms_core.domain.errors import (
    AwsError,
    InternalFailure,
    RequestEntityTooLargeException,
    SerializationException,
)
from kms_core.protocol.query import FORM_CONTENT_TYPE, AwsQueryProtocol, QueryService
from kms_core.protocol.sigv4 import SigV4Verifier
from kms_core.runtime import Runtime
from kms_core.targets import kms_service
from kms_core.protocol.throttling import Throttle, kms_quota_of, parse_quotas, secrets_quota
from paramstore import __version__
from kms_core.storage.session import NeedsDatabase, inline_attempt
from paramstore import metrics, tls
from paramstore.bootstrap import StartupError, Store, open_store
from paramstore.db_worker import DatabaseWorker
from paramstore.health import Readiness
from paramstore.settings import Settings
from paramstore.ssm.context import SsmContext
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.targets import secrets_service
from paramstore.ssm.targets import ssm_quota_of, ssm_service
from paramstore.trail import targets as trail_targets

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.datastructures import State

    #: make_context(principal, region, request_id, operation, source_ip, secure_transport)
    ContextFactory = Callable[[Principal, str, str, str, Optional[str], bool], RequestContext]
    SsmContextFactory = Callable[[Principal, str, str, str, Optional[str], bool], SsmContext]

log = logging.getLogger("paramstore")

#: Request header limits, checked before anything else reads a request (uvicorn's httptools
#: parser has none of its own: it hands over megabytes of headers).  An SDK request, even
#: SigV4-signed with a session token, is a dozen headers and a few KiB.
MAX_HEADER_COUNT = 100
#: the request target (path and query string) plus every header line (name, value, ": " and CRLF)
MAX_HEADER_BYTES = 16 * 1024

#: where a refused request's event goes when its target is known (as the protocols record them)
_TARGET_SOURCES = {"TrentService": "kms.amazonaws.com", "AmazonSSM": "ssm.amazonaws.com",
                   "secretsmanager": "secretsmanager.amazonaws.com",
                   trail_targets.TARGET_PREFIX: trail_targets.EVENT_SOURCE}
#: ... or, failing that, the service its credential scope names
_SIGNING_SOURCES = {"kms": "kms.amazonaws.com", "ssm": "ssm.amazonaws.com", "iam": "iam.amazonaws.com",
                    "secretsmanager": "secretsmanager.amazonaws.com",
                    "sts": "sts.amazonaws.com", trail_targets.SIGNING_NAME: trail_targets.EVENT_SOURCE}
#: the headers a refused request's event is made from (ASGI names are lower-case)
_REFUSAL_HEADERS = frozenset({b"user-agent", b"authorization", b"x-amz-target"})


class RequestHeaderSectionTooLarge(AwsError):
    """Over MAX_HEADER_COUNT headers or MAX_HEADER_BYTES (S3's code for this; HTTP 431, RFC 6585)."""

    code = "RequestHeaderSectionTooLarge"
    http_status = 431


def build_verifier(store: Store) -> SigV4Verifier:
    kms = store.kms
    verifier = SigV4Verifier(kms.identities.lookup, kms.runtime.wall_clock)
    kms.on_change(verifier.forget)
    return verifier


def _context_factory(store: Store) -> ContextFactory:
    kms = store.kms

    def make_context(principal: Principal, region: str, request_id: str, operation: str,
                     source_ip: Optional[str], secure: bool) -> RequestContext:
        return RequestContext(kms, principal, region, request_id, operation, source_ip=source_ip,
                              secure_transport=secure)

    return make_context


def _ssm_context_factory(store: Store) -> SsmContextFactory:
    kms, params, secrets = store.kms, store.params, store.secrets

    def make_context(principal: Principal, region: str, request_id: str, operation: str,
                     source_ip: Optional[str], secure: bool) -> SsmContext:
        return SsmContext(kms, principal, region, request_id, operation, source_ip=source_ip,
                          secure_transport=secure, ssm=params, secrets=secrets)

    return make_context


def _secrets_context_factory(store: Store) -> Callable[..., SecretsContext]:
    kms, secrets = store.kms, store.secrets

    def make_context(principal: Principal, region: str, request_id: str, operation: str,
                     source_ip: Optional[str], secure: bool) -> SecretsContext:
        return SecretsContext(kms, principal, region, request_id, operation, source_ip=source_ip,
                              secure_transport=secure, secrets=secrets)

    return make_context


def build_protocol(store: Store, verifier: Optional[SigV4Verifier] = None,
                   throttle: Optional[Throttle] = None, admin_account: Optional[str] = None) -> AwsJsonProtocol:
    """`admin_account`: the account whose principals may verify the whole audit trail
    (paramstore/trail/operations.py, VerifyAuditChain); None: nobody."""
    verifier = verifier or build_verifier(store)
    kms, ssm = kms_service(_context_factory(store)), ssm_service(_ssm_context_factory(store))
    kms.quota_of = kms_quota_of()
    ssm.quota_of = ssm_quota_of(store.params)
    secrets = secrets_service(_secrets_context_factory(store))
    secrets.quota_of = secrets_quota
    trail = trail_targets.trail_service(store, admin_account)
    protocol = AwsJsonProtocol([kms, ssm, secrets, trail], verifier, store.sync)
    protocol.throttle = throttle
    return protocol


def build_throttle(settings: Settings) -> Optional[Throttle]:
    """The request quotas, if the operator turned them on (kms_core/protocol/throttling.py)."""
    try:
        overrides = parse_quotas(settings.quotas)
    except ValueError as exc:
        raise StartupError(f"PARAMSTORE_QUOTAS / --quota: {exc}") from None
    if not settings.throttle and not overrides:
        return None
    throttle = Throttle(overrides, share=settings.throttle_share)
    throttle.on_throttled = metrics.throttled
    return throttle


def build_query_protocol(store: Store, verifier: SigV4Verifier) -> AwsQueryProtocol:
    """IAM and STS (AWS query protocol) on the same endpoint, with the same verifier."""
    from kms_core.identity import iam_operations, sts_operations

    make_context = _context_factory(store)
    iam = QueryService("iam", "https://iam.amazonaws.com/doc/2010-05-08/", "iam.amazonaws.com", make_context,
                       dict(iam_operations.OPERATIONS), internal_error_code="ServiceFailure")
    sts = QueryService("sts", "https://sts.amazonaws.com/doc/2011-06-15/", "sts.amazonaws.com", make_context,
                       dict(sts_operations.OPERATIONS), internal_error_code="InternalFailure")
    return AwsQueryProtocol([iam, sts], verifier, store.sync)


class AwsJsonMiddleware:
    """Answers `POST /` with the AWS JSON protocol (or, for a form-encoded body without
    X-Amz-Target, the AWS query protocol: IAM, STS); passes everything else to FastAPI.

    The outermost ASGI app, so AWS requests pay for nothing FastAPI does per request."""

    #: the FastAPI app's state, as on the app it wraps (create_app sets it)
    state: State
    #: counts and times answered requests (paramstore/metrics.py); None with metrics off
    metrics: Optional[metrics.RequestMetrics] = None

    def __init__(self, app: Any, protocol: AwsJsonProtocol, max_body_bytes: int, audit: AuditLog,
                 clock: Any, query_protocol: Optional[AwsQueryProtocol] = None,
                 store: Optional[Store] = None, db_worker: Optional["DatabaseWorker"] = None) -> None:
        self.app = app
        self.store = store
        self.protocol = protocol
        self.query_protocol = query_protocol
        self.max_body = max_body_bytes
        self.audit = audit
        self.clock = clock
        self.db_worker = db_worker or DatabaseWorker()
        for each in (protocol, query_protocol):  # their write transactions carry the request's event
            if each is not None:
                each.audit_log, each.event_of = audit, self._event

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_headers = scope["headers"]
        if len(raw_headers) > MAX_HEADER_COUNT:
            await self._headers_too_large(scope, send)
            return
        if scope["method"] != "POST" or scope["path"] != "/":
            if _header_bytes(scope) > MAX_HEADER_BYTES:
                await self._headers_too_large(scope, send)
                return
            await self.app(scope, receive, _with_request_id(send))
            return
        headers: dict[str, str] = {}
        # the size check rides on the one pass that decodes the headers (the hot path)
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        for raw_name, raw_value in raw_headers:  # ASGI servers give lower-case names
            size += len(raw_name) + len(raw_value) + 4
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = headers[name] + "," + value if name in headers else value
        if size > MAX_HEADER_BYTES:
            await self._headers_too_large(scope, send)
            return
        body = await self._read_body(scope, headers, receive, send)
        if body is None:
            return
        client = scope.get("client")
        source_ip = client[0] if client else None
        protocol: Any = self.protocol
        content_type = CONTENT_TYPE
        if ("x-amz-target" not in headers and self.query_protocol is not None
                and headers.get("content-type", "").startswith(FORM_CONTENT_TYPE)):
            protocol, content_type = self.query_protocol, self.query_protocol.content_type
        args = ("POST", scope.get("raw_path", b"/").decode("latin-1").split("?")[0],
                scope.get("query_string", b"").decode("latin-1"), headers, body, source_ip,
                scope.get("scheme") == "https")
        outcome = None
        db = self.store.db if self.store is not None else None
        if protocol.inline_first(headers) or (db is not None and db.inline_on_loop and not db.worker_busy):
            # On the loop: answered from memory, or (SQLite, worker idle) by statements that
            # never wait; whatever would have to wait raises NeedsDatabase.
            try:
                if db is not None and db.loop_check is not None:
                    # PostgreSQL: the change check, awaited (and shared with the requests
                    # arriving meanwhile) rather than blocking the loop for a round trip
                    db.loop_token = await db.loop_check.token()
                if db is not None:
                    inline_attempt.db, inline_attempt.commits = db, db.commits
                outcome = protocol.handle(*args)
            except NeedsDatabase:
                pass
            finally:
                inline_attempt.db = None
                if db is not None:
                    db.loop_token = None
        if outcome is None:  # the database worker: a stalled query waits there, not here
            outcome = await self.db_worker.run(protocol.handle, *args)
        try:
            if not outcome.audited or outcome.error_code is not None:  # else committed with its change
                await self.audit.append(self._event(outcome, source_ip, headers),
                                        wait=not outcome.database_unavailable)
        except AuditUnavailable:
            self._measure(outcome, started, audit_ok=False)
            if outcome.database_unavailable:
                # The answer is already a retryable error that carries nothing and changed
                # nothing; the database that stalled the request also refused its record.
                log.error("could not record request %s (%s) in the audit trail", outcome.request_id,
                          outcome.error_code)
                await _respond(send, outcome.status, outcome.body, outcome.request_id, content_type=content_type)
                return
            # Fail closed: no answer (no plaintext, no ciphertext) leaves unaudited.
            message = "The request could not be written to the audit trail."
            if protocol is self.query_protocol:
                await _respond(send, 500, protocol.internal_error_body(outcome, message), outcome.request_id,
                               content_type=content_type)
                return
            internal = KMSInternalException if outcome.event_source == "kms.amazonaws.com" else InternalFailure
            error = internal(message)
            await _respond(send, error.http_status, error_body(error), outcome.request_id)
            return
        self._measure(outcome, started)
        await _respond(send, outcome.status, outcome.body, outcome.request_id, content_type=content_type)

    def _measure(self, outcome: Any, started: float, audit_ok: bool = True) -> None:
        """The answered request in the metrics: its count, latency, audit record and any
        database failure.  (A fail-closed refusal counts under the outcome it would have had:
        the audit failure is its own family.)"""
        if self.metrics is None:
            return
        self.metrics.record(outcome.event_source, outcome.event_name, outcome.error_code,
                            time.perf_counter() - started, audit_ok)
        if outcome.database_error is not None:
            metrics.database_error(outcome.database_error)

    def _event(self, outcome: Any, source_ip: Optional[str], headers: dict[str, str]) -> AuditEvent:
        principal = outcome.principal
        region = outcome.region
        if region is None and outcome.error_code is not None:  # refused before the signature checked out
            region = _credential_scope(headers)[1]
        return AuditEvent(
            event_time=self.clock(), request_id=outcome.request_id,
            event_source=outcome.event_source or "paramstore", event_name=outcome.event_name[:128],
            region=region, account_id=principal.account_id if principal else None,
            principal_arn=principal.arn if principal else None, access_key_id=outcome.access_key_id,
            source_ip=source_ip, user_agent=headers.get("user-agent"), resources=outcome.resources,
            encryption_context=outcome.encryption_context, error_code=outcome.error_code,
            detail=getattr(outcome, "detail", None))

    async def _read_body(self, scope: dict, headers: dict[str, str], receive: Any, send: Any) -> Optional[bytes]:
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, headers, send, SerializationException("Invalid Content-Length."))
                return None
            if int(declared) > self.max_body:
                await self._too_large(scope, headers, send)
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, headers, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: dict, headers: dict[str, str], send: Any) -> None:
        error = RequestEntityTooLargeException(f"Request body is larger than {self.max_body} bytes.")
        await self._refuse(scope, headers, send, error)

    async def _headers_too_large(self, scope: dict, send: Any) -> None:
        count = len(scope["headers"])
        error = RequestHeaderSectionTooLarge(
            f"Request headers exceed the limit of {MAX_HEADER_COUNT} headers and {MAX_HEADER_BYTES} bytes.")
        # Only the few headers the event names, each cut short: nothing else is decoded.
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            if raw_name in _REFUSAL_HEADERS:
                name = raw_name.decode("latin-1")
                if name not in headers:
                    headers[name] = raw_value[:2048].decode("latin-1")
        await self._refuse(scope, headers, send, error, {"headerCount": count, "headerBytes": _header_bytes(scope)})

    async def _refuse(self, scope: dict, headers: dict[str, str], send: Any, error: AwsError,
                      detail: Optional[dict] = None) -> None:
        """Answer a request refused before it reaches a service, after recording it like any
        other (CloudTrail records refused calls too): the error code, source IP, user agent,
        and the access key id, region and operation the request claims.  Never the body, the
        signature or a session token."""
        request_id = new_request_id()
        target = headers.get("x-amz-target", "")
        prefix, operation = split_target(target, _TARGET_SOURCES)
        service, region = _credential_scope(headers)
        if target:  # as the protocol would have recorded it
            source = _TARGET_SOURCES.get(prefix, "paramstore")
        else:
            source = _SIGNING_SOURCES.get(service or "", "paramstore")
        client = scope.get("client")
        event = AuditEvent(
            event_time=self.clock(), request_id=request_id, event_source=source,
            event_name=(operation or target or _query_action(scope) or "(none)")[:128], region=region,
            access_key_id=access_key_of(headers), source_ip=client[0] if client else None,
            user_agent=headers.get("user-agent"), error_code=error.code,
            detail={"errorMessage": error.message, **(detail or {})})
        audit_ok = True
        try:
            await self.audit.append(event)
        except AuditUnavailable:
            # Failing closed changes nothing here: the answer is a refusal that carries no data.
            log.error("could not record refused request %s (%s) in the audit trail", request_id, error.code)
            audit_ok = False
        if self.metrics is not None:
            self.metrics.record(source, event.event_name, error.code, 0.0, audit_ok)
        await _respond(send, error.http_status, error_body(error), request_id, close=True)


def _header_bytes(scope: dict) -> int:
    """The request target plus every header line, as MAX_HEADER_BYTES counts them."""
    headers = scope["headers"]
    return (len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 4 * len(headers)
            + sum([len(name) + len(value) for name, value in headers]))


def _credential_scope(headers: dict[str, str]) -> tuple[Optional[str], Optional[str]]:
    """(service, region) from the SigV4 credential scope the request claims, if any."""
    auth = headers.get("authorization", "")
    start = auth.find("Credential=")
    if start < 0:
        return None, None
    parts = auth[start + 11:start + 11 + 512].split(",", 1)[0].split("/")
    if len(parts) < 4:
        return None, None
    return parts[3].strip() or None, parts[2].strip() or None


def _query_action(scope: dict) -> Optional[str]:
    """The Action of a query-protocol request (IAM, STS) when it is in the URL; the body, where
    it usually is, is not read for a refused request."""
    query = scope.get("query_string") or b""
    if b"Action=" not in query:
        return None
    from urllib.parse import parse_qs

    action = parse_qs(query.decode("latin-1")).get("Action", [""])[0]
    return action if action.isalnum() else None


def _with_request_id(send: Any) -> Any:
    """Every response carries x-amzn-RequestId, FastAPI's (health, 404s) included."""
    request_id = new_request_id().encode()

    async def send_with_id(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-amzn-requestid", request_id)]}
        await send(message)

    return send_with_id


async def _respond(send: Any, status: int, body: bytes, request_id: str = "", close: bool = False,
                   content_type: str = CONTENT_TYPE) -> None:
    if not request_id:
        request_id = new_request_id()
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings, runtime: Optional[Runtime] = None,
               store: Optional[Store] = None) -> AwsJsonMiddleware:
    """The ASGI app: AWS JSON on `POST /` in front of a FastAPI app (`.app`) for the rest."""
    store = store or open_store(settings, runtime)
    verifier = build_verifier(store)
    protocol = build_protocol(store, verifier, build_throttle(settings), admin_account=settings.account_id)
    query_protocol = build_query_protocol(store, verifier)

    audit = AuditLog(store.db, store.root, store.kms.clock, fail_closed=settings.audit_fail_closed)
    audit.claim_chain()  # a chain of this process's own: workers don't contend for one head
    store.db.audit_log = audit  # the service's own changes (deletions, rotations, expirations)
    worker = DatabaseWorker(store.db)
    audit.worker = worker
    store.db.inline_on_loop = store.db.is_sqlite  # see paramstore/db_worker.py
    request_metrics = metrics.RequestMetrics(_operations(protocol, query_protocol)) if settings.metrics else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # From here on, database work on this (the event loop's) thread raises NeedsDatabase.
        store.db.loop_thread = threading.get_ident()
        if store.secrets is not None:  # rotations do their database work on the worker too
            store.secrets.rotations.use_worker(worker, asyncio.get_running_loop())
        tasks = [asyncio.create_task(_sweeper(store, worker, audit, settings.sweep_interval_seconds))]
        if request_metrics is not None:
            tasks.append(asyncio.create_task(_flush_metrics(request_metrics)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if store.secrets is not None:
                store.secrets.rotations.use_worker(None, None)
            worker.close()
            store.db.loop_thread = None
            audit.close()
            store.close()

    app = FastAPI(title="paramstore", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health", response_model=None)  # a response model would cost the start 15 ms (pydantic.v1)
    def health() -> dict:
        """Liveness: the process answers (it never touches the database)."""
        return {"status": "ok", "version": __version__}

    readiness = Readiness(store)

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        """Readiness: the database answers, its schema is this release's, and the root key
        loaded is the store's.  A plain `def`: FastAPI runs it on its thread pool, so a
        stalled database delays this probe (up to the database timeout), not the server."""
        reason = readiness.problem()
        if reason is not None:
            return JSONResponse({"status": "unavailable", "reason": reason, "version": __version__}, status_code=503)
        return JSONResponse({"status": "ready", "version": __version__})

    if request_metrics is not None:
        _install_metrics(app, store, request_metrics, on_main_port=settings.metrics_port is None)

    app.state.store = store
    wrapped = AwsJsonMiddleware(app, protocol, settings.max_body_bytes, audit, store.kms.clock, query_protocol,
                                store, worker)
    _install_console(app, wrapped, store, protocol, query_protocol, verifier, worker, audit)
    wrapped.state = app.state
    wrapped.metrics = request_metrics
    return wrapped


#: the Region the console's sign-in form offers first
DEFAULT_CONSOLE_REGION = "us-east-1"


def _install_console(app: FastAPI, wrapped: "AwsJsonMiddleware", store: Store, protocol: AwsJsonProtocol,
                     query_protocol: AwsQueryProtocol, verifier: SigV4Verifier, worker: DatabaseWorker,
                     audit: AuditLog) -> None:
    """The web console at /console (paramstore/console): the API's operations, as the
    signed-in principal."""
    from paramstore.console.backend import Backend
    from paramstore.console.routes import console_router
    from paramstore.console.sessions import Sessions
    from paramstore.console.signin import AttemptLimiter
    from paramstore.console.web import framework_errors_carry_the_headers

    backend = Backend(protocol, query_protocol, worker, audit, wrapped._event, store.kms.identities.lookup)
    sessions = Sessions(store.kms.runtime.wall_clock)
    limiter = AttemptLimiter()
    app.state.console_sessions, app.state.console_limiter = sessions, limiter
    framework_errors_carry_the_headers(app)
    app.include_router(console_router(backend, sessions, limiter, verifier, audit, store.kms.clock,
                                      DEFAULT_CONSOLE_REGION))


def _install_metrics(app: FastAPI, store: Store, request_metrics: metrics.RequestMetrics,
                     on_main_port: bool) -> None:
    """Count the key cache, mark the build, and (unless --metrics-port gives them a port
    of their own) answer scrapes on GET /metrics."""
    key_cache = request_metrics.key_cache
    store.kms.on_key_cache_hit, store.kms.on_key_cache_miss = key_cache.hit, key_cache.miss
    metrics.mark_build()
    if not on_main_port:
        return

    @app.get("/metrics", response_model=None)
    async def scrape() -> Response:
        """Prometheus text format.  On the event loop, where requests are counted, so this
        process's counts are moved in first; under workers it reads their files (small)."""
        request_metrics.flush()
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


def _operations(protocol: AwsJsonProtocol, query_protocol: AwsQueryProtocol) -> set[tuple[str, str]]:
    """(service label, operation) for every operation served: the metrics' label set."""
    pairs = {(service.signing_name, name) for service in protocol.services() for name in service.operations}
    pairs |= {(service.signing_name, name) for service in query_protocol.services() for name in service.operations}
    return pairs


async def _flush_metrics(request_metrics: metrics.RequestMetrics) -> None:
    """The counts into the metric families every second: under workers, the other workers'
    scrapes read them from the files; with --metrics-port, that port's thread does."""
    try:
        while True:
            await asyncio.sleep(metrics.FLUSH_SECONDS)
            request_metrics.flush()
    finally:
        request_metrics.flush()  # what was counted before the stop


async def _sweeper(store: Store, worker: DatabaseWorker, audit: AuditLog, interval: float) -> None:
    """Due key deletions and rotations, and parameter expirations and notifications,
    happen on time even when no request comes in; so do the audit outbox's chores (SQLite:
    moved records put on disk, records nobody moved moved)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await worker.run(store.sync)  # what it changes is recorded in the same transactions
        except Exception:
            log.exception("periodic maintenance failed; will retry")
        try:
            await worker.run(audit.sweep_outbox)
        except Exception:
            log.exception("audit outbox sweep failed; will retry")
        await _finish_root_rotation(store, worker)


async def _finish_root_rotation(store: Store, worker: DatabaseWorker) -> None:
    """An unfinished root-key rotation (its command stopped, or ran with --no-wait) is
    finished here, a batch at a time, yielding between batches so requests keep going."""
    from kms_core.storage.root_rotation import finish_step
    from kms_core.storage.root_versions import RewrapCursor

    cursor = RewrapCursor()
    while True:
        try:
            step = await worker.run(lambda: finish_step(store.db, store.root, store.kms.clock, "paramstore",
                                                        cursor=cursor))
        except Exception:
            log.exception("root-key rewrap failed; will retry")
            return
        if step is None or step.stuck:
            if step is not None:
                log.warning("root-key rotation: %s", step.stuck)
            return
        if step.retired:
            log.warning("root key version(s) %s retired: no value needs them", step.retired)
        await asyncio.sleep(0.01)


#: where `serve --workers N` hands its settings to the worker processes (JSON, no secrets)
WORKER_SETTINGS_ENV = "PARAMSTORE_WORKER_SETTINGS"


def _log_setup(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def worker_app() -> AwsJsonMiddleware:
    """A worker process's app under `serve --workers N` (uvicorn imports this factory in
    each process it starts, and restarts a worker that dies)."""
    import os

    settings = Settings.of_worker(os.environ[WORKER_SETTINGS_ENV])
    _log_setup(settings)
    return create_app(settings)


def run(settings: Settings) -> None:
    _log_setup(settings)
    # SIGTERM/SIGINT: stop accepting, let in-flight requests finish for up to the grace
    # period, then exit 0 (uvicorn's graceful shutdown).  uvicorn re-raises the signal it
    # caught once it is done, to the handler it found: this one makes that a plain return,
    # so a drained SIGTERM exits 0 rather than by the signal.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port, loop="uvloop", http="httptools", access_log=settings.access_log,
        log_level=settings.log_level, server_header=False, proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    try:
        options.update(tls.uvicorn_options(settings))
    except tls.TlsError as exc:
        raise StartupError(str(exc)) from None
    scheme = "https" if "ssl_certfile" in options else "http"
    build_throttle(settings)  # a bad --quota stops the start here, not in every worker
    with _metrics_serving(settings):
        _serve(settings, options, scheme)


@contextlib.contextmanager
def _metrics_serving(settings: Settings) -> Any:
    """Under workers, a directory for their metrics (made before they start, removed
    after they stop); with --metrics-port, the scrape server on its own port."""
    import os
    import shutil
    import tempfile

    made = None
    if settings.metrics and settings.workers > 1 and metrics.multiprocess_dir() is None:
        made = tempfile.mkdtemp(prefix="paramstore-metrics-")
        os.environ[metrics.MULTIPROCESS_ENV] = made
    stop = None
    try:
        if settings.metrics and settings.metrics_port is not None:
            try:
                stop = metrics.serve_separately(settings.host, settings.metrics_port)
            except OSError as exc:
                raise StartupError(f"cannot serve metrics on port {settings.metrics_port}: {exc.strerror}") from None
            log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
        yield
    finally:
        if stop is not None:
            stop()
        if made is not None:
            os.environ.pop(metrics.MULTIPROCESS_ENV, None)
            shutil.rmtree(made, ignore_errors=True)


def _serve(settings: Settings, options: dict[str, Any], scheme: str) -> None:
    import uvicorn

    if settings.workers > 1:
        # Migrations, bootstrap and the seed run once, here, before any worker starts; each
        # worker then opens the store as one more server process on the same database
        # (caches stay coherent through the store's epochs, as across separate servers).
        import os

        store = open_store(settings)
        database = "sqlite" if store.db.is_sqlite else "postgresql"
        store.close()
        os.environ[WORKER_SETTINGS_ENV] = settings.for_workers()
        log.info("paramstore %s listening on %s://%s:%d with %d workers (database: %s)", __version__, scheme,
                 settings.host, settings.port, settings.workers, database)
        uvicorn.run("paramstore.server:worker_app", factory=True, workers=settings.workers, **options)
        return
    app = create_app(settings)
    log.info("paramstore %s listening on %s://%s:%d (database: %s)", __version__, scheme, settings.host,
             settings.port, "sqlite" if app.state.store.db.is_sqlite else "postgresql")
    uvicorn.run(app, **options)
