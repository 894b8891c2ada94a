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


def test_duplicates_give_realistic_forenames_and_identifiers(tmp_path):
    """With duplicates: hundreds of forenames per sex with a skewed frequency (not a few dozen equally
    common), and a postcode and phone on part of the records; a second record often lacks them or holds
    another (a move, a new number), so they are evidence, not a key."""
    from collections import Counter

    generate_force(tmp_path, scale=0.05, seed=3, duplicates=0.2)
    nominals = _rows(tmp_path / "nominals.csv")
    originals = [r for r in nominals if r["source_system"] == ""]
    for sex in ("F", "M"):
        counts = Counter(r["forename"] for r in originals if r["sex"] == sex)
        shares = sorted((c / sum(counts.values()) for c in counts.values()), reverse=True)
        assert len(counts) >= 200, sex
        assert 0.01 < shares[0] < 0.05 and shares[0] > 5 * shares[len(shares) // 2], sex  # skewed, long tail
        assert 1 / sum(s * s for s in shares) > 100, sex  # far more namesake-proof than 50 equal names
    assert 0.7 < sum(1 for r in originals if r["postcode"]) / len(originals) < 0.9
    assert 0.35 < sum(1 for r in originals if r["phone"]) / len(originals) < 0.55
    by_id = {r["nominal_id"]: r for r in nominals}
    dups = [(by_id[t["cluster_id"]], by_id[t["nominal_id"]]) for t in _rows(tmp_path / "planted_truth" / "duplicates.csv")
            if t["how"] not in ("original", "crosswalk_only")]
    both = [(a, b) for a, b in dups if a["postcode"] and b["postcode"]]
    same = sum(1 for a, b in both if a["postcode"] == b["postcode"]) / len(both)
    assert 0.5 < same < 0.85  # people move between two records
    assert any(not b["postcode"] for a, b in dups if a["postcode"])
