"""Ingest on extracts written by other tools (issue 12): each class of damage on a tiny file whose
answer is worked out by hand in the docstring, plus the reproduction on a generated force.

Reading is DuckDB's or ingest's own (the Spark engine delegates both), so these run on DuckDB.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import shutil
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet import ingest
from hiddennet.errors import InputContractError
from hiddennet.ingest.records import MAX_VALUE_CHARS
from hiddennet.settings import Settings

H = b"crime_ref,offence_title,offence_date\n"
NOMINALS = "nominal_id,date_of_birth,sex\nN1,1990-01-01,M\nN2,2008-01-01,F\n"
LINKS = "crime_ref,nominal_id,role\n"


def folder(tmp_path, crimes=H + b"C1,t,2020-01-05\n", **files):
    """crimes.csv (bytes as given), two nominals, no links; other files by name (`__` for `.`)."""
    base = {"crimes.csv": crimes, "nominals.csv": NOMINALS, "crime_nominals.csv": LINKS}
    for name, content in files.items():
        name = name.replace("__", ".")
        base = {k: v for k, v in base.items() if k.split(".")[0] != name.split(".")[0]}
        base[name] = content
    for name, content in base.items():
        if content is not None:
            (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


def run(engine, path, settings=None):
    out = ingest.run(engine, settings or Settings(as_of=dt.date(2021, 3, 15)), path)
    for name, t in out.facts["tables"].items():
        assert t["rows_read"] == t["accepted"] + t["rejected"], name
    return out


def crimes(engine):
    return engine.fetch_rows("SELECT crime_ref, offence_title, source_line FROM crimes")


def quarantine(engine, table="crimes"):
    return engine.fetch_rows(f"SELECT line, \"column\", reason, action FROM quarantine WHERE source_table = '{table}' ORDER BY ALL")


# -- line endings, the whole class ----------------------------------------------------------------------------
LINE_ENDINGS = {
    # name: (file, accepted (ref, title, line), quarantine (line, column, reason, action))
    "crlf_line_in_lf_file": (H + b"C1,t,2020-01-05\r\nC2,t,2020-02-01\n", [("C1", "t", 2), ("C2", "t", 3)], []),
    "crlf_blank_line": (H + b"C1,t,2020-01-05\n\r\nC2,t,2020-02-01\n", [("C1", "t", 2), ("C2", "t", 4)], []),
    # A lone CR is a line end: `C1,Bir` (line 2) and `mingham,2020-01-05` (line 3) are two short records.
    "lone_cr_in_unquoted_field": (H + b"C1,Bir\rmingham,2020-01-05\nC2,t,2020-02-01\n", [("C2", "t", 4)],
                                  [(2, None, "too_few_columns", "row_rejected"), (3, None, "too_few_columns", "row_rejected")]),
    "crlf_header_mixed_rows": (b"crime_ref,offence_title,offence_date\r\nC1,t,2020-01-05\nC2,t,2020-02-01\r\nC3,t,2020-03-01\n",
                               [("C1", "t", 2), ("C2", "t", 3), ("C3", "t", 4)], []),
    "quoted_crlf_in_lf_file": (H + b'C1,"a\r\nb",2020-01-05\nC2,t,2020-02-01\n', [("C1", "a\r\nb", 2), ("C2", "t", 4)], []),
    "cr_only_file": (b"crime_ref,offence_title,offence_date\rC1,t,2020-01-05\rC2,\"x\ry\",2020-02-01\rC3,t,2020-03-01\r",
                     [("C1", "t", 2), ("C2", "x\ry", 3), ("C3", "t", 5)], []),
    "crlf_file_quoted_lf": (b"crime_ref,offence_title,offence_date\r\nC1,\"a\nb\",2020-01-05\r\n\r\nC2,t,2020-02-01\r\n",
                            [("C1", "a\nb", 2), ("C2", "t", 5)], []),
    "no_final_line_end": (H + b"C1,t,2020-01-05\nC2,t,2020-02-01", [("C1", "t", 2), ("C2", "t", 3)], []),
}


@pytest.mark.parametrize("case", list(LINE_ENDINGS))
def test_line_endings_are_read_or_quarantined_with_their_line(duck, tmp_path, case):
    content, accepted, rejected = LINE_ENDINGS[case]
    out = run(duck, folder(tmp_path, content))
    assert crimes(duck) == accepted
    assert quarantine(duck) == rejected
    assert out.facts["tables"]["crimes"]["rows_read"] == len(accepted) + len(rejected)


def test_merged_ids_never_appear(duck, tmp_path):
    """The review's CRLF header + mixed rows read 2,987 of 4,480 records with ids holding a quote and
    a line break: here every record is read and no id holds either."""
    rows = b"".join(b'C%d,"Birmingham",2020-01-0%d%s' % (i, 1 + i % 9, b"\r\n" if i % 3 else b"\n") for i in range(300))
    out = run(duck, folder(tmp_path, b"crime_ref,offence_title,offence_date\r\n" + rows))
    assert out.facts["tables"]["crimes"] == {"file": "crimes.csv", "rows_read": 300, "accepted": 300, "rejected": 0}
    assert duck.scalar("SELECT count(*) FROM crimes WHERE crime_ref LIKE '%\"%' OR crime_ref LIKE '%' || chr(10) || '%'") == 0


# -- quotes: a damaged quote never shifts later lines -------------------------------------------------------------
def test_stray_opening_quote_rejects_the_damaged_span_and_resynchronises(duck, tmp_path):
    """Line 2 opens a quote that the `"` on line 4 closes, followed by `a` (not a comma): the record
    spanning lines 2-4 is damaged (bad_quote, line 2) and reading resumes on line 5, so C4 keeps line 5."""
    content = H + b'C1,"Birm,2020-01-05\nC2,t,2020-02-01\nC3,"a, b",2020-01-03\nC4,t,2020-01-04\nC5,t,bad\n'
    run(duck, folder(tmp_path, content))
    assert crimes(duck) == [("C4", "t", 5)]
    assert quarantine(duck) == [(2, None, "bad_quote", "row_rejected"), (6, "offence_date", "bad_date", "row_rejected")]


def test_quote_inside_an_unquoted_field_is_a_character(duck, tmp_path):
    run(duck, folder(tmp_path, H + b'C1,Bi"rm,2020-01-05\nC2,5\'10",2020-02-01\nC3,t,2020-03-01\n'))
    assert crimes(duck) == [("C1", 'Bi"rm', 2), ("C2", "5'10\"", 3), ("C3", "t", 4)]


def test_text_after_a_closing_quote_is_bad_quote(duck, tmp_path):
    run(duck, folder(tmp_path, H + b'C1,"x"y,2020-01-05\nC2,t,2020-02-01\n'))
    assert crimes(duck) == [("C2", "t", 3)]
    assert quarantine(duck) == [(2, None, "bad_quote", "row_rejected")]


def test_file_ending_inside_a_quote_is_truncated_row(duck, tmp_path):
    run(duck, folder(tmp_path, H + b'C1,t,2020-01-05\nC2,"t,2020-01-05\nC3,t,2020-01-06\n'))
    assert crimes(duck) == [("C1", "t", 2)]
    assert quarantine(duck) == [(3, None, "truncated_row", "row_rejected")]


# -- two files for one table -------------------------------------------------------------------------------------
@pytest.mark.parametrize("second", ["CRIMES.csv", "crimes.csv.gz", "Crimes.PARQUET"])
def test_two_files_for_one_table_stop_the_run_naming_both(duck, tmp_path, second):
    path = folder(tmp_path)
    (path / second).write_bytes(gzip.compress(H) if second.endswith("gz") else H)
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, Settings(), path)
    assert e.value.exit_code == 2
    assert "crimes.csv" in str(e.value) and second in str(e.value)


# -- numbers are finite ------------------------------------------------------------------------------------------------
def test_non_finite_and_malformed_weights_are_cleared_and_non_positive_rejected(duck, tmp_path):
    """Lines 2-9: nan, inf, Infinity, 1e400 (overflows to inf), -inf, 0x10, 1_000 are not finite decimal
    numbers: cleared (bad_weight), the link keeps the default weight 1. Line 9 `-0` is 0: rejected
    (non-positive). Line 10 `2.5e0` is 2.5, line 11 ` .5 ` is 0.5."""
    weights = ["nan", "inf", "Infinity", "1e400", "-inf", "0x10", "1_000", "-0", "2.5e0", " .5 "]
    rows = "".join(f"N1,M{i},{w}\n" for i, w in enumerate(weights))
    run(duck, folder(tmp_path, soc_edges__csv="nominal_id_a,nominal_id_b,weight\n" + rows))
    assert quarantine(duck, "soc_edges") == [(line, "weight", "bad_weight", "value_cleared") for line in range(2, 9)] + [
        (9, "weight", "bad_weight", "row_rejected")]
    assert [r[0] for r in duck.fetch_rows("SELECT weight FROM soc_edges")] == [1.0] * 7 + [2.5, 0.5]


# -- encodings ----------------------------------------------------------------------------------------------------------
def test_invalid_utf8_in_an_optional_column_clears_it_and_keeps_the_person_and_links(duck, tmp_path):
    """N2's surname is Latin-1 `Müller` (0xfc): the surname is cleared, N2 and its crime link kept."""
    path = folder(tmp_path, nominals__csv=b"nominal_id,surname\nN1,Smith\nN2,M\xfcller\n",
                  crime_nominals__csv="crime_ref,nominal_id,role\nC1,N2,victim\n")
    run(duck, path)
    assert duck.fetch_rows("SELECT nominal_id, surname FROM nominals") == [("N1", "Smith"), ("N2", None)]
    assert duck.count("crime_nominals") == 1
    assert quarantine(duck, "nominals") == [(3, "surname", "invalid_utf8", "value_cleared")]


def test_invalid_utf8_in_an_extra_column_is_cleared_too(duck, tmp_path):
    run(duck, folder(tmp_path, nominals__csv=b"nominal_id,notes\nN1,ok\nN2,\xff\n"))
    assert duck.fetch_rows("SELECT nominal_id, notes FROM nominals") == [("N1", "ok"), ("N2", None)]
    assert quarantine(duck, "nominals") == [(3, "notes", "invalid_utf8", "value_cleared")]


@pytest.mark.parametrize("encoding,surname", [("latin-1", "Müller"), ("cp1252", "Müller")])
def test_a_whole_latin1_file_reads_with_input_encoding(duck, tmp_path, encoding, surname):
    path = folder(tmp_path, nominals__csv="nominal_id,surname\nN1,Müller\n".encode(encoding))
    run(duck, path, Settings(as_of=dt.date(2021, 3, 15), input_encoding=encoding))
    assert duck.fetch_rows("SELECT surname FROM nominals") == [(surname,)]
    assert quarantine(duck, "nominals") == []


def test_bytes_cp1252_does_not_define_are_invalid_encoding(duck, tmp_path):
    path = folder(tmp_path, nominals__csv=b"nominal_id,surname\nN1,a\x81b\n")
    run(duck, path, Settings(as_of=dt.date(2021, 3, 15), input_encoding="cp1252"))
    assert quarantine(duck, "nominals") == [(2, "surname", "invalid_encoding", "value_cleared")]


# -- broken and unreadable files -------------------------------------------------------------------------------------------
def _broken(tmp_path, kind):
    good = H + b"".join(b"C%d,t,2020-01-05\n" % i for i in range(2000))
    if kind == "truncated_gz":
        return "crimes.csv.gz", gzip.compress(good)[:-200]
    if kind == "not_gzip":
        return "crimes.csv.gz", good
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"crime_ref": ["C1"], "offence_title": ["t"], "offence_date": ["2020-01-05"]}), buf)
    data = buf.getvalue().to_pybytes()
    if kind == "truncated_parquet":
        return "crimes.parquet", data[: len(data) // 2]
    return "crimes.parquet", b"PAR1" + os.urandom(64)


@pytest.mark.parametrize("kind", ["truncated_gz", "not_gzip", "truncated_parquet", "garbage_parquet"])
def test_broken_compressed_or_parquet_file_exits_2_naming_it(duck, tmp_path, kind):
    name, data = _broken(tmp_path, kind)
    path = folder(tmp_path, crimes=None)
    (path / name).write_bytes(data)
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, Settings(), path)
    assert e.value.exit_code == 2 and e.value.file == name


@pytest.mark.parametrize("kind", ["directory", "dangling_link", "no_permission"])
def test_optional_table_present_but_unreadable_stops_the_run(duck, tmp_path, kind, monkeypatch):
    path = folder(tmp_path)
    target = path / "intel_logs.csv"
    if kind == "directory":
        target.mkdir()
    elif kind == "dangling_link":
        target.symlink_to(path / "nowhere.csv")
    else:
        target.write_text("log_id,log_date,grading_system,source_grade,information_grade\n")
        monkeypatch.setattr(ingest.os, "access", lambda p, mode: os.path.basename(p) != "intel_logs.csv")
    with pytest.raises(InputContractError) as e:
        ingest.run(duck, Settings(), path)
    assert e.value.file == "intel_logs.csv" and e.value.exit_code == 2


# -- line numbers kept -------------------------------------------------------------------------------------------------------
def test_upper_case_gz_name_keeps_line_numbers(duck, tmp_path):
    """CRIMES.CSV.GZ with a quoted line break in C1 (lines 2-3): C2 on line 4, the bad C3 on line 5."""
    content = H + b'C1,"a\nb",2020-01-05\nC2,t,2020-02-01\nC3,t,bad\n'
    path = folder(tmp_path, crimes=None)
    (path / "CRIMES.CSV.GZ").write_bytes(gzip.compress(content))
    out = run(duck, path)
    assert crimes(duck) == [("C1", "a\nb", 2), ("C2", "t", 4)]
    assert quarantine(duck) == [(5, "offence_date", "bad_date", "row_rejected")]
    assert out.facts["line_numbers_unknown"] == {}


# -- values ----------------------------------------------------------------------------------------------------------------------
def test_a_2mb_value_is_value_too_long(duck, tmp_path):
    """C1's optional modus_operandi of 2 MB is cleared (value_too_long), C1 kept; C2's required title of
    2 MB rejects C2; C3 is fine. The limit is MAX_VALUE_CHARS (1 MiB) characters."""
    big = b"x" * (2 << 20)
    content = (b"crime_ref,offence_title,offence_date,modus_operandi\nC1,t,2020-01-05," + big + b"\nC2," + big
               + b",2020-01-05,mo\nC3,t,2020-01-05,mo\n")
    run(duck, folder(tmp_path, content))
    assert duck.fetch_rows("SELECT crime_ref, modus_operandi FROM crimes") == [("C1", None), ("C3", "mo")]
    assert quarantine(duck) == [(2, "modus_operandi", "value_too_long", "value_cleared"),
                                (3, "offence_title", "value_too_long", "row_rejected")]


def test_a_value_of_exactly_the_limit_is_kept(duck, tmp_path):
    content = b"crime_ref,offence_title,offence_date,modus_operandi\nC1,t,2020-01-05," + b"x" * MAX_VALUE_CHARS + b"\n"
    run(duck, folder(tmp_path, content))
    assert duck.scalar("SELECT length(modus_operandi) FROM crimes") == MAX_VALUE_CHARS


def test_a_2mb_parquet_value_is_value_too_long(duck, tmp_path):
    pq.write_table(pa.table({"crime_ref": ["C1", "C2"], "offence_title": ["t", "t"], "offence_date": ["2020-01-05"] * 2,
                             "modus_operandi": ["x" * (2 << 20), "mo"]}), tmp_path / "crimes.parquet")
    run(duck, folder(tmp_path, crimes=None))
    assert duck.fetch_rows("SELECT crime_ref, modus_operandi FROM crimes") == [("C1", None), ("C2", "mo")]
    assert quarantine(duck) == [(1, "modus_operandi", "value_too_long", "value_cleared")]
    assert not [t for t in ingest.engine_scratch(duck) if duck.has_table(t)]


BAD_DATES = ["-001-01-01", "0000-01-01", "2021-03-15T25:99", "2021-03-15T24:00", "2021-03-15T10:60", "1799-12-31",
             "2200-01-01", "2021-03-15T10:00+25:00", "20210315", "2021-3-15", "15/03/2021"]
GOOD_DATES = ["1800-01-01", "2199-12-31", "2021-03-15T23:59:60", "2021-03-15 00:00+05:30", "2021-03-15T10:00:00.123Z"]


def test_dates_out_of_the_plausible_range_or_malformed_are_bad(duck, tmp_path):
    """recorded_date is optional: each bad one is cleared (lines 2..12), each good one kept as its date part."""
    rows = "".join(f"C{i},t,2020-01-05,{d}\n" for i, d in enumerate(BAD_DATES + GOOD_DATES))
    run(duck, folder(tmp_path, b"crime_ref,offence_title,offence_date,recorded_date\n" + rows.encode()))
    assert quarantine(duck) == [(i + 2, "recorded_date", "bad_date", "value_cleared") for i in range(len(BAD_DATES))]
    kept = [r[0] for r in duck.fetch_rows("SELECT recorded_date FROM crimes")][len(BAD_DATES):]
    assert kept == [dt.date(1800, 1, 1), dt.date(2199, 12, 31)] + [dt.date(2021, 3, 15)] * 3


def test_white_space_in_roles_codes_and_ids_is_normalised_like_spaces(duck, tmp_path):
    """Tabs, no-break spaces (U+00A0), ideographic space (U+3000) and doubled spaces: trimmed from every
    value's ends; inside a role every run of them (and of _ or -) is one `_`. Ids keep what is inside."""
    path = folder(
        tmp_path,
        H + "\tC1\u00a0,t,\u30002020-01-05\nC 2,t,2020-01-06\n".encode(),
        nominals__csv="nominal_id,sex,ethnicity\n\u00a0N1\t,\tm ,\u00a0ic3\nN2,F,IC1\n",
        crime_nominals__csv="crime_ref,nominal_id,role\nC1,N1,Person\tThought \u00a0Responsible\nC1,N2,\u00a0victim  \n"
        "C 2,N2,person - probably__responsible\n",
    )
    run(duck, path)
    assert duck.fetch_rows("SELECT crime_ref, offence_date FROM crimes") == [("C1", dt.date(2020, 1, 5)), ("C 2", dt.date(2020, 1, 6))]
    assert duck.fetch_rows("SELECT nominal_id, sex, ethnicity FROM nominals") == [("N1", "M", "IC3"), ("N2", "F", "IC1")]
    assert [r[0] for r in duck.fetch_rows("SELECT role FROM crime_nominals")] == [
        "person_thought_responsible", "victim", "person_probably_responsible"]
    assert quarantine(duck, "crime_nominals") == []


@pytest.mark.parametrize("name", ["file_row_number", "__row", "source_line", "c0", "CRIME_REF__err"])
def test_parquet_columns_named_like_ingest_internals_are_carried(duck, tmp_path, name):
    pq.write_table(pa.table({"crime_ref": ["C1", "C2"], "offence_title": ["t", "t"], "offence_date": ["2020-01-05", "x"],
                             name: ["a", "b"]}), tmp_path / "crimes.parquet")
    run(duck, folder(tmp_path, crimes=None))
    assert duck.fetch_rows("SELECT crime_ref, source_line FROM crimes") == [("C1", 1)]
    assert quarantine(duck) == [(2, "offence_date", "bad_date", "row_rejected")]
    assert len(duck.columns("crimes")) == 12  # 10 contract columns, source_line, the extra


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles", "UTC"])
def test_parquet_timestamps_with_a_zone_keep_their_utc_date(tmp_path, zone, monkeypatch):
    """Instants 2020-01-05T23:30Z and 2020-01-06T00:30Z (stored in zone Pacific/Auckland, where they are
    the 6th and 7th) are dated by their UTC calendar day, 5th and 6th, whatever the machine's zone;
    a timestamp without a zone keeps its written date."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        utc = [dt.datetime(2020, 1, 5, 23, 30, tzinfo=dt.UTC), dt.datetime(2020, 1, 6, 0, 30, tzinfo=dt.UTC)]
        pq.write_table(pa.table({
            "crime_ref": ["C1", "C2"], "offence_title": ["t", "t"],
            "offence_date": pa.array(utc, pa.timestamp("us", tz="Pacific/Auckland")),
            "recorded_date": pa.array([dt.datetime(2020, 1, 5, 23, 30)] * 2, pa.timestamp("us")),
        }), tmp_path / "crimes.parquet")
        with DuckDBEngine() as e:
            run(e, folder(tmp_path, crimes=None))
            assert e.fetch_rows("SELECT offence_date, recorded_date FROM crimes") == [
                (dt.date(2020, 1, 5), dt.date(2020, 1, 5)), (dt.date(2020, 1, 6), dt.date(2020, 1, 5))]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# -- dates in the future never drive as_of -------------------------------------------------------------------------------------
def _many_crimes(extra: str) -> bytes:
    """200 crimes dated 2020-01-01 .. 2020-07-18 (one a day), then `extra` rows."""
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(200)]
    return (b"crime_ref,offence_title,offence_date,recorded_date\n"
            + "".join(f"C{i},t,{d},{d}\n" for i, d in enumerate(days)).encode() + extra.encode())


def test_a_future_offence_date_is_quarantined_and_never_sets_as_of(duck, tmp_path):
    """202 offence dates + 201 recorded dates = 403 event dates; the 99th percentile is the one of
    rank ceil(0.99 x 403) = 399: the 401 ordinary dates fill ranks 1-401 (2020-07-01 three times),
    so rank 399 is 2020-07-17; cutoff = that + 366 days = 2021-07-18. X1's offence date 2099-03-15 is after it: X1
    rejected (future_date). X2's recorded date 2098-01-01 is cleared, X2 kept. as_of = 2020-07-18."""
    path = folder(tmp_path, _many_crimes("X1,t,2099-03-15,\nX2,t,2020-07-01,2098-01-01\n"))
    out = run(duck, path, Settings())
    assert out.facts["as_of"] == dt.date(2020, 7, 18) == out.facts["latest_date"]
    assert out.facts["event_date_cutoff"] == dt.date(2021, 7, 18)
    assert out.facts["event_date_cutoff_source"] == "percentile"
    assert out.facts["future_dates_quarantined"] == 2
    assert quarantine(duck) == [(202, "offence_date", "future_date", "row_rejected"),
                                (203, "recorded_date", "future_date", "value_cleared")]
    assert not [t for t in ingest.engine_scratch(duck) if duck.has_table(t)]


def test_extract_date_sets_the_cutoff(duck, tmp_path):
    """With extract_date 2020-07-10 (day 191 of 2020, a leap year, counting from 0) every event date
    after it is set aside: C192..C199 (lines 194-201) are rejected by their offence date; as_of is
    the latest kept date, 2020-07-10."""
    out = run(duck, folder(tmp_path, _many_crimes("")), Settings(extract_date=dt.date(2020, 7, 10)))
    assert out.facts["as_of"] == dt.date(2020, 7, 10)
    assert out.facts["event_date_cutoff_source"] == "extract_date"
    assert quarantine(duck) == [(i + 2, "offence_date", "future_date", "row_rejected") for i in range(192, 200)]


def test_custody_to_date_far_in_the_future_is_cleared_still_in_the_cell(duck, tmp_path):
    """A to_date of 2999-12-31 is out of the plausible range (bad_date); 2099-12-31 is after the cutoff
    (future_date): both cleared, so the stay is open (still there), the rows kept."""
    custody = ("nominal_id,establishment,cell_id,from_date,to_date\nN1,HMP A,1,2020-01-10,2999-12-31\n"
               "N2,HMP A,1,2020-01-10,2099-12-31\n")
    out = run(duck, folder(tmp_path, _many_crimes(""), custody_cells__csv=custody), Settings())
    assert out.facts["as_of"] == dt.date(2020, 7, 18)
    assert quarantine(duck, "custody_cells") == [(2, "to_date", "bad_date", "value_cleared"),
                                                 (3, "to_date", "future_date", "value_cleared")]
    assert duck.fetch_rows("SELECT nominal_id, to_date FROM custody_cells") == [("N1", None), ("N2", None)]


@pytest.mark.slow
def test_generated_force_one_absurd_date_changes_nothing(tmp_path):
    """The review's reproduction: a scale-0.02 force with one offence date 2201-03-15, then one
    custody to_date 2999-12-31, then an offence date 2099-03-15 (in range, after the cutoff): as_of,
    the latest date and the dates of birth cleared are those of the clean force."""
    generate = pytest.importorskip("hiddennet.generate")
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    clean = tmp_path / "clean"
    generate.generate_force(clean, scale=0.02, seed=5)

    def facts(path):
        with DuckDBEngine() as e:
            out = run(e, path, Settings())
            dobs = e.scalar("SELECT count(*) FROM quarantine WHERE reason = 'implausible_dob'")
            return out.facts, dobs

    base, base_dobs = facts(clean)
    for table, col, value in (("crimes", "offence_date", "2201-03-15"), ("custody_cells", "to_date", "2999-12-31"),
                              ("crimes", "offence_date", "2099-03-15")):
        damaged = tmp_path / f"{table}-{value}"
        shutil.copytree(clean, damaged)
        file = damaged / f"{table}.csv"
        with file.open(newline="") as f:
            rows = list(csv.reader(f))
        rows[5][[h.lower() for h in rows[0]].index(col)] = value
        with file.open("w", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        got, dobs = facts(damaged)
        assert got["as_of"] == base["as_of"] and got["latest_date"] == base["latest_date"], value
        assert dobs == base_dobs, value
        assert got["quarantine"][table]["value_cleared" if col == "to_date" else "row_rejected"].get(
            "future_date" if value.startswith("2099") else "bad_date", 0) >= 1


# -- the docs list every reason code -------------------------------------------------------------------------------------------
def test_docs_list_every_reason_code_and_no_other():
    import re
    from pathlib import Path

    from hiddennet.ingest.rules import REASONS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "ingest.md").read_text()
    section = doc.split("## What happens to a bad row", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(REASONS)
    assert len(listed) == len(set(listed))


# -- the plain-text trim (rules.trim_sql with plain=True) ------------------------------------------------------
@pytest.mark.parametrize("content, plain", [
    (b"a,b\n1,2\n", True),
    (b"\xef\xbb\xbfa,b\r\n1,\"2 \"\r\n", True),  # a byte-order mark and CRLF line ends are plain
    (b"a,b\n1,\t2\n", False),  # a tab
    (b"a,b\n1,2\x0c\n", False),  # a form feed
    ("a,b\n1,\u00a02\n".encode(), False),  # any byte beyond ASCII (here a no-break space)
    (b"a,b\n1,2\x7f\n", False),  # DEL is not printable
])
def test_scan_says_which_files_hold_printable_ascii_and_line_ends_only(tmp_path, content, plain):
    from hiddennet.ingest.records import scan_file

    (tmp_path / "x.csv").write_bytes(content)
    assert scan_file(tmp_path / "x.csv").plain_text is plain


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_a_line_end_inside_a_quoted_value_of_a_plain_file_is_trimmed(duck, tmp_path, eol):
    """A plain ASCII file whose quoted values end (or start) with a line end: the fast reader's plain
    trim cannot see those, so the file is typed with the full trim: title `t`, role `victim`, line 2
    for C1 (its record spans lines 2-3) and line 4 for C2."""
    crimes = H.replace(b"\n", eol) + b'C1,"t' + eol + b'",2020-01-05' + eol + b'C2," ' + eol + b'u",2020-01-06' + eol
    links = LINKS.encode().replace(b"\n", eol) + b'C1,N1,"victim' + eol + b'"' + eol
    run(duck, folder(tmp_path, crimes, crime_nominals__csv=links))
    assert crimes_rows(duck) == [("C1", "t", 2), ("C2", "u", 4)]
    assert duck.fetch_rows("SELECT role, source_line FROM crime_nominals") == [("victim", 2)]


def crimes_rows(engine):
    return engine.fetch_rows("SELECT crime_ref, offence_title, source_line FROM crimes ORDER BY crime_ref")


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_byte_scans_do_not_depend_on_where_reads_cut_the_file(tmp_path, monkeypatch, chunk):
    """scan_file and record_lines read in chunks: cut after any byte (inside a BOM, between CR and LF,
    inside quotes) they give what one whole read gives."""
    import numpy as np

    from hiddennet.ingest import lines, records

    content = b'\xef\xbb\xbf"a",b\r\n"x\r\ny",2\r\n\r\n"q""",\t3\r\n"open'
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    want = range(6)
    whole = records.scan_file(path), lines.record_lines(path, want)
    monkeypatch.setattr(records, "_CHUNK", chunk)
    monkeypatch.setattr(lines, "_CHUNK", chunk)
    cut = records.scan_file(path), lines.record_lines(path, want)
    assert cut[0] == whole[0] and whole[0].plain_text is False  # the tab
    assert cut[1].records == whole[1].records == 5 and cut[1].start_pos == whole[1].start_pos
    for name in ("blank", "extra_at", "extra"):
        assert np.array_equal(getattr(cut[1], name), getattr(whole[1], name)), name
    assert cut[1].line_of(np.arange(5)).tolist() == [1, 2, 4, 5, 6]
