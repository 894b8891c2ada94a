"""The analyst's workbench pages without a browser: numbers for people (harm in whole days, dates
as dates, yes/no, no raw float), a person's crimes with title, date and a total, and the
dismantling order measured against its target step by step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from serve_helpers import USERS, bearer, https_client
from workbench_helpers import write_workbench_run

from hiddennet.serve import create_app, formats
from hiddennet.serve.context import id_path

RAW_FLOAT = re.compile(r"\d\.\d{4,}")


@pytest.fixture(scope="module")
def wb(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run")
    return run, write_workbench_run(run)


@pytest.fixture
def client(wb, tmp_path):
    return https_client(create_app(wb[0], users=USERS, audit_path=tmp_path / "audit.jsonl"))


def test_filters_hand_worked():
    """Worked by hand: 249.6 days -> "250"; 1234.4 -> "1,234"; True -> yes; a midnight timestamp
    -> its date; 0.5035561877667141 to three places -> 0.504; NaN -> not known."""
    assert formats.days(249.6) == "250" and formats.days(1234.4) == "1,234"
    assert formats.yesno(True) == "yes" and formats.yesno(False) == "no" and formats.yesno(None) == "not known"
    assert formats.yesno("True") == "yes"
    assert formats.date("2019-03-04T00:00:00") == "2019-03-04" and formats.date(None) == ""
    assert formats.value(0.5035561877667141) == "0.504" and formats.value(3.0) == "3" and formats.value(True) == "yes"
    assert formats.days(float("nan")) == "not known"


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_person_page_for_people(client, wb):
    _, f = wb
    r = client.get(f"/people/{id_path(f['person'])}", headers=bearer("intelligence_officer"))
    assert r.status_code == 200
    text = _text(r.text)
    assert not RAW_FLOAT.search(text), RAW_FLOAT.search(text)
    assert "True" not in text and "False" not in text and "nan" not in text.lower().split()
    crimes = r.text[r.text.index('id="crimes"') : r.text.index("</table>", r.text.index('id="crimes"'))]
    for ref, title in f["crimes"].items():
        assert ref in crimes and title in crimes
    assert re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", crimes), "crime dates shown as dates"
    n = len(f["crimes"])
    assert f"Total: {n} crime{'' if n == 1 else 's'}" in crimes
    lines = r.text[r.text.index('id="harm-lines"') :]
    assert f">{f['harm_total']:,}<" in lines, "the harm lines carry their total in whole days"
    assert "0.50" in lines  # the ONS weight to two places, not 0.5035561877667141


def test_dismantling_target_reached_only_when_it_is(client, wb):
    """The sample's steps leave 1 - s/(k+1) of the group; the target is max(2, ceil(0.1 * size))
    members. A step is "Target reached" exactly when its largest piece (share x size, rounded) is
    within that target, whatever the table's group-level target_reached says (True on every row)."""
    import pyarrow.parquet as pq

    run = wb[0]
    groups = pq.read_table(run / "tables" / "groups.parquet").to_pandas()
    d = pq.read_table(run / "tables" / "dismantling.parquet").to_pandas()
    checked = 0
    for gid in d["group_id"].unique():
        size = int(groups[groups["group_id"] == gid]["size"].iloc[0])
        target = max(2, -(-size // 10))
        html = client.get(f"/groups/{id_path(gid)}/dismantling", headers=bearer("analyst")).text
        body = html[html.index('id="steps"') :]
        rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>.*?</tr>", body, flags=re.DOTALL)
        cells = re.findall(r"<tr><td class=\"num\">\d+</td>(.*?)</tr>", body, flags=re.DOTALL)
        steps = d[d["group_id"] == gid].sort_values("step")
        assert len(rows) == len(steps)
        for frac, cell in zip(steps["remaining_largest_fraction"], cells, strict=True):
            reached = round(frac * size) <= target
            assert ("Target reached" in cell) == reached, (gid, frac, size, target)
            assert f'<td class="num">{target}</td>' in cell
            checked += 1
        assert "not yet" in body or steps["remaining_largest_fraction"].max() * size <= target
    assert checked > 0


# -- search ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def named(tmp_path_factory) -> tuple[Path, dict]:
    from workbench_helpers import write_identities

    run = tmp_path_factory.mktemp("named")
    f = write_workbench_run(run)
    write_identities(run, f["person"])
    return run, f


def signed_in(run: Path, role: str, tmp_path: Path, **kw):
    from serve_helpers import TOKENS, sign_in

    c = https_client(create_app(run, users=USERS, audit_path=tmp_path / "audit.jsonl", **kw))
    sign_in(c, f"user-{role}", TOKENS[role])
    return c


def search(c, q: str):
    from serve_helpers import csrf_of

    return c.post("/search", data={"q": q, "csrf_token": csrf_of(c.get("/search").text)})


def test_search_by_role(named, tmp_path):
    """Analyst: group ids only (members are anonymised for that role). Officer: nominal ids, and
    names / PNC ids from nominal_identities. Safeguarding lead: no search. The audit line says a search
    ran, never what was searched."""
    run, f = named
    a = signed_in(run, "analyst", tmp_path)
    r = search(a, f["person"])
    assert r.status_code == 200 and 'id="people-results"' not in r.text and "/people/" not in r.text
    assert f"/groups/{f['top']}" in search(a, f["top"].lower()).text
    assert search(a, "Personne").text.count("/people/") == 0
    o = signed_in(run, "intelligence_officer", tmp_path)
    for q in (f["person"], f["person"].lower(), " testa  PERSONNE ", "personne", "99/0000001z"):
        r = search(o, q)
        assert f'href="/people/{id_path(f["person"])}"' in r.text, q
    assert "Testa" not in search(o, "99/0000001Z").text.replace('value="99/0000001Z"', "")  # the name is not shown
    assert "No person matches" in search(o, "nobody-like-this").text
    sg = signed_in(run, "safeguarding_lead", tmp_path)
    assert sg.get("/search").status_code == 403
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "Personne" not in lines and "0000001" not in lines and '"identity_search"' in lines


def test_search_says_when_names_are_not_published(wb, tmp_path):
    run, f = wb
    o = signed_in(run, "intelligence_officer", tmp_path)
    r = search(o, "Personne")
    assert "publishes no names or PNC ids" in r.text and "No person matches" in r.text
    assert f'href="/people/{id_path(f["person"])}"' in search(o, f["person"]).text


# -- the person-centred view ------------------------------------------------------------------------
def test_network_view_roles_and_cross_group_link(client, wb):
    _run, f = wb
    path = f"/network/{id_path(f['person'])}"
    for role, want in (("analyst", 403), ("safeguarding_lead", 403), ("intelligence_officer", 200)):
        assert client.get(path, headers=bearer(role)).status_code == want, role
        assert client.get("/api" + path, headers=bearer(role)).status_code == want, role
    j = client.get("/api" + path, headers=bearer("intelligence_officer")).json()["data"]
    ids = {n["nominal_id"] for n in j["nodes"]}
    assert f["other"] in ids, "the link Leiden cut (another group) is on the picture"
    cross = next(lk for lk in j["links"] if f["other"] in (lk["a"], lk["b"]))
    (victim,) = [e for e in cross["layers"] if e["layer"] == "victim"]
    assert victim["first_date"] == "2019-05-01" and victim["last_date"] == "2020-02-03" and victim["weight"] == 2.0
    assert victim["crimes"][0]["crime_ref"] == f["cross_crime"] and victim["crimes"][0]["title"]
    for n in j["nodes"]:
        if n["to_safeguard"]:
            assert n["harm_cchi"] is None and n["pick_step"] is None
    assert client.get("/api/network/nobody", headers=bearer("intelligence_officer")).status_code == 404


def test_network_expand_one_hop_and_filters(client, wb):
    """Expanding the other-group member adds their group's links; layer=intel drops the victim
    link; evidence up to 2019-01-01 drops the 2019-05-01..2020-02-03 link; a bad date is refused."""
    _run, f = wb
    path = f"/api/network/{id_path(f['person'])}"

    def get(q=""):
        return client.get(path + q, headers=bearer("intelligence_officer"))

    base = {n["nominal_id"] for n in get().json()["data"]["nodes"]}
    grown = get(f"?expand={id_path(f['other'])}").json()["data"]
    assert base < {n["nominal_id"] for n in grown["nodes"]} and f["other"] in grown["expanded"]
    assert get("?expand=N9999").json()["data"]["expanded"] == [f["person"]], "not on the picture: not expanded"
    intel = get("?layer=intel").json()["data"]
    assert all(e["layer"] == "intel" for lk in intel["links"] for e in lk["layers"])
    assert f["other"] not in {n["nominal_id"] for n in intel["nodes"]}
    early = get("?to=2019-01-01").json()["data"]
    assert f["other"] not in {n["nominal_id"] for n in early["nodes"]}
    assert f["other"] in {n["nominal_id"] for n in get("?from=2020-01-01").json()["data"]["nodes"]}
    for bad in ("2020-13", "2020-13-01", "2020-02-30", "2020-01-01%0A", "x"):
        assert get(f"?from={bad}").status_code == 400, bad


def test_network_evidence_under_handling_rules(wb, tmp_path):
    """With code 5 open to nobody, the officer's view and exports withhold LSECRET5; code-3 logs
    show their date, grading and code."""
    from hiddennet.settings import Settings

    run, f = wb
    s = Settings(dashboard_handling_roles={"5": []})
    c = https_client(create_app(run, users=USERS, audit_path=tmp_path / "a.jsonl", settings=s))
    page = c.get(f"/network/{id_path(f['person'])}", headers=bearer("intelligence_officer")).text
    assert "LSECRET5" not in page and "handling code 5" in page
    assert re.search(r"L\d{4}b, 2020-01-0\d, graded 5x5x5 B2, handling code 3", page)
    for fmt in ("csv", "graphml", "gexf", "i2.csv"):
        r = c.get(f"/network/{id_path(f['person'])}/export.{fmt}", headers=bearer("intelligence_officer"))
        assert r.status_code == 200 and "LSECRET5" not in r.text, fmt
    open_c = https_client(create_app(run, users=USERS, audit_path=tmp_path / "b.jsonl"))
    assert "LSECRET5" in open_c.get(f"/network/{id_path(f['person'])}", headers=bearer("intelligence_officer")).text


def test_path_on_the_page(client, wb):
    _run, f = wb
    r = client.get(
        f"/network/{id_path(f['person'])}?path_to={id_path(f['other'])}", headers=bearer("intelligence_officer")
    )
    assert "Strongest path (1 link, distance 0.500" in r.text
    assert '"layer": "path"' in r.text, "the path is drawn on the graph"
    assert (
        "No nominal"
        in client.get(f"/network/{id_path(f['person'])}?path_to=NOPE", headers=bearer("intelligence_officer")).text
    )


def test_static_files_cacheable_pages_not(client, wb):
    """Static files hold no personal data and may be cached an hour; pages and APIs stay no-store."""
    assert client.get("/static/cytoscape.min.js").headers["cache-control"] == "private, max-age=3600"
    assert client.get("/", headers=bearer("analyst")).headers["cache-control"] == "no-store"
    assert client.get("/static/nope.js").headers["cache-control"] == "no-store"
    _, f = wb
    assert (
        client.get(f"/network/{id_path(f['person'])}", headers=bearer("intelligence_officer")).headers["cache-control"]
        == "no-store"
    )


@pytest.mark.parametrize("role", ["analyst", "intelligence_officer", "safeguarding_lead"])
def test_no_raw_number_or_python_value_on_any_page(client, wb, role):
    """Every page a role may open, as text (the graph's JSON and the SVG left out): no float with
    four or more decimals, no True/False/None/nan."""
    import pyarrow.parquet as pq

    run, f = wb
    child = pq.read_table(run / "tables" / "safeguarding.parquet").to_pylist()[0]["nominal_id"]
    paths = ["/", "/groups", f"/groups/{f['top']}", f"/groups/{f['top']}/dismantling", "/safeguarding", "/search"]
    paths += [f"/people/{id_path(f['person'])}", f"/people/{id_path(child)}", f"/network/{id_path(f['person'])}"]
    seen = 0
    for p in paths:
        r = client.get(p, headers=bearer(role))
        if r.status_code != 200:
            continue
        seen += 1
        body = r.text[r.text.index("<main>") :]
        body = re.sub(r'<script type="application/json".*?</script>|<svg.*?</svg>', "", body, flags=re.DOTALL)
        text = re.sub(r"<[^>]+>", " ", body)
        assert not RAW_FLOAT.search(text), (p, RAW_FLOAT.findall(text)[:3])
        assert not re.search(r"\b(True|False|None|nan)\b", text), (p, re.findall(r"\b(True|False|None|nan)\b", text))
    assert seen >= 2


def test_link_evidence_on_group_and_person_pages(client, wb):
    """Group page (officer): victim links name their crimes with title and date; intel links their
    logs with date and grading; analysts see no crime refs and no code-5 log. Person page: the
    cross-group victim link with its crime's title."""
    _, f = wb
    officer = client.get(f"/groups/{id_path(f['top'])}", headers=bearer("intelligence_officer")).text
    assert re.search(r"<li>C\d{5}: Sexual activity with a child, \d{4}-\d{2}-\d{2}</li>", officer)
    assert re.search(r"<li>L\d{4}b, 2020-01-0\d, graded 5x5x5 B2, handling code 3</li>", officer)
    assert "LSECRET5, 2020-01-01, graded 5x5x5 B2, handling code 5" in officer
    analyst = client.get(f"/groups/{id_path(f['top'])}", headers=bearer("analyst")).text
    assert not re.search(r"C\d{5}", analyst) and "LSECRET5" not in analyst
    assert re.search(r"<li>L\d{4}b, 2020-01-0\d, graded 5x5x5 B2, handling code 3</li>", analyst)
    person = client.get(f"/people/{id_path(f['person'])}", headers=bearer("intelligence_officer")).text
    assert f"<li>{f['cross_crime']}: Sexual activity with a child, " in person


def test_people_to_safeguard_on_a_path_are_drawn_as_such(client, wb):
    """A path from the person to a flagged member of their group, off the picture until the path
    adds them: the picture marks them to_safeguard, with no dismantling pick."""
    import json

    import pyarrow.parquet as pq

    run, f = wb
    n = pq.read_table(run / "tables" / "nominals.parquet").to_pandas()
    child = min(n[(n["group_id"] == f["top"]) & n["safeguarding_flagged"]]["nominal_id"])
    r = client.get(
        f"/network/{id_path(f['person'])}?layer=custody&path_to={id_path(child)}",
        headers=bearer("intelligence_officer"),
    )
    assert r.status_code == 200 and 'id="path-strongest"' in r.text
    pic = json.loads(
        re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', r.text, re.DOTALL).group(1)
    )
    (node,) = [x for x in pic["nodes"] if x["label"] == child]
    assert node["to_safeguard"] is True and node["pick"] is None and node["on_path"] is True


def test_new_views_are_audited(wb, tmp_path):
    """One audit line per request of the workbench, allowed and denied alike, naming the action
    and the resource; a rejected date is `rejected_input`."""
    from serve_helpers import audit_lines

    run, f = wb
    audit = tmp_path / "audit.jsonl"
    c = https_client(create_app(run, users=USERS, audit_path=audit))
    nid = id_path(f["person"])
    c.get(f"/network/{nid}", headers=bearer("intelligence_officer"))
    c.get(f"/network/{nid}", headers=bearer("analyst"))
    c.get(f"/network/{nid}?from=nope", headers=bearer("intelligence_officer"))
    c.get(f"/network/{nid}/export.gexf", headers=bearer("safeguarding_lead"))
    c.get("/search", headers=bearer("safeguarding_lead"))
    got = [(x["action"], x["resource"], x["outcome"], x["role"]) for x in audit_lines(audit)]
    assert got == [
        ("view_network", f"network:{f['person']}", "allowed", "intelligence_officer"),
        ("view_network", f"network:{f['person']}", "denied", "analyst"),
        ("view_network", f"network:{f['person']}", "rejected_input", "intelligence_officer"),
        ("export_network", f"network:{f['person']}", "denied", "safeguarding_lead"),
        ("search", "search", "denied", "safeguarding_lead"),
    ]


def test_dismantling_page_shows_the_proof_and_the_gap(client, wb):
    """Each group's page says the lower bound on the fewest removals and the gap of its order to it, read
    from the `dismantling` table: "Proven fewest removals" exactly when the table says optimal, else
    "a gap of <gap>" with the bound's method in words."""
    import pyarrow.parquet as pq

    d = pq.read_table(wb[0] / "tables" / "dismantling.parquet").to_pandas()
    seen = set()
    for gid, rows in d.groupby("group_id"):
        r = rows.iloc[0]
        html = client.get(f"/groups/{id_path(gid)}/dismantling", headers=bearer("analyst")).text
        proof = html[html.index('id="proof"') : html.index('id="steps"')]
        if r["optimal"]:
            assert f"no order shorter than these {r['lower_bound']} steps" in proof
        else:
            assert f"At least {r['lower_bound']} removals" in proof and f"a gap of {r['gap']}" in proof
        assert ("exact search" if r["bound_method"] == "exact" else "disjoint pieces") in proof
        seen.add(bool(r["optimal"]))
    assert seen == {True, False}, "the sample has both optimal groups and groups with a gap"
