"""A proven lower bound on the fewest removals of a group, and the proven optimum when it comes in time.

Model (integer program, HiGHS through scipy.optimize.milp): x_v = 1 when nominal v is removed,
minimise sum x_v such that, for every connected set S of T+1 nodes, sum_{v in S} x_v >= 1 (some
node of every too-large connected set goes, so no piece above T is left). Flagged nominals have
x_v = 0. Those sets are far too many to list, so they are added lazily: solve, find the pieces of
the solution above T, add from each node of each such piece the T+1 nodes a breadth-first search
inside the piece reaches (each a minimal violated set), solve again. When the solution leaves no
piece above T it is optimal, since every constraint it was solved under is valid.

Valid lower bounds on the way, the best of which is reported when the time budget runs out:
- packing: disjoint too-large connected sets each need their own removal (exact._lower_bound);
- the integer program's optimum (or, when its time runs out, its dual bound) under the cuts so far.

Cheap reductions for the count (only in the first phase; they keep at least one optimal set):
- nodes of pieces already at most T are never needed;
- a degree-1 nominal whose neighbour is removable is never needed (removing the neighbour instead
  isolates it and shrinks every other piece), so x_leaf = 0.

Second phase, for most harm among the fewest: sum x_v = k* fixed, maximise removed harm, same lazy
cuts, no reductions (every optimal set is inclusion-minimal, but it may hold a leaf).

Work is bounded by NODE_LIMIT branch-and-bound nodes per solve and MAX_ROUNDS solves per phase,
which do not depend on the machine, so the answer is the same on every run; the wall-time budget
is a safety net on top (a group that reaches it can differ between an idle and a loaded machine).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from hiddennet.dismantle.exact import _lower_bound
from hiddennet.dismantle.graph import Problem, _mask, components

# HiGHS answers within this of an integer are that integer (its objective is a float).
_EPS = 1e-6
# Work limits that do not depend on the machine's speed: branch-and-bound nodes per solve and
# solves (rounds of cuts) per phase. Within them the proof is deterministic; the wall-time budget
# (`dismantle_proof_seconds`) is only a safety net on top.
NODE_LIMIT = 2000
MAX_ROUNDS = 40


@dataclass
class Proof:
    """lower_bound: proven fewest removals at `level`; best: an optimal set (most harm among the
    fewest) when proven in time, else None; harm_proven: the second phase finished too."""

    level: int
    lower_bound: int
    best: list[int] | None
    harm_proven: bool
    seconds: float
    # The wall-time budget, not the work limits, ended a phase: the answer may differ on a faster machine.
    time_cut: bool = False


def _grow(p: Problem, s: int, inside: set[int], size: int, free: np.ndarray, greedy: bool) -> tuple[int, ...]:
    """`size` connected nodes of `inside` from s; greedy: through nodes that cannot be removed first
    (they cost nothing, so the cut has fewer variables and is stronger), else breadth first."""
    seen, mark, frontier = [s], {s}, [u for u in p.adj[s] if u in inside]
    while len(seen) < size and frontier:
        if greedy:
            i = min(range(len(frontier)), key=lambda j: (free[frontier[j]], j))
            u = frontier.pop(i)
        else:
            u = frontier.pop(0)
        if u in mark:
            continue
        mark.add(u)
        seen.append(u)
        frontier.extend(x for x in p.adj[u] if x in inside and x not in mark)
    return tuple(sorted(seen))


def _violated_sets(p: Problem, removed: set[int], level: int, free: np.ndarray) -> list[tuple[int, ...]]:
    """From each node of each piece above `level`, level+1 connected nodes of the piece (two ways)."""
    out = set()
    for piece in components(p, removed):
        if len(piece) <= level:
            continue
        inside = set(piece)
        for s in piece:
            for greedy in (False, True):
                out.add(_grow(p, s, inside, level + 1, free, greedy))
    return sorted(out)


def _leaves(p: Problem) -> list[bool]:
    """Degree-1 nominals with a removable neighbour: never needed, since removing the neighbour
    instead (or nothing, when it is removed already) leaves the leaf alone and no piece larger.
    (The wider rule "every other neighbour of v is u's" fails when u is removed too: twins.)"""
    return [len(a) == 1 and not p.flagged[a[0]] for a in p.adj]


def _count_bounds(p: Problem, level: int) -> np.ndarray:
    """Upper bound of each x_v for the count phase: 0 for flagged nodes and the reductions above."""
    ub = np.array([0.0 if f else 1.0 for f in p.flagged])
    for piece in components(p, set()):
        if len(piece) <= level:
            ub[piece] = 0.0
    ub[np.array(_leaves(p), dtype=bool)] = 0.0
    return ub


def _solve(
    p: Problem, cost: np.ndarray, ub: np.ndarray, cuts: dict, fixed_count: tuple[int, int] | None, seconds: float
):
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    rows, cols, rhs = [], [], []
    for i, (c, k) in enumerate(cuts.items()):
        rows += [i] * len(c)
        cols += list(c)
        rhs.append(k)
    a = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cuts), p.n))
    cons = [LinearConstraint(a, lb=np.array(rhs, dtype=float), ub=np.full(len(cuts), np.inf))]
    if fixed_count is not None:  # (lowest, highest) number of removals
        cons.append(LinearConstraint(np.ones((1, p.n)), lb=fixed_count[0], ub=fixed_count[1]))
    return milp(c=cost, constraints=cons, integrality=np.ones(p.n), bounds=Bounds(0, ub),
                options={"time_limit": max(seconds, 0.01), "node_limit": NODE_LIMIT, "disp": False})


def _add_cuts(p: Problem, removed: set[int], level: int, cuts: dict, free: np.ndarray) -> None:
    for c in _violated_sets(p, removed, level, free):
        cuts.setdefault(c, 1)


# Count phase: ask HiGHS only for sets smaller than the incumbent (False: plain minimum; measured
# better on the benchmark groups, where the bound of a time-limited infeasibility search is weak).
BELOW_INCUMBENT = False

# _lazy's answer when no set of the allowed sizes exists (a proof that the incumbent is optimal).
INFEASIBLE: list[int] = []

# Up to this many connected sets of level+1 nodes, all of them are listed up front (small levels on
# sparse groups): the first solve is then the last.
ALL_SETS_MAX = 20_000


def _all_connected_sets(p: Problem, size: int, cap: int) -> list[tuple[int, ...]] | None:
    """Every connected set of `size` nodes (ESU enumeration: each set once, grown from its smallest
    node through exclusive neighbours), or None when there are more than `cap`."""
    out: list[tuple[int, ...]] = []

    def grow(sub: list[int], near: set[int], ext: list[int], root: int) -> bool:
        if len(sub) == size:
            out.append(tuple(sorted(sub)))
            return len(out) <= cap
        ext = list(ext)
        while ext:
            w = ext.pop()
            fresh = [u for u in p.adj[w] if u > root and u not in near]
            if not grow(sub + [w], near | set(p.adj[w]) | {w}, ext + fresh, root):
                return False
        return True

    for v in range(p.n):
        if not grow([v], set(p.adj[v]) | {v}, [u for u in p.adj[v] if u > v], v):
            return None
    return out


def _lazy(p: Problem, level: int, cost, ub, fixed_count, deadline: float, on_bound=None, cut=None):
    """Solve with lazily added cuts until the solution meets `level` (returned) or time runs out (None).

    `cut` (a dict) gets "time" = True when the wall-time deadline, not a work limit, stopped it."""
    cuts: dict[tuple[int, ...], int] = {}
    every = _all_connected_sets(p, level + 1, ALL_SETS_MAX)
    for c in every or ():
        cuts[c] = 1
    _add_cuts(p, set(), level, cuts, ub)
    for _ in range(MAX_ROUNDS):
        left = deadline - time.perf_counter()
        if left <= 0:
            if cut is not None:
                cut["time"] = True
            return None
        res = _solve(p, cost, ub, cuts, fixed_count, left)
        if res.status == 1 and time.perf_counter() >= deadline and cut is not None:
            cut["time"] = True  # HiGHS stopped at its time limit (status 1 is also the node limit)
        if res.status == 2:  # infeasible: no set of the allowed sizes meets even these cuts
            return INFEASIBLE
        if on_bound is not None:
            bound = res.fun if res.status == 0 else getattr(res, "mip_dual_bound", None)
            if bound is not None and not math.isnan(bound):
                on_bound(bound)
        if res.status != 0 or res.x is None:
            return None
        chosen = [v for v in range(p.n) if res.x[v] > 0.5]
        if not any(len(c) > level for c in components(p, set(chosen))):
            return chosen
        _add_cuts(p, set(chosen), level, cuts, ub)
    return None


def _most_harm(
    p: Problem, level: int, k: int, known: list[list[int]], deadline: float, cut: dict[str, bool]
) -> tuple[list[int] | None, bool]:
    """Most harm among the sets of k removals (k proven fewest): the best of the `known` sets of size k,
    proven without solving when it holds the k most harmful removable nominals (or harm is all 0), else
    by a second solve with the count fixed. Returns (best set or None, whether its harm is proven)."""
    harm = np.array([0.0 if f else h for h, f in zip(p.harm, p.flagged, strict=True)])
    candidates = [c for c in known if len(c) == k]
    best = max(candidates, key=lambda c: math.fsum(p.harm[v] for v in c)) if candidates else None
    top = math.fsum(sorted(harm, reverse=True)[:k])
    harm_proven = best is not None and math.fsum(p.harm[v] for v in best) >= top - 1e-9
    if not harm_proven and time.perf_counter() >= deadline:
        cut["time"] = True
    elif not harm_proven:
        richest = _lazy(p, level, -harm, np.array([0.0 if f else 1.0 for f in p.flagged]), (k, k), deadline,
                        cut=cut)
        if richest is not None and richest is not INFEASIBLE:
            harm_proven = True
            if best is None or math.fsum(p.harm[v] for v in richest) > math.fsum(p.harm[v] for v in best) + 1e-9:
                best = richest
    return best, harm_proven


def prove(
    p: Problem, level: int, seconds: float, incumbent: list[int] | None = None, known_bound: int = 0
) -> Proof:
    """Lower bound (and, in time, the optimum with most harm) for leaving no piece above `level`.

    `level` must be reachable (at least the largest piece of flagged nominals alone); `incumbent`
    is a known set meeting it: when the bounds reach its size the count is proven without solving;
    `known_bound` a lower bound proven elsewhere (bounds.cheap_bound), the start of the proof's own.
    """
    t0 = time.perf_counter()
    deadline = t0 + seconds
    if not any(len(c) > level for c in components(p, set())):
        return Proof(level, 0, [], True, time.perf_counter() - t0)
    lb = _lower_bound(p, 0, _mask(v for v in range(p.n) if p.flagged[v]), level)
    if lb >= 10**9:
        raise ValueError("level below what flagged nominals allow")
    lb = max(lb, known_bound)
    state: dict[str, int] = {"lb": lb}
    cut: dict[str, bool] = {}

    if incumbent is not None and any(len(c) > level for c in components(p, set(incumbent))):
        incumbent = None  # only a set that meets the level may prove the count
    upper = len(incumbent) if incumbent is not None else None

    def raise_bound(bound: float) -> None:
        # Solves with an incumbent look only below it: their bound says "nothing smaller than
        # bound below the incumbent", so the optimum is at least min(bound, incumbent).
        b = math.ceil(bound - _EPS)
        state["lb"] = max(state["lb"], b if upper is None else min(b, upper))
    chosen = None
    if upper is None or state["lb"] < upper:
        # With an incumbent, ask only for a smaller set: HiGHS prunes with that bound from the start,
        # and "none exists" proves the incumbent.
        sizes = None if upper is None or not BELOW_INCUMBENT else (0, upper - 1)
        chosen = _lazy(p, level, np.ones(p.n), _count_bounds(p, level), sizes, deadline, raise_bound, cut)
        if chosen is INFEASIBLE and upper is not None:  # only asked with an incumbent: it is proven
            chosen, state["lb"] = None, upper
        elif chosen is not None:
            state["lb"] = len(chosen)
    k = state["lb"]
    proven_count = chosen is not None or (upper is not None and k >= upper)
    if not proven_count:
        return Proof(level, k, None, False, time.perf_counter() - t0, bool(cut))
    best, harm_proven = _most_harm(p, level, k, [c for c in (incumbent, chosen) if c is not None], deadline, cut)
    return Proof(level, k, sorted(best) if best is not None else None, harm_proven, time.perf_counter() - t0,
                 bool(cut))
