"""Intelligence (intel_logs.csv, intel_nominals.csv): logs naming nominals of small communities, a long tail
of large logs, both grading systems, and planted actionable logs naming ring members.

The biggest table: written chunk by chunk, each chunk from its own seeded generator, so memory stays
bounded at scale 40 and the bytes do not depend on the chunk size of the writer.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.generate.constants import _P
from hiddennet.generate.people import _People
from hiddennet.generate.util import _date_str, _ids, _n, _pick, _take, _uniq, _year_dates
from hiddennet.generate.writer import _Writer

_CHUNK_LOGS = 200_000  # logs per generated chunk (part of the seed schedule: changing it changes the files)


def _write_intel(w: _Writer, rng, s, people: _People, world):
    """Logs naming nominals of small 'communities' (so links stay local), with a long tail of large logs."""
    comm = _communities(rng, people, world)
    n_logs = _n(_P["intel_logs"], s, 100)
    ring_logs = _ring_logs(rng, world)
    n_total_logs = n_logs + len(ring_logs)
    w_id = max(9, len(str(n_total_logs * 3)))

    def log_id(idx):
        return _ids("L", idx, w_id, 2_345_679, 10 ** w_id)

    world["log_id"] = log_id
    tally = {"logs": 0, "links": 0, "large_logs": 0, "actionable": 0}
    seeds = np.random.SeedSequence(int(rng.integers(0, 2**63))).spawn((n_logs + _CHUNK_LOGS - 1) // _CHUNK_LOGS)
    for ci, lo in enumerate(range(0, n_logs, _CHUNK_LOGS)):
        _write_log_chunk(w, np.random.default_rng(seeds[ci]), lo, min(n_logs, lo + _CHUNK_LOGS), comm, people.n,
                         world, tally)
    if len(ring_logs):
        _write_ring_logs(w, np.random.default_rng(seeds[0].spawn(1)[0]), n_logs, ring_logs, world, tally)
    w.close("intel_logs")
    w.close("intel_nominals")
    return ({"intel_logs": tally["logs"], "intel_nominals": tally["links"]},
            {"logs": tally["logs"], "links": tally["links"], "large_logs_31_plus": tally["large_logs"],
             "actionable_logs": tally["actionable"], "ring_logs": len(ring_logs)})


def _communities(rng, people: _People, world) -> SimpleNamespace:
    """Random neighbourhoods of 25, and each SOC group as its own community (SOC groups do not bridge
    unrelated neighbourhoods); a CSE offender belongs to at most one community."""
    intel_people = world["intel_people"]
    cse = world["selected_offenders"]
    soc = world["soc"]["members"]
    oth = world["other_offenders"]
    in_soc = np.zeros(people.n, bool)
    in_soc[soc] = True
    pop = np.concatenate([intel_people, rng.choice(cse, int(len(cse) * 0.12), replace=False),
                          rng.choice(oth, int(len(oth) * 0.3), replace=False)])
    pop = _uniq(pop)
    pop = pop[~in_soc[pop]]
    pop = pop[rng.permutation(len(pop))]
    n_comm = max(1, len(pop) // _P["community_size"])
    comm_start = (np.arange(n_comm) * len(pop)) // n_comm
    comm_size = np.diff(np.append(comm_start, len(pop)))
    gs = np.bincount(world["soc"]["group"])
    gs = gs[gs > 0]
    comm_start = np.concatenate([comm_start, len(pop) + np.cumsum(gs) - gs])
    comm_size = np.concatenate([comm_size, gs])
    pop = np.concatenate([pop, world["soc"]["members"]])  # members are sorted by group
    return SimpleNamespace(pop=pop, start=comm_start, size=comm_size, n=len(comm_start))


def _write_log_chunk(w: _Writer, r, lo: int, hi: int, comm: SimpleNamespace, n_people: int, world, tally) -> None:
    """Logs lo..hi-1 and the nominals they name, drawn from generator `r`."""
    k = hi - lo
    date = _year_dates(r, k)
    g, sg, ig, hc, act = _gradings(r, date)
    tally["actionable"] += int(act.sum())
    size = np.minimum(r.geometric(0.25, k), 30)
    big = r.random(k) < 0.012
    size[big] = np.exp(r.uniform(np.log(31), np.log(501), int(big.sum()))).astype(np.int64)
    tally["large_logs"] += int(big.sum())
    c = r.integers(0, comm.n, k)
    size_small = np.where(big, 0, np.minimum(size, comm.size[c]))
    lid = np.repeat(np.arange(lo, hi), size_small)
    jj = np.arange(len(lid)) - np.repeat(np.cumsum(size_small) - size_small, size_small)
    off = np.repeat(r.integers(0, _P["community_size"] * 4, k), size_small)
    cs = np.repeat(c, size_small)
    member = comm.pop[comm.start[cs] + (off + jj) % comm.size[cs]]
    # large logs draw across the whole population; duplicates within a log dropped
    bl = np.flatnonzero(big)
    blid = np.repeat(lo + bl, size[bl])
    bmember = comm.pop[r.integers(0, len(comm.pop), len(blid))]
    L = np.concatenate([lid, blid])
    M = np.concatenate([member, bmember])
    key = _uniq(L * (n_people + 1) + M)
    L, M = key // (n_people + 1), key % (n_people + 1)
    log_id = world["log_id"]
    w.write("intel_logs", {"log_id": log_id(np.arange(lo, hi)), "log_date": _date_str(date),
                           "grading_system": _take(("3x5x2", "5x5x5"), g),
                           "source_grade": sg, "information_grade": ig, "handling_code": hc})
    w.write("intel_nominals", {"log_id": log_id(L), "nominal_id": world["pid"](M)})
    tally["logs"] += k
    tally["links"] += len(L)


def _write_ring_logs(w: _Writer, r, n_logs: int, ring_logs: list, world, tally) -> None:
    """Planted ring logs: actionable, naming two to five ring members."""
    k = len(ring_logs)
    date = np.array([x[0] for x in ring_logs])
    g, sg, ig, hc, act = _gradings(r, date, force_actionable=True)
    tally["actionable"] += k
    idx = np.arange(n_logs, n_logs + k)
    log_id = world["log_id"]
    w.write("intel_logs", {"log_id": log_id(idx), "log_date": _date_str(date),
                           "grading_system": _take(("3x5x2", "5x5x5"), g),
                           "source_grade": sg, "information_grade": ig, "handling_code": hc})
    L = np.concatenate([np.full(len(x[1]), i) for i, x in zip(idx, ring_logs, strict=True)])
    M = np.concatenate([x[1] for x in ring_logs])
    w.write("intel_nominals", {"log_id": log_id(L), "nominal_id": world["pid"](M)})
    tally["logs"] += k
    tally["links"] += len(L)


def _gradings(r, date, force_actionable=False):
    """5x5x5 before 2017, 3x5x2 from 2017; a realistic mix of actionable and not."""
    k = len(date)
    new = date >= np.datetime64("2017-01-01", "D").astype(np.int64)
    s_new = _take(("1", "2", "3"), _pick(r, k, (55, 35, 10)))
    i_new = _take(("A", "B", "C", "D", "E"), _pick(r, k, (25, 20, 30, 20, 5)))
    s_old = _take(("A", "B", "C", "D", "E"), _pick(r, k, (10, 40, 25, 10, 15)))
    i_old = _take(("1", "2", "3", "4", "5"), _pick(r, k, (15, 35, 25, 20, 5)))
    if force_actionable:
        s_new = _take(("1",), np.zeros(k, np.int64))
        i_new = _take(("A", "B", "C"), r.integers(0, 3, k))
        s_old = _take(("A", "B", "C"), r.integers(0, 3, k))
        i_old = _take(("1", "2", "3"), r.integers(0, 3, k))
    h_new = _take(("P", "C"), _pick(r, k, (85, 15)))
    h_old = _take(("1", "2", "3", "4", "5"), _pick(r, k, (70, 10, 10, 5, 5)))
    m = pa.array(new)
    sg = pc.if_else(m, s_new, s_old)
    ig = pc.if_else(m, i_new, i_old)
    hc = pc.if_else(m, h_new, h_old)
    act_new = np.isin(np.asarray(s_new), ["1"]) & np.isin(np.asarray(i_new), ["A", "B", "C"])
    act_old = np.isin(np.asarray(s_old), ["A", "B", "C"]) & np.isin(np.asarray(i_old), ["1", "2", "3"])
    act = np.where(new, act_new, act_old)
    return np.where(new, 0, 1), sg, ig, hc, act


def _ring_logs(rng, world) -> list:
    logs = []
    for ring in world["rings"]:
        if not ring["large"]:
            continue
        off = ring["offenders"]
        for _ in range(max(1, ring["size"] // 3)):
            k = int(rng.integers(2, min(5, len(off)) + 1))
            logs.append((int(_year_dates(rng, 1)[0]), np.sort(rng.choice(off, k, replace=False))))
    return logs
