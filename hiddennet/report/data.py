"""Read a run's published tables and turn them into the aggregate figures of the report.

Only counts and shares leave this module; no section lists a person. Every section degrades on
its own: a missing table or column makes that section "not available in this run" and the
rest of the report is still written.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
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
    """A section cannot be drawn from this run (table or column missing)."""


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
        return list(pq.read_schema(self.path(name)).names)

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
            self._cache[key] = pq.read_table(self.path(name), columns=cols).to_pandas()
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
    except Unavailable as e:
        return {"available": False, "reason": str(e)}


# --- sections -------------------------------------------------------------------------------


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


def _final_records(run: RunOutputs) -> pd.DataFrame:
    """Full-table rows that take part in a final-table pair (the putative exploitation crimes)."""
    full = _full(run)
    fin = run.table("final_table", ["offender_1", "offender_2", "crime_ref_1", "crime_ref_2", "victim_id"])
    sides = pd.concat(
        [
            fin[["crime_ref_1", "offender_1", "victim_id"]].set_axis(["crime_ref", "offender_id", "victim_id"], axis=1),
            fin[["crime_ref_2", "offender_2", "victim_id"]].set_axis(["crime_ref", "offender_id", "victim_id"], axis=1),
        ]
    ).drop_duplicates()
    return full.merge(sides, on=["crime_ref", "offender_id", "victim_id"], how="inner")


def summary(run: RunOutputs) -> dict:
    out: dict[str, Any] = {"study": STUDY}
    try:
        full = _full(run)
        out.update(
            full_rows=len(full),
            full_offenders=int(full["offender_id"].nunique()),
            full_crimes=int(full["crime_ref"].nunique()),
        )
    except Unavailable as e:
        out["full_reason"] = str(e)
    try:
        fin = run.table("final_table", ["offender_1", "offender_2", "crime_ref_1", "crime_ref_2"])
        out.update(
            final_pairs=len(fin),
            final_offenders=int(pd.concat([fin["offender_1"], fin["offender_2"]]).nunique()),
            final_crimes=int(pd.concat([fin["crime_ref_1"], fin["crime_ref_2"]]).nunique()),
        )
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
    out["rows"] = [{"label": lab, "run": out.get(key), "study": STUDY[key]} for lab, key in rows]
    return out


def _years(df: pd.DataFrame) -> pd.Series:
    d = df.dropna(subset=["offence_date"]).drop_duplicates("crime_ref")
    return pd.to_datetime(d["offence_date"]).dt.year.value_counts()


def timeline(run: RunOutputs) -> dict:
    full = _full(run)
    if "offence_date" not in full.columns:
        raise Unavailable("table full_table has no column offence_date")
    fy = _years(full)
    try:
        ny = _years(_final_records(run))
        final_note = None
    except Unavailable as e:
        ny, final_note = pd.Series(dtype=int), str(e)
    if fy.empty:
        raise Unavailable("table full_table has no offence dates")
    years = list(range(int(fy.index.min()), int(fy.index.max()) + 1))
    rows = [{"year": y, "full": int(fy.get(y, 0)), "final": int(ny.get(y, 0))} for y in years]
    return {"rows": rows, "final_note": final_note, "years": years}


def _age_counts(values: pd.Series, lo: int, hi: int) -> tuple[dict[int, int], int, int]:
    known = values.dropna().astype(int)
    inside = known[(known >= lo) & (known <= hi)]
    return inside.value_counts().to_dict(), int(values.isna().sum()), int(len(known) - len(inside))


def ages(run: RunOutputs) -> dict:
    full = _full(run)
    for c in ("victim_age", "offender_age"):
        if c not in full.columns:
            raise Unavailable(f"table full_table has no column {c}")
    try:
        fin = _final_records(run)
    except Unavailable:
        fin = full.iloc[0:0]
    out: dict[str, Any] = {}
    for who, col, lo, hi in (("victim", "victim_age", 0, 17), ("offender", "offender_age", 10, 90)):
        fc, funk, fout = _age_counts(full[col], lo, hi)
        nc, nunk, nout = _age_counts(fin[col], lo, hi)
        ft, nt = sum(fc.values()) or 1, sum(nc.values()) or 1
        cats = list(range(lo, hi + 1))
        out[who] = {
            "categories": cats,
            "full_pct": [100.0 * fc.get(a, 0) / ft for a in cats],
            "final_pct": [100.0 * nc.get(a, 0) / nt for a in cats],
            "full_unknown": funk,
            "final_unknown": nunk,
            "outside": fout + nout,
            "range": (lo, hi),
        }
    # Age difference, offender minus victim, on rows where both ages are known.
    lo, hi = -20, 70
    diffs = {}
    for name, df in (("full", full), ("final", fin)):
        d = (df["offender_age"] - df["victim_age"]).dropna().astype(int)
        inside = d[(d >= lo) & (d <= hi)]
        diffs[name] = (inside.value_counts().to_dict(), len(d) - len(inside), int((d < 0).sum()), len(d))
    cats = list(range(lo, hi + 1))
    out["difference"] = {
        "categories": cats,
        "full_pct": [100.0 * diffs["full"][0].get(a, 0) / (sum(diffs["full"][0].values()) or 1) for a in cats],
        "final_pct": [100.0 * diffs["final"][0].get(a, 0) / (sum(diffs["final"][0].values()) or 1) for a in cats],
        "outside": diffs["full"][1] + diffs["final"][1],
        "younger_full": diffs["full"][2],
        "known_full": diffs["full"][3],
    }
    return out


def sex(run: RunOutputs) -> dict:
    full = _full(run)
    for c in ("offender_sex", "victim_sex"):
        if c not in full.columns:
            raise Unavailable(f"table full_table has no column {c}")
    try:
        fin = _final_records(run)
    except Unavailable:
        fin = full.iloc[0:0]
    k = run.min_cell

    def combos(df: pd.DataFrame) -> dict[tuple[str, str], int]:
        o = df["offender_sex"].fillna("unknown")
        v = df["victim_sex"].fillna("unknown")
        return pd.Series(1, index=pd.MultiIndex.from_arrays([o, v])).groupby(level=[0, 1]).sum().to_dict()

    fc, nc = combos(full), combos(fin)
    keys = sorted(set(fc) | set(nc), key=lambda kv: (-fc.get(kv, 0), kv))
    fs = suppress_column([fc.get(kv, 0) for kv in keys], k)
    ns = suppress_column([nc.get(kv, 0) for kv in keys], k)
    rows = [{"offender_sex": a, "victim_sex": b, "full": fs[i], "final": ns[i]} for i, (a, b) in enumerate(keys)]
    vk = full["victim_sex"].dropna()
    ok = full["offender_sex"].dropna()
    return {
        "rows": rows,
        "min_cell": k,
        "victim_female_pct": _pct((vk == "F").sum(), len(vk)),
        "offender_male_pct": _pct((ok == "M").sum(), len(ok)),
        "victim_sex_unknown": int(full["victim_sex"].isna().sum()),
        "offender_sex_unknown": int(full["offender_sex"].isna().sum()),
    }


def ethnicity(run: RunOutputs) -> dict:
    full = _full(run)
    for c in ("offender_ethnicity", "victim_ethnicity"):
        if c not in full.columns:
            raise Unavailable(f"table full_table has no column {c}")
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
    return out


def fairness(run: RunOutputs) -> dict:
    f = run.table(
        "fairness", ["measure", "population", "category"], optional=["value", "count", "share", "ratio", "suppressed"]
    )
    measures: dict[str, list[dict]] = {}
    for r in f.to_dict("records"):
        sup = bool(r.get("suppressed")) if r.get("suppressed") is not None else False
        measures.setdefault(str(r["measure"]), []).append(
            {
                "population": str(r["population"]),
                "category": "" if r["category"] is None else str(r["category"]),
                "value": None if pd.isna(r.get("value")) else r.get("value"),
                "count": None if sup or pd.isna(r.get("count")) else int(r["count"]),
                "share": None if sup or pd.isna(r.get("share")) else round(100.0 * float(r["share"]), 1),
                "ratio": None if sup or pd.isna(r.get("ratio")) else round(float(r["ratio"]), 2),
                "suppressed": sup,
            }
        )
    return {"measures": measures}


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
        out["recorded"] = [
            {"gap": str(r["gap"]).replace("_", " "), "count": None if pd.isna(r["count"]) else int(r["count"])}
            for r in g.to_dict("records")
        ]
    except Unavailable:
        out["recorded"] = None
    try:
        s = run.table("selection_summary", ["measure", "value"])
        out["selection"] = [
            {"measure": str(r["measure"]).replace("_", " "), "value": None if pd.isna(r["value"]) else int(r["value"])}
            for r in s.to_dict("records")
        ]
    except Unavailable:
        pass
    return out


def _quarantine_counts(q) -> list[dict]:
    """Quarantined rows per table, column, reason and action, most first."""
    keys = ["source_table", "column", "reason", "action"] if "column" in q else ["source_table", "reason", "action"]
    g = q.fillna({"column": "(whole row)"}) if "column" in q else q
    c = g.groupby(keys, dropna=False).size().reset_index(name="rows").sort_values(["rows"], ascending=False)
    return [{**{k: str(r[k]) for k in keys}, "rows": int(r["rows"])} for r in c.to_dict("records")]


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


SECTIONS: dict[str, Callable[[RunOutputs], dict]] = {
    "summary": summary,
    "timeline": timeline,
    "ages": ages,
    "sex": sex,
    "ethnicity": ethnicity,
    "network": network,
    "dismantling": dismantling,
    "safeguarding": safeguarding,
    "fairness": fairness,
    "data_gaps": data_gaps,
    "run": run_info,
}


def figures(run: RunOutputs) -> dict[str, dict]:
    """Every section's figures; a section that cannot be drawn says why."""
    return {name: _section(fn, run) for name, fn in SECTIONS.items()}
