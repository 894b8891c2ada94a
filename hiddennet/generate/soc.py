"""The existing Serious Organised Crime network (soc_nominals.csv, soc_edges.csv)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.generate.constants import _D, _P
from hiddennet.generate.people import _People
from hiddennet.generate.util import _dob_for_age, _eth, _n, _pick, _sex, _take, _uniq
from hiddennet.generate.writer import _Writer


def _build_soc(rng, s, people: _People, world) -> dict:
    """SOC network: groups of nominals (new people, other offenders, some CSE offenders and ring members)."""
    ng = _n(_P["soc_groups"], s, 3)
    members, group, ring_members = _soc_members(rng, ng, people, world)
    lo, hi = _soc_edges(rng, ng, members, group)
    weight = np.where(rng.random(len(lo)) < 0.6, 1.0, np.round(rng.lognormal(0.3, 0.6, len(lo)), 2))
    weight = np.maximum(weight, 0.05)
    layer = _pick(rng, len(lo), (40, 30, 15, 15))
    # soc_nominals: ~3% with no group, ~2% in a second group
    gid = group.astype(np.int64)
    nogroup = rng.random(len(members)) < 0.03
    second = rng.random(len(members)) < 0.02
    sn_member = np.concatenate([members, members[second]])
    sn_group = np.concatenate([np.where(nogroup, -1, gid), (gid[second] + 1) % ng])
    return {"members": members, "group": group, "sn_member": sn_member, "sn_group": sn_group,
            "a": lo, "b": hi, "weight": weight, "layer": layer, "ring_members": ring_members}


def _soc_members(rng, ng: int, people: _People, world):
    """Members of `ng` groups, sorted by group (new people, other offenders, CSE offenders, large-ring members),
    their groups, and the ring members among them."""
    sizes = rng.integers(5, 41, ng)
    total = int(sizes.sum())
    new_share = rng.random(total)
    n_new = int((new_share < 0.65).sum())
    newp = people.add(_sex(rng, n_new, 0.9), _dob_for_age(rng, np.full(n_new, _D), rng.integers(17, 60, n_new)),
                      _eth(rng, n_new, "other"), "soc")
    oth = world["other_offenders"]
    cse = world["selected_offenders"]
    n_oth = int(((new_share >= 0.65) & (new_share < 0.9)).sum())
    n_cse = total - n_new - n_oth
    members = np.concatenate([newp, rng.choice(oth, n_oth, replace=False), rng.choice(cse, n_cse, replace=False)])
    members = members[rng.permutation(total)]
    # large rings: some members are mapped into the SOC network too (the overlap the study looks for)
    picked = []
    for ring in world["rings"]:
        if ring["large"]:
            k = max(1, ring["size"] // 4)
            picked.append(rng.choice(ring["offenders"], k, replace=False))
    ring_members = np.concatenate(picked) if picked else np.array([], np.int64)
    # ring members join a random group each (replacing nobody)
    group = np.repeat(np.arange(ng), sizes)
    members = np.concatenate([members, ring_members])
    group = np.concatenate([group, rng.integers(0, ng, len(ring_members))])
    members, first = np.unique(members, return_index=True)  # a person once per group assignment below
    group = group[first]
    order = np.argsort(group, kind="stable")
    return members[order], group[order], ring_members


def _soc_edges(rng, ng: int, members, group):
    """Edges: within a group each member to an earlier one (connected), plus extras; a few across groups.
    Returned as two endpoint arrays, unique pairs in random order and random direction."""
    gstart = np.searchsorted(group, np.arange(ng))
    gsize = np.bincount(group, minlength=ng)
    pos = np.arange(len(members)) - gstart[group]
    has_prev = pos > 0
    a = members[has_prev]
    b = members[gstart[group[has_prev]] + (rng.random(int(has_prev.sum())) * pos[has_prev]).astype(np.int64)]
    ne = len(members) // 2
    g2 = rng.integers(0, ng, ne)
    ea = members[gstart[g2] + (rng.random(ne) * gsize[g2]).astype(np.int64)]
    eb = members[gstart[g2] + (rng.random(ne) * gsize[g2]).astype(np.int64)]
    nx = max(1, ng // 3)
    xa, xb = rng.choice(members, nx), rng.choice(members, nx)
    A = np.concatenate([a, ea, xa])
    B = np.concatenate([b, eb, xb])
    keep = A != B
    lo, hi = np.minimum(A, B)[keep], np.maximum(A, B)[keep]
    key = _uniq(lo * (1 << 32) + hi)
    lo, hi = key >> 32, key & ((1 << 32) - 1)
    perm = rng.permutation(len(lo))
    lo, hi = lo[perm], hi[perm]
    flip = rng.random(len(lo)) < 0.5
    return np.where(flip, hi, lo), np.where(flip, lo, hi)


def _write_soc(w: _Writer, soc, world, dirty: bool):
    gid = soc["sn_group"]
    g = pc.binary_join_element_wise("OCG", pc.utf8_lpad(pa.array(np.maximum(gid, 0)).cast(pa.string()), width=4,
                                                         padding="0"), "")
    g = pc.if_else(pa.array(gid < 0), pa.nulls(len(gid), pa.string()), g)
    cols = {"nominal_id": world["pid"](soc["sn_member"]), "group_id": g}
    if dirty:  # an extra column the contract does not name: carried through by ingest
        notes = np.where(np.arange(len(gid)) % 20 == 0, 1, 0)
        cols["officer_notes"] = pc.if_else(pa.array(notes == 1), _take(("reviewed by analyst",), np.zeros(len(gid))),
                                           pa.nulls(len(gid), pa.string()))
    w.write("soc_nominals", cols)
    w.close("soc_nominals")
    wt = pa.array(soc["weight"]).cast(pa.string())
    w.write("soc_edges", {"nominal_id_a": world["pid"](soc["a"]), "nominal_id_b": world["pid"](soc["b"]),
                          "weight": wt, "layer": _take(("crime", "intel", "custody", "association"), soc["layer"])})
    w.close("soc_edges")
    return len(gid), len(soc["a"])


# ---------------------------------------------------------------------------------------------- truth
