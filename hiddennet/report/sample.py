"""A small synthetic run folder (manifest.json and tables/*.parquet) for the report's and
dashboard's tests and for trying the dashboard out.

The tables have the columns and types of the registry (hiddennet/tables.py), the same as a real
run's, so the fake cannot drift from it: `conform` puts every registered column in order with its
type, generates values for the columns the sample does not set, and refuses a column that is not
registered. Every identifier is made up (`N0001`, `C00001`, `G001`); no real data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet import tables as registry
from hiddennet.rundir import sha256
from hiddennet.stage import NOTICE

_AS_OF = dt.date(2021, 3, 15)


def _typed(name: str, table: pa.Table | dict | list) -> pa.Table:
    """`table` (Arrow, columns or rows) with the registry's types; an unregistered column is an error."""
    t = (
        table if isinstance(table, pa.Table)
        else pa.Table.from_pylist(table) if isinstance(table, list)
        else pa.table(table)
    )
    reg = registry.table(name)
    unknown = [c for c in t.column_names if c not in reg.column_names]
    if unknown:
        raise ValueError(f"sample table {name}: columns {unknown} are not in hiddennet/tables.py")
    return pa.table({c: t.column(c).cast(registry.arrow_type(reg.column(c).type)) for c in t.column_names})


def _generated(column: registry.Column, n: int, rng: np.random.Generator) -> list:
    """Made-up values of the column's type, for columns the sample does not set."""
    if column.type.endswith("[]"):
        return [[] for _ in range(n)]
    if column.type == "BOOLEAN":
        return [False] * n
    if column.type in ("BIGINT", "INTEGER", "SMALLINT"):
        return [int(v) for v in rng.integers(0, 10, n)]
    if column.type in ("DOUBLE", "FLOAT"):
        return [round(float(v), 3) for v in rng.random(n)]
    if column.type == "DATE":
        return [_AS_OF - dt.timedelta(days=int(v)) for v in rng.integers(0, 3650, n)]
    return [f"{column.name}-{i + 1}" for i in range(n)]


def conform(name: str, table: pa.Table | dict | list, rng: np.random.Generator) -> pa.Table:
    """Table `name` with every registered column, in order, with its type; values the sample does
    not set are generated (`_generated`)."""
    t = _typed(name, table)
    reg = registry.table(name)
    cols = {c.name: t.column(c.name) if c.name in t.column_names else pa.array(_generated(c, t.num_rows, rng))
            for c in reg.columns}
    return pa.table(cols).cast(registry.arrow_schema(name))


def write_table(run_dir: Path, name: str, table: pa.Table | dict) -> None:
    """Write one published table as the pipeline does (Parquet under tables/).

    Columns take the registry's types; columns left out stay out (a test may want a partial table).
    """
    t = _typed(name, table)
    (Path(run_dir) / "tables").mkdir(parents=True, exist_ok=True)
    path = Path(run_dir) / "tables" / f"{name}.parquet"
    pq.write_table(t, path)
    _reseal(Path(run_dir), path)


def _reseal(run_dir: Path, path: Path) -> None:
    """A table written after the manifest (a test adding to a sample run) is listed in it, as a run's
    commit would have listed it, so the folder stays a complete run."""
    mpath = run_dir / "manifest.json"
    if not mpath.is_file():
        return
    m = json.loads(mpath.read_text(encoding="utf-8"))
    if "files" in m:
        m["files"][path.relative_to(run_dir).as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
        mpath.write_text(json.dumps(m, indent=2), encoding="utf-8")


def write_manifest(run_dir: Path, tables: Iterable[str] = (), **extra) -> None:
    """The manifest of a finished run; write it last (it lists the files already in the folder)."""
    m = {
        "notice": NOTICE,
        "hiddennet_version": "0.1.0",
        "created_utc": "2021-03-16T09:00:00Z",
        "as_of": "2021-03-15",
        "engine": "duckdb",
        "settings": {
            "as_of": "2021-03-15", "min_cell_count": 10, "layer_weight": {"victim": 1.0, "intel": 1.0},
            "max_group_size": 50,
        },
        "input": {
            "folder": "input",
            "checksums": {"crimes.csv": "sha256:" + "ab" * 32, "nominals.csv": "sha256:" + "cd" * 32},
        },
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


@dataclass
class _Network:
    """The network part of the sample, row by row."""

    nominals: list[dict] = field(default_factory=list)
    links: list[tuple] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)
    dismantling: list[dict] = field(default_factory=list)
    safeguarding: list[dict] = field(default_factory=list)
    explained: list[dict] = field(default_factory=list)


def _add_group(net: _Network, rng: np.random.Generator, g: int, last: bool, nid: int) -> int:
    """Group number g: members, links, harm, flags and dismantling steps; returns the next member number."""
    gid = f"G{g + 1:03d}"
    size = int(rng.integers(2, 14))
    members = [f"N{nid + i + 1:04d}" for i in range(size)]
    nid += size
    flagged = {m for m in members if rng.random() < 0.15}
    if last:  # the last group holds only people to safeguard
        flagged = set(members)
    pairs = {(i, int(rng.integers(0, i))) for i in range(1, size)}  # a spanning tree keeps it connected
    pairs |= {(int(a), int(b)) for a, b in rng.integers(0, size, (size // 2, 2)) if a != b}
    pairs = {(min(a, b), max(a, b)) for a, b in pairs}
    deg = {i: 0 for i in range(size)}
    for a, b in sorted(pairs):
        deg[a] += 1
        deg[b] += 1
        net.links.append(
            (members[a], members[b], float(rng.uniform(0.1, 2.0)), gid,
             str(rng.choice(["victim", "intel", "custody", "soc"])))
        )
    harm = _add_members(net, rng, gid, members, flagged, deg, nid)
    only = flagged == set(members)
    net.groups.append({"group_id": gid, "size": size, "harm_cchi": sum(harm.values()),
                       "harm_ons": sum(harm.values()) / 10, "priority_rank": None,
                       "soc_overlap": int(rng.integers(0, 3)), "parent_component": gid,
                       "safeguarding_only": only, "edges": len(pairs),
                       "rank_harm_cchi": sum(h for m, h in harm.items() if m not in flagged),
                       "rank_harm_ons": sum(h for m, h in harm.items() if m not in flagged) / 10,
                       "flagged_members": len(flagged & set(members))})
    if size >= 3 and not only:
        pickable = sorted((m for m in members if m not in flagged), key=lambda m: -harm[m])
        steps = pickable[: max(1, size // 4)]
        cum = 0.0
        # A proof like the stage's: groups solved exactly are optimal; every third other group keeps a gap of 1.
        bound = len(steps) - (1 if g % 3 == 1 and len(steps) > 1 else 0)
        for s, m in enumerate(steps, 1):
            cum += harm[m]
            net.dismantling.append({"group_id": gid, "step": s, "nominal_id": m, "lower_bound": bound,
                                    "optimal": bound == len(steps), "gap": len(steps) - bound,
                                    "bound_method": "exact" if bound == len(steps) and size <= 16 else "packing",
                                    "remaining_largest_fraction": round(1 - s / (len(steps) + 1), 3),
                                    "harm_removed_cchi": cum, "exact": size <= 16,
                                    "method": "exact" if size <= 16 else "gnd", "target_reached": s == len(steps)})
    return nid


def _add_members(
    net: _Network, rng: np.random.Generator, gid: str, members: list[str], flagged: set[str], deg: dict, nid: int
) -> dict:
    """The members' rows (nominals, harm explained or safeguarding); returns their harm."""
    harm = {}
    for i, m in enumerate(members):
        harm[m] = 0.0 if m in flagged else float(rng.uniform(0, 900))
        net.nominals.append(
            {
                "nominal_id": m, "group_id": gid, "in_cse_network": True, "in_soc_network": bool(rng.random() < 0.2),
                "harm_cchi": harm[m], "harm_ons": harm[m] / 10, "degree": deg[i], "weighted_degree": float(deg[i]),
                "betweenness": float(rng.random()), "is_child": m in flagged and rng.random() < 0.5,
                "victim_offender_overlap": False, "safeguarding_flagged": m in flagged,
            }
        )
        if m not in flagged:
            net.explained.append({"nominal_id": m, "item_kind": "crime", "item_ref": f"C{nid * 10 + i:05d}",
                                  "layer": None, "cchi_days": harm[m], "ons_weight": harm[m] / 10, "link_weight": None})
        else:
            net.safeguarding.append(
                {
                    "nominal_id": m,
                    "reasons": ["child_in_network"] + (["victim_offender_overlap"] if rng.random() < 0.3 else []),
                    "age_on_as_of": int(rng.integers(11, 24)), "group_ids": [gid],
                    "local_area": str(rng.choice(["Northtown", "Southvale"])),
                    "crime_refs": [f"C9{nid:04d}"], "referral_status": "to_refer",
                }
            )
    return harm


def _full_table(rng: np.random.Generator, nid: int) -> list[dict]:
    """160 selected crimes, one or two offenders each from the network's members."""
    full = []
    for c in range(160):
        year = int(rng.integers(2012, 2022))
        d = dt.date(year, int(rng.integers(1, 13)), int(rng.integers(1, 28)))
        d = min(d, _AS_OF)
        victim = f"V{int(rng.integers(1, 90)):04d}"
        for o in rng.choice(nid, size=int(rng.integers(1, 3)), replace=False):
            full.append(
                {
                    "crime_ref": f"C{c + 1:05d}", "offender_id": f"N{int(o) + 1:04d}", "victim_id": victim,
                    "offence_date": d,
                    "offence_title": "Sexual activity with a child", "offence_code": "22B", "offender_role": "offender",
                    "offender_age": None if rng.random() < 0.1 else int(rng.integers(12, 60)),
                    "victim_age": int(rng.integers(4, 18)),
                    "offender_sex": None if rng.random() < 0.05 else str(rng.choice(["M", "F"], p=[0.75, 0.25])),
                    "victim_sex": str(rng.choice(["M", "F"], p=[0.35, 0.65])),
                    "offender_ethnicity": None if rng.random() < 0.8 else str(rng.choice(["IC1", "IC2", "IC4"])),
                    "victim_ethnicity": None if rng.random() < 0.3 else str(rng.choice(["IC1", "IC1", "IC3"])),
                    "location_area": str(rng.choice(["Northtown", "Southvale"])),
                }
            )
    return full


def _final_table(full: list[dict]) -> list[dict]:
    """Pairs of full-table rows sharing a victim, offender_1 < offender_2."""
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
                        final.append({"offender_1": key[0], "offender_2": key[1], "crime_ref_1": key[2],
                                      "crime_ref_2": key[3], "victim_id": key[4],
                                      "offence_date_1": a["offence_date"], "offence_date_2": b["offence_date"],
                                      "weight": 0.5})
    return final


# Small tables with fixed rows.
_FIXED: dict[str, dict] = {
    "selection_summary": {
        "measure": ["crimes_read", "crimes_selected", "victims_without_birth_date"], "value": [400, 160, 3],
    },
    "crime_harm": {
        "crime_ref": ["C00001", "C00002", "C00003"], "cchi_basis": ["title_match", "code_median", "unmapped"],
        "ons_basis": ["single_value", "single_value", "unmapped"],
    },
    "fairness": {  # the fairness stage's shape: composition by characteristic, then top-10 stability
        "measure": ["composition"] * 4 + ["top10_stability"],
        "population": ["all_nominals", "prioritised_members", "dismantling_picks", "all_nominals", "top10_groups"],
        "category": ["ethnicity", "ethnicity", "ethnicity", "sex", "intel_left_out"],
        "value": ["IC1", "IC1", "IC1", "M", None], "count": [40, 12, None, 50, 7],
        "share": [0.5, 0.4, None, 0.7, 0.7],
        "ratio": [1.0, 0.8, None, 1.0, None], "suppressed": [False, False, True, False, False],
    },
    "quarantine": {
        "source_table": ["crimes", "nominals", "nominals"],
        "source_file": ["crimes.csv", "nominals.csv", "nominals.csv"], "line": [4, 7, 9],
        "column": [None, "date_of_birth", "date_of_birth"],
        "reason": ["duplicate_key", "unparseable_date", "unparseable_date"],
        "action": ["row_rejected", "value_cleared", "value_cleared"],
    },
}


def write_sample_run(run_dir: Path, *, seed: int = 1, n_groups: int = 12, omit: Iterable[str] = ()) -> Path:
    """A consistent small run: groups with members and links, a dismantling order for each
    group of three or more, some members flagged for safeguarding (never in an order)."""
    rng = np.random.default_rng(seed)
    run_dir = Path(run_dir)
    omit = set(omit)
    net = _Network()
    nid = 0
    for g in range(n_groups):
        nid = _add_group(net, rng, g, g == n_groups - 1, nid)
    ranked = sorted(
        (g for g in net.groups if not g["safeguarding_only"]),
        key=lambda g: (-g["rank_harm_cchi"], -g["size"], g["group_id"]),
    )
    for r, group in enumerate(ranked, 1):
        group["priority_rank"] = r
    full = _full_table(rng, nid)
    links = net.links
    tables: dict[str, object] = {
        "full_table": full,
        "final_table": pa.Table.from_pylist(_final_table(full), schema=registry.arrow_schema("final_table")),
        "selection_summary": _FIXED["selection_summary"],
        "nominals": net.nominals,
        "groups": net.groups,
        "combined_edges": [
            {"nominal_a": a, "nominal_b": b, "weight": w, "layers": [layer], "group_id": g}
            for a, b, w, g, layer in links
        ],
        "edges": [
            {"nominal_a": a, "nominal_b": b, "layer": layer, "weight": w, "first_date": dt.date(2019, 1, 1),
             "last_date": dt.date(2020, 1, 1), "evidence_count": 1}
            for a, b, w, _, layer in links
        ],
        "dismantling": net.dismantling,
        "safeguarding": net.safeguarding,
        "harm_explained": net.explained,
        **{k: v for k, v in _FIXED.items() if k != "selection_summary"},
    }
    # Columns the sample leaves out get values from their own generator: the ones above stay as they were.
    fill = np.random.default_rng(seed + 1_000_003)
    for name, t in tables.items():
        if name not in omit:
            write_table(run_dir, name, conform(name, t, fill))
    write_manifest(run_dir, [n for n in tables if n not in omit])
    return run_dir
