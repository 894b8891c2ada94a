"""Quarter-by-quarter counts from the run history (docs/continuity.md, "Trends"), for the report.

One row per quarter of `as_of` (the latest registered run of the quarter), profile, area, measure
and band: crimes, victims, offenders, groups, referrals (by triage band). Area `(force)` is the whole
force, each person counted once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from hiddennet.continuity import history as store

SCHEMA = pa.schema([
    ("quarter", pa.string()), ("as_of", pa.date32()), ("run_id", pa.string()), ("profile", pa.string()),
    ("area", pa.string()), ("measure", pa.string()), ("band", pa.string()), ("count", pa.int64()),
])


def quarter(day: str) -> str:
    """`2021-03-15` -> `2021-Q1`."""
    d = dt.date.fromisoformat(day)
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def trends(history: str | Path) -> pa.Table:
    """The trends table of the history (empty when it has no run)."""
    latest: dict[tuple[str, str], store.RunEntry] = {}
    for r in store.runs(Path(history)):  # replay order: a later run of the quarter replaces an earlier one
        latest[(quarter(r.as_of), r.profile)] = r
    cols: dict[str, list] = {n: [] for n in SCHEMA.names}
    for (q, profile), r in sorted(latest.items()):
        counts = store.read(Path(history), r.run_id, "counts").to_pylist()
        for c in counts:
            for k, v in (("quarter", q), ("as_of", dt.date.fromisoformat(r.as_of)), ("run_id", r.run_id),
                         ("profile", profile), ("area", c["area"]), ("measure", c["measure"]), ("band", c["band"]),
                         ("count", c["count"])):
                cols[k].append(v)
    return pa.table(cols, schema=SCHEMA)
