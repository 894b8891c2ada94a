"""Sessions held on the server: a cookie carries only a random session id (signed and bound to the
deployment); the session itself (who, since when, last use, its CSRF token) lives here, so
signing out, removing a user or rotating their token ends it at once, and a copied cookie is
worth nothing afterwards. Idle and absolute timeouts come from the settings. Restarting the
server ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hiddennet.serve.security import Actor


@dataclass(frozen=True)
class Session:
    sid: str
    actor: Actor
    deployment: str
    created: float
    last_seen: float
    csrf: str
    token_sha256: str | None = None  # the token signed in with: a rotated token ends the session
    extra: dict = field(default_factory=dict)


class SessionStore:
    """Sessions in memory, each bound to one deployment; expired ones are dropped when met."""

    def __init__(self, idle_seconds: float, max_seconds: float, clock: Callable[[], float] = time.time):
        self.idle_seconds = float(idle_seconds)
        self.max_seconds = float(max_seconds)
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, actor: Actor, deployment: str, token_sha256: str | None = None) -> Session:
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), actor, deployment, now, now, secrets.token_urlsafe(32), token_sha256)
        with self._lock:
            self._sessions[s.sid] = s
        return s

    def get(self, sid: str, deployment: str) -> Session | None:
        """The live session (its last use moved to now), or None when unknown, expired or another
        deployment's."""
        now = self.clock()
        with self._lock:
            s = self._sessions.get(sid)
            if s is None or not hmac.compare_digest(s.deployment, deployment):
                return None
            if now - s.last_seen > self.idle_seconds or now - s.created > self.max_seconds:
                del self._sessions[sid]
                return None
            s = replace(s, last_seen=now)
            self._sessions[sid] = s
            return s

    def revoke(self, sid: str) -> bool:
        with self._lock:
            return self._sessions.pop(sid, None) is not None

    def revoke_user(self, name: str) -> int:
        with self._lock:
            gone = [k for k, s in self._sessions.items() if s.actor.name == name]
            for k in gone:
                del self._sessions[k]
            return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)


class CookieNames:
    """Cookie names and values bound to one deployment.

    The name carries a tag of the deployment (so two dashboards on one host never share or
    overwrite a cookie: cookies ignore ports) and the `__Host-` prefix when Secure (the browser
    then refuses the cookie from any other origin's Set-Cookie with a Domain or Path). The value
    is `sid.mac`, the MAC keyed by this server's secret over the deployment and the id."""

    def __init__(self, key: bytes, deployment: str, secure: bool):
        self.key, self.deployment, self.secure = key, deployment, secure
        tag = hashlib.sha256(deployment.encode("utf-8")).hexdigest()[:12]
        prefix = "__Host-" if secure else ""
        self.session = f"{prefix}hiddennet-session-{tag}"
        self.csrf = f"{prefix}hiddennet-csrf-{tag}"
        self.pending = f"{prefix}hiddennet-sso-{tag}"

    def mac(self, purpose: str, value: str) -> str:
        msg = f"{purpose}\x00{self.deployment}\x00{value}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:43]

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self.mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, mac = signed.rsplit(".", 1)
        return value if hmac.compare_digest(mac, self.mac(purpose, value)) else None

    def attributes(self, samesite: str = "strict") -> dict:
        """No max_age/expires: a session cookie, gone when the browser closes."""
        return {"httponly": True, "samesite": samesite, "secure": self.secure, "path": "/"}
