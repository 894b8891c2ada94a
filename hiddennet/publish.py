"""Publish a run: the output tables of docs/tables.md as Parquet, and manifest.json."""

from __future__ import annotations

import datetime as dt
import json
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hiddennet import __version__, resolve, rundir, tables
from hiddennet.engine import Engine
from hiddennet.fsio import private_dir, private_umask, write_private
from hiddennet.settings import Settings
from hiddennet.stage import NOTICE, Stage, StageContext, StageOutput

# Tables every run publishes besides those the stages list (docs/tables.md names these two).
ASSEMBLED = ("nominals", "groups")
# Restricted: names and PNC ids of the network's nominals, for the dashboard's identity search; rows only
# when `dashboard_identity_search` is on (the table is always published, empty by default).
IDENTITIES = "nominal_identities"
# Columns of the ingested person table that are published (as `input_nominals`): the resolved
# demographics the stages worked from (to check an age or a fairness count) and the input line.
# Names, PNC ids and extra input columns are not published: nothing downstream reads them.
_RESOLVE_TABLES = (*resolve.INPUTS, *resolve.OUTPUTS)
INPUT_NOMINAL_COLUMNS = (
    "nominal_id", "date_of_birth", "sex", "ethnicity", "date_of_birth_source", "sex_source", "ethnicity_source",
    "source_line",
)


def _identities(engine: Engine, settings: Settings) -> None:
    """`nominal_identities` from the ingested person table, before `_assemble` replaces it."""
    have = set(engine.columns("nominals"))
    cols = ", ".join(
        f"n.{c}" if c in have else f"CAST(NULL AS VARCHAR) AS {c}" for c in ("forename", "surname", "pnc_id")
    )
    keep = "" if settings.dashboard_identity_search else " AND false"
    engine.create_table(
        IDENTITIES,
        f"SELECT n.nominal_id, {cols} FROM nominals n "
        f"WHERE n.nominal_id IN (SELECT nominal_id FROM network_nominals){keep}",
    )


def _assemble(engine: Engine) -> None:
    """Join the per-stage parts into the `nominals` and `groups` tables of docs/tables.md.

    The ingested person table is also called `nominals`; its published columns are kept as `input_nominals`.
    """
    keep = [c for c in INPUT_NOMINAL_COLUMNS if c in engine.columns("nominals")]
    engine.create_table("input_nominals", "SELECT " + ", ".join(f'"{c}"' for c in keep) + " FROM nominals")
    engine.create_table(
        "nominals",
        """
        SELECT n.nominal_id, n.group_id, n.in_cse_network, n.in_soc_network, n.soc_group_ids,
               coalesce(h.harm_cchi, 0) AS harm_cchi, coalesce(h.harm_ons, 0) AS harm_ons,
               n.degree, n.weighted_degree, n.betweenness, n.betweenness_exact,
               coalesce(list_contains(s.reasons, 'child_in_network'), false) AS is_child,
               coalesce(list_contains(s.reasons, 'victim_offender_overlap'), false) AS victim_offender_overlap,
               s.nominal_id IS NOT NULL AS safeguarding_flagged
        FROM network_nominals n
        LEFT JOIN nominal_harm h USING (nominal_id)
        LEFT JOIN safeguarding s USING (nominal_id)
        ORDER BY n.group_id, n.nominal_id
        """,
    )
    engine.create_table(
        "groups",
        """
        SELECT g.group_id, g.size,
               -- NULL for a group of people to safeguard only (group_harm carries no harm for it).
               CASE WHEN h.safeguarding_only THEN NULL ELSE coalesce(h.harm_cchi, 0) END AS harm_cchi,
               CASE WHEN h.safeguarding_only THEN NULL ELSE coalesce(h.harm_ons, 0) END AS harm_ons,
               h.priority_rank, g.soc_overlap, g.parent_component,
               coalesce(h.safeguarding_only, false) AS safeguarding_only,
               g.edges,
               -- The harm that ranks the group: its members' harm leaving out people flagged for
               -- safeguarding, who are never targets (so ranks follow these, not harm_cchi).
               coalesce(h.rank_harm_cchi, 0) AS rank_harm_cchi, coalesce(h.rank_harm_ons, 0) AS rank_harm_ons,
               coalesce(h.flagged_members, 0) AS flagged_members
        FROM network_groups g LEFT JOIN group_harm h USING (group_id)
        ORDER BY h.priority_rank NULLS LAST, g.group_id
        """,
    )


def _write_sorted(engine: Engine, name: str, path: Path, meta: dict[str, str]) -> int:
    """Write table `name` as Parquet at `path`, its rows sorted on every column; returns its row count."""
    with private_umask():  # the engine's writer creates the file
        engine.write_parquet_sorted(name, path, metadata=meta)
    return engine.count(name)


def file_checksums(input_dir: Path) -> dict[str, str]:
    """SHA-256 of every file in the input folder, by file name."""
    files = [p for p in sorted(Path(input_dir).iterdir()) if p.is_file()]
    return {p.name: rundir.sha256(p) for p in files}


def run(
    engine: Engine,
    settings: Settings,
    out_dir: Path,
    outputs: dict[str, StageOutput],
    timings: dict[str, float],
    *,
    input_dir: Path,
    tables_final: Callable[[], None] | None = None,
) -> dict:
    """Write the tables and manifest.json into `out_dir` (owner-only files). The run folder's commit
    (hiddennet.rundir) then adds the list of files with sizes and checksums that makes it a run.
    `tables_final` is called once the last tables are made, before any file is written."""
    _identities(engine, settings)
    _assemble(engine)
    if tables_final is not None:
        tables_final()
    tables_dir = private_dir(Path(out_dir) / "tables")
    names = ["input_nominals" if t == "nominals" else t for o in outputs.values() for t in o.tables]
    names += [*ASSEMBLED, IDENTITIES]
    rows = {}
    meta = {"hiddennet_notice": NOTICE, "hiddennet_version": __version__, "as_of": str(settings.as_of)}
    # The input files are hashed in a thread while the engine sorts and writes the tables (both
    # release the GIL), rather than after them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        input_checksums = pool.submit(file_checksums, input_dir)
        for name in dict.fromkeys(names):
            rows[name] = _write_sorted(engine, name, tables_dir / f"{name}.parquet", meta)
        checksums = input_checksums.result()
    manifest = {
        "notice": NOTICE,
        "hiddennet_version": __version__,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of": str(settings.as_of),
        "engine": engine.name,
        "settings": settings.model_dump(mode="json"),
        "input": {"folder": str(Path(input_dir).resolve()), "checksums": checksums},
        "machine": {"python": platform.python_version(), "system": platform.system(), "machine": platform.machine()},
        "stage_seconds": timings,
        "tables": {name: {"rows": rows[name], "path": f"tables/{name}.parquet"} for name in rows},
        "stages": {name: o.facts for name, o in outputs.items()},
    }
    write_private(Path(out_dir) / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def _run_stage(engine: Engine, settings: Settings, ctx: StageContext) -> StageOutput:
    # Copies: the manifest is written now; what the pipeline records after publish is not in it.
    manifest = run(engine, settings, ctx.out_dir, dict(ctx.outputs), dict(ctx.timings), input_dir=ctx.input_dir,
                   tables_final=ctx.tables_final)
    return StageOutput(tables=("input_nominals", *ASSEMBLED, IDENTITIES), facts={"manifest": manifest})


STAGE = Stage(
    "publish",
    _run_stage,
    # Every published table of the stages before it (the ingested `nominals` is `input_nominals`).
    # Published only when their setting or feature is on (the stage that made them lists them in its output
    # then: `Table.conditional`); entity resolution's tables only when it is on (docs/resolve.md).
    reads=tuple(t.name for t in tables.TABLES.values()
                if t.published and t.stage != "publish" and not t.conditional and t.name not in _RESOLVE_TABLES),
    optional_reads=(*(t.name for t in tables.TABLES.values() if t.published and t.conditional), *_RESOLVE_TABLES),
    writes=("input_nominals", *ASSEMBLED, IDENTITIES),
)
