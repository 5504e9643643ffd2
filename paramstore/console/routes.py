"""The console's pages under /console: sign-in, sign-out, the parameter folders and a
parameter's page.  Every page is server-rendered (Jinja2, autoescaped: names, values,
tags and descriptions are attacker-controlled text) and readable without JavaScript;
htmx is served from here, pinned, for the parts that update in place.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kms_core.audit import AuditEvent
from paramstore.console.backend import CONSOLE_AGENT, Backend, ConsoleError, Failure
from paramstore.console.sessions import ConsoleSession, Sessions
from paramstore.console.signin import AttemptLimiter, SignInRefused, verify_credentials

HERE = Path(__file__).parent
HTMX = "htmx-2.0.11.min.js"
STATIC = {HTMX: "text/javascript", "console.js": "text/javascript", "console.css": "text/css"}
COOKIE, PRE_COOKIE = "ps_console", "ps_console_signin"
MAX_FORM_BYTES = 16 * 1024
#: how many DescribeParameters pages a folder view reads to find its sub-folders
FOLDER_SCAN_PAGES = 4

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

_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


def console_router(backend: Backend, sessions: Sessions, limiter: AttemptLimiter, verifier: Any, audit: Any,
                   clock: Any, default_region: str) -> APIRouter:
    router = APIRouter(prefix="/console")

    def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = _templates.get_template(template).render(htmx=HTMX, **values)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def redirect(to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)

    async def signed_in(request: Request) -> Optional[tuple[ConsoleSession, Any]]:
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        principal = await backend.principal(session.access_key_id, session.session_token)
        if principal is None:  # the key was deactivated or deleted: the session ends with it
            sessions.close(request.cookies.get(COOKIE))
            return None
        return session, principal

    async def call(request: Request, who: tuple[ConsoleSession, Any], target: str, body: dict) -> dict:
        session, principal = who
        return await backend.call(principal, session.access_key_id, session.region, target, body,
                                  _source(request), request.url.scheme == "https")

    @router.get("")
    async def home(request: Request) -> Response:
        return redirect("/console/parameters" if await signed_in(request) else "/console/signin")

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404, headers=SECURITY_HEADERS)
        headers = dict(SECURITY_HEADERS, **{"Cache-Control": "public, max-age=86400"})
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name], headers=headers)

    @router.get("/signin")
    async def signin_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = page("signin.html", token=token, region=default_region, error=None)
        _set_cookie(response, request, PRE_COOKIE, token, max_age=600)
        return response

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        form = await _form(request)
        source = _source(request) or "unknown"
        token = request.cookies.get(PRE_COOKIE)
        if not token or not secrets.compare_digest(token, form.get("token", "")):
            return page("signin.html", status=403, token="", region=default_region,
                        error=Failure("InvalidRequest", "The sign-in form expired. Reload the page and try again."))
        region = form.get("region") or default_region
        if limiter.blocked(source):
            await _record_signin(audit, clock, request, form.get("access_key_id", ""), None, region, "Throttling")
            return page("signin.html", status=429, token=token, region=region,
                        error=Failure("ThrottlingException", "Too many sign-in attempts. Wait a minute."))
        access_key_id = form.get("access_key_id", "").strip()
        session_token = form.get("session_token", "").strip() or None
        try:
            principal = await backend.run(verify_credentials, verifier, access_key_id, form.get("secret", ""),
                                          session_token, region)
        except SignInRefused as exc:
            limiter.failed(source)
            await _record_signin(audit, clock, request, access_key_id, None, region, "SignInRefused")
            return page("signin.html", status=401, token=token, region=region,
                        error=Failure("SignInRefused", str(exc)))
        cookie, _ = sessions.open(access_key_id, session_token, principal.account_id, principal.arn, region)
        await _record_signin(audit, clock, request, access_key_id, principal, region, None)
        response = redirect("/console/parameters")
        _set_cookie(response, request, COOKIE, cookie)
        response.delete_cookie(PRE_COOKIE, path="/console")
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        form = await _form(request)
        session = sessions.get(request.cookies.get(COOKIE))
        if session is not None and not session.csrf_ok(form.get("csrf")):
            return page("error.html", status=403, session=session,
                        error=Failure("InvalidCsrfToken", "The request did not carry this session's token."))
        sessions.close(request.cookies.get(COOKIE))
        response = redirect("/console/signin")
        response.delete_cookie(COOKIE, path="/console")
        return response

    @router.get("/parameters")
    async def parameters(request: Request, path: str = "/", next: Optional[str] = None) -> Response:
        who = await signed_in(request)
        if who is None:
            return redirect("/console/signin")
        path = "/" + path.strip("/") + ("/" if path.strip("/") else "")
        try:
            folders = await _subfolders(request, who, call, path)
            listing = await call(request, who, "AmazonSSM.DescribeParameters", _one_level(path, next))
        except ConsoleError as exc:
            return page("error.html", status=400, session=who[0], error=exc.failure)
        return page("parameters.html", session=who[0], path=path, crumbs=_crumbs(path), folders=folders,
                    parameters=listing.get("Parameters", []), next_token=listing.get("NextToken"), quote=quote)

    @router.get("/parameter")
    async def parameter(request: Request, name: str) -> Response:
        who = await signed_in(request)
        if who is None:
            return redirect("/console/signin")
        try:
            described = await call(request, who, "AmazonSSM.DescribeParameters", {
                "ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": [name]}]})
            history = await call(request, who, "AmazonSSM.GetParameterHistory", {"Name": name, "MaxResults": 50})
            tags = await call(request, who, "AmazonSSM.ListTagsForResource",
                              {"ResourceType": "Parameter", "ResourceId": name})
        except ConsoleError as exc:
            return page("error.html", status=400, session=who[0], error=exc.failure)
        found = described.get("Parameters", [])
        if not found:
            return page("error.html", status=404, session=who[0],
                        error=Failure("ParameterNotFound", f"Parameter {name} not found."))
        versions = history.get("Parameters", [])
        for version in versions:  # values are shown only through an explicit, audited reveal
            if version.get("Type") == "SecureString":
                version.pop("Value", None)
        return page("parameter.html", session=who[0], meta=found[0], versions=list(reversed(versions)),
                    tags=tags.get("TagList", []), quote=quote)

    @router.get("/keys")
    async def keys(request: Request, marker: Optional[str] = None) -> Response:
        """KMS keys of the Region: each described (state, spec, manager) with its aliases."""
        who = await signed_in(request)
        if who is None:
            return redirect("/console/signin")
        try:
            listed = await call(request, who, "TrentService.ListKeys", {"Limit": 50, **({"Marker": marker}
                                                                                       if marker else {})})
            aliases = await call(request, who, "TrentService.ListAliases", {"Limit": 100})
            rows = []
            for entry in listed.get("Keys", []):
                try:
                    meta = (await call(request, who, "TrentService.DescribeKey",
                                       {"KeyId": entry["KeyArn"]}))["KeyMetadata"]
                except ConsoleError as exc:  # a key the principal may list but not describe
                    meta = {"KeyId": entry["KeyId"], "Arn": entry["KeyArn"], "KeyState": exc.failure.code}
                rows.append(meta)
        except ConsoleError as exc:
            return page("error.html", status=400, session=who[0], error=exc.failure)
        by_key: dict[str, list[str]] = {}
        for alias in aliases.get("Aliases", []):
            if alias.get("TargetKeyId"):
                by_key.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        return page("keys.html", session=who[0], keys=rows, aliases=by_key, quote=quote,
                    next_marker=listed.get("NextMarker") if listed.get("Truncated") else None)

    @router.get("/key")
    async def key(request: Request, id: str) -> Response:
        """One key: metadata, policy, rotation and tags (read-only for now)."""
        who = await signed_in(request)
        if who is None:
            return redirect("/console/signin")
        try:
            meta = (await call(request, who, "TrentService.DescribeKey", {"KeyId": id}))["KeyMetadata"]
            policy = await call(request, who, "TrentService.GetKeyPolicy", {"KeyId": meta["Arn"],
                                                                            "PolicyName": "default"})
            tags = await call(request, who, "TrentService.ListResourceTags", {"KeyId": meta["Arn"]})
        except ConsoleError as exc:
            return page("error.html", status=400, session=who[0], error=exc.failure)
        rotation = None
        if meta.get("KeySpec") == "SYMMETRIC_DEFAULT" and meta.get("Origin") == "AWS_KMS":
            try:
                rotation = await call(request, who, "TrentService.GetKeyRotationStatus", {"KeyId": meta["Arn"]})
            except ConsoleError:
                rotation = None
        return page("key.html", session=who[0], meta=meta, policy=policy.get("Policy", ""),
                    tags=tags.get("Tags", []), rotation=rotation)

    @router.post("/parameter/reveal")
    async def reveal(request: Request) -> Response:
        """One version's SecureString value, on an explicit, CSRF-checked request: it is a
        GetParameter WithDecryption as the principal, so it is authorized and audited
        like any SDK read.  htmx gets the value alone to swap in (hidden again after a
        while by console.js); without JavaScript, a page with the value."""
        who = await signed_in(request)
        if who is None:
            return redirect("/console/signin")
        form = await _form(request)
        if not who[0].csrf_ok(form.get("csrf")):
            return page("error.html", status=403, session=who[0],
                        error=Failure("InvalidCsrfToken", "The request did not carry this session's token."))
        name, version = form.get("name", ""), form.get("version", "")
        selector = f"{name}:{version}" if version.isdigit() else name
        try:
            out = await call(request, who, "AmazonSSM.GetParameter", {"Name": selector, "WithDecryption": True})
        except ConsoleError as exc:
            if request.headers.get("hx-request"):
                return page("fragment_error.html", status=200, error=exc.failure)
            return page("error.html", status=400, session=who[0], error=exc.failure)
        value = out["Parameter"]["Value"]
        if request.headers.get("hx-request"):
            return page("fragment_value.html", value=value)
        return page("revealed.html", session=who[0], name=name, version=out["Parameter"]["Version"], value=value,
                    quote=quote)

    return router


async def _subfolders(request: Request, who: Any, call: Any, path: str) -> list[str]:
    """The next path segments below `path` among its first few pages of descendants."""
    folders: set[str] = set()
    body: dict = {"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": [path.rstrip("/") or "/"]}],
                  "MaxResults": 50}
    for _ in range(FOLDER_SCAN_PAGES):
        out = await call(request, who, "AmazonSSM.DescribeParameters", body)
        for p in out.get("Parameters", []):
            rest = p["Name"][len(path):] if p["Name"].startswith(path) else ""
            if "/" in rest:
                folders.add(rest.split("/", 1)[0])
        if not out.get("NextToken"):
            break
        body = dict(body, NextToken=out["NextToken"])
    return sorted(folders)


def _one_level(path: str, next_token: Optional[str]) -> dict:
    body: dict = {"ParameterFilters": [{"Key": "Path", "Option": "OneLevel", "Values": [path.rstrip("/") or "/"]}],
                  "MaxResults": 50}
    if next_token:
        body["NextToken"] = next_token
    return body


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [(part, "/" + "/".join(parts[:i + 1]) + "/") for i, part in enumerate(parts)]


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=20).items()}


def _source(request: Request) -> Optional[str]:
    return request.client.host if request.client else None


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
        source_ip=_source(request), user_agent=CONSOLE_AGENT, error_code=error_code))
