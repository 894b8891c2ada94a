"""One run, top to bottom: each stage reads named tables from the engine and writes named tables.

The stages run in the order of `STAGES`; each declares what it reads and writes (its `STAGE`, see
hiddennet/stage.py), and the map of stages and tables in docs/tables.md is generated from those
declarations (`python -m hiddennet.tables`). The engine is made here and passed in; no stage
imports an engine. Every engine failure is reported once, naming the stage and the table.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pyarrow as pa

from hiddennet import allage, continuity, dismantle, harm, ingest, layers, network, publish, safeguard, select
from hiddennet.engine import Engine, make_engine
from hiddennet.engine.threads import release_free_memory
from hiddennet.safeguard import fairness
from hiddennet.settings import Settings
from hiddennet.stage import Stage, StageContext, StageOutput, run_stage
from hiddennet.tables import table as registry_table

# Called with (stage name, "start" | "done", seconds so far) so the CLI can show progress.
ProgressFn = Callable[[str, str, float], None]

STAGES: tuple[Stage, ...] = (
    ingest.STAGE,
    continuity.STAGE,
    select.STAGE,
    layers.STAGE,
    network.STAGE,
    safeguard.STAGE,
    harm.STAGE,
    allage.STAGE,
    dismantle.STAGE,
    safeguard.TRIAGE_STAGE,
    continuity.CHANGES_STAGE,
    fairness.STAGE,
    publish.STAGE,
)


@dataclass
class RunResult:
    out_dir: Path
    manifest: dict


def run_pipeline(
    input_dir: Path, out_dir: Path, settings: Settings, progress: ProgressFn | None = None, *, wait: bool = False
) -> RunResult:
    """Run every stage on the extracts in `input_dir` and publish the outputs to `out_dir`: written in a
    temporary folder beside it and swapped in whole, under a lock (`wait`: wait for another run's lock)."""
    from hiddennet import rundir

    with rundir.writing(out_dir, wait=wait) as staging:
        _run_into(input_dir, staging.path, settings, progress)
    assert staging.manifest is not None  # set by the commit; a failed run raised above
    if settings.history_dir is not None:
        # Registered once complete: the history only ever holds whole runs (docs/continuity.md).
        continuity.history.register(settings.history_dir, out_dir)
    return RunResult(out_dir=Path(out_dir), manifest=staging.manifest)


def _run_into(
    input_dir: Path, out_dir: Path, settings: Settings, progress: ProgressFn | None = None
) -> RunResult:
    """Run every stage on the extracts in `input_dir` and publish the outputs to `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "hiddennet.duckdb"
    database.unlink(missing_ok=True)
    in_memory = settings.engine == "duckdb" and settings.duckdb_database == "memory"
    spill = None
    if in_memory and settings.duckdb_temp_directory is None:
        # An in-memory database would otherwise spill to `.tmp` in the working directory.
        spill = out_dir / "hiddennet.duckdb.tmp"
        settings = settings.model_copy(update={"duckdb_temp_directory": str(spill)})
    try:
        with make_engine(settings, database=":memory:" if in_memory else database) as engine:
            copy = _DatabaseCopy(engine, database) if in_memory else None
            try:
                manifest = run_stages(engine, Path(input_dir), out_dir, settings, progress,
                                      tables_final=copy.start if copy else None)
                if copy is not None:
                    copy.finish()  # before the run folder's commit, which lists and hashes it with the rest
            finally:
                if copy is not None:
                    copy.close()
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)  # spill files are scratch, never part of the run
    return RunResult(out_dir=out_dir, manifest=manifest)


class _DatabaseCopy:
    """An in-memory run's tables copied once into the run's `hiddennet.duckdb`: from the moment
    publish's tables are final (`start`), on a sibling of the engine in a thread, so that the copy
    runs while publish writes the Parquet files; after them on the engine itself when it has no
    sibling or `start` was never called."""

    def __init__(self, engine: Engine, path: Path):
        self.engine, self.path = engine, path
        self._pool: ThreadPoolExecutor | None = None
        self._twin: Engine | None = None
        self._future: Future | None = None

    def start(self) -> None:
        self._twin = self.engine.sibling()
        if self._twin is not None:
            self._pool = ThreadPoolExecutor(max_workers=1)
            self._future = self._pool.submit(self._twin.save_database, self.path)

    def finish(self) -> None:
        """Wait for the copy (its error raised here), or make it now."""
        if self._future is None:
            self.engine.save_database(self.path)
        else:
            self._future.result()

    def close(self) -> None:
        # After a failure too: the thread must end before the engine it reads is closed.
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._twin is not None:
            self._twin.close()


def run_stages(
    engine: Engine, input_dir: Path, out_dir: Path, settings: Settings, progress: ProgressFn | None = None,
    stages: tuple[Stage, ...] = STAGES, tables_final: Callable[[], None] | None = None,
) -> dict:
    """Run `stages` in order on `engine`; returns the manifest publish wrote. `tables_final`: see
    StageContext (publish calls it once the run's tables are final)."""
    ctx = StageContext(
        input_dir=input_dir, out_dir=out_dir, rerun=partial(rerun_priority, engine), rerun_stages=rerun_priority,
        engine_factory=make_engine, tables_final=tables_final,
    )
    # The timings of the stages before publish are the manifest's; publish itself is not timed.
    for stage in stages:
        if progress and stage is not publish.STAGE:
            progress(stage.name, "start", 0.0)
        t0 = time.perf_counter()
        result = run_stage(stage, engine, settings, ctx)
        if stage is publish.STAGE:
            return result.facts["manifest"]
        ctx.timings[stage.name] = round(time.perf_counter() - t0, 3)
        ctx.outputs[stage.name] = result
        # What a stage's Python work freed (arrays, Arrow buffers) goes back to the system, not kept
        # by the allocators for reuse: the next stage's peak then starts from the tables alone.
        pa.default_memory_pool().release_unused()
        release_free_memory()
        if stage.resolves:
            # Later stages see the resolved values (as_of), never None.
            settings = settings.model_copy(update={k: result.facts[k] for k in stage.resolves})
        if progress:
            progress(stage.name, "done", ctx.timings[stage.name])
    return {}


def rerun_priority(engine: Engine, base: Settings, settings: Settings, scope: str) -> pa.Table:
    """Rerun the layers-to-priority stages with other settings in a scratch namespace.

    Returns the members of the groups ranked 1..TOP (group_id, priority_rank, nominal_id) as Arrow,
    for the stability checks of the fairness stage. The run's own tables are untouched and the
    namespace is emptied afterwards. What a rerun cannot change is reused from the run: when only the
    layer weights differ from the run's (`base`), the run's `edges` (layers do not read the weights);
    the run's `crime_harm` always (harm reads only settings no variant changes); the run's
    `safeguarding` when the variant's network holds the same people (who is flagged depends on the
    network's people, not on its groups: safeguard/__init__.py).

    A half-life variant reruns select first: the victim layer's weights are the final table's, which
    select weighs by the time between crimes and their recency (the half-lives). A gap_half_life
    variant then rebuilds only the victim and place layers and keeps the run's others (their weights
    read only recency_half_life: layers.rebuild_gap_layers); a recency one reruns the layers stage.

    A variant that only reweights the run's links (layer weights, half-lives: the same pairs linked)
    has the run's components, so every group of a component up to max_group_size is the run's, with
    the run's harm. Only the larger components are rerun (`_stable_links`: the run's stages on their
    links alone; Leiden splits each component on its own), and their new groups are ranked against the
    run's other groups (`_merged_top`). When a tie at rank TOP would need the group ids (which a
    partial rerun names differently), the whole rerun decides instead.
    """
    if _only_reweights(base, settings) and _positive_layers(settings) == _positive_layers(base):
        top = _rerun_in_scope(engine, base, settings, scope, partial=True)
        if top is not None:
            return top
    whole = _rerun_in_scope(engine, base, settings, scope, partial=False)
    assert whole is not None
    return whole


# Ranks a stability rerun must get right (fairness.TOP_N), and the settings a reweighting variant may change.
_TOP = fairness.TOP_N
_REWEIGHTING = {"layer_weight", "gap_half_life", "recency_half_life"}


def _only_reweights(base: Settings, settings: Settings) -> bool:
    return settings.model_dump(exclude=_REWEIGHTING) == base.model_dump(exclude=_REWEIGHTING)


def _positive_layers(settings: Settings) -> set[str]:
    # A layer weighted 0 links nothing (network.combined_sql): leaving one out changes the links.
    return {k for k, v in settings.layer_weight.model_dump().items() if v > 0}


def _rerun_in_scope(engine: Engine, base: Settings, settings: Settings, scope: str, *, partial: bool
                    ) -> pa.Table | None:
    """The variant's ranked members, whole or (`partial`) from the large components alone; None when
    the partial rerun cannot decide (links differ from the run's, or a tie at rank TOP)."""
    with engine.scope(scope):
        try:
            if (settings.gap_half_life, settings.recency_half_life) != (base.gap_half_life, base.recency_half_life):
                _nested(engine, select.STAGE, lambda: select.run(engine, settings))
            # Only the layer weights differ: the run's `edges` serve (layers do not read the weights).
            run_edges = settings.model_dump(exclude={"layer_weight"}) == base.model_dump(exclude={"layer_weight"})
            gap_only = (settings.model_dump(exclude={"layer_weight", "gap_half_life"})
                        == base.model_dump(exclude={"layer_weight", "gap_half_life"}))
            if not run_edges and gap_only:
                # Only the victim and place layers' weights move: the run's other layers serve.
                _nested(engine, _GAP_LAYERS, lambda: layers.rebuild_gap_layers(engine, settings))
            elif not run_edges:
                _nested(engine, layers.STAGE, lambda: layers.run(engine, settings))
            if partial:
                # The run's edges with the same layers above 0 (rerun_priority checked) link the same
                # pairs: network.combined_sql keeps a pair some positively weighted layer links.
                return _partial_rerun(engine, settings, same_pairs=run_edges)
            # The run's people, before the namespace's network hides the run's; in the namespace, so
            # that reruns side by side (fairness._reruns_in_threads) keep their own.
            engine.create_table("_stability_people", "SELECT DISTINCT nominal_id FROM network_nominals")
            _nested(engine, network.STAGE, lambda: network.run(engine, settings, ranking_only=True))
            if not _same_people(engine):
                _nested(engine, safeguard.STAGE, lambda: safeguard.run(engine, settings))
            _nested(engine, _HARM_RANKING, lambda: harm.run(engine, settings, ranking_only=True))
            # Ranks 1..TOP only: a worker process sends these back, and the whole ranking is millions of rows.
            return engine.fetch_arrow(
                "SELECT g.group_id, g.priority_rank, n.nominal_id FROM group_harm g "
                f"JOIN network_nominals n USING (group_id) WHERE g.priority_rank <= {_TOP}"
            )
        finally:
            # 13 reruns must not hold 13 copies of the network: the namespace is scratch.
            for name in (*_SCOPE_TABLES, "_stability_kept", "_stability_people"):
                engine.drop(name)


def _partial_rerun(engine: Engine, settings: Settings, same_pairs: bool) -> pa.Table | None:
    measure = "rank_harm_ons" if settings.priority_measure == "ons" else "rank_harm_cchi"
    large = _large_components_sql(settings)
    # The run's best-ranked groups outside the large components, before the scope's tables hide the run's.
    engine.create_table("_stability_kept", f"""
        SELECT g.group_id, g.{measure} AS measure, g.size, n.nominal_id
        FROM (SELECT * FROM group_harm WHERE priority_rank IS NOT NULL AND group_id NOT IN (
                  SELECT group_id FROM network_groups WHERE parent_component IN ({large}))
              ORDER BY priority_rank LIMIT {_TOP + 1}) g
        JOIN network_nominals n ON n.group_id = g.group_id""")
    links = _nested(engine, _STABLE_LINKS, lambda: _stable_links(engine, settings, same_pairs))
    if not links.facts["same_links"]:
        return None
    _nested(engine, network.STAGE, lambda: network.run(engine, settings, ranking_only=True))
    # Same people as the run, so the run's safeguarding flags hold (see rerun_priority).
    _nested(engine, _HARM_RANKING, lambda: harm.run(engine, settings, ranking_only=True))
    rows = engine.fetch_arrow(f"""
        SELECT group_id, measure, size, nominal_id FROM _stability_kept
        UNION ALL
        SELECT g.group_id, g.{measure}, g.size, n.nominal_id FROM group_harm g
        JOIN network_nominals n USING (group_id)
        WHERE g.group_id IN (SELECT group_id FROM group_harm WHERE priority_rank IS NOT NULL
                             ORDER BY priority_rank LIMIT {_TOP + 1})""")
    return _merged_top(rows)


def _large_components_sql(settings: Settings) -> str:
    """The run's components over max_group_size (the ones Leiden splits), by parent component name."""
    return (f"SELECT parent_component FROM network_groups GROUP BY parent_component "
            f"HAVING sum(size) > {int(settings.max_group_size)}")


def _stable_links(engine: Engine, settings: Settings, same_pairs: bool = False) -> StageOutput:
    """When the variant links exactly the run's pairs (`same_pairs`: known so, else compared in SQL),
    `edges` in the scope becomes the links of the run's large components only (components are
    closed under links, so no link leaves them)."""
    if not same_pairs:
        engine.create_table("_stable_pairs", network.combined_sql(settings))
        differ = engine.scalar(
            "SELECT count(*) FROM _stable_pairs v FULL OUTER JOIN combined_edges c ON c.nominal_a = v.nominal_a "
            "AND c.nominal_b = v.nominal_b WHERE v.nominal_a IS NULL OR c.nominal_a IS NULL")
        engine.drop("_stable_pairs")
        if differ:
            return StageOutput(tables=(), facts={"same_links": False})
    engine.create_table("_stable_edges", f"""
        SELECT e.* FROM edges e WHERE e.nominal_a IN (
            SELECT n.nominal_id FROM network_nominals n JOIN network_groups g USING (group_id)
            WHERE g.parent_component IN ({_large_components_sql(settings)}))""")
    engine.create_table("edges", "SELECT * FROM _stable_edges")
    engine.drop("_stable_edges")
    return StageOutput(tables=("edges",), facts={"same_links": True})


def _merged_top(rows: pa.Table) -> pa.Table | None:
    """Ranks 1..TOP of the run's kept groups and the rerun's new ones, by harm's order (measure, then
    size, both descending); None when rank TOP and the next share both, so that the group ids
    (harm's last tie-break) would decide."""
    groups: dict[str, tuple[float, int, list[str]]] = {}
    for g, m, size, nominal in zip(*(rows.column(c).to_pylist() for c in ("group_id", "measure", "size", "nominal_id")),
                                   strict=True):
        groups.setdefault(g, (m, size, []))[2].append(nominal)
    order = sorted(groups.values(), key=lambda t: (-t[0], -t[1]))
    if len(order) > _TOP and order[_TOP - 1][:2] == order[_TOP][:2]:
        return None
    out: dict[str, list] = {"group_id": [], "priority_rank": [], "nominal_id": []}
    for rank, (_, _, members) in enumerate(order[:_TOP], start=1):
        for nominal in members:
            out["group_id"].append(f"rank-{rank}")
            out["priority_rank"].append(rank)
            out["nominal_id"].append(nominal)
    return pa.table(out, schema=pa.schema([("group_id", pa.string()), ("priority_rank", pa.int32()),
                                           ("nominal_id", pa.string())]))


# harm in a rerun: the ranking tables only, crime_harm read from the run (harm.run ranking_only).
_HARM_RANKING = replace(harm.STAGE, reads=(*(t for t in harm.STAGE.reads if t != "crimes"), "crime_harm"),
                        writes=("nominal_harm", "group_harm"))


# What a rerun's stages write in its namespace (all dropped when it ends).
_SCOPE_TABLES = tuple(dict.fromkeys(
    registry_table(t).sql_name for stage in (select.STAGE, layers.STAGE, network.STAGE, safeguard.STAGE, harm.STAGE)
    for t in stage.writes))
# The partial rerun's own step: it reads the run's network and rewrites `edges` in the namespace.
_STABLE_LINKS = Stage("stability_links", lambda engine, settings, ctx: _stable_links(engine, settings),
                      reads=("edges", "network_nominals", "network_groups"), optional_reads=("combined_edges",),
                      writes=("edges",))


# A gap_half_life rerun's layers: the run's edges, the victim and place layers built again.
_GAP_LAYERS = Stage("stability_gap_layers", lambda engine, settings, ctx: layers.rebuild_gap_layers(engine, settings),
                    reads=("edges",), optional_reads=("final_table", "profile_crimes", "crimes", "crime_nominals",
                                                      "missing_episodes"),
                    writes=("edges",))


def _same_people(engine: Engine) -> bool:
    """The scope's network holds exactly the run's network nominals (`_stability_people`)."""
    return not engine.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT nominal_id FROM network_nominals) n "
        "FULL OUTER JOIN _stability_people p ON p.nominal_id = n.nominal_id "
        "WHERE n.nominal_id IS NULL OR p.nominal_id IS NULL"
    )


def _nested(engine: Engine, stage: Stage, fn: Callable[[], StageOutput]) -> StageOutput:
    """A stage rerun inside another (fairness), checked against its own declaration."""
    with engine.in_stage(stage):
        return fn()
