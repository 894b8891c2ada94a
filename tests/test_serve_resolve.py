"""The person page shows the records merged into a person and the model's match weights, to the roles
that may search by identity only (docs/resolve.md)."""

from __future__ import annotations

import pytest
from serve_helpers import USERS, bearer, https_client
from workbench_helpers import write_workbench_run

from hiddennet.report.sample import write_table
from hiddennet.serve import create_app
from hiddennet.serve.context import id_path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The workbench run plus entity resolution's tables: the person is its own record, a prison record
    PX1 joined by the model (weights +9.5 surname, -1.25 ethnicity) and an intelligence record IX2 by PNC id."""
    folder = tmp_path_factory.mktemp("run")
    f = write_workbench_run(folder)
    person = f["person"]
    write_table(folder, "nominal_map", {
        "source_system": ["crime", "pins", "intel"], "source_id": [person, "PX1", "IX2"],
        "canonical_id": [person] * 3, "match_probability": [None, 0.987, 1.0], "rule": ["single", "model", "pnc"],
        "linked_to": [None, person, person]})
    write_table(folder, "match_explanations", {
        "nominal_id_a": [person, person], "nominal_id_b": ["PX1", "PX1"], "comparison": ["surname", "ethnicity"],
        "level": [4, 0], "label": ["Exact match on surname", "All other comparisons"], "match_weight": [9.5, -1.25],
        "match_probability": [0.987, 0.987]})
    return folder, person


def _page(run, tmp_path, role):
    folder, person = run
    client = https_client(create_app(folder, users=USERS, audit_path=tmp_path / "audit.jsonl"))
    return client.get(f"/people/{id_path(person)}", headers=bearer(role))


def test_an_intelligence_officer_sees_the_records_and_the_weights(run, tmp_path):
    r = _page(run, tmp_path, "intelligence_officer")
    assert r.status_code == 200
    records = r.text[r.text.index('id="records"'):]
    assert "PX1" in records and "IX2" in records and "pnc" in records and "0.987" in records
    assert "Exact match on surname" in r.text and "9.50" in r.text and "-1.25" in r.text


def test_an_analyst_sees_neither(run, tmp_path):
    """Analysts may not open a person page at all; the records section needs identity search too."""
    r = _page(run, tmp_path, "analyst")
    assert "PX1" not in r.text and "match-weights" not in r.text


def test_a_run_without_resolution_shows_no_records_section(tmp_path_factory, tmp_path):
    folder = tmp_path_factory.mktemp("plain")
    f = write_workbench_run(folder)
    client = https_client(create_app(folder, users=USERS, audit_path=tmp_path / "audit.jsonl"))
    r = client.get(f"/people/{id_path(f['person'])}", headers=bearer("intelligence_officer"))
    assert r.status_code == 200 and 'id="records"' not in r.text
