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

import csv
import datetime as dt
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from hiddennet.contract import TABLES, TableContract
from hiddennet.engine.base import Engine
from hiddennet.errors import InputContractError
from hiddennet.ingest.lines import record_lines
from hiddennet.ingest.rules import REASON_OF_KIND, REASONS, SQL_TYPE, known_unknown, lit, typed
from hiddennet.settings import Settings
from hiddennet.stage import StageOutput

__all__ = ["run", "REASONS", "OUTPUT_TABLES"]

OUTPUT_TABLES = (*TABLES, "quarantine", "demographic_conflicts")
# Tables whose accepted rows others are checked against come first.
_ORDER = ("crimes", "nominals", "intel_logs", "crime_nominals", "intel_nominals", "custody_cells", "soc_nominals", "soc_edges")
# (table, column) -> (parent table, parent column, reason) for rows pointing at nothing.
_PARENTS = {
    ("crime_nominals", "crime_ref"): ("crimes", "crime_ref", "orphan_crime"),
    ("crime_nominals", "nominal_id"): ("nominals", "nominal_id", "orphan_nominal"),
    ("intel_nominals", "log_id"): ("intel_logs", "log_id", "orphan_log"),
}
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
# Parse errors of the engine's CSV reader -> reason codes.
_PARSE_REASON = {
    "too_few_columns": "too_few_columns",
    "too_many_columns": "too_many_columns",
    "invalid_utf8": "invalid_utf8",
    "unterminated_quote": "truncated_row",
    "unreadable": "truncated_row",
}


def q(name: str) -> str:
    """A quoted identifier (column names come from the file's header)."""
    return '"' + name.replace('"', '""') + '"'


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


def run(engine: Engine, settings: Settings, input_dir: Path) -> StageOutput:
    input_dir = Path(input_dir)
    files = _find_files(input_dir)
    for t in TABLES.values():
        if t.required and t.name not in files:
            raise InputContractError("required file missing (.csv, .csv.gz or .parquet)", file=f"{t.name}.csv")
        for other in t.requires:
            if t.name in files and other not in files:
                raise InputContractError(f"required with {files[t.name].name}", file=f"{other}.csv")

    sources: dict[str, _Source] = {}
    for name in _ORDER:  # parents first: orphans are checked against accepted rows
        src = sources[name] = _read(engine, TABLES[name], files.get(name))
        _check(engine, src)
        for scratch in (src.raw, src.lines):
            if scratch:
                engine.drop(scratch)  # the typed status table holds everything from here on

    latest = _latest_date(engine)
    as_of = settings.as_of or latest
    if as_of is None:
        raise InputContractError(
            "no valid offence, recorded, log or custody date to take as_of from; set as_of",
            file=sources["crimes"].file,
        )
    dob_ok = _plausible_dob_sql(as_of, getattr(settings, "max_age_years", 110))
    _resolve_demographics(engine, dob_ok)
    for name in _ORDER:
        _publish(engine, sources[name], dob_ok)
    _create_quarantine(engine, sources, dob_ok)

    facts = _facts(engine, sources, as_of, latest, settings)
    for t in engine_scratch(engine, [n for n, src in sources.items() if src.raw]):
        engine.drop(t)
    return StageOutput(tables=OUTPUT_TABLES, facts=facts)


# -- finding and reading files -------------------------------------------------------------------------
def _find_files(input_dir: Path) -> dict[str, Path]:
    if not input_dir.is_dir():
        raise InputContractError("input folder not found", file=str(input_dir))
    found: dict[str, Path] = {}
    by_lower = {p.name.lower(): p for p in input_dir.iterdir() if p.is_file()}
    for name in TABLES:
        hits = [by_lower[f"{name}{s}"] for s in (".csv", ".csv.gz", ".parquet") if f"{name}{s}" in by_lower]
        if len(hits) > 1:
            raise InputContractError("more than one file for one table", file=", ".join(p.name for p in hits))
        if hits:
            found[name] = hits[0]
    return found


def _read_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(1 << 20)
    if not head.strip():
        raise InputContractError("empty file: no header line", file=path.name)
    first = head.split(b"\n", 1)[0]
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputContractError("header line is not valid UTF-8", file=path.name) from None
    return next(csv.reader(io.StringIO(text.rstrip("\r"))), [])


def _name_columns(contract: TableContract, header: list[str], file: str) -> tuple[dict[str, int], dict[str, int]]:
    """Header cells -> (contract column -> position, extra column output name -> position)."""
    present: dict[str, int] = {}
    extras: dict[str, int] = {}
    known = set(contract.column_names)
    for i, cell in enumerate(header):
        name = cell.strip().lower() or f"column_{i + 1}"
        if name in known:
            if name in present:
                raise InputContractError("column appears more than once in the header", file=file, column=name)
            present[name] = i
            continue
        if name in _RESERVED:
            name = f"extra_{name}"
        base, n = name, 2
        while name in extras or name in known:
            name, n = f"{base}_{n}", n + 1
        extras[name] = i
    for col in contract.required_columns:
        if col not in present:
            raise InputContractError("required column missing", file=file, column=col)
    return present, extras


def _read(engine: Engine, contract: TableContract, path: Path | None) -> _Source:
    src = _Source(contract)
    if path is None:
        return src
    t = contract.name
    src.file = path.name
    src.raw, src.lines = f"__ing_raw_{t}", f"__ing_lines_{t}"
    if path.name.lower().endswith(".parquet"):
        names = engine.scan_parquet(src.raw, path)
        present, extras = _name_columns(contract, names, path.name)
        src.present = {c: names[i] for c, i in present.items()}
        src.extras = {c: names[i] for c, i in extras.items()}
        # Parquet has no physical lines: number rows as a CSV would (first row = line 2).
        src.line_sql, src.lines, src.raw_rows = "r.__row + 2", None, engine.count(src.raw)
        engine.create_table(f"__ing_parse_{t}", "SELECT CAST(NULL AS BIGINT) AS line, CAST(NULL AS VARCHAR) AS reason, "
                            "CAST(NULL AS VARCHAR) AS \"column\" WHERE false")
        return src
    header = _read_header(path)
    present, extras = _name_columns(contract, header, path.name)
    raw_names = [f"c{i}" for i in range(len(header))]
    src.present = {c: raw_names[i] for c, i in present.items()}
    src.extras = {c: raw_names[i] for c, i in extras.items()}
    rejects = engine.scan_csv(src.raw, path, raw_names)
    accepted = engine.count(src.raw)
    lines = record_lines(path)
    n = len(lines.start_line)
    rec = np.asarray(rejects.column("record").to_numpy(zero_copy_only=False), dtype=np.int64) - 1  # 0-based
    keep = ~lines.blank
    keep[0] = False  # the header
    keep[rec[(rec >= 0) & (rec < n)]] = False
    idx = np.flatnonzero(keep)
    src.raw_rows = accepted
    if len(idx) == accepted:
        src.line_sql = _line_sql(engine, src.lines, lines.start_line[idx])
    else:  # the reader and the line scan disagree on record boundaries: lines unknown, counted
        src.inexact_lines = accepted
        src.line_sql = "CAST(NULL AS BIGINT)"
    # Parse errors: the record's first line, a reason code and, for bad bytes, the column.
    reasons, cols, rej_lines = [], [], []
    pos_to_name = {v: k for k, v in {**src.present, **src.extras}.items()}
    for r, col, err in zip(rec.tolist(), rejects.column("column").to_pylist(), rejects.column("error").to_pylist(), strict=True):
        reason = _PARSE_REASON.get(err, "truncated_row")
        if reason == "too_few_columns" and r == n - 1 and not lines.ends_with_newline:
            reason = "truncated_row"  # the file stops in the middle of its last row
        reasons.append(reason)
        cols.append(pos_to_name.get(col) if reason == "invalid_utf8" else None)
        rej_lines.append(int(lines.start_line[r]) if 0 <= r < n else None)
    src.parse_rejects = len(reasons)
    engine.register_arrow(
        f"__ing_parse_{t}",
        pa.table({"line": pa.array(rej_lines, pa.int64()), "reason": pa.array(reasons, pa.string()),
                  "column": pa.array(cols, pa.string())}),
    )
    return src


_MAX_STEPS = 32


def _line_sql(engine: Engine, lines_table: str, start_line: np.ndarray) -> str:
    """SQL for the physical line of raw row `r.__row`, given every accepted row's line.

    Line = row + 2 plus an offset that only grows (at a rejected or blank record, or after a field
    holding line breaks); with few changes a CASE says it without a join, else a lines table does.
    """
    n = len(start_line)
    if n == 0:
        return "CAST(NULL AS BIGINT)"
    offset = start_line - (np.arange(n, dtype=np.int64) + 2)
    changes = np.flatnonzero(np.diff(offset)) + 1
    if len(changes) <= _MAX_STEPS:
        whens = " ".join(f"WHEN r.__row >= {int(i)} THEN {int(offset[i])}" for i in changes[::-1])
        base = int(offset[0])
        return f"r.__row + 2 + CASE {whens} ELSE {base} END" if whens else f"r.__row + {2 + base}"
    engine.register_arrow(lines_table, pa.table({"__row": pa.array(np.arange(n), pa.int64()),
                                                 "source_line": pa.array(start_line, pa.int64())}))
    return "l.source_line"


# -- checking values, duplicates and orphans --------------------------------------------------------------
def _ok(t: str) -> str:
    """The accepted rows of table `t` as a subquery."""
    return f"(SELECT * FROM __ing_status_{t} WHERE __reason IS NULL)"


def _check(engine: Engine, src: _Source) -> None:
    """Build __ing_status_<t>: every parsed row, typed, with `__reason` (NULL = accepted) and
    `__rcolumn`, one error column per optional column (`<col>__err`: the value was cleared)."""
    c, t = src.contract, src.contract.name
    status = f"__ing_status_{t}"
    if src.raw is None:
        cols = [f"CAST(NULL AS {SQL_TYPE.get(col.kind, 'VARCHAR')}) AS {q(col.name)}" for col in c.columns]
        engine.create_table(status, f"SELECT {', '.join(cols)}, CAST(NULL AS BIGINT) AS source_line, "
                            "CAST(NULL AS BIGINT) AS __row, CAST(NULL AS VARCHAR) AS __reason WHERE false")
        return

    # 1. Trimmed text (empty = unknown), then typed values and one error code per column.
    values = [f"NULLIF(trim(r.{q(raw)}), '') AS {q('v_' + col)}" for col, raw in src.present.items()]
    values += [f"r.{q(raw)} AS {q(name)}" for name, raw in src.extras.items()]
    values += [f"{src.line_sql} AS source_line", "r.__row"]
    join = f" JOIN {src.lines} l ON r.__row = l.__row" if src.line_sql == "l.source_line" else ""
    system = typed("grading_system", q("v_grading_system")) if "grading_system" in src.present else None
    out, errs = [], {}
    for col in c.columns:
        if col.name not in src.present:
            out.append(f"CAST(NULL AS {SQL_TYPE.get(col.kind, 'VARCHAR')}) AS {q(col.name)}")
            continue
        v = q("v_" + col.name)
        value = typed(col.kind, v, system)
        out.append(f"{value} AS {q(col.name)}")
        missing = lit("missing_required") if col.required else "NULL"
        unknown = known_unknown(col.kind, v)
        when_unknown = f"WHEN {unknown} THEN NULL " if unknown else ""
        reason = REASON_OF_KIND.get(col.kind)
        bad = f"WHEN ({value}) IS NULL THEN {lit(reason)} " if reason else ""
        if col.required or reason:
            out.append(f"CASE WHEN {v} IS NULL THEN {missing} {when_unknown}{bad}END AS {q(col.name + '__err')}")
            errs[col.name] = col
    extras = "".join(", " + q(n) for n in src.extras)
    typed_sql = (f"SELECT {', '.join(out)}, source_line, __row{extras} FROM "
                 f"(SELECT {', '.join(values)} FROM {src.raw} r{join}) s")

    # 2. Row rules: the first failing check names the reason and the column.
    rules: list[tuple[str, str, str]] = []  # (condition, reason SQL, column)
    for col in c.columns:
        if col.required and col.name in errs:
            rules.append((f"{q(col.name + '__err')} IS NOT NULL", q(col.name + "__err"), col.name))
    src.cleared = [n for n, col in errs.items() if not col.required]
    if t == "custody_cells":
        rules.append(("to_date < from_date", lit("bad_interval"), "to_date"))
    if t == "soc_edges":
        rules.append(("nominal_id_a = nominal_id_b", lit("self_link"), "nominal_id_b"))
        if "weight" in errs:
            src.cleared.remove("weight")  # a link whose weight is wrong is not a link of weight 1
            rules.append(("weight__err IS NOT NULL OR weight <= 0", lit("bad_weight"), "weight"))
    if rules:
        reason = "CASE " + " ".join(f"WHEN {cond} THEN {r}" for cond, r, _ in rules) + " END"
        column = "CASE " + " ".join(f"WHEN {cond} THEN {lit(col)}" for cond, _, col in rules) + " END"
    else:
        reason = column = "CAST(NULL AS VARCHAR)"
    checked = f"SELECT *, {reason} AS __vreason, {column} AS __vcolumn FROM ({typed_sql}) x"

    # 3. Duplicates on the contract columns among valid rows: exact copies collapse to the first;
    #    a key with two contents rejects every version. 4. Orphans: a reference to no accepted row.
    # Both from one window over the key (all contract columns when the table has none), with no
    # ordering: the first copy is the one with the smallest __row; contents differ when some other
    # column has two values (min <> max) or a value and a blank.
    key_cols = list(c.key) if c.key else list(c.column_names)
    part = f"PARTITION BY {', '.join(q(k) for k in key_cols)}, __vreason IS NULL"
    others = [n for n in c.column_names if n not in key_cols]
    differ = " OR ".join(
        f"min({q(n)}) OVER w <> max({q(n)}) OVER w OR (count({q(n)}) OVER w > 0 AND count({q(n)}) OVER w < count(*) OVER w)"
        for n in others
    ) or "false"
    copies = (f"SELECT *, min(__row) OVER w AS __first, CASE WHEN {differ} THEN 2 ELSE 1 END AS __versions "
              f"FROM ({checked}) y WINDOW w AS ({part})")
    joins, whens = [], [
        "WHEN d.__vreason IS NOT NULL THEN d.__vreason",
        "WHEN __versions > 1 THEN 'conflicting_duplicate'",
        "WHEN __row > __first THEN 'duplicate_row'",
    ]
    for (child, col), (parent, pcol, why) in _PARENTS.items():
        if child == t:
            alias = f"p_{col}"
            joins.append(f"LEFT JOIN (SELECT DISTINCT {q(pcol)} AS __k FROM {_ok(parent)} k) {alias} ON {alias}.__k = d.{q(col)}")
            whens.append(f"WHEN {alias}.__k IS NULL THEN {lit(why)}")
    engine.create_table(
        status,
        f"SELECT d.*, CASE {' '.join(whens)} END AS __reason, d.__vcolumn AS __rcolumn FROM "
        f"({copies}) d {' '.join(joins)}",
    )


# -- as_of, dates of birth, demographics ----------------------------------------------------------------
def _latest_date(engine: Engine) -> dt.date | None:
    parts = " UNION ALL ".join(f"SELECT max({q(col)}) AS d FROM {_ok(t)} o" for t, col in _EVENT_DATES)
    return engine.scalar(f"SELECT max(d) FROM ({parts}) x")


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _plausible_dob_sql(as_of: dt.date, max_age: int) -> str:
    """SQL true when `date_of_birth` is implausible: after as_of, or an age over max_age on as_of."""
    # Age over max_age on as_of <=> born on or before as_of minus (max_age + 1) years.
    oldest = _years_before(as_of, max_age + 1)
    return f"(date_of_birth > DATE {lit(as_of.isoformat())} OR date_of_birth <= DATE {lit(oldest.isoformat())})"


def _dob_cleared(bad_dob: str) -> str:
    return f"CASE WHEN {bad_dob} THEN NULL ELSE date_of_birth END"


def _resolve_demographics(engine: Engine, bad_dob: str) -> None:
    """The person record wins where it has a value; else the crime records' value when they agree,
    else the most frequent one, ties to the latest offence date (then the smallest value)."""
    cn = f"(SELECT crime_ref, nominal_id, sex, ethnicity, {_dob_cleared(bad_dob)} AS date_of_birth FROM {_ok('crime_nominals')} o)"
    per_crime = " UNION ALL ".join(
        f"SELECT cn.nominal_id, {lit(col)} AS col, CAST(cn.{q(col)} AS VARCHAR) AS value, c.offence_date "
        f"FROM {cn} cn JOIN {_ok('crimes')} c ON c.crime_ref = cn.crime_ref WHERE cn.{q(col)} IS NOT NULL"
        for col in _DEMOGRAPHICS
    )
    engine.create_table(
        "__ing_demo",
        f"""
        SELECT nominal_id, col, value, n, latest,
               row_number() OVER (PARTITION BY nominal_id, col ORDER BY n DESC, latest DESC, value) AS rank,
               count(*) OVER (PARTITION BY nominal_id, col) AS versions
        FROM (SELECT nominal_id, col, value, count(*) AS n, max(offence_date) AS latest
              FROM ({per_crime}) v GROUP BY nominal_id, col, value) f
        """,
    )
    nominals = f"(SELECT nominal_id, sex, ethnicity, {_dob_cleared(bad_dob)} AS date_of_birth FROM {_ok('nominals')} o)"
    own = "CASE d.col WHEN 'sex' THEN n.sex WHEN 'ethnicity' THEN n.ethnicity ELSE CAST(n.date_of_birth AS VARCHAR) END"
    engine.create_table(
        "demographic_conflicts",
        f"""
        SELECT DISTINCT d.nominal_id, d.col AS {q('column')},
               CASE WHEN {own} IS NOT NULL THEN 'nominal_vs_crime' ELSE 'crime_vs_crime' END AS kind
        FROM __ing_demo d JOIN {nominals} n ON n.nominal_id = d.nominal_id
        WHERE ({own} IS NOT NULL AND d.value <> {own}) OR ({own} IS NULL AND d.versions > 1)
        ORDER BY d.nominal_id, {q('column')}
        """,
    )


def _publish(engine: Engine, src: _Source, bad_dob: str) -> None:
    c, t = src.contract, src.contract.name
    cols = [q(n) for n in c.column_names]
    if t == "soc_edges":
        cols[c.column_names.index("weight")] = "coalesce(weight, 1.0) AS weight"  # contract default
    base, joins = f"{_ok(t)} o", ""
    if t in ("nominals", "crime_nominals"):
        cols[c.column_names.index("date_of_birth")] = f"{_dob_cleared(bad_dob)} AS date_of_birth"
    if t == "nominals":
        # Resolved demographics: the record's value, else the crimes' (see _resolve_demographics).
        base = f"(SELECT o.*, {_dob_cleared(bad_dob)} AS __dob FROM {_ok(t)} o) o"
        cols = [q(n) for n in c.column_names]
        for col in _DEMOGRAPHICS:
            a = "x_" + col
            own = "o.__dob" if col == "date_of_birth" else f"o.{q(col)}"
            theirs = f"TRY_CAST({a}.value AS DATE)" if col == "date_of_birth" else f"{a}.value"
            cols[c.column_names.index(col)] = f"coalesce({own}, {theirs}) AS {q(col)}"
            cols.append(f"CASE WHEN {own} IS NOT NULL THEN 'nominal' WHEN {a}.value IS NOT NULL THEN 'crime' END "
                        f"AS {q(col + '_source')}")
            joins += (f" LEFT JOIN __ing_demo {a} ON {a}.nominal_id = o.nominal_id AND {a}.col = {lit(col)} "
                      f"AND {a}.rank = 1")
        cols = [x if " AS " in x else f"o.{x}" for x in cols]
    cols += ["o.source_line"] + [f"o.{q(n)}" for n in src.extras]
    engine.create_table(t, f"SELECT {', '.join(cols)} FROM {base}{joins} ORDER BY o.__row")


def _create_quarantine(engine: Engine, sources: dict[str, _Source], bad_dob: str) -> None:
    cols = f"CAST(NULL AS VARCHAR) AS source_table, CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS BIGINT) AS line, "
    parts = [f"SELECT {cols}CAST(NULL AS VARCHAR) AS {q('column')}, CAST(NULL AS VARCHAR) AS reason, "
             "CAST(NULL AS VARCHAR) AS action WHERE false"]
    for t, src in sources.items():
        if src.raw is None:
            continue
        head = f"SELECT {lit(t)} AS source_table, {lit(src.file)} AS source_file"
        status = f"__ing_status_{t}"
        parts.append(f"{head}, line, {q('column')}, reason, 'row_rejected' AS action FROM __ing_parse_{t}")
        parts.append(f"{head}, source_line AS line, __rcolumn AS {q('column')}, __reason AS reason, "
                     f"'row_rejected' AS action FROM {status} WHERE __reason IS NOT NULL")
        # Cleared values are reported for the rows kept only: a rejected row has one entry, its reason.
        parts += [
            f"{head}, source_line AS line, {lit(n)} AS {q('column')}, {q(n + '__err')} AS reason, 'value_cleared' AS action "
            f"FROM {status} WHERE __reason IS NULL AND {q(n + '__err')} IS NOT NULL"
            for n in src.cleared
        ]
        if t in ("nominals", "crime_nominals"):
            parts.append(f"{head}, source_line AS line, 'date_of_birth' AS {q('column')}, 'implausible_dob' AS reason, "
                         f"'value_cleared' AS action FROM {_ok(t)} o WHERE {bad_dob}")
    engine.create_table(
        "quarantine",
        f"SELECT source_table, source_file, CAST(line AS BIGINT) AS line, {q('column')}, reason, action "
        f"FROM ({' UNION ALL '.join(parts)}) u ORDER BY source_table, line, {q('column')} NULLS FIRST, reason",
    )


def _facts(engine: Engine, sources: dict[str, _Source], as_of: dt.date, latest: dt.date | None, settings: Settings) -> dict:
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for t, reason, action, n in engine.fetch_rows(
        "SELECT source_table, reason, action, count(*) FROM quarantine GROUP BY source_table, reason, action ORDER BY source_table, reason, action"
    ):
        counts.setdefault(t, {}).setdefault(action, {})[reason] = int(n)
    tables = {}
    for name in TABLES:
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
    names = ["__ing_demo"]
    for t in TABLES:
        names.append(f"__ing_status_{t}")
        if read is None or t in read:
            names += [f"__ing_{p}_{t}" for p in ("raw", "lines", "parse")]
    return names
