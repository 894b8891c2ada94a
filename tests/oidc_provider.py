"""A minimal OpenID Connect provider for the dashboard's tests, run by the test suite itself on
127.0.0.1 (no network): discovery document, JWKS, an authorize endpoint that approves the
configured test user at once, and a token endpoint that checks the client secret and the PKCE
verifier and issues an RS256 ID token signed with joserfc.

Written here rather than taken from PyPI: the maintained mock providers either need Docker or a
separate server process, or do not check PKCE; ours is 150 lines and can be told to issue each
kind of bad token (`fault`) that the dashboard must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

FAULTS = ("bad_signature", "wrong_audience", "wrong_nonce", "expired", "no_role", "wrong_issuer")


@dataclass
class Provider:
    client_id: str = "hiddennet-dashboard"
    client_secret: str = "test-secret"
    user: dict = field(
        default_factory=lambda: {"sub": "u-1", "preferred_username": "ana@force.test", "roles": ["Hiddennet.Analyst"]}
    )
    fault: str | None = None
    port: int = 0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    codes: dict = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- endpoints -------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        i = self.issuer
        return JSONResponse(
            {
                "issuer": i,
                "authorization_endpoint": f"{i}/authorize",
                "token_endpoint": f"{i}/token",
                "jwks_uri": f"{i}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "subject_types_supported": ["public"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        ok = (
            q.get("client_id") == self.client_id
            and q.get("response_type") == "code"
            and q.get("code_challenge_method") == "S256"
            and q.get("code_challenge")
            and q.get("nonce")
            and q.get("state")
        )
        if not ok:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(
            f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", status_code=302
        )

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}  # no python-multipart here
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        grant = self.codes.pop(str(form.get("code")), None)
        if auth != expected or grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": self.id_token(grant["nonce"])}
        )

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.user,
        }
        key = self.key
        if self.fault == "bad_signature":
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same key id, another key
        elif self.fault == "wrong_audience":
            claims["aud"] = "someone-else"
        elif self.fault == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.fault == "expired":
            claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
        elif self.fault == "no_role":
            claims["roles"] = ["Some.Other.App.Role"]
        elif self.fault == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A uvicorn server in a thread, stopped on exit."""

    def __init__(self, app, port: int, **config):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
