"""CSRF: a state-changing request (POST, PUT, PATCH, DELETE) must carry a token the server can
vouch for, in the `X-Hiddennet-CSRF` header or a `csrf_token` form field.

Signed in, the token is the one held in the server-side session (a cookie set by another
service on the same host cannot change it). Not signed in (the sign-in form), it is a random
value in a cookie, MAC-signed by this server and bound to the deployment, so a cookie planted by
a page on another local port is refused.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request

from hiddennet.serve.sessions import CookieNames, Session

CSRF_HEADER = "x-hiddennet-csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def new_anonymous_token(names: CookieNames) -> str:
    return names.sign("csrf", secrets.token_urlsafe(24))


async def submitted_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    # A browser without script posts a plain form: the token travels as a form field instead.
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        return parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [""])[0] or None
    return None


def expected_token(names: CookieNames, session: Session | None, cookie: str | None) -> str | None:
    if session is not None:
        return session.csrf
    if cookie and names.unsign("csrf", cookie) is not None:
        return cookie
    return None


async def csrf_ok(request: Request, names: CookieNames, session: Session | None, cookie: str | None) -> bool:
    expected = expected_token(names, session, cookie)
    supplied = await submitted_token(request)
    return bool(expected and supplied) and hmac.compare_digest(str(supplied), str(expected))
