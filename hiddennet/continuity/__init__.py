"""Continuity between runs (docs/continuity.md): the previous run from the history, stable group
ids, what changed and the alerts an officer asked for.

    continuity stage (after ingest)   history_members, history_ids, history_groups, history_nominals,
                                      history_links: the previous run (in as_of order) from `history_dir`
    network stage (`name_groups`)     groups named from history_members by the rule of ids.py; group_lineage
    changes stage (after triage)      changes, alerts

With `history_dir` unset every one of these tables is empty and none is published: the run's
published tables are those of a run without this module, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from hiddennet import tables
from hiddennet.continuity import history as store
from hiddennet.continuity.changes import CHILD, alerts_sql, changes_sql
from hiddennet.continuity.ids import Current, match, parent_names
from hiddennet.settings import Settings
from hiddennet.stage import Stage, StageContext, StageOutput
from hiddennet.tables import empty_sql

LOADED = ("history_members", "history_ids", "history_groups", "history_nominals", "history_links")
# Published only when the run has a history (tables.Table.when = "history_dir").
LINEAGE = "group_lineage"
CHANGED = ("changes", "alerts")


def _mapped(table: pa.Table, ids: dict[str, str], schema_name: str) -> pa.Table:
    """A stored part with its run-time group ids replaced by the history's stable ids."""
    d = table.to_pydict()
    d["group_id"] = [ids.get(g, g) for g in d.pop("run_group_id")]
    return pa.table({c: d[c] for c in tables.arrow_schema(schema_name).names}).cast(tables.arrow_schema(schema_name))


def _load(settings: Settings) -> tuple[dict[str, pa.Table], dict]:
    """The previous run's tables (stable ids) and facts; empty tables when there is none."""
    out = {name: tables.arrow_schema(name).empty_table() for name in LOADED}
    if settings.history_dir is None:
        return out, {"history": False}
    assert settings.as_of is not None  # resolved by ingest, the stage before
    store.check_history(Path(settings.history_dir))
    prev, before = store.previous_run(settings.history_dir, settings.as_of)
    facts = {"history": True, "previous_run": prev.run_id if prev else None, "runs_before": len(before)}
    if prev is None:
        return out, facts
    all_ids = store.stable_ids(settings.history_dir)
    earlier = {r.run_id for r in before}
    used = sorted({g for r, g in zip(all_ids["run_id"].to_pylist(), all_ids["group_id"].to_pylist(), strict=True)
                   if r in earlier})
    ids = {k: g for r, k, g in zip(*(all_ids[c].to_pylist() for c in store.IDS_SCHEMA.names), strict=True)
           if r == prev.run_id}
    out["history_ids"] = pa.table({"group_id": used}, schema=tables.arrow_schema("history_ids"))
    out["history_members"] = _mapped(store.read(settings.history_dir, prev.run_id, "members").drop(["run_parent"]),
                                     ids, "history_members")
    out["history_groups"] = _mapped(store.read(settings.history_dir, prev.run_id, "groups"), ids, "history_groups")
    out["history_nominals"] = _mapped(store.read(settings.history_dir, prev.run_id, "nominals"), ids,
                                      "history_nominals")
    links = store.read(settings.history_dir, prev.run_id, "links").to_pydict()
    watch = set(settings.alert_watch_nominals)
    keep = [i for i, (a, b) in enumerate(zip(links["nominal_a"], links["nominal_b"], strict=True))
            if a in watch or b in watch]
    out["history_links"] = pa.table({c: [links[c][i] for i in keep] for c in links},
                                    schema=tables.arrow_schema("history_links"))
    facts["previous_groups"] = out["history_groups"].num_rows
    return out, facts


def _run_load(engine, settings: Settings, ctx: StageContext) -> StageOutput:
    loaded, facts = _load(settings)
    for name, table in loaded.items():
        engine.register_arrow(name, table)
    return StageOutput(tables=(), facts=facts)


STAGE = Stage("continuity", _run_load, writes=LOADED)


# -- naming the groups (called by the network stage) ------------------------------------------------
def name_groups(engine, settings: Settings, members: str) -> None:
    """Rename the groups of `members` (nominal_id, group_id, parent_component, node_index, size) from the
    previous run (`history_members`) and write `group_lineage`. No history, or an empty one: the names
    stay those of a run without history (every group `new` in the lineage when there is a history)."""
    if settings.history_dir is None:
        engine.create_table(LINEAGE, empty_sql(LINEAGE))
        return
    if not engine.scalar("SELECT count(*) FROM history_ids"):
        engine.create_table(
            LINEAGE,
            f"SELECT DISTINCT CAST(NULL AS VARCHAR) AS old_id, group_id AS new_id, 'new' AS kind, "
            f"CAST(0.0 AS DOUBLE) AS overlap, CAST(0 AS BIGINT) AS shared FROM {members}",
        )
        return
    prev = dict(engine.fetch_rows("SELECT group_id, count(*) FROM history_members GROUP BY group_id"))
    rows = engine.fetch_rows(
        f"SELECT group_id, min(parent_component), count(*), min(nominal_id) FROM {members} GROUP BY group_id"
    )
    shared = {(p, k): int(n) for p, k, n in engine.fetch_rows(
        f"SELECT h.group_id, m.group_id, count(*) FROM history_members h JOIN {members} m "
        f"ON m.nominal_id = h.nominal_id GROUP BY h.group_id, m.group_id"
    )}
    used = [r[0] for r in engine.fetch_rows("SELECT group_id FROM history_ids")]
    current = [Current(k, int(n), first) for k, _, n, first in rows]
    names, lineage = match({p: int(n) for p, n in prev.items()}, current, shared, used,
                           settings.group_id_min_jaccard)
    parents = parent_names(names, {k: parent for k, parent, _, _ in rows})
    keys = sorted(names)
    engine.register_arrow("_net_names", pa.table({
        "key": keys, "group_id": [names[k] for k in keys], "parent_component": [parents[k] for k in keys]}))
    engine.register_arrow(LINEAGE, pa.table({
        "old_id": [r.old_id for r in lineage], "new_id": [r.new_id for r in lineage],
        "kind": [r.kind for r in lineage], "overlap": [r.overlap for r in lineage],
        "shared": [r.shared for r in lineage]}, schema=tables.arrow_schema(LINEAGE)))
    engine.create_table(
        "_net_named",
        f"SELECT m.nominal_id, n.group_id, n.parent_component, m.node_index, m.size "
        f"FROM {members} m JOIN _net_names n ON n.key = m.group_id",
    )
    engine.create_table(members, "SELECT * FROM _net_named")
    engine.drop("_net_named")
    engine.drop("_net_names")


# -- changes and alerts ---------------------------------------------------------------------------
_CURRENT = {
    "_chg_groups": """
        SELECT g.group_id, g.size, h.harm_cchi, h.rank_harm_cchi, h.priority_rank,
               coalesce(h.safeguarding_only, false) AS safeguarding_only
        FROM network_groups g LEFT JOIN group_harm h USING (group_id)""",
    # Flagged people outside the network too (group_id NULL): a newly flagged victim is a change.
    "_chg_nominals": f"""
        SELECT coalesce(n.nominal_id, s.nominal_id) AS nominal_id, n.group_id,
               s.nominal_id IS NOT NULL AS safeguarding_flagged, coalesce({CHILD}, false) AS is_child,
               coalesce(n.nominal_id, s.nominal_id) IN (SELECT nominal_id FROM dismantling) AS in_dismantling
        FROM network_nominals n FULL JOIN safeguarding s ON s.nominal_id = n.nominal_id""",
    "_chg_links": "SELECT nominal_a, nominal_b FROM combined_edges",
}


def _run_changes(engine, settings: Settings, ctx: StageContext) -> StageOutput:
    has_previous = settings.history_dir is not None and bool(engine.scalar("SELECT count(*) FROM history_groups"))
    if not has_previous:
        for name in CHANGED:
            engine.create_table(name, empty_sql(name))
    else:
        for name, sql in _CURRENT.items():
            engine.create_table(name, sql)
        prev = {"groups": "history_groups", "nominals": "history_nominals", "links": "history_links"}
        cur = {"groups": "_chg_groups", "nominals": "_chg_nominals", "links": "_chg_links"}
        engine.create_table("changes", changes_sql(prev, cur, LINEAGE))
        engine.create_table("alerts", alerts_sql(prev, cur, LINEAGE, settings))
        for name in _CURRENT:
            engine.drop(name)
    facts = {name: engine.count(name) for name in CHANGED}
    published = (LINEAGE, *CHANGED) if settings.history_dir is not None else ()
    # group_lineage is the network stage's table; it is published with these when there is a history.
    return StageOutput(tables=published, facts=facts)


CHANGES_STAGE = Stage(
    "changes",
    _run_changes,
    # Read only when the run has a history: with none the stage writes its tables empty.
    optional_reads=(LINEAGE, "network_groups", "network_nominals", "history_groups", "history_nominals",
                    "history_links", "group_harm", "safeguarding", "dismantling", "combined_edges"),
    writes=CHANGED,
)
