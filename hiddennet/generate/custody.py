"""custody_cells.csv: random cell stays plus planted cellmates above and below 30 shared days."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.generate.constants import _D, _NO_DATE, _P, ESTABLISHMENTS
from hiddennet.generate.people import _People
from hiddennet.generate.util import _date_str, _n, _take, _year_dates
from hiddennet.generate.writer import _Writer


def _write_custody(w: _Writer, rng, s, people: _People, world):
    """Cell histories: random stays plus planted shared stays above and below 30 days; some still open."""
    cse = world["selected_offenders"]
    prisoners = np.unique(np.concatenate([
        rng.choice(cse, int(len(cse) * 0.12), replace=False),
        rng.choice(world["soc"]["members"], int(len(world["soc"]["members"]) * 0.4), replace=False),
        rng.choice(world["other_offenders"], int(len(world["other_offenders"]) * 0.05), replace=False)]))
    n_cells = 1200
    stays = rng.integers(1, 5, len(prisoners))
    who = np.repeat(prisoners, stays)
    n = len(who)
    est = rng.integers(0, len(ESTABLISHMENTS), n)
    cell = rng.integers(0, n_cells, n)
    start = _year_dates(rng, n)
    dur = np.maximum(1, rng.lognormal(4.0, 1.0, n).astype(np.int64))
    # planted pairs: two people in one cell, sharing `shared` days (half >= 30, half < 30)
    npairs = _n(_P["cell_pairs"], s, 4)
    pa_ = rng.choice(prisoners, npairs)
    pb_ = rng.choice(prisoners, npairs)
    ring_pairs = []
    for ring in world["rings"]:
        if ring["large"]:
            for _ in range(max(1, ring["size"] // 5)):
                a, b = rng.choice(ring["offenders"], 2, replace=False)
                ring_pairs.append((a, b))
    if ring_pairs:
        pa_ = np.concatenate([pa_, [x[0] for x in ring_pairs]])
        pb_ = np.concatenate([pb_, [x[1] for x in ring_pairs]])
    keep = pa_ != pb_
    pa_, pb_ = pa_[keep], pb_[keep]
    m = len(pa_)
    long_ = rng.random(m) < 0.5
    long_[-len(ring_pairs) or m:] = True  # ring pairs share 30 days or more
    shared = np.where(long_, rng.integers(30, 200, m), rng.integers(1, 30, m))
    s0 = np.minimum(_year_dates(rng, m), _D - 400)
    pest = rng.integers(0, len(ESTABLISHMENTS), m)
    pcell = n_cells + np.arange(m)  # planted pairs use their own cells: no accidental sharing
    lead = rng.integers(0, 60, m)
    tail = rng.integers(0, 60, m)
    # a from s0-lead to s0+shared-1 ; b from s0 to s0+shared-1+tail: overlap is exactly `shared` days
    who = np.concatenate([who, pa_, pb_])
    est = np.concatenate([est, pest, pest])
    cell = np.concatenate([cell, pcell, pcell])
    start = np.concatenate([start, s0 - lead, s0])
    end = np.concatenate([start[:n] + dur - 1, s0 + shared - 1, s0 + shared - 1 + tail])
    # open stays: still in the cell on the extract date (only random stays, so planted overlaps stay exact)
    open_ = np.zeros(len(who), bool)
    open_[:n] = (end[:n] >= _D) | (rng.random(n) < 0.02)
    start = np.minimum(start, _D)
    end = np.where(open_, _NO_DATE, np.minimum(end, _D))
    cell_id = pc.binary_join_element_wise(_take(tuple("ABCDEFGH"), cell % 8), pc.utf8_lpad(
        pa.array(cell // 8).cast(pa.string()), width=3, padding="0"), "-")
    w.write("custody_cells", {"nominal_id": world["pid"](who), "establishment": _take(ESTABLISHMENTS, est),
                              "cell_id": cell_id, "from_date": _date_str(start), "to_date": _date_str(end)})
    w.close("custody_cells")
    world["custody_pairs"] = (pa_, pb_, shared)
    return len(who), {"rows": len(who), "open_stays": int(open_.sum()), "planted_pairs": int(m),
                      "planted_pairs_30_plus": int(long_.sum()), "planted_pairs_under_30": int((~long_).sum()),
                      "ring_pairs": len(ring_pairs)}
