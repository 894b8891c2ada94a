"""The planted truth (planted_truth/): rings, child offenders, overlaps, crime kinds, cellmates, designed counts.

The pipeline never reads this folder; tests and benchmarks compare the pipeline's output with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet.generate.constants import (
    AS_OF,
    CSA_TITLES,
    K_FLAGONLY,
    K_OVERLAP,
    K_RING,
    K_SELECTED,
    KIND_NAMES,
    TARGETS,
)
from hiddennet.generate.crimes import _Crimes
from hiddennet.generate.people import _People
from hiddennet.generate.util import _age, _take


def _write_truth(truth_dir: Path, world, people: _People, crimes: _Crimes, conflicts, intel_facts, custody_facts,
                 scale, seed) -> dict:
    pid = world["pid"]
    cref = world["cref"]
    # ring membership
    rid, member, rrole = [], [], []
    for ring in world["rings"]:
        for role, people_of_ring in (("offender", ring["offenders"]), ("victim", ring["victims"])):
            for p in people_of_ring:
                rid.append(ring["ring_id"])
                member.append(p)
                rrole.append(role)
    pq.write_table(pa.table({"ring_id": pa.array(rid, pa.string()), "nominal_id": pid(np.array(member, np.int64)),
                             "role": pa.array(rrole, pa.string())}), truth_dir / "rings.parquet")
    child_off = _child_offenders(people, crimes)
    pq.write_table(pa.table({"nominal_id": pid(child_off)}), truth_dir / "child_offenders.parquet")
    ov = world["overlap_people"]
    pq.write_table(pa.table({"nominal_id": pid(ov)}), truth_dir / "victim_offender_overlaps.parquet")
    # crime kinds (what each crime was designed to be)
    c = crimes.arr
    pq.write_table(pa.table({"crime_ref": cref(np.arange(crimes.n)),
                             "kind": _take(KIND_NAMES, c["kind"].astype(np.int64))}), truth_dir / "crimes.parquet")
    pa_, pb_, shared = world["custody_pairs"]
    pq.write_table(pa.table({"nominal_a": pid(pa_), "nominal_b": pid(pb_), "shared_days": pa.array(shared)}),
                   truth_dir / "custody_pairs.parquet")
    counts = _truth_counts(world, people, crimes, child_off, conflicts, intel_facts, custody_facts)
    truth = {"scale": scale, "seed": seed, "as_of": str(AS_OF), "counts": counts,
             "targets_at_scale_1": TARGETS,
             "notes": "Designed counts. The selected-crime count is before the under-10 removal; "
                      "use _calibrate() for the figures the method gives on the written files."}
    (truth_dir / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True, default=int))
    return truth


def _child_offenders(people: _People, crimes: _Crimes) -> np.ndarray:
    """Offenders of selected-kind crimes aged 10 to 17 at some offence."""
    L = crimes.links
    c = crimes.arr
    kind = c["kind"][L["crime"]]
    sel_kinds = np.isin(kind, [K_SELECTED, K_RING, K_FLAGONLY])
    is_off = (L["role"] >= 1) & (L["role"] <= 5)
    off_rows = sel_kinds & is_off
    age = _age(people.dob[L["person"][off_rows]], c["date"][L["crime"][off_rows]])
    child = (age >= 10) & (age < 18)
    return np.unique(L["person"][off_rows][child])


def _truth_counts(world, people: _People, crimes: _Crimes, child_off, conflicts, intel_facts, custody_facts) -> dict:
    c = crimes.arr
    kinds = {KIND_NAMES[k]: int((c["kind"] == k).sum()) for k in range(len(KIND_NAMES))}
    title_match = world["title_match"][np.minimum(c["title"], len(CSA_TITLES) - 1)]
    return {
        "crimes_by_kind": kinds,
        "designed_selected_crimes": kinds["selected"] + kinds["ring"] + kinds["flag_only_gap"]
        + int(((c["kind"] == K_OVERLAP) & (c["ifc"] == 1)).sum()),
        "rings": len(world["rings"]),
        "large_rings": sum(r["large"] for r in world["rings"]),
        "ring_offenders": int(sum(r["size"] for r in world["rings"])),
        "largest_ring": int(max(r["size"] for r in world["rings"])),
        "child_offenders": int(len(child_off)),
        "victim_offender_overlaps": int(len(world["overlap_people"])),
        "victims_born_after_offence": int(len(world["born_after_victims"])),
        "under10_offender_rows": kinds["under10_offender"],
        "flag_only_gap_crimes": kinds["flag_only_gap"],
        "title_match_without_flag_crimes": int(
            (np.isin(c["kind"], [K_SELECTED, K_RING]) & title_match
             & (c["title"] < len(CSA_TITLES)) & ~np.isin(c["ifc"], [1, 2, 3, 4, 5, 10, 11, 12])).sum()),
        "demographic_conflicts": conflicts,
        "intel": intel_facts,
        "custody": custody_facts,
        "soc_nominals": int(len(world["soc"]["members"])),
        "soc_ring_members": int(len(world["soc"]["ring_members"])),
        "people": int(people.n),
    }
