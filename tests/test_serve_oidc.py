"""Single sign-on against a local OIDC provider started by the test (tests/oidc_provider.py):
the code flow with PKCE signs a user in with the role their app role maps to; a token with a bad
signature, the wrong audience, issuer or nonce, an expired one, or one without an allowed role is
refused (401, audited with the reason); a callback with a forged state or no pending sign-in too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from oidc_provider import FAULTS, Provider, Running, free_port
from serve_helpers import audit_lines, https_client

from hiddennet.errors import SettingsError
from hiddennet.report.sample import write_sample_run
from hiddennet.serve import create_app
from hiddennet.serve.oidc import OidcConfig
from hiddennet.settings import Settings


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def provider():
    p = Provider(port=free_port())
    with Running(p.app(), p.port):
        yield p


def make_app(run_dir: Path, provider: Provider, audit: Path, monkeypatch):
    monkeypatch.setenv("TEST_OIDC_SECRET", provider.client_secret)
    s = Settings(
        dashboard_oidc_issuer=provider.issuer,
        dashboard_oidc_client_id=provider.client_id,
        dashboard_oidc_client_secret_env="TEST_OIDC_SECRET",
        dashboard_oidc_redirect_url="https://testserver/auth/callback",
    )
    return create_app(run_dir, users=[], audit_path=audit, settings=s)


def sso(client, follow: bool = True):
    """Browser steps: dashboard -> provider (auto-approves) -> dashboard callback."""
    r = client.get("/auth/login", follow_redirects=False)
    assert r.status_code == 303
    (pending,) = [x for x in r.headers.get_list("set-cookie") if "hiddennet-sso" in x]
    assert "samesite=lax" in pending.lower() and "secure" in pending.lower()  # survives the cross-site way back
    at_provider = httpx.get(r.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["location"]
    assert back.startswith("https://testserver/auth/callback?")
    return client.get(back.removeprefix("https://testserver"), follow_redirects=False) if follow else back


@pytest.fixture
def provider_user(provider):
    saved = dict(provider.user)
    yield provider
    provider.user, provider.fault = saved, None


def test_sign_in_with_the_mapped_role(run_dir, provider_user, tmp_path, monkeypatch):
    audit = tmp_path / "audit.jsonl"
    c = https_client(make_app(run_dir, provider_user, audit, monkeypatch))
    assert c.get("/groups").status_code == 401
    r = sso(c)
    # A page of ours (not a redirect) leads on to "/": the SameSite=Strict session cookie then goes with it.
    assert r.status_code == 200 and 'http-equiv="refresh" content="0;url=/"' in r.text
    assert audit_lines(audit)[-1]["outcome"] == "signed_in" and audit_lines(audit)[-1]["actor"] == "oidc:ana@force.test"
    assert audit_lines(audit)[-1]["role"] == "analyst"
    assert c.get("/groups").status_code == 200  # analyst: groups yes
    assert c.get("/safeguarding").status_code == 403  # analyst: safeguarding no


def test_safeguarding_lead_areas_come_from_a_claim(run_dir, provider_user, tmp_path, monkeypatch):
    provider_user.user = {
        "sub": "u-2",
        "preferred_username": "sam",
        "roles": ["Hiddennet.SafeguardingLead"],
        "hiddennet_areas": ["Southvale"],
    }
    c = https_client(make_app(run_dir, provider_user, tmp_path / "a.jsonl", monkeypatch))
    assert sso(c).status_code == 200
    people = c.get("/api/safeguarding?limit=500").json()["data"]["people"]
    assert people and {p["local_area"] for p in people} == {"Southvale"}


REASONS = {
    "bad_signature": "bad_signature",
    "wrong_audience": "claim_aud",
    "wrong_nonce": "claim_nonce",
    "expired": "claim_exp",
    "no_role": "no_allowed_role",
    "wrong_issuer": "claim_iss",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_tokens_are_refused(run_dir, provider_user, tmp_path, monkeypatch, fault):
    audit = tmp_path / "audit.jsonl"
    provider_user.fault = fault
    c = https_client(make_app(run_dir, provider_user, audit, monkeypatch))
    r = sso(c)
    assert r.status_code == 401 and not any("hiddennet-session" in x for x in r.headers.get_list("set-cookie"))
    last = audit_lines(audit)[-1]
    assert last["outcome"] == "sign_in_failed" and last["detail"] == REASONS[fault]
    assert c.get("/").status_code == 401


def test_forged_state_and_replayed_callback_are_refused(run_dir, provider_user, tmp_path, monkeypatch):
    audit = tmp_path / "audit.jsonl"
    c = https_client(make_app(run_dir, provider_user, audit, monkeypatch))
    back = sso(c, follow=False)
    forged = back.replace("state=", "state=x")
    assert c.get(forged.removeprefix("https://testserver"), follow_redirects=False).status_code == 401
    assert audit_lines(audit)[-1]["detail"] == "state_mismatch"
    # The pending sign-in was used up: the genuine callback cannot be replayed after it.
    assert c.get(back.removeprefix("https://testserver"), follow_redirects=False).status_code == 401
    # A callback with no sign-in under way in this browser.
    other = https_client(make_app(run_dir, provider_user, audit, monkeypatch))
    assert other.get("/auth/callback?code=x&state=y", follow_redirects=False).status_code == 401


def test_oidc_settings_are_checked():
    with pytest.raises(SettingsError, match="client_id"):
        OidcConfig.from_settings(Settings(dashboard_oidc_issuer="https://idp.test"))
    with pytest.raises(SettingsError, match="https"):
        OidcConfig.from_settings(
            Settings(
                dashboard_oidc_issuer="http://idp.test",
                dashboard_oidc_client_id="c",
                dashboard_oidc_redirect_url="https://x.test/auth/callback",
            )
        )
    assert OidcConfig.from_settings(Settings()) is None
