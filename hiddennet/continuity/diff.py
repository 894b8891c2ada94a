"""`hiddennet diff RUN_A RUN_B`: what changed from one run folder to another, by the rules of the
changes stage (the same SQL, hiddennet/continuity/changes.py) with the lineage worked out from the two
runs' members by the id rule (hiddennet/continuity/ids.py). Group ids are each run's own: a group
of RUN_B is shown with its RUN_B id and the RUN_A group it continues.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from hiddennet import tables
from hiddennet.continuity.changes import changes_sql
from hiddennet.continuity.ids import match_sets
from hiddennet.continuity.snapshot import snapshot
from hiddennet.rundir import open_run

# Changes about one person: printed as a count, never one by one, for a flag (marks a child).
PERSON_COUNTED = ("newly_flagged",)


def _as_named(part: pa.Table) -> pa.Table:
    return part.rename_columns(["group_id" if c == "run_group_id" else c for c in part.column_names])


def _lineage(a: dict[str, pa.Table], b: dict[str, pa.Table], min_jaccard: float) -> pa.Table:
    """The lineage from A's groups to B's, with B's own ids as new_id."""
    am, bm = a["members"].to_pydict(), b["members"].to_pydict()
    previous: dict[str, set[str]] = {}
    for nominal, group in zip(am["nominal_id"], am["run_group_id"], strict=True):
        previous.setdefault(group, set()).add(nominal)
    members = dict(zip(bm["nominal_id"], bm["run_group_id"], strict=True))
    parents = dict(zip(bm["run_group_id"], bm["run_parent"], strict=True))
    names, rows = match_sets({g: frozenset(m) for g, m in previous.items()}, members, parents, set(previous),
                             min_jaccard)
    key_of = {name: key for key, name in names.items()}
    return pa.table({
        "old_id": [r.old_id for r in rows], "new_id": [key_of.get(r.new_id) if r.new_id else None for r in rows],
        "kind": [r.kind for r in rows], "overlap": [r.overlap for r in rows], "shared": [r.shared for r in rows],
    }, schema=tables.arrow_schema("group_lineage"))


def diff_runs(run_a: Path, run_b: Path) -> pa.Table:
    """The `changes` rows from run folder `run_a` to run folder `run_b`."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    open_run(run_a)
    manifest = open_run(run_b)
    a, b = snapshot(run_a), snapshot(run_b)
    min_jaccard = float(manifest["settings"].get("group_id_min_jaccard", 0.3))
    with DuckDBEngine() as engine:
        for side, parts in (("a", a), ("b", b)):
            for part in ("groups", "nominals", "links"):
                engine.register_arrow(f"_{side}_{part}", _as_named(parts[part]))
        engine.register_arrow("_lineage", _lineage(a, b, min_jaccard))
        prev = {p: f"_a_{p}" for p in ("groups", "nominals", "links")}
        cur = {p: f"_b_{p}" for p in ("groups", "nominals", "links")}
        return engine.fetch_arrow(changes_sql(prev, cur, "_lineage")).cast(tables.arrow_schema("changes"))


def summary(changes: pa.Table) -> dict:
    """Counts per change and the rows that may be printed (person-counted changes left out)."""
    rows = changes.to_pylist()
    counts = Counter(r["change"] for r in rows)
    shown = [r for r in rows if r["change"] not in PERSON_COUNTED]
    return {"counts": dict(sorted(counts.items())), "rows": shown}
