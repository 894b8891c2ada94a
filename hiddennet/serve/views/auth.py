"""Sign-in and sign-out: a token (with the user's name) or single sign-on over OIDC; both end in a
server-held session whose cookie is bound to this deployment. Failed sign-ins are throttled per
user name and per client address, and every attempt is audited."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hiddennet.serve import security as sec
from hiddennet.serve.context import Dashboard, dash
from hiddennet.serve.middleware import client_of
from hiddennet.serve.oidc import OidcError
from hiddennet.serve.throttle import throttle_keys
from hiddennet.serve.users import hash_token

router = APIRouter()


SIGNED_IN_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/">'
    '<title>Signed in</title></head><body><p><a href="/">Continue to the dashboard</a></p></body></html>'
)


def start_session(
    d: Dashboard, request: Request, actor: sec.Actor, token_sha256: str | None, *, via_provider: bool = False
) -> Response:
    old = request.state.session
    if old is not None:
        d.sessions.revoke(old.sid)  # a new sign-in never keeps an old session id (fixation)
    s = d.sessions.create(actor, d.cookies.deployment, token_sha256)
    request.state.audit.update(outcome="signed_in", actor_name=actor.name, actor_role=actor.role)
    # Back from the identity provider the navigation is cross-site, and a redirect would carry that
    # on, so the browser would withhold the SameSite=Strict session cookie from "/": a page of our
    # own starts the next navigation instead.
    r: Response = HTMLResponse(SIGNED_IN_PAGE) if via_provider else RedirectResponse("/", status_code=303)
    r.set_cookie(d.cookies.session, d.cookies.sign("session", s.sid), **d.cookies.attributes())
    if d.cookies.pending in request.cookies:
        r.delete_cookie(d.cookies.pending, path="/", secure=d.cookies.secure, httponly=True, samesite="lax")
    return r


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    request.state.audit.update(action="sign_in_page", outcome="allowed")
    return dash(request).page(request, "login.html.j2", failed=False)


@router.post("/login")
async def login(request: Request) -> Response:
    d = dash(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    name, token = form.get("name", [""])[0].strip() or None, form.get("token", [""])[0]
    request.state.audit.update(action="sign_in", resource="session")
    keys = throttle_keys(name, client_of(request))
    wait = d.throttle.retry_after(keys)
    if wait > 0:
        request.state.audit["outcome"] = "sign_in_throttled"
        r = d.page(request, "login.html.j2", status=429, failed=False, throttled=True)
        r.headers["Retry-After"] = str(int(wait) + 1)
        return r
    user = d.users.by_token(token, name) if token else None
    if user is None:
        d.throttle.failed(keys)
        request.state.audit["outcome"] = "sign_in_failed"
        return d.page(request, "login.html.j2", status=401, failed=True)
    d.throttle.succeeded(throttle_keys(user.name, client_of(request)))
    return start_session(d, request, sec.Actor(user.name, user.role, user.areas), hash_token(token))


@router.post("/logout")
async def logout(request: Request) -> Response:
    d = dash(request)
    s = request.state.session
    if s is not None:
        d.sessions.revoke(s.sid)  # ends on the server: a copied cookie is refused from now on
    request.state.audit.update(action="sign_out", resource="session", outcome="signed_out")
    r = RedirectResponse("/login", status_code=303)
    r.delete_cookie(d.cookies.session, path="/", secure=d.cookies.secure, httponly=True, samesite="strict")
    return r


@router.get("/auth/login")
async def sso_begin(request: Request) -> Response:
    d = dash(request)
    request.state.audit.update(action="sso_begin", resource="session")
    if d.oidc is None:
        request.state.audit["outcome"] = "not_found"
        return d.error(request, 404, "Single sign-on is not set up for this dashboard.")
    try:
        url, pid = await run_in_threadpool(d.oidc.begin)
    except OidcError as e:
        request.state.audit.update(outcome="sign_in_failed", detail=e.reason)
        return d.error(request, 502, "The identity provider cannot be reached. Try again later.")
    request.state.audit["outcome"] = "allowed"
    r = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the browser must send it back on the provider's cross-site redirect to the callback.
    # It holds only the id of a one-use pending sign-in (state, nonce and PKCE verifier stay on the server).
    r.set_cookie(d.cookies.pending, d.cookies.sign("sso", pid), **d.cookies.attributes("lax"))
    return r


@router.get("/auth/callback")
async def sso_callback(request: Request) -> Response:
    d = dash(request)
    request.state.audit.update(action="sign_in_sso", resource="session")
    if d.oidc is None:
        request.state.audit["outcome"] = "not_found"
        return d.error(request, 404, "Single sign-on is not set up for this dashboard.")
    keys = throttle_keys(None, client_of(request))
    if d.throttle.retry_after(keys) > 0:
        request.state.audit["outcome"] = "sign_in_throttled"
        return d.error(request, 429, "Too many failed sign-ins from here: try again later.")
    try:
        pending = d.oidc.take_pending(d.cookies.unsign("sso", request.cookies.get(d.cookies.pending)))
        claims = await run_in_threadpool(d.oidc.finish, pending, dict(request.query_params))
        actor = d.oidc.actor(claims)
    except OidcError as e:
        d.throttle.failed(keys)
        request.state.audit.update(outcome="sign_in_failed", detail=e.reason)
        return d.error(request, 401, "Single sign-on did not succeed. Sign in again, or ask for a dashboard role.")
    d.throttle.succeeded(keys)
    return start_session(d, request, actor, None, via_provider=True)
