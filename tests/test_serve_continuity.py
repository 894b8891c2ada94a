"""The dashboard's page of changes and alerts (hiddennet/serve/views/continuity.py): who may see it, that
the per-person rows are for intelligence officers only, that every view is audited, and a run made
without history."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import USERS, audit_lines, bearer, https_client

from hiddennet.report.sample import write_sample_run, write_table
from hiddennet.serve import create_app

CHILD = "N-CHILD-07"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = write_sample_run(tmp_path_factory.mktemp("run"))
    write_table(run, "changes", {
        "change": ["group_merged", "group_dissolved", "newly_flagged", "rank_moved"],
        "group_id": ["G0010", None, "G0002", "G0014"], "previous_group_id": ["G0011", "G0114", None, "G0014"],
        "nominal_id": [None, None, CHILD, None], "before": [25.0, 4.0, None, 12.0], "after": [50.0, None, None, 2.0],
        "detail": [None, None, "child", None]})
    write_table(run, "alerts", {
        "alert": ["entered_top_n", "new_child_in_ranked_group"], "group_id": ["G0014", "G0002"],
        "nominal_id": [None, CHILD], "before": [12.0, None], "after": [2.0, 6.0], "detail": ["10", None]})
    return run


@pytest.mark.parametrize("role,status", [(None, 401), ("analyst", 200), ("intelligence_officer", 200),
                                         ("safeguarding_lead", 403)])
def test_who_may_see_changes_and_alerts(run_dir, tmp_path, role, status):
    audit = tmp_path / "audit.jsonl"
    client = https_client(create_app(run_dir, users=USERS, audit_path=audit))
    r = client.get("/continuity", headers=bearer(role))
    assert r.status_code == status
    lines = [x for x in audit_lines(audit) if x.get("resource") == "continuity"]
    assert lines and lines[-1]["outcome"] == ("allowed" if status == 200 else "denied")


def test_person_rows_for_officers_only(run_dir, tmp_path):
    """Both see the merge, the dissolved group and the group entering the top 10; only the officer sees
    the newly flagged child and the alert naming them."""
    client = https_client(create_app(run_dir, users=USERS, audit_path=tmp_path / "a.jsonl"))
    analyst = client.get("/continuity", headers=bearer("analyst")).text
    officer = client.get("/continuity", headers=bearer("intelligence_officer")).text
    for page in (analyst, officer):
        assert "G0011" in page and "G0114" in page and "entered top n" in page
    assert CHILD not in analyst and "new child in ranked group" not in analyst
    assert CHILD in officer and "new child in ranked group" in officer


def test_a_run_without_history_says_so(tmp_path):
    run = write_sample_run(tmp_path / "run")
    client = https_client(create_app(run, users=USERS, audit_path=tmp_path / "a.jsonl"))
    r = client.get("/continuity", headers=bearer("intelligence_officer"))
    assert r.status_code == 200 and "without a run history" in r.text
