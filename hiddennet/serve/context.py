"""What every view needs, wired once by the factory (`app.create_app`): the run's data, the
users, sessions, cookies, throttle, single sign-on, permission check, audit sink and templates;
plus the helpers that turn a check or a failure into a response."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from hiddennet.report import MARKING
from hiddennet.report.data import RunOutputs
from hiddennet.serve import security as sec
from hiddennet.serve.data import RunData, jsonable
from hiddennet.serve.oidc import OidcClient
from hiddennet.serve.sessions import CookieNames, SessionStore
from hiddennet.serve.throttle import LoginThrottle
from hiddennet.serve.users import UserStore
from hiddennet.stage import NOTICE

NAV = (
    ("/", "Overview", sec.VIEW_OVERVIEW),
    ("/groups", "Groups", sec.VIEW_GROUPS),
    ("/safeguarding", "Safeguarding", sec.VIEW_SAFEGUARDING),
    ("/search", "Search", sec.SEARCH),
    ("/continuity", "Changes", sec.VIEW_CHANGES),
)


class Denied(Exception):
    def __init__(self, signed_in: bool):
        self.signed_in = signed_in


class AnyIdConvertor(Convertor):
    """The rest of the path, whatever it holds: Starlette's `path` (`.*`) stops at a line break and
    lets `$` match before a final one, so an id ending in a newline would reach the route cut short."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("anyid", AnyIdConvertor())


def id_path(value: Any) -> str:
    """An id as one URL path segment: every character but unreserved ones escaped (`/` too)."""
    return quote(str(value), safe="")


@dataclass
class Dashboard:
    run_dir: Path
    run: RunOutputs
    data: RunData
    users: UserStore
    sessions: SessionStore
    cookies: CookieNames
    throttle: LoginThrottle
    oidc: OidcClient | None
    custom_resolver: sec.ActorResolver | None
    permission: sec.PermissionCheck
    sink: sec.AuditSink
    env: Environment
    allowed_hosts: frozenset[str] | None  # None: no Host check (tests and custom embedding only)

    # -- permission ------------------------------------------------------------------------------
    def may(self, actor: sec.Actor | None, action: str, resource: str | None = None) -> bool:
        try:
            return bool(self.permission(actor, action, resource))
        except Exception:  # noqa: BLE001 - a failing check is a refusal (default deny)
            return False

    def check(self, request: Request, action: str, resource: str | None = None) -> sec.Actor:
        actor = request.state.actor
        request.state.audit.update(action=action, resource=resource)
        ok = self.may(actor, action, resource)
        request.state.audit["outcome"] = "allowed" if ok else "denied"
        if not ok:
            raise Denied(actor is not None)
        return actor

    def refuse(self, request: Request) -> None:
        """A content rule (an area out of scope) refuses what the action check let through."""
        request.state.audit["outcome"] = "denied"
        raise Denied(request.state.actor is not None)

    def officer(self, actor: sec.Actor | None) -> bool:
        return self.may(actor, sec.VIEW_PERSON)

    # -- responses -------------------------------------------------------------------------------
    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        actor = getattr(request.state, "actor", None)
        nav = [(href, label) for href, label, action in NAV if self.may(actor, action)]
        html = self.env.get_template(template).render(
            notice=NOTICE,
            marking=MARKING,
            actor=actor,
            nav=nav,
            as_of=self.run.manifest.get("as_of", ""),
            csrf=getattr(request.state, "csrf", ""),
            sso=self.oidc is not None,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def api(data: Any) -> JSONResponse:
        return JSONResponse({"notice": NOTICE, "data": jsonable(data)})

    def error(self, request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        cid = getattr(request.state, "correlation_id", None) if status >= 500 else None
        if request.url.path.startswith("/api/"):
            body = {"error": message, "notice": NOTICE, **({"correlation_id": cid} if cid else {})}
            return JSONResponse(body, status_code=status, headers=dict(headers or {}))
        r = self.page(request, "error.html.j2", status=status, status_code=status, message=message, correlation_id=cid)
        r.headers.update(dict(headers or {}))
        return r


def dash(request: Request) -> Dashboard:
    return request.app.state.dash
