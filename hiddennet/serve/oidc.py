"""Single sign-on over OpenID Connect (Entra ID app roles, or any OIDC provider).

Authorization code flow with PKCE (S256), `state` and `nonce` kept on the server and checked once;
the ID token's signature is verified against the provider's JWKS (RS256, PS256 or ES256 only,
fetched again once when a key id is unknown, so key rotation works), and its issuer, audience,
expiry and nonce are checked. The user's roles come from a configurable claim (Entra ID: `roles`)
mapped to dashboard roles by a setting; a user with no mapped role is refused. authlib builds the
authorization request and the PKCE challenge; joserfc (authlib's JOSE library) checks the token.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hiddennet.errors import SettingsError
from hiddennet.serve.security import Actor
from hiddennet.settings import Settings

ALGORITHMS = ("RS256", "PS256", "ES256")
PENDING_SECONDS = 600
# Several mapped roles: the one giving least access wins (a safe choice, not a union of rights).
ROLE_ORDER = ("analyst", "safeguarding_lead", "intelligence_officer")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class OidcError(Exception):
    """A sign-in that must be refused; `reason` is a short code for the audit log (no token data)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_url: str
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)
    areas_claim: str = "hiddennet_areas"
    name_claim: str = "preferred_username"
    leeway_seconds: int = 60

    @classmethod
    def from_settings(cls, s: Settings, environ: Mapping[str, str] = os.environ) -> OidcConfig | None:
        if not s.dashboard_oidc_issuer:
            return None
        if not s.dashboard_oidc_client_id or not s.dashboard_oidc_redirect_url:
            raise SettingsError(
                "dashboard_oidc_issuer is set: dashboard_oidc_client_id and dashboard_oidc_redirect_url are needed too"
            )
        for what, url in (
            ("dashboard_oidc_issuer", s.dashboard_oidc_issuer),
            ("dashboard_oidc_redirect_url", s.dashboard_oidc_redirect_url),
        ):
            u = urlsplit(url)
            if u.scheme != "https" and not (u.scheme == "http" and u.hostname in LOOPBACK):
                raise SettingsError(f"{what}: must be an https URL (http only on loopback, for testing)")
        return cls(
            issuer=s.dashboard_oidc_issuer.rstrip("/"),
            client_id=s.dashboard_oidc_client_id,
            client_secret=environ.get(s.dashboard_oidc_client_secret_env),
            redirect_url=s.dashboard_oidc_redirect_url,
            roles_claim=s.dashboard_oidc_roles_claim,
            role_map=dict(s.dashboard_oidc_role_map),
            areas_claim=s.dashboard_oidc_areas_claim,
            name_claim=s.dashboard_oidc_name_claim,
        )


@dataclass(frozen=True)
class Pending:
    """A sign-in under way: what the callback must match."""

    state: str
    nonce: str
    code_verifier: str
    created: float


class OidcClient:
    def __init__(self, config: OidcConfig, clock=time.time, transport: httpx.BaseTransport | None = None):
        self.config, self.clock, self._transport = config, clock, transport
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        return httpx.Client(timeout=10.0, transport=self._transport, follow_redirects=False)

    def _get_json(self, url: str) -> dict:
        try:
            with self._http() as h:
                r = h.get(url)
            r.raise_for_status()
            data = r.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError("provider_unreachable") from None
        if not isinstance(data, dict):
            raise OidcError("provider_bad_response")
        return data

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            m = self._get_json(f"{self.config.issuer}/.well-known/openid-configuration")
            if str(m.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise OidcError("discovery_issuer_mismatch")
            for k in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(m.get(k), str):
                    raise OidcError("discovery_incomplete")
            self._metadata = m
        return self._metadata

    def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            try:
                self._keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise OidcError("jwks_invalid") from None
        return self._keys

    # -- the flow ------------------------------------------------------------------------------
    def begin(self) -> tuple[str, str]:
        """(authorization URL, pending id to keep in the browser's pre-sign-in cookie)."""
        p = Pending(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64), self.clock())
        pid = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._pending = {k: v for k, v in self._pending.items() if now - v.created <= PENDING_SECONDS}
            self._pending[pid] = p
        url = prepare_grant_uri(
            self.metadata()["authorization_endpoint"],
            self.config.client_id,
            "code",
            redirect_uri=self.config.redirect_url,
            scope="openid profile",
            state=p.state,
            nonce=p.nonce,
            code_challenge=create_s256_code_challenge(p.code_verifier),
            code_challenge_method="S256",
        )
        return url, pid

    def take_pending(self, pid: str | None) -> Pending:
        with self._lock:
            p = self._pending.pop(pid, None) if pid else None  # one use only
        if p is None or self.clock() - p.created > PENDING_SECONDS:
            raise OidcError("no_sign_in_under_way")
        return p

    def finish(self, pending: Pending, params: Mapping[str, str]) -> dict[str, Any]:
        """Check the callback, redeem the code, verify the ID token; return its claims."""
        if "error" in params:
            raise OidcError("provider_refused")
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise OidcError("state_mismatch")
        code = params.get("code")
        if not code:
            raise OidcError("no_code")
        token = self._redeem(code, pending)
        return self.verify_id_token(token, pending.nonce)

    def _redeem(self, code: str, pending: Pending) -> str:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_url,
            "code_verifier": pending.code_verifier,
            "client_id": self.config.client_id,
        }
        auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret) if self.config.client_secret else None
        try:
            with self._http() as h:
                r = h.post(self.metadata()["token_endpoint"], data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError("token_request_failed") from None
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("no_id_token")
        return id_token

    def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            tok = jwt.decode(id_token, self.keys(), algorithms=list(ALGORITHMS))
        except (JoseError, ValueError):
            try:  # the provider may have rotated its keys: fetch them once more
                tok = jwt.decode(id_token, self.keys(refresh=True), algorithms=list(ALGORITHMS))
            except (JoseError, ValueError):
                raise OidcError("bad_signature") from None
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=self.config.leeway_seconds,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(tok.claims)
        except JoseError as e:
            raise OidcError(f"claim_{getattr(e, 'claim', 'invalid')}") from None
        aud = tok.claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and tok.claims.get("azp") != self.config.client_id:
            raise OidcError("claim_azp")
        return dict(tok.claims)

    def actor(self, claims: Mapping[str, Any]) -> Actor:
        raw = claims.get(self.config.roles_claim) or []
        given = {raw} if isinstance(raw, str) else {str(x) for x in raw} if isinstance(raw, list) else set()
        mapped = {self.config.role_map[g] for g in given if g in self.config.role_map}
        role = next((r for r in ROLE_ORDER if r in mapped), None)
        if role is None:
            raise OidcError("no_allowed_role")
        areas_raw = claims.get(self.config.areas_claim) or []
        areas = (
            (areas_raw,)
            if isinstance(areas_raw, str)
            else tuple(str(a) for a in areas_raw)
            if isinstance(areas_raw, list)
            else ()
        )
        name = claims.get(self.config.name_claim) or claims["sub"]
        return Actor(f"oidc:{name}", role, tuple(sorted(set(areas))), source="oidc")
