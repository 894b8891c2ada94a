"""The dashboard's security, as replaceable defaults: who is asking (actor), may they
(permission check, default deny), and what happened (typed audit events through one sink).

Tokens are never stored: the users file holds the SHA-256 of each user's token. A browser
session is a cookie signed with a key that lives only in the server process, so restarting
the dashboard ends every session.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from hiddennet.errors import OutputError

ROLES = ("analyst", "intelligence_officer", "safeguarding_lead")

# Actions a page or API endpoint asks permission for.
VIEW_OVERVIEW = "view_overview"
VIEW_GROUPS = "view_groups"
VIEW_GROUP = "view_group"
VIEW_DISMANTLING = "view_dismantling"
VIEW_SAFEGUARDING = "view_safeguarding"
VIEW_PERSON = "view_person"

# Default policy: role -> actions. Anything not listed is denied. Per-person detail (names of
# nominals on pictures, a person's harm lines) is for intelligence officers only; the
# safeguarding list is for safeguarding leads and intelligence officers.
DEFAULT_POLICY: dict[str, frozenset[str]] = {
    "analyst": frozenset({VIEW_OVERVIEW, VIEW_GROUPS, VIEW_GROUP, VIEW_DISMANTLING}),
    "intelligence_officer": frozenset({VIEW_OVERVIEW, VIEW_GROUPS, VIEW_GROUP, VIEW_DISMANTLING, VIEW_SAFEGUARDING, VIEW_PERSON}),
    "safeguarding_lead": frozenset({VIEW_OVERVIEW, VIEW_SAFEGUARDING}),
}

SESSION_COOKIE = "hiddennet_session"
CSRF_COOKIE = "hiddennet_csrf"
CSRF_HEADER = "x-hiddennet-csrf"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Actor:
    name: str
    role: str


@dataclass(frozen=True)
class User:
    name: str
    role: str
    token_sha256: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def load_users(source: Path | str | Iterable[Mapping[str, str]] | None, run_dir: Path) -> dict[str, User]:
    """Users from a TOML or JSON file (`[[users]]` / `{"users": [...]}` with name, role,
    token_sha256), from a list of such mappings, or from `<run>/dashboard_users.json`.
    No users file means no one can sign in (default deny)."""
    if source is None:
        path = Path(run_dir) / "dashboard_users.json"
        if not path.is_file():
            return {}
        source = path
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError):
            raise OutputError(f"file {path}: users file is not readable TOML or JSON") from None
        entries = data.get("users", []) if isinstance(data, dict) else []
        where = str(path)
    else:
        entries, where = list(source), "users"
    users = {}
    for i, e in enumerate(entries):
        name, role, digest = e.get("name"), e.get("role"), str(e.get("token_sha256", "")).lower()
        if not name or role not in ROLES or len(digest) != 64:
            raise OutputError(f"file {where}: user entry {i + 1}: needs name, a role in {', '.join(ROLES)} and a 64-hex token_sha256")
        users[name] = User(name, role, digest)
    return users


def add_user(run_dir: Path, name: str, role: str) -> str:
    """Add (or replace) a user in `<run>/dashboard_users.json` and return their new token.

    The token is shown once, here; only its hash is kept."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    path = Path(run_dir) / "dashboard_users.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"users": []}
    token = new_token()
    data["users"] = [u for u in data.get("users", []) if u.get("name") != name]
    data["users"].append({"name": name, "role": role, "token_sha256": hash_token(token)})
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return token


class TokenAuthority:
    """Checks bearer tokens against the users and signs and checks session cookies."""

    def __init__(self, users: Mapping[str, User], key: bytes | None = None):
        self.users = dict(users)
        self._by_hash = {u.token_sha256: u for u in users.values()}
        self._key = key or secrets.token_bytes(32)

    def from_token(self, token: str) -> Actor | None:
        digest = hash_token(token)
        for h, u in self._by_hash.items():
            if hmac.compare_digest(h, digest):
                return Actor(u.name, u.role)
        return None

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).hexdigest()

    def session(self, actor: Actor, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        # No padding: "=" would make the cookie value a quoted string.
        payload = f"{base64.urlsafe_b64encode(actor.name.encode()).decode().rstrip('=')}.{actor.role}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def from_session(self, value: str, now: float | None = None) -> Actor | None:
        try:
            b64, role, expires, sig = value.split(".")
            payload = f"{b64}.{role}.{expires}"
            if not hmac.compare_digest(sig, self._sign(payload)) or int(expires) < (now or time.time()):
                return None
            name = base64.urlsafe_b64decode((b64 + "=" * (-len(b64) % 4)).encode()).decode()
        except (ValueError, UnicodeError):
            return None
        user = self.users.get(name)  # a user removed from the file loses access at once
        return Actor(name, role) if user is not None and user.role == role else None


class ActorResolver(Protocol):
    def __call__(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Actor | None: ...


def default_actor_resolver(authority: TokenAuthority) -> ActorResolver:
    """`Authorization: Bearer <token>` first, else the signed session cookie, else nobody."""

    def resolve(headers: Mapping[str, str], cookies: Mapping[str, str]) -> Actor | None:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return authority.from_token(auth[7:].strip())
        cookie = cookies.get(SESSION_COOKIE)
        return authority.from_session(cookie) if cookie else None

    return resolve


PermissionCheck = Callable[[Actor | None, str, str | None], bool]


def policy_permission(policy: Mapping[str, Iterable[str]] = DEFAULT_POLICY) -> PermissionCheck:
    """(actor, action, resource) -> allowed. Default deny: no actor, an unknown role or an
    action the role does not list is refused."""
    table = {role: frozenset(actions) for role, actions in policy.items()}

    def allowed(actor: Actor | None, action: str, resource: str | None) -> bool:
        if actor is None:
            return False
        return action in table.get(actor.role, frozenset())

    return allowed


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log: who tried to do what to which resource, and the outcome."""

    time_utc: str
    actor: str | None
    role: str | None
    action: str
    resource: str | None
    outcome: str  # allowed, denied, not_found, error, rejected_csrf, signed_in, sign_in_failed
    client: str | None
    method: str
    path: str
    status: int

    @staticmethod
    def now() -> str:
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditSink(Protocol):
    def write(self, event: AuditEvent) -> None: ...


class JsonlAuditSink:
    """Append-only JSON lines; each event is one write to a file opened with O_APPEND and
    flushed to disk before the response goes out, so a crash cannot lose an access."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        line = (json.dumps(asdict(event), sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


def as_record(event: AuditEvent) -> dict[str, Any]:
    return asdict(event)
