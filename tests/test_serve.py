"""The dashboard: default deny, role checks, one audit line per request (allowed and denied),
CSRF, security headers, the notice on every page, no external reference, never a traceback,
and people to safeguard never shown as targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from serve_helpers import TOKENS, USERS, audit_lines, bearer, csrf_of, https_client, sign_in

from hiddennet import auditlog
from hiddennet.errors import OutputError
from hiddennet.report.sample import write_sample_run
from hiddennet.serve import add_user, create_app, hash_token
from hiddennet.serve.security import Actor
from hiddennet.serve.users import load_users
from hiddennet.stage import NOTICE

TestClient = https_client  # the session cookies are Secure: every client talks HTTPS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("run"))


@pytest.fixture
def app_audit(run_dir, tmp_path):
    audit = tmp_path / "audit.jsonl"
    return create_app(run_dir, users=USERS, audit_path=audit), audit


@pytest.fixture
def client(app_audit):
    return TestClient(app_audit[0])


def ids(run_dir: Path):
    """A ranked group, a flagged person and an unflagged member of a ranked group, from the sample run."""
    groups = pq.read_table(run_dir / "tables" / "groups.parquet").to_pylist()
    ranked = sorted((g for g in groups if g["priority_rank"] is not None), key=lambda g: g["priority_rank"])
    sg = pq.read_table(run_dir / "tables" / "safeguarding.parquet").to_pylist()
    noms = pq.read_table(run_dir / "tables" / "nominals.parquet").to_pylist()
    member = next(n["nominal_id"] for n in noms if not n["safeguarding_flagged"])
    return ranked[0]["group_id"], sg[0]["nominal_id"], member


PAGES = ["/", "/groups", "/groups/{g}", "/groups/{g}/dismantling", "/safeguarding", "/people/{p}"]
APIS = [
    "/api/overview",
    "/api/groups",
    "/api/groups/{g}",
    "/api/groups/{g}/dismantling",
    "/api/safeguarding",
    "/api/people/{p}",
]

# Expected status per role (None = no token). Written from the policy in the brief:
# safeguarding list for safeguarding leads and intelligence officers only; per-person detail
# for intelligence officers only; analysts see groups and dismantling orders (people anonymised).
MATRIX = {
    "/": {None: 401, "analyst": 200, "intelligence_officer": 200, "safeguarding_lead": 200},
    "/groups": {None: 401, "analyst": 200, "intelligence_officer": 200, "safeguarding_lead": 403},
    "/groups/{g}": {None: 401, "analyst": 200, "intelligence_officer": 200, "safeguarding_lead": 403},
    "/groups/{g}/dismantling": {None: 401, "analyst": 200, "intelligence_officer": 200, "safeguarding_lead": 403},
    "/safeguarding": {None: 401, "analyst": 403, "intelligence_officer": 200, "safeguarding_lead": 200},
    "/people/{p}": {None: 401, "analyst": 403, "intelligence_officer": 200, "safeguarding_lead": 403},
}


@pytest.mark.parametrize("role", [None, "analyst", "intelligence_officer", "safeguarding_lead"])
def test_role_matrix_pages_and_api(client, run_dir, role):
    g, _, member = ids(run_dir)
    for page, api in zip(PAGES, APIS, strict=True):
        want = MATRIX[page][role]
        for path in (page, api):
            r = client.get(path.format(g=g, p=member), headers=bearer(role))
            assert r.status_code == want, (path, role, r.status_code)


def test_default_deny_leaks_nothing(client, run_dir):
    g, flagged, member = ids(run_dir)
    for path in PAGES + APIS:
        r = client.get(path.format(g=g, p=member))
        assert r.status_code == 401
        assert not re.search(r"\bN\d{4}\b", r.text)  # no nominal id in a refusal
    r = client.get("/", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_every_request_is_audited_allowed_and_denied(app_audit, run_dir):
    app, audit = app_audit
    c = TestClient(app)
    g, _, member = ids(run_dir)
    c.get(f"/groups/{g}", headers=bearer("analyst"))
    c.get(f"/people/{member}", headers=bearer("analyst"))
    c.get("/safeguarding")
    c.get("/static/hiddennet.css")
    c.get("/no-such-page", headers=bearer("analyst"))
    lines = audit_lines(audit)
    assert len(lines) == 5
    assert [(x["action"], x["outcome"]) for x in lines] == [
        ("view_group", "allowed"),
        ("view_person", "denied"),
        ("view_safeguarding", "denied"),
        ("static", "allowed"),
        ("request", "not_found"),
    ]
    assert (
        lines[0]["actor"] == "user-analyst" and lines[0]["role"] == "analyst" and lines[0]["resource"] == f"group:{g}"
    )
    assert lines[1]["resource"] == f"person:{member}" and lines[1]["status"] == 403
    assert lines[2]["actor"] is None and lines[2]["status"] == 401
    for x in lines:
        assert x["time_utc"].endswith("Z") and x["client"] and x["method"] == "GET"
        assert "tok-" not in json.dumps(x)  # a token never reaches the log


def test_audit_is_append_only_and_chained_across_apps(run_dir, tmp_path):
    audit = tmp_path / "audit.jsonl"
    auditlog.append_event(audit, {"earlier": True})
    TestClient(create_app(run_dir, users=USERS, audit_path=audit)).get("/", headers=bearer("analyst"))
    TestClient(create_app(run_dir, users=USERS, audit_path=audit)).get("/")
    lines = audit_lines(audit)
    assert lines[0]["earlier"] is True and len(lines) == 3
    assert [x["seq"] for x in lines] == [1, 2, 3] and lines[2]["prev"] == lines[1]["hash"]
    assert auditlog.verify(audit)[0]


def test_login_with_csrf_then_session_then_logout(client, app_audit):
    _, audit = app_audit
    r = client.get("/login")
    assert r.status_code == 200
    csrf = csrf_of(r.text)
    form = {"name": "user-analyst", "token": TOKENS["analyst"]}
    # No CSRF token: refused before the handler runs, and audited.
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 403
    assert audit_lines(audit)[-1]["outcome"] == "rejected_csrf"
    r = client.post("/login", data={**form, "csrf_token": "wrong"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/login", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    (cookie,) = [c.lower() for c in r.headers.get_list("set-cookie") if "hiddennet-session" in c]
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie and cookie.startswith("__host-")
    assert "max-age" not in cookie and "expires" not in cookie  # a session cookie: gone with the browser
    assert audit_lines(audit)[-1]["outcome"] == "signed_in" and audit_lines(audit)[-1]["actor"] == "user-analyst"
    page = client.get("/groups")
    assert page.status_code == 200  # the session cookie is the actor now
    session_csrf = csrf_of(page.text)
    # State-changing request with a token that is not the session's: refused.
    assert client.post("/logout", headers={"X-Hiddennet-CSRF": csrf}, follow_redirects=False).status_code == 403
    assert client.get("/groups").status_code == 200
    assert client.post("/logout", headers={"X-Hiddennet-CSRF": session_csrf}, follow_redirects=False).status_code == 303
    assert client.get("/groups").status_code == 401


def test_wrong_token_sign_in_is_refused_and_audited(client, app_audit):
    _, audit = app_audit
    r = sign_in(client, "user-analyst", "guess", expect=401)
    assert "hiddennet-session" not in r.headers.get("set-cookie", "")
    assert audit_lines(audit)[-1]["outcome"] == "sign_in_failed"
    # A right token under another user's name is refused too.
    sign_in(client, "user-intelligence_officer", TOKENS["analyst"], expect=401)


def test_csrf_without_cookie_is_refused(client):
    r = client.post("/logout", headers={"X-Hiddennet-CSRF": "anything"}, follow_redirects=False)
    assert r.status_code == 403


def test_security_headers_on_every_response(client, run_dir):
    g, _, member = ids(run_dir)
    for path, role in (
        ("/", "analyst"),
        ("/", None),
        ("/static/hiddennet.css", None),
        ("/nope", None),
        ("/api/groups", "analyst"),
        (f"/people/{member}", "analyst"),
    ):
        h = client.get(path, headers=bearer(role)).headers
        assert "default-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"


def _html_pages(client, run_dir):
    g, flagged, member = ids(run_dir)
    role = "intelligence_officer"
    paths = [p.format(g=g, p=member) for p in PAGES] + [f"/people/{flagged}", "/login", "/nope", f"/groups/{g}?x=1"]
    for p in paths:
        yield p, client.get(p, headers=bearer(role))
    yield "/ (denied)", client.get("/")
    yield "/safeguarding (403)", client.get("/safeguarding", headers=bearer("analyst"))


def test_notice_and_no_external_reference_on_every_page(client, run_dir):
    for path, r in _html_pages(client, run_dir):
        assert r.headers["content-type"].startswith("text/html"), path
        assert NOTICE in r.text, path
        assert "OFFICIAL-SENSITIVE" in r.text, path
        assert "http://" not in r.text and "https://" not in r.text, path
        for ref in re.findall(r'(?:src|href|action)="([^"]*)"', r.text):
            # A path on this server, or a fragment of this page (the overview's contents).
            assert (ref.startswith("/") and not ref.startswith("//")) or re.fullmatch(r"#[a-z0-9-]+", ref), (path, ref)
    j = client.get("/api/overview", headers=bearer("analyst")).json()
    assert j["notice"] == NOTICE


def test_static_files_are_served_from_the_package(client):
    r = client.get("/static/cytoscape.min.js")
    assert r.status_code == 200 and "cytoscape" in r.text[:2000].lower()
    assert client.get("/static/group.js").status_code == 200
    for escape in ("/static/..%2Fserve%2Fapp.py", "/static/%2e%2e/serve/app.py"):
        assert client.get(escape).status_code == 404  # nothing outside the static folder


def test_analyst_sees_no_person_officer_does(client, run_dir):
    g, _, _ = ids(run_dir)
    for path in (f"/groups/{g}", f"/groups/{g}/dismantling", f"/api/groups/{g}", f"/api/groups/{g}/dismantling"):
        assert not re.search(r"\bN\d{4}\b", client.get(path, headers=bearer("analyst")).text), path
    assert re.search(r"\bN\d{4}\b", client.get(f"/groups/{g}", headers=bearer("intelligence_officer")).text)


def test_people_to_safeguard_are_never_targets(client, run_dir):
    _, flagged, _ = ids(run_dir)
    flagged_all = {r["nominal_id"] for r in pq.read_table(run_dir / "tables" / "safeguarding.parquet").to_pylist()}
    officer = bearer("intelligence_officer")
    p = client.get(f"/api/people/{flagged}", headers=officer).json()["data"]
    assert p["to_safeguard"] and "harm" not in p and "harm_explained" not in p
    assert p["safeguarding"]["reason_labels"]
    page = client.get(f"/people/{flagged}", headers=officer).text
    assert "Person to safeguard" in page and "Harm, line by line" not in page
    sg_page = client.get("/safeguarding", headers=bearer("safeguarding_lead")).text
    main = sg_page.split("<main>")[1]
    assert "priority" not in main.lower() and "offender" not in main.lower() and "harm" not in main.lower()
    for g in client.get("/api/groups?limit=1000", headers=officer).json()["data"]["groups"]:
        steps = client.get(f"/api/groups/{g['group_id']}/dismantling", headers=officer).json()["data"]["steps"]
        assert not {s["nominal_id"] for s in steps} & flagged_all
    area = client.get("/api/safeguarding?area=Northtown", headers=officer).json()["data"]["people"]
    assert area and all(x["local_area"] == "Northtown" for x in area)


def test_groups_list_is_by_priority_without_safeguarding_only_groups(client, run_dir):
    rows = client.get("/api/groups", headers=bearer("analyst")).json()["data"]["groups"]
    ranks = [r["priority_rank"] for r in rows]
    assert ranks == sorted(ranks) and None not in ranks
    assert not any(r.get("safeguarding_only") for r in rows)
    assert (
        client.get("/api/groups?limit=2&offset=1", headers=bearer("analyst")).json()["data"]["groups"][0][
            "priority_rank"
        ]
        == 2
    )


def test_failures_never_show_a_traceback(run_dir, tmp_path):
    """A table that cannot be read gives a plain 503 page on the pages that read it, audited as an
    error; the pages that do not read it still serve, and the overview degrades that section only."""
    broken = write_sample_run(tmp_path / "run")
    # Same size, so the run folder still opens (sizes match the manifest); the table cannot be read.
    groups = broken / "tables" / "groups.parquet"
    groups.write_bytes(b"x" * groups.stat().st_size)
    audit = tmp_path / "audit.jsonl"
    c = TestClient(create_app(broken, users=USERS, audit_path=audit))
    r = c.get("/groups", headers=bearer("analyst"))
    assert r.status_code == 503
    assert "Traceback" not in r.text and 'File "' not in r.text and NOTICE in r.text
    assert "table groups could not be read" in r.text
    assert audit_lines(audit)[-1]["outcome"] == "error"
    home = c.get("/", headers=bearer("analyst"))
    assert home.status_code == 200
    assert re.search(r'<section id="network">.*?Not available in this run \(table groups could not be read', home.text, re.S)
    assert 'Not available' not in re.search(r'<section id="sex">(.*?)</section>', home.text, re.S).group(1)
    assert c.get("/safeguarding", headers=bearer("intelligence_officer")).status_code == 200


def test_permission_check_that_raises_denies(run_dir, tmp_path):
    def broken(actor, action, resource):
        raise RuntimeError("policy store down")

    c = TestClient(create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl", permission=broken))
    assert c.get("/", headers=bearer("intelligence_officer")).status_code == 403


def test_replaceable_actor_resolver_and_audit_sink(run_dir):
    events = []

    class Sink:
        def write(self, event):
            events.append(event)

    def resolver(headers, cookies):
        return Actor("sso-user", "analyst") if headers.get("x-remote-user") == "sso-user" else None

    c = TestClient(create_app(run_dir, users=[], actor_resolver=resolver, audit_sink=Sink()))
    assert c.get("/groups", headers={"X-Remote-User": "sso-user"}).status_code == 200
    assert c.get("/groups").status_code == 401
    assert [(e.actor, e.outcome) for e in events] == [("sso-user", "allowed"), (None, "denied")]


def test_unwritable_audit_refuses_to_serve(run_dir, tmp_path):
    class Failing:
        def write(self, event):
            raise OSError("disk full")

    c = TestClient(create_app(run_dir, users=USERS, audit_sink=Failing()))
    r = c.get("/", headers=bearer("analyst"))
    assert r.status_code == 503 and "Overview" not in r.text


def test_users_files(tmp_path, run_dir):
    token = add_user(tmp_path, "ana", "analyst")
    text = (tmp_path / "dashboard_users.json").read_text(encoding="utf-8")
    assert token not in text and hash_token(token) in text
    (tmp_path / "u.toml").write_text(
        f'[[users]]\nname = "io"\nrole = "intelligence_officer"\ntoken_sha256 = "{hash_token("x")}"\n', encoding="utf-8"
    )
    assert load_users(tmp_path / "u.toml", tmp_path)["io"].role == "intelligence_officer"
    assert load_users(None, tmp_path)["ana"].role == "analyst"
    assert load_users(None, tmp_path / "nowhere") == {}
    with pytest.raises(OutputError, match="role"):
        load_users([{"name": "x", "role": "admin", "token_sha256": "0" * 64}], tmp_path)
    with pytest.raises(ValueError):
        add_user(tmp_path, "x", "admin")
    assert oct((tmp_path / "dashboard_users.json").stat().st_mode & 0o777) == "0o600"


def test_no_users_file_means_nobody_gets_in(run_dir, tmp_path):
    c = TestClient(create_app(run_dir, audit_path=tmp_path / "a.jsonl"))
    assert c.get("/", headers=bearer("intelligence_officer")).status_code == 401


def test_api_docs_are_off(client):
    # FastAPI's docs pages load scripts from a CDN: they must not exist.
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_groups_api_ranks_follow_the_ranking_harm(client):
    """Ranks follow the harm of members not flagged for safeguarding; the page says which harm ranks."""
    rows = client.get("/api/groups", headers=bearer("analyst")).json()
    rows = rows["data"]
    rows = rows.get("groups", rows) if isinstance(rows, dict) else rows
    ranked = [r for r in rows if r.get("priority_rank") is not None]
    assert len(ranked) >= 3
    harms = [r["rank_harm_cchi"] for r in sorted(ranked, key=lambda r: r["priority_rank"])]
    assert harms == sorted(harms, reverse=True)
    page = client.get("/groups", headers=bearer("analyst")).text
    assert "Ranking harm (CCHI days)" in page and "Harm, all members (CCHI days)" in page
