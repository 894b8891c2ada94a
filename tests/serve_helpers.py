"""Shared pieces of the dashboard tests: users with known tokens, a client over HTTPS (the
session cookies are Secure), sign-in through the form, and reading the audit log."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from hiddennet.serve import hash_token

TOKENS = {"analyst": "tok-analyst", "intelligence_officer": "tok-officer", "safeguarding_lead": "tok-safeguarding"}
USERS = [
    {"name": f"user-{role}", "role": role, "token_sha256": hash_token(tok), **({"areas": ["Northtown"]} if role == "safeguarding_lead" else {})}
    for role, tok in TOKENS.items()
]


def https_client(app) -> TestClient:
    return TestClient(app, base_url="https://testserver")


def bearer(role: str | None) -> dict:
    return {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client: TestClient, name: str, token: str, expect: int = 303):
    csrf = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"name": name, "token": token, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == expect, r.status_code
    return r


def session_cookie(client: TestClient) -> tuple[str, str]:
    (name, value), = [(k, v) for k, v in client.cookies.items() if "hiddennet-session" in k]
    return name, value
