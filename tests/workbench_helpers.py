"""Fake-run data for the analyst's workbench tests, on top of serve_helpers.write_rich_run (the
shared sample run is not edited here): harm lines that name crimes of the full table, a
dismantling table whose target_reached is the group's outcome on every row (as the pipeline
writes it), and links between groups (Leiden cuts them) for expanding across groups."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from serve_helpers import write_rich_run


def _t(run_dir: Path, name: str) -> pd.DataFrame:
    return pq.read_table(run_dir / "tables" / f"{name}.parquet").to_pandas()


def _w(run_dir: Path, name: str, df: pd.DataFrame) -> None:
    from hiddennet.report.sample import write_table

    write_table(run_dir, name, pa.Table.from_pandas(df, preserve_index=False))


def write_workbench_run(run_dir: Path) -> dict:
    facts = write_rich_run(run_dir)
    noms = _t(run_dir, "nominals")
    person = noms[(noms["group_id"] == facts["top"]) & ~noms["safeguarding_flagged"]]["nominal_id"].iloc[-1]
    full = _t(run_dir, "full_table")
    mine = full[full["offender_id"] == person].drop_duplicates("crime_ref")
    if mine.empty:  # give the person two crimes of the full table
        rows = full.drop_duplicates("crime_ref").head(2).copy()
        rows["offender_id"] = person
        full = pd.concat([full, rows], ignore_index=True)
        _w(run_dir, "full_table", full)
        mine = rows
    h = _t(run_dir, "harm_explained")
    h = h[h["nominal_id"] != person]
    lines = pd.DataFrame(
        {
            "nominal_id": person,
            "item_kind": "crime",
            "item_ref": mine["crime_ref"].tolist(),
            "layer": None,
            "cchi_days": [100.4 + i * 0.3 for i in range(len(mine))],
            "ons_weight": [0.5035561877667141] * len(mine),
            "link_weight": None,
        }
    )
    _w(run_dir, "harm_explained", pd.concat([h, lines], ignore_index=True))
    d = _t(run_dir, "dismantling")
    d["target_reached"] = True  # the group's outcome on every row, as the dismantle stage writes it
    _w(run_dir, "dismantling", d)
    crimes = mine.sort_values("crime_ref")
    return {
        **facts,
        "person": person,
        "crimes": dict(zip(crimes["crime_ref"], crimes["offence_title"], strict=True)),
        "harm_total": round(sum(lines["cchi_days"])),
    }
