"""Exact dismantling of a small group by branch and bound (method.md section 6).

Find the fewest removable nodes whose removal leaves no piece larger than the target; among those
sets, the one removing the most harm; among equal harm, the set whose tie places, sorted, come first.

Search: iterative deepening on the number of removals k. While some piece is larger than the target
T, any T+1 connected nodes of it (a *witness*) must lose at least one node, so we branch on the
removable nodes of one witness, the one with the fewest removable nodes. Branch i forbids the nodes
of branches 1..i-1, so every set is met once. Pruning: a packing of disjoint witnesses is a lower
bound on the removals still needed; the harm of the best remaining candidates bounds the harm.
Flagged nodes are never removable; when they alone hold a piece above the target, the target
becomes the smallest piece reachable without them and the result says the target was not reached.
"""

from __future__ import annotations

import math

from hiddennet.dismantle.graph import Problem, Result, components, flagged_floor, order_removals


def _witness(p: Problem, piece: list[int], gone: list[bool], forbidden: list[bool], size: int) -> list[int]:
    """`size` connected nodes of `piece` with as few removable nodes as possible (greedy per start)."""
    best = None
    for s in piece:
        chosen = [s]
        inset = {s}
        frontier = [u for u in p.adj[s] if not gone[u]]
        while len(chosen) < size:
            cand = [u for u in frontier if u not in inset]
            if not cand:
                break
            # Grow through forbidden nodes first: they cost nothing to include in the witness.
            u = min(cand, key=lambda x: (not forbidden[x], x))
            chosen.append(u)
            inset.add(u)
            frontier.extend(x for x in p.adj[u] if not gone[x] and x not in inset)
        if len(chosen) < size:
            continue
        free = sum(1 for v in chosen if not forbidden[v])
        if best is None or free < best[0]:
            best = (free, chosen)
            if free <= 1:
                break
    return best[1] if best else []


def _too_big(p: Problem, gone: list[bool], target: int) -> list[list[int]]:
    return [c for c in components(p, gone) if len(c) > target]


def _lower_bound(p: Problem, gone: list[bool], forbidden: list[bool], target: int) -> int:
    """Disjoint witnesses each need their own removal."""
    g = list(gone)
    count = 0
    while True:
        big = _too_big(p, g, target)
        if not big:
            return count
        w = _witness(p, big[0], g, forbidden, target + 1)
        if not w or all(forbidden[v] for v in w):
            return 10**9  # a piece that cannot be broken: infeasible branch
        count += 1
        for v in w:
            g[v] = True


def exact_set(p: Problem, target: int, max_k: int | None = None) -> tuple[list[int], int]:
    """The optimal removal set and the target it meets (raised when flagged nodes block `target`)."""
    reach = max(target, flagged_floor(p))
    harm = p.harm
    best: dict = {}

    def better(key_new, key_old) -> bool:
        return key_old is None or key_new > key_old

    def key_of(removed: list[int]):
        return (math.fsum(harm[v] for v in removed), [-t for t in sorted(p.tie[v] for v in removed)])

    def dfs(removed: list[int], gone: list[bool], forbidden: list[bool], depth: int) -> None:
        big = _too_big(p, gone, reach)
        if not big:
            k = key_of(removed)
            if better(k, best.get("key")):
                best["key"] = k
                best["set"] = sorted(removed)
            return
        if depth == 0:
            return
        if _lower_bound(p, gone, forbidden, reach) > depth:
            return
        if "key" in best:
            # Harm bound: the `depth` most harmful nodes still removable.
            rest = sorted((harm[v] for v in range(p.n) if not gone[v] and not forbidden[v]), reverse=True)
            if math.fsum(harm[v] for v in removed) + math.fsum(rest[:depth]) < best["key"][0]:
                return
        piece = max(big, key=len)
        w = _witness(p, piece, gone, forbidden, reach + 1)
        cand = sorted((v for v in w if not forbidden[v]), key=lambda v: (-harm[v], p.tie[v]))
        f = list(forbidden)
        for v in cand:
            gone[v] = True
            removed.append(v)
            dfs(removed, gone, f, depth - 1)
            removed.pop()
            gone[v] = False
            f = list(f)
            f[v] = True  # later branches never remove v: each set is visited once

    forbidden0 = list(p.flagged)
    limit = p.n if max_k is None else max_k
    for k in range(0, limit + 1):
        dfs([], [False] * p.n, forbidden0, k)
        if "set" in best:
            return best["set"], reach
    raise RuntimeError("no dismantling set within the removal limit")


def exact_dismantle(p: Problem, target: int) -> Result:
    chosen, reach = exact_set(p, target)
    order, sizes = order_removals(p, chosen)
    return Result(order, sizes, target, reach == target, True, "exact", reach)
