"""The dashboard for intelligence staff: a FastAPI app over one run's published tables, on
localhost by default, with every request audited to `<run>/audit.jsonl`.

Security pieces (actor, permission check, audit sink) are replaceable defaults: see
`hiddennet.serve.security` and docs/report-and-dashboard.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hiddennet.serve.app import create_app
from hiddennet.serve.security import ROLES, Actor, AuditEvent, add_user, hash_token

__all__ = ["ROLES", "Actor", "AuditEvent", "add_user", "create_app", "hash_token", "serve"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(run_dir: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the dashboard with uvicorn until interrupted. Only localhost by default."""
    import uvicorn

    run_dir = Path(run_dir)
    allowed = [*LOCAL_HOSTS, f"127.0.0.1:{port}", f"localhost:{port}"] if host in LOCAL_HOSTS else None
    app = create_app(run_dir, allowed_hosts=allowed)
    if not app.state.authority.users:
        print(
            f"no users in {run_dir / 'dashboard_users.json'}: every request will be refused. "
            "Add one with: python -c \"from hiddennet.serve import add_user; print(add_user('RUN', 'NAME', 'analyst'))\"",
            file=sys.stderr,
        )
    print(f"dashboard: {host}:{port} (audit log: {run_dir / 'audit.jsonl'})", file=sys.stderr)
    # uvicorn's access log is off: paths hold nominal ids, and the audit log records every request.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
