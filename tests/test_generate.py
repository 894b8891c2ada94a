"""The synthetic force generator: contract layout, determinism, proportions, planted truth and dirty rows."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hiddennet import generate as g
from hiddennet.contract import GRADING_SYSTEMS, INFORMATION_GRADES, ROLES, SOURCE_GRADES, TABLES
from hiddennet.generate import _calibrate, generate_force

FILES = sorted(f"{t}.csv" for t in TABLES)
REASONS = ("bad_date", "missing_required", "too_few_columns", "too_many_columns", "bad_flag", "unknown_role",
           "orphan_crime", "orphan_nominal", "orphan_log", "duplicate_row", "conflicting_duplicate", "implausible_dob",
           "bad_grade", "bad_interval", "self_link", "bad_weight", "invalid_utf8", "truncated_row")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    facts = generate_force(d, scale=0.03, seed=11)
    return d, facts


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    d = tmp_path_factory.mktemp("dirty")
    facts = generate_force(d, scale=0.01, seed=4, dirty=True)
    return d, facts, json.loads((d / "planted_truth" / "dirty.json").read_text())


def _digest(d):
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _sql(d, table):
    return f"read_csv('{d / (table + '.csv')}', all_varchar=true, header=true)"


# ---------------------------------------------------------------------------------------------- layout


def test_same_seed_and_scale_give_byte_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_force(a, scale=0.01, seed=5, dirty=True)
    generate_force(b, scale=0.01, seed=5, dirty=True)
    generate_force(c, scale=0.01, seed=6, dirty=True)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert len(da) > 8
    assert da["crimes.csv"] != dc["crimes.csv"] and da["intel_nominals.csv"] != dc["intel_nominals.csv"]


def _base_columns(t) -> list[str]:
    """The contract's columns but `nominals.source_system`, which only `--duplicates` writes (so that the default
    extract is the one generated before entity resolution existed)."""
    return [c for c in t.column_names if (t.name, c) != ("nominals", "source_system")]


def test_every_contract_file_is_written_with_exactly_the_contract_columns(clean):
    d, facts = clean
    top = sorted(p.name for p in d.iterdir() if p.is_file())
    assert top == FILES
    for name, t in TABLES.items():
        header = (d / f"{name}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert next(csv.reader([header])) == _base_columns(t), name
        assert facts["rows"][name] == len(_rows(d / f"{name}.csv")) - 1, name


def test_parquet_has_the_contract_columns_as_text(tmp_path):
    generate_force(tmp_path, scale=0.005, seed=2, fmt="parquet")
    for name, t in TABLES.items():
        schema = pq.read_schema(tmp_path / f"{name}.parquet")
        assert schema.names == _base_columns(t), name
        assert all(str(f.type) == "string" for f in schema), name


def test_ids_are_text_and_leading_zeros_survive(clean):
    """Ids are zero-padded opaque text; about a tenth of nominal ids start with 0 (8 digits, spread uniformly)."""
    d, _ = clean
    ids = [r[0] for r in _rows(d / "nominals.csv")[1:]]
    assert all(len(x) == 8 and x.isdigit() for x in ids)
    share0 = sum(x.startswith("0") for x in ids) / len(ids)
    assert 0.05 < share0 < 0.15
    raw = (d / "nominals.csv").read_text().split("\n")[1]
    assert raw.startswith('"')  # written quoted, so a reader sees text


def test_planted_truth_is_a_separate_folder_the_tables_do_not_mention(clean):
    d, facts = clean
    truth = d / "planted_truth"
    assert truth.is_dir()
    names = {p.name for p in truth.iterdir()}
    assert {"truth.json", "rings.parquet", "child_offenders.parquet", "victim_offender_overlaps.parquet",
            "crimes.parquet", "custody_pairs.parquet"} <= names
    assert not any(p.suffix == ".json" for p in d.iterdir() if p.is_file())
    t = json.loads((truth / "truth.json").read_text())
    assert t["counts"] == facts["planted"]
    assert t["counts"]["victim_offender_overlaps"] > 0 and t["counts"]["child_offenders"] > 0


# ---------------------------------------------------------------------------------------------- clean mode


def test_clean_files_hold_no_defect(clean):
    """Every link resolves, every key is unique, dates are ISO and not after 2021-03-15, codes are valid."""
    d, _ = clean
    for f in FILES:
        data = (d / f).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data, f
        data.decode("utf-8")
    con = duckdb.connect()
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert q(f"SELECT count(*) FROM {_sql(d, 'crime_nominals')} WHERE crime_ref NOT IN (SELECT crime_ref FROM {_sql(d, 'crimes')})") == 0
    for t in ("crime_nominals", "intel_nominals", "custody_cells", "soc_nominals"):
        assert q(f"SELECT count(*) FROM {_sql(d, t)} WHERE nominal_id NOT IN (SELECT nominal_id FROM {_sql(d, 'nominals')})") == 0, t
    assert q(f"SELECT count(*) FROM {_sql(d, 'intel_nominals')} WHERE log_id NOT IN (SELECT log_id FROM {_sql(d, 'intel_logs')})") == 0
    for t, key in (("crimes", "crime_ref"), ("nominals", "nominal_id"), ("intel_logs", "log_id"),
                   ("crime_nominals", "crime_ref, nominal_id, role"), ("intel_nominals", "log_id, nominal_id"),
                   ("soc_nominals", "nominal_id, group_id")):
        assert q(f"SELECT count(*) - count(DISTINCT ({key})) FROM {_sql(d, t)}") == 0, t
    for t, col in (("crimes", "offence_date"), ("crimes", "recorded_date"), ("nominals", "date_of_birth"),
                   ("intel_logs", "log_date"), ("custody_cells", "from_date"), ("custody_cells", "to_date")):
        bad = q(f"SELECT count(*) FROM {_sql(d, t)} WHERE {col} IS NOT NULL AND "
                f"(try_strptime({col}, '%Y-%m-%d') IS NULL OR CAST({col} AS DATE) > DATE '2021-03-15')")
        assert bad == 0, (t, col)
    assert q(f"SELECT max(CAST(recorded_date AS DATE)) FROM {_sql(d, 'crimes')}") == dt.date(2021, 3, 15)
    roles = q(f"SELECT list(DISTINCT role) FROM {_sql(d, 'crime_nominals')}")
    assert set(roles) <= set(ROLES) and {"victim", "offender", "suspect", "witness"} <= set(roles)
    logs = con.execute(f"SELECT grading_system, source_grade, information_grade, CAST(log_date AS DATE) FROM {_sql(d, 'intel_logs')}").fetchall()
    for system, sg, ig, day in logs:
        assert system in GRADING_SYSTEMS and sg in SOURCE_GRADES[system] and ig in INFORMATION_GRADES[system]
        assert (system == "5x5x5") == (day < dt.date(2017, 1, 1))  # 5x5x5 only before 2017
    assert q(f"SELECT count(*) FROM {_sql(d, 'custody_cells')} WHERE CAST(to_date AS DATE) < CAST(from_date AS DATE)") == 0
    assert q(f"SELECT count(*) FROM {_sql(d, 'custody_cells')} WHERE to_date IS NULL") > 0  # open stays
    assert q(f"SELECT count(*) FROM {_sql(d, 'soc_edges')} WHERE nominal_id_a = nominal_id_b OR CAST(weight AS DOUBLE) <= 0") == 0
    assert q(f"SELECT count(DISTINCT layer) FROM {_sql(d, 'soc_edges')}") >= 3
    assert q(f"SELECT count(*) FROM {_sql(d, 'crimes')} WHERE domestic_abuse NOT IN ('true', 'false')") == 0


def test_word_lists_route_crimes_as_designed():
    """Plain MO texts carry no MO word (else other offences would be selected by accident); MO-word texts carry one."""
    assert g.MO_WORDS == ("cse", "child sexual", "exploit", "misper", "sex", "groom", "mase", "mace", "mash", "rape",
                          "raping", "pregnan", "older", "concern", "penetrat")
    for text in g.MO_PLAIN + g.MO_OTHER:
        assert not g._matches(text, g.MO_WORDS), text
    for text in g.MO_WORD + g.MO_RING + g.MO_OTHER_ACCIDENTAL:
        assert g._matches(text, g.MO_WORDS), text
    for title, _, _ in g.OTHER_TITLES:
        assert not (g._matches(title, g.CHILD_WORDS) and g._matches(title, g.SEX_WORDS)), title
    # the study's commonest title does not match by title: it is caught by MO or flag, as in the study
    assert not g._matches("Sexual assault on a female 13 or over", g.CHILD_WORDS)
    assert g._matches("Rape of female child under 13 by a male", g.CHILD_WORDS)


def test_the_generator_designs_crimes_with_the_words_of_the_cse_profile():
    """The word lists the generator routes crimes by are the default profile's, so a profile change that
    the generator does not follow fails here, not as a puzzling count in the calibration."""
    from hiddennet.select import load_profile

    cse = load_profile("cse")
    assert list(g.CHILD_WORDS) == cse.child_words
    assert list(g.SEX_WORDS) == cse.sex_words
    assert list(g.MO_WORDS) == cse.mo_words
    assert sorted(g.PROFILE_CODES) == sorted(cse.flag_codes)


def test_the_method_selects_exactly_the_crimes_designed_to_be_selected(clean):
    """The pipeline's own ingest and select stages (docs/method.md 1) over the files: selected before the
    under-10 rule = designed selected crimes + the under-10 crimes, the full table = the designed selected
    crimes, the under-10 rows removed = the planted ones; born-after-offence victims are counted."""
    d, facts = clean
    r = _calibrate(d)
    p = facts["planted"]
    assert r["extra"]["selected_crimes_before_under10_removal"] == p["designed_selected_crimes"] + p["under10_offender_rows"]
    assert r["measured"]["full_table_crimes"] == p["designed_selected_crimes"]
    assert r["measured"]["under10_offender_rows_removed"] == p["under10_offender_rows"]
    assert r["measured"]["victim_born_after_offence_crimes"] == p["victims_born_after_offence"]
    assert r["extra"]["selected_by_flag_only"] >= p["flag_only_gap_crimes"] > 0


@pytest.mark.slow
def test_proportions_match_the_study_at_a_tenth_of_a_force(tmp_path):
    """At scale 0.1 the counts are within 12% of the study's figures x 0.1 and the sex shares within 3 points."""
    generate_force(tmp_path, scale=0.1, seed=1)
    r = _calibrate(tmp_path)
    for k, ratio in r["ratio"].items():
        assert 0.88 <= ratio <= 1.12, (k, r["measured"][k], r["target"][k])
    m = r["measured"]
    assert abs(m["victim_female_share"] - 0.66) < 0.03 and abs(m["offender_male_share"] - 0.75) < 0.03
    assert m["single_offender_crime_share"] >= 0.97 and m["max_offenders_per_crime"] == 8
    assert r["extra"]["victim_age_mode"] == 14
    assert 14 <= r["extra"]["offender_age_mode_under_25"] <= 17  # first peak
    assert 30 <= r["extra"]["offender_age_mode_25_plus"] <= 35  # second peak, mid-30s
    assert r["extra"]["large_logs_31_plus"] > 0 and r["extra"]["max_log_nominals"] > 100


def test_large_rings_are_one_piece_through_shared_victims(clean):
    """Each planted ring of 10+ offenders is connected by victim links alone (checked with networkx)."""
    import networkx as nx

    d, _ = clean
    rings = pq.read_table(d / "planted_truth" / "rings.parquet").to_pylist()
    con = duckdb.connect()
    pairs = con.execute(f"""
        WITH cn AS (SELECT * FROM {_sql(d, 'crime_nominals')})
        SELECT DISTINCT o.nominal_id, o2.nominal_id FROM cn v
        JOIN cn o ON o.crime_ref = v.crime_ref AND o.role <> 'victim' AND o.role NOT IN ('witness', 'other')
        JOIN cn v2 ON v2.nominal_id = v.nominal_id AND v2.role = 'victim'
        JOIN cn o2 ON o2.crime_ref = v2.crime_ref AND o2.role <> 'victim' AND o2.role NOT IN ('witness', 'other')
        WHERE v.role = 'victim' AND o.nominal_id < o2.nominal_id""").fetchall()
    graph = nx.Graph(pairs)
    members: dict[str, list] = {}
    for r in rings:
        if r["role"] == "offender":
            members.setdefault(r["ring_id"], []).append(r["nominal_id"])
    large = [m for m in members.values() if len(m) >= 10]
    assert large
    for m in large:
        assert nx.is_connected(graph.subgraph(m)), len(m)


def test_intelligence_has_both_gradings_actionable_and_not_and_a_long_tail(clean):
    d, facts = clean
    intel = facts["planted"]["intel"]
    assert 0.2 < intel["actionable_logs"] / intel["logs"] < 0.8
    con = duckdb.connect()
    sizes = [r[0] for r in con.execute(f"SELECT count(*) FROM {_sql(d, 'intel_nominals')} GROUP BY log_id").fetchall()]
    assert max(sizes) > 30 and min(sizes) == 1 and 3 < np.mean(sizes) < 9
    assert facts["rows"]["intel_nominals"] > 5 * facts["rows"]["crimes"]


def test_custody_pairs_share_the_planted_number_of_days(clean):
    """Planted cellmates overlap by exactly `shared_days` (both first and last days count), some above 30, some below."""
    d, _ = clean
    pairs = pq.read_table(d / "planted_truth" / "custody_pairs.parquet").to_pylist()
    con = duckdb.connect()
    got = dict(((a, b), n) for a, b, n in con.execute(f"""
        WITH c AS (SELECT nominal_id, establishment, cell_id, CAST(from_date AS DATE) f,
                          coalesce(CAST(to_date AS DATE), DATE '2021-03-15') t FROM {_sql(d, 'custody_cells')})
        SELECT a.nominal_id, b.nominal_id, sum(date_diff('day', greatest(a.f, b.f), least(a.t, b.t)) + 1)
        FROM c a JOIN c b USING (establishment, cell_id)
        WHERE a.nominal_id <> b.nominal_id AND a.f <= b.t AND b.f <= a.t AND starts_with(a.cell_id, 'Z') IS FALSE
        GROUP BY 1, 2""").fetchall())
    assert any(p["shared_days"] >= 30 for p in pairs) and any(p["shared_days"] < 30 for p in pairs)
    for p in pairs:
        assert got[(p["nominal_a"], p["nominal_b"])] >= p["shared_days"]


def test_crime_records_sometimes_disagree_with_and_sometimes_fill_the_person_record(clean):
    d, facts = clean
    con = duckdb.connect()
    disagree, filled = con.execute(f"""
        SELECT count(*) FILTER (WHERE n.sex IS NOT NULL AND c.sex IS NOT NULL AND n.sex <> c.sex),
               count(*) FILTER (WHERE n.date_of_birth IS NULL AND c.date_of_birth IS NOT NULL)
        FROM {_sql(d, 'crime_nominals')} c JOIN {_sql(d, 'nominals')} n USING (nominal_id)""").fetchone()
    assert 0 < disagree <= facts["planted"]["demographic_conflicts"]["sex"] and filled > 0


# ---------------------------------------------------------------------------------------------- dirty mode


def test_dirty_mode_plants_every_bad_input_class(dirty):
    d, facts, plan = dirty
    for reason in REASONS:
        assert plan["planted"].get(reason, 0) >= 1, reason
        assert plan["planted"][reason] <= 30, reason
    assert facts["dirty_rows"] == plan["planted"]
    total = sum(f["rows_appended"] for f in plan["files"].values())
    assert total == sum(plan["planted"].values())


def test_dirty_rows_sit_on_the_lines_recorded(dirty):
    """Each recorded line holds its defect; rows read = clean rows + appended rows for every file."""
    d, facts, plan = dirty
    for fname, info in plan["files"].items():
        data = (d / fname).read_bytes()
        lines = data.split(b"\n")
        clean_rows = facts["rows"][fname.split(".")[0]]
        # header + clean rows + appended rows; the multi-line MO adds one physical line; a truncated row has no "\n"
        extra_lines = info["reasons"].get("multiline_field", {}).get("count", 0)
        truncated = "truncated_row" in info["reasons"]
        expect = 1 + clean_rows + info["rows_appended"] + extra_lines + (0 if truncated else 1)
        assert len(lines) == expect, fname

        def line(n, _lines=lines):
            return _lines[n - 1].rstrip(b"\r")

        def fields(n):
            return next(csv.reader(io.StringIO(line(n).decode("utf-8"))))

        r = info["reasons"]
        for n in r.get("duplicate_row", {}).get("lines", []):
            assert line(n) in [x.rstrip(b"\r") for x in lines[1:n - 1]], fname
        conflicts: dict[tuple, set] = {}
        width = len(TABLES[fname.split(".")[0]].key)
        for n in r.get("conflicting_duplicate", {}).get("lines", []):
            conflicts.setdefault(tuple(fields(n)[:width]), set()).add(line(n))
        assert all(len(v) == 2 for v in conflicts.values()), fname  # one key, two different contents
        ncols = len(fields(1))
        for n in r.get("too_few_columns", {}).get("lines", []):
            assert len(fields(n)) < ncols
        for n in r.get("too_many_columns", {}).get("lines", []):
            assert len(fields(n)) > ncols
        for n in r.get("invalid_utf8", {}).get("lines", []):
            with pytest.raises(UnicodeDecodeError):
                line(n).decode("utf-8")
        for n in r.get("truncated_row", {}).get("lines", []):
            assert n == len(lines) and not data.endswith(b"\n") and line(n).count(b'"') % 2 == 1
    cr = plan["files"]["crimes.csv"]["reasons"]
    got = {fields for n in cr["bad_date"]["lines"]
           for fields in next(csv.reader([(d / "crimes.csv").read_bytes().split(b"\n")[n - 1].decode()]))}
    assert {"2021-02-30", "15/03/2021"} <= got
    soc = plan["files"]["soc_edges.csv"]["reasons"]
    soc_lines = (d / "soc_edges.csv").read_bytes().decode("utf-8-sig").split("\n")
    for n in soc["self_link"]["lines"]:
        a, b, *_ = next(csv.reader([soc_lines[n - 1].rstrip("\r")]))
        assert a == b
    assert {next(csv.reader([soc_lines[n - 1]]))[2] for n in soc["bad_weight"]["lines"]} == {"0", "-1", "abc"}


def test_dirty_file_quirks_bom_crlf_mixed_case_extra_column_leading_zeros(dirty):
    d, _, plan = dirty
    f = plan["file_features"]
    for t in f["bom"]:
        assert (d / f"{t}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    for t in f["crlf"]:
        data = (d / f"{t}.csv").read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n") > 0
    for t in f["mixed_case_header"]:
        header = (d / f"{t}.csv").read_bytes().split(b"\n")[0].decode("utf-8-sig")
        assert header != header.lower() and header.lower().replace('"', "").split(",") == list(TABLES[t].column_names)
    assert _rows(d / "soc_nominals.csv")[0][-1] == "officer_notes"
    ids = {r[0] for r in csv.reader(io.StringIO((d / "nominals.csv").read_bytes().decode("utf-8-sig", "replace")))}
    for padded, bare in f["leading_zero_pairs"]:
        assert padded != bare and padded in ids and bare in ids


def test_dirty_parquet_plants_the_value_level_classes(tmp_path):
    generate_force(tmp_path, scale=0.005, seed=3, dirty=True, fmt="parquet")
    plan = json.loads((tmp_path / "planted_truth" / "dirty.json").read_text())
    for reason in ("bad_date", "missing_required", "bad_flag", "unknown_role", "orphan_crime", "orphan_log",
                   "duplicate_row", "conflicting_duplicate", "implausible_dob", "bad_grade", "bad_interval",
                   "self_link", "bad_weight"):
        assert plan["planted"].get(reason, 0) >= 1, reason
    t = pq.read_table(tmp_path / "crime_nominals.parquet")
    assert "bystander" in t.column("role").to_pylist()


# ---------------------------------------------------------------------------------------------- properties


@hsettings(max_examples=200, deadline=None)
@given(day=st.dates(dt.date(1950, 1, 1), dt.date(2021, 3, 15)), age=st.integers(0, 90), seed=st.integers(0, 10**6))
def test_a_date_of_birth_drawn_for_an_age_gives_that_age(day, age, seed):
    """_dob_for_age gives exactly the whole-year age asked (leap days included), and _age agrees with the calendar."""
    rng = np.random.default_rng(seed)
    n = np.array([(day - dt.date(1970, 1, 1)).days], np.int64)
    dob = g._dob_for_age(rng, n, np.array([age]))
    born = dt.date(1970, 1, 1) + dt.timedelta(days=int(dob[0]))
    calendar = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    assert calendar == age
    assert g._age(dob, n)[0] == age


def test_regenerating_a_folder_in_the_other_format_leaves_one_extract(tmp_path):
    generate_force(tmp_path, scale=0.003, seed=1, dirty=True)
    generate_force(tmp_path, scale=0.003, seed=1, fmt="parquet")
    assert not list(tmp_path.glob("*.csv")) and len(list(tmp_path.glob("*.parquet"))) == len(TABLES)
    assert not (tmp_path / "planted_truth" / "dirty.json").exists()
