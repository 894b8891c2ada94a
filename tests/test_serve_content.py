"""What each role sees, in every page, API and export: handling codes withhold evidence ids,
safeguarding leads see their own areas only (and no ranked groups), a group made only of people
to safeguard carries no harm, every list API is paginated, ids with any character are reachable,
CSV cells cannot carry formulas, and a lead makes their own area's referral pack."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
from serve_helpers import ODD_ID, TOKENS, USERS, audit_lines, bearer, csrf_of, https_client, sign_in, write_rich_run

from hiddennet.serve import create_app
from hiddennet.serve.views.exports import csv_cell
from hiddennet.settings import Settings


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, write_rich_run(run_dir)


@pytest.fixture
def app_audit(rich, tmp_path):
    audit = tmp_path / "audit.jsonl"
    return create_app(rich[0], users=USERS, audit_path=audit), audit


@pytest.fixture
def client(app_audit):
    return https_client(app_audit[0])


def get(client, path: str, role: str):
    r = client.get(path, headers=bearer(role))
    assert r.status_code == 200, (path, role, r.status_code)
    return r


# -- handling codes -------------------------------------------------------------------------------


def _layers(links: list[dict]) -> list[dict]:
    return [e for link in links for e in link["layers"] if e["layer"] == "intel"]


def test_most_restrictive_code_hides_log_ids_from_analysts_everywhere(client, rich):
    top = rich[1]["top"]
    a = _layers(get(client, f"/api/groups/{top}/links?limit=500", "analyst").json()["data"]["links"])
    o = _layers(get(client, f"/api/groups/{top}/links?limit=500", "intelligence_officer").json()["data"]["links"])
    assert {e["handling_code"] for e in a} >= {"5", "2"}
    for e in a:
        if e["handling_code"] == "5":
            assert e["log_ids"] is None and e["evidence_withheld"] == "handling code 5"
        else:
            assert e["log_ids"]
    assert all(e["log_ids"] for e in o)  # officers see every log id
    page = get(client, f"/groups/{top}", "analyst").text
    assert "LSECRET5" not in page and "LOPEN2" in page and "Withheld from your role (handling code 5)" in page
    assert "LSECRET5" in get(client, f"/groups/{top}", "intelligence_officer").text
    exported = get(client, f"/groups/{top}/links.csv", "analyst").text
    assert "LSECRET5" not in exported and "LOPEN2" in exported
    assert "LSECRET5" in get(client, f"/groups/{top}/links.csv", "intelligence_officer").text


def test_handling_policy_is_a_setting(rich, tmp_path):
    """Code 2 restricted to officers and code 5 opened to analysts: the views follow the setting."""
    s = Settings(dashboard_handling_roles={"2": ["intelligence_officer"], "5": ["analyst", "intelligence_officer"]})
    c = https_client(create_app(rich[0], users=USERS, audit_path=tmp_path / "a.jsonl", settings=s))
    page = get(c, f"/groups/{rich[1]['top']}", "analyst").text
    assert "LSECRET5" in page and "LOPEN2" not in page


def test_person_links_follow_the_handling_policy(rich, tmp_path):
    s = Settings(dashboard_handling_roles={"5": []})  # nobody sees code-5 evidence
    c = https_client(create_app(rich[0], users=USERS, audit_path=tmp_path / "a.jsonl", settings=s))
    p = get(c, f"/api/people/{quote(ODD_ID, safe='')}", "intelligence_officer").json()["data"]
    fives = [x for x in p["links"] if x.get("handling_code") == "5"]
    assert fives and all(x["log_ids"] is None for x in fives)
    assert "LSECRET5" not in get(c, f"/people/{quote(ODD_ID, safe='')}", "intelligence_officer").text


# -- safeguarding leads scoped to their areas --------------------------------------------------------


def test_safeguarding_lead_sees_only_their_area(client, rich):
    people = get(client, "/api/safeguarding?limit=500", "safeguarding_lead").json()["data"]["people"]
    assert people and {p["local_area"] for p in people} == {"Northtown"}  # USERS give the lead Northtown
    page = get(client, "/safeguarding", "safeguarding_lead").text
    assert "Southvale" not in page.split("<main>")[1]
    assert client.get("/api/safeguarding?area=Southvale", headers=bearer("safeguarding_lead")).status_code == 403
    assert client.get("/safeguarding?area=Southvale", headers=bearer("safeguarding_lead")).status_code == 403
    everyone = get(client, "/api/safeguarding?limit=500", "intelligence_officer").json()["data"]["people"]
    assert {p["local_area"] for p in everyone} == {"Northtown", "Southvale"}


def test_a_lead_without_areas_sees_nobody(rich, tmp_path):
    users = [{**u, "areas": []} if u["role"] == "safeguarding_lead" else u for u in USERS]
    c = https_client(create_app(rich[0], users=users, audit_path=tmp_path / "a.jsonl"))
    assert get(c, "/api/safeguarding", "safeguarding_lead").json()["data"]["people"] == []


def test_overview_shows_a_lead_no_ranked_groups_with_harm(client, rich):
    page = get(client, "/", "safeguarding_lead").text
    assert "Priority: the top" not in page and "Ranking harm" not in page
    f = get(client, "/api/overview", "safeguarding_lead").json()["data"]
    assert f["network"]["available"] is False and "priority" not in f["network"]
    assert {r["area"] for r in f["safeguarding"]["by_area"]} == {"Northtown"}
    assert "Priority: the top" in get(client, "/", "analyst").text  # other roles keep it


# -- children-only groups carry no harm ------------------------------------------------------------------


def test_safeguarding_only_group_carries_no_harm_in_any_view(client, rich):
    g = rich[1]["safeguarding_only"]
    for role in ("analyst", "intelligence_officer"):
        row = get(client, f"/api/groups/{g}", role).json()["data"]["group"]
        assert row["safeguarding_only"] and not {
            "harm_cchi",
            "harm_ons",
            "rank_harm_cchi",
            "rank_harm_ons",
            "priority_rank",
        } & set(row)
        page = get(client, f"/groups/{g}", role).text
        assert "Harm" not in page.split("<main>")[1].split("Members and links")[0]
    listed = get(client, "/api/groups?limit=500", "analyst").json()["data"]["groups"]
    assert g not in {x["group_id"] for x in listed}


# -- pagination ------------------------------------------------------------------------------------------


def test_every_list_api_is_paginated_with_a_maximum(rich, tmp_path):
    c = https_client(
        create_app(rich[0], users=USERS, audit_path=tmp_path / "a.jsonl", settings=Settings(dashboard_page_max=3))
    )
    for path, key in (
        ("/api/safeguarding", "people"),
        ("/api/groups", "groups"),
        (f"/api/groups/{rich[1]['top']}/links", "links"),
    ):
        d = get(c, f"{path}?limit=100000", "intelligence_officer").json()["data"]
        assert d["limit"] == 3 and len(d[key]) == 3 and d["total"] > 3 and d["next_offset"] == 3, path
        seen = []
        offset = 0
        while offset is not None:
            page = get(c, f"{path}?limit=3&offset={offset}", "intelligence_officer").json()["data"]
            seen += page[key]
            offset = page["next_offset"]
        assert len(seen) == d["total"], path


def test_default_safeguarding_page_is_bounded(client):
    d = get(client, "/api/safeguarding", "intelligence_officer").json()["data"]
    assert d["limit"] == 100 and "next_offset" in d


# -- ids with any character --------------------------------------------------------------------------------


def test_person_whose_id_holds_a_slash_is_reachable(client, rich):
    enc = quote(ODD_ID, safe="")
    assert get(client, f"/people/{enc}", "intelligence_officer").status_code == 200
    assert get(client, f"/api/people/{enc}", "intelligence_officer").json()["data"]["nominal_id"] == ODD_ID
    page = get(client, f"/groups/{rich[1]['top']}", "intelligence_officer").text
    assert f'href="/people/{enc}"' in page  # the group page links to it, encoded
    assert client.get(f"/people/{enc}x", headers=bearer("intelligence_officer")).status_code == 404


# -- CSV cells ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_cannot_start_a_formula(cell):
    assert csv_cell(cell) == "'" + cell


def test_csv_cells_that_are_not_formulas_are_unchanged():
    assert csv_cell("Northtown") == "Northtown" and csv_cell(None) == "" and csv_cell(3) == "3"


def test_links_export_escapes_formula_cells(client, rich):
    text = get(client, f"/groups/{rich[1]['top']}/links.csv", "intelligence_officer").text
    rows = list(csv.reader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#")))))
    cells = [c for r in rows for c in r]
    assert any(c.startswith("'=L") for c in cells) and not any(c.startswith("=") for c in cells)


# -- referral pack for the lead's own area -------------------------------------------------------------------


def test_lead_makes_the_referral_pack_of_their_own_area(rich, tmp_path):
    audit = tmp_path / "a.jsonl"
    app = create_app(rich[0], users=USERS, audit_path=audit)
    c = https_client(app)
    sign_in(c, "user-safeguarding_lead", TOKENS["safeguarding_lead"])
    page = c.get("/safeguarding").text
    assert 'action="/safeguarding/referral-pack"' in page
    csrf = csrf_of(page)
    r = c.post("/safeguarding/referral-pack", data={"area": "Northtown", "format": "csv", "csrf_token": csrf})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert "Southvale" not in r.text
    last = audit_lines(audit)[-1]
    assert (last["action"], last["outcome"], last["resource"]) == ("make_referral_pack", "allowed", "area:Northtown")
    disclosures = [json.loads(x) for x in (rich[0] / "disclosures.jsonl").read_text().splitlines()]
    assert disclosures[-1]["actor"] == "user-safeguarding_lead" and disclosures[-1]["area"] == "Northtown"
    r = c.post("/safeguarding/referral-pack", data={"area": "Southvale", "format": "csv", "csrf_token": csrf})
    assert r.status_code == 403 and audit_lines(audit)[-1]["outcome"] == "denied"


def test_other_roles_cannot_make_referral_packs(rich, tmp_path):
    c = https_client(create_app(rich[0], users=USERS, audit_path=tmp_path / "a.jsonl"))
    for role in ("analyst", "intelligence_officer"):
        sign_in(c, f"user-{role}", TOKENS[role])
        csrf = csrf_of(c.get("/").text)
        r = c.post("/safeguarding/referral-pack", data={"area": "Northtown", "csrf_token": csrf})
        assert r.status_code == 403, role
    assert pq.read_table(rich[0] / "tables" / "safeguarding.parquet").num_rows  # the run is intact


def test_a_mistyped_handling_code_is_a_settings_error():
    from hiddennet.errors import SettingsError
    from hiddennet.settings import load_settings

    with pytest.raises(SettingsError, match="dashboard_handling_roles"):
        load_settings(dashboard_handling_roles={"05": ["analyst"]})
    with pytest.raises(SettingsError, match="dashboard_handling_roles"):
        load_settings(dashboard_handling_roles={"5": ["admin"]})


def test_any_id_reaches_its_route_intact(rich, tmp_path_factory):
    """Property: whatever characters an id holds, its encoded link reaches the route with the id
    unchanged (the audit names exactly that person). Ids "." and ".." are left out: every URL
    parser folds them as path steps, so no id of those two values can be a path segment."""
    from hypothesis import given, settings, strategies as st

    from hiddennet.serve.context import id_path

    audit = tmp_path_factory.mktemp("a") / "a.jsonl"
    c = https_client(create_app(rich[0], users=USERS, audit_path=audit))

    @settings(max_examples=40, deadline=None)
    @given(st.text(min_size=1, max_size=12).filter(lambda s: s not in (".", "..")))
    def check(nominal_id):
        r = c.get(f"/api/people/{id_path(nominal_id)}", headers=bearer("intelligence_officer"))
        assert r.status_code == 404
        assert audit_lines(audit)[-1]["resource"] == f"person:{nominal_id}"

    check()


def test_safeguarding_list_is_sorted_by_triage_band(tmp_path):
    """With a triage table the list (API and page) puts the most urgent band first: two people given
    `monitor` and `immediate` by hand come back immediate first, then monitor, then those not triaged."""
    import pyarrow as pa

    from hiddennet.report.sample import write_sample_run, write_table

    run = write_sample_run(tmp_path / "run")
    ids = sorted(pq.read_table(run / "tables" / "safeguarding.parquet").column("nominal_id").to_pylist())
    assert len(ids) >= 3
    write_table(run, "safeguarding_triage", pa.table({
        "nominal_id": [ids[0], ids[1]], "band": ["monitor", "immediate"], "band_order": [4, 1],
        "band_reasons": [["no_recent_activity"], ["child_recent"]],
    }))
    c = https_client(create_app(run, users=USERS, audit_path=tmp_path / "a.jsonl"))
    people = get(c, "/api/safeguarding?limit=500", "intelligence_officer").json()["data"]["people"]
    assert [p["nominal_id"] for p in people[:2]] == [ids[1], ids[0]]
    assert [p["band"] for p in people[:2]] == ["immediate", "monitor"] and people[2]["band"] is None
    page = get(c, "/safeguarding", "intelligence_officer").text
    assert page.index("immediate") < page.index("monitor") < page.index("not triaged")
