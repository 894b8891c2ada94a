"""Read a run's published tables and turn them into the aggregate figures of the report.

Only counts and shares leave this module; no section lists a person. Every section degrades on
its own: a missing table or column makes that section "not available in this run" and the
rest of the report is still written.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet.rundir import open_run
from hiddennet.settings import Settings

# The source study's section 9 figures, shown next to a run's own as a reference.
STUDY = {
    "full_rows": 77_707,
    "full_offenders": 55_323,
    "full_crimes": 69_058,
    "final_pairs": 28_758,
    "final_offenders": 20_432,
    "final_crimes": 19_995,
}

# Police identity codes (officer-assessed appearance, as recorded).
ETHNICITY_LABELS = {
    "IC1": "White, North European (IC1)",
    "IC2": "White, South European (IC2)",
    "IC3": "Black (IC3)",
    "IC4": "Asian (IC4)",
    "IC5": "Chinese, Japanese or South-East Asian (IC5)",
    "IC6": "Arab or North African (IC6)",
}

# Safeguarding reasons in the language of exploitation: flagged people are people to safeguard.
REASON_LABELS = {
    "child_victim": "Child victim (under 18 on the as-of date)",
    "transitional_victim": "Young adult who was exploited as a child (18 to 25 now)",
    "child_offender": "Child drawn into the network through crimes recorded while a child",
    "child_in_network": "Child found in the network (under 18 on the as-of date)",
    "victim_offender_overlap": "Person recorded as a victim who also appears in a suspect role (possible exploitation)",
}

LAYER_LABELS = {
    "victim": "Shared victim",
    "intel": "Intelligence",
    "custody": "Custody (shared cell)",
    "soc": "SOC network",
}


class Unavailable(Exception):
    """A section cannot be drawn from this run (table or column missing, or a table that cannot be read)."""


class TableUnreadable(Exception):
    """A table the run lists but that cannot be read (truncated, corrupt, not Parquet). Deliberately
    not an `Unavailable`: a reader that treats a missing table as empty (no people flagged, say)
    must not treat a broken one so; the report degrades the sections that read it, the dashboard
    fails the pages that read it (503)."""


_READ_ERRORS = (OSError, ValueError, pa.lib.ArrowException)


def _unreadable(name: str, e: BaseException) -> TableUnreadable:
    # The exception's class only: its message may quote bytes of the file.
    return TableUnreadable(f"table {name} could not be read ({type(e).__name__})")


class RunOutputs:
    """A run's output folder: manifest.json and tables/<name>.parquet, read lazily and cached."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        # A complete run or an OutputError (exit 2): never tables of one run beside another's manifest.
        self.manifest: dict[str, Any] = open_run(self.run_dir)
        self._cache: dict[tuple, pd.DataFrame] = {}

    def path(self, name: str) -> Path:
        return self.run_dir / "tables" / f"{name}.parquet"

    def has(self, name: str) -> bool:
        # Only the tables the run's manifest lists: a file added later is not part of the run.
        return f"tables/{name}.parquet" in self.manifest["files"] and self.path(name).is_file()

    def columns(self, name: str) -> list[str]:
        if not self.has(name):
            return []
        try:
            return list(pq.read_schema(self.path(name)).names)
        except _READ_ERRORS as e:
            raise _unreadable(name, e) from None

    def table(self, name: str, columns: Sequence[str] | None = None, *, optional: Sequence[str] = ()) -> pd.DataFrame:
        """The table with the named columns (all required) plus any `optional` ones it has.

        Raises Unavailable naming the table and column when something required is missing.
        """
        if not self.has(name):
            raise Unavailable(f"table {name} is not in this run")
        have = set(self.columns(name))
        need = list(columns) if columns is not None else sorted(have)
        missing = [c for c in need if c not in have]
        if missing:
            raise Unavailable(f"table {name} has no column {', '.join(missing)}")
        cols = need + [c for c in optional if c in have and c not in need]
        key = (name, tuple(cols))
        if key not in self._cache:
            try:
                self._cache[key] = pq.read_table(self.path(name), columns=cols).to_pandas()
            except _READ_ERRORS as e:
                raise _unreadable(name, e) from None
        return self._cache[key]

    @property
    def min_cell(self) -> int:
        default = Settings.model_fields["min_cell_count"].default
        return int((self.manifest.get("settings") or {}).get("min_cell_count") or default)


def suppress(count: int, k: int) -> int | None:
    """Counts of 1..k-1 are withheld (None) so that small groups of people cannot be singled out."""
    return None if 0 < count < k else int(count)


def suppress_column(counts: Sequence[int], k: int, *, protect: Sequence[bool] | None = None) -> list[int | None]:
    """Primary suppression (counts of 1..k-1 withheld) plus secondary suppression: when exactly one
    cell is withheld, the smallest other non-zero cell is withheld too, so that the hidden count
    cannot be worked back from the total. Cells marked in `protect` (e.g. "not recorded") are
    shown whatever their size: they say nothing about a person's characteristics."""
    protect = list(protect) if protect is not None else [False] * len(counts)
    out: list[int | None] = [c if p else suppress(c, k) for c, p in zip(counts, protect, strict=True)]
    hidden = [i for i, v in enumerate(out) if v is None]
    if len(hidden) == 1:
        rest = [i for i, c in enumerate(counts) if c > 0 and out[i] is not None and not protect[i]]
        if rest:
            out[min(rest, key=lambda i: (counts[i], i))] = None
    return out


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _section(fn: Callable[[RunOutputs], dict], run: RunOutputs) -> dict:
    try:
        return {"available": True, **fn(run)}
    except (Unavailable, TableUnreadable) as e:
        return {"available": False, "reason": str(e)}
    except Exception as e:  # noqa: BLE001 - a table of the wrong shape degrades its own section only
        # The class only, never the message: it may quote a value of a row.
        return {"available": False, "reason": f"its tables could not be read as expected ({type(e).__name__})"}


# --- sections -------------------------------------------------------------------------------


def require_columns(df: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    """Raise Unavailable naming the first of `columns` that `df` (read from `table`) lacks: a section
    built on an older or partial run says what is missing instead of failing."""
    for c in columns:
        if c not in df.columns:
            raise Unavailable(f"table {table} has no column {c}")


def _full(run: RunOutputs) -> pd.DataFrame:
    return run.table(
        "full_table",
        ["crime_ref", "offender_id", "victim_id"],
        optional=[
            "offence_date",
            "offender_age",
            "victim_age",
            "offender_sex",
            "victim_sex",
            "offender_ethnicity",
            "victim_ethnicity",
        ],
    )


_FINAL_RECORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _final_records(run: RunOutputs) -> pd.DataFrame:
    """Full-table rows that take part in a final-table pair (the putative exploitation crimes);
    worked out once per run object, as most sections read them."""
    if run not in _FINAL_RECORDS:
        _FINAL_RECORDS[run] = _final_records_of(run)
    return _FINAL_RECORDS[run]


def _final_records_of(run: RunOutputs) -> pd.DataFrame:
    full = _full(run)
    fin = run.table("final_table", ["offender_1", "offender_2", "crime_ref_1", "crime_ref_2", "victim_id"])
    sides = pd.concat(
        [
            fin[["crime_ref_1", "offender_1", "victim_id"]].set_axis(["crime_ref", "offender_id", "victim_id"], axis=1),
            fin[["crime_ref_2", "offender_2", "victim_id"]].set_axis(["crime_ref", "offender_id", "victim_id"], axis=1),
        ]
    ).drop_duplicates()
    return full.merge(sides, on=["crime_ref", "offender_id", "victim_id"], how="inner")


def _offenders_per_crime(crimes: pd.Series, offenders: pd.Series) -> dict:
    """Share of crimes with one offender and the most offenders in one crime (the study's 9.1)."""
    per = pd.DataFrame({"c": crimes.to_numpy(), "o": offenders.to_numpy()}).drop_duplicates().groupby("c").size()
    return {
        "one_offender_pct": _pct(int((per == 1).sum()), len(per)),
        "max_offenders": int(per.max()) if len(per) else None,
    }


def summary(run: RunOutputs) -> dict:
    out: dict[str, Any] = {"study": STUDY, "full": None, "final": None}
    try:
        full = _full(run)
        out.update(
            full_rows=len(full),
            full_offenders=int(full["offender_id"].nunique()),
            full_crimes=int(full["crime_ref"].nunique()),
        )
        out["full"] = _offenders_per_crime(full["crime_ref"], full["offender_id"])
    except Unavailable as e:
        out["full_reason"] = str(e)
    try:
        fin = run.table("final_table", ["offender_1", "offender_2", "crime_ref_1", "crime_ref_2"])
        out.update(
            final_pairs=len(fin),
            final_offenders=int(pd.concat([fin["offender_1"], fin["offender_2"]]).nunique()),
            final_crimes=int(pd.concat([fin["crime_ref_1"], fin["crime_ref_2"]]).nunique()),
        )
        with contextlib.suppress(Unavailable):
            rec = _final_records(run)
            out["final"] = _offenders_per_crime(rec["crime_ref"], rec["offender_id"])
    except Unavailable as e:
        out["final_reason"] = str(e)
    if "full_rows" not in out and "final_pairs" not in out:
        raise Unavailable(out.get("full_reason", "table full_table is not in this run"))
    rows = [
        ("Full table rows (crime x offender x victim)", "full_rows"),
        ("Offenders in the full table", "full_offenders"),
        ("Crimes in the full table", "full_crimes"),
        ("Final table pairs (offenders linked through a shared victim)", "final_pairs"),
        ("Offenders in the final table", "final_offenders"),
        ("Crimes in the final table", "final_crimes"),
    ]
    # A table that is not in the run is "not available", never a zero.
    out["rows"] = [{"label": lab, "run": out.get(key), "study": STUDY[key]} for lab, key in rows]
    out["removed"] = _removed_records(run)
    return out


# Records the selection set aside that the study's 9.1 and 9.1.1 report (selection_summary measures).
_REMOVED = (
    ("offender_rows_under_min_age", "Rows left out: offender under the age of criminal responsibility", "2,375"),
    ("victim_rows_born_after_offence_selected", "Rows whose victim was born after the offence (age set to 0)", "306"),
)


def _removed_records(run: RunOutputs) -> list[dict] | None:
    try:
        s = run.table("selection_summary", ["measure", "value"])
    except Unavailable:
        return None
    have = {str(m): v for m, v in zip(s["measure"], s["value"], strict=True)}
    return [
        {"label": lab, "run": None if pd.isna(have[m]) else int(have[m]), "study": study}
        for m, lab, study in _REMOVED
        if m in have
    ]


def _years(df: pd.DataFrame) -> pd.Series:
    d = df.dropna(subset=["offence_date"]).drop_duplicates("crime_ref")
    return pd.to_datetime(d["offence_date"]).dt.year.value_counts()


# The study's Figures 2 and 3 show the years since 2010 of an extract up to 2021: twelve years.
RECENT_YEARS = 12


def _final_or_none(run: RunOutputs) -> tuple[pd.DataFrame | None, str | None]:
    """The final-table records, or None and the reason: a missing final table is never drawn as zeros."""
    try:
        return _final_records(run), None
    except (Unavailable, TableUnreadable) as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - a final table of the wrong shape leaves the full-table figures
        return None, f"table final_table could not be read as expected ({type(e).__name__})"


def _as_of_year(run: RunOutputs, fallback: int) -> int:
    try:
        return int(str(run.manifest.get("as_of"))[:4])
    except ValueError:
        return fallback


def timeline(run: RunOutputs) -> dict:
    full = _full(run)
    if "offence_date" not in full.columns:
        raise Unavailable("table full_table has no column offence_date")
    fy = _years(full)
    fin, final_note = _final_or_none(run)
    ny = _years(fin) if fin is not None else None
    if fy.empty:
        raise Unavailable("table full_table has no offence dates")
    years = list(range(int(fy.index.min()), int(fy.index.max()) + 1))
    rows: list[dict[str, Any]] = [
        {"year": y, "full": int(fy.get(y, 0)), "final": None if ny is None else int(ny.get(y, 0))} for y in years
    ]
    start = _as_of_year(run, years[-1]) - RECENT_YEARS + 1
    return {
        "rows": rows,
        "recent": [r for r in rows if r["year"] >= start],
        "recent_from": start,
        "final_available": ny is not None,
        "final_note": final_note,
        "years": years,
    }


def _age_counts(values: pd.Series, lo: int, hi: int) -> tuple[dict[int, int], int, int]:
    known = values.dropna().astype(int)
    inside = known[(known >= lo) & (known <= hi)]
    return inside.value_counts().to_dict(), int(values.isna().sum()), int(len(known) - len(inside))


def _shares(counts: dict[int, int], cats: Sequence[int]) -> list[float]:
    total = sum(counts.values()) or 1
    return [100.0 * counts.get(a, 0) / total for a in cats]


def ages(run: RunOutputs) -> dict:
    full = _full(run)
    require_columns(full, "full_table", ("victim_age", "offender_age"))
    fin, final_note = _final_or_none(run)
    out: dict[str, Any] = {"final_available": fin is not None, "final_note": final_note}
    for who, col, lo, hi in (("victim", "victim_age", 0, 17), ("offender", "offender_age", 10, 90)):
        fc, funk, fout = _age_counts(full[col], lo, hi)
        nc, nunk, nout = _age_counts(fin[col], lo, hi) if fin is not None else ({}, None, 0)
        cats = list(range(lo, hi + 1))
        out[who] = {
            "categories": cats,
            "full_pct": _shares(fc, cats),
            "final_pct": _shares(nc, cats) if fin is not None else None,
            "full_unknown": funk,
            "final_unknown": nunk,
            "outside": fout + nout,
            "range": (lo, hi),
        }
    # Age difference, offender minus victim, on rows where both ages are known.
    lo, hi = -20, 70
    cats = list(range(lo, hi + 1))
    diff: dict[str, Any] = {"categories": cats, "outside": 0, "final_pct": None}
    for name, df in (("full", full), ("final", fin)):
        if df is None:
            continue
        d = (df["offender_age"] - df["victim_age"]).dropna().astype(int)
        inside = d[(d >= lo) & (d <= hi)]
        diff[f"{name}_pct"] = _shares(inside.value_counts().to_dict(), cats)
        diff["outside"] += len(d) - len(inside)
        diff[f"younger_{name}"] = int((d < 0).sum())
        diff[f"known_{name}"] = len(d)
    out["difference"] = diff
    return out


SEX_LABELS = {"F": "Female", "M": "Male", "unknown": "Not recorded"}


def _sex_combinations(df: pd.DataFrame, k: int) -> list[dict]:
    """Offender x victim sex combinations of the rows, most frequent first, small counts withheld."""
    o = df["offender_sex"].fillna("unknown")
    v = df["victim_sex"].fillna("unknown")
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([o, v])).groupby(level=[0, 1]).sum().to_dict()
    keys = sorted(counts, key=lambda kv: (-counts[kv], kv))
    shown = suppress_column([int(counts[kv]) for kv in keys], k)
    return [{"offender_sex": a, "victim_sex": b, "rows": shown[i]} for i, (a, b) in enumerate(keys)]


def _sex_of_people(df: pd.DataFrame, id_col: str, sex_col: str, k: int) -> dict:
    """Distinct people by their recorded sex (Figures 7 and 8): counts withheld when small, and how
    many people's rows disagree (the study excluded those)."""
    known = df[[id_col, sex_col]].dropna()
    inconsistent = int((known.groupby(id_col)[sex_col].nunique() > 1).sum())
    per = df[[id_col, sex_col]].sort_values(sex_col, na_position="last").drop_duplicates(id_col)[sex_col]
    per = per.fillna("unknown").value_counts()
    cats = ["F", "M", "unknown"]
    total = int(per.sum())
    shown = suppress_column([int(per.get(c, 0)) for c in cats], k, protect=[c == "unknown" for c in cats])
    return {
        "people": total,
        "inconsistent": inconsistent,
        "rows": [
            {"sex": SEX_LABELS[c], "people": v, "pct": _pct(int(per.get(c, 0)), total) if v is not None else None}
            for c, v in zip(cats, shown, strict=True)
        ],
    }


def sex(run: RunOutputs) -> dict:
    full = _full(run)
    require_columns(full, "full_table", ("offender_sex", "victim_sex"))
    fin, final_note = _final_or_none(run)
    k = run.min_cell
    vk = full["victim_sex"].dropna()
    ok = full["offender_sex"].dropna()
    people = {
        f"{who}_{name}": _sex_of_people(df, f"{who}_id", f"{who}_sex", k)
        for who in ("victim", "offender")
        for name, df in (("full", full), ("final", fin))
        if df is not None
    }
    return {
        "full_rows": _sex_combinations(full, k),
        "final_rows": _sex_combinations(fin, k) if fin is not None else None,
        "final_available": fin is not None,
        "final_note": final_note,
        "people": people,
        "min_cell": k,
        "victim_female_pct": _pct((vk == "F").sum(), len(vk)),
        "offender_male_pct": _pct((ok == "M").sum(), len(ok)),
        "victim_sex_unknown": int(full["victim_sex"].isna().sum()),
        "offender_sex_unknown": int(full["offender_sex"].isna().sum()),
    }


def ethnicity(run: RunOutputs) -> dict:
    full = _full(run)
    require_columns(full, "full_table", ("offender_ethnicity", "victim_ethnicity"))
    k = run.min_cell

    def per_person(id_col: str, eth_col: str) -> pd.Series:
        # One value per person: the first recorded one (demographics are resolved at ingest).
        d = full[[id_col, eth_col]].sort_values(eth_col, na_position="last").drop_duplicates(id_col)
        return d[eth_col].fillna("unknown").value_counts()

    vic, off = per_person("victim_id", "victim_ethnicity"), per_person("offender_id", "offender_ethnicity")
    vt, ot = int(vic.sum()), int(off.sum())
    codes = sorted((set(vic.index) | set(off.index)) - {"unknown"})
    cats = [*codes, "unknown"]
    protect = [c == "unknown" for c in cats]
    vsup = suppress_column([int(vic.get(c, 0)) for c in cats], k, protect=protect)
    osup = suppress_column([int(off.get(c, 0)) for c in cats], k, protect=protect)
    rows = []
    for i, code in enumerate(cats):
        v, o = int(vic.get(code, 0)), int(off.get(code, 0))
        vs, os_ = vsup[i], osup[i]
        rows.append(
            {
                "label": "Not recorded" if code == "unknown" else ETHNICITY_LABELS.get(code, code),
                "victims": vs,
                "victims_pct": _pct(v, vt) if vs is not None else None,
                "offenders": os_,
                "offenders_pct": _pct(o, ot) if os_ is not None else None,
            }
        )
    return {
        "rows": rows,
        "min_cell": k,
        "victims_total": vt,
        "offenders_total": ot,
        "victims_unknown_pct": _pct(int(vic.get("unknown", 0)), vt),
        "offenders_unknown_pct": _pct(int(off.get("unknown", 0)), ot),
    }


SIZE_BANDS = (
    (2, 2, "2"),
    (3, 3, "3"),
    (4, 5, "4-5"),
    (6, 10, "6-10"),
    (11, 20, "11-20"),
    (21, 50, "21-50"),
    (51, None, "over 50"),
)


def _known(r, column: str) -> float | None:
    """A value of a column that runs made by older versions lack; None there (shown as not known)."""
    v = getattr(r, column, None)
    return None if v is None or pd.isna(v) else float(v)


def network(run: RunOutputs, top: int = 20) -> dict:
    groups = run.table(
        "groups",
        ["group_id", "size", "harm_cchi", "harm_ons", "priority_rank", "soc_overlap"],
        optional=["safeguarding_only", "edges", "rank_harm_cchi", "flagged_members"],
    )
    sizes = groups["size"].astype(int)
    bands = []
    for lo, hi, lab in SIZE_BANDS:
        m = (sizes >= lo) & ((sizes <= hi) if hi is not None else True)
        bands.append({"band": lab, "groups": int(m.sum())})
    ranked = groups[groups["priority_rank"].notna()].sort_values(["priority_rank", "group_id"])
    priority = [
        {
            "rank": int(r.priority_rank),
            "group_id": str(r.group_id),
            "size": int(r.size),
            "harm_cchi": float(r.harm_cchi or 0),
            "harm_ons": float(r.harm_ons or 0),
            # The harm that ranks the group: members flagged for safeguarding left out (never targets).
            "rank_harm": _known(r, "rank_harm_cchi"),
            "flagged_members": _known(r, "flagged_members"),
            "soc_overlap": int(r.soc_overlap or 0),
        }
        for r in ranked.head(top).itertuples()
    ]
    out: dict[str, Any] = {
        "groups": len(groups),
        "ranked": len(ranked),
        "safeguarding_only": int(groups["safeguarding_only"].fillna(False).sum())
        if "safeguarding_only" in groups
        else None,
        "nominals": int(sizes.sum()),
        "bands": bands,
        "priority": priority,
        "top": top,
        "layers": None,
    }
    try:
        edges = run.table("edges", ["layer"])
        counts = edges["layer"].value_counts()
        out["layers"] = [{"layer": LAYER_LABELS.get(str(k), str(k)), "edges": int(v)} for k, v in counts.items()]
    except Unavailable:
        pass
    return out


def dismantling(run: RunOutputs) -> dict:
    d = run.table(
        "dismantling",
        ["group_id", "step", "nominal_id", "remaining_largest_fraction"],
        optional=["exact", "method", "target_reached", "harm_removed_cchi"],
    )
    d = d.sort_values(["group_id", "step"])
    last = d.groupby("group_id").tail(1)
    picks = d.groupby("group_id").size()
    dist = picks.clip(upper=10).value_counts().sort_index()
    out: dict[str, Any] = {
        "groups_with_order": int(len(picks)),
        "picks_total": int(len(d)),
        "picks_mean": round(float(picks.mean()), 2) if len(picks) else None,
        "picks_dist": [
            {"picks": ("10 or more" if int(p) == 10 else str(int(p))), "groups": int(c)} for p, c in dist.items()
        ],
        "remaining_mean": round(float(last["remaining_largest_fraction"].mean()), 3) if len(last) else None,
    }
    if "target_reached" in d:
        out["broken"] = int(last["target_reached"].fillna(False).astype(bool).sum())
        out["not_broken"] = int(len(last) - out["broken"])
    if "exact" in d:
        ex = d.groupby("group_id")["exact"].agg(lambda s: bool(s.fillna(False).all()))
        out["exact_groups"] = int(ex.sum())
        out["heuristic_groups"] = int(len(ex) - ex.sum())
    if "method" in d:
        out["methods"] = [
            {"method": str(k), "groups": int(v)}
            for k, v in last["method"].fillna("not recorded").value_counts().items()
        ]
    try:
        g = run.table("groups", ["group_id", "size"], optional=["safeguarding_only"])
        eligible = g[
            (g["size"] >= 3)
            & ~(g["safeguarding_only"].fillna(False).astype(bool) if "safeguarding_only" in g else False)
        ]
        out["eligible_groups"] = int(len(eligible))
        out["eligible_without_order"] = int((~eligible["group_id"].isin(picks.index)).sum())
    except Unavailable:
        pass
    return out


def safeguarding(run: RunOutputs) -> dict:
    s = run.table("safeguarding", ["nominal_id", "reasons"], optional=["local_area", "age_on_as_of", "referral_status"])
    reasons = s["reasons"].explode().dropna().value_counts()
    out: dict[str, Any] = {
        "people": int(len(s)),
        "by_reason": [
            {"reason": REASON_LABELS.get(str(k), str(k).replace("_", " ")), "people": int(v)}
            for k, v in reasons.items()
        ],
        "by_area": None,
        "by_age": None,
    }
    if "local_area" in s:
        areas = s["local_area"].fillna("Area not recorded").value_counts()
        out["by_area"] = [{"area": str(k), "people": int(v)} for k, v in areas.items()]
    if "age_on_as_of" in s:
        a = s["age_on_as_of"]
        bands = [
            ("under 13", a < 13),
            ("13 to 15", (a >= 13) & (a <= 15)),
            ("16 to 17", (a >= 16) & (a <= 17)),
            ("18 to 25", (a >= 18) & (a <= 25)),
            ("over 25", a > 25),
            ("age not known", a.isna()),
        ]
        out["by_age"] = [{"band": lab, "people": int(m.sum())} for lab, m in bands]
    out["by_band"] = _triage_bands(run, s)
    return out


BAND_LABELS = {
    "immediate": "Immediate: act today",
    "high": "High",
    "medium": "Medium",
    "monitor": "Monitor",
}


def _triage_bands(run: RunOutputs, s: pd.DataFrame) -> list[dict] | None:
    """People to safeguard by triage band, most urgent first (counts only); None without triage."""
    try:
        t = run.table("safeguarding_triage", ["nominal_id", "band", "band_order"])
    except Unavailable:
        return None
    t = t[t["nominal_id"].isin(set(s["nominal_id"]))]  # the people of this view only (an area's, say)
    order = t.drop_duplicates("band").sort_values("band_order")["band"].tolist()
    counts = t["band"].value_counts()
    rows = [{"band": BAND_LABELS.get(str(b), str(b)), "people": int(counts.get(b, 0))} for b in order]
    missing = int(len(s) - t["nominal_id"].nunique())
    if missing:
        rows.append({"band": "No band recorded", "people": missing})
    return rows


POPULATIONS = (
    ("all_nominals", "All nominals in the network"),
    ("prioritised_members", "Members of ranked groups"),
    ("dismantling_picks", "Chosen in dismantling orders"),
)
COMPOSITION_TITLES = {"sex": "Sex", "ethnicity": "Recorded ethnicity (officer-assessed)", "age_band": "Age band"}
COMPOSITION_MEANING = {
    "sex": "The share of each sex among everyone in the network, among members of the groups ranked by harm, "
    "and among the people a dismantling order chooses.",
    "ethnicity": "The same for the officer-assessed ethnicity codes: a ratio well above 1 means that code is more "
    "common among those prioritised than in the network as a whole, which an analyst should be able to explain.",
    "age_band": "The same by age on the as-of date.",
}
VARIANT_LABELS = {
    "intel_left_out": "intelligence links left out",
    "gap_half_life_up": "gap half-life doubled",
    "gap_half_life_down": "gap half-life halved",
    "recency_half_life_up": "recency half-life doubled",
    "recency_half_life_down": "recency half-life halved",
}


def _variant_label(v: str) -> str:
    if v in VARIANT_LABELS:
        return VARIANT_LABELS[v]
    if v.startswith("layer_weight_"):
        layer, _, way = v.removeprefix("layer_weight_").rpartition("_")
        lab = LAYER_LABELS.get(layer, layer)
        return f"{lab if lab.startswith('SOC') else lab.lower()} weight {'raised' if way == 'up' else 'lowered'}"
    return v.replace("_", " ")


def _fairness_cell(r: dict) -> dict:
    sup = bool(r.get("suppressed")) if r.get("suppressed") is not None else False
    return {
        "count": None if sup or pd.isna(r.get("count")) else int(r["count"]),
        "share": None if sup or pd.isna(r.get("share")) else round(100.0 * float(r["share"]), 1),
        "ratio": None if sup or pd.isna(r.get("ratio")) else round(float(r["ratio"]), 2),
        "suppressed": sup,
    }


def _value_order(v: str) -> tuple:
    """Age bands by their first age ("under 10" first), codes in order, "unknown" last."""
    if v == "unknown":
        return (2, 0, v)
    if v.startswith("under "):
        return (0, -1, v)
    digits = "".join(ch for ch in v.split("-")[0] if ch.isdigit())
    return (0, int(digits), v) if digits and v[0].isdigit() else (1, 0, v)


def _composition(rows: list[dict]) -> list[dict]:
    """One table per characteristic: a row per value, a cell per population."""
    out = []
    for cat in sorted({str(r["category"]) for r in rows}, key=lambda c: (list(COMPOSITION_TITLES).index(c)
                                                                         if c in COMPOSITION_TITLES else 9, c)):
        mine = [r for r in rows if str(r["category"]) == cat]
        values = sorted({str(r["value"]) for r in mine}, key=_value_order)
        cells = {(str(r["value"]), str(r["population"])): _fairness_cell(r) for r in mine}
        labels = ETHNICITY_LABELS if cat == "ethnicity" else SEX_LABELS if cat == "sex" else {}
        out.append({
            "category": cat,
            "title": COMPOSITION_TITLES.get(cat, cat.replace("_", " ")),
            "meaning": COMPOSITION_MEANING.get(cat, ""),
            "rows": [
                {"value": "Not recorded" if v == "unknown" else labels.get(v, v),
                 "cells": [cells.get((v, pop)) for pop, _ in POPULATIONS]}
                for v in values
            ],
        })
    return out


def fairness(run: RunOutputs) -> dict:
    f = run.table(
        "fairness", ["measure", "population", "category"], optional=["value", "count", "share", "ratio", "suppressed"]
    )
    recs = [{k: (None if not isinstance(v, list) and pd.isna(v) else v) for k, v in r.items()}
            for r in f.to_dict("records")]
    comp = [r for r in recs if r["measure"] == "composition"]
    stab = [r for r in recs if r["measure"] == "top10_stability"]
    other: dict[str, list[dict]] = {}
    for r in recs:
        if r["measure"] not in ("composition", "top10_stability"):
            other.setdefault(str(r["measure"]), []).append({
                "population": str(r["population"]).replace("_", " "),
                "category": "" if r["category"] is None else str(r["category"]),
                "value": r.get("value"),
                **_fairness_cell(r),
            })
    stability = [
        {"variant": _variant_label(str(r["category"])), "kept": None if c is None else int(c),
         "share": None if sh is None else round(100.0 * float(sh), 1)}
        for r in sorted(stab, key=lambda r: str(r["category"]))
        for c, sh in [(r.get("count"), r.get("share"))]
    ]
    return {
        "populations": [lab for _, lab in POPULATIONS],
        "composition": _composition(comp),
        "stability": stability,
        "measures": other,
    }


def data_gaps(run: RunOutputs) -> dict:
    out: dict[str, Any] = {
        "quarantine": None,
        "demographics": None,
        "harm": None,
        "selection": None,
        "quarantine_reason": None,
    }
    try:
        q = run.table("quarantine", ["source_table", "reason", "action"], optional=["column"])
        out["quarantine"] = _quarantine_counts(q)
        out["quarantine_total"] = int(len(q))
    except Unavailable as e:
        out["quarantine_reason"] = str(e)
    with contextlib.suppress(Unavailable):
        out["demographics"] = _demographic_gaps(_full(run))
    with contextlib.suppress(Unavailable):
        h = run.table("crime_harm", ["crime_ref"], optional=["cchi_basis", "ons_basis", "in_window"])
        out["harm"] = _harm_basis_counts(h)
    try:
        g = run.table("data_gaps", ["gap", "count"])
        # Quarantine and selection counts are shown in their own tables: only the rest here.
        out["recorded"] = [
            {"gap": _gap_label(str(r["gap"])), "count": None if pd.isna(r["count"]) else int(r["count"])}
            for r in g.to_dict("records")
            if not str(r["gap"]).startswith(("quarantine_", "selection_"))
        ]
    except Unavailable:
        out["recorded"] = None
    try:
        s = run.table("selection_summary", ["measure", "value"])
        out["selection"] = [
            {"measure": _words(str(r["measure"])), "value": None if pd.isna(r["value"]) else int(r["value"])}
            for r in s.to_dict("records")
        ]
    except Unavailable:
        pass
    return out


_GAP_PREFIXES = (
    ("network_nominals_unknown_", "Nominals in the network with no {} recorded"),
    ("full_table_people_unknown_", "People in the full table with no {} recorded"),
    ("demographic_conflicts_", "People whose records disagree on their {}"),
)
_GAP_LABELS = {
    "crimes_unmapped_cchi": "Crimes with no Cambridge Crime Harm Index value (they add no harm)",
    "crimes_unmapped_ons": "Crimes with no ONS severity weight (they add no ONS harm)",
}


def _words(code: str) -> str:
    return code.replace("date_of_birth", "date of birth").replace("_", " ")


def _gap_label(gap: str) -> str:
    for prefix, text in _GAP_PREFIXES:
        if gap.startswith(prefix):
            return text.format(_words(gap.removeprefix(prefix)))
    return _GAP_LABELS.get(gap, _words(gap))


def _quarantine_counts(q) -> list[dict]:
    """Quarantined rows per table, column, reason and action, most first."""
    keys = ["source_table", "column", "reason", "action"] if "column" in q else ["source_table", "reason", "action"]
    g = q.fillna({"column": "(whole row)"}) if "column" in q else q
    c = g.groupby(keys, dropna=False).size().reset_index(name="rows").sort_values(["rows"], ascending=False)
    return [{**{k: _words(str(r[k])) for k in keys}, "rows": int(r["rows"])} for r in c.to_dict("records")]


def _demographic_gaps(full) -> list[dict]:
    """Full-table rows with an unknown age or sex, and people with no ethnicity on any row."""
    rows = []
    n = len(full)
    for col, lab in (
        ("offender_age", "Offender age not known (rows)"),
        ("offender_sex", "Offender sex not recorded (rows)"),
        ("victim_sex", "Victim sex not recorded (rows)"),
    ):
        if col in full:
            m = int(full[col].isna().sum())
            rows.append({"label": lab, "count": m, "pct": _pct(m, n)})
    for idc, col, lab in (
        ("offender_id", "offender_ethnicity", "Offenders with no ethnicity recorded"),
        ("victim_id", "victim_ethnicity", "Victims with no ethnicity recorded"),
    ):
        if col in full:
            per = full[[idc, col]].groupby(idc)[col].count() > 0  # count() skips nulls
            m = int((~per).sum())
            rows.append({"label": lab, "count": m, "pct": _pct(m, len(per))})
    return rows


def _harm_basis_counts(h) -> list[dict]:
    """Crimes per harm index and mapping basis."""
    rows = []
    for col, lab in (("cchi_basis", "CCHI"), ("ons_basis", "ONS")):
        if col in h:
            for k, v in h[col].fillna("not recorded").value_counts().items():
                rows.append({"index": lab, "basis": str(k), "crimes": int(v)})
    return rows


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, json.dumps(v, default=str) if not isinstance(v, str) else v))
    return out


def run_info(run: RunOutputs) -> dict:
    m = run.manifest
    inp = m.get("input") or {}
    return {
        "version": m.get("hiddennet_version"),
        "created_utc": m.get("created_utc"),
        "as_of": m.get("as_of"),
        "engine": m.get("engine"),
        "settings": _flatten(m.get("settings") or {}),
        "checksums": sorted((inp.get("checksums") or {}).items()),
        "stage_seconds": [(k, round(float(v), 2)) for k, v in (m.get("stage_seconds") or {}).items()],
        "tables": [(k, (v or {}).get("rows")) for k, v in (m.get("tables") or {}).items()],
    }


# Columns of a `places` table never shown in a report: people and crime references.
_PLACE_PRIVATE = ("nominal", "victim", "offender", "person", "crime_ref", "_ids", "name", "pnc")
PLACE_AREA_COLUMNS = ("area", "local_area", "location_area")
_PLACE_ORDER = (("priority_rank", True), ("rank", True), ("harm_cchi", False), ("harm", False), ("crimes", False))
PLACES_SHOWN = 25


def places(run: RunOutputs) -> dict:
    """Hotspots from a `places` table when the run has one (the all-age work adds it); its columns
    are read defensively: whatever it holds, people and crime references are never shown."""
    if not run.has("places"):
        raise Unavailable("table places is not in this run")
    cols = [c for c in run.columns("places") if not any(p in c.lower() for p in _PLACE_PRIVATE)]
    if not cols:
        raise Unavailable("table places has no column this report can show")
    df = run.table("places", cols)
    scalar = [c for c in cols if not df[c].map(_is_list).any()]
    df = df[scalar]
    for c, ascending in _PLACE_ORDER:
        if c in df:
            df = df.sort_values(c, ascending=ascending, na_position="last", kind="stable")
            break
    return {
        "columns": [c.replace("_", " ") for c in scalar],
        "rows": [[_place_value(v) for v in r] for r in df.head(PLACES_SHOWN).itertuples(index=False)],
        "total": len(df),
        "shown": min(len(df), PLACES_SHOWN),
    }


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, dict)) or hasattr(v, "shape")


def _place_value(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _continuity(name: str) -> Callable[[RunOutputs], dict]:
    """A section of the continuity work (hiddennet/report/continuity.py, run history): its
    `<name>_section(run) -> dict` when the module is there, else "no run history". The dict may
    hold `tables`: [{"title", "columns", "rows"}] (drawn as tables) and `note`."""

    def section(run: RunOutputs) -> dict:
        try:
            mod = importlib.import_module("hiddennet.report.continuity")
        except ModuleNotFoundError:
            raise Unavailable("no run history") from None
        fn = mod.__dict__.get(f"{name}_section")
        if fn is None:
            raise Unavailable("no run history")
        return fn(run)

    return section


def _registry() -> dict[str, tuple[str, Callable[[RunOutputs], dict]]]:
    # The study's 9.1.3-9.1.5 figures live in study.py, which reads this module's helpers.
    from hiddennet.report import study

    return {
        "summary": ("Summary figures", summary),
        "timeline": ("Crimes by year", timeline),
        "ages": ("Ages", ages),
        "age_by_sex": ("Ages by sex", study.age_by_sex),
        "sex": ("Sex of offender and victim", sex),
        "ethnicity": ("Ethnicity of victims and offenders", ethnicity),
        "ethnicity_heatmap": ("Offender and victim ethnicity together", study.ethnicity_heatmap),
        "prolific": ("The most prolific offenders", study.prolific),
        "network": ("The network", network),
        "dismantling": ("Dismantling summary", dismantling),
        "safeguarding": ("Safeguarding", safeguarding),
        "places": ("Places", places),
        "changes": ("Changes since the last run", _continuity("changes")),
        "trends": ("Trends over runs", _continuity("trends")),
        "fairness": ("Fairness and bias checks", fairness),
        "data_gaps": ("Data gaps", data_gaps),
        "run": ("The run: settings and inputs", run_info),
    }


def figures(run: RunOutputs, extra: dict[str, tuple[str, Callable[[RunOutputs], dict]]] | None = None,
            after: str = "network") -> dict[str, dict]:
    """Every section's figures, in the report's order, each with its number and title; a section
    that cannot be drawn says why. `extra` sections (an area's groups) go after section `after`."""
    reg = list(_registry().items())
    if extra:
        at = [k for k, _ in reg].index(after) + 1
        reg[at:at] = list(extra.items())
    out = {}
    for number, (name, (title, fn)) in enumerate(reg, 1):
        out[name] = {**_section(fn, run), "number": number, "title": title}
    return out


def heading(section: dict) -> dict:
    """A section's number and title alone (for a view that withholds the section's figures)."""
    return {k: section[k] for k in ("number", "title") if k in section}
