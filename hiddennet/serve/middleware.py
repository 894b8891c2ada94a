"""The one middleware every request goes through: Host check, actor (bearer token or server-held
session), sign-in throttling of bearer tokens, CSRF on state-changing requests, security headers,
any failure as a plain page (a 500 logged with a correlation id only), and exactly one audit event.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from hiddennet.serve import security as sec
from hiddennet.serve.context import Dashboard, dash
from hiddennet.serve.csrf import UNSAFE_METHODS, csrf_ok, new_anonymous_token
from hiddennet.serve.sessions import Session
from hiddennet.serve.throttle import throttle_keys

log = logging.getLogger("hiddennet.serve")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
STATIC_CACHE = "private, max-age=3600"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def host_allowed(d: Dashboard, request: Request) -> bool:
    if d.allowed_hosts is None:
        return True
    host = request.headers.get("host", "").lower()
    return host in d.allowed_hosts


def session_actor(d: Dashboard, request: Request) -> tuple[sec.Actor | None, Session | None]:
    """The actor of a live server-held session, checked against the users file as it is now."""
    sid = d.cookies.unsign("session", request.cookies.get(d.cookies.session))
    s = d.sessions.get(sid, d.cookies.deployment) if sid else None
    if s is None:
        return None, None
    if s.actor.source != "token":
        return s.actor, s
    user = d.users.get(s.actor.name)
    if user is None or user.token_sha256 != s.token_sha256:
        d.sessions.revoke(s.sid)  # removed user or rotated token: the session ends now
        request.state.audit["detail"] = "session_ended_user_changed"
        return None, None
    return sec.Actor(user.name, user.role, user.areas), s


def bearer_actor(d: Dashboard, request: Request, token: str) -> sec.Actor | None:
    keys = throttle_keys(None, client_of(request))
    if d.throttle.retry_after(keys) > 0:
        request.state.throttled = True
        return None
    user = d.users.by_token(token)
    if user is None:
        d.throttle.failed(keys)
        request.state.audit["detail"] = "bad_bearer_token"
        return None
    return sec.Actor(user.name, user.role, user.areas)


def resolve(d: Dashboard, request: Request) -> None:
    request.state.actor, request.state.session = None, None
    try:
        if d.custom_resolver is not None:
            request.state.actor = d.custom_resolver(request.headers, request.cookies)
            return
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            request.state.actor = bearer_actor(d, request, auth[7:].strip())
        else:
            request.state.actor, request.state.session = session_actor(d, request)
    except Exception:  # noqa: BLE001 - an actor that cannot be resolved is nobody
        request.state.actor, request.state.session = None, None


def log_failure(request: Request) -> None:
    """A 500: the correlation id, the exception's class and where it was raised; never its message
    or local values (they may hold a person's data)."""
    import sys

    etype, _, tb = sys.exc_info()
    frames = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)[-6:])
    log.error("dashboard failure %s: %s at %s", request.state.correlation_id, etype.__name__ if etype else "?", frames)


async def respond(d: Dashboard, request: Request, call_next: Callable) -> Response:
    if not host_allowed(d, request):
        request.state.audit.update(action="host_check", outcome="rejected_host")
        return d.error(request, 400, "The request was refused: this server does not answer to that host name.")
    resolve(d, request)
    if getattr(request.state, "throttled", False):
        request.state.audit.update(action="sign_in", outcome="sign_in_throttled")
        return d.error(request, 429, "Too many failed sign-ins from here: try again later.")
    session: Session | None = request.state.session
    cookie = request.cookies.get(d.cookies.csrf)
    request.state.csrf = (
        session.csrf if session else (cookie if d.cookies.unsign("csrf", cookie) else new_anonymous_token(d.cookies))
    )
    if request.method in UNSAFE_METHODS and not await csrf_ok(request, d.cookies, session, cookie):
        request.state.audit.update(action=request.state.audit["action"] or "csrf_check", outcome="rejected_csrf")
        return d.error(request, 403, "The request was refused: the CSRF check failed. Reload the page and try again.")
    try:
        return await call_next(request)
    except Exception:  # noqa: BLE001 - never show a traceback; the log has the correlation id
        log_failure(request)
        request.state.audit["outcome"] = "error"
        return d.error(request, 500, "Something went wrong on the server. The failure has been recorded.")


def outcome_from_status(status: int) -> str:
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not_found"
    if status == 422:
        return "rejected_input"
    if status >= 500:
        return "error"
    return "allowed"


def audit_event(request: Request, response: Response) -> sec.AuditEvent:
    a, actor = request.state.audit, request.state.actor
    return sec.AuditEvent(
        time_utc=sec.AuditEvent.now(),
        actor=a.get("actor_name") or (actor.name if actor else None),
        role=a.get("actor_role") or (actor.role if actor else None),
        action=a["action"] or ("static" if request.url.path.startswith("/static/") else "request"),
        resource=a["resource"] or request.url.path,
        outcome=a["outcome"] or outcome_from_status(response.status_code),
        client=client_of(request),
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        correlation_id=request.state.correlation_id if response.status_code >= 500 else None,
        detail=a.get("detail"),
    )


def plain_refusal() -> Response:
    r = Response("The audit log cannot be written, so nothing is served.\n", status_code=503, media_type="text/plain")
    r.headers.update(SECURITY_HEADERS)
    return r


async def guard(request: Request, call_next: Callable) -> Response:
    d = dash(request)
    request.state.audit = {"action": None, "resource": None, "outcome": None}
    request.state.correlation_id = secrets.token_hex(8)
    request.state.actor, request.state.session, request.state.csrf = None, None, ""
    response = await respond(d, request, call_next)
    response.headers.update(SECURITY_HEADERS)
    if request.url.path.startswith("/static/") and response.status_code == 200:
        # The package's own files (vendored cytoscape, script, CSS): no personal data, so the
        # browser may keep them an hour instead of fetching and compiling 430 kB on every page.
        response.headers["Cache-Control"] = STATIC_CACHE
    if (
        request.state.session is None
        and request.state.csrf
        and request.cookies.get(d.cookies.csrf) != request.state.csrf
    ):
        # The sign-in form's CSRF token: random, MAC-signed by this server, bound to the deployment.
        response.set_cookie(d.cookies.csrf, request.state.csrf, **d.cookies.attributes())
    try:
        d.sink.write(audit_event(request, response))
    except Exception:  # noqa: BLE001 - no audit, no data: refuse rather than serve unaudited
        return plain_refusal()
    return response
