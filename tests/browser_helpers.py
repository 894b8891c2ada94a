"""The real-browser harness: a dashboard served by uvicorn on 127.0.0.1 (a free port, in a thread),
Debian's Chromium driven by Playwright with everything that could call out switched off, and a
page that records every console error, page error and Content-Security-Policy violation.

Chromium comes from Debian's packages (`scripts/test` installs it when missing); Playwright's own
browser download is never used. A missing browser is a failure, never a skip."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from hiddennet.serve import create_app, plan_deployment

CHROMIUM = os.environ.get("HIDDENNET_CHROMIUM", "/usr/bin/chromium")

# No background traffic of any kind: the suite blocks sockets beyond loopback, and Chromium must
# not try (updates, metrics, safe browsing, translation, DNS prefetch, first-run pings).
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,NetworkPrediction,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--safebrowsing-disable-auto-update",
    "--dns-prefetch-disable",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]

# Recorded by the page itself, before any of its scripts run.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(run_dir: Path, users: list[dict], audit: Path):
    """The dashboard as `hiddennet serve` wires it (loopback, Host check, cookie binding), in a thread."""
    port = free_port()
    plan = plan_deployment(run_dir, "127.0.0.1", port)
    app = create_app(
        run_dir,
        users=users,
        audit_path=audit,
        allowed_hosts=plan.allowed_hosts,
        secure_cookies=plan.secure_cookies,
        deployment=plan.deployment,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium():
    """Debian's Chromium under Playwright, closed at the end (the browser tests' module fixture)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


def launch(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium (scripts/test installs it; "
            "or apt-get install -y chromium)"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class Watched:
    """A page whose console errors, page errors, CSP violations and off-host requests are kept."""

    def __init__(self, context, base: str):
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        context.add_init_script(CSP_LISTENER)
        self.page = context.new_page()
        self.page.on(
            "console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        self.page.on("request", lambda r: None if r.url.startswith((base, "data:")) else self.outside.append(r.url))

    def goto(self, path: str):
        r = self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")
        return r

    def violations(self) -> list[str]:
        return list(self.page.evaluate("window.__cspViolations || []"))

    def assert_clean(self) -> None:
        v = self.violations()
        assert not v, f"CSP violations: {v}"
        assert not self.errors, f"console/page errors: {self.errors}"
        assert not self.outside, f"requests beyond the dashboard: {self.outside}"

    def sign_in(self, token: str) -> None:
        self.goto("/login")
        self.page.fill("input[name=token]", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("load")
        assert "/login" not in self.page.url, "sign-in failed"
