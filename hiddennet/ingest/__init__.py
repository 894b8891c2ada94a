"""Ingest: read a force's extracts into typed tables; every row that breaks the contract accounted for.

    input folder (<table>.csv, .csv.gz or .parquet)
      -> crimes, nominals, crime_nominals, intel_logs, intel_nominals, custody_cells,
         soc_nominals, soc_edges, quarantine, demographic_conflicts

Per table, in order: parse (the engine reads every column as text; unparseable records come back
as positions), type and check each value (a bad required value rejects the row, a bad optional one
is cleared), collapse exact duplicates and reject conflicting ones, reject orphans. Then `as_of`
(settings, else the latest accepted event date), implausible dates of birth cleared, and the person
record's demographics resolved against the crime records. docs/ingest.md states every rule and
reason code. Quarantine holds positions and reason codes only, never a value from a row.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

# Every input table ingest reads: the extract's tables and the safeguarding inputs the force maintains.
from hiddennet import resolve
from hiddennet.contract import FILE_SUFFIXES, INPUT_TABLES as TABLES, TableContract
from hiddennet.engine.base import Engine
from hiddennet.engine.threads import cores, side_by_side
from hiddennet.errors import InputContractError
from hiddennet.ingest.lines import LineSteps, RecordLines, record_lines
from hiddennet.ingest.records import (
    MAX_VALUE_CHARS,
    FileScan,
    decode_records,
    read_header,
    read_records,
    scan_file,
)
from hiddennet.ingest.rules import (
    REASON_OF_KIND,
    REASONS,
    SQL_TYPE,
    WHITESPACE,
    known_unknown,
    lit,
    trim_sql,
    typed,
)
from hiddennet.settings import Settings
from hiddennet.sql import date_lit, q  # q: column names come from the file's header
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

__all__ = ["OUTPUT_TABLES", "REASONS", "run"]

OUTPUT_TABLES = (*TABLES, "quarantine", "demographic_conflicts")
T = TypeVar("T")
# Tables whose accepted rows others are checked against come first.
_ORDER = ("crimes", "nominals", "intel_logs", "crime_nominals", "intel_nominals", "custody_cells", "soc_nominals",
          "soc_edges", "sharing_basis", "referral_outcomes", "nominal_crosswalk", "review_decisions",
          "missing_episodes")
# (table, column) -> (parent table, parent column, reason) for rows pointing at nothing.
_PARENTS = {
    ("crime_nominals", "crime_ref"): ("crimes", "crime_ref", "orphan_crime"),
    ("crime_nominals", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
    ("intel_nominals", "log_id"): ("intel_logs", "log_id", "orphan_log"),
    ("sharing_basis", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
    ("referral_outcomes", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
    ("nominal_crosswalk", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
    ("review_decisions", "nominal_id_a"): ("nominals", "nominal_id", "orphan_nominal"),
    ("review_decisions", "nominal_id_b"): ("nominals", "nominal_id", "orphan_nominal"),
    ("missing_episodes", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
}
# Written on every run, published only when the extract has the file (docs/all-age.md).
_PUBLISHED_WHEN_SUPPLIED = ("missing_episodes",)
# Event dates that may set as_of (never dates of birth).
_EVENT_DATES = (
    ("crimes", "offence_date"),
    ("crimes", "recorded_date"),
    ("intel_logs", "log_date"),
    ("custody_cells", "from_date"),
    ("custody_cells", "to_date"),
)
_DEMOGRAPHICS = ("date_of_birth", "sex", "ethnicity")
_RESERVED = {"source_line", "date_of_birth_source", "sex_source", "ethnicity_source"}
# Parse errors of the engine's CSV reader -> reason codes (the others send the file to read_records).
_PARSE_REASON = {"too_few_columns": "too_few_columns", "too_many_columns": "too_many_columns",
                 "unterminated_quote": "truncated_row"}


@dataclass
class _Source:
    """One table as read: where from, which raw column holds each named column, what did not parse."""

    contract: TableContract
    file: str | None = None
    raw: str | None = None  # engine table of VARCHAR columns + __row
    lines: str | None = None  # engine table (__row, source_line)
    present: dict[str, str] = field(default_factory=dict)  # contract column -> raw column
    extras: dict[str, str] = field(default_factory=dict)  # output name -> raw column
    parse_rejects: int = 0
    raw_rows: int = 0  # rows the reader parsed (accepted by the reader, before any check)
    line_sql: str = "r.__row + 2"  # SQL giving a raw row's physical line (alias r; lines table l)
    cleared: list[str] = field(default_factory=list)  # optional columns whose bad values are cleared
    inexact_lines: int = 0
    # column -> raw column of reasons its value was cleared on reading
    pre: dict[str, str] = field(default_factory=dict)
    long_values: bool = False  # values may be longer than MAX_VALUE_CHARS (no reader bounded them)
    typed_on_read: bool = False  # the fast reader built the status table itself (no text copy)
    plain: bool = False  # no white space but the space can be in a value (rules.trim_sql)
    # __row of every valid row rejected as a duplicate or orphan, when there are few (_FEW_REJECTS);
    # None: many, or not checked yet (accepted rows are then found by a join, see _ok).
    rejected: list[int] | None = None


def run(engine: Engine, settings: Settings, input_dir: Path) -> StageOutput:
    files = _required_files(Path(input_dir))
    threads = settings.duckdb_threads or cores()

    def read(e: Engine, name: str) -> _Source:
        # Resolve's inputs are read only when it is on (docs/resolve.md); otherwise they are ignored.
        path = files.get(name) if settings.resolve or name not in resolve.INPUTS else None
        src = _read(e, TABLES[name], path, settings.input_encoding)
        _check_values(e, src)
        if src.raw and not src.typed_on_read:
            e.drop(src.raw)  # the typed status table holds everything from here on (lines: to publish)
        return src

    # Each table is read and typed on its own, so two are read at once (largest file first): the
    # engine's CSV reader numbers rows in one thread, and a second table keeps the other core busy.
    by_size = sorted(_ORDER, key=lambda n: -(files[n].stat().st_size if n in files else 0))
    read_sources = dict(zip(by_size, _each(engine, by_size, read, threads), strict=True))
    sources = {name: read_sources[name] for name in _ORDER}
    cutoff = _future_dates(engine, sources, settings)
    # Parents first (orphans are checked against accepted rows); tables of one generation side by side.
    for generation in _generations():
        _each(engine, generation, lambda e, name: _check_rows(e, sources[name], sources), threads)

    latest = _latest_date(engine, sources)
    as_of = settings.as_of or latest
    if as_of is None:
        raise InputContractError(
            "no valid offence, recorded, log or custody date to take as_of from; set as_of",
            file=sources["crimes"].file,
        )
    bad_dob = _implausible_dob_sql(as_of, settings.max_age_years)

    # Both read the status tables, which publishing may turn into the published tables in place.
    _resolve_demographics(engine, sources, bad_dob)  # the person table takes the crime records' ones
    _create_quarantine(engine, sources, bad_dob)
    _each(engine, by_size, lambda e, name: _publish(e, sources[name], bad_dob), threads)

    facts = _facts(engine, sources, as_of, latest, settings)
    facts["event_date_cutoff"], facts["event_date_cutoff_source"] = cutoff
    facts["future_dates_quarantined"] = sum(n for c in facts["quarantine"].values() for a in c.values()
                                            for r, n in a.items() if r == "future_date")
    for leftover in engine_scratch(engine, [n for n, src in sources.items() if src.raw]):
        engine.drop(leftover)
    tables = tuple(t for t in OUTPUT_TABLES if t not in _PUBLISHED_WHEN_SUPPLIED or t in files)
    if not settings.resolve:
        # Resolve off: its inputs are not read (ignored, never published) and its tables are empty.
        resolve.write_empty(engine)
        return StageOutput(tables=tuple(t for t in tables if t not in resolve.INPUTS), facts=facts)
    t0 = time.perf_counter()
    facts["resolve"] = resolve.run(engine, settings, as_of)
    facts["resolve"]["seconds"] = round(time.perf_counter() - t0, 3)
    return StageOutput(tables=(*tables, *resolve.OUTPUTS), facts=facts)


def _required_files(input_dir: Path) -> dict[str, Path]:
    files = _find_files(input_dir)
    for t in TABLES.values():
        if t.required and t.name not in files:
            raise InputContractError("required file missing (.csv, .csv.gz or .parquet)", file=f"{t.name}.csv")
        for other in t.requires:
            if t.name in files and other not in files:
                raise InputContractError(f"required with {files[t.name].name}", file=f"{other}.csv")
    return files


def _each(engine: Engine, names: list[str], fn: Callable[[Engine, str], T], threads: int) -> list[T]:
    """fn(engine, name) for each table, side by side on the engine's siblings where it has them (the
    tables' statements touch only that table's scratch), else one after another; results in order."""
    done = side_by_side(engine, names, fn, threads) if threads > 1 else None
    return done if done is not None else [fn(engine, n) for n in names]


def _generations() -> list[list[str]]:
    """_ORDER cut into generations: every parent (_PARENTS) in an earlier one than its children."""
    level: dict[str, int] = {}
    for name in _ORDER:  # parents come first in _ORDER
        level[name] = 1 + max((level[p] for (t, _), (p, _, _) in _PARENTS.items() if t == name), default=-1)
    return [[n for n in _ORDER if level[n] == g] for g in range(max(level.values()) + 1)]


# -- finding and reading files -------------------------------------------------------------------------
def _find_files(input_dir: Path) -> dict[str, Path]:
    """<table><suffix> in any case, one per table; every match must be a readable file.

    Names are compared in lower case, so `crimes.csv` and `CRIMES.csv` (or `crimes.csv` and
    `crimes.csv.gz`) are two files for one table: the run stops naming both.
    """
    if not input_dir.is_dir():
        raise InputContractError("input folder not found", file=str(input_dir))
    wanted = {f"{name}{s}": name for name in TABLES for s in FILE_SUFFIXES}
    hits: dict[str, list[Path]] = {}
    for p in sorted(input_dir.iterdir()):
        name = wanted.get(p.name.lower())
        if name:
            hits.setdefault(name, []).append(p)
    found: dict[str, Path] = {}
    for name, paths in hits.items():
        if len(paths) > 1:
            raise InputContractError("more than one file for one table", file=", ".join(p.name for p in paths))
        path = paths[0]
        if not path.is_file():  # a folder, a dangling link, a device: present but not a file
            why = "a link to nothing" if path.is_symlink() and not path.exists() else "not a regular file"
            raise InputContractError(f"cannot be read: {why}", file=path.name)
        if not os.access(path, os.R_OK):
            raise InputContractError("cannot be read: no read permission", file=path.name)
        found[name] = path
    return found


def _name_columns(contract: TableContract, header: list[str], file: str) -> tuple[dict[str, int], dict[str, int]]:
    """Header cells -> (contract column -> position, extra column output name -> position)."""
    present: dict[str, int] = {}
    extras: dict[str, int] = {}
    known = set(contract.column_names)
    for i, cell in enumerate(header):
        name = cell.strip(WHITESPACE).lower() or f"column_{i + 1}"
        if name in known:
            if name in present:
                raise InputContractError("column appears more than once in the header", file=file, column=name)
            present[name] = i
            continue
        if name in _RESERVED or name.endswith("__err") or name.startswith("__"):  # "__": ingest's own names
            name = f"extra_{name}"
        base, n = name, 2
        while name in extras or name in known:
            name, n = f"{base}_{n}", n + 1
        extras[name] = i
    for col in contract.required_columns:
        if col not in present:
            raise InputContractError("required column missing", file=file, column=col)
    return present, extras


def _read(engine: Engine, contract: TableContract, path: Path | None, encoding: str = "utf-8") -> _Source:
    src = _Source(contract)
    if path is None:
        return src
    src.file = path.name
    src.raw, src.lines = f"__ing_raw_{contract.name}", f"__ing_lines_{contract.name}"
    if path.name.lower().endswith(".parquet"):
        _read_parquet(engine, src, path)
    else:
        _read_csv(engine, src, path, encoding)
    return src


def _read_parquet(engine: Engine, src: _Source, path: Path) -> None:
    assert src.raw is not None  # named by _read before any reader runs
    names = engine.scan_parquet(src.raw, path)  # columns c0..c{n-1}, whatever the file calls them
    present, extras = _name_columns(src.contract, names, path.name)
    src.present = {c: f"c{i}" for c, i in present.items()}
    src.extras = {c: f"c{i}" for c, i in extras.items()}
    # Parquet has no lines: rows are numbered from 1 (docs/tables.md: row number + 1).
    src.line_sql, src.lines, src.raw_rows = "r.__row + 1", None, engine.count(src.raw)
    src.long_values = True  # no reader has bounded a Parquet value's length
    _register_parse(engine, src, [], [], [])


def _read_csv(engine: Engine, src: _Source, path: Path, encoding: str) -> None:
    assert src.raw is not None and src.lines is not None  # named by _read before any reader runs
    header = read_header(path, encoding)
    present, extras = _name_columns(src.contract, header, path.name)
    raw_names = [f"c{i}" for i in range(len(header))]
    src.present = {c: raw_names[i] for c, i in present.items()}
    src.extras = {c: raw_names[i] for c, i in extras.items()}
    scan = scan_file(path)
    if encoding == "utf-8" and scan.regular and _read_csv_fast(engine, src, path, raw_names, scan):
        return
    # The records rule of ingest/records.py, value by value: irregular quotes or line ends, another
    # encoding, or bytes the fast reader rejects by the row (invalid UTF-8 in an optional column
    # must clear that value only, an over-long line must say value_too_long).
    src.plain = False  # the records rule's values: any white space (the fast reader's scan is not used)
    required = {present[c] for c in src.contract.required_columns}
    recs = read_records(path, len(header), required, encoding, scan.ends_with_newline)
    engine.register_arrow(src.raw, recs.table)
    src.raw_rows = recs.table.num_rows
    src.line_sql = _line_sql(engine, src.lines, LineSteps.of_values(recs.start_line))
    pos_to_name = {int(v[1:]): k for k, v in {**src.present, **src.extras}.items()}
    src.pre = {pos_to_name[p]: col for p, col in recs.pre.items()}
    _register_parse(engine, src, [r[0] for r in recs.rejects], [r[1] for r in recs.rejects],
                    [pos_to_name.get(r[2]) if r[2] is not None else None for r in recs.rejects])


def _read_csv_fast(engine: Engine, src: _Source, path: Path, raw_names: list[str], scan: FileScan) -> bool:
    """The engine's CSV reader, when it can be trusted with every record; False: read another way."""
    assert src.raw is not None and src.lines is not None  # named by _read before any reader runs
    status = f"__ing_status_{src.contract.name}"
    src.plain = scan.plain_text
    try:
        # Read and typed in one pass: the status table straight from the reader's rows.
        rejects = engine.scan_csv(status, path, raw_names, _status_sql(src, "__csv"))
    except InputContractError:
        return False  # the fast reader gave up on the file; the records rule decides what is wrong
    errors = rejects.column("error").to_pylist()
    accepted = engine.count(status)
    records = 1 + accepted + len(rejects)
    last = rejects.column("record").to_pylist()[-1] if errors else None
    # A quote error is the fast reader's only for a quote left open on the file's last record
    # (truncated_row); any other (a misplaced quote) is read by the records rule.
    quote_elsewhere = any(e == "unterminated_quote" for e in errors[:-1]) or bool(
        errors and errors[-1] == "unterminated_quote" and (last != records or not scan.open_tail))
    if "unreadable" in errors or quote_elsewhere:
        engine.drop(status)
        return False
    rec = np.array(rejects.column("record").to_pylist(), dtype=np.int64) - 1  # 0-based record indices
    # Records with invalid bytes are read again value by value (their byte offsets are needed).
    redo = [int(r) for r, e in zip(rec, errors, strict=True) if e == "invalid_utf8"]
    lines = _record_lines_of(engine, src, path, scan, raw_names, records, {*redo, *(r + 1 for r in redo)})
    n = lines.records
    excluded = np.unique(np.concatenate([[0], lines.blank, rec]))  # the header, blank and rejected records
    if np.any((rec < 0) | (rec >= n)) or n - np.count_nonzero(excluded < n) != accepted:
        engine.drop(status)  # the reader and the line scan disagree on where records start
        return False
    columns: list[str | None]
    reasons, rej_lines, columns = [], [], []
    for r, err in zip(rec.tolist(), errors, strict=True):
        if err == "invalid_utf8":
            continue
        reason = _PARSE_REASON.get(err, "truncated_row")
        if reason == "too_few_columns" and r == n - 1 and not lines.ends_with_newline:
            reason = "truncated_row"  # the file stops in the middle of its last row
        reasons.append(reason)
        rej_lines.append(int(lines.line_of(r)))
        columns.append(None)
    steps = LineSteps.of_kept(lines, excluded, line=True)  # each __row's line
    src.raw_rows = steps.rows
    if redo:
        got = _recover_records(engine, src, path, lines, excluded, redo, (rej_lines, reasons, columns))
        if got is None:  # a re-read record breaks the records rule: the whole file is read by it
            engine.drop(status)
            src.pre.clear()
            return False
        src.raw_rows, steps = got
    src.line_sql = _line_sql(engine, src.lines, steps)
    _register_parse(engine, src, rej_lines, reasons, columns)
    src.typed_on_read = True
    return True


def _record_lines_of(engine: Engine, src: _Source, path: Path, scan: FileScan, raw_names: list[str],
                     records: int, want: set[int]) -> RecordLines:
    """Where each record of a file the fast reader read starts (see _read_csv_fast); `want`: records
    whose byte offset is needed (those re-read, and the record after each)."""
    physical = scan.newlines + (not scan.ends_with_newline)
    if physical == records and not want:
        # One line per record (no blank line, no line break inside a field): record number = line.
        return RecordLines(records, scan.ends_with_newline)
    lines = record_lines(path, want)
    if src.plain and lines.records != physical:
        # A line end inside a quoted value (it may be at the value's end): typed again, full trim.
        src.plain = False
        engine.scan_csv(f"__ing_status_{src.contract.name}", path, raw_names, _status_sql(src, "__csv"))
    return lines


def _recover_records(engine: Engine, src: _Source, path: Path, lines: RecordLines, excluded: np.ndarray,
                     redo: list[int], rejected: tuple[list, list, list]) -> tuple[int, LineSteps] | None:
    """Records the fast reader rejected for invalid bytes, read again value by value: a bad required
    value rejects the record (invalid_utf8, column named); bad optional ones are cleared and the row
    joins the status table, numbered by its record. Returns (raw rows, the line of each __row value),
    or None when a record does not read as one by the records rule."""
    assert src.raw is not None  # only a file that was read has records to re-read
    pos = lines.start_pos
    spans = [(pos[r], pos.get(r + 1, -1) if r + 1 < lines.records else -1) for r in redo]
    required = {int(src.present[c][1:]) for c in src.contract.required_columns}
    names = {int(raw[1:]): name for name, raw in {**src.present, **src.extras}.items()}
    ncols = len(_raw_names(src))
    kept: list[list[str | None]]
    cleared: dict[int, dict[int, str]]
    kept, kept_rec, cleared = [], [], {}
    decoded = decode_records(path, spans, required)
    if decoded is None:
        return None
    for r, (values, why, reason, col) in zip(redo, decoded, strict=True):
        if values is None or len(values) != ncols:
            rejected[0].append(int(lines.line_of(r)))
            rejected[1].append(reason or "invalid_utf8")
            rejected[2].append(names.get(col))
            continue
        for i, code in why.items():
            cleared.setdefault(i, {})[len(kept)] = code
        kept.append(values)
        kept_rec.append(r)
    dense = LineSteps.of_kept(lines, excluded, line=False)  # the record of each fast reader's __row
    if not kept:
        return dense.rows, LineSteps.of_kept(lines, excluded, line=True)
    data = {f"c{i}": pa.array([v[i] for v in kept], pa.string()) for i in range(ncols)}
    for i, by_row in cleared.items():
        data[f"c{i}__pre"] = pa.array([by_row.get(k) for k in range(len(kept))], pa.string())
        src.pre[names[i]] = f"c{i}__pre"
    data["__row"] = pa.array(kept_rec, pa.int64())
    engine.register_arrow(f"__ing_recov_{src.contract.name}", pa.table(data))
    _join_recovered(engine, src, dense)
    return dense.rows + len(kept), LineSteps.of_records(lines)


def _join_recovered(engine: Engine, src: _Source, dense: LineSteps) -> None:
    t = src.contract.name
    status = f"__ing_status_{t}"
    # The re-read rows typed by the same rule (with their cleared-on-reading reasons), then joined to
    # the fast reader's rows; __row becomes the record number for all (file order, no longer dense).
    engine.create_table(f"__ing_recst_{t}", _status_sql(src, f"__ing_recov_{t}"))
    fast = set(engine.columns(status))
    cols = engine.columns(f"__ing_recst_{t}")
    if len(dense.starts) <= _MAX_STEPS:
        record, join = dense.sql("s.__row"), ""
    else:
        engine.register_arrow(f"__ing_recidx_{t}", dense.table(("__row", "__rec")))
        record, join = "x.__rec", f" JOIN __ing_recidx_{t} x ON x.__row = s.__row"
    old = ", ".join(f"{record} AS __row" if c == "__row" else f"s.{q(c)}" if c in fast
                    else f"CAST(NULL AS VARCHAR) AS {q(c)}" for c in cols)
    # Sorted once by record: the status table stays in file order (published by a filter, not a sort).
    engine.create_table(
        f"{status}_x",
        f"SELECT {old} FROM {status} s{join} UNION ALL SELECT {', '.join(q(c) for c in cols)} FROM __ing_recst_{t} "
        "ORDER BY __row",
    )
    engine.drop(status)
    engine.take_rows(status, f"{status}_x", [(c, c, None) for c in cols], "true")
    for scratch in (f"__ing_recov_{t}", f"__ing_recidx_{t}", f"__ing_recst_{t}"):
        engine.drop(scratch)


def _raw_names(src: _Source) -> list[str]:
    """The raw columns c0..c{n-1} of a CSV source (one per header cell)."""
    return sorted({*src.present.values(), *src.extras.values()}, key=lambda c: int(c[1:]))


def _register_parse(engine: Engine, src: _Source, lines: list, reasons: list, columns: list) -> None:
    """__ing_parse_<t>: the records rejected while reading (line, reason, column)."""
    src.parse_rejects = len(reasons)
    engine.register_arrow(
        f"__ing_parse_{src.contract.name}",
        pa.table({"line": pa.array(lines, pa.int64()), "reason": pa.array(reasons, pa.string()),
                  "column": pa.array(columns, pa.string())}),
    )


_MAX_STEPS = 32


def _line_sql(engine: Engine, lines_table: str, steps: LineSteps) -> str:
    """SQL for the physical line of raw row `r.__row` (see LineSteps): with few changes of offset a
    CASE says it without a join, else a lines table does (written a chunk at a time)."""
    if steps.rows == 0:
        return "CAST(NULL AS BIGINT)"
    if len(steps.starts) <= _MAX_STEPS:
        return steps.sql("r.__row")
    engine.register_arrow(lines_table, steps.table(("__row", "source_line")))
    return "l.source_line"


def _line_of(src: _Source, alias: str) -> tuple[str, str]:
    """(SQL of the physical line of row `alias.__row`, the join it needs): computed where a line is
    shown (published tables, quarantine), not stored in the status table."""
    if src.line_sql == "l.source_line":
        return "l.source_line", f" LEFT JOIN {src.lines} l ON l.__row = {alias}.__row"
    return src.line_sql.replace("r.__row", f"{alias}.__row"), ""


def _clear_long_values(engine: Engine, src: _Source) -> None:
    """Values over MAX_VALUE_CHARS (a Parquet file's: no reader bounded them) are cleared, reason kept."""
    assert src.raw is not None  # _check_values calls this only for a table that was read
    cols = [*src.present.values(), *src.extras.values()]
    if not cols or not engine.scalar(f"SELECT count(*) FROM {src.raw} WHERE "
                                     + " OR ".join(f"length({q(c)}) > {MAX_VALUE_CHARS}" for c in cols)):
        return
    by_raw = {raw: name for name, raw in {**src.present, **src.extras}.items()}
    out = []
    for raw in engine.columns(src.raw):
        if raw in by_raw:
            out.append(f"CASE WHEN length({q(raw)}) > {MAX_VALUE_CHARS} THEN NULL ELSE {q(raw)} END AS {q(raw)}")
            out.append(f"CASE WHEN length({q(raw)}) > {MAX_VALUE_CHARS} THEN 'value_too_long' END "
                       f"AS {q(raw + '__pre')}")
            src.pre[by_raw[raw]] = raw + "__pre"
        else:
            out.append(q(raw))
    engine.create_table(f"{src.raw}_x", f"SELECT {', '.join(out)} FROM {src.raw}")
    engine.drop(src.raw)
    src.raw = f"{src.raw}_x"


# -- checking values, duplicates and orphans --------------------------------------------------------------
# At most this many duplicate/orphan rejects of a table are named in a WHERE (`__row NOT IN (...)`)
# instead of joined: the accepted rows are then a filter of the status table, one scan without a
# hash join, and in file order on an engine that keeps scan order (no sort to publish them).
_FEW_REJECTS = 256


def _ok(src: _Source) -> str:
    """The accepted rows of a table as a subquery: valid values, not a duplicate, not an orphan."""
    t = src.contract.name
    if src.rejected is None:
        return (f"(SELECT s.* FROM __ing_status_{t} s LEFT JOIN __ing_rej_{t} j ON j.__row = s.__row "
                f"WHERE s.__vreason IS NULL AND j.__row IS NULL)")
    cond = "s.__vreason IS NULL"
    if src.rejected:
        cond += f" AND s.__row NOT IN ({', '.join(str(r) for r in src.rejected)})"
    return f"(SELECT s.* FROM __ing_status_{t} s WHERE {cond})"


def _check_values(engine: Engine, src: _Source) -> None:
    """Build __ing_status_<t> (see _status_sql), unless the fast reader built it while reading."""
    status = f"__ing_status_{src.contract.name}"
    if src.raw is None:
        _empty_status(engine, src.contract, status)
        return
    if src.typed_on_read:
        return
    if src.long_values:
        _clear_long_values(engine, src)
    engine.create_table(status, _status_sql(src, src.raw))


def _status_sql(src: _Source, source: str) -> str:
    """SELECT over raw rows `source` (text columns c0.., `__row`, `c{i}__pre`): every row, typed, with
    `__vreason`/`__vcolumn` (why its values reject it; NULL = valid) and `<col>__err` per checked
    optional column. Sets `src.cleared`. The physical line is not computed here (see _line_of)."""
    c, t = src.contract, src.contract.name
    # 1. Trimmed text (empty = unknown), then typed values and one error code per column.
    values = [f"NULLIF({trim_sql('r.' + q(raw), src.plain)}, '') AS {q('v_' + col)}"
              for col, raw in src.present.items()]
    values += [f"r.{q(raw)} AS {q(name)}" for name, raw in src.extras.items()]
    # Values cleared while reading (invalid bytes, too long): their reason, per column.
    values += [f"r.{q(pre)} AS {q('p_' + col)}" for col, pre in src.pre.items()]
    values += ["r.__row"]
    # Layered so each expression is computed once per row: trimmed text (and the grading system every
    # grade depends on), typed values, then error codes read from the typed values (not re-typed).
    trimmed = f"SELECT {', '.join(values)} FROM {source} r"
    system = None
    if "grading_system" in src.present:
        sys_sql = typed("grading_system", q("v_grading_system"), plain=src.plain)
        trimmed = f"SELECT *, {sys_sql} AS __sys FROM ({trimmed}) s0"
        system = "__sys"
    layer, out, errs = [], [], {}
    for col in c.columns:
        if col.name not in src.present:
            out.append(f"CAST(NULL AS {SQL_TYPE.get(col.kind, 'VARCHAR')}) AS {q(col.name)}")
            continue
        v, tv = q("v_" + col.name), q("__t_" + col.name)
        value = system if col.kind == "grading_system" else typed(col.kind, v, system, src.plain)
        layer.append(f"{value} AS {tv}")
        out.append(f"{tv} AS {q(col.name)}")
        missing = lit("missing_required") if col.required else "NULL"
        if col.name in src.pre:
            missing = f"coalesce({q('p_' + col.name)}, {missing})"
        unknown = known_unknown(col.kind, v)
        when_unknown = f"WHEN {unknown} THEN NULL " if unknown else ""
        reason = "bad_weight" if (t, col.name) == ("soc_edges", "weight") else REASON_OF_KIND.get(col.kind)
        bad = f"WHEN {tv} IS NULL THEN {lit(reason)} " if reason else ""
        if col.required or reason or col.name in src.pre:
            out.append(f"CASE WHEN {v} IS NULL THEN {missing} {when_unknown}{bad}END AS {q(col.name + '__err')}")
            errs[col.name] = col
    extras = "".join(", " + q(n) for n in src.extras)
    extras += "".join(f", {q('p_' + n)} AS {q(n + '__err')}" for n in src.extras if n in src.pre)
    typed_sql = (f"SELECT {', '.join(out)}, __row{extras} FROM "
                 f"(SELECT *, {', '.join(layer) or 'NULL AS __none'} FROM ({trimmed}) s1) s")

    # 2. Row rules: the first failing check names the reason and the column.
    src.cleared = [n for n, col in errs.items() if not col.required] + [n for n in src.extras if n in src.pre]
    reason, column = _row_rules(c, t, errs)
    # A required column's error code lives on in __vreason/__vcolumn only: not stored (fewer columns
    # to write); an optional column's is kept, quarantine reports it as a cleared value.
    kept = [q(col.name) for col in c.columns]
    kept += [q(n + "__err") for n in src.cleared]
    if t == "nominals":  # where the published person table has them: filled in when it is (_publish)
        kept += [f"CAST(NULL AS VARCHAR) AS {q(col + '_source')}" for col in _DEMOGRAPHICS]
    kept += ["__row"] + [q(n) for n in src.extras]
    kept = list(dict.fromkeys(kept))
    return f"SELECT {', '.join(kept)}, {reason} AS __vreason, {column} AS __vcolumn FROM ({typed_sql}) x"


def _empty_status(engine: Engine, c: TableContract, status: str) -> None:
    """The status table of a table the extract does not have: its typed columns, no rows."""
    cols = [f"CAST(NULL AS {SQL_TYPE.get(col.kind, 'VARCHAR')}) AS {q(col.name)}" for col in c.columns]
    engine.create_table(status, f"SELECT {', '.join(cols)}, "
                        "CAST(NULL AS BIGINT) AS __row, CAST(NULL AS VARCHAR) AS __vreason WHERE false")


def _row_rules(c: TableContract, t: str, errs: dict) -> tuple[str, str]:
    """SQL giving the reason and the column of the first row rule a typed row fails (NULL: none)."""
    rules: list[tuple[str, str, str]] = []  # (condition, reason SQL, column)
    for col in c.columns:
        if col.required and col.name in errs:
            rules.append((f"{q(col.name + '__err')} IS NOT NULL", q(col.name + "__err"), col.name))
    if t == "custody_cells":
        rules.append(("to_date < from_date", lit("bad_interval"), "to_date"))
    if t == "missing_episodes":
        rules.append(("end_date < start_date", lit("bad_interval"), "end_date"))
    if t in ("soc_edges", "review_decisions"):
        rules.append(("nominal_id_a = nominal_id_b", lit("self_link"), "nominal_id_b"))
    if t == "soc_edges":
        # method.md: non-positive weights are quarantined (row); one that is not a number is cleared
        # like any bad optional value (the link then has the default weight 1).
        rules.append(("weight <= 0", lit("bad_weight"), "weight"))
    if not rules:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {r}" for cond, r, _ in rules) + " END"
    column = "CASE " + " ".join(f"WHEN {cond} THEN {lit(col)}" for cond, _, col in rules) + " END"
    return reason, column


def _duplicate_checks(engine: Engine, src: _Source, status: str) -> tuple[list[str], list[str], list[str]]:
    """The joins and CASE branches (reason, column) that reject duplicates of `src`'s valid rows."""
    c, t = src.contract, src.contract.name
    # 3. Duplicates among valid rows, by key (all contract columns when the table has none): exact
    #    copies collapse to the first; a key with two contents (some other column has two values,
    #    or a value and a blank) rejects every version. An aggregate finds the few keys involved.
    key_cols = list(c.key) if c.key else list(c.column_names)
    key = ", ".join(q(k) for k in key_cols)
    differ = " OR ".join(
        f"min(s.{q(n)}) <> max(s.{q(n)}) OR (count(s.{q(n)}) > 0 AND count(s.{q(n)}) < count(*))"
        for n in c.column_names if n not in key_cols
    ) or "false"
    required = set(c.required_columns)
    on = " AND ".join(
        f"s.{q(k)} = d.{q(k)}" if k in required else f"s.{q(k)} IS NOT DISTINCT FROM d.{q(k)}" for k in key_cols
    )
    # Two passes: the group-by over every row only finds the (few) repeated keys; comparing the
    # other columns (min/max/count of each) is done for those keys' rows only, which is far cheaper
    # than aggregating every column of every group.
    # The first pass groups by the key alone (no other aggregate: measured ~25% cheaper over
    # intel_nominals' 3.1 M keys); the first row of a repeated key is found in the second pass.
    engine.create_table(f"__ing_dupkeys_{t}", f"SELECT {key} FROM {status} "
                        f"WHERE __vreason IS NULL GROUP BY {key} HAVING count(*) > 1")
    joins: list[str] = []
    whens: list[str] = []
    columns: list[str] = []
    if engine.count(f"__ing_dupkeys_{t}"):
        dkey = ", ".join(f"d.{q(k)}" for k in key_cols)
        engine.create_table(
            f"__ing_dups_{t}",
            f"SELECT {dkey}, min(s.__row) AS __first, CASE WHEN {differ} THEN 1 ELSE 2 END AS prio "
            f"FROM {status} s JOIN __ing_dupkeys_{t} d ON {on} WHERE s.__vreason IS NULL GROUP BY {dkey}",
        )
        joins.append(f"LEFT JOIN __ing_dups_{t} d ON {on}")
        whens += ["WHEN d.prio = 1 THEN 'conflicting_duplicate'", "WHEN s.__row > d.__first THEN 'duplicate_row'"]
        columns += ["WHEN d.prio = 1 THEN NULL", "WHEN s.__row > d.__first THEN NULL"]
    return joins, whens, columns


def _check_rows(engine: Engine, src: _Source, sources: dict[str, _Source]) -> None:
    """Build __ing_rej_<t> (__row, reason, column): the valid rows rejected as duplicates or orphans,
    and `src.rejected` when they are few. Accepted rows are `_ok(src)`."""
    t = src.contract.name
    status, rej = f"__ing_status_{t}", f"__ing_rej_{t}"
    if src.raw is None:
        engine.create_table(rej, "SELECT CAST(NULL AS BIGINT) AS __row, CAST(NULL AS VARCHAR) AS reason, "
                            "CAST(NULL AS VARCHAR) AS \"column\" WHERE false")
        src.rejected = []
        return
    joins, whens, columns = _duplicate_checks(engine, src, status)
    # 4. Orphans: a reference to no accepted row of the parent table. One pass finds both.
    for (child, col), (parent, pcol, why) in _PARENTS.items():
        if child == t:
            a = f"p_{col}"
            # Accepted parent rows are unique by key (duplicates and conflicts are gone): no DISTINCT.
            keys = f"(SELECT {q(pcol)} AS __k FROM {_ok(sources[parent])} k)"
            joins.append(f"LEFT JOIN {keys} {a} ON {a}.__k = s.{q(col)}")
            whens.append(f"WHEN {a}.__k IS NULL THEN {lit(why)}")
            columns.append(f"WHEN {a}.__k IS NULL THEN {lit(col)}")
    if not whens:  # nothing can be rejected here: no scan
        engine.create_table(rej, "SELECT __row, CAST(NULL AS VARCHAR) AS reason, "
                            f"CAST(NULL AS VARCHAR) AS {q('column')} FROM {status} WHERE false")
        src.rejected = []
        return
    engine.create_table(
        rej,
        f"SELECT __row, reason, {q('column')} FROM (SELECT s.__row, CASE {' '.join(whens)} END AS reason, "
        f"CASE {' '.join(columns)} END AS {q('column')} FROM {status} s "
        f"{' '.join(joins)} WHERE s.__vreason IS NULL) x WHERE reason IS NOT NULL",
    )
    if engine.count(rej) <= _FEW_REJECTS:
        src.rejected = sorted(int(r) for (r,) in engine.fetch_rows(f"SELECT __row FROM {rej}"))


# -- as_of, dates of birth, demographics ----------------------------------------------------------------
_FUTURE_PERCENTILE = 0.99


def _future_dates(engine: Engine, sources: dict[str, _Source], settings: Settings) -> tuple[dt.date | None, str]:
    """Quarantine event dates after the cutoff (`future_date`); return (cutoff, how it was chosen).

    Cutoff: `extract_date` when set, else the 99th percentile (nearest rank) of the valid event dates
    plus `max_future_days`. A required date after it rejects the row; an optional one is cleared.
    """
    present = [(t, col) for t, col in _EVENT_DATES if col in sources[t].present]
    if settings.extract_date:
        cutoff, how = settings.extract_date, "extract_date"
    else:
        parts = " UNION ALL ".join(f"SELECT {q(col)} AS d FROM __ing_status_{t} "
                                   f"WHERE __vreason IS NULL AND {q(col)} IS NOT NULL"
                                   for t, col in present)
        counts = sorted(engine.fetch_rows(f"SELECT d, count(*) FROM ({parts}) x GROUP BY d")) if parts else []
        total = sum(int(n) for _, n in counts)
        if not total:
            return None, "percentile"
        rank, seen, day = math.ceil(_FUTURE_PERCENTILE * total), 0, counts[-1][0]
        for d, n in counts:  # in date order: the first date whose running count reaches the rank
            seen += int(n)
            if seen >= rank:
                day = d
                break
        cutoff, how = day + dt.timedelta(days=settings.max_future_days), "percentile"
    day_sql = date_lit(cutoff)
    for t in dict.fromkeys(t for t, _ in present):
        cols = [col for tt, col in present if tt == t]
        status = f"__ing_status_{t}"
        late = " OR ".join(f"{q(col)} > {day_sql}" for col in cols)
        if not engine.scalar(f"SELECT count(*) FROM {status} WHERE __vreason IS NULL AND ({late})"):
            continue  # the common case: nothing to set aside, no rewrite
        _set_aside_future(engine, sources[t], cols, day_sql)
    return cutoff, how


def _set_aside_future(engine: Engine, src: _Source, cols: list[str], day_sql: str) -> None:
    status = f"__ing_status_{src.contract.name}"
    required = [col for col in cols if src.contract.column(col).required]
    new = {}
    if required:
        cond = " OR ".join(f"{q(col)} > {day_sql}" for col in required)
        which = "CASE " + " ".join(f"WHEN {q(col)} > {day_sql} THEN {lit(col)}" for col in required) + " END"
        new["__vreason"] = f"CASE WHEN __vreason IS NULL AND ({cond}) THEN 'future_date' ELSE __vreason END"
        new["__vcolumn"] = f"CASE WHEN __vreason IS NULL AND ({cond}) THEN {which} ELSE __vcolumn END"
    for col in cols:
        if col not in required:
            new[col] = f"CASE WHEN {q(col)} > {day_sql} THEN NULL ELSE {q(col)} END"
            new[col + "__err"] = f"CASE WHEN {q(col)} > {day_sql} THEN 'future_date' ELSE {q(col + '__err')} END"
    # Every row kept, some of their values changed: on DuckDB, in place.
    engine.take_rows(f"{status}_f", status, [(n, n, new.get(n)) for n in engine.columns(status)], "true")
    engine.take_rows(status, f"{status}_f", [(n, n, None) for n in engine.columns(f"{status}_f")], "true")


def _latest_date(engine: Engine, sources: dict[str, _Source]) -> dt.date | None:
    parts = " UNION ALL ".join(f"SELECT max({q(col)}) AS d FROM {_ok(sources[t])} o" for t, col in _EVENT_DATES)
    return engine.scalar(f"SELECT max(d) FROM ({parts}) x")


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _implausible_dob_sql(as_of: dt.date, max_age: int) -> str:
    """SQL true when `date_of_birth` is implausible: after as_of, or an age over max_age on as_of."""
    # Age over max_age on as_of <=> born on or before as_of minus (max_age + 1) years.
    oldest = _years_before(as_of, max_age + 1)
    return f"(date_of_birth > DATE {lit(as_of.isoformat())} OR date_of_birth <= DATE {lit(oldest.isoformat())})"


def _dob_cleared(bad_dob: str) -> str:
    return f"CASE WHEN {bad_dob} THEN NULL ELSE date_of_birth END"


def _resolve_demographics(engine: Engine, sources: dict[str, _Source], bad_dob: str) -> None:
    """The person record wins where it has a value; else the crime records' value when they agree,
    else the most frequent one, ties to the latest offence date (then the smallest value)."""
    cn = (f"(SELECT crime_ref, nominal_id, sex, ethnicity, {_dob_cleared(bad_dob)} AS date_of_birth "
          f"FROM {_ok(sources['crime_nominals'])} o)")
    # The crime records joined once (not once per column): the three columns are then read from it.
    any_value = " OR ".join(f"cn.{q(col)} IS NOT NULL" for col in _DEMOGRAPHICS)
    engine.create_table(
        "__ing_demo_src",
        f"SELECT cn.nominal_id, {', '.join(f'cn.{q(col)}' for col in _DEMOGRAPHICS)}, c.offence_date "
        f"FROM {cn} cn JOIN (SELECT crime_ref, offence_date FROM {_ok(sources['crimes'])} k) c "
        "ON c.crime_ref = cn.crime_ref "
        f"WHERE {any_value}",
    )
    # Per person and column, the smallest and largest value of the crime records: equal, the records
    # agree (the common case, one aggregate); different, the person's values are counted and ranked.
    bounds = ", ".join(f"min({q(col)}) AS {q('lo_' + col)}, max({q(col)}) AS {q('hi_' + col)}" for col in _DEMOGRAPHICS)
    engine.create_table("__ing_demo_range", f"SELECT nominal_id, {bounds} FROM __ing_demo_src GROUP BY nominal_id")
    contested = " UNION ALL ".join(
        f"SELECT s.nominal_id, {lit(col)} AS col, CAST(s.{q(col)} AS VARCHAR) AS value, s.offence_date "
        f"FROM __ing_demo_src s JOIN __ing_demo_range r ON r.nominal_id = s.nominal_id "
        f"WHERE r.{q('lo_' + col)} <> r.{q('hi_' + col)} AND s.{q(col)} IS NOT NULL"
        for col in _DEMOGRAPHICS
    )
    engine.create_table(
        "__ing_demo",
        f"""
        SELECT nominal_id, col, value,
               row_number() OVER (PARTITION BY nominal_id, col ORDER BY n DESC, latest DESC, value) AS rank
        FROM (SELECT nominal_id, col, value, count(*) AS n, max(offence_date) AS latest
              FROM ({contested}) v GROUP BY nominal_id, col, value) f
        """,
    )
    # One row per person: the crimes' pick for each column, for a single join when publishing.
    ranked = ", ".join(f"max(CASE WHEN col = {lit(col)} THEN value END) AS {q(col)}" for col in _DEMOGRAPHICS)
    picks = ", ".join(f"CASE WHEN r.{q('lo_' + col)} = r.{q('hi_' + col)} THEN CAST(r.{q('lo_' + col)} AS VARCHAR) "
                      f"ELSE k.{q(col)} END AS {q(col)}" for col in _DEMOGRAPHICS)
    engine.create_table(
        "__ing_demo_pick",
        f"SELECT r.nominal_id, {picks} FROM __ing_demo_range r LEFT JOIN "
        f"(SELECT nominal_id, {ranked} FROM __ing_demo WHERE rank = 1 GROUP BY nominal_id) k "
        "ON k.nominal_id = r.nominal_id",
    )
    _demographic_conflicts(engine, sources, bad_dob)


def _demographic_conflicts(engine: Engine, sources: dict[str, _Source], bad_dob: str) -> None:
    """demographic_conflicts: the record's value and a crime record's differ (nominal_vs_crime), or,
    no value on the record, two crime records' values differ (crime_vs_crime)."""
    nominals = (f"(SELECT nominal_id, sex, ethnicity, {_dob_cleared(bad_dob)} AS date_of_birth "
                f"FROM {_ok(sources['nominals'])} o)")
    differ = {}
    for col in _DEMOGRAPHICS:
        own, lo, hi = f"n.{q(col)}", f"r.{q('lo_' + col)}", f"r.{q('hi_' + col)}"
        differ[col] = f"({own} IS NOT NULL AND ({lo} <> {own} OR {hi} <> {own})) OR ({own} IS NULL AND {lo} <> {hi})"
    # One join finds the people with any conflict; each column's are read from those few.
    flags = ", ".join(f"({differ[col]}) AS {q('c_' + col)}, n.{q(col)} IS NOT NULL AS {q('own_' + col)}"
                      for col in _DEMOGRAPHICS)
    engine.create_table(
        "__ing_demo_conf",
        f"SELECT r.nominal_id, {flags} FROM __ing_demo_range r JOIN {nominals} n ON n.nominal_id = r.nominal_id "
        f"WHERE {' OR '.join(f'({differ[col]})' for col in _DEMOGRAPHICS)}",
    )
    conflicts = " UNION ALL ".join(
        f"SELECT nominal_id, {lit(col)} AS {q('column')}, "
        f"CASE WHEN {q('own_' + col)} THEN 'nominal_vs_crime' ELSE 'crime_vs_crime' END AS kind "
        f"FROM __ing_demo_conf WHERE {q('c_' + col)}"
        for col in _DEMOGRAPHICS
    )
    engine.create_table("demographic_conflicts",
                        f"SELECT * FROM ({conflicts}) c ORDER BY nominal_id, {q('column')}")


def _publish(engine: Engine, src: _Source, bad_dob: str) -> None:
    """The accepted rows of a table, in file order, with their physical line (source_line)."""
    c, t = src.contract, src.contract.name
    status = f"__ing_status_{t}"
    line, line_join = _line_of(src, "s")
    exprs = {"date_of_birth": _dob_cleared(bad_dob)} if t in ("nominals", "crime_nominals") else {}
    if t == "soc_edges":
        exprs["weight"] = "coalesce(weight, 1.0)"  # the contract's default
    columns = [(n, n, exprs.get(n)) for n in c.column_names]
    if t == "nominals":
        # The record's own values first (their date of birth cleared as it is), then the crimes' fill the gaps.
        for col in _DEMOGRAPHICS:
            own = exprs.get(col, q(col))
            columns.append((f"{col}_source", f"{col}_source", f"CASE WHEN {own} IS NOT NULL THEN 'nominal' END"))
    where = "s.__vreason IS NULL"
    if src.rejected is None:
        where += f" AND NOT EXISTS (SELECT 1 FROM __ing_rej_{t} j WHERE j.__row = s.__row)"
    elif src.rejected:
        where += f" AND s.__row NOT IN ({', '.join(str(r) for r in src.rejected)})"
    if line_join:
        # The lines are in a lines table: a join, sorted back into file order.
        columns += [("source_line", "__row", line)] + [(n, n, None) for n in src.extras]
        cols = ", ".join(f"{expr or 's.' + q(col)} AS {q(out)}" for out, col, expr in columns)
        engine.create_table(t, f"SELECT {cols} FROM {status} s{line_join} WHERE {where} ORDER BY s.__row")
    else:
        # A filter of the status table: the engine may turn it into the published table in place, in
        # file order where the engine keeps scan order (the status table is in file order).
        columns += [("source_line", "__row", line.replace("s.__row", "__row"))] + [(n, n, None) for n in src.extras]
        engine.take_rows(t, status, columns, where, None if engine.keeps_scan_order else "s.__row")
    if t == "nominals":
        _fill_demographics(engine)


def _fill_demographics(engine: Engine) -> None:
    """The person table's missing date of birth, sex and ethnicity from the crime records' pick
    (_resolve_demographics), with where each value came from."""
    fills = []
    for col in _DEMOGRAPHICS:
        theirs = f"TRY_CAST(x.{q(col)} AS DATE)" if col == "date_of_birth" else f"x.{q(col)}"
        fills.append((col, f"coalesce(t.{q(col)}, {theirs})"))
        fills.append((f"{col}_source", f"CASE WHEN t.{q(col)} IS NOT NULL THEN t.{q(col + '_source')} "
                                       f"WHEN x.{q(col)} IS NOT NULL THEN 'crime' END"))
    engine.fill_from("nominals", "__ing_demo_pick", "nominal_id", fills, order="t.source_line")


def _create_quarantine(engine: Engine, sources: dict[str, _Source], bad_dob: str) -> None:
    parts = [empty_sql("quarantine")]
    for t, src in sources.items():
        if src.raw is None:
            continue
        assert src.file is not None  # _read names the file together with src.raw
        head = f"SELECT {lit(t)} AS source_table, {lit(src.file)} AS source_file"
        status = f"__ing_status_{t}"
        parts.append(f"{head}, line, {q('column')}, reason, 'row_rejected' AS action FROM __ing_parse_{t}")
        # The rows of the status table quarantined, by __row; their line is computed once, below.
        rows = [f"SELECT __row, __vcolumn AS __col, __vreason AS reason, 'row_rejected' AS action FROM {status} "
                "WHERE __vreason IS NOT NULL",
                f"SELECT __row, {q('column')} AS __col, reason, 'row_rejected' AS action FROM __ing_rej_{t}"]
        # Cleared values are reported for the rows kept only: a rejected row has one entry, its reason.
        rows += [f"SELECT __row, {lit(n)} AS __col, {q(n + '__err')} AS reason, 'value_cleared' AS action "
                 f"FROM {_ok(src)} o WHERE {q(n + '__err')} IS NOT NULL" for n in src.cleared]
        if t in ("nominals", "crime_nominals"):
            rows.append(f"SELECT __row, 'date_of_birth' AS __col, 'implausible_dob' AS reason, "
                        f"'value_cleared' AS action FROM {_ok(src)} o WHERE {bad_dob}")
        line, line_join = _line_of(src, "x")
        parts.append(f"{head}, {line} AS line, x.__col AS {q('column')}, x.reason, x.action "
                     f"FROM ({' UNION ALL '.join(rows)}) x{line_join}")
    engine.create_table(
        "quarantine",
        f"SELECT source_table, source_file, CAST(line AS BIGINT) AS line, {q('column')}, reason, action "
        f"FROM ({' UNION ALL '.join(parts)}) u ORDER BY source_table, line, {q('column')} NULLS FIRST, reason",
    )


def _facts(
    engine: Engine, sources: dict[str, _Source], as_of: dt.date, latest: dt.date | None, settings: Settings
) -> dict:
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for t, reason, action, n in engine.fetch_rows(
        "SELECT source_table, reason, action, count(*) FROM quarantine GROUP BY source_table, reason, action "
        "ORDER BY source_table, reason, action"
    ):
        counts.setdefault(t, {}).setdefault(action, {})[reason] = int(n)
    tables = {}
    for name in TABLES:
        if name in resolve.INPUTS and not settings.resolve:
            continue  # not read: the manifest stays as it was before entity resolution existed
        src = sources[name]
        read = src.raw_rows + src.parse_rejects
        rejected = sum(counts.get(name, {}).get("row_rejected", {}).values())
        tables[name] = {"file": src.file, "rows_read": read, "accepted": engine.count(name), "rejected": rejected}
    conflicts: dict[str, dict[str, int]] = {}
    for col, kind, n in engine.fetch_rows(
        'SELECT "column", kind, count(*) FROM demographic_conflicts GROUP BY \"column\", kind ORDER BY \"column\", kind'
    ):
        conflicts.setdefault(col, {})[kind] = int(n)
    return {
        "as_of": as_of,
        "as_of_source": "settings" if settings.as_of else "extract",
        "latest_date": latest,
        "tables": tables,
        "duplicates_collapsed": {t: c.get("row_rejected", {}).get("duplicate_row", 0) for t, c in counts.items()
                                 if c.get("row_rejected", {}).get("duplicate_row")},
        "quarantine": counts,
        "rows_rejected": sum(t["rejected"] for t in tables.values()),
        "values_cleared": sum(sum(c.get("value_cleared", {}).values()) for c in counts.values()),
        "demographic_conflicts": conflicts,
        "demographic_conflicts_total": sum(sum(k.values()) for k in conflicts.values()),
        "line_numbers_unknown": {n: s.inexact_lines for n, s in sources.items() if s.inexact_lines},
    }


def engine_scratch(engine: Engine, read: list[str] | None = None) -> list[str]:
    """Scratch tables ingest makes: a status table for every table; for those read from a file (all
    when `read` is None) the reader's tables too."""
    names = ["__ing_demo_src", "__ing_demo_range", "__ing_demo", "__ing_demo_pick", "__ing_demo_conf"]
    for t in TABLES:
        names += [f"__ing_status_{t}", f"__ing_rej_{t}", f"__ing_status_{t}_f"]
        if read is None or t in read:
            names += [f"__ing_{p}_{t}" for p in ("raw", "lines", "parse", "dupkeys", "dups", "recov", "recidx")]
            names += [f"__ing_raw_{t}_x", f"__ing_recst_{t}", f"__ing_status_{t}_x"]
    return names


STAGE = Stage(
    "ingest",
    lambda engine, settings, ctx: run(engine, settings, ctx.input_dir),
    writes=("crimes", "input_nominals", "crime_nominals", "intel_logs", "intel_nominals", "custody_cells",
            "soc_nominals", "soc_edges", "sharing_basis", "referral_outcomes", "quarantine", "demographic_conflicts",
            *resolve.INPUTS, *resolve.OUTPUTS, "missing_episodes"),
    resolves=("as_of",),
)
