"""One run of the whole pipeline on a generated force, checked as a new user would check it."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings
from hiddennet.stage import NOTICE

# One worker runs the module, so its pipeline fixture runs once (not once per xdist worker).
pytestmark = pytest.mark.xdist_group("end_to_end")

# spec/outputs.md: every table and its required columns.
REQUIRED = {
    "full_table": "crime_ref offender_id victim_id offence_date offence_title offender_age victim_age offender_sex victim_sex",
    "final_table": "offender_1 offender_2 crime_ref_1 crime_ref_2 victim_id weight",
    "edges": "nominal_a nominal_b layer weight first_date last_date evidence_count handling_code",
    "nominals": "nominal_id group_id in_cse_network in_soc_network harm_cchi harm_ons degree weighted_degree "
    "betweenness is_child victim_offender_overlap",
    "groups": "group_id size harm_cchi harm_ons priority_rank soc_overlap parent_component safeguarding_only",
    "dismantling": "group_id step nominal_id remaining_largest_fraction harm_removed_cchi exact",
    "safeguarding": "nominal_id reasons group_ids local_area age_on_as_of",
    "quarantine": "source_table line column reason action",
}


# Session scope: under xdist a module fixture is torn down whenever the worker moves on to another
# module between this module's tests, and the pipeline would run again.
@pytest.fixture(scope="session")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    generate_force(base / "input", scale=0.05, seed=7, dirty=True)
    result = run_pipeline(base / "input", base / "out", Settings())
    return base, result


def table(base, name):
    return pq.read_table(base / "out" / "tables" / f"{name}.parquet")


def test_every_output_table_has_its_required_columns_and_the_notice(run):
    base, _ = run
    for name, cols in REQUIRED.items():
        path = base / "out" / "tables" / f"{name}.parquet"
        assert path.is_file(), name
        names = set(pq.read_schema(path).names)
        missing = set(cols.split()) - names
        assert not missing, (name, missing)
        assert pq.read_metadata(path).metadata[b"hiddennet_notice"].decode() == NOTICE


def test_manifest_accounts_for_every_row(run):
    base, result = run
    manifest = json.loads((base / "out" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest, default=str))
    assert manifest["as_of"] and manifest["settings"]["max_group_size"] == 50
    assert all(v.startswith("sha256:") for v in manifest["input"]["checksums"].values())
    tables = manifest["stages"]["ingest"]["tables"]
    assert {"crimes", "nominals", "crime_nominals"} <= set(tables)
    quarantined = 0
    for name, t in tables.items():
        assert t["rows_read"] == t["accepted"] + t["rejected"], name
        quarantined += t["rejected"]
    assert quarantined > 0  # the dirty force plants bad rows
    for stage in ("ingest", "select", "layers", "network", "safeguard", "harm", "dismantle", "fairness"):
        assert stage in manifest["stage_seconds"]


def test_no_safeguarding_flagged_person_is_a_target(run):
    base, _ = run
    flagged = set(table(base, "safeguarding").column("nominal_id").to_pylist())
    assert flagged, "a generated force always has children to safeguard"
    picks = set(table(base, "dismantling").column("nominal_id").to_pylist())
    assert not flagged & picks
    groups = table(base, "groups").to_pylist()
    members = {}
    for n in table(base, "nominals").to_pylist():
        members.setdefault(n["group_id"], []).append(n["nominal_id"])
    for g in groups:
        if g["priority_rank"] is not None:
            assert not set(members[g["group_id"]]) <= flagged


def test_every_child_victim_in_the_full_table_has_a_safeguarding_row(run):
    """Victims of selected crimes who are under 26 on as_of are children or transitional victims: each has a row."""
    import duckdb

    base, result = run
    t = base / "out" / "tables"
    missing = duckdb.sql(
        f"""
        SELECT count(DISTINCT f.victim_id)
        FROM '{t}/full_table.parquet' f JOIN '{t}/input_nominals.parquet' n ON n.nominal_id = f.victim_id
        WHERE date_diff('year', n.date_of_birth, DATE '{result.manifest["as_of"]}')
              - CASE WHEN strftime(n.date_of_birth, '%m-%d') > strftime(DATE '{result.manifest["as_of"]}', '%m-%d')
                     THEN 1 ELSE 0 END < 26
          AND f.victim_id NOT IN (SELECT nominal_id FROM '{t}/safeguarding.parquet')
        """
    ).fetchall()[0][0]
    assert missing == 0


def test_rerun_gives_identical_tables(run, tmp_path):
    base, _ = run
    run_pipeline(base / "input", tmp_path / "again", Settings())
    for name in REQUIRED:
        a = table(base, name)
        b = pq.read_table(tmp_path / "again" / "tables" / f"{name}.parquet")
        assert a.equals(b), name


def test_cli_run_json(run, tmp_path):
    base, _ = run
    config = tmp_path / "settings.toml"  # the stability reruns are covered above; here the CLI is under test
    config.write_text("stability_checks = false\n", encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "hiddennet", "run", str(base / "input"), "--out", str(tmp_path / "o"), "--json",
         "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["tables"]["full_table"] > 0 and summary["quarantined"] > 0
