"""The dashboard application: pages and JSON endpoints over one run's published tables.

Every request goes through one middleware that resolves the actor, enforces CSRF on
state-changing requests, adds the security headers, turns any failure into a plain page
(never a traceback) and writes exactly one audit event.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from hiddennet.report import MARKING, build_charts, environment
from hiddennet.report import charts as _charts
from hiddennet.report.data import REASON_LABELS, RunOutputs, Unavailable, figures
from hiddennet.serve import security as sec
from hiddennet.stage import NOTICE

STATIC = Path(__file__).parent.parent / "static"
TEMPLATES = Path(__file__).parent / "templates"

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
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
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class Denied(Exception):
    def __init__(self, signed_in: bool):
        self.signed_in = signed_in


class NotFound(Exception):
    pass


def _jsonable(v: Any) -> Any:
    """Plain JSON values from pandas/numpy cells (NaN and NaT become null)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if isinstance(v, Markup):
        return str(v)
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return [_jsonable(r) for r in df.to_dict("records")]


def create_app(
    run_dir: Path,
    *,
    audit_path: Path | None = None,
    users: Path | str | Iterable[Mapping[str, str]] | None = None,
    permission: sec.PermissionCheck | None = None,
    actor_resolver: sec.ActorResolver | None = None,
    audit_sink: sec.AuditSink | None = None,
    session_key: bytes | None = None,
    secure_cookies: bool = False,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The dashboard for one run. Each security piece is a replaceable default:

    - `users`: TOML/JSON users file or list of {name, role, token_sha256}; default `<run>/dashboard_users.json`;
    - `actor_resolver(headers, cookies) -> Actor | None`: default bearer token, then signed session cookie;
    - `permission(actor, action, resource) -> bool`: default the role policy of security.DEFAULT_POLICY (default deny);
    - `audit_sink.write(AuditEvent)`: default append-only `<run>/audit.jsonl` (or `audit_path`).
    """
    run_dir = Path(run_dir)
    run = RunOutputs(run_dir)
    authority = sec.TokenAuthority(sec.load_users(users, run_dir), key=session_key)
    resolve = actor_resolver or sec.default_actor_resolver(authority)
    allowed = permission or sec.policy_permission()
    sink = audit_sink or sec.JsonlAuditSink(audit_path or run_dir / "audit.jsonl")
    env = environment(TEMPLATES)
    cache: dict[str, Any] = {}

    app = FastAPI(title="hiddennet dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.run = run
    app.state.authority = authority

    # --- helpers -------------------------------------------------------------------------

    def check(request: Request, action: str, resource: str | None = None) -> sec.Actor:
        actor = request.state.actor
        request.state.audit.update(action=action, resource=resource)
        ok = False
        try:
            ok = bool(allowed(actor, action, resource))
        except Exception:  # noqa: BLE001 - a failing check is a refusal (default deny)
            ok = False
        request.state.audit["outcome"] = "allowed" if ok else "denied"
        if not ok:
            raise Denied(actor is not None)
        return actor

    def may(actor: sec.Actor | None, action: str, resource: str | None = None) -> bool:
        try:
            return bool(allowed(actor, action, resource))
        except Exception:  # noqa: BLE001
            return False

    def page(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
        actor = getattr(request.state, "actor", None)
        nav = [
            (href, label)
            for href, label, action in (
                ("/", "Overview", sec.VIEW_OVERVIEW),
                ("/groups", "Groups", sec.VIEW_GROUPS),
                ("/safeguarding", "Safeguarding", sec.VIEW_SAFEGUARDING),
            )
            if may(actor, action)
        ]
        html = env.get_template(template).render(
            notice=NOTICE, marking=MARKING, actor=actor, nav=nav, as_of=run.manifest.get("as_of", ""),
            csrf=getattr(request.state, "csrf", ""), **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def figs() -> dict:
        if "figures" not in cache:
            f = figures(run)
            cache["figures"] = f
            cache["charts"] = build_charts(f)
        return cache["figures"]

    def groups_table() -> pd.DataFrame:
        try:
            g = run.table("groups", ["group_id", "size"], optional=["harm_cchi", "harm_ons", "priority_rank", "soc_overlap", "safeguarding_only", "edges", "parent_component",
                                                     "rank_harm_cchi", "flagged_members"])
        except Unavailable:
            raise NotFound() from None
        return g

    def group_row(group_id: str) -> dict:
        g = groups_table()
        m = g[g["group_id"] == group_id]
        if m.empty:
            raise NotFound()
        return _jsonable(m.iloc[0].to_dict())

    def flagged_ids() -> set[str]:
        if "flagged" not in cache:
            try:
                cache["flagged"] = set(run.table("safeguarding", ["nominal_id"])["nominal_id"])
            except Unavailable:
                cache["flagged"] = set()
        return cache["flagged"]

    def members(group_id: str) -> pd.DataFrame:
        try:
            n = run.table("nominals", ["nominal_id", "group_id"], optional=["node_index", "degree", "weighted_degree", "betweenness", "in_soc_network", "harm_cchi", "harm_ons", "safeguarding_flagged"])
        except Unavailable:
            return pd.DataFrame(columns=["nominal_id", "group_id"])
        m = n[n["group_id"] == group_id].copy()
        m = m.sort_values("node_index" if "node_index" in m else "nominal_id").reset_index(drop=True)
        flagged = flagged_ids()
        m["to_safeguard"] = m["nominal_id"].isin(flagged) | (m["safeguarding_flagged"].fillna(False).astype(bool) if "safeguarding_flagged" in m else False)
        return m

    def label_for(actor: sec.Actor | None, m: pd.DataFrame) -> list[str]:
        """Nominal ids for intelligence officers; otherwise anonymous member numbers."""
        if may(actor, sec.VIEW_PERSON):
            return [str(x) for x in m["nominal_id"]]
        return ["person to safeguard" if f else f"member {i + 1}" for i, f in enumerate(m["to_safeguard"])]

    def graph(actor: sec.Actor | None, group_id: str) -> dict:
        m = members(group_id)
        index = {nid: i for i, nid in enumerate(m["nominal_id"])}
        edges: list[tuple[int, int, float]] = []
        try:
            e = run.table("combined_edges", ["nominal_a", "nominal_b", "weight"], optional=["group_id", "layers"])
            e = e[e["group_id"] == group_id] if "group_id" in e else e[e["nominal_a"].isin(index) & e["nominal_b"].isin(index)]
            edges = [(index[a], index[b], float(w)) for a, b, w in zip(e["nominal_a"], e["nominal_b"], e["weight"], strict=True) if a in index and b in index]
        except Unavailable:
            pass
        labels = label_for(actor, m)
        pos = _charts.layout(len(labels), [(a, b) for a, b, _ in edges], seed=1)
        return {
            "nodes": [
                {"id": f"n{i}", "label": labels[i], "to_safeguard": bool(m["to_safeguard"].iloc[i]), "x": round(float(pos[i][0]) * 700, 1), "y": round(float(pos[i][1]) * 460, 1)}
                for i in range(len(labels))
            ],
            "edges": [{"source": f"n{a}", "target": f"n{b}", "weight": round(w, 4)} for a, b, w in edges],
            "_labels": labels,
            "_flags": [bool(x) for x in m["to_safeguard"]],
            "_edges": edges,
            "_ids": [str(x) for x in m["nominal_id"]],
            "_pos": pos,
        }

    def dismantling_rows(actor: sec.Actor | None, group_id: str) -> list[dict]:
        try:
            d = run.table("dismantling", ["group_id", "step", "nominal_id", "remaining_largest_fraction"], optional=["harm_removed_cchi", "exact", "method", "target_reached"])
        except Unavailable:
            return []
        d = d[d["group_id"] == group_id].sort_values("step")
        m = members(group_id)
        labels = dict(zip(m["nominal_id"], label_for(actor, m), strict=True))
        rows = []
        for r in _records(d):
            r["member"] = labels.get(r["nominal_id"], r["nominal_id"] if may(actor, sec.VIEW_PERSON) else "member")
            if not may(actor, sec.VIEW_PERSON):
                r.pop("nominal_id")
            rows.append(r)
        return rows

    def safeguarding_rows(area: str | None) -> list[dict]:
        try:
            s = run.table("safeguarding", ["nominal_id", "reasons"], optional=["age_on_as_of", "group_ids", "local_area", "referral_status"])
        except Unavailable:
            raise NotFound() from None
        if area:
            s = s[s["local_area"] == area] if "local_area" in s else s.iloc[0:0]
        rows = _records(s.sort_values(["local_area", "nominal_id"] if "local_area" in s else ["nominal_id"]))
        for r in rows:
            r["reasons"] = list(r.get("reasons") or [])
            r["reason_labels"] = [REASON_LABELS.get(x, x.replace("_", " ")) for x in r["reasons"]]
            r["group_ids"] = list(r.get("group_ids") or [])
        return rows

    def person(nominal_id: str) -> dict:
        try:
            n = run.table("nominals", ["nominal_id"])
        except Unavailable:
            raise NotFound() from None
        full = run.table("nominals", list(run.columns("nominals")))
        m = full[full["nominal_id"] == nominal_id]
        if m.empty:
            raise NotFound()
        row = _jsonable(m.iloc[0].to_dict())
        to_safeguard = nominal_id in flagged_ids() or bool(row.get("safeguarding_flagged"))
        out: dict[str, Any] = {"nominal_id": nominal_id, "group_id": row.get("group_id"), "to_safeguard": to_safeguard}
        del n
        if to_safeguard:
            # A person to safeguard is shown with the reasons for the referral, never with harm or priority.
            sg = [r for r in safeguarding_rows(None) if r["nominal_id"] == nominal_id]
            out["safeguarding"] = sg[0] if sg else None
            return out
        out["network"] = {k: row.get(k) for k in ("degree", "weighted_degree", "betweenness", "in_cse_network", "in_soc_network") if k in row}
        out["harm"] = {k: row.get(k) for k in ("harm_cchi", "harm_ons") if k in row}
        try:
            h = run.table("harm_explained", ["nominal_id", "item_kind", "item_ref"], optional=["layer", "cchi_days", "ons_weight", "link_weight"])
            out["harm_explained"] = _records(h[h["nominal_id"] == nominal_id].drop(columns=["nominal_id"]))
        except Unavailable:
            out["harm_explained"] = None
        return out

    # --- middleware: actor, CSRF, headers, errors, audit ----------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Response:
        request.state.audit = {"action": None, "resource": None, "outcome": None}
        try:
            request.state.actor = resolve(request.headers, request.cookies)
        except Exception:  # noqa: BLE001 - an actor that cannot be resolved is nobody
            request.state.actor = None
        csrf_cookie = request.cookies.get(sec.CSRF_COOKIE)
        request.state.csrf = csrf_cookie or secrets.token_urlsafe(24)
        response: Response
        try:
            if request.method in UNSAFE_METHODS and not await _csrf_ok(request, csrf_cookie):
                request.state.audit.update(action=request.state.audit["action"] or "csrf_check", outcome="rejected_csrf")
                response = _error(request, 403, "The request was refused: the CSRF check failed. Reload the page and try again.")
            else:
                response = await call_next(request)
        except Exception:  # noqa: BLE001 - never show a traceback; the audit records the failure
            request.state.audit["outcome"] = "error"
            response = _error(request, 500, "Something went wrong on the server. The failure has been recorded.")
        for k, v in SECURITY_HEADERS.items():
            response.headers[k] = v
        if not csrf_cookie:
            # Readable by the page's own script (double-submit); SameSite keeps other sites from sending it.
            response.set_cookie(sec.CSRF_COOKIE, request.state.csrf, httponly=False, samesite="strict", secure=secure_cookies, path="/")
        a = request.state.audit
        outcome = a["outcome"] or _outcome_from_status(response.status_code)
        actor = request.state.actor
        event = sec.AuditEvent(
            time_utc=sec.AuditEvent.now(),
            actor=a.get("actor_name") or (actor.name if actor else None),
            role=a.get("actor_role") or (actor.role if actor else None),
            action=a["action"] or ("static" if request.url.path.startswith("/static/") else "request"),
            resource=a["resource"] or request.url.path,
            outcome=outcome,
            client=request.client.host if request.client else None,
            method=request.method,
            path=request.url.path,
            status=response.status_code,
        )
        try:
            sink.write(event)
        except Exception:  # noqa: BLE001 - no audit, no data: refuse rather than serve unaudited
            response = _plain_refusal()
        return response

    async def _csrf_ok(request: Request, cookie: str | None) -> bool:
        if not cookie:
            return False
        header = request.headers.get(sec.CSRF_HEADER)
        if header is not None:
            return hmac.compare_digest(header, cookie)
        # A browser without script posts a plain form: the token travels as a form field instead.
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = await request.body()
            field = parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [""])[0]
            return bool(field) and hmac.compare_digest(field, cookie)
        return False

    def _outcome_from_status(status: int) -> str:
        if status in (401, 403):
            return "denied"
        if status == 404:
            return "not_found"
        if status >= 500:
            return "error"
        return "allowed"

    def _plain_refusal() -> Response:
        r = Response("The audit log cannot be written, so nothing is served.\n", status_code=503, media_type="text/plain")
        for k, v in SECURITY_HEADERS.items():
            r.headers[k] = v
        return r

    def _wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _error(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message, "notice": NOTICE}, status_code=status)
        return page(request, "error.html.j2", status=status, status_code=status, message=message)

    @app.exception_handler(Denied)
    async def on_denied(request: Request, exc: Denied) -> Response:
        if not exc.signed_in:
            return _error(request, 401, "Sign in to see this page.")
        return _error(request, 403, "Your role does not give access to this page.")

    @app.exception_handler(NotFound)
    async def on_not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "Not found in this run.")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, "Not found." if exc.status_code == 404 else "The request could not be served.")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- sign in / out -------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        request.state.audit.update(action="sign_in_page", outcome="allowed")
        return page(request, "login.html.j2", failed=False)

    @app.post("/login")
    async def login(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        token = parse_qs(body).get("token", [""])[0]
        actor = authority.from_token(token) if token else None
        request.state.audit.update(action="sign_in", resource="session")
        if actor is None:
            request.state.audit["outcome"] = "sign_in_failed"
            return page(request, "login.html.j2", status=401, failed=True)
        request.state.audit.update(outcome="signed_in", actor_name=actor.name, actor_role=actor.role)
        r = RedirectResponse("/", status_code=303)
        r.set_cookie(sec.SESSION_COOKIE, authority.session(actor), httponly=True, samesite="strict", secure=secure_cookies, path="/", max_age=sec.SESSION_SECONDS)
        return r

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        request.state.audit.update(action="sign_out", resource="session", outcome="allowed")
        r = RedirectResponse("/login", status_code=303)
        r.delete_cookie(sec.SESSION_COOKIE, path="/")
        return r

    # --- pages ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> Response:
        check(request, sec.VIEW_OVERVIEW, "overview")
        f = figs()
        return page(request, "overview.html.j2", f=f, charts=cache["charts"], min_cell=run.min_cell, group_links=may(request.state.actor, sec.VIEW_GROUP))

    @app.get("/groups", response_class=HTMLResponse)
    async def groups_page(request: Request, limit: int = 100, offset: int = 0) -> Response:
        check(request, sec.VIEW_GROUPS, "groups")
        rows, total = _ranked(limit, offset)
        return page(request, "groups.html.j2", rows=rows, total=total, limit=limit, offset=offset)

    def _ranked(limit: int, offset: int) -> tuple[list[dict], int]:
        g = groups_table()
        # Groups of people to safeguard only carry no rank and are not listed as priorities.
        g = g[g["priority_rank"].notna()] if "priority_rank" in g else g
        g = g.sort_values(["priority_rank", "group_id"] if "priority_rank" in g else ["group_id"])
        limit = max(1, min(int(limit), 1000))
        offset = max(0, int(offset))
        return _records(g.iloc[offset : offset + limit]), len(g)

    @app.get("/groups/{group_id}", response_class=HTMLResponse)
    async def group_page(request: Request, group_id: str) -> Response:
        actor = check(request, sec.VIEW_GROUP, f"group:{group_id}")
        row = group_row(group_id)
        gr = graph(actor, group_id)
        officer = may(actor, sec.VIEW_PERSON)
        svg = _charts.network_svg(
            gr["_labels"], gr["_flags"], gr["_edges"], title=f"Group {group_id}", seed=1,
            links=[f"/people/{i}" for i in gr["_ids"]] if officer else None, pos=gr["_pos"],
        )
        data = json.dumps({"nodes": gr["nodes"], "edges": gr["edges"]}).replace("<", "\\u003c")
        m = members(group_id)
        member_rows = _records(m) if officer else None
        return page(request, "group.html.j2", group=row, svg=svg, graph_json=Markup(data), members=member_rows, officer=officer,
                    can_dismantle=may(actor, sec.VIEW_DISMANTLING, f"group:{group_id}"))

    @app.get("/groups/{group_id}/dismantling", response_class=HTMLResponse)
    async def dismantling_page(request: Request, group_id: str) -> Response:
        actor = check(request, sec.VIEW_DISMANTLING, f"group:{group_id}")
        row = group_row(group_id)
        return page(request, "dismantling.html.j2", group=row, rows=dismantling_rows(actor, group_id), officer=may(actor, sec.VIEW_PERSON))

    @app.get("/safeguarding", response_class=HTMLResponse)
    async def safeguarding_page(request: Request, area: str | None = None, limit: int = 500, offset: int = 0) -> Response:
        actor = check(request, sec.VIEW_SAFEGUARDING, "safeguarding" + (f":{area}" if area else ""))
        rows = safeguarding_rows(area)
        areas = sorted({r.get("local_area") for r in safeguarding_rows(None) if r.get("local_area")})
        limit, offset = max(1, min(int(limit), 5000)), max(0, int(offset))
        return page(request, "safeguarding.html.j2", rows=rows[offset : offset + limit], total=len(rows), limit=limit, offset=offset,
                    area=area, areas=areas, officer=may(actor, sec.VIEW_PERSON))

    @app.get("/people/{nominal_id}", response_class=HTMLResponse)
    async def person_page(request: Request, nominal_id: str) -> Response:
        check(request, sec.VIEW_PERSON, f"person:{nominal_id}")
        return page(request, "person.html.j2", p=person(nominal_id))

    # --- JSON API (same checks, same audit) -------------------------------------------------

    def api(data: Any) -> JSONResponse:
        return JSONResponse({"notice": NOTICE, "data": _jsonable(data)})

    @app.get("/api/overview")
    async def api_overview(request: Request) -> Response:
        check(request, sec.VIEW_OVERVIEW, "overview")
        return api(figs())

    @app.get("/api/groups")
    async def api_groups(request: Request, limit: int = 100, offset: int = 0) -> Response:
        check(request, sec.VIEW_GROUPS, "groups")
        rows, total = _ranked(limit, offset)
        return api({"total": total, "groups": rows})

    @app.get("/api/groups/{group_id}")
    async def api_group(request: Request, group_id: str) -> Response:
        actor = check(request, sec.VIEW_GROUP, f"group:{group_id}")
        row = group_row(group_id)
        gr = graph(actor, group_id)
        return api({"group": row, "nodes": gr["nodes"], "edges": gr["edges"]})

    @app.get("/api/groups/{group_id}/dismantling")
    async def api_dismantling(request: Request, group_id: str) -> Response:
        actor = check(request, sec.VIEW_DISMANTLING, f"group:{group_id}")
        group_row(group_id)
        return api({"group_id": group_id, "steps": dismantling_rows(actor, group_id)})

    @app.get("/api/safeguarding")
    async def api_safeguarding(request: Request, area: str | None = None) -> Response:
        check(request, sec.VIEW_SAFEGUARDING, "safeguarding" + (f":{area}" if area else ""))
        return api({"people": safeguarding_rows(area)})

    @app.get("/api/people/{nominal_id}")
    async def api_person(request: Request, nominal_id: str) -> Response:
        check(request, sec.VIEW_PERSON, f"person:{nominal_id}")
        return api(person(nominal_id))

    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    return app
