"""Dashboard security defects of issue 14, each with a test that failed on the old code:
users read live (removal, rotation), sign-out and timeouts ending server-held sessions, cookies
bound to one deployment (`__Host-`, Secure, session-only), a planted CSRF cookie refused, the
Host check always on (and audited), serve refusing plain HTTP beyond loopback, sign-in throttling,
and 422/500 as plain audited pages."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from serve_helpers import TOKENS, USERS, audit_lines, bearer, csrf_of, https_client, session_cookie, sign_in

from hiddennet.errors import SettingsError
from hiddennet.report.sample import write_sample_run
from hiddennet.serve import create_app, plan_deployment
from hiddennet.serve.sessions import SessionStore
from hiddennet.serve.users import add_user, remove_user, rotate_token
from hiddennet.settings import Settings
from hiddennet.stage import NOTICE


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("run"))


@pytest.fixture
def live_run(tmp_path) -> Path:
    """A run of its own with a users file, so the test can edit it."""
    return write_sample_run(tmp_path / "run")


def test_removed_user_loses_token_and_session_at_once(live_run):
    token = add_user(live_run, "ana", "analyst")
    c = https_client(create_app(live_run))
    assert c.get("/groups", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    sign_in(c, "ana", token)
    assert c.get("/groups").status_code == 200
    remove_user(live_run, "ana")
    assert c.get("/groups").status_code == 401  # the session ended with the user
    assert c.get("/groups", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_rotated_token_old_refused_new_works_at_once(live_run):
    old = add_user(live_run, "ana", "analyst")
    c = https_client(create_app(live_run))
    sign_in(c, "ana", old)
    new = rotate_token(live_run, "ana")
    assert c.get("/groups").status_code == 401  # a session made with the old token ends
    assert c.get("/groups", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert c.get("/groups", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    sign_in(c, "ana", new)
    assert c.get("/groups").status_code == 200


def test_users_file_change_of_the_same_size_and_time_is_seen(live_run):
    """Hash, not just mtime and size: two tokens of equal length swapped within one clock tick."""
    import os

    t1 = add_user(live_run, "ana", "analyst")
    c = https_client(create_app(live_run))
    assert c.get("/", headers={"Authorization": f"Bearer {t1}"}).status_code == 200
    path = live_run / "dashboard_users.json"
    st = path.stat()
    t2 = rotate_token(live_run, "ana")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert c.get("/", headers={"Authorization": f"Bearer {t1}"}).status_code == 401
    assert c.get("/", headers={"Authorization": f"Bearer {t2}"}).status_code == 200


def test_sign_out_ends_the_session_on_the_server(run_dir, tmp_path):
    c = https_client(create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl"))
    sign_in(c, "user-analyst", TOKENS["analyst"])
    name, value = session_cookie(c)
    csrf = csrf_of(c.get("/groups").text)
    assert c.post("/logout", headers={"X-Hiddennet-CSRF": csrf}, follow_redirects=False).status_code == 303
    thief = https_client(c.app)
    thief.cookies.set(name, value)  # the copied cookie, replayed after sign-out
    assert thief.get("/groups").status_code == 401
    assert audit_lines(tmp_path / "a.jsonl")[-2]["outcome"] == "signed_out"


def test_idle_and_absolute_timeouts(run_dir, tmp_path):
    clock = Clock()
    store = SessionStore(idle_seconds=30 * 60, max_seconds=8 * 3600, clock=clock)
    c = https_client(create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl", session_store=store))
    sign_in(c, "user-analyst", TOKENS["analyst"])
    clock.t += 29 * 60
    assert c.get("/groups").status_code == 200  # used within the idle time: still live
    clock.t += 31 * 60
    assert c.get("/groups").status_code == 401  # idle for 31 minutes: ended
    sign_in(c, "user-analyst", TOKENS["analyst"])
    for _ in range(17):  # kept busy every 29 minutes: the absolute limit of 8 hours still ends it
        clock.t += 29 * 60
        c.get("/")
    assert c.get("/groups").status_code == 401


def test_timeouts_come_from_the_settings(run_dir, tmp_path):
    app = create_app(
        run_dir,
        users=USERS,
        audit_path=tmp_path / "a.jsonl",
        settings=Settings(dashboard_session_idle_minutes=5, dashboard_session_max_hours=1),
    )
    assert app.state.dash.sessions.idle_seconds == 300 and app.state.dash.sessions.max_seconds == 3600


def test_cookies_are_host_prefixed_secure_session_cookies(run_dir, tmp_path):
    c = https_client(create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl"))
    r = c.get("/login")
    r = sign_in(c, "user-analyst", TOKENS["analyst"])
    for raw in [*r.headers.get_list("set-cookie")]:
        low = raw.lower()
        assert low.startswith("__host-") and "secure" in low and "httponly" in low and "samesite=strict" in low
        assert "domain=" not in low and "path=/" in low and "max-age" not in low and "expires" not in low


def test_a_cookie_from_another_deployment_is_refused(run_dir, tmp_path):
    """Two dashboards on 127.0.0.1, ports 8001 and 8002, even sharing one session store and key:
    the session made on one is refused by the other, under its own cookie name or the other's."""
    store = SessionStore(1800, 28800)
    key = b"k" * 32
    one = create_app(
        run_dir,
        users=USERS,
        audit_path=tmp_path / "a.jsonl",
        session_store=store,
        session_key=key,
        deployment="http://127.0.0.1:8001|run",
    )
    two = create_app(
        run_dir,
        users=USERS,
        audit_path=tmp_path / "b.jsonl",
        session_store=store,
        session_key=key,
        deployment="http://127.0.0.1:8002|run",
    )
    c1 = https_client(one)
    sign_in(c1, "user-analyst", TOKENS["analyst"])
    name, value = session_cookie(c1)
    assert c1.get("/groups").status_code == 200
    other_name = two.state.dash.cookies.session
    assert other_name != name
    c2 = https_client(two)
    c2.cookies.set(name, value)
    c2.cookies.set(other_name, value)
    assert c2.get("/groups").status_code == 401


def test_a_planted_csrf_cookie_cannot_forge_a_request(run_dir, tmp_path):
    """A page on another local port sets the CSRF cookie to a value it knows and posts the same
    value: refused (the cookie is not signed by this server; signed in, only the session's token counts)."""
    app = create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl")
    c = https_client(app)
    c.cookies.set(app.state.dash.cookies.csrf, "attacker-known")
    r = c.post(
        "/login",
        data={"name": "user-analyst", "token": TOKENS["analyst"], "csrf_token": "attacker-known"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    sign_in(c, "user-analyst", TOKENS["analyst"])
    anon = csrf_of(https_client(app).get("/login").text)  # a validly signed anonymous token, not this session's
    assert c.post("/logout", headers={"X-Hiddennet-CSRF": anon}, follow_redirects=False).status_code == 403
    assert c.get("/groups").status_code == 200


def test_host_header_refusals_are_plain_audited_pages(run_dir, tmp_path):
    audit = tmp_path / "a.jsonl"
    plan = plan_deployment(run_dir, "0.0.0.0", 8765, insecure_no_tls=True, allowed_hosts=["dash.force.test"])
    app = create_app(run_dir, users=USERS, audit_path=audit, allowed_hosts=plan.allowed_hosts)
    c = https_client(app)
    r = c.get("/", headers={**bearer("analyst"), "Host": "evil.test"})
    assert r.status_code == 400 and NOTICE in r.text and "Overview" not in r.text
    assert audit_lines(audit)[-1]["outcome"] == "rejected_host"
    assert c.get("/", headers={**bearer("analyst"), "Host": "dash.force.test:8765"}).status_code == 200
    assert c.get("/", headers={**bearer("analyst"), "Host": "127.0.0.1:8765"}).status_code == 400  # not loopback-bound


def test_serving_beyond_loopback_needs_tls_and_allowed_hosts(run_dir, tmp_path):
    with pytest.raises(SettingsError, match="TLS|tls"):
        plan_deployment(run_dir, "0.0.0.0", 8765, allowed_hosts=["dash.force.test"])
    with pytest.raises(SettingsError, match="allowed-host"):
        plan_deployment(run_dir, "0.0.0.0", 8765, insecure_no_tls=True)
    plan = plan_deployment(run_dir, "0.0.0.0", 8765, insecure_no_tls=True, allowed_hosts=["dash.force.test"])
    assert plan.warning and not plan.secure_cookies
    local = plan_deployment(run_dir, "127.0.0.1", 8765)
    assert "127.0.0.1:8765" in local.allowed_hosts and local.secure_cookies and local.warning is None
    with pytest.raises(SettingsError, match="together"):
        plan_deployment(run_dir, "127.0.0.1", 8765, tls_cert=tmp_path / "c.pem")


def test_serve_command_exits_2_beyond_loopback_without_tls(run_dir):
    r = subprocess.run(
        [sys.executable, "-m", "hiddennet", "serve", str(run_dir), "--host", "0.0.0.0", "--allowed-host", "x.test"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "--tls-cert" in r.stderr and "Traceback" not in r.stderr


def test_sign_in_throttling_per_user_and_address_with_backoff(run_dir, tmp_path):
    audit = tmp_path / "a.jsonl"
    app = create_app(
        run_dir,
        users=USERS,
        audit_path=audit,
        settings=Settings(dashboard_login_max_failures=3, dashboard_login_backoff_seconds=10),
    )
    clock = Clock()
    app.state.dash.throttle.clock = clock
    c = https_client(app)
    for _ in range(3):
        sign_in(c, "user-analyst", "wrong", expect=401)
    r = sign_in(c, "user-analyst", TOKENS["analyst"], expect=429)  # the right token is not even checked now
    assert int(r.headers["retry-after"]) >= 1
    assert audit_lines(audit)[-1]["outcome"] == "sign_in_throttled"
    assert c.get("/", headers=bearer("analyst")).status_code == 429  # bearer tokens from this address too
    clock.t += 11
    sign_in(c, "user-analyst", "wrong", expect=401)  # one more failure: the hold-off doubles
    clock.t += 11
    sign_in(c, "user-analyst", TOKENS["analyst"], expect=429)
    clock.t += 10
    sign_in(c, "user-analyst", TOKENS["analyst"])  # 21 s after: allowed, and the count is cleared
    assert c.get("/groups").status_code == 200


def test_throttle_counts_per_user_name_across_addresses():
    from hiddennet.serve.throttle import LoginThrottle, throttle_keys

    clock = Clock()
    t = LoginThrottle(2, 10, 100, 900, clock=clock)
    t.failed(throttle_keys("ana", "10.0.0.1"))
    t.failed(throttle_keys("ana", "10.0.0.2"))
    assert t.retry_after(throttle_keys("ana", "10.0.0.3")) == 10  # the user is held off from anywhere
    assert t.retry_after(throttle_keys("bob", "10.0.0.3")) == 0
    clock.t += 901
    assert t.retry_after(throttle_keys("ana", "10.0.0.3")) == 0  # forgotten after the window


def test_422_is_a_plain_page_audited_as_rejected_input(run_dir, tmp_path):
    audit = tmp_path / "a.jsonl"
    c = https_client(create_app(run_dir, users=USERS, audit_path=audit))
    r = c.get("/groups?limit=lots", headers=bearer("analyst"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html") and NOTICE in r.text
    assert "lots" not in r.text and '"loc"' not in r.text
    assert audit_lines(audit)[-1]["outcome"] == "rejected_input"
    j = c.get("/api/groups?offset=x", headers=bearer("analyst"))
    assert j.status_code == 422 and set(j.json()) == {"error", "notice"}


def test_500_has_a_correlation_id_logged_without_personal_data(tmp_path, caplog, monkeypatch):
    """A failure of the code (not of a table: that is a 503, below) is a 500 whose page and log carry a
    correlation id and nothing of the person, even when the exception's own text names one."""
    from hiddennet.report.data import RunOutputs

    run = write_sample_run(tmp_path / "run")
    audit = tmp_path / "a.jsonl"
    c = https_client(create_app(run, users=USERS, audit_path=audit))

    def broken(self, name, *args, **kwargs):
        raise RuntimeError("N0001 was in the row")

    monkeypatch.setattr(RunOutputs, "table", broken)
    with caplog.at_level(logging.ERROR, logger="hiddennet.serve"):
        r = c.get("/people/N0001", headers=bearer("intelligence_officer"))
    assert r.status_code == 500 and "Traceback" not in r.text
    cid = audit_lines(audit)[-1]["correlation_id"]
    assert audit_lines(audit)[-1]["outcome"] == "error" and re.fullmatch(r"[0-9a-f]{16}", cid)
    assert cid in r.text and "N0001" not in r.text.split("<main>")[1]
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert cid in logged and "N0001" not in logged


def test_unreadable_table_is_a_503_without_personal_data(tmp_path, caplog):
    broken = write_sample_run(tmp_path / "run")
    table = broken / "tables" / "nominals.parquet"
    # Same size as the listed file: the folder is still a complete run, the table itself unreadable.
    garbage = b"N0001 not parquet "
    table.write_bytes((garbage * (table.stat().st_size // len(garbage) + 1))[: table.stat().st_size])
    audit = tmp_path / "a.jsonl"
    c = https_client(create_app(broken, users=USERS, audit_path=audit))
    with caplog.at_level(logging.ERROR, logger="hiddennet.serve"):
        r = c.get("/people/N0001", headers=bearer("intelligence_officer"))
    assert r.status_code == 503 and "Traceback" not in r.text
    last = audit_lines(audit)[-1]
    assert last["outcome"] == "error" and last["detail"] == "table_unreadable"
    assert "N0001" not in r.text.split("<main>")[1]
    assert "N0001" not in "\n".join(rec.getMessage() for rec in caplog.records)
