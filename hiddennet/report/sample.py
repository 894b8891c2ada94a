"""A small synthetic run folder (manifest.json and tables/*.parquet with the columns of
docs/tables.md) for the report's and dashboard's tests and for trying the dashboard out.

Every identifier is made up (`N0001`, `C00001`, `G001`); no real data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet.rundir import sha256
from hiddennet.stage import NOTICE


def write_table(run_dir: Path, name: str, table: pa.Table | dict) -> None:
    """Write one published table as the pipeline does (Parquet under tables/)."""
    t = table if isinstance(table, pa.Table) else pa.table(table)
    (Path(run_dir) / "tables").mkdir(parents=True, exist_ok=True)
    pq.write_table(t, Path(run_dir) / "tables" / f"{name}.parquet")


def write_manifest(run_dir: Path, tables: Iterable[str] = (), **extra) -> None:
    """The manifest of a finished run; write it last (it lists the files already in the folder)."""
    m = {
        "notice": NOTICE,
        "hiddennet_version": "0.1.0",
        "created_utc": "2021-03-16T09:00:00Z",
        "as_of": "2021-03-15",
        "engine": "duckdb",
        "settings": {"as_of": "2021-03-15", "min_cell_count": 10, "layer_weight": {"victim": 1.0, "intel": 1.0}, "max_group_size": 50},
        "input": {"folder": "input", "checksums": {"crimes.csv": "sha256:" + "ab" * 32, "nominals.csv": "sha256:" + "cd" * 32}},
        "stage_seconds": {"ingest": 1.25, "select": 0.5},
        "tables": {t: {"rows": 0, "path": f"tables/{t}.parquet"} for t in tables},
        "stages": {},
    }
    m.update(extra)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    # The file list (sizes, checksums) that makes a folder a complete run: every file written so far.
    m.setdefault("files", {
        p.relative_to(run_dir).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(Path(run_dir).rglob("*")) if p.is_file() and p.name != "manifest.json"
    })
    (Path(run_dir) / "manifest.json").write_text(json.dumps(m, indent=2), encoding="utf-8")


def write_sample_run(run_dir: Path, *, seed: int = 1, n_groups: int = 12, omit: Iterable[str] = ()) -> Path:
    """A consistent small run: groups with members and links, a dismantling order for each
    group of three or more, some members flagged for safeguarding (never in an order)."""
    rng = np.random.default_rng(seed)
    run_dir = Path(run_dir)
    omit = set(omit)
    as_of = dt.date(2021, 3, 15)

    # Network: groups, members, links.
    nominals, links, groups, dismantling, safeguarding, explained = [], [], [], [], [], []
    nid = 0
    for g in range(n_groups):
        gid = f"G{g + 1:03d}"
        size = int(rng.integers(2, 14))
        members = [f"N{nid + i + 1:04d}" for i in range(size)]
        nid += size
        flagged = {m for m in members if rng.random() < 0.15}
        if g == n_groups - 1:  # the last group holds only people to safeguard
            flagged = set(members)
        pairs = {(i, int(rng.integers(0, i))) for i in range(1, size)}  # a spanning tree keeps it connected
        pairs |= {(int(a), int(b)) for a, b in rng.integers(0, size, (size // 2, 2)) if a != b}
        pairs = {(min(a, b), max(a, b)) for a, b in pairs}
        deg = {i: 0 for i in range(size)}
        for a, b in sorted(pairs):
            deg[a] += 1
            deg[b] += 1
            links.append((members[a], members[b], float(rng.uniform(0.1, 2.0)), gid, str(rng.choice(["victim", "intel", "custody", "soc"]))))
        harm = {}
        for i, m in enumerate(members):
            harm[m] = 0.0 if m in flagged else float(rng.uniform(0, 900))
            nominals.append(
                {
                    "nominal_id": m, "group_id": gid, "node_index": i, "in_cse_network": True, "in_soc_network": bool(rng.random() < 0.2),
                    "harm_cchi": harm[m], "harm_ons": harm[m] / 10, "degree": deg[i], "weighted_degree": float(deg[i]),
                    "betweenness": float(rng.random()), "is_child": m in flagged and rng.random() < 0.5,
                    "victim_offender_overlap": False, "safeguarding_flagged": m in flagged,
                }
            )
            if m not in flagged:
                explained.append({"nominal_id": m, "item_kind": "crime", "item_ref": f"C{nid * 10 + i:05d}", "layer": None, "cchi_days": harm[m], "ons_weight": harm[m] / 10, "link_weight": None})
            else:
                safeguarding.append(
                    {
                        "nominal_id": m, "reasons": ["child_in_network"] + (["victim_offender_overlap"] if rng.random() < 0.3 else []),
                        "age_on_as_of": int(rng.integers(11, 24)), "group_ids": [gid], "local_area": str(rng.choice(["Northtown", "Southvale"])),
                        "crime_refs": [f"C9{nid:04d}"], "referral_status": "to_refer",
                    }
                )
        only = flagged == set(members)
        groups.append({"group_id": gid, "size": size, "harm_cchi": sum(harm.values()), "harm_ons": sum(harm.values()) / 10, "priority_rank": None,
                       "soc_overlap": int(rng.integers(0, 3)), "parent_component": gid, "safeguarding_only": only, "edges": len(pairs),
                       "rank_harm_cchi": sum(h for m, h in harm.items() if m not in flagged),
                       "rank_harm_ons": sum(h for m, h in harm.items() if m not in flagged) / 10,
                       "flagged_members": len(flagged & set(members))})
        if size >= 3 and not only:
            pickable = sorted((m for m in members if m not in flagged), key=lambda m: -harm[m])
            steps = pickable[: max(1, size // 4)]
            cum = 0.0
            for s, m in enumerate(steps, 1):
                cum += harm[m]
                dismantling.append({"group_id": gid, "step": s, "nominal_id": m, "remaining_largest_fraction": round(1 - s / (len(steps) + 1), 3),
                                    "harm_removed_cchi": cum, "exact": size <= 16, "method": "exact" if size <= 16 else "gnd", "target_reached": s == len(steps)})
    ranked = sorted((g for g in groups if not g["safeguarding_only"]), key=lambda g: (-g["rank_harm_cchi"], -g["size"], g["group_id"]))
    for r, g in enumerate(ranked, 1):
        g["priority_rank"] = r

    # Crimes: full table and final table (pairs of rows sharing a victim).
    full = []
    for c in range(160):
        year = int(rng.integers(2012, 2022))
        d = dt.date(year, int(rng.integers(1, 13)), int(rng.integers(1, 28)))
        d = min(d, as_of)
        victim = f"V{int(rng.integers(1, 90)):04d}"
        for o in rng.choice(nid, size=int(rng.integers(1, 3)), replace=False):
            full.append(
                {
                    "crime_ref": f"C{c + 1:05d}", "offender_id": f"N{int(o) + 1:04d}", "victim_id": victim, "offence_date": d,
                    "offence_title": "Sexual activity with a child", "offence_code": "22B", "offender_role": "offender",
                    "offender_age": None if rng.random() < 0.1 else int(rng.integers(12, 60)), "victim_age": int(rng.integers(4, 18)),
                    "offender_sex": None if rng.random() < 0.05 else str(rng.choice(["M", "F"], p=[0.75, 0.25])),
                    "victim_sex": str(rng.choice(["M", "F"], p=[0.35, 0.65])),
                    "offender_ethnicity": None if rng.random() < 0.8 else str(rng.choice(["IC1", "IC2", "IC4"])),
                    "victim_ethnicity": None if rng.random() < 0.3 else str(rng.choice(["IC1", "IC1", "IC3"])),
                    "location_area": str(rng.choice(["Northtown", "Southvale"])),
                }
            )
    final = []
    by_victim: dict[str, list[dict]] = {}
    for r in full:
        by_victim.setdefault(r["victim_id"], []).append(r)
    seen = set()
    for rows in by_victim.values():
        for a in rows:
            for b in rows:
                if a["offender_id"] < b["offender_id"]:
                    key = (a["offender_id"], b["offender_id"], a["crime_ref"], b["crime_ref"], a["victim_id"])
                    if key not in seen:
                        seen.add(key)
                        final.append({"offender_1": key[0], "offender_2": key[1], "crime_ref_1": key[2], "crime_ref_2": key[3], "victim_id": key[4],
                                      "offence_date_1": a["offence_date"], "offence_date_2": b["offence_date"], "weight": 0.5})

    tables: dict[str, object] = {
        "full_table": pa.Table.from_pylist(full),
        "final_table": pa.Table.from_pylist(final, schema=pa.schema([("offender_1", pa.string()), ("offender_2", pa.string()), ("crime_ref_1", pa.string()), ("crime_ref_2", pa.string()), ("victim_id", pa.string()), ("offence_date_1", pa.date32()), ("offence_date_2", pa.date32()), ("weight", pa.float64())])),
        "selection_summary": {"measure": ["crimes_read", "crimes_selected", "victims_without_birth_date"], "value": [400, 160, 3]},
        "nominals": pa.Table.from_pylist(nominals),
        "groups": pa.Table.from_pylist(groups),
        "combined_edges": pa.Table.from_pylist([{"nominal_a": a, "nominal_b": b, "weight": w, "layers": [layer], "group_id": g} for a, b, w, g, layer in links]),
        "edges": pa.Table.from_pylist([{"nominal_a": a, "nominal_b": b, "layer": layer, "weight": w, "first_date": dt.date(2019, 1, 1), "last_date": dt.date(2020, 1, 1), "evidence_count": 1} for a, b, w, _, layer in links]),
        "dismantling": pa.Table.from_pylist(dismantling),
        "safeguarding": pa.Table.from_pylist(safeguarding),
        "harm_explained": pa.Table.from_pylist(explained),
        "crime_harm": {"crime_ref": ["C00001", "C00002", "C00003"], "cchi_basis": ["title_match", "code_median", "unmapped"], "ons_basis": ["single_value", "single_value", "unmapped"]},
        "fairness": {
            "measure": ["ethnicity", "ethnicity", "ethnicity", "sex"], "population": ["all_nominals", "prioritised_members", "dismantling_picks", "all_nominals"],
            "category": ["IC1", "IC1", "IC1", "M"], "value": [None, None, None, None], "count": [40, 12, None, 50], "share": [0.5, 0.4, None, 0.7],
            "ratio": [1.0, 0.8, None, 1.0], "suppressed": [False, False, True, False],
        },
        "quarantine": {"source_table": ["crimes", "nominals", "nominals"], "source_file": ["crimes.csv", "nominals.csv", "nominals.csv"], "line": [4, 7, 9],
                       "column": [None, "date_of_birth", "date_of_birth"], "reason": ["duplicate_key", "unparseable_date", "unparseable_date"], "action": ["row_rejected", "value_cleared", "value_cleared"]},
    }
    for name, t in tables.items():
        if name not in omit:
            write_table(run_dir, name, t)
    write_manifest(run_dir, [n for n in tables if n not in omit])
    return run_dir
