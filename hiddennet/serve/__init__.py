"""The dashboard for intelligence staff: a FastAPI app over one run's published tables, on
localhost by default, with every request audited to the hash-chained `<run>/audit.jsonl`.

Security pieces (actor, permission check, audit sink) are replaceable defaults: see
`hiddennet.serve.app.create_app` and docs/report-and-dashboard.md.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hiddennet.errors import OutputError, SettingsError
from hiddennet.serve.app import create_app
from hiddennet.serve.security import ROLES, Actor, AuditEvent, add_user, hash_token
from hiddennet.settings import Settings

__all__ = [
    "ROLES",
    "Actor",
    "AuditEvent",
    "Deployment",
    "add_user",
    "create_app",
    "hash_token",
    "plan_deployment",
    "serve",
]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Deployment:
    allowed_hosts: list[str]
    secure_cookies: bool
    tls: bool
    deployment: str
    warning: str | None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plan_deployment(
    run_dir: Path,
    host: str,
    port: int,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    allowed_hosts: Sequence[str] = (),
    insecure_no_tls: bool = False,
) -> Deployment:
    """Check the serve options and say what the app is bound to. Beyond loopback: TLS (or the
    explicit `insecure_no_tls`, with a warning) and at least one `allowed_hosts` name are required;
    the Host-header check is never turned off."""
    if (tls_cert is None) != (tls_key is None):
        raise SettingsError("--tls-cert and --tls-key go together")
    for p in (tls_cert, tls_key):
        if p is not None and not Path(p).is_file():
            raise SettingsError(f"file {p}: TLS certificate or key not found")
    tls, loopback = tls_cert is not None, _is_loopback(host)
    warning = None
    if not loopback and not tls:
        if not insecure_no_tls:
            raise SettingsError(
                f"--host {host}: binding beyond loopback needs --tls-cert and --tls-key (or --insecure-no-tls)"
            )
        warning = (
            "warning: serving beyond loopback WITHOUT TLS: tokens, cookies and personal data cross the network in clear"
        )
    if not loopback and not allowed_hosts:
        raise SettingsError(
            f"--host {host}: binding beyond loopback needs --allowed-host NAME (the Host header check stays on)"
        )
    names = [*(LOCAL_HOSTS if loopback else ()), *allowed_hosts]
    allowed = sorted(
        {n.lower() for n in names}
        | {f"{n.lower()}:{port}" for n in names}
        | ({f"[::1]:{port}", "[::1]"} if loopback else set())
    )
    scheme = "https" if tls else "http"
    # Browsers keep Secure cookies on http://127.0.0.1 and localhost (a secure context), not elsewhere.
    return Deployment(allowed, tls or loopback, tls, f"{scheme}://{host}:{port}|{Path(run_dir).resolve()}", warning)


def _startup_notes(d, run_dir: Path) -> None:
    """Warnings for an operator: nobody can sign in, or single sign-on cannot redeem codes."""
    if not d.users.safe_current() and d.oidc is None:
        print(
            f"no users in {run_dir / 'dashboard_users.json'} and no single sign-on: every request will be refused. "
            "Add one with: hiddennet users add RUN NAME --role analyst",
            file=sys.stderr,
        )
    if d.oidc is not None and not d.oidc.config.client_secret:
        print(
            "single sign-on: no client secret in the environment: the provider will refuse sign-in codes",
            file=sys.stderr,
        )


def serve(
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    allowed_hosts: Sequence[str] = (),
    insecure_no_tls: bool = False,
    settings: Settings | None = None,
) -> None:
    """Run the dashboard with uvicorn until interrupted. Only localhost by default."""
    import uvicorn

    run_dir = Path(run_dir)
    if not (run_dir / "manifest.json").is_file():  # run check
        raise OutputError(f"folder {run_dir}: not a hiddennet run (no manifest.json)")
    plan = plan_deployment(
        run_dir,
        host,
        port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allowed_hosts=allowed_hosts,
        insecure_no_tls=insecure_no_tls,
    )
    if plan.warning:
        print(plan.warning, file=sys.stderr)
    app = create_app(
        run_dir,
        allowed_hosts=plan.allowed_hosts,
        secure_cookies=plan.secure_cookies,
        deployment=plan.deployment,
        settings=settings,
    )
    _startup_notes(app.state.dash, run_dir)
    scheme = "https" if plan.tls else "http"
    print(f"dashboard: {scheme}://{host}:{port} (audit log: {run_dir / 'audit.jsonl'})", file=sys.stderr)
    # uvicorn's access log is off: paths hold nominal ids, and the audit log records every request.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )
