"""The generator's planted duplicates (hiddennet/generate/duplicates.py): opt-in, 2-3 ids per person,
every id a person record or a crosswalk id, and the default extract unchanged."""

from __future__ import annotations

import csv

from hiddennet.generate import generate_force


def _rows(path):
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_duplicates_are_planted_with_their_truth(tmp_path):
    facts = generate_force(tmp_path, scale=0.005, seed=2, duplicates=0.3)
    truth = _rows(tmp_path / "planted_truth" / "duplicates.csv")
    nominals = {r["nominal_id"]: r for r in _rows(tmp_path / "nominals.csv")}
    crosswalk = {r["source_id"]: r["nominal_id"] for r in _rows(tmp_path / "nominal_crosswalk.csv")}
    clusters: dict[str, list[dict]] = {}
    for r in truth:
        clusters.setdefault(r["cluster_id"], []).append(r)
    assert clusters and facts["duplicates"]["people_duplicated"] == len(clusters)
    assert {len(c) for c in clusters.values()} <= {2, 3}
    for cid, members in clusters.items():
        assert nominals[cid]["source_system"] == ""  # the original: the crime system, left blank
        for m in members[1:]:
            if m["how"] == "crosswalk_only":
                assert m["nominal_id"] not in nominals and crosswalk[m["nominal_id"]] == cid
            else:
                assert nominals[m["nominal_id"]]["source_system"] == m["source_system"]
    hows = {h for r in truth for h in r["how"].split("+")}
    assert {"surname_typo", "nickname", "swapped_day_month", "dob_typo"} <= hows


def test_without_duplicates_nothing_of_them_is_written(tmp_path):
    """The default extract has no crosswalk, no duplicate truth and no source_system column; a folder
    generated with duplicates loses them when generated again without."""
    generate_force(tmp_path, scale=0.005, seed=2, duplicates=0.3)
    generate_force(tmp_path, scale=0.005, seed=2)
    assert not (tmp_path / "nominal_crosswalk.csv").exists()
    assert not (tmp_path / "planted_truth" / "duplicates.csv").exists()
    assert (tmp_path / "nominals.csv").read_text(encoding="utf-8").splitlines()[0] == (
        '"nominal_id","date_of_birth","sex","ethnicity","forename","surname","pnc_id"')
