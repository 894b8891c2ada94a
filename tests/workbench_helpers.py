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
    other = _cross_group_link(run_dir, person, noms, facts["top"], crimes["crime_ref"].iloc[0])
    _intel_logs(run_dir)
    return {
        **facts,
        "person": person,
        "crimes": dict(zip(crimes["crime_ref"], crimes["offence_title"], strict=True)),
        "harm_total": round(sum(lines["cchi_days"])),
        "other": other,
        "cross_crime": crimes["crime_ref"].iloc[0],
    }


def _cross_group_link(run_dir: Path, person: str, noms: pd.DataFrame, top: str, crime: str) -> str:
    """A victim link (weight 2, 2019-05-01 to 2020-02-03, one crime) from `person` to an unflagged
    member of another group: Leiden cut it, so combined_edges carries it with group_id NULL."""
    other = noms[(noms["group_id"] != top) & ~noms["safeguarding_flagged"]]["nominal_id"].iloc[0]
    a, b = sorted([person, other])
    edges = _t(run_dir, "edges")
    row = {c: None for c in edges.columns}
    row.update(nominal_a=a, nominal_b=b, layer="victim", weight=2.0, evidence_count=1, crime_refs=[crime])
    row.update(first_date=pd.Timestamp("2019-05-01").date(), last_date=pd.Timestamp("2020-02-03").date())
    _w(run_dir, "edges", pd.concat([edges, pd.DataFrame([row])], ignore_index=True))
    ce = _t(run_dir, "combined_edges")
    crow = {c: None for c in ce.columns}
    crow.update(nominal_a=a, nominal_b=b, weight=2.0)
    if "layers" in ce:
        crow["layers"] = ["victim"]
    _w(run_dir, "combined_edges", pd.concat([ce, pd.DataFrame([crow])], ignore_index=True))
    return str(other)


def _intel_logs(run_dir: Path) -> None:
    """intel_logs for every log id on the edges: dated 2020-01-0x, graded 5x5x5 B2, each with the
    handling code of its edge (the restricted `LSECRET5` with code 5)."""
    edges = _t(run_dir, "edges")
    rows = {}
    for ids, code in zip(edges["log_ids"], edges["handling_code"], strict=True):
        for i, log in enumerate([] if ids is None else list(ids)):
            rows.setdefault(
                log,
                {
                    "log_id": log,
                    "log_date": pd.Timestamp(f"2020-01-0{1 + i % 9}").date(),
                    "grading_system": "5x5x5",
                    "source_grade": "B",
                    "information_grade": "2",
                    "handling_code": code,
                },
            )
    _w(run_dir, "intel_logs", pd.DataFrame(list(rows.values())))


FAKE_NAMES = {"forename": "Testa", "surname": "Personne", "pnc_id": "99/0000001Z"}


def write_identities(run_dir: Path, nominal_id: str) -> None:
    """nominal_identities (the restricted table of `dashboard_identity_search`): `nominal_id` is "Testa Personne", PNC
    99/0000001Z; every other nominal has no name (generated test data, no real person)."""
    ids = _t(run_dir, "nominals")["nominal_id"].tolist()
    rows = [
        {"nominal_id": i, **(FAKE_NAMES if i == nominal_id else {"forename": None, "surname": None, "pnc_id": None})}
        for i in ids
    ]
    _w(run_dir, "nominal_identities", pd.DataFrame(rows))


def write_big_group_run(run_dir: Path, groups: int = 12) -> str:
    """A sample run of 30 groups whose first `groups` are merged into one group `GBIG` (about 90
    members, their links kept), for the large-group layout. Returns its id."""
    from hiddennet.report.sample import write_sample_run

    write_sample_run(run_dir, n_groups=30)
    g = _t(run_dir, "groups")
    merged = set(sorted(g["group_id"])[:groups])
    for name in ("nominals", "combined_edges"):
        df = _t(run_dir, name)
        df["group_id"] = [("GBIG" if x in merged else x) for x in df["group_id"]]
        _w(run_dir, name, df)
    n = _t(run_dir, "nominals")
    big = g[g["group_id"].isin(merged)].iloc[:1].copy()
    big["group_id"], big["size"] = "GBIG", int((n["group_id"] == "GBIG").sum())
    _w(run_dir, "groups", pd.concat([g[~g["group_id"].isin(merged)], big], ignore_index=True))
    return "GBIG"
