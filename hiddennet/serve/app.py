"""The dashboard's factory: wires data access (`data`), users (`users`), server-held sessions
(`sessions`), CSRF (`csrf`), sign-in throttling (`throttle`), single sign-on (`oidc`), the one
middleware (`middleware`), error pages (`errors`) and the routes (`views`) into a FastAPI app."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hiddennet.report import environment
from hiddennet.report.data import RunOutputs
from hiddennet.serve import errors, formats, middleware, security as sec
from hiddennet.serve.context import Dashboard, id_path
from hiddennet.serve.data import HandlingPolicy, RunData
from hiddennet.serve.oidc import OidcClient, OidcConfig
from hiddennet.serve.sessions import CookieNames, SessionStore
from hiddennet.serve.throttle import LoginThrottle
from hiddennet.serve.users import UsersSource, UserStore
from hiddennet.serve.views import api, auth, continuity, exports, pages, workbench
from hiddennet.settings import Settings

STATIC = Path(__file__).parent.parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def _sessions(s: Settings) -> SessionStore:
    return SessionStore(s.dashboard_session_idle_minutes * 60, s.dashboard_session_max_hours * 3600)


def _throttle(s: Settings) -> LoginThrottle:
    return LoginThrottle(
        s.dashboard_login_max_failures,
        s.dashboard_login_backoff_seconds,
        s.dashboard_login_backoff_max_seconds,
        s.dashboard_login_window_minutes * 60,
    )


def _oidc(config: OidcConfig | None) -> OidcClient | None:
    return OidcClient(config) if config else None


def _templates():
    env = environment(TEMPLATES)
    env.filters["idpath"] = id_path
    formats.install(env)
    return env


def create_app(
    run_dir: Path,
    *,
    audit_path: Path | None = None,
    users: UsersSource = None,
    permission: sec.PermissionCheck | None = None,
    actor_resolver: sec.ActorResolver | None = None,
    audit_sink: sec.AuditSink | None = None,
    session_key: bytes | None = None,
    secure_cookies: bool = True,
    allowed_hosts: list[str] | None = None,
    settings: Settings | None = None,
    deployment: str | None = None,
    oidc: OidcConfig | None = None,
    session_store: SessionStore | None = None,
) -> FastAPI:
    """The dashboard for one run. Each security piece is a replaceable default:

    - `users`: TOML/JSON users file or list of {name, role, token_sha256, areas}; default
      `<run>/dashboard_users.json`, read live;
    - `actor_resolver(headers, cookies) -> Actor | None`: default bearer token, then server-held session;
    - `permission(actor, action, resource) -> bool`: default security.DEFAULT_POLICY (default deny);
    - `audit_sink.write(AuditEvent)`: default the hash-chained `<run>/audit.jsonl` (or `audit_path`);
    - `settings`: the dashboard_* settings (timeouts, throttling, page size, handling codes, OIDC);
    - `deployment`: what cookies and sessions are bound to (serve passes scheme, host and port);
    - `allowed_hosts`: Host header values answered (None: no check; `serve` always passes a list).
    """
    run_dir = Path(run_dir)
    s = settings or Settings()
    run = RunOutputs(run_dir)
    d = Dashboard(
        run_dir=run_dir,
        run=run,
        data=RunData(run, HandlingPolicy(s.dashboard_handling_roles), s.dashboard_page_max),
        users=UserStore(users, run_dir),
        sessions=session_store if session_store is not None else _sessions(s),
        cookies=CookieNames(
            session_key or secrets.token_bytes(32), deployment or f"hiddennet:{run_dir.resolve()}", secure_cookies
        ),
        throttle=_throttle(s),
        oidc=_oidc(oidc if oidc is not None else OidcConfig.from_settings(s)),
        custom_resolver=actor_resolver,
        permission=permission or sec.policy_permission(),
        sink=audit_sink or sec.JsonlAuditSink(audit_path or run_dir / "audit.jsonl"),
        env=_templates(),
        allowed_hosts=frozenset(h.lower() for h in allowed_hosts) if allowed_hosts is not None else None,
    )
    app = FastAPI(title="hiddennet dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dash = d
    app.state.run = run
    errors.install(app)
    app.middleware("http")(middleware.guard)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(workbench.export_router)
    # exports before pages: `/groups/{id:anyid}` takes the rest
    for module in (auth, exports, workbench, api, continuity, pages):
        app.include_router(module.router)
    return app
