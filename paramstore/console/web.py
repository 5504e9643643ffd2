"""What every console page shares: rendering with the security headers, the signed-in
visit (session + principal, resolved again on every request), CSRF on every POST, and AWS
errors shown in the page.  Page modules (paramstore/console/pages/) register plain
`async def view(visit) -> Response` functions through `Site.page`; the checks live here,
once, so no page can forget one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from paramstore.console.backend import Backend, ConsoleError, Failure
from paramstore.console.sessions import ConsoleSession, Sessions

HERE = Path(__file__).parent
HTMX = "htmx-2.0.11.min.js"
COOKIE = "ps_console"
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 40

#: every console response: nothing inline, nothing framed, nothing sniffed or cached
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

#: HTTP status of a page showing an AWS error (the API's own status would do as well; these
#: are the ones a person tells apart)
_STATUS_OF = {"AccessDeniedException": 403, "AccessDenied": 403, "InvalidCsrfToken": 403,
              "NotFoundException": 404, "ParameterNotFound": 404, "ResourceNotFoundException": 404}

_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
_templates.globals["quote"] = quote


def when(value: Any) -> str:
    """An AWS JSON timestamp (epoch seconds) as people read it, in UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


_templates.filters["when"] = when


def render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    body = _templates.get_template(template).render(htmx=HTMX, **values)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form (first value of each field); an oversized one reads as empty,
    and is never read past the limit (a declared length over it is not read at all)."""
    declared = request.headers.get("content-length", "")
    if declared and (number(declared) is None or int(declared) > MAX_FORM_BYTES):
        return {}
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return {}
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS, keep_blank_values=True)
    except ValueError:  # more fields than allowed
        return {}
    return {k: v[0] for k, v in fields.items()}


def number(text: str) -> Optional[int]:
    """A form's whole number ("7"), or None: ASCII digits only ("²".isdigit() is true)."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text or "") else None


def source_of(request: Request) -> Optional[str]:
    return request.client.host if request.client else None


@dataclass
class Visit:
    """One request of a signed-in person: what a page needs to call the API as them."""

    request: Request
    session: ConsoleSession
    principal: Any
    backend: Backend
    form: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        """A query or form field (the form wins), as text."""
        return self.form.get(name) or self.request.query_params.get(name) or default

    async def call(self, target: str, body: dict, region: Optional[str] = None) -> dict:
        """`target` as the signed-in principal (in the session's Region unless told)."""
        return await self.backend.call(self.principal, self.session.access_key_id, region or self.session.region,
                                       target, body, source_of(self.request), self.request.url.scheme == "https")

    async def query(self, service: str, action: str, params: Optional[dict] = None) -> Any:
        """An IAM or STS action ("iam", "ListUsers") as the signed-in principal."""
        return await self.backend.call_query(self.principal, self.session.access_key_id, self.session.region,
                                             service, action, params or {}, source_of(self.request),
                                             self.request.url.scheme == "https")

    @property
    def htmx(self) -> bool:
        return bool(self.request.headers.get("hx-request"))

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(template, status, session=self.session, **values)

    def failed(self, failure: Failure) -> HTMLResponse:
        status = _STATUS_OF.get(failure.code, 400)
        if self.htmx:  # htmx swaps 2xx only: the error replaces the part that asked
            return render("fragment_error.html", 200, error=failure)
        return self.page("error.html", status, error=failure)


View = Callable[[Visit], Awaitable[Response]]


def framework_errors_carry_the_headers(app: Any) -> None:
    """The framework's own answers under /console (404 for an unknown page, 405) carry the
    security headers too: every console response does."""
    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException

    async def handler(request: Request, exc: Exception) -> Response:
        response = await http_exception_handler(request, exc)  # type: ignore[arg-type]  # registered for HTTPException only
        if request.url.path.startswith("/console"):
            response.headers.update(SECURITY_HEADERS)
        return response

    app.add_exception_handler(HTTPException, handler)


class Site:
    """The console's router plus the one place that signs visits in and checks CSRF."""

    def __init__(self, backend: Backend, sessions: Sessions) -> None:
        self.backend, self.sessions = backend, sessions
        self.router = APIRouter(prefix="/console")

    async def visit(self, request: Request) -> Optional[Visit]:
        """The signed-in visit, or None (no session, expired, or its key no longer works:
        the principal is resolved again on every request, so a deactivated key ends it)."""
        cookie = request.cookies.get(COOKIE)
        session = self.sessions.get(cookie)
        if session is None:
            return None
        principal = await self.backend.principal(session.access_key_id, session.session_token)
        if principal is None:
            self.sessions.close(cookie)
            return None
        return Visit(request, session, principal, self.backend)

    def page(self, path: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[View], View]:
        """Register a view that needs a signed-in visit.  POSTs must carry the session's CSRF
        token; an AWS error a view lets through is shown in the page."""

        def register(view: View) -> View:
            async def endpoint(request: Request) -> Response:
                started = time.perf_counter()
                response = await serve(request)
                # the server's own time for the page (a browser's dev tools show it; the
                # console benchmark reads it)
                response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
                return response

            async def serve(request: Request) -> Response:
                visit = await self.visit(request)
                if visit is None:
                    if request.method == "POST" and request.headers.get("hx-request"):
                        return render("fragment_error.html", 200, error=Failure(
                            "SessionExpired", "Your session ended. Sign in again."))
                    return redirect("/console/signin")
                if request.method == "POST":
                    visit.form = await read_form(request)
                    if not visit.session.csrf_ok(visit.form.get("csrf")):
                        return visit.failed(Failure("InvalidCsrfToken",
                                                    "The request did not carry this session's token."))
                try:
                    return await view(visit)
                except ConsoleError as exc:
                    return visit.failed(exc.failure)

            endpoint.__name__ = view.__name__
            self.router.add_api_route(path, endpoint, methods=list(methods), include_in_schema=False)
            return view

        return register
