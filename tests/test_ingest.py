"""Ingest: every bad-input class on a hand-written tiny file, with the right answer worked out by hand.

Parsing is done by DuckDB on every engine (the Spark engine delegates scan_csv to it), so the
parsing and reason-code cases run on DuckDB (`duck`); the tests whose stage SQL does more than
parse (typing, duplicates, orphans, demographics, as_of) run on every engine (`engine`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet import ingest
from hiddennet.contract import TABLES
from hiddennet.errors import InputContractError
from hiddennet.ingest.rules import REASONS
from hiddennet.settings import Settings

CRIMES = "crime_ref,offence_title,offence_date\nC1,Rape of a girl,2020-01-05\nC2,Sexual assault,2020-02-01\n"
NOMINALS = "nominal_id,date_of_birth,sex\nN1,1990-01-01,M\nN2,2008-01-01,F\n"
LINKS = "crime_ref,nominal_id,role\nC1,N1,offender\nC1,N2,victim\n"


def write(folder, name, content):
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def force(tmp_path, **files):
    """The three required extracts (tiny and clean) with any file replaced or added by name."""
    base = {"crimes.csv": CRIMES, "nominals.csv": NOMINALS, "crime_nominals.csv": LINKS}
    for name, content in files.items():
        name = name.replace("__", ".")
        base = {k: v for k, v in base.items() if k.split(".")[0] != name.split(".")[0]}
        base[name] = content
    for name, content in base.items():
        if content is not None:
            write(tmp_path, name, content)
    return tmp_path


def quarantine(engine):
    return engine.fetch_rows('SELECT source_table, line, "column", reason, action FROM quarantine ORDER BY ALL')


@pytest.fixture
def run(settings):
    def go(engine, folder, s=settings):
        out = ingest.run(engine, s, folder)
        for name, t in out.facts["tables"].items():
            assert t["rows_read"] == t["accepted"] + t["rejected"], name
        return out

    return go


# -- a clean force -------------------------------------------------------------------------------------------
def test_clean_force_is_read_whole_and_typed(engine, run, tmp_path):
    """2 crimes, 2 nominals, 2 links, all valid: nothing quarantined; dates DATE, lines 2.. in file order.

    as_of comes from settings (2021-03-15); the latest event date is C2's 2020-02-01.
    """
    out = run(engine, force(tmp_path))
    assert quarantine(engine) == []
    assert out.facts["as_of"] == dt.date(2021, 3, 15)
    assert out.facts["latest_date"] == dt.date(2020, 2, 1)
    assert engine.fetch_rows("SELECT crime_ref, offence_date, source_line FROM crimes") == [
        ("C1", dt.date(2020, 1, 5), 2),
        ("C2", dt.date(2020, 2, 1), 3),
    ]
    assert out.facts["tables"]["crime_nominals"] == {"file": "crime_nominals.csv", "rows_read": 2, "accepted": 2, "rejected": 0}
    assert set(out.tables) >= {*TABLES, "quarantine", "demographic_conflicts"}
    # No scratch table survives the stage.
    assert not [t for t in ingest.engine_scratch(engine) if engine.has_table(t)]


def test_as_of_defaults_to_latest_valid_accepted_event_date(engine, run, tmp_path):
    """Dates seen: C1 2020-01-05, C2 recorded 2020-06-30, C3 offence 2021-13-01 (invalid: row rejected)
    with recorded 2022-01-01 (in a rejected row: ignored), a date of birth 2023-01-01 (not an event;
    after as_of, so cleared) and a log dated 2020-07-01. Latest valid accepted event: 2020-07-01."""
    folder = force(
        tmp_path,
        crimes__csv="crime_ref,offence_title,offence_date,recorded_date\nC1,t,2020-01-05,\nC2,t,2020-02-01,2020-06-30\n"
        "C3,t,2021-13-01,2022-01-01\n",
        nominals__csv="nominal_id,date_of_birth\nN1,1990-01-01\nN2,2023-01-01\n",
        intel_logs__csv="log_id,log_date,grading_system,source_grade,information_grade\nL1,2020-07-01 09:30,3x5x2,1,A\n",
        intel_nominals__csv="log_id,nominal_id\nL1,N1\n",
    )
    out = run(engine, folder, Settings())
    assert out.facts["as_of"] == dt.date(2020, 7, 1) == out.facts["latest_date"]
    assert out.facts["as_of_source"] == "extract"
    assert ("nominals", 3, "date_of_birth", "implausible_dob", "value_cleared") in quarantine(engine)


# -- the shape of the files ---------------------------------------------------------------------------------------
def test_header_case_spaces_bom_and_crlf(duck, run, tmp_path):
    """Header ` Crime_REF ,OFFENCE_TITLE,Offence_Date` after a BOM, CRLF endings: read as the contract names."""
    crimes = b"\xef\xbb\xbf Crime_REF ,OFFENCE_TITLE,Offence_Date\r\nC1,t,2020-01-05\r\nC2,t,2020-02-01\r\n"
    run(duck, force(tmp_path, crimes__csv=crimes))
    assert duck.fetch_rows("SELECT crime_ref, offence_title, source_line FROM crimes") == [("C1", "t", 2), ("C2", "t", 3)]
    assert quarantine(duck) == []


def test_newlines_inside_quoted_fields_keep_physical_line_numbers(duck, run, tmp_path):
    """C1's title spans lines 2-4 (two embedded CRLFs), so C2 is on line 5 and the bad C3 on line 6."""
    crimes = 'crime_ref,offence_title,offence_date\r\nC1,"a\r\nb\r\nc",2020-01-05\r\nC2,t,2020-02-01\r\nC3,t,nodate\r\n'
    run(duck, force(tmp_path, crimes__csv=crimes))
    assert duck.fetch_rows("SELECT crime_ref, source_line FROM crimes") == [("C1", 2), ("C2", 5)]
    assert quarantine(duck) == [("crimes", 6, "offence_date", "bad_date", "row_rejected")]


def test_extra_columns_are_carried_after_the_contract_columns_as_text(duck, run, tmp_path):
    crimes = "Officer Notes,crime_ref,offence_title,offence_date,Score\nx,C1,t,2020-01-05,0042\n"
    run(duck, force(tmp_path, crimes__csv=crimes, crime_nominals__csv="crime_ref,nominal_id,role\nC1,N1,victim\n"))
    cols = duck.columns("crimes")
    assert cols[-3:] == ["source_line", "officer notes", "score"]
    assert cols[: len(TABLES["crimes"].columns)] == list(TABLES["crimes"].column_names)
    assert duck.fetch_rows('SELECT "officer notes", score FROM crimes') == [("x", "0042")]


def test_ids_are_text_leading_zeros_kept(duck, run, tmp_path):
    """`007` and `7` are two crimes; a link to `07` refers to neither and is an orphan."""
    folder = force(
        tmp_path,
        crimes__csv="crime_ref,offence_title,offence_date\n007,t,2020-01-05\n7,t,2020-01-06\n",
        crime_nominals__csv="crime_ref,nominal_id,role\n007,N1,victim\n7,N1,victim\n07,N1,victim\n",
    )
    run(duck, folder)
    assert duck.fetch_rows("SELECT crime_ref FROM crimes") == [("007",), ("7",)]
    assert duck.fetch_rows("SELECT crime_ref FROM crime_nominals") == [("007",), ("7",)]
    assert quarantine(duck) == [("crime_nominals", 4, "crime_ref", "orphan_crime", "row_rejected")]


def test_parquet_input_with_typed_columns(engine, run, tmp_path):
    """A Parquet crimes file whose dates are DATE and ids text; rows are numbered from 1."""
    table = pa.table(
        {
            "CRIME_REF": ["C1", "007", "C3"],
            "offence_title": ["t", "t", "t"],
            "offence_date": pa.array([dt.date(2020, 1, 5), dt.date(2020, 2, 1), None], pa.date32()),
            "domestic_abuse": [True, False, None],
        }
    )
    pq.write_table(table, tmp_path / "crimes.parquet")
    run(engine, force(tmp_path, crimes__csv=None))
    assert engine.fetch_rows("SELECT crime_ref, offence_date, domestic_abuse, source_line FROM crimes") == [
        ("C1", dt.date(2020, 1, 5), True, 1),
        ("007", dt.date(2020, 2, 1), False, 2),
    ]
    assert quarantine(engine) == [("crimes", 3, "offence_date", "missing_required", "row_rejected")]


def test_gzipped_csv(duck, run, tmp_path):
    (tmp_path / "crimes.csv.gz").write_bytes(gzip.compress(CRIMES.encode()))
    run(duck, force(tmp_path, crimes__csv=None))
    assert duck.count("crimes") == 2


def test_optional_tables_absent_are_empty_with_their_columns(duck, run, tmp_path):
    out = run(duck, force(tmp_path))
    for name in ("intel_logs", "intel_nominals", "custody_cells", "soc_nominals", "soc_edges"):
        assert duck.count(name) == 0
        assert duck.columns(name) == [*TABLES[name].column_names, "source_line"]
        assert out.facts["tables"][name] == {"file": None, "rows_read": 0, "accepted": 0, "rejected": 0}


# -- what stops the run ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["crimes", "nominals", "crime_nominals"])
def test_missing_required_file_names_it(duck, settings, tmp_path, missing):
    folder = force(tmp_path, **{f"{missing}__csv": None})
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, settings, folder)
    assert e.value.file == f"{missing}.csv" and missing in str(e.value)


@pytest.mark.parametrize("present,missing", [("intel_logs", "intel_nominals"), ("intel_nominals", "intel_logs")])
def test_intel_tables_come_together(duck, settings, tmp_path, present, missing):
    folder = force(tmp_path, **{f"{present}__csv": ",".join(TABLES[present].required_columns) + "\n"})
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, settings, folder)
    assert e.value.file == f"{missing}.csv"


def test_missing_required_column_names_file_and_column(duck, settings, tmp_path):
    folder = force(tmp_path, crime_nominals__csv="crime_ref,nominal_id,Sex\nC1,N1,M\n")
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, settings, folder)
    assert (e.value.file, e.value.column) == ("crime_nominals.csv", "role")
    assert "crime_nominals.csv" in str(e.value) and "role" in str(e.value)


# -- normalised values -------------------------------------------------------------------------------------------
def test_roles_sex_ethnicity_and_flags_are_normalised(engine, run, tmp_path):
    """Roles in any case with spaces or underscores; Male/f -> M/F; U, IC9, IC0, empty -> NULL; Y/0/TRUE."""
    folder = force(
        tmp_path,
        crimes__csv="crime_ref,offence_title,offence_date,domestic_abuse\nC1,t,2020-01-05,Y\nC2,t,2020-01-05,0\n"
        "C3,t,2020-01-05,TRUE\nC4,t,2020-01-05,\n",
        nominals__csv="nominal_id,sex,ethnicity\nN1,Male,ic3\nN2,f,IC9\nN3,U,IC0\nN4,,\n",
        crime_nominals__csv="crime_ref,nominal_id,role\nC1,N1,Person Thought Responsible\nC1,N2,VICTIM\n"
        "C2,N3,person_probably_RESPONSIBLE\nC3,N4,Defendant\n",
    )
    run(engine, folder)
    assert quarantine(engine) == []
    assert engine.fetch_rows("SELECT domestic_abuse FROM crimes") == [(True,), (False,), (True,), (None,)]
    assert engine.fetch_rows("SELECT sex, ethnicity FROM nominals") == [("M", "IC3"), ("F", None), (None, None), (None, None)]
    assert [r[0] for r in engine.fetch_rows("SELECT role FROM crime_nominals")] == [
        "person_thought_responsible", "victim", "person_probably_responsible", "defendant"]


def test_timestamps_keep_their_date(duck, run, tmp_path):
    crimes = ("crime_ref,offence_title,offence_date\nC1,t,2020-01-05T10:00:00\nC2,t,2020-01-05 10:00\n"
              "C3,t,2020-01-05T23:59:59.5+01:00\n")
    run(duck, force(tmp_path, crimes__csv=crimes, crime_nominals__csv="crime_ref,nominal_id,role\n"))
    assert {r[0] for r in duck.fetch_rows("SELECT offence_date FROM crimes")} == {dt.date(2020, 1, 5)}
    assert duck.count("crimes") == 3


# -- every reason code, each on its own tiny file -------------------------------------------------------------------
INTEL_OK = "log_id,nominal_id\nL1,N1\n"
CASES = {
    # reason: (files, expected quarantine rows (table, line, column, reason, action))
    "bad_date": ({"crimes__csv": "crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t,05/01/2020\n"},
                 [("crimes", 3, "offence_date", "bad_date", "row_rejected")]),
    "bad_date_optional": ({"crimes__csv": "crime_ref,offence_title,offence_date,recorded_date\nC1,t,2020-01-05,2020-02-30\nC2,t,2020-01-05,\n"},
                          [("crimes", 2, "recorded_date", "bad_date", "value_cleared")]),
    "missing_required": ({"crimes__csv": "crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2, ,2020-01-05\n"},
                         [("crimes", 3, "offence_title", "missing_required", "row_rejected")]),
    "too_few_columns": ({"crimes__csv": "crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t\nC3,t,2020-01-05\n"},
                        [("crimes", 3, None, "too_few_columns", "row_rejected")]),
    "too_many_columns": ({"crimes__csv": "crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t,2020-01-05,x\n"},
                         [("crimes", 3, None, "too_many_columns", "row_rejected")]),
    "bad_flag": ({"crimes__csv": "crime_ref,offence_title,offence_date,domestic_abuse\nC1,t,2020-01-05,perhaps\nC2,t,2020-01-05,N\n"},
                 [("crimes", 2, "domestic_abuse", "bad_flag", "value_cleared")]),
    "unknown_role": ({"crime_nominals__csv": "crime_ref,nominal_id,role\nC1,N1,offender\nC1,N2,bystander\n"},
                     [("crime_nominals", 3, "role", "unknown_role", "row_rejected")]),
    "bad_sex": ({"nominals__csv": "nominal_id,sex\nN1,M\nN2,X\n"}, [("nominals", 3, "sex", "bad_sex", "value_cleared")]),
    "bad_ethnicity": ({"nominals__csv": "nominal_id,ethnicity\nN1,IC7\nN2,IC6\n"},
                      [("nominals", 2, "ethnicity", "bad_ethnicity", "value_cleared")]),
    "orphan_crime": ({"crime_nominals__csv": "crime_ref,nominal_id,role\nC9,N1,offender\nC1,N2,victim\n"},
                     [("crime_nominals", 2, "crime_ref", "orphan_crime", "row_rejected")]),
    "orphan_nominal": ({"crime_nominals__csv": "crime_ref,nominal_id,role\nC1,N1,offender\nC1,N9,victim\n"},
                       [("crime_nominals", 3, "nominal_id", "orphan_nominal", "row_rejected")]),
    "orphan_log": ({"intel_logs__csv": "log_id,log_date,grading_system,source_grade,information_grade\nL1,2020-01-01,3x5x2,1,A\n",
                    "intel_nominals__csv": "log_id,nominal_id\nL1,N1\nL2,N2\n"},
                   [("intel_nominals", 3, "log_id", "orphan_log", "row_rejected")]),
    "duplicate_row": ({"nominals__csv": "nominal_id,sex\nN1,M\nN2,F\nN1,Male\n"},
                      [("nominals", 4, None, "duplicate_row", "row_rejected")]),
    "implausible_dob": ({"nominals__csv": "nominal_id,date_of_birth\nN1,1900-03-14\nN2,2021-03-16\nN3,1910-03-16\n"},
                        [("nominals", 2, "date_of_birth", "implausible_dob", "value_cleared"),
                         ("nominals", 3, "date_of_birth", "implausible_dob", "value_cleared")]),
    "bad_grade": ({"intel_logs__csv": "log_id,log_date,grading_system,source_grade,information_grade\n"
                                      "L1,2020-01-01,3x5x2,A,1\nL2,2020-01-01,5X5X5,a,1\nL3,2020-01-01,4x4,1,A\nL4,2020-01-01,3x5x2,3,E\n",
                   "intel_nominals__csv": "log_id,nominal_id\nL2,N1\n"},
                  [("intel_logs", 2, "source_grade", "bad_grade", "row_rejected"),
                   ("intel_logs", 4, "grading_system", "bad_grade", "row_rejected")]),
    "bad_handling_code": ({"intel_logs__csv": "log_id,log_date,grading_system,source_grade,information_grade,handling_code\n"
                                              "L1,2020-01-01,3x5x2,1,A,3\nL2,2020-01-01,5x5x5,A,1,3\n",
                           "intel_nominals__csv": INTEL_OK},
                          [("intel_logs", 2, "handling_code", "bad_handling_code", "value_cleared")]),
    "bad_interval": ({"custody_cells__csv": "nominal_id,establishment,cell_id,from_date,to_date\n"
                                            "N1,HMP A,1,2020-01-10,2020-01-09\nN1,HMP A,1,2020-01-10,2020-01-10\nN2,HMP A,1,2020-01-10,\n"},
                     [("custody_cells", 2, "to_date", "bad_interval", "row_rejected")]),
    "self_link": ({"soc_edges__csv": "nominal_id_a,nominal_id_b\nN1,N1\nN1,N2\n"},
                  [("soc_edges", 2, "nominal_id_b", "self_link", "row_rejected")]),
    "bad_weight": ({"soc_edges__csv": "nominal_id_a,nominal_id_b,weight\nN1,N2,0\nN1,N3,heavy\nN1,N4,-1\nN2,N3,2.5\nN3,N4,\n"},
                   [("soc_edges", 2, "weight", "bad_weight", "row_rejected"),
                    ("soc_edges", 3, "weight", "bad_weight", "value_cleared"),
                    ("soc_edges", 4, "weight", "bad_weight", "row_rejected")]),
    # surname is optional: the value is cleared and the person kept (input contract); a required
    # column's invalid bytes reject the row (test_invalid_bytes_reject_that_row_only).
    "invalid_utf8": ({"nominals__csv": b"nominal_id,surname\nN1,ok\nN3,\xff\xfebad\nN2,\xc3\xa9\n"},
                     [("nominals", 3, "surname", "invalid_utf8", "value_cleared")]),
    "truncated_row": ({"crimes__csv": "crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t"},
                      [("crimes", 3, None, "truncated_row", "row_rejected")]),
    "truncated_row_quote": ({"crimes__csv": 'crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,"t,2020-01-05\n'},
                            [("crimes", 3, None, "truncated_row", "row_rejected")]),
    "bad_sharing_basis": ({"sharing_basis__csv": "nominal_id,basis,recorded_date\nN1,consent,2021-01-01\nN2,perhaps,2021-01-01\n"},
                          [("sharing_basis", 3, "basis", "bad_sharing_basis", "row_rejected")]),
    "bad_outcome": ({"referral_outcomes__csv": "nominal_id,outcome,outcome_date\nN1,NFA,2021-01-01\nN2,arrested,2021-01-01\n"},
                    [("referral_outcomes", 3, "outcome", "bad_outcome", "row_rejected")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_reason_code(duck, run, tmp_path, case):
    files, expected = CASES[case]
    out = run(duck, force(tmp_path, **files))
    assert quarantine(duck) == sorted(expected)
    table = expected[0][0]
    rejected = sum(1 for e in expected if e[4] == "row_rejected")
    assert out.facts["tables"][table]["rejected"] == rejected
    assert out.facts["quarantine"][table] == {
        a: {r: sum(1 for e in expected if e[3] == r and e[4] == a) for r in {e[3] for e in expected if e[4] == a}}
        for a in {e[4] for e in expected}
    }


def test_every_reason_code_has_a_case():
    covered = {e[3] for _, expected in CASES.values() for e in expected}
    # conflicting_duplicate and bad_number have their own tests below; the reading and future-date
    # codes theirs in tests/test_ingest_hardening.py.
    # bad_decision (an entity resolution input, read only with `resolve` on) has its own in tests/test_resolve.py.
    own = {"conflicting_duplicate", "bad_number", "future_date", "bad_quote", "value_too_long", "invalid_encoding",
           "bad_decision"}
    assert covered | own == set(REASONS)


def test_soc_weight_defaults_to_one(duck, run, tmp_path):
    """Empty weight -> 1; `heavy` is not a number: cleared (bad_weight), so 1; 2.5 kept."""
    run(duck, force(tmp_path, soc_edges__csv="nominal_id_a,nominal_id_b,weight\nN1,N2,\nN2,N3,2.5\nN3,N4,heavy\n"))
    assert duck.fetch_rows("SELECT weight FROM soc_edges") == [(1.0,), (2.5,), (1.0,)]


def test_bad_number_in_an_optional_number_column_is_cleared(duck, run, tmp_path, monkeypatch):
    """The only number column today is soc_edges.weight (its own rule, bad_weight); a number column
    elsewhere follows the general rule: not a number -> cleared with bad_number."""
    from hiddennet.contract import Column, TableContract

    nominals = TABLES["nominals"]
    monkeypatch.setitem(
        TABLES, "nominals",
        TableContract("nominals", (*nominals.columns, Column("height", "number")), required=True, key=nominals.key),
    )
    run(duck, force(tmp_path, nominals__csv="nominal_id,height\nN1,1.8\nN2,tall\n"))
    assert quarantine(duck) == [("nominals", 3, "height", "bad_number", "value_cleared")]
    assert duck.fetch_rows("SELECT height FROM nominals") == [(1.8,), (None,)]


def test_conflicting_duplicate_rejects_every_version_and_orphans_its_links(engine, run, tmp_path):
    """C1 appears twice with different titles: both versions rejected (conflicting_duplicate); its two
    links then point at no accepted crime and are rejected as orphan_crime. C2 is kept with its link."""
    folder = force(
        tmp_path,
        crimes__csv="crime_ref,offence_title,offence_date\nC1,a,2020-01-05\nC2,t,2020-01-05\nC1,b,2020-01-05\n",
        crime_nominals__csv="crime_ref,nominal_id,role\nC1,N1,offender\nC1,N2,victim\nC2,N1,suspect\n",
    )
    out = run(engine, folder)
    assert quarantine(engine) == [
        ("crime_nominals", 2, "crime_ref", "orphan_crime", "row_rejected"),
        ("crime_nominals", 3, "crime_ref", "orphan_crime", "row_rejected"),
        ("crimes", 2, None, "conflicting_duplicate", "row_rejected"),
        ("crimes", 4, None, "conflicting_duplicate", "row_rejected"),
    ]
    assert engine.fetch_rows("SELECT crime_ref FROM crime_nominals") == [("C2",)]
    assert out.facts["tables"]["crime_nominals"]["rejected"] == 2


def test_exact_duplicates_collapse_to_the_first_and_are_counted(duck, run, tmp_path):
    """Links line 2 and 4 are the same row (role written differently): the copy on line 4 is rejected."""
    out = run(duck, force(tmp_path, crime_nominals__csv="crime_ref,nominal_id,role\nC1,N1,offender\nC1,N2,victim\nC1,N1,OFFENDER\n"))
    assert out.facts["duplicates_collapsed"] == {"crime_nominals": 1}
    assert duck.fetch_rows("SELECT source_line FROM crime_nominals") == [(2,), (3,)]


def test_invalid_bytes_reject_that_row_only(duck, run, tmp_path):
    crimes = b"crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t\xff,2020-01-05\nC3,caf\xc3\xa9,2020-01-05\n"
    run(duck, force(tmp_path, crimes__csv=crimes))
    assert duck.fetch_rows("SELECT crime_ref, offence_title FROM crimes") == [("C1", "t"), ("C3", "café")]


# -- demographics ---------------------------------------------------------------------------------------------------------
def test_demographics_person_record_wins_else_crimes_agree_else_most_frequent(engine, run, tmp_path):
    """Worked by hand:
    - N1: record says M; crimes say F (C1) -> M from the record, conflict nominal_vs_crime on sex.
    - N2: record empty; crimes say F, F, M -> F (most frequent), conflict crime_vs_crime.
    - N3: record empty; crimes say IC1 (C1, 2020-01-05) and IC3 (C3, 2020-03-01) once each -> tie,
      the latest offence wins: IC3; conflict crime_vs_crime on ethnicity.
    - N4: record empty; one crime says date of birth 2010-05-05 -> taken, source crime, no conflict.
    """
    folder = force(
        tmp_path,
        crimes__csv="crime_ref,offence_title,offence_date\nC1,t,2020-01-05\nC2,t,2020-02-01\nC3,t,2020-03-01\n",
        nominals__csv="nominal_id,sex,ethnicity,date_of_birth\nN1,M,,\nN2,,,\nN3,,,\nN4,,,\n",
        crime_nominals__csv="crime_ref,nominal_id,role,sex,ethnicity,date_of_birth\n"
        "C1,N1,offender,F,,\nC1,N2,victim,F,,\nC2,N2,victim,F,,\nC3,N2,victim,M,,\n"
        "C1,N3,offender,,IC1,\nC3,N3,offender,,IC3,\nC2,N4,victim,,,2010-05-05\n",
    )
    out = run(engine, folder)
    assert engine.fetch_rows(
        "SELECT nominal_id, sex, sex_source, ethnicity, ethnicity_source, date_of_birth, date_of_birth_source FROM nominals"
    ) == [
        ("N1", "M", "nominal", None, None, None, None),
        ("N2", "F", "crime", None, None, None, None),
        ("N3", None, None, "IC3", "crime", None, None),
        ("N4", None, None, None, None, dt.date(2010, 5, 5), "crime"),
    ]
    assert engine.fetch_rows('SELECT nominal_id, "column", kind FROM demographic_conflicts') == [
        ("N1", "sex", "nominal_vs_crime"),
        ("N2", "sex", "crime_vs_crime"),
        ("N3", "ethnicity", "crime_vs_crime"),
    ]
    assert out.facts["demographic_conflicts"] == {"sex": {"nominal_vs_crime": 1, "crime_vs_crime": 1},
                                                  "ethnicity": {"crime_vs_crime": 1}}
    # The crime records keep what was recorded on each crime.
    assert engine.scalar("SELECT count(*) FROM crime_nominals WHERE sex = 'F'") == 3


# -- nothing personal leaks ----------------------------------------------------------------------------------------------------
def test_quarantine_and_facts_never_hold_a_raw_value(duck, run, tmp_path):
    m = "ZQXMARKER"
    folder = force(
        tmp_path,
        crimes__csv=f"crime_ref,offence_title,offence_date,domestic_abuse\nC1,t,2020-01-05,{m}\n{m}1,{m},{m}\n"
        f"{m}2,t\nC3,t,2020-01-05,N,{m}\n",
        nominals__csv=f"nominal_id,sex,ethnicity,date_of_birth\nN1,{m},{m},{m}\nN2,,,\n".encode() + b"N3,\xff" + m.encode() + b",,\n",
        crime_nominals__csv=f"crime_ref,nominal_id,role\nC1,N1,{m}\nC1,{m},victim\n{m},N1,victim\nC1,N2,\"{m}\n",
    )
    out = run(duck, folder)
    rows = duck.fetch_rows("SELECT * FROM quarantine")
    assert len(rows) >= 10
    assert m not in repr(rows)
    assert m not in json.dumps(out.facts, default=str)


def test_blank_lines_count_as_lines(duck, run, tmp_path):
    """Line 3 is blank: C2 is on line 4 and the bad C3 (after a quoted line break on line 5) on line 7."""
    crimes = 'crime_ref,offence_title,offence_date\nC1,t,2020-01-05\n\nC2,"a\nb",2020-02-01\nC3,t,x\n'
    run(duck, force(tmp_path, crimes__csv=crimes))
    assert duck.fetch_rows("SELECT crime_ref, source_line FROM crimes") == [("C1", 2), ("C2", 4)]
    assert quarantine(duck) == [("crimes", 6, "offence_date", "bad_date", "row_rejected")]


@pytest.mark.parametrize(
    "files,column",
    [
        ({"crimes__csv": "crime_ref,offence_title,offence_date,Crime_Ref\nC1,t,2020-01-05,C1\n"}, "crime_ref"),
        ({"crimes__csv": ""}, None),
        ({"crimes__parquet": None, "nominals__csv": NOMINALS}, None),
    ],
    ids=["column_twice", "empty_file", "two_files"],
)
def test_unreadable_layouts_stop_the_run(duck, settings, tmp_path, files, column):
    folder = force(tmp_path, **files)
    if "crimes__parquet" in files:  # a second file for crimes
        pq.write_table(pa.table({"crime_ref": ["C1"]}), folder / "crimes.parquet")
        write(folder, "crimes.csv", CRIMES)
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, settings, folder)
    assert "crimes" in str(e.value)
    assert e.value.column == column


def test_no_event_date_and_no_as_of_stops_the_run(duck, tmp_path):
    folder = force(tmp_path, crimes__csv="crime_ref,offence_title,offence_date\nC1,t,never\n",
                   crime_nominals__csv="crime_ref,nominal_id,role\n")
    with pytest.raises(InputContractError, match="as_of"):
        ingest.run(duck, Settings(), folder)
