"""All-age exploitation in one run (docs/all-age.md): settings, the planted force end to end, byte-identity
with the features off, and the missing-episodes input's quarantine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hiddennet import tables
from hiddennet.errors import SettingsError
from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings, load_settings

pytestmark = pytest.mark.xdist_group("allage")
ALL_AGE = dict(profiles=["cse", "cce", "msht"], cooffending_layer=True, place_layer=True, stability_checks=False)


# -- settings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, words", [
    (dict(profiles=["cse", "nosuch"]), "item 2 is neither a built-in profile"),
    (dict(profiles=["cse", "cse"]), "named twice"),
    (dict(profiles=[]), "empty"),
    (dict(profile="cse", profiles=["cce", "msht"]), "profile and profiles disagree"),
])
def test_bad_profiles_are_a_settings_error_naming_the_setting(bad, words):
    with pytest.raises(SettingsError, match=words):
        load_settings(**bad)


def test_profile_among_profiles_is_accepted_and_default_is_one_profile():
    assert load_settings(profile="cce", profiles=["cse", "cce"]).profiles == ["cse", "cce"]
    assert Settings().profiles is None and not Settings().cooffending_layer and not Settings().place_layer


# -- the planted force, end to end ------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("allage")
    force = root / "force"
    generate_force(force, scale=0.02, seed=3, all_age=True)
    run_pipeline(force, root / "run", Settings(**ALL_AGE))
    return force / "planted_truth", root / "run" / "tables"


def _rows(folder: Path, name: str) -> list[dict]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def test_every_planted_cross_profile_perpetrator_is_reported_under_all_three_profiles(planted):
    truth, out = planted
    cross = {r["id"]: r for r in _rows(out, "cross_profile") if r["kind"] == "nominal"}
    perps = _rows(truth, "allage_cross_profile")
    assert perps
    for p in perps:
        assert set(p["profiles"].split(";")) <= set(cross[p["nominal_id"]]["offender_profiles"]), p["nominal_id"]


def test_every_county_lines_ring_is_one_group_linked_by_co_offending(planted):
    """Each ring: 2 holders and 3 runners on 4 drug-supply crimes with no victim, so only the co-offending
    layer can join them; all five land in one group and the cooffend edges among them connect all five."""
    truth, out = planted
    group = {r["nominal_id"]: r["group_id"] for r in _rows(out, "nominals")}
    cooffend = [(e["nominal_a"], e["nominal_b"]) for e in _rows(out, "edges") if e["layer"] == "cooffend"]
    rings: dict[str, set[str]] = {}
    for r in _rows(truth, "allage_county_lines"):
        rings.setdefault(r["ring_id"], set()).add(r["nominal_id"])
    assert len(rings) >= 3
    for ring, members in rings.items():
        assert len({group.get(m) for m in members}) == 1 and None not in {group.get(m) for m in members}, ring
        reach, todo = set(), [next(iter(members))]
        while todo:
            x = todo.pop()
            reach.add(x)
            todo += [b if a == x else a for a, b in cooffend if x in (a, b) and (b if a == x else a) not in reach]
        assert members <= reach, ring


def test_runners_are_safeguarded_never_targets_and_missing_raises_their_band(planted):
    truth, out = planted
    runners = {r["nominal_id"]: r["trap_house"] for r in _rows(truth, "allage_county_lines") if r["role"] == "runner"}
    flags = {r["nominal_id"]: r["reasons"] for r in _rows(out, "safeguarding")}
    triage = {r["nominal_id"]: r for r in _rows(out, "safeguarding_triage")}
    missing = {r["nominal_id"]: r for r in _rows(out, "missing_children")}
    picks = {r["nominal_id"] for r in _rows(out, "dismantling")}
    for kid, trap in runners.items():
        assert "possible_cce_victim" in flags[kid]
        assert kid not in picks
        assert triage[kid]["band"] in ("immediate", "high")
        assert "repeat_missing_in_group" in triage[kid]["band_reasons"] or triage[kid]["band"] == "immediate"
        assert missing[kid]["repeat_missing"] and trap in missing[kid]["found_location_keys"]


def test_every_planted_hotspot_is_first_in_its_area(planted):
    truth, out = planted
    places = {(r["location_key"], r["profile"]): r for r in _rows(out, "places")}
    for h in _rows(truth, "allage_hotspots"):
        row = places[(h["location_key"], h["profile"])]
        assert row["crimes"] == h["crimes"] and row["location_area"] == h["location_area"]
        assert row["area_rank"] == 1 and row["victims"] == h["crimes"]


def test_trap_houses_are_places_where_the_runners_were_found(planted):
    truth, out = planted
    found = {r["location_key"]: r["missing_found"] for r in _rows(out, "places") if r["profile"] == "cce"}
    for r in _rows(truth, "allage_county_lines"):
        assert found[r["trap_house"]] >= 12  # 3 runners x 4 episodes


def test_ranks_per_profile_are_1_to_n_and_flagged_people_never_rank(planted):
    _, out = planted
    by_profile: dict[str, list[int]] = {}
    for r in _rows(out, "group_harm_by_profile"):
        if r["priority_rank"] is not None:
            by_profile.setdefault(r["profile"], []).append(r["priority_rank"])
    assert set(by_profile) == {"cse", "cce", "msht"}
    for ranks in by_profile.values():
        assert sorted(ranks) == list(range(1, len(ranks) + 1))


def test_every_optional_table_is_published_with_its_registered_columns(planted):
    """With every all-age feature on, each optional table is published, non-empty, with the registry's columns
    and types in order (extra input columns after them)."""
    from test_docs_tables import duckdb_type

    _, out = planted
    for t in (t for t in tables.TABLES.values() if t.optional):
        schema = pq.read_schema(out / f"{t.name}.parquet")
        cols = [(f.name, duckdb_type(f.type)) for f in schema][: len(t.columns)]
        assert cols == [(c.name, c.type) for c in t.columns], t.name
        assert pq.read_metadata(out / f"{t.name}.parquet").num_rows > 0, t.name
    crimes = pq.read_schema(out / "crimes.parquet").names
    assert crimes[-1] == "location_key"  # the optional contract column, carried after the table's own


def test_every_full_table_row_is_tagged_with_a_profile(planted):
    _, out = planted
    rows = {(r["crime_ref"], r["offender_id"], r["victim_id"]) for r in _rows(out, "full_table")}
    tagged = {(r["crime_ref"], r["offender_id"], r["victim_id"]) for r in _rows(out, "profile_full_table")}
    assert rows == tagged


# -- off: today's tables ---------------------------------------------------------------------------
def test_features_off_publish_no_new_table_and_new_settings_change_nothing(tmp_path):
    """A default run publishes no optional table; changing only all-age settings that are not switched on
    (thresholds, weights of layers not built) leaves every table file byte-identical."""
    force = tmp_path / "force"
    generate_force(force, scale=0.005, seed=2)
    base = Settings(stability_checks=False)
    other = base.model_copy(update=dict(place_max_people=5, missing_repeat_episodes=2, cooffending_window_days=30,
                                        drug_supply_offence_codes=["1"],
                                        layer_weight=base.layer_weight.model_copy(update={"cooffend": 3.0})))
    run_pipeline(force, tmp_path / "a", base)
    run_pipeline(force, tmp_path / "b", other)
    names = {p.name for p in (tmp_path / "a" / "tables").glob("*.parquet")}
    optional = {f"{t.name}.parquet" for t in tables.TABLES.values() if t.optional}
    assert names and not names & optional
    for name in names:
        assert (tmp_path / "a" / "tables" / name).read_bytes() == (tmp_path / "b" / "tables" / name).read_bytes(), name


# -- missing episodes: every bad row quarantined -------------------------------------------------------
def test_bad_missing_episodes_rows_are_quarantined_and_counted(tmp_path):
    """Six rows: one good, and one each of a missing id, a bad date, end before start, an unknown person and a
    exact copy of the good row (collapsed): 1 accepted + 5 rejected = 6 read."""
    force = tmp_path / "force"
    generate_force(force, scale=0.005, seed=2)
    with (force / "nominals.csv").open(encoding="utf-8", newline="") as f:
        someone = list(csv.reader(f))[1][0]
    rows = [
        (someone, "2020-01-01", "2020-01-03", "a place", "Solihull"),
        ("", "2020-02-01", "", "", ""),
        (someone, "not a date", "", "", ""),
        (someone, "2020-03-05", "2020-03-01", "", ""),
        ("NOBODY-AA", "2020-04-01", "", "", ""),
        (someone, "2020-01-01", "2020-01-03", "a place", "Solihull"),
    ]
    with (force / "missing_episodes.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("nominal_id", "start_date", "end_date", "found_location_key", "found_location_area"))
        w.writerows(rows)
    result = run_pipeline(force, tmp_path / "run", Settings(stability_checks=False))
    counts = result.manifest["stages"]["ingest"]["tables"]["missing_episodes"]
    assert counts["rows_read"] == 6 and counts["accepted"] == 1 and counts["rejected"] == 5
    reasons = sorted(r["reason"] for r in _rows(tmp_path / "run" / "tables", "quarantine")
                     if r["source_table"] == "missing_episodes")
    assert len(reasons) == 5 and {"bad_interval", "orphan_nominal", "duplicate_row"} <= set(reasons)
    assert someone not in json.dumps(result.manifest)  # counts only, never a person's id
    assert (tmp_path / "run" / "tables" / "missing_episodes.parquet").exists()
