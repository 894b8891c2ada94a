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
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pyarrow as pa

from hiddennet import allage, continuity, dismantle, harm, ingest, layers, network, publish, safeguard, select
from hiddennet.engine import Engine, make_engine
from hiddennet.safeguard import fairness
from hiddennet.settings import Settings
from hiddennet.stage import Stage, StageContext, StageOutput, run_stage

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
            manifest = run_stages(engine, Path(input_dir), out_dir, settings, progress)
            if in_memory:
                # Written once, after the manifest: the run folder's commit lists and hashes it with the rest.
                engine.save_database(database)
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)  # spill files are scratch, never part of the run
    return RunResult(out_dir=out_dir, manifest=manifest)


def run_stages(
    engine: Engine, input_dir: Path, out_dir: Path, settings: Settings, progress: ProgressFn | None = None,
    stages: tuple[Stage, ...] = STAGES,
) -> dict:
    """Run `stages` in order on `engine`; returns the manifest publish wrote."""
    ctx = StageContext(
        input_dir=input_dir, out_dir=out_dir, rerun=partial(rerun_priority, engine), rerun_stages=rerun_priority,
        engine_factory=make_engine,
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
        if stage.resolves:
            # Later stages see the resolved values (as_of), never None.
            settings = settings.model_copy(update={k: result.facts[k] for k in stage.resolves})
        if progress:
            progress(stage.name, "done", ctx.timings[stage.name])
    return {}


def rerun_priority(engine: Engine, base: Settings, settings: Settings, scope: str) -> pa.Table:
    """Rerun the layers-to-priority stages with other settings in a scratch namespace.

    Returns the members of the ranked groups (group_id, priority_rank, nominal_id) as Arrow, for the
    stability checks of the fairness stage. The run's own tables are untouched. What a rerun cannot
    change is reused from the run: when only the layer weights differ from the run's (`base`), the
    run's `edges` (layers do not read the weights); the run's `crime_harm` always (harm reads only
    settings no variant changes); the run's `safeguarding` when the variant's network holds the same
    people (who is flagged depends on the network's people, not on its groups: safeguard/__init__.py).
    """
    engine.create_table("_stability_people", "SELECT DISTINCT nominal_id FROM network_nominals")
    try:
        return _rerun_in_scope(engine, base, settings, scope)
    finally:
        engine.drop("_stability_people")


def _rerun_in_scope(engine: Engine, base: Settings, settings: Settings, scope: str) -> pa.Table:
    with engine.scope(scope):
        if settings.model_dump(exclude={"layer_weight"}) != base.model_dump(exclude={"layer_weight"}):
            _nested(engine, layers.STAGE, lambda: layers.run(engine, settings))
        _nested(engine, network.STAGE, lambda: network.run(engine, settings, ranking_only=True))
        if not _same_people(engine):
            _nested(engine, safeguard.STAGE, lambda: safeguard.run(engine, settings))
        _nested(engine, _HARM_RANKING, lambda: harm.run(engine, settings, ranking_only=True))
        return engine.fetch_arrow(
            "SELECT g.group_id, g.priority_rank, n.nominal_id FROM group_harm g "
            "JOIN network_nominals n USING (group_id) WHERE g.priority_rank IS NOT NULL"
        )


# harm in a rerun: the ranking tables only, crime_harm read from the run (harm.run ranking_only).
_HARM_RANKING = replace(harm.STAGE, reads=(*(t for t in harm.STAGE.reads if t != "crimes"), "crime_harm"),
                        writes=("nominal_harm", "group_harm"))


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
