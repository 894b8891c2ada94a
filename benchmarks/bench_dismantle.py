"""Dismantling quality against published results, and the speed of harm + dismantle on a force.

    .venv/bin/python benchmarks/bench_dismantle.py [--skip-force] [--exact-seconds 120] [--random 300]
    .venv/bin/python benchmarks/bench_dismantle.py --proof-cost 300 [--proof-seconds 2]

1. Montagna meetings and phone calls (Cavallaro et al. 2020, PLOS ONE 15(8):e0236476; data and
   published curves in ../shared/datasets/montagna, see its SOURCE.md): reproduce the sequential
   unweighted adaptive betweenness and adaptive degree curves (LCC_k / LCC_0) with hiddennet's own
   baselines and print the max abs difference with the published CSVs (must be 0).
2. Montagna and CAVIAR (Morselli 2009; ../shared/datasets/caviar, made undirected, weight = calls
   both ways): removals to bring the largest component to 10% of its start (LCC <= floor(0.1 LCC0)),
   for exact (integer programming with lazy connectivity cuts, scipy's HiGHS, time cap), GND with and
   without reinsertion, CoreHD, adaptive degree and adaptive betweenness (unweighted, and weighted with
   distance = 1/weight), with the robustness R of Schneider et al. 2011, R = (1/N) sum_{k=1..N} s(k)/N,
   s(k) the largest component after k removals; a method's own removals come first, then (the same
   for every method) adaptive degree until no node is left. Time in seconds.
3. GND with reinsertion (and with the local search) against the exact answer on 300 random small
   graphs (< 12 nodes, target 2): how often it matches, mean and worst extra removals.
4. A scale-1 force: harm and dismantle stage times on every group (layers + network on the
   benchmark inputs of bench_network.py when present; synthetic groups otherwise, said in the output).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hiddennet.dismantle import SEARCH_ROUNDS  # noqa: E402
from hiddennet.dismantle.baselines import adaptive, corehd  # noqa: E402
from hiddennet.dismantle.exact import exact_dismantle  # noqa: E402
from hiddennet.dismantle.gnd import gnd_dismantle  # noqa: E402
from hiddennet.dismantle.graph import Problem, components, order_removals, target_size  # noqa: E402
from hiddennet.dismantle.proof import prove  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
if not SHARED.exists():
    SHARED = Path("/work/shared/datasets")
MONTAGNA = SHARED / "montagna"


# -- data --------------------------------------------------------------------------------------------
def read_montagna(name: str) -> tuple[Problem, list[str]]:
    """Nodes numbered in order of first appearance (the reference implementation's node order); the
    node met last wins ties, as the published runs' stable ascending sort took the last item."""
    order: dict[str, int] = {}
    edges = []
    for line in (MONTAGNA / name).read_text().split("\n"):
        parts = line.split()
        if len(parts) < 2:
            continue
        for x in parts[:2]:
            order.setdefault(x, len(order))
        edges.append((order[parts[0]], order[parts[1]], float(parts[2]) if len(parts) > 2 else 1.0))
    n = len(order)
    return Problem(n, edges, tie=[n - 1 - i for i in range(n)]), list(order)


def read_caviar() -> Problem:
    with open(SHARED / "caviar" / "morselli_caviar_adjacency.csv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    labels = rows[0][1:]
    n = len(labels)
    mat = np.array([[float(x or 0) for x in r[1 : n + 1]] for r in rows[1 : n + 1]])
    sym = mat + mat.T  # undirected: calls either way
    edges = [(i, j, float(sym[i, j])) for i in range(n) for j in range(i + 1, n) if sym[i, j] > 0]
    return Problem(n, edges, tie=list(range(n)))


def published(kind: str, net: str) -> dict[str, list[float]]:
    path = MONTAGNA / "published_results" / "sequential" / net / f"df_{kind}_5nrem.csv"
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in ("Betweenness", "Degree")}


# -- curves ------------------------------------------------------------------------------------------
def lcc_curve(p: Problem, order: list[int]) -> list[int]:
    """Largest component after 0, 1, ..., len(order) removals."""
    removed: set[int] = set()
    out = [max(len(c) for c in components(p, removed))]
    for v in order:
        removed.add(v)
        out.append(max((len(c) for c in components(p, removed)), default=0))
    return out


def full_order(p: Problem, order: list[int]) -> list[int]:
    """A method's removals, then adaptive degree (ties as p.tie) until no node is left."""
    removed = set(order)
    out = list(order)
    alive = [v not in removed for v in range(p.n)]
    while any(alive):
        best = None
        for v in range(p.n):
            if alive[v]:
                d = sum(1 for u in p.adj[v] if alive[u])
                if best is None or (d, -p.tie[v]) > best[0]:
                    best = ((d, -p.tie[v]), v)
        alive[best[1]] = False
        out.append(best[1])
    return out


def robustness(p: Problem, order: list[int]) -> float:
    s = lcc_curve(p, full_order(p, order))[1:]
    n = p.n
    return sum(x / n for x in s[:n]) / n


# -- exact by integer programming ------------------------------------------------------------------------
def ilp_dismantle(p: Problem, target: int, seconds: float) -> tuple[list[int] | None, bool, int, float]:
    """Fewest removals leaving no piece above `target`: min sum x_v such that every connected set of
    target+1 nodes loses a node. Those sets are too many to list, so they are added when violated
    (several per oversized piece, grown by breadth-first search from each of its nodes) and the
    integer program re-solved until its answer leaves no oversized piece: that answer is optimal.
    Returns (set, proven optimal, lower bound, seconds)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    t0 = time.perf_counter()
    cuts: set[tuple[int, ...]] = set()
    lower = 0
    removed: list[int] = []
    while True:
        found = False
        for piece in components(p, set(removed)):
            if len(piece) <= target:
                continue
            inside = set(piece)
            for s in piece:
                seen, queue = [s], [s]
                while queue and len(seen) < target + 1:
                    v = queue.pop(0)
                    for u in p.adj[v]:
                        if u in inside and u not in seen and u not in removed:
                            seen.append(u)
                            queue.append(u)
                            if len(seen) == target + 1:
                                break
                if len(seen) == target + 1:
                    key = tuple(sorted(seen))
                    if key not in cuts:
                        cuts.add(key)
                        found = True
        if not found:
            return removed, True, len(removed), time.perf_counter() - t0
        left = seconds - (time.perf_counter() - t0)
        if left <= 0:
            return None, False, lower, time.perf_counter() - t0
        rows, cols = [], []
        for i, c in enumerate(sorted(cuts)):
            rows += [i] * len(c)
            cols += list(c)
        a = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cuts), p.n))
        res = milp(
            c=np.ones(p.n),
            constraints=LinearConstraint(a, lb=np.ones(len(cuts)), ub=np.full(len(cuts), np.inf)),
            integrality=np.ones(p.n),
            bounds=Bounds(0, 1),
            options={"time_limit": left, "disp": False},
        )
        if res.x is None:
            return None, False, lower, time.perf_counter() - t0
        if res.status != 0:  # time limit: the incumbent is not proven
            return None, False, lower, time.perf_counter() - t0
        removed = [v for v in range(p.n) if res.x[v] > 0.5]
        lower = len(removed)


# -- sections ----------------------------------------------------------------------------------------
def reproduce_published() -> float:
    print("## Reproduction of the published sequential unweighted curves (LCC_k / LCC_0)")
    worst = 0.0
    for fname, net in (("Montagna_meetings_edgelist.csv", "meeting"), ("Montagna_phonecalls_edgelist.csv", "phone_calls")):
        p, _ = read_montagna(fname)
        pub = published("Unweighted", net)
        for measure, col in (("betweenness", "Betweenness"), ("degree", "Degree")):
            r = adaptive(p, 0, measure)
            curve = lcc_curve(p, r.order)
            ours = [c / curve[0] for c in curve]
            k = len(pub[col])
            diff = max(abs(a - b) for a, b in zip(ours[:k], pub[col], strict=True))
            worst = max(worst, diff)
            # Published values are LCC_k / LCC_0 as floats: compare the node counts they stand for too.
            same = all(round(b * curve[0]) == c for b, c in zip(pub[col], curve[:k], strict=True))
            print(f"{net:12s} {measure:12s} steps compared {k:3d}  max abs diff {diff:.3g}  "
                  f"identical LCC sizes: {same}")
    return worst


def compare(name: str, p: Problem, exact_seconds: float) -> None:
    lcc0 = max(len(c) for c in components(p, set()))
    target = math.floor(0.1 * lcc0)
    print(f"\n## {name}: N={p.n}, edges={len(p.weight)}, LCC0={lcc0}, target LCC <= {target}")
    print(f"{'method':34s} {'removals':>8s} {'R':>7s} {'seconds':>8s}")
    runs = []
    t = time.perf_counter()
    s, proven, lower, secs = ilp_dismantle(p, target, exact_seconds)
    if s is not None:
        order, _ = order_removals(p, s)
        runs.append(("exact (old ILP, proven optimal)", order, secs))
    else:
        print(f"{'exact (old ILP)':34s} {'>=' + str(lower):>8s} {'-':>7s} {secs:8.2f}  (time cap reached)")
    # The stage's proof (hiddennet/dismantle/proof.py): reductions, stronger cuts, GND's set as incumbent.
    stage = gnd_dismantle(p, target, search_rounds=SEARCH_ROUNDS)
    t = time.perf_counter()
    pr = prove(p, target, exact_seconds, incumbent=sorted(stage.order))
    secs = time.perf_counter() - t
    if pr.best is not None:
        runs.append(("exact (stage proof, proven optimal)", order_removals(p, pr.best)[0], secs))
        print(f"stage proof: lower bound {pr.lower_bound} = optimum, proven in {secs:.2f} s; stage GND "
              f"{len(stage.order)}: gap {len(stage.order) - pr.lower_bound}")
    else:
        print(f"stage proof: lower bound {pr.lower_bound} in {secs:.2f} s (cap reached); stage GND "
              f"{len(stage.order)}: gap <= {len(stage.order) - pr.lower_bound}")
    for label, fn in (
        (f"GND + reins. + search {SEARCH_ROUNDS} (stage)", lambda: gnd_dismantle(p, target, search_rounds=SEARCH_ROUNDS)),
        ("GND + reinsertion + search 300", lambda: gnd_dismantle(p, target, search_rounds=300)),
        ("GND + reinsertion", lambda: gnd_dismantle(p, target, reinsertion=True)),
        ("GND (no reinsertion)", lambda: gnd_dismantle(p, target, reinsertion=False)),
        ("CoreHD", lambda: corehd(p, target)),
        ("adaptive degree", lambda: adaptive(p, target, "degree")),
        ("adaptive betweenness", lambda: adaptive(p, target, "betweenness")),
        ("adaptive betweenness (1/w dist.)", lambda: adaptive(p, target, "betweenness", weighted=True)),
    ):
        t = time.perf_counter()
        r = fn()
        runs.append((label, r.order, time.perf_counter() - t))
    for label, order, secs in runs:
        assert lcc_curve(p, order)[-1] <= target, label
        print(f"{label:34s} {len(order):8d} {robustness(p, order):7.4f} {secs:8.2f}")


def random_vs_exact(count: int) -> None:
    import networkx as nx

    rng = random.Random(20210315)
    stats = {"gnd+reinsertion": [], "gnd+reinsertion+search": []}
    for _ in range(count):
        n = rng.randint(4, 11)
        g = nx.gnm_random_graph(n, rng.randint(n - 1, min(n * (n - 1) // 2, 3 * n)), seed=rng.randint(0, 10**9))
        harm = [rng.choice([0.0, 10.0, 19.0, 365.0, 1825.0]) for _ in range(n)]
        p = Problem(n, [(a, b, 1.0) for a, b in g.edges()], harm=harm)
        e = len(exact_dismantle(p, 2).order)
        stats["gnd+reinsertion"].append(len(gnd_dismantle(p, 2).order) - e)
        stats["gnd+reinsertion+search"].append(len(gnd_dismantle(p, 2, search_rounds=SEARCH_ROUNDS).order) - e)
    print(f"\n## GND against exact on {count} random graphs (4-11 nodes, G(n, m), target 2)")
    for label, extra in stats.items():
        match = sum(1 for d in extra if d == 0)
        print(f"{label:24s} same number of removals {match}/{count} ({100 * match / count:.1f}%); "
              f"mean extra removals {sum(extra) / count:.3f}; worst {max(extra)}; never fewer: {min(extra) >= 0}")


def proof_cost(count: int, seconds: float) -> None:
    """The stage's per-group work on `count` random groups of 17-50 nominals (above the exact limit,
    stage target rule), without and with the proof, in the same run: time ratio and what was proven."""
    from hiddennet.dismantle import dismantle_problem

    rng = random.Random(20210315)
    import networkx as nx

    probs = []
    for _ in range(count):
        n = rng.randint(17, 50)
        g = nx.connected_watts_strogatz_graph(n, 4, 0.2, seed=rng.randint(0, 10**9)) if rng.random() < 0.5 else \
            nx.barabasi_albert_graph(n, 1 + (rng.random() < 0.5), seed=rng.randint(0, 10**9))
        harm = [rng.choice([0.0, 0.0, 10.0, 19.0, 365.0, 1825.0]) for _ in range(n)]
        flagged = [rng.random() < 0.05 for _ in range(n)]
        probs.append(Problem(n, [(a, b, 1.0) for a, b in g.edges()], harm=harm, flagged=flagged))
    out = {}
    for label, budget in (("without proof", 0.0), (f"with proof ({seconds:g} s budget)", seconds)):
        t = time.perf_counter()
        res = [dismantle_problem(p, target_size(p.n, 0.1), exact_max=16, method="gnd", reinsertion=True, seed=1,
                                 proof_seconds=budget) for p in probs]
        out[label] = (time.perf_counter() - t, res)
    (t0, base), (t1, proven) = out.values()
    gaps = [len(r.order) - r.lower_bound for r in proven]
    better = sum(1 for a, b in zip(base, proven, strict=True) if len(b.order) < len(a.order))
    print(f"\n## Proof cost on {count} random groups of 17-50 nominals (stage target rule)")
    print(f"without proof {t0:.2f} s; with proof {t1:.2f} s; ratio {t1 / t0:.2f}x")
    print(f"optimal (gap 0) {sum(1 for x in gaps if x == 0)}/{count}; largest gap {max(gaps)}; exact (most harm "
          f"proven) {sum(1 for r in proven if r.exact)}/{count}; shorter than GND's order {better}")


def force(skip: bool, which: str = "both") -> None:
    """Harm + dismantle stage times on a scale-1 force's groups: the network stage's own groups
    (cached from layers + network on bench_network.py's inputs) and synthetic groups of 2-50
    nominals (the sizes method.md's Leiden split promises)."""
    if skip:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hiddennet.engine.duckdb_engine import DuckDBEngine

    data = ROOT / "benchmarks" / "data" / "network-scale-1"
    cache = ROOT / "benchmarks" / "data" / "dismantle-scale-1"
    network_tables = ("combined_edges", "network_nominals", "network_groups")
    as_of = dt.date(2021, 12, 31)
    if which in ("both", "network"):
        with DuckDBEngine() as eng:
            eng.execute("SET enable_progress_bar = false")
            if all((cache / f"{t}.parquet").exists() for t in network_tables):
                for t in network_tables:
                    eng.register_arrow(t, pq.read_table(cache / f"{t}.parquet"))
                _measure(eng, pa, as_of, f"network stage groups (cached in {cache.relative_to(ROOT)})")
            else:
                try:
                    from hiddennet import layers, network
                    from hiddennet.settings import Settings

                    for f in data.glob("*.parquet"):
                        eng.register_arrow(f.stem, pq.read_table(f))
                    layers.run(eng, Settings(as_of=as_of))
                    network.run(eng, Settings(as_of=as_of))
                    cache.mkdir(parents=True, exist_ok=True)
                    for t in network_tables:
                        pq.write_table(eng.fetch_arrow(f"SELECT * FROM {t}"), cache / f"{t}.parquet")
                    _measure(eng, pa, as_of, f"network stage groups (layers + network on {data.relative_to(ROOT)})")
                except Exception as exc:  # noqa: BLE001 - say so and go on with synthetic groups
                    print(f"\nnetwork stage groups: not available ({type(exc).__name__})")
    if which in ("both", "synthetic"):
        with DuckDBEngine() as eng:
            eng.execute("SET enable_progress_bar = false")
            _synthetic_network(eng, pa)
            _measure(eng, pa, as_of, "synthetic groups of 2-50 nominals (most 2-5)")


def _measure(eng, pa, as_of, source: str) -> None:
    from hiddennet import dismantle, harm
    from hiddennet.settings import Settings

    settings = Settings(as_of=as_of)
    nominals = eng.fetch_arrow("SELECT nominal_id FROM network_nominals").column(0).to_pylist()
    _synthetic_crimes(eng, pa, nominals, as_of)
    # Safeguarding flags: 5% of nominals at random (the safeguard stage needs the whole pipeline).
    rng = np.random.default_rng(1)
    flagged = [v for v in nominals if rng.random() < 0.05]
    eng.register_arrow("safeguarding", pa.table({"nominal_id": pa.array(flagged, pa.string()),
                                                 "reasons": pa.array([["child_in_network"]] * len(flagged),
                                                                     pa.list_(pa.string()))}))
    sizes = eng.fetch_rows("SELECT max(size), count(*), sum(CASE WHEN size >= 3 THEN 1 ELSE 0 END), "
                           "sum(CASE WHEN size > 16 THEN 1 ELSE 0 END) FROM network_groups")[0]
    print(f"\n## Scale-1 force, harm and dismantle stages: {source}")
    print(f"groups {sizes[1]}, of 3 or more {sizes[2]}, above 16 (GND) {sizes[3]}, largest {sizes[0]}, "
          f"nominals {len(nominals)}, crimes 80,000 (synthetic, two offenders each)")
    t, c = time.perf_counter(), time.process_time()
    h = harm.run(eng, settings)
    th, ch = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    d = dismantle.run(eng, settings)
    td, cd = time.perf_counter() - t, time.process_time() - c
    print(f"wall: harm {th:.2f} s; dismantle {td:.2f} s; total {th + td:.2f} s (goal < 60 s)")
    print(f"cpu of this process (all threads): harm {ch:.2f} s; dismantle {cd:.2f} s")
    with open("/proc/loadavg") as f:
        print(f"machine load average at the end: {f.read().split()[0]} on {__import__('os').cpu_count()} cores")
    print(f"harm facts: crimes {h.facts['crimes']}, in window {h.facts['crimes_in_window']}, "
          f"ranked groups {h.facts['groups_ranked']}")
    print(f"dismantle facts: {d.facts}")


def _synthetic_network(eng, pa) -> None:
    """Groups of 2-50 nominals (most 2-5), each a random connected graph."""
    rng = np.random.default_rng(7)
    members, a_s, b_s, g_s = [], [], [], []
    for g in range(12000):
        size = int(min(50, 2 + rng.geometric(0.45) - 1 if rng.random() < 0.97 else rng.integers(6, 51)))
        ids = [f"N{g}_{i}" for i in range(size)]
        members += [(v, f"G{g:05d}") for v in ids]
        pairs = {(ids[int(rng.integers(0, i))], ids[i]) for i in range(1, size)}
        for _ in range(size // 2):
            x, y = rng.integers(0, size, 2)
            if x != y:
                pairs.add((ids[min(x, y)], ids[max(x, y)]))
        for x, y in pairs:
            a_s.append(min(x, y))
            b_s.append(max(x, y))
            g_s.append(f"G{g:05d}")
    eng.register_arrow("network_nominals", pa.table({"nominal_id": [m[0] for m in members],
                                                     "group_id": [m[1] for m in members]}))
    gid = sorted({m[1] for m in members})
    count: dict[str, int] = {}
    for m in members:
        count[m[1]] = count.get(m[1], 0) + 1
    eng.register_arrow("network_groups", pa.table({"group_id": gid, "size": [count[g] for g in gid]}))
    eng.register_arrow("combined_edges", pa.table({"nominal_a": a_s, "nominal_b": b_s,
                                                   "weight": rng.random(len(a_s)) + 0.1,
                                                   "layers": [["victim"]] * len(a_s), "group_id": g_s}))


def _synthetic_crimes(eng, pa, nominals: list[str], as_of: dt.date) -> None:
    """80k crimes with codes drawn from the CSE codes, two offenders each from the network."""
    rng = np.random.default_rng(11)
    n = 80_000
    codes = np.array(["22B", "19C", "17A", "21", "71", "88A", "ZZ9", ""], dtype=object)
    refs = [f"C{i}" for i in range(n)]
    dates = [as_of - dt.timedelta(days=int(x)) for x in rng.integers(0, 3000, n)]
    eng.register_arrow("crimes", pa.table({
        "crime_ref": refs, "offence_code": pa.array([c or None for c in codes[rng.integers(0, len(codes), n)]], pa.string()),
        "offence_title": ["synthetic offence"] * n, "offence_date": pa.array(dates, pa.date32())}))
    who = np.array(nominals, dtype=object)
    eng.register_arrow("crime_nominals", pa.table({
        "crime_ref": refs + refs, "nominal_id": list(who[rng.integers(0, len(who), 2 * n)]),
        "role": ["offender"] * n + ["suspect"] * n}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-force", action="store_true")
    ap.add_argument("--only-force", choices=["both", "network", "synthetic"])
    ap.add_argument("--exact-seconds", type=float, default=120.0)
    ap.add_argument("--random", type=int, default=300)
    ap.add_argument("--proof-cost", type=int, default=0, metavar="GROUPS",
                    help="only the proof's cost on this many random groups (with --proof-seconds)")
    ap.add_argument("--proof-seconds", type=float, default=2.0)
    args = ap.parse_args()
    if args.proof_cost:
        proof_cost(args.proof_cost, args.proof_seconds)
        return
    print(f"# bench_dismantle {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    if args.only_force:
        force(False, args.only_force)
        return
    worst = reproduce_published()
    print(f"reproduction max abs diff over both networks and both measures: {worst:.3g}")
    for fname, label in (("Montagna_meetings_edgelist.csv", "Montagna meetings"),
                         ("Montagna_phonecalls_edgelist.csv", "Montagna phone calls")):
        compare(label, read_montagna(fname)[0], args.exact_seconds)
    compare("CAVIAR (undirected)", read_caviar(), args.exact_seconds)
    random_vs_exact(args.random)
    force(args.skip_force)


if __name__ == "__main__":
    main()
