"""One run, top to bottom. Each stage reads named tables from the engine and writes named tables.

    ingest     input folder            -> crimes, nominals, crime_nominals, intel_logs, intel_nominals,
                                          custody_cells, soc_nominals, soc_edges, quarantine
    select     crimes, nominals,
               crime_nominals          -> full_table, final_table, selection_summary
    layers     full_table, final_table,
               intel_*, custody_cells,
               soc_*                   -> edges
    network    edges, soc_nominals     -> combined_edges, network_nominals, network_groups
    safeguard  crimes, nominals, crime_nominals,
               full_table, final_table,
               network_nominals        -> safeguarding
    harm       crimes, crime_nominals, network_*,
               safeguarding            -> crime_harm, nominal_harm, group_harm, harm_explained
    dismantle  combined_edges, network_*,
               nominal_harm, safeguarding -> dismantling
    fairness   all of the above; reruns
               layers..harm with
               perturbed settings      -> fairness, data_gaps
    publish                            -> nominals, groups, <out>/tables/*.parquet, manifest.json

The engine is made here and passed in; no stage imports an engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hiddennet import dismantle, harm, ingest, layers, network, publish, safeguard, select
from hiddennet.safeguard import fairness
from hiddennet.engine import make_engine
from hiddennet.settings import Settings
from hiddennet.stage import StageOutput

# Called with (stage name, "start" | "done", seconds so far) so the CLI can show progress.
ProgressFn = Callable[[str, str, float], None]


@dataclass
class RunResult:
    out_dir: Path
    manifest: dict


def run_pipeline(
    input_dir: Path, out_dir: Path, settings: Settings, progress: ProgressFn | None = None
) -> RunResult:
    """Run every stage on the extracts in `input_dir` and publish the outputs to `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "hiddennet.duckdb"
    database.unlink(missing_ok=True)
    timings: dict[str, float] = {}
    outputs: dict[str, StageOutput] = {}

    def step(name: str, fn: Callable[[], StageOutput]) -> StageOutput:
        if progress:
            progress(name, "start", 0.0)
        t0 = time.perf_counter()
        result = fn()
        timings[name] = round(time.perf_counter() - t0, 3)
        outputs[name] = result
        if progress:
            progress(name, "done", timings[name])
        return result

    with make_engine(settings, database=database) as engine:
        ingested = step("ingest", lambda: ingest.run(engine, settings, Path(input_dir)))
        # Every later stage sees the resolved reference date, never None.
        settings = settings.model_copy(update={"as_of": ingested.facts["as_of"]})
        step("select", lambda: select.run(engine, settings))
        step("layers", lambda: layers.run(engine, settings))
        step("network", lambda: network.run(engine, settings))
        step("safeguard", lambda: safeguard.run(engine, settings))
        step("harm", lambda: harm.run(engine, settings))
        step("dismantle", lambda: dismantle.run(engine, settings))
        step("fairness", lambda: fairness.run(engine, settings, rerun=lambda s, scope: rerun_priority(engine, settings, s, scope),
                                              rerun_stages=rerun_priority))
        manifest = publish.run(engine, settings, out_dir, outputs, timings, input_dir=Path(input_dir))
    return RunResult(out_dir=out_dir, manifest=manifest)


def rerun_priority(engine, base: Settings, settings: Settings, scope: str):
    """Rerun the layers-to-priority stages with other settings in a scratch namespace.

    Returns the members of the ranked groups (group_id, priority_rank, nominal_id) as Arrow, for the
    stability checks of the fairness stage. The run's own tables are untouched. When only the layer
    weights differ from the run's (`base`), the run's `edges` are reused: layers do not read them.
    """
    with engine.scope(scope):
        if settings.model_dump(exclude={"layer_weight"}) != base.model_dump(exclude={"layer_weight"}):
            layers.run(engine, settings)
        network.run(engine, settings, ranking_only=True)
        safeguard.run(engine, settings)
        harm.run(engine, settings)
        return engine.fetch_arrow(
            "SELECT g.group_id, g.priority_rank, n.nominal_id FROM group_harm g "
            "JOIN network_nominals n USING (group_id) WHERE g.priority_rank IS NOT NULL"
        )
