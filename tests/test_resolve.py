"""Entity resolution (docs/resolve.md): hand-worked cases of the merge rules, ingest with `resolve` on
(PNC rule, crosswalk, child and adult to review, decisions fed into the next run, flags kept on a
merge), the inputs' quarantine, resolve off changing nothing, and an end-to-end run on a generated
force with planted duplicates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hiddennet import ingest
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.errors import SettingsError
from hiddennet.resolve.merge import Pair, Record, resolve_people
from hiddennet.settings import Settings, load_settings

AS_OF = dt.date(2021, 3, 15)


def rec(nid: str, child: bool | None = False, system: str = "crime") -> Record:
    return Record(nid, system, child)


def people(res) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for r, c in res.canonical.items():
        groups.setdefault(c, []).append(r)
    return sorted(sorted(g) for g in groups.values())


# -- the merge rules, by hand ---------------------------------------------------------------------------
def test_same_pnc_merges_and_the_canonical_id_is_the_crime_systems():
    """P1 (pins) and C9 (crime) share a PNC id: one person whose id is C9, the crime system's record,
    although P1 sorts first; C2 stays alone."""
    res = resolve_people([rec("P1", system="pins"), rec("C9"), rec("C2")], [Pair("P1", "C9", 1.0, "pnc")], {},
                         0.9, 0.5, "crime")
    assert people(res) == [["C2"], ["C9", "P1"]]
    assert res.canonical["P1"] == "C9" and res.joined_by["P1"].rule == "pnc"


def test_a_child_and_an_adult_record_are_never_merged_automatically():
    """A (child) and B (adult) share a PNC id and the model is sure: held for review, not merged."""
    res = resolve_people([rec("A", True), rec("B", False)],
                         [Pair("A", "B", 1.0, "pnc"), Pair("A", "B", 0.999, "model")], {}, 0.9, 0.5, "crime")
    assert people(res) == [["A"], ["B"]]
    assert [(p.key(), why) for p, why in res.review] == [(("A", "B"), "child_and_adult")]
    assert res.held_child_adult == 2  # both edges held; one review entry for the pair


def test_a_record_of_unknown_age_cannot_bridge_a_child_and_an_adult():
    """C (child) - U (age unknown) 0.99 and U - D (adult) 0.98: the stronger edge joins C and U; the
    other would put C and D in one person, so it goes to review."""
    res = resolve_people([rec("C", True), rec("U", None), rec("D", False)],
                         [Pair("C", "U", 0.99, "model"), Pair("U", "D", 0.98, "model")], {}, 0.9, 0.5, "crime")
    assert people(res) == [["C", "U"], ["D"]]
    assert [(p.key(), why) for p, why in res.review] == [(("D", "U"), "child_and_adult")]


def test_pairs_between_the_thresholds_go_to_review_and_below_stay_apart():
    """0.95 >= 0.9 merges; 0.7 is between 0.5 and 0.9: review (uncertain); 0.3: nothing."""
    res = resolve_people([rec(x) for x in "ABCDEF"],
                         [Pair("A", "B", 0.95, "model"), Pair("C", "D", 0.7, "model"), Pair("E", "F", 0.3, "model")],
                         {}, 0.9, 0.5, "crime")
    assert people(res) == [["A", "B"], ["C"], ["D"], ["E"], ["F"]]
    assert [(p.key(), why) for p, why in res.review] == [(("C", "D"), "uncertain")]


def test_decisions_come_first_merge_and_separate():
    """`merge` joins a child's and an adult's record (a person decided); `separate` keeps X and Y apart
    although they share a PNC id, and also stops Z (same PNC as Y) joining X's person through Y."""
    records = [rec("A", True), rec("B", False), rec("X"), rec("Y"), rec("Z")]
    pairs = [Pair("X", "Z", 1.0, "pnc"), Pair("Y", "Z", 1.0, "pnc"), Pair("X", "Y", 1.0, "pnc")]
    res = resolve_people(records, pairs, {("A", "B"): "merge", ("X", "Y"): "separate"}, 0.9, 0.5, "crime")
    assert people(res) == [["A", "B"], ["X", "Z"], ["Y"]]
    assert res.joined_by["B"].rule == "review_decision" and res.kept_apart == 1


def test_the_result_does_not_depend_on_the_order_of_the_pairs():
    records = [rec(x, None) for x in "ABCD"]
    pairs = [Pair("A", "B", 0.95, "model"), Pair("C", "B", 0.97, "model"), Pair("D", "A", 0.6, "model")]
    one = resolve_people(records, pairs, {}, 0.9, 0.5, "crime")
    two = resolve_people(records[::-1], pairs[::-1], {}, 0.9, 0.5, "crime")
    assert (one.canonical, one.review) == (two.canonical, two.review)


def test_review_probability_above_match_probability_is_refused():
    with pytest.raises(SettingsError, match="resolve_review_probability"):
        load_settings(None, resolve_match_probability=0.6, resolve_review_probability=0.8)


# -- ingest with resolve on, a tiny hand-made force ----------------------------------------------------------
CRIMES = "crime_ref,offence_title,offence_date\nC1,Rape of a girl,2020-01-05\nC2,Sexual assault,2020-02-01\n"
# N1 and N4 share a PNC id (N4 in intelligence, age unknown); N3 is N1 in prison records with a nickname;
# N5 (a child on as_of) and N6 (an adult) share a PNC id; P77 is a prison id known only to the crosswalk.
NOMINALS = ("nominal_id,date_of_birth,sex,forename,surname,pnc_id,source_system\n"
            "N1,1990-01-01,M,James,Smith,01/123A,\nN2,2008-01-01,F,Amy,Jones,,\n"
            "N3,1990-01-01,M,Jim,Smith,,pins\nN4,,M,Harry,Brown,01/123a,intel\n"
            "N5,2007-06-01,F,Amy,Jones,02/9Z,\nN6,1985-06-01,F,Amy,Jones,02/9Z,intel\n")
LINKS = "crime_ref,nominal_id,role\nC1,N1,offender\nC1,N2,victim\nC2,N3,offender\nC2,N5,victim\nC2,N6,witness\n"
CROSSWALK = "source_system,source_id,nominal_id\npins,P77,N1\n"
CUSTODY = "nominal_id,establishment,cell_id,from_date,to_date\nP77,HMP A,1,2019-01-01,2019-03-01\nN4,HMP A,1,2019-01-01,\n"


def tiny_force(folder: Path, **extra: str) -> Path:
    files = {"crimes.csv": CRIMES, "nominals.csv": NOMINALS, "crime_nominals.csv": LINKS,
             "nominal_crosswalk.csv": CROSSWALK, "custody_cells.csv": CUSTODY, **extra}
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def ingest_on(folder: Path, **settings):
    engine = DuckDBEngine()
    out = ingest.run(engine, Settings(as_of=AS_OF, resolve=True, **settings), folder)
    return engine, out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    engine, out = ingest_on(tiny_force(tmp_path_factory.mktemp("tiny")))
    yield engine, out
    engine.close()


def test_pnc_crosswalk_and_model_give_one_person(tiny):
    """N4 joins N1 by PNC id (case ignored), P77 by the crosswalk, N3 by the model (same surname and date
    of birth, Jim = James); canonical N1. Every source id has a row of nominal_map."""
    engine, _ = tiny
    got = {r[1]: r for r in engine.fetch_rows("SELECT * FROM nominal_map")}
    assert set(got) == {"N1", "N2", "N3", "N4", "N5", "N6", "P77"}
    assert {k: (v[2], v[4]) for k, v in got.items() if v[2] == "N1"} == {
        "N1": ("N1", "pnc"), "N3": ("N1", "model"), "N4": ("N1", "pnc"), "P77": ("N1", "crosswalk")}
    assert got["N3"][3] >= 0.9 and got["P77"][0] == "pins" and got["N2"][4] == "single"


def test_every_table_after_ingest_is_on_canonical_ids(tiny):
    """crime_nominals: N3's offence is N1's now; custody: P77's and N4's stays are N1's; nominals: one row per person."""
    engine, _ = tiny
    assert engine.fetch_rows("SELECT crime_ref, nominal_id, role FROM crime_nominals ORDER BY ALL") == [
        ("C1", "N1", "offender"), ("C1", "N2", "victim"), ("C2", "N1", "offender"), ("C2", "N5", "victim"),
        ("C2", "N6", "witness")]
    assert engine.fetch_rows("SELECT DISTINCT nominal_id FROM custody_cells") == [("N1",)]
    assert engine.fetch_rows("SELECT nominal_id, source_system FROM nominals ORDER BY 1") == [
        ("N1", None), ("N2", None), ("N5", None), ("N6", "intel")]


def test_a_child_and_an_adult_with_one_pnc_id_go_to_review(tiny):
    """N5 is 13 on as_of, N6 35: same PNC id, but held for a person to decide."""
    engine, out = tiny
    assert engine.fetch_rows("SELECT pair_id, rule, reason FROM review_pairs") == [("N5|N6", "pnc", "child_and_adult")]
    assert out.facts["resolve"]["held_child_and_adult"] == 1


def test_explanations_hold_a_weight_per_comparison(tiny):
    """The model pair N1-N3: six comparisons (with the PNC id), surname and date of birth exact (weights above 0)."""
    engine, _ = tiny
    rows = {r[0]: r for r in engine.fetch_rows(
        "SELECT comparison, level, label, match_weight FROM match_explanations WHERE nominal_id_a = 'N1' "
        "AND nominal_id_b = 'N3'")}
    assert set(rows) == {"forename_std", "surname", "dob", "sex", "ethnicity", "pnc"}
    assert rows["surname"][3] > 0 and rows["dob"][3] > 0 and rows["ethnicity"][1] == -1  # no ethnicity recorded


def test_decisions_feed_the_next_run_and_the_child_flag_survives(tmp_path):
    """Second run with the decision `merge` on N5|N6: one person (N5, the crime system's), whose date of
    birth is the youngest of the two records, so safeguarding still sees a child; `separate` instead
    keeps them apart and the pair leaves review_pairs."""
    folder = tiny_force(tmp_path / "f", **{"review_decisions.csv":
                                           "nominal_id_a,nominal_id_b,decision\nN6,N5,Merge\n"})
    engine, out = ingest_on(folder)
    assert engine.fetch_rows("SELECT canonical_id, rule FROM nominal_map WHERE source_id = 'N6'") == [
        ("N5", "review_decision")]
    assert engine.fetch_rows("SELECT date_of_birth FROM nominals WHERE nominal_id = 'N5'") == [(dt.date(2007, 6, 1),)]
    assert engine.count("review_pairs") == 0
    # N6's witness row and N5's victim row of C2: two roles of one person, both kept.
    assert engine.fetch_rows("SELECT role FROM crime_nominals WHERE nominal_id = 'N5' ORDER BY 1") == [
        ("victim",), ("witness",)]
    engine.close()
    (folder / "review_decisions.csv").write_text("nominal_id_a,nominal_id_b,decision\nN5,N6,separate\n")
    engine, out = ingest_on(folder)
    assert engine.fetch_rows("SELECT source_id, canonical_id FROM nominal_map WHERE source_id IN ('N5', 'N6')") == [
        ("N5", "N5"), ("N6", "N6")]
    assert engine.count("review_pairs") == 0 and out.facts["resolve"]["decisions"] == 1
    engine.close()


@pytest.mark.parametrize("name, text, expected", [
    ("review_decisions.csv", "nominal_id_a,nominal_id_b,decision\nN1,N2,maybe\nN1,N2,merge\n",
     [(2, "decision", "bad_decision", "row_rejected")]),
    ("review_decisions.csv", "nominal_id_a,nominal_id_b,decision\nN1,N1,merge\nN1,N9,separate\n",
     [(2, "nominal_id_b", "self_link", "row_rejected"), (3, "nominal_id_b", "orphan_nominal", "row_rejected")]),
    ("nominal_crosswalk.csv", "source_system,source_id,nominal_id\npins,P1,N9\npins,,N1\npins,P3,N1\n",
     [(2, "nominal_id", "orphan_nominal", "row_rejected"), (3, "source_id", "missing_required", "row_rejected")]),
    ("nominal_crosswalk.csv", "source_system,source_id,nominal_id\npins,P1,N1\npins,P1,N2\n",
     [(2, None, "conflicting_duplicate", "row_rejected"), (3, None, "conflicting_duplicate", "row_rejected")]),
])
def test_resolve_inputs_get_the_quarantine_treatment(tmp_path, name, text, expected):
    """Every bad row of the new inputs is in quarantine with line, column and reason (never a value)."""
    engine, out = ingest_on(tiny_force(tmp_path, **{name: text}))
    table = name.split(".")[0]
    got = engine.fetch_rows(f"SELECT line, \"column\", reason, action FROM quarantine WHERE source_table = '{table}' "
                            "ORDER BY ALL")
    assert got == expected
    t = out.facts["tables"][table]
    assert t["rows_read"] == t["accepted"] + t["rejected"]
    engine.close()


def test_the_model_is_deterministic(tiny, tmp_path):
    """A second ingest of the same force gives the same map and the same weights, to the bit."""
    engine, _ = tiny
    again, _ = ingest_on(tiny_force(tmp_path))
    for t in ("nominal_map", "review_pairs", "match_explanations"):
        assert again.fetch_rows(f"SELECT * FROM {t} ORDER BY ALL") == engine.fetch_rows(f"SELECT * FROM {t} ORDER BY ALL")
    again.close()


# -- resolve off ---------------------------------------------------------------------------------------------
def test_resolve_off_ignores_its_inputs_and_publishes_nothing_new(tmp_path):
    """The same force with and without the crosswalk, a decisions file and a source_system column, resolve
    off: the same table files, byte for byte, and none of resolve's tables."""
    from hiddennet.pipeline import run_pipeline

    plain_nominals = "\n".join(",".join(line.split(",")[:6]) for line in NOMINALS.splitlines()) + "\n"
    plain = tiny_force(tmp_path / "plain", **{"nominals.csv": plain_nominals})
    (plain / "nominal_crosswalk.csv").unlink()
    full = tiny_force(tmp_path / "full", **{"review_decisions.csv": "nominal_id_a,nominal_id_b,decision\nN5,N6,x\n"})
    s = Settings(as_of=AS_OF)
    run_pipeline(plain, tmp_path / "run_plain", s)
    run_pipeline(full, tmp_path / "run_full", s)
    a = sorted(p.name for p in (tmp_path / "run_plain" / "tables").iterdir())
    b = sorted(p.name for p in (tmp_path / "run_full" / "tables").iterdir())
    assert a == b
    assert not {f"{t}.parquet" for t in ("nominal_map", "review_pairs", "match_explanations", "nominal_crosswalk",
                                          "review_decisions")} & set(a)
    for name in a:
        assert (tmp_path / "run_plain" / "tables" / name).read_bytes() == \
            (tmp_path / "run_full" / "tables" / name).read_bytes(), name


def test_end_to_end_with_resolve_on(tmp_path):
    """The whole pipeline on the tiny force with resolve on: resolve's tables are published (restricted), every
    id of the published person tables is a canonical id, and nominal_map leads back from each to its records."""
    import pyarrow.parquet as pq

    from hiddennet import tables
    from hiddennet.pipeline import run_pipeline

    result = run_pipeline(tiny_force(tmp_path / "in"), tmp_path / "run", Settings(as_of=AS_OF, resolve=True))
    folder = tmp_path / "run" / "tables"
    for name in ("nominal_map", "review_pairs", "match_explanations", "nominal_crosswalk"):
        assert result.manifest["tables"][name]["rows"] > 0 and tables.table(name).restricted, name
    m = pq.read_table(folder / "nominal_map.parquet").to_pylist()
    canonical = {r["canonical_id"] for r in m}
    for name in ("crime_nominals", "custody_cells", "input_nominals"):
        ids = set(pq.read_table(folder / f"{name}.parquet").column("nominal_id").to_pylist())
        assert ids <= canonical, name
    assert sorted(r["source_id"] for r in m if r["canonical_id"] == "N1") == ["N1", "N3", "N4", "P77"]
    # N3 and N4 are person records merged into N1; P77 is a crosswalk id, counted apart.
    assert result.manifest["stages"]["ingest"]["resolve"]["records_merged"] == 2


def test_postcode_and_phone_are_compared_when_the_extract_has_them(tmp_path):
    """The optional identifiers (docs/input-contract.md): with `postcode` and `phone` columns, the model
    compares them after standardising (case, spaces; the phone's digits, +44 as 0), so N1 and N3 agree
    exactly on both; the other comparisons are the same as without them."""
    lines = NOMINALS.splitlines()
    pc = {"N1": "B12 3XY", "N3": "b123xy", "N2": "WS1 1AA", "N5": "WS1 1AA"}
    ph = {"N1": "07700 900123", "N3": "+44 7700 900123"}
    text = lines[0] + ",postcode,phone\n" + "".join(
        f"{line},{pc.get(line.split(',')[0], '')},{ph.get(line.split(',')[0], '')}\n" for line in lines[1:])
    engine, _ = ingest_on(tiny_force(tmp_path, **{"nominals.csv": text}))
    rows = {r[0]: r for r in engine.fetch_rows(
        "SELECT comparison, level, label, match_weight FROM match_explanations WHERE nominal_id_a = 'N1' "
        "AND nominal_id_b = 'N3'")}
    assert set(rows) == {"forename_std", "surname", "dob", "sex", "ethnicity", "pnc", "postcode", "phone"}
    assert rows["postcode"][2] == "Exact match on postcode" and rows["phone"][2] == "Exact match on phone"
    assert engine.fetch_rows("SELECT canonical_id FROM nominal_map WHERE source_id = 'N3'") == [("N1",)]
    engine.close()
