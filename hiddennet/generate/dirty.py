"""Dirty mode: rows of every bad-input class appended to the clean files, and the file-level quirks.

The plan (planted_truth/dirty.json) says, per file and reason, how many rows, what ingest should do
with them and where they are, so the ingest tests check every class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet.contract import TABLES
from hiddennet.generate.constants import K_OTHER, R_VICTIM

RJ, VC, OK = "row_rejected", "value_cleared", "accepted"


def _make_dirty(out: Path, fmt: str, rng, world, rows) -> dict:
    """Append rows of every bad-input class (a few of each) and apply the file-level quirks.

    Returns the plan written to planted_truth/dirty.json: per file, per reason, how many rows,
    the action ingest should take (`row_rejected` or `value_cleared`) and, for CSV, the physical
    line numbers (header = line 1; a row whose quoted field spans lines is numbered by its first line).
    """
    plan = _dirty_plan(world)
    cols = {name: list(TABLES[name].column_names) for name in TABLES}
    cols["soc_nominals"] = cols["soc_nominals"] + ["officer_notes"]
    features = {"bom": ["nominals", "soc_edges"], "crlf": ["crime_nominals", "custody_cells"],
                "mixed_case_header": ["crimes", "intel_logs"], "extra_column": {"soc_nominals": "officer_notes"}}
    files: dict[str, dict] = {}
    for table, entries in plan.items():
        path = out / f"{table}.{fmt}"
        if fmt == "csv":
            files[path.name] = _dirty_csv(path, table, entries, cols[table], features)
        else:
            files[path.name] = _dirty_parquet(path, table, entries, features)
    planted: dict[str, int] = {}
    for f in files.values():
        for reason, v in f["reasons"].items():
            planted[reason] = planted.get(reason, 0) + v["count"]
    if fmt != "csv":
        features = {"mixed_case_header": features["mixed_case_header"], "extra_column": features["extra_column"]}
    features["leading_zero_pairs"] = world["leading_zero_pairs"]
    return {"format": fmt, "files": files, "file_features": features, "planted": planted,
            "note": "CSV-only classes (column counts, invalid UTF-8, truncated row, BOM, CRLF) are not planted in "
                    "Parquet. A duplicate_row copies one of the first data rows of the file (the original stays); "
                    "conflicting_duplicate rows come in pairs: one new key written twice with different contents "
                    "(both rows counted). No planted row is referred to by a clean row, so rejecting one never "
                    "makes another row an orphan."}


def _dirty_plan(world) -> dict[str, list]:
    """Per table, the rows to append in order: (reason, action, values, raw bytes, column)."""
    pid, cref = world["pid"], world["cref"]
    crimes = world["crimes_obj"]
    L = crimes.links
    kind = crimes.arr["kind"]
    other = np.flatnonzero(kind == K_OTHER)[:6]  # other-offence crimes: dirty links there leave selection alone
    lk = np.flatnonzero(np.isin(L["crime"], other) & (L["role"] == R_VICTIM))[:4]
    lk_crime = cref(L["crime"][lk]).to_pylist()
    some_people = pid(world["other_offenders"][:8]).to_pylist()
    log0 = world["log_id"](np.arange(3)).to_pylist()
    soc_a = pid(world["soc"]["a"][:3]).to_pylist()
    soc_b = pid(world["soc"]["b"][:3]).to_pylist()
    plan: dict[str, list] = {n: [] for n in TABLES}

    def add(table, reason, action, values=None, raw=None, column=None):
        plan[table].append((reason, action, values, raw, column))

    _plan_crimes(add)
    stripped = _plan_nominals(add, world)
    _plan_crime_nominals(add, lk_crime, some_people, stripped)
    _plan_intel(add, log0, some_people)
    _plan_custody_and_soc(add, some_people, soc_a, soc_b)
    # the last line of one file is cut off mid-field: unterminated quote, no newline
    add("nominals", "truncated_row", RJ, None, raw=b'"Z0000009","1990-0')
    return plan


def _crime_row(ref, title="Other theft", date="2019-05-01", code="49", rec="2019-05-02", da="false", ifc="",
          mo="Items taken from shop without payment"):
    """A crimes row (contract column order) with harmless defaults."""
    return [ref, title, date, code, rec, da, ifc, mo, "shop", "Walsall"]


def _plan_crimes(add) -> None:
    add("crimes", "bad_date", RJ, _crime_row("CRD0000001", date="2021-02-30"), column="offence_date")
    add("crimes", "bad_date", RJ, _crime_row("CRD0000002", date="15/03/2021"), column="offence_date")
    add("crimes", "bad_date", VC, _crime_row("CRD0000003", rec="2020-13-01"), column="recorded_date")
    add("crimes", "bad_date", VC, _crime_row("CRD0000004", rec="31/12/2019"), column="recorded_date")
    add("crimes", "missing_required", RJ, _crime_row("CRD0000005", title=""), column="offence_title")
    add("crimes", "missing_required", RJ, _crime_row(""), column="crime_ref")
    add("crimes", "bad_flag", VC, _crime_row("CRD0000006", da="maybe"), column="domestic_abuse")
    add("crimes", "bad_flag", VC, _crime_row("CRD0000007", da="maybe"), column="domestic_abuse")
    add("crimes", "too_few_columns", RJ, _crime_row("CRD0000008")[:6])
    add("crimes", "too_many_columns", RJ, _crime_row("CRD0000009") + ["surplus", "values"])
    add("crimes", "duplicate_row", RJ, "DUP:1")
    add("crimes", "duplicate_row", RJ, "DUP:2")
    # conflicting duplicates: a new key written twice with different contents (ingest may reject both rows;
    # a new key keeps that from cascading into link rows that point at it)
    add("crimes", "conflicting_duplicate", RJ, _crime_row("CRC0000001", title="Shoplifting", code="46"))
    add("crimes", "conflicting_duplicate", RJ,
        _crime_row("CRC0000001", title="Criminal damage to a vehicle", code="58C"))
    add("crimes", "multiline_field", OK,
        _crime_row("CRD0000010", mo="Victim approached in street.\nSuspect left on foot"))
    add("crimes", "invalid_utf8", RJ, None, raw=b'"CRD0000011","Other theft","2019-05-01","49","2019-05-02","false",,'
        b'"Bag taken \xff\xfe from victim","shop","Walsall"', column="modus_operandi")


def _plan_nominals(add, world) -> list[str]:
    """Bad nominals rows; returns the leading-zero ids stripped of their zeros (a different person each)."""
    pid = world["pid"]
    nom = lambda i, dob="1990-04-01", sex="M": [i, dob, sex, "IC1", "Adam", "Smith", ""]  # noqa: E731
    add("nominals", "implausible_dob", VC, nom("Z0000001", dob="2021-06-01"), column="date_of_birth")
    add("nominals", "implausible_dob", VC, nom("Z0000002", dob="1899-03-02"), column="date_of_birth")
    add("nominals", "bad_date", VC, nom("Z0000003", dob="1990-02-30"), column="date_of_birth")
    add("nominals", "bad_date", VC, nom("Z0000004", dob="03/04/1990"), column="date_of_birth")
    add("nominals", "missing_required", RJ, nom(""), column="nominal_id")
    add("nominals", "too_many_columns", RJ, nom("Z0000005") + ["extra"])
    add("nominals", "duplicate_row", RJ, "DUP:1")
    add("nominals", "conflicting_duplicate", RJ, nom("Z0000006", dob="1961-06-15", sex="F"))
    add("nominals", "conflicting_duplicate", RJ, nom("Z0000006", dob="1962-07-16", sex="M"))
    # ids with leading zeros: the same digits without them are a different person
    zero_led = [x for x in pid(np.arange(min(world["n_people"], 5000))).to_pylist() if x.startswith("0")][:2]
    stripped = [x.lstrip("0") or "0" for x in zero_led]
    world["leading_zero_pairs"] = list(zip(zero_led, stripped, strict=True))
    for x in stripped:
        add("nominals", "leading_zero_id", OK, nom(x, dob="1985-01-01"))
    return stripped


def _plan_crime_nominals(add, lk_crime, some_people, stripped) -> None:
    cnr = lambda c, n, role="witness", sex="M", dob="1980-01-01": [c, n, role, sex, dob, "IC1"]  # noqa: E731
    add("crime_nominals", "unknown_role", RJ, cnr(lk_crime[0], some_people[2], role="bystander"), column="role")
    add("crime_nominals", "unknown_role", RJ, cnr(lk_crime[1], some_people[3], role="Bystander"), column="role")
    add("crime_nominals", "orphan_crime", RJ, cnr("CRZ0000001", some_people[4]), column="crime_ref")
    add("crime_nominals", "orphan_crime", RJ, cnr("CRZ0000002", some_people[5]), column="crime_ref")
    add("crime_nominals", "orphan_nominal", RJ, cnr(lk_crime[0], "Z9999991"), column="nominal_id")
    add("crime_nominals", "orphan_nominal", RJ, cnr(lk_crime[1], "Z9999992"), column="nominal_id")
    add("crime_nominals", "missing_required", RJ, cnr(lk_crime[2], some_people[6], role=""), column="role")
    add("crime_nominals", "too_few_columns", RJ, cnr(lk_crime[2], some_people[7])[:2])
    add("crime_nominals", "duplicate_row", RJ, "DUP:1")
    add("crime_nominals", "duplicate_row", RJ, "DUP:2")
    add("crime_nominals", "conflicting_duplicate", RJ, cnr(lk_crime[2], some_people[4], sex="M", dob="1961-06-15"))
    add("crime_nominals", "conflicting_duplicate", RJ, cnr(lk_crime[2], some_people[4], sex="F", dob="1962-07-16"))
    add("crime_nominals", "bad_date", VC, cnr(lk_crime[3], some_people[2], dob="15/03/2005"), column="date_of_birth")
    add("crime_nominals", "implausible_dob", VC, cnr(lk_crime[3], some_people[3], dob="1890-01-01"),
        column="date_of_birth")
    for x in stripped:  # the leading-zero twins appear on a crime as witnesses
        add("crime_nominals", "leading_zero_id", OK, cnr(lk_crime[3], x))


def _plan_intel(add, log0, some_people) -> None:
    lg = lambda i, d="2018-04-01", g="3x5x2", s_="1", inf="A", h="P": [i, d, g, s_, inf, h]  # noqa: E731
    add("intel_logs", "bad_grade", RJ, lg("LZ00000001", s_="7"), column="source_grade")
    add("intel_logs", "bad_grade", RJ, lg("LZ00000002", d="2015-04-01", g="5x5x5", s_="B", inf="Z", h="1"),
        column="information_grade")
    add("intel_logs", "bad_grade", RJ, lg("LZ00000003", g="4x4x4"), column="grading_system")
    add("intel_logs", "bad_date", RJ, lg("LZ00000004", d="2019-02-29"), column="log_date")
    add("intel_logs", "missing_required", RJ, lg("LZ00000005", inf=""), column="information_grade")
    add("intel_logs", "duplicate_row", RJ, "DUP:1")
    add("intel_logs", "conflicting_duplicate", RJ, lg("LZ00000006", d="2012-01-01", g="5x5x5", s_="E", inf="5", h="1"))
    add("intel_logs", "conflicting_duplicate", RJ, lg("LZ00000006", d="2018-01-01"))
    # intel_nominals
    add("intel_nominals", "orphan_log", RJ, ["LZ99999991", some_people[0]], column="log_id")
    add("intel_nominals", "orphan_log", RJ, ["LZ99999992", some_people[1]], column="log_id")
    add("intel_nominals", "missing_required", RJ, [log0[0], ""], column="nominal_id")
    add("intel_nominals", "duplicate_row", RJ, "DUP:1")
    add("intel_nominals", "duplicate_row", RJ, "DUP:2")


def _plan_custody_and_soc(add, some_people, soc_a, soc_b) -> None:
    cc = lambda n, f="2018-06-01", t="2018-07-01", cell="Z-001": [n, "HMP Birmingham", cell, f, t]  # noqa: E731
    add("custody_cells", "bad_interval", RJ, cc(some_people[0], f="2018-06-01", t="2018-05-01"), column="to_date")
    add("custody_cells", "bad_interval", RJ, cc(some_people[1], f="2019-06-01", t="2019-01-01"), column="to_date")
    add("custody_cells", "bad_date", RJ, cc(some_people[2], f="2018-06-31"), column="from_date")
    add("custody_cells", "bad_date", VC, cc(some_people[3], t="01/02/2019"), column="to_date")
    add("custody_cells", "missing_required", RJ, cc(some_people[4], cell=""), column="cell_id")
    add("custody_cells", "duplicate_row", RJ, "DUP:1")
    # soc
    add("soc_nominals", "duplicate_row", RJ, "DUP:1")
    add("soc_nominals", "missing_required", RJ, ["", "OCG0001", ""], column="nominal_id")
    add("soc_edges", "self_link", RJ, [soc_a[0], soc_a[0], "1", "crime"])
    add("soc_edges", "self_link", RJ, [soc_b[0], soc_b[0], "2", "intel"])
    add("soc_edges", "bad_weight", RJ, [soc_a[1], soc_b[2], "0", "crime"], column="weight")
    add("soc_edges", "bad_weight", RJ, [soc_a[2], soc_b[1], "-1", "crime"], column="weight")
    add("soc_edges", "bad_weight", VC, [soc_a[1], soc_b[1], "abc", "intel"], column="weight")


def _csv_line(values) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode("utf-8")


def _dirty_csv(path: Path, table: str, entries, columns, features) -> dict:
    data = path.read_bytes()
    header_end = data.index(b"\n") + 1
    body_lines = data[header_end:].split(b"\n", 3)[:3]  # the first data rows, for exact duplicates
    header = data[:header_end]
    if table in features["mixed_case_header"]:
        names = header.decode().strip().split(",")
        header = (",".join(n.upper() if i % 2 else n.title() for i, n in enumerate(names)) + "\n").encode()
    line = data.count(b"\n") + 1  # physical line number of the next appended line
    out = bytearray()
    reasons: dict[str, dict] = {}
    truncated = None
    for reason, action, values, raw, column in entries:
        if reason == "truncated_row":
            truncated = (reason, action, raw, column)
            continue
        if isinstance(values, str) and values.startswith("DUP:"):
            text = body_lines[int(values[4:]) - 1] + b"\n"
        elif raw is not None:
            text = raw + b"\n"
        else:
            text = _csv_line(values)
        r = reasons.setdefault(reason, {"count": 0, "lines": [], "actions": {}, "columns": []})
        r["count"] += 1
        r["lines"].append(line)
        r["actions"][action] = r["actions"].get(action, 0) + 1
        if column and column not in r["columns"]:
            r["columns"].append(column)
        out += text
        line += text.count(b"\n")
    if truncated:
        reason, action, raw, column = truncated
        reasons[reason] = {"count": 1, "lines": [line], "actions": {action: 1}, "columns": []}
        out += raw
    new = header + data[header_end:] + bytes(out)
    if table in features["crlf"]:
        new = new.replace(b"\n", b"\r\n")  # no clean field holds a newline, so every \n ends a line
    if table in features["bom"]:
        new = b"\xef\xbb\xbf" + new
    path.write_bytes(new)
    return {"rows_appended": sum(v["count"] for v in reasons.values()), "reasons": reasons}


def _dirty_parquet(path: Path, table: str, entries, features) -> dict:
    t = pq.read_table(path)
    names = t.column_names
    add_rows = []
    reasons: dict[str, dict] = {}
    for reason, action, values, raw, column in entries:
        if raw is not None or reason in ("too_few_columns", "too_many_columns", "truncated_row", "multiline_field"):
            continue
        if isinstance(values, str) and values.startswith("DUP:"):
            row = [t.column(c)[int(values[4:]) - 1].as_py() for c in names]
        else:
            row = list(values) + [None] * (len(names) - len(values))
        add_rows.append([v if v != "" else None for v in row])
        r = reasons.setdefault(reason, {"count": 0, "rows": [], "actions": {}, "columns": []})
        r["count"] += 1
        r["rows"].append(t.num_rows + len(add_rows))  # row number + 1, as ingest numbers Parquet rows
        r["actions"][action] = r["actions"].get(action, 0) + 1
        if column and column not in r["columns"]:
            r["columns"].append(column)
    extra = pa.table({c: pa.array([r[i] for r in add_rows], pa.string()) for i, c in enumerate(names)})
    t = pa.concat_tables([t, extra])
    if table in features["mixed_case_header"]:
        t = t.rename_columns([n.upper() if i % 2 else n.title() for i, n in enumerate(names)])
    pq.write_table(t, path, compression="zstd")
    return {"rows_appended": len(add_rows), "reasons": reasons}


# ---------------------------------------------------------------------------------------------- calibration
