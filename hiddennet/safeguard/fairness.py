"""Checks for bias and robustness, per run (the `fairness` and `data_gaps` tables).

Composition: sex, ethnicity and age band of three populations, each compared with all nominals of
the network by a disproportionality ratio (share in the population / share in all nominals):
- `all_nominals`: every nominal of the network (`network_nominals`);
- `prioritised_members`: members of groups with a priority rank (`group_harm`), leaving out people
  flagged for safeguarding, who are never targets;
- `dismantling_picks`: the people chosen in dismantling orders (`dismantling`).
Demographics are the resolved values of the person table (`nominals`); ethnicity is only ever
counted here, never shown per person.

Small cells: a count from 1 to `min_cell_count - 1` is suppressed (count, share and ratio NULL,
suppressed true). Since the size of each population is published elsewhere, one suppressed cell
alone in a measure could be recovered by subtraction, so the smallest other cell (non-zero cells
first, then in category order) is suppressed with it (secondary suppression). Zero counts are shown.

Stability: the top 10 ranked groups of the run are compared with the top 10 of each variant run
(`rerun(variant_settings, scope)`); group ids differ between runs, so a run group is *kept* when a
variant top-10 group has a Jaccard overlap of members of at least 0.5 with it.

Table `fairness` rows: measure `composition` (category = `sex`, `ethnicity` or `age_band`, value =
the category's value) and measure `top10_stability` (population `top10_groups`, category = variant,
count = top-10 groups kept, share = kept / top-10 groups of the run).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import pyarrow as pa

from hiddennet.engine import Engine
from hiddennet.engine.threads import cores, side_by_side
from hiddennet.settings import Settings, memory_share
from hiddennet.sql import age_years, date_lit, lit
from hiddennet.stage import EngineFactory, Stage, StageOutput
from hiddennet.tables import arrow_schema

Rerun = Callable[[Settings, str], pa.Table]
# (engine, run settings, variant settings, scope) -> the same table as Rerun, on any engine.
RerunStages = Callable[[Engine, Settings, Settings, str], pa.Table]

POPULATIONS = ("all_nominals", "prioritised_members", "dismantling_picks")
AGE_BANDS = ("under 10", "10-13", "14-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown")
CATEGORIES = {
    "sex": ("F", "M", "unknown"),
    "ethnicity": ("IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "unknown"),
    "age_band": AGE_BANDS,
}
LAYER_NAMES = ("victim", "intel", "custody", "soc")
TOP_N = 10
KEPT_JACCARD = 0.5

FAIRNESS_SCHEMA = arrow_schema("fairness")
GAPS_SCHEMA = arrow_schema("data_gaps")


def _age_band_sql(age: str) -> str:
    return (
        f"CASE WHEN {age} IS NULL THEN 'unknown' WHEN {age} < 10 THEN 'under 10' WHEN {age} < 14 THEN '10-13' "
        f"WHEN {age} < 18 THEN '14-17' WHEN {age} < 25 THEN '18-24' WHEN {age} < 35 THEN '25-34' "
        f"WHEN {age} < 45 THEN '35-44' WHEN {age} < 55 THEN '45-54' ELSE '55+' END"
    )


def run(
    engine: Engine, settings: Settings, rerun: Rerun | None = None, rerun_stages: RerunStages | None = None,
    engine_factory: EngineFactory | None = None,
) -> StageOutput:
    """`rerun(variant, scope)` reruns layers..harm on `engine`; `rerun_stages(engine, base, variant,
    scope)` and `engine_factory(settings)`, when both are given (picklable), let the reruns go to
    worker processes, each with an engine the factory makes (a stage never makes one itself)."""
    min_cell = int(settings.min_cell_count)
    counts = _population_counts(engine, settings)
    rows, totals = composition_rows(counts, min_cell)
    stability_rows, stability_facts = _stability(engine, settings, rerun, rerun_stages, engine_factory)
    engine.register_arrow("fairness", pa.Table.from_pylist(rows + stability_rows, schema=FAIRNESS_SCHEMA))
    gaps = _data_gaps(engine)
    engine.register_arrow(
        "data_gaps", pa.Table.from_pylist([{"gap": g, "count": n} for g, n in gaps.items()], GAPS_SCHEMA)
    )
    # Taken from the rows, so that a suppressed cell stays suppressed in the facts too.
    unknown: dict[str, dict[str, float | None]] = {m: {} for m in CATEGORIES}
    for r in rows:
        if r["value"] == "unknown":
            unknown[r["category"]][r["population"]] = r["share"]
    facts = {
        "population_sizes": totals,
        "share_unknown": unknown,
        "cells_suppressed": sum(1 for r in rows if r["suppressed"]),
        "min_cell_count": min_cell,
        "largest_ratio": _largest_ratio(rows),
        "stability": stability_facts,
        "data_gaps": gaps,
    }
    return StageOutput(tables=("fairness", "data_gaps"), facts=facts)


def _share(n: int, total: int) -> float | None:
    return round(n / total, 4) if total else None


def _population_counts(engine: Engine, settings: Settings) -> dict[tuple[str, str, str], int]:
    """(population, measure, category) -> people, counted in SQL."""
    as_of = date_lit(settings.as_of)
    parts = ["SELECT DISTINCT nominal_id, 'all_nominals' AS population FROM network_nominals"]
    if engine.has_table("group_harm"):
        flagged = (
            "AND n.nominal_id NOT IN (SELECT nominal_id FROM safeguarding)" if engine.has_table("safeguarding") else ""
        )
        parts.append(
            "SELECT DISTINCT n.nominal_id, 'prioritised_members' AS population FROM network_nominals n "
            f"JOIN group_harm g ON g.group_id = n.group_id WHERE g.priority_rank IS NOT NULL {flagged}"
        )
    if engine.has_table("dismantling"):
        parts.append("SELECT DISTINCT nominal_id, 'dismantling_picks' AS population FROM dismantling")
    age = age_years("p.date_of_birth", as_of)
    age_band = _age_band_sql(f"CASE WHEN p.date_of_birth IS NULL THEN NULL ELSE greatest({age}, 0) END")
    rows = engine.fetch_rows(
        f"""
        WITH pop AS ({' UNION ALL '.join(parts)}),
        people AS (
            SELECT pop.population,
                   coalesce(p.sex, 'unknown') AS sex,
                   coalesce(p.ethnicity, 'unknown') AS ethnicity,
                   {age_band} AS age_band
            FROM pop LEFT JOIN nominals p ON p.nominal_id = pop.nominal_id
        )
        SELECT population, 'sex' AS measure, sex AS category, count(*) AS n FROM people GROUP BY population, sex
        UNION ALL
        SELECT population, 'ethnicity', ethnicity, count(*) FROM people GROUP BY population, ethnicity
        UNION ALL
        SELECT population, 'age_band', age_band, count(*) FROM people GROUP BY population, age_band
        """
    )
    return {(p, m, c): int(n) for p, m, c, n in rows}


def composition_rows(counts: dict[tuple[str, str, str], int], min_cell: int) -> tuple[list[dict], dict[str, int]]:
    """Rows of the composition measure with primary and secondary suppression (see the module docstring)."""
    totals = {
        p: sum(n for (pp, m, _), n in counts.items() if pp == p and m == "sex") for p in POPULATIONS
    }
    rows: list[dict] = []
    for measure, cats in CATEGORIES.items():
        # Values outside the expected codes are kept (never dropped silently), after the known ones.
        extra = sorted({c for (_, m, c) in counts if m == measure} - set(cats))
        for population in POPULATIONS:
            total = totals[population]
            cells = [(c, counts.get((population, measure, c), 0)) for c in (*cats, *extra)]
            hidden = {c for c, n in cells if 0 < n < min_cell}
            if len(hidden) == 1:
                others = [(n == 0, n, i, c) for i, (c, n) in enumerate(cells) if c not in hidden]
                if others:
                    hidden.add(min(others)[3])
            for c, n in cells:
                share = _share(n, total)
                base_total = totals["all_nominals"]
                base = counts.get(("all_nominals", measure, c), 0)
                # From the exact fractions: rounded shares would shift the ratio's last digit.
                ratio = round((n * base_total) / (total * base), 4) if total and base else None
                rows.append(
                    {
                        "measure": "composition",
                        "population": population,
                        "category": measure,
                        "value": c,
                        "count": None if c in hidden else n,
                        "share": None if c in hidden else share,
                        "ratio": None if c in hidden else ratio,
                        "suppressed": c in hidden,
                    }
                )
    # A ratio built on a suppressed base would leak it: clear ratios whose base cell is suppressed.
    hidden_base = {(r["category"], r["value"]) for r in rows if r["population"] == "all_nominals" and r["suppressed"]}
    for r in rows:
        if (r["category"], r["value"]) in hidden_base:
            r["ratio"] = None
    return rows, totals


def _largest_ratio(rows: list[dict]) -> dict | None:
    shown = [r for r in rows if r["ratio"] is not None and r["population"] != "all_nominals"]
    if not shown:
        return None
    r = max(shown, key=lambda r: r["ratio"])
    return {"population": r["population"], "category": r["category"], "value": r["value"], "ratio": r["ratio"]}


# -- stability -----------------------------------------------------------------------------------------


def variants(settings: Settings) -> list[tuple[str, Settings]]:
    """The perturbed settings of the stability check: intel left out, each half-life and layer weight +-p."""
    p = float(settings.stability_perturbation)
    lw = settings.layer_weight
    out = [("intel_left_out", settings.model_copy(update={"layer_weight": lw.model_copy(update={"intel": 0.0})}))]
    for factor, tag in ((1 - p, "down"), (1 + p, "up")):
        for name in ("gap_half_life", "recency_half_life"):
            out.append((f"{name}_{tag}", settings.model_copy(update={name: getattr(settings, name) * factor})))
    for layer in LAYER_NAMES:
        for factor, tag in ((1 - p, "down"), (1 + p, "up")):
            new = lw.model_copy(update={layer: getattr(lw, layer) * factor})
            out.append((f"layer_weight_{layer}_{tag}", settings.model_copy(update={"layer_weight": new})))
    return out


def top_groups(members: pa.Table, n: int = TOP_N) -> list[frozenset[str]]:
    """Member sets of the groups ranked 1..n, in rank order."""
    by_group: dict[str, tuple[int, set[str]]] = {}
    for g, rank, nominal in zip(
        members.column("group_id").to_pylist(),
        members.column("priority_rank").to_pylist(),
        members.column("nominal_id").to_pylist(),
        strict=True,
    ):
        if rank is None or rank > n:
            continue
        by_group.setdefault(g, (rank, set()))[1].add(nominal)
    return [frozenset(m) for _, m in sorted(by_group.values(), key=lambda t: t[0])]


def kept(run_top: list[frozenset[str]], variant_top: list[frozenset[str]]) -> int:
    """Run top groups matched by a variant top group with Jaccard >= 0.5 (majority of shared members)."""
    return sum(1 for g in run_top if any(len(g & v) / len(g | v) >= KEPT_JACCARD for v in variant_top))


def _variant_tops(
    engine: Engine, settings: Settings, rerun: Rerun, rerun_stages: RerunStages | None,
    engine_factory: EngineFactory | None = None, seconds: dict[str, float] | None = None,
) -> dict[str, list[frozenset[str]]]:
    """Top groups of every variant, each distinct variant computed once: in worker processes when
    the stages' rerun function and an engine factory are given, the engine is DuckDB and
    `stability_workers` allows more than one, else one after another through `rerun` (the same SQL
    on the same rows either way). `seconds` gets each distinct variant's rerun time (not from
    worker processes)."""
    seconds = {} if seconds is None else seconds
    named = variants(settings)
    distinct: dict[str, tuple[str, Settings]] = {}
    for name, v in named:
        distinct.setdefault(v.model_dump_json(), (name, v))
    workers = min(settings.stability_workers or cores(), len(distinct))
    threads = min(settings.stability_threads or cores(), len(distinct))
    jobs = list(distinct.values())
    members: list[pa.Table] | None = None
    if rerun_stages is not None and engine_factory is not None and engine.name == "duckdb" and workers > 1:
        members = _reruns_in_processes(engine, settings, jobs, rerun_stages, engine_factory, workers)
    elif rerun_stages is not None and threads > 1:
        members = _reruns_in_threads(engine, settings, jobs, _timed(rerun_stages, seconds), threads)
    if members is None:
        timed = _timed(lambda _e, _b, v, scope: rerun(v, scope), seconds)
        members = [timed(engine, settings, v, f"stability_{name}") for name, v in jobs]
    by_key = {key: top_groups(m) for key, m in zip(distinct, members, strict=True)}
    return {name: by_key[v.model_dump_json()] for name, v in named}


def _timed(rerun_stages: RerunStages, seconds: dict[str, float]) -> RerunStages:
    """rerun_stages that records each rerun's wall seconds by variant (reruns side by side overlap)."""
    def run(engine: Engine, base: Settings, variant: Settings, scope: str) -> pa.Table:
        t0 = time.perf_counter()
        try:
            return rerun_stages(engine, base, variant, scope)
        finally:
            seconds[scope.removeprefix("stability_")] = round(time.perf_counter() - t0, 3)
    return run


def _reruns_in_threads(
    engine: Engine, base: Settings, jobs, rerun_stages: RerunStages, threads: int
) -> list[pa.Table] | None:
    """The variants side by side in `threads` threads, each on its own sibling of `engine` (the same
    database, its own namespaces); None when the engine has no siblings. Each variant's rerun reads
    only the run's tables and writes only its own namespace, so the order they run in changes nothing."""
    return side_by_side(engine, jobs, lambda twin, job: rerun_stages(twin, base, job[1], f"stability_{job[0]}"),
                        threads)


def _reruns_in_processes(
    engine: Engine, base: Settings, jobs, rerun_stages: RerunStages, engine_factory: EngineFactory, workers: int
) -> list[pa.Table]:
    """Each variant in a worker process with its own in-memory DuckDB, one thread each, reading the
    run's tables from Parquet copies in an owner-only temporary folder (deleted at the end)."""
    names = [r[0] for r in engine.fetch_rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' ORDER BY table_name")]
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with tempfile.TemporaryDirectory(prefix="hiddennet-stability-") as folder:
        for n in names:
            engine.write_parquet(n, Path(folder) / f"{n}.parquet")
        work = partial(_rerun_worker, folder, names, base, rerun_stages, engine_factory, workers)
        # The run's engine waits meanwhile: it lends the workers most of the memory limit.
        with engine.memory_lent(_RUN_MEMORY), ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
            return list(pool.map(work, jobs))


# Share of the memory limit the run's engine keeps while the rerun workers run (Engine.memory_lent).
_RUN_MEMORY = 0.25


def _rerun_worker(folder: str, names: list[str], base: Settings, rerun_stages: RerunStages,
                  engine_factory: EngineFactory, workers: int, job) -> pa.Table:
    name, variant = job
    # Each worker's DuckDB gets its share of what the run's engine lends of the memory limit (they and
    # the run's engine together stay within it) and spills into the run's owner-only temporary folder,
    # never into the working directory.
    own = base.model_copy(update={
        "duckdb_threads": 1, "duckdb_group_workers": 1,
        "duckdb_memory_limit": memory_share(base.duckdb_memory_limit, workers, 1 - _RUN_MEMORY),
        "duckdb_temp_directory": str(Path(folder) / f"spill-{name}"),
    })
    with engine_factory(own) as e:  # the worker's own engine: DuckDB, like the run's
        e.execute("SET enable_progress_bar = false")  # a worker's bar would interleave with the run's output
        for n in names:
            e.execute(f"CREATE VIEW {n} AS SELECT * FROM "
                      f"read_parquet({lit((Path(folder) / f'{n}.parquet').as_posix())})")
        return rerun_stages(e, base, variant, f"stability_{name}")


def _stability(
    engine: Engine, settings: Settings, rerun: Rerun | None, rerun_stages: RerunStages | None = None,
    engine_factory: EngineFactory | None = None,
) -> tuple[list[dict], dict]:
    if not settings.stability_checks:
        return [], {"skipped": "stability_checks is false"}
    if rerun is None:
        return [], {"skipped": "no rerun function"}
    if not (engine.has_table("group_harm") and engine.has_table("network_nominals")):
        return [], {"skipped": "no ranked groups"}
    run_top = top_groups(
        engine.fetch_arrow(
            "SELECT g.group_id, g.priority_rank, n.nominal_id FROM group_harm g "
            "JOIN network_nominals n ON n.group_id = g.group_id WHERE g.priority_rank IS NOT NULL"
        )
    )
    rows, per_variant = [], {}
    seconds: dict[str, float] = {}
    for name, variant_top in _variant_tops(engine, settings, rerun, rerun_stages, engine_factory, seconds).items():
        n_kept = kept(run_top, variant_top)
        share = _share(n_kept, len(run_top))
        per_variant[name] = {"kept": n_kept, "share": share}
        rows.append(
            {"measure": "top10_stability", "population": "top10_groups", "category": name, "value": None,
             "count": n_kept, "share": share, "ratio": None, "suppressed": False}
        )
    shares = [v["share"] for v in per_variant.values() if v["share"] is not None]
    return rows, {
        "top_groups": len(run_top),
        "variants": per_variant,
        "rerun_seconds": seconds,  # wall seconds of each distinct variant's rerun (they overlap in threads)
        "min_share_kept": min(shares) if shares else None,
        "kept_rule": f"Jaccard of members >= {KEPT_JACCARD}",
    }


# -- data gaps -----------------------------------------------------------------------------------------


# Selection measures that describe missing or doubtful data (the rest are counts of what was selected).
_GAP_WORDS = ("gap", "unknown", "missing", "no_", "without", "born_after", "mismatch", "conflict", "removed", "skipped",
              "unmapped", "invalid", "implausible", "quarantin")


def _data_gaps(engine: Engine) -> dict[str, int]:
    """Unknown demographics of the network and full table, and the gaps other stages recorded."""
    gaps: dict[str, int] = {}
    people = {
        "network_nominals": "SELECT DISTINCT nominal_id FROM network_nominals",
        "full_table_people": "SELECT offender_id AS nominal_id FROM full_table UNION SELECT victim_id FROM full_table",
    }
    for label, sql in people.items():
        if not engine.has_table(sql.split("FROM ")[1].split()[0]):
            continue
        row = engine.fetch_rows(
            f"""
            SELECT count(*) FILTER (WHERE p.sex IS NULL),
                   count(*) FILTER (WHERE p.date_of_birth IS NULL),
                   count(*) FILTER (WHERE p.ethnicity IS NULL)
            FROM ({sql}) x LEFT JOIN nominals p ON p.nominal_id = x.nominal_id
            """
        )[0]
        for col, n in zip(("sex", "date_of_birth", "ethnicity"), row, strict=True):
            gaps[f"{label}_unknown_{col}"] = int(n)
    if engine.has_table("demographic_conflicts"):
        for col, n in engine.fetch_rows(
            'SELECT "column", count(*) FROM demographic_conflicts GROUP BY "column" ORDER BY 1'
        ):
            gaps[f"demographic_conflicts_{col}"] = int(n)
    if engine.has_table("quarantine"):
        for reason, action, n in engine.fetch_rows(
            "SELECT reason, action, count(*) FROM quarantine GROUP BY reason, action ORDER BY 1, 2"
        ):
            gaps[f"quarantine_{action}_{reason}"] = int(n)
    if engine.has_table("crime_harm"):
        cchi, ons = engine.fetch_rows(
            "SELECT count(*) FILTER (WHERE cchi_basis = 'unmapped'), count(*) FILTER (WHERE ons_basis = 'unmapped') "
            "FROM crime_harm"
        )[0]
        gaps["crimes_unmapped_cchi"] = int(cchi)
        gaps["crimes_unmapped_ons"] = int(ons)
    if engine.has_table("selection_summary"):
        for measure, value in engine.fetch_rows("SELECT measure, value FROM selection_summary ORDER BY measure"):
            if any(w in str(measure).lower() for w in _GAP_WORDS):
                gaps[f"selection_{measure}"] = int(value or 0)
    return gaps


STAGE = Stage(
    "fairness",
    lambda engine, settings, ctx: run(
        engine, settings, rerun=partial(ctx.rerun, settings) if ctx.rerun else None, rerun_stages=ctx.rerun_stages,
        engine_factory=ctx.engine_factory,
    ),
    reads=("network_nominals", "input_nominals"),
    optional_reads=("group_harm", "network_groups", "safeguarding", "dismantling", "full_table",
                    "demographic_conflicts", "quarantine", "crime_harm", "selection_summary"),
    writes=("fairness", "data_gaps"),
)
