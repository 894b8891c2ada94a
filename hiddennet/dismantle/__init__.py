"""Stage `dismantle`: the order in which to disrupt each group (method.md section 6).

Reads `combined_edges`, `network_nominals`, `network_groups`, `nominal_harm`, `safeguarding`;
writes `dismantling` (docs/tables.md).

Per group of 3 or more nominals, with target T = max(2, ceil(dismantle_fraction * n)):
- up to `exact_dismantle_max` nominals: the exact answer (exact.py): fewest removals leaving no
  piece above T, most harm among those, ordered step by step;
- above: `dismantle_method` (GND with reinsertion by default, gnd.py; the baselines of
  baselines.py on request), ordered the same way.
Every group gets a proven lower bound on the fewest removals and the order's gap to it: the exact
search's own optimum, else the cheap bounds of bounds.py (first pass, always); then a second pass
gives the integer program of proof.py (`dismantle_proof_seconds` > 0) the `dismantle_proof_groups`
most harmful groups the cheap bounds leave with a gap (docs/harm-and-dismantling.md).
Safeguarding-flagged nominals are never chosen; they stay in the graph as connectors. When they
alone keep a piece above T, the group is dismantled as far as it can be and its steps say
target_reached = false (a group with no possible step has no rows and is counted in the facts).

Nodes are relabelled to 0..n-1 in SQL (by nominal id) and the tie order (harm descending, then
nominal id) is computed there too; the per-group work runs through `engine.map_groups`.
"""

from __future__ import annotations

import math
import time
from functools import partial

import pyarrow as pa

from hiddennet.dismantle.baselines import adaptive, corehd
from hiddennet.dismantle.bounds import cheap_bound
from hiddennet.dismantle.exact import exact_dismantle
from hiddennet.dismantle.gnd import gnd_dismantle
from hiddennet.dismantle.graph import (
    Problem,
    Result,
    flagged_floor,
    largest_after_each,
    order_removals,
    target_size,
)
from hiddennet.dismantle.proof import prove
from hiddennet.settings import Settings
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import arrow_schema

OUTPUT = "dismantling"

SCHEMA = arrow_schema(OUTPUT)

# A summary row per group rides along in the same output so facts need no second pass; step 0 rows
# are dropped before the table is published.
_SUMMARY_STEP = 0
# On the summary row (which has no fraction of its own), this column is 1.0 when a wall-time safety
# net cut the group's work (Result.time_cut), else null: the facts count those groups.
_CUT_COLUMN = "remaining_largest_fraction"


# Rounds of the local search after GND + reinsertion (search.py) when called outside the stage;
# the stage passes the `dismantle_search_rounds` setting, whose default this is.
SEARCH_ROUNDS: int = Settings.model_fields["dismantle_search_rounds"].default


def dismantle_problem(
    p: Problem,
    target: int,
    *,
    exact_max: int,
    method: str,
    reinsertion: bool,
    seed: int,
    search_rounds: int = SEARCH_ROUNDS,
    proof_seconds: float = 0.0,
    search_seconds: float = 0.0,
) -> Result:
    """The dismantling of one group by the method its size calls for, with its lower bound.

    Groups above `exact_max` get the heuristic and the cheap bounds of bounds.py; when these leave a
    gap and proof_seconds > 0, the integer program of proof.py (with_proof)."""
    if p.n <= exact_max:
        res = exact_dismantle(p, target)
        res.lower_bound = len(res.order)  # branch and bound proves its own optimum
        res.bound_method = "exact"
        return res
    if method == "gnd":
        res = gnd_dismantle(
            p, target, reinsertion=reinsertion, search_rounds=search_rounds, seed=seed, search_seconds=search_seconds
        )
    elif method == "corehd":
        res = corehd(p, target)
    else:
        res = adaptive(p, target, method)
    return with_proof(p, res, proof_seconds)


def _holds_top_harm(p: Problem, chosen: list[int]) -> bool:
    """The set removes as much harm as the len(chosen) most harmful removable nominals: no set of that
    size removes more, so among the fewest it is the most harmful."""
    top = math.fsum(sorted((0.0 if f else h for h, f in zip(p.harm, p.flagged, strict=True)), reverse=True)[
        : len(chosen)])
    return math.fsum(p.harm[v] for v in chosen) >= top - 1e-9


_CHEAP = ("packing", "counting", "packing+counting")


def with_proof(p: Problem, res: Result, seconds: float) -> Result:
    """`res` with its lower bound: the cheap bounds always; then, when seconds > 0 and they leave a gap
    (or prove the count but not the most harm), the integer program, whose optimum replaces `res`
    when it is better. The stage's second pass gives it only groups with a gap (_prove_pass)."""
    level = max(res.target, flagged_floor(p))  # every method's order reaches it (graph.flagged_floor)
    if res.lower_bound is not None and res.bound_method in _CHEAP and level == res.target:
        cheap, how = res.lower_bound, res.bound_method  # computed by gnd_dismantle at this level
    else:
        cheap, how = cheap_bound(p, level)
    res.lower_bound, res.bound_method = cheap, how
    if cheap >= len(res.order):
        res.exact = _holds_top_harm(p, res.order)
    if seconds <= 0 or res.exact:
        return res
    # A gap, or the count proven but not the harm: the integer program (its second phase, most harm
    # among the fewest, starts at once when the count is already proven).
    proof = prove(p, level, seconds, incumbent=sorted(res.order), known_bound=cheap)
    time_cut = res.time_cut or proof.time_cut
    if proof.lower_bound > cheap:
        res.lower_bound, res.bound_method = proof.lower_bound, "ilp"
    if proof.best is not None:
        mine = math.fsum(p.harm[v] for v in res.order)
        theirs = math.fsum(p.harm[v] for v in proof.best)
        if len(proof.best) < len(res.order) or (len(proof.best) == len(res.order) and theirs > mine + 1e-9):
            order, sizes = order_removals(p, proof.best)
            res = Result(order, sizes, res.target, level == res.target, False, "ilp", level, res.lower_bound,
                         res.bound_method)
        res.exact = proof.harm_proven
    res.time_cut = time_cut
    return res


def _group_fn(settings):
    # A partial of a module-level function, not a closure: it must pickle, so that an engine can
    # hand batches to worker processes. The first pass never runs the integer program: the second
    # (_prove_fn) gives it the most harmful groups the cheap bounds leave with a gap.
    return partial(
        _dismantle_batch,
        fraction=settings.dismantle_fraction,
        exact_max=settings.exact_dismantle_max,
        method=settings.dismantle_method,
        reinsertion=settings.dismantle_reinsertion,
        seed=settings.seed,
        rounds=int(settings.dismantle_search_rounds),
        proof_seconds=0.0,
        search_seconds=float(settings.dismantle_search_seconds),
    )


def _prove_fn(settings, deadline: float):
    return partial(_prove_batch, fraction=settings.dismantle_fraction,
                   proof_seconds=float(settings.dismantle_proof_seconds), deadline=deadline)


def _emit_group(out: dict[str, list], g: str, ids: list[str], harm: list[float], res: Result) -> None:
    """The group's steps and its summary row (step 0) appended to the columns of `out`."""
    lb = res.lower_bound
    optimal = lb is not None and len(res.order) == lb
    gap = None if lb is None else len(res.order) - lb

    def emit(step, nid, frac, done):
        values = (g, step, nid, frac, done, res.exact, res.method, res.target_reached, lb, optimal, gap,
                  res.bound_method)
        for k, v in zip(SCHEMA.names, values, strict=True):
            out[k].append(v)

    done, n = 0.0, len(ids)
    for step, (v, size) in enumerate(zip(res.order, res.largest_after, strict=True), start=1):
        done += harm[v]
        emit(step, ids[v], size / n, done)
    # Summary: reached flag, bound, whether flagged nominals block, whether a wall-time net cut work.
    emit(_SUMMARY_STEP, None, 1.0 if res.time_cut else None, None)


def _problems(batch: pa.Table):
    """Per group of the batch: (group id, Problem, nominal ids, node rows by local index a, columns)."""
    cols = {name: batch.column(name).to_pylist() for name in batch.column_names}
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(cols["group_id"]):
        by_group.setdefault(g, []).append(i)
    for g, rows in by_group.items():
        nodes = [i for i in rows if cols["kind"][i] == "node"]
        n = len(nodes)
        ids, harm, flagged, tie, where = [""] * n, [0.0] * n, [False] * n, [0] * n, [0] * n
        for i in nodes:
            k = cols["a"][i]
            ids[k], harm[k], flagged[k], tie[k], where[k] = (
                cols["nominal_id"][i], cols["harm"][i] or 0.0, bool(cols["flagged"][i]), cols["tie"][i], i)
        # Sorted: engines hand rows over in any order, and the search's ties must not depend on it.
        edges = sorted((cols["a"][i], cols["b"][i], cols["weight"][i]) for i in rows if cols["kind"][i] == "edge")
        yield g, Problem(n, edges, harm, flagged, tie), ids, where, cols


def _dismantle_batch(
    batch: pa.Table,
    *,
    fraction: float,
    exact_max: int,
    method: str,
    reinsertion: bool,
    seed: int,
    rounds: int,
    proof_seconds: float = 0.0,
    search_seconds: float = 0.0,
) -> pa.Table:
    """Dismantling steps (and a summary row, step 0) of every group in a batch of whole groups."""
    out: dict[str, list] = {f.name: [] for f in SCHEMA}
    for g, p, ids, _, _ in _problems(batch):
        res = dismantle_problem(
            p, target_size(p.n, fraction), exact_max=exact_max, method=method, reinsertion=reinsertion, seed=seed,
            search_rounds=rounds, proof_seconds=proof_seconds, search_seconds=search_seconds,
        )
        _emit_group(out, g, ids, p.harm, res)
    return pa.table(out, schema=SCHEMA)


def _prove_batch(batch: pa.Table, *, fraction: float, proof_seconds: float, deadline: float) -> pa.Table:
    """Second pass: each group's first-pass order (node column `removed_step`) given to the integer
    program, within `proof_seconds` per group and the stage's wall-clock `deadline` (time.time())."""
    out: dict[str, list] = {f.name: [] for f in SCHEMA}
    for g, p, ids, where, cols in _problems(batch):
        steps = {v: cols["removed_step"][where[v]] for v in range(p.n) if cols["removed_step"][where[v]] is not None}
        order = sorted(steps, key=steps.__getitem__)
        first = where[0]
        res = Result(order, largest_after_each(p, order), target_size(p.n, fraction),
                     bool(cols["target_reached"][first]), False, cols["method"][first], 0,
                     time_cut=cols["first_cut"][first] is not None)
        left = min(proof_seconds, deadline - time.time())
        proved = with_proof(p, res, left)
        if left <= 0 and not proved.exact:
            proved.time_cut = True  # the stage's proof deadline passed before this group's turn
        _emit_group(out, g, ids, p.harm, proved)
    return pa.table(out, schema=SCHEMA)


def _summary(engine, rows: str) -> tuple[list[int], tuple]:
    """Per-group counts from the summary rows (step 0), and step counts of the published table."""
    summary = engine.fetch_rows(
        f"""SELECT count(*), coalesce(sum(CASE WHEN exact THEN 1 ELSE 0 END), 0),
                   coalesce(sum(CASE WHEN target_reached THEN 0 ELSE 1 END), 0),
                   coalesce(sum(CASE WHEN optimal THEN 1 ELSE 0 END), 0),
                   coalesce(sum(CASE WHEN gap > 0 THEN 1 ELSE 0 END), 0),
                   coalesce(sum(gap), 0), coalesce(max(gap), 0),
                   coalesce(sum(CASE WHEN method = 'ilp' THEN 1 ELSE 0 END), 0),
                   coalesce(sum(CASE WHEN {_CUT_COLUMN} IS NOT NULL THEN 1 ELSE 0 END), 0)
            FROM {rows} WHERE step = {_SUMMARY_STEP}"""
    )[0]
    stats = engine.fetch_rows(f"SELECT count(*), count(DISTINCT group_id), coalesce(max(step), 0) FROM {OUTPUT}")[0]
    return [int(x) for x in summary], stats


def run(engine, settings) -> StageOutput:
    offender_harm = "coalesce(h.harm_cchi, 0)"
    nodes_sql = f"""
        SELECT n.group_id, n.nominal_id,
               CAST(row_number() OVER (PARTITION BY n.group_id ORDER BY n.nominal_id) - 1 AS INT) AS a,
               CAST(row_number() OVER (PARTITION BY n.group_id ORDER BY {offender_harm} DESC, n.nominal_id) - 1 AS INT)
                   AS tie,
               CAST({offender_harm} AS DOUBLE) AS harm,
               s.nominal_id IS NOT NULL AS flagged
        FROM network_nominals n
        JOIN network_groups g ON g.group_id = n.group_id AND g.size >= 3
        LEFT JOIN nominal_harm h ON h.nominal_id = n.nominal_id
        LEFT JOIN (SELECT DISTINCT nominal_id FROM safeguarding) s ON s.nominal_id = n.nominal_id
    """
    engine.create_table("_dismantle_nodes", nodes_sql)
    # Only links with both ends in the same group: a Leiden split leaves links between parts.
    select_sql = """
        SELECT group_id, 'node' AS kind, nominal_id, a, CAST(NULL AS INT) AS b, tie, harm, flagged,
               CAST(NULL AS DOUBLE) AS weight
        FROM _dismantle_nodes
        UNION ALL
        SELECT x.group_id, 'edge' AS kind, CAST(NULL AS VARCHAR) AS nominal_id, x.a, y.a AS b,
               CAST(NULL AS INT) AS tie, CAST(NULL AS DOUBLE) AS harm, CAST(NULL AS BOOLEAN) AS flagged,
               CAST(e.weight AS DOUBLE) AS weight
        FROM combined_edges e
        JOIN _dismantle_nodes x ON x.nominal_id = e.nominal_a
        JOIN _dismantle_nodes y ON y.nominal_id = e.nominal_b AND y.group_id = x.group_id
    """
    engine.map_groups("_dismantle_all", select_sql, "group_id", _group_fn(settings), SCHEMA)
    given, rows = _prove_pass(engine, settings, select_sql)
    engine.create_table(
        OUTPUT,
        f"SELECT * FROM {rows} WHERE step > {_SUMMARY_STEP} ORDER BY group_id, step",
    )
    summary, stats = _summary(engine, rows)
    no_steps = engine.scalar(
        f"""SELECT count(*) FROM {rows} s WHERE s.step = {_SUMMARY_STEP}
            AND NOT EXISTS (SELECT 1 FROM {rows} d WHERE d.group_id = s.group_id AND d.step > 0)"""
    )
    engine.drop("_dismantle_nodes")
    engine.drop("_dismantle_all")
    if rows != "_dismantle_all":
        engine.drop(rows)
    facts = _facts(settings, summary, stats, no_steps)
    facts["groups_given_to_ilp"] = given
    return StageOutput(tables=(OUTPUT,), facts=facts)


def _prove_pass(engine, settings, select_sql: str) -> tuple[int, str]:
    """The integer program on the `dismantle_proof_groups` most harmful groups (harm of the nominals
    that may be removed, then group id) whose cheap bound leaves a gap; their rows in `_dismantle_all`
    are replaced by the proof's. Returns how many groups it was given and the table of all rows."""
    if settings.dismantle_proof_seconds <= 0 or settings.dismantle_proof_groups <= 0:
        return 0, "_dismantle_all"
    engine.create_table("_dismantle_rank", f"""
        SELECT group_id, CAST(row_number() OVER (ORDER BY harm DESC, group_id) AS INT) AS proof_rank FROM (
            SELECT s.group_id, coalesce(sum(CASE WHEN n.flagged THEN 0 ELSE n.harm END), 0) AS harm
            FROM _dismantle_all s JOIN _dismantle_nodes n ON n.group_id = s.group_id
            WHERE s.step = {_SUMMARY_STEP} AND s.gap > 0 GROUP BY s.group_id) t
        ORDER BY proof_rank LIMIT {int(settings.dismantle_proof_groups)}""")
    given = int(engine.scalar("SELECT count(*) FROM _dismantle_rank") or 0)
    rows = "_dismantle_all"
    if given:
        # The group key is the rank, so the engine hands the most harmful groups over first: under the
        # stage's wall-time safety net they are the ones that get the solver.
        prove_sql = f"""
            SELECT r.proof_rank, x.*, d.step AS removed_step, m.method, m.target_reached,
                   m.{_CUT_COLUMN} AS first_cut
            FROM ({select_sql}) x
            JOIN _dismantle_rank r ON r.group_id = x.group_id
            JOIN _dismantle_all m ON m.group_id = x.group_id AND m.step = {_SUMMARY_STEP}
            LEFT JOIN _dismantle_all d ON x.kind = 'node' AND d.group_id = x.group_id AND d.nominal_id = x.nominal_id
                AND d.step > {_SUMMARY_STEP}"""
        deadline = time.time() + float(settings.dismantle_proof_stage_seconds)
        engine.map_groups("_dismantle_proved", prove_sql, "proof_rank", _prove_fn(settings, deadline), SCHEMA,
                          costly=True)
        engine.create_table("_dismantle_kept", """
            SELECT * FROM _dismantle_all WHERE group_id NOT IN (SELECT group_id FROM _dismantle_rank)
            UNION ALL SELECT * FROM _dismantle_proved""")
        engine.drop("_dismantle_proved")
        rows = "_dismantle_kept"
    engine.drop("_dismantle_rank")
    return given, rows


def _facts(settings, summary, stats, no_steps) -> dict:
    groups, exact_groups, unbroken, optimal, with_gap, gap_sum, gap_max, by_ilp, cut_by_time = summary
    return {
        "groups_dismantled": groups,
        "groups_exact": exact_groups,
        "groups_heuristic": groups - exact_groups,
        "heuristic_method": settings.dismantle_method
        + ("+reinsertion+search" if settings.dismantle_method == "gnd" and settings.dismantle_reinsertion else ""),
        "groups_target_not_reached": unbroken,
        "groups_without_steps": int(no_steps or 0),
        "steps": int(stats[0]),
        "longest_order": int(stats[2]),
        "groups_optimal": optimal,
        "groups_with_gap": with_gap,
        "removals_above_lower_bounds": gap_sum,
        "largest_gap": gap_max,
        "groups_solved_by_ilp": by_ilp,
        # Groups whose work a wall-time safety net (dismantle_search_seconds on groups above 300
        # nominals, dismantle_proof_seconds, dismantle_proof_stage_seconds) cut short: their rows may
        # differ on an idler or faster machine. 0 means the table depends on the settings alone.
        "groups_cut_by_time": cut_by_time,
        "proof_seconds_per_group": float(settings.dismantle_proof_seconds),
        "proof_groups_limit": int(settings.dismantle_proof_groups),
    }


STAGE = Stage(
    "dismantle",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("combined_edges", "network_nominals", "network_groups", "nominal_harm", "safeguarding"),
    writes=(OUTPUT,),
)
