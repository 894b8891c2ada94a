"""The figures of the source study's sections 9.1.1-9.1.5 that the first report lacked: ages split
by sex, the offender x victim ethnicity heatmap (Figure 11) and the most prolific offenders.

Aggregates only: counts of 1 to `min_cell_count - 1` are withheld (`suppress_column`, and
`suppress_grid` for a two-way table), and the prolific offenders are described as a group big
enough to describe, never listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from hiddennet.report.data import (
    ETHNICITY_LABELS,
    SEX_LABELS,
    RunOutputs,
    Unavailable,
    _final_or_none,
    _full,
    _pct,
    require_columns,
    suppress,
    suppress_column,
)


def suppress_grid(
    counts: Sequence[Sequence[int]], k: int, *, protect: Sequence[Sequence[bool]] | None = None
) -> list[list[int | None]]:
    """A two-way table with small cells withheld: counts of 1..k-1 (primary), then, while any row or
    column has exactly one withheld cell, the smallest other non-zero shown cell of that line is
    withheld too (secondary), so that no withheld count can be worked back from a row or column
    total. Cells marked in `protect` are always shown and never used to hide another."""
    n_rows = len(counts)
    n_cols = len(counts[0]) if n_rows else 0
    prot = [list(r) for r in protect] if protect is not None else [[False] * n_cols for _ in range(n_rows)]
    out: list[list[int | None]] = [
        [int(counts[i][j]) if prot[i][j] else suppress(int(counts[i][j]), k) for j in range(n_cols)]
        for i in range(n_rows)
    ]
    lines = [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    changed = True
    while changed:  # each pass hides one more cell or stops: it ends
        changed = False
        for line in lines:
            hidden = [c for c in line if out[c[0]][c[1]] is None]
            if len(hidden) != 1:
                continue
            rest = [c for c in line if counts[c[0]][c[1]] > 0 and out[c[0]][c[1]] is not None and not prot[c[0]][c[1]]]
            if rest:
                i, j = min(rest, key=lambda c: (counts[c[0]][c[1]], c))
                out[i][j] = None
                changed = True
    return out


def _label(code: str) -> str:
    return "Not recorded" if code == "unknown" else ETHNICITY_LABELS.get(code, code)


def _grid(df: pd.DataFrame, k: int) -> dict:
    """Rows (crime x offender x victim) by offender (rows) and victim (columns) ethnicity."""
    o = df["offender_ethnicity"].fillna("unknown")
    v = df["victim_ethnicity"].fillna("unknown")
    counts = pd.crosstab(o, v)
    codes_o = sorted(set(counts.index) - {"unknown"}) + (["unknown"] if "unknown" in counts.index else [])
    codes_v = sorted(set(counts.columns) - {"unknown"}) + (["unknown"] if "unknown" in counts.columns else [])
    counts = counts.reindex(index=codes_o, columns=codes_v, fill_value=0)
    values = [[int(x) for x in row] for row in counts.to_numpy()]
    # Only the cell where neither ethnicity is recorded says nothing about anyone's ethnicity.
    protect = [[a == "unknown" and b == "unknown" for b in codes_v] for a in codes_o]
    return {
        "offender": [_label(c) for c in codes_o],
        "victim": [_label(c) for c in codes_v],
        "cells": suppress_grid(values, k, protect=protect),
        "rows": len(df),
    }


def ethnicity_heatmap(run: RunOutputs) -> dict:
    """The study's Figure 11, for the full and the final table."""
    full = _full(run)
    require_columns(full, "full_table", ("offender_ethnicity", "victim_ethnicity"))
    fin, final_note = _final_or_none(run)
    k = run.min_cell
    return {
        "full": _grid(full, k),
        "final": _grid(fin, k) if fin is not None else None,
        "final_note": final_note,
        "min_cell": k,
    }


VICTIM_AGE_BANDS = ((0, 12, "under 13"), (13, 15, "13 to 15"), (16, 17, "16 to 17"))
OFFENDER_AGE_BANDS = (
    (10, 17, "10 to 17"),
    (18, 24, "18 to 24"),
    (25, 34, "25 to 34"),
    (35, 44, "35 to 44"),
    (45, 54, "45 to 54"),
    (55, 200, "55 and over"),
)


def _age_sex(df: pd.DataFrame, who: str, bands: Sequence[tuple[int, int, str]], k: int) -> dict:
    """Rows by age band (and age not known) and sex: counts withheld when small, shares per sex by
    single year of age for the chart."""
    age, sx = df[f"{who}_age"], df[f"{who}_sex"].fillna("unknown")
    labels = [b[2] for b in bands] + ["age not known"]
    masks = [(age >= lo) & (age <= hi) for lo, hi, _ in bands] + [age.isna()]
    sexes = ["F", "M", "unknown"]
    grid = [[int((m & (sx == s_)).sum()) for s_ in sexes] for m in masks]
    protect = [[lab == "age not known" or s_ == "unknown" for s_ in sexes] for lab in labels]
    cells = suppress_grid(grid, k, protect=protect)
    lo, hi = bands[0][0], min(bands[-1][1], 90)
    cats = list(range(lo, hi + 1))
    shares = {}
    for s_ in ("F", "M"):
        a = age[(sx == s_) & age.between(lo, hi)].astype(int).value_counts()
        total = int(a.sum()) or 1
        shares[s_] = [100.0 * int(a.get(x, 0)) / total for x in cats]
    return {
        "bands": [{"band": lab, "cells": cells[i]} for i, lab in enumerate(labels)],
        "sexes": [SEX_LABELS[s_] for s_ in sexes],
        "categories": cats,
        "female_pct": shares["F"],
        "male_pct": shares["M"],
    }


def age_by_sex(run: RunOutputs) -> dict:
    """The study's further analysis (9.1.3.1): ages of victims and of offenders split by sex."""
    full = _full(run)
    require_columns(full, "full_table", ("victim_age", "offender_age", "victim_sex", "offender_sex"))
    fin, final_note = _final_or_none(run)
    k = run.min_cell
    out: dict[str, Any] = {"min_cell": k, "final_note": final_note}
    for who, bands in (("victim", VICTIM_AGE_BANDS), ("offender", OFFENDER_AGE_BANDS)):
        out[who] = _age_sex(full, who, bands, k)
        out[f"{who}_final"] = _age_sex(fin, who, bands, k) if fin is not None else None
    return out


CRIME_COUNT_BANDS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3 to 4"), (5, 9, "5 to 9"), (10, None, "10 or more"))


def _first_value(df: pd.DataFrame, id_col: str, col: str) -> pd.Series:
    """One value per person: the first recorded one (demographics are resolved at ingest)."""
    d = df[[id_col, col]].sort_values(col, na_position="last").drop_duplicates(id_col)
    return d.set_index(id_col)[col]


def _prolific(df: pd.DataFrame, k: int) -> dict:
    """Crimes per offender, and the most prolific offenders as one group of at least k people:
    the highest crime count such that at least k offenders reach it, with their sex and whether
    their ethnicity is recorded (counts, small ones withheld); never a list of people."""
    per = df.groupby("offender_id")["crime_ref"].nunique()
    if per.empty:
        raise Unavailable("no offender in the table")
    top = int(per.max())
    bands = [
        {"band": lab, "offenders": int(((per >= lo) & ((per <= hi) if hi is not None else True)).sum())}
        for lo, hi, lab in CRIME_COUNT_BANDS
    ]
    reach = sorted({int(x) for x in per}, reverse=True)
    threshold = next((c for c in reach if int((per >= c).sum()) >= k), reach[-1])
    ids = per[per >= threshold].index
    group = df[df["offender_id"].isin(ids)]
    out: dict[str, Any] = {
        "offenders": len(per),
        "max_crimes": top,
        "at_max": suppress(int((per == top).sum()), k),
        "bands": bands,
        "threshold": threshold,
        "group": len(ids),
        "group_crimes": int(group["crime_ref"].nunique()),
        "sex": None,
        "ethnicity": None,
    }
    if "offender_sex" in df:
        s = _first_value(group, "offender_id", "offender_sex").fillna("unknown").value_counts()
        cats = ["M", "F", "unknown"]
        shown = suppress_column([int(s.get(c, 0)) for c in cats], k, protect=[c == "unknown" for c in cats])
        out["sex"] = [{"sex": SEX_LABELS[c], "offenders": shown[i]} for i, c in enumerate(cats)]
    if "offender_ethnicity" in df:
        e = _first_value(group, "offender_id", "offender_ethnicity")
        # Two cells and a shown total: a withheld one would follow from the other, so no protection here.
        known, unknown = suppress_column([int(e.notna().sum()), int(e.isna().sum())], k)
        out["ethnicity"] = {
            "known": known,
            "unknown": unknown,
            "unknown_pct": _pct(unknown, len(e)) if known is not None and unknown is not None else None,
        }
    return out


def prolific(run: RunOutputs) -> dict:
    """The study's 9.1.5: the most prolific offenders of the final table (and of the full table)."""
    full = _full(run)
    fin, final_note = _final_or_none(run)
    k = run.min_cell
    return {
        "final": _prolific(fin, k) if fin is not None and len(fin) else None,
        "full": _prolific(full, k),
        "final_note": final_note or (None if fin is None or len(fin) else "the final table has no rows"),
        "min_cell": k,
    }
