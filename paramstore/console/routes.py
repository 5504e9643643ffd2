"""The console under /console: sign-in, sign-out, the Region switch and static files;
the pages are in paramstore/console/pages/.  Every page is server-rendered (Jinja2,
autoescaped: names, values, tags and descriptions are attacker-controlled text) and
readable without JavaScript; htmx is served from here, pinned, for the parts that update
in place.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kms_core.audit import AuditEvent
from kms_core.domain.arn import REGION_NAME
from paramstore.console.backend import CONSOLE_AGENT, Backend, ConsoleError, Failure
from paramstore.console.pages import audit as audit_pages
from paramstore.console.pages import identity, keys, parameters
from paramstore.console.pages import secrets as secret_pages
from paramstore.console.sessions import Sessions, SessionsFull
from paramstore.console.signin import AttemptLimiter, SignInRefused, verify_credentials
from paramstore.console.web import (COOKIE, HERE, HTMX, SECURITY_HEADERS, Site, Visit, read_form, redirect, render,
                                    source_of)

STATIC = {HTMX: "text/javascript", "console.js": "text/javascript", "console.css": "text/css"}
PRE_COOKIE = "ps_console_signin"


def console_router(backend: Backend, sessions: Sessions, limiter: AttemptLimiter, verifier: Any, audit: Any,
                   clock: Any, default_region: str) -> APIRouter:
    site = Site(backend, sessions)
    router = site.router

    @router.get("")
    async def home(request: Request) -> Response:
        return redirect("/console/parameters" if await site.visit(request) else "/console/signin")

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404, headers=SECURITY_HEADERS)
        headers = dict(SECURITY_HEADERS, **{"Cache-Control": "public, max-age=86400"})
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name], headers=headers)

    @router.get("/signin")
    async def signin_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = render("signin.html", token=token, region=default_region, error=None)
        _set_cookie(response, request, PRE_COOKIE, token, max_age=600)
        return response

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        form = await read_form(request)
        source = source_of(request) or "unknown"
        token = request.cookies.get(PRE_COOKIE)
        if not token or not secrets.compare_digest(token.encode(), form.get("token", "").encode()):
            return render("signin.html", status=403, token="", region=default_region,
                        error=Failure("InvalidRequest", "The sign-in form expired. Reload the page and try again."))
        region = form.get("region") or default_region
        if limiter.blocked(source):
            await _record_signin(audit, clock, request, form.get("access_key_id", ""), None, region, "Throttling")
            return render("signin.html", status=429, token=token, region=region,
                        error=Failure("ThrottlingException", "Too many sign-in attempts. Wait a minute."))
        access_key_id = form.get("access_key_id", "").strip()
        session_token = form.get("session_token", "").strip() or None
        try:
            principal = await backend.run(verify_credentials, verifier, access_key_id, form.get("secret", ""),
                                          session_token, region)
        except SignInRefused as exc:
            limiter.failed(source)
            await _record_signin(audit, clock, request, access_key_id, None, region, "SignInRefused")
            return render("signin.html", status=401, token=token, region=region,
                        error=Failure("SignInRefused", str(exc)))
        sessions.close(request.cookies.get(COOKIE))  # a new sign-in ends the session this browser had
        try:
            cookie, _ = sessions.open(access_key_id, session_token, principal.account_id, principal.arn, region)
        except SessionsFull as exc:
            return render("signin.html", status=503, token=token, region=region,
                          error=Failure("ServiceUnavailable", str(exc)))
        await _record_signin(audit, clock, request, access_key_id, principal, region, None)
        response = redirect("/console/parameters")
        _set_cookie(response, request, COOKIE, cookie)
        response.delete_cookie(PRE_COOKIE, path="/console")
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        form = await read_form(request)
        session = sessions.get(request.cookies.get(COOKIE))
        if session is not None and not session.csrf_ok(form.get("csrf")):
            return render("error.html", status=403, session=session,
                        error=Failure("InvalidCsrfToken", "The request did not carry this session's token."))
        sessions.close(request.cookies.get(COOKIE))
        response = redirect("/console/signin")
        response.delete_cookie(COOKIE, path="/console")
        return response

    @site.page("/region", ("POST",))
    async def switch_region(visit: Visit) -> Response:
        """The session's Region: every page after this one lists and acts there."""
        region = visit.form.get("region", "").strip()
        if not REGION_NAME.fullmatch(region):
            raise ConsoleError(Failure("ValidationException", "That is not a Region name (such as eu-west-1)."))
        visit.session.region = region
        back = visit.form.get("back", "")
        return redirect(back if back.startswith("/console/") and "//" not in back else "/console/parameters")

    @site.page("/switch-role", ("POST",))
    async def switch_role(visit: Visit) -> Response:
        """AWS's "Switch role": AssumeRole as the signed-in principal (its own or another
        account's role, as the role's trust policy allows); the console then acts with the
        role session's credentials until it expires.  The session keeps the access key id
        and session token, never the temporary secret."""
        out = await visit.query("sts", "AssumeRole", {
            "RoleArn": visit.form.get("role_arn", "").strip(),
            "RoleSessionName": visit.form.get("session_name", "").strip() or "console"})
        credentials = out["Credentials"]
        principal = await backend.principal(credentials["AccessKeyId"], credentials["SessionToken"])
        if principal is None:
            raise ConsoleError(Failure("ExpiredTokenException", "The role session could not be used."))
        sessions.close(visit.request.cookies.get(COOKIE))
        try:  # the console session still ends when the sign-in's would have
            cookie, _ = sessions.open(credentials["AccessKeyId"], credentials["SessionToken"], principal.account_id,
                                      principal.arn, visit.session.region, created=visit.session.created)
        except SessionsFull as exc:
            raise ConsoleError(Failure("ServiceUnavailable", str(exc))) from None
        response = redirect("/console/identity")
        _set_cookie(response, visit.request, COOKIE, cookie)
        return response

    for pages in (parameters, keys, secret_pages, audit_pages, identity):
        pages.register(site)
    return router


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: Optional[int] = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


async def _record_signin(audit: Any, clock: Any, request: Request, access_key_id: str, principal: Any,
                         region: str, error_code: Optional[str]) -> None:
    """Every sign-in attempt, as AWS records ConsoleLogin (the key id, never the secret)."""
    await audit.append(AuditEvent(
        event_time=clock(), request_id=secrets.token_hex(16), event_source="signin.paramstore",
        event_name="ConsoleLogin",
        region=region[:32], account_id=principal.account_id if principal else None,
        principal_arn=principal.arn if principal else None, access_key_id=access_key_id[:128] or None,
        source_ip=source_of(request), user_agent=CONSOLE_AGENT, error_code=error_code))
