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

from hiddennet.dismantle.graph import Problem, Result, _mask, bits, flagged_floor, order_removals, piece_masks


def _witness(p: Problem, piece: int, avail: int, forbidden: int, size: int) -> int:
    """`size` connected nodes of `piece` with as few removable nodes as possible (greedy per start).

    Bitsets: `piece` a piece of the nodes `avail` (not removed), `forbidden` the nodes never removed
    on this branch; the result is the chosen nodes' bitset (0: no start grows to `size`)."""
    amask = p.amask
    best = None
    rest = piece
    while rest:
        low = rest & -rest
        rest ^= low
        inset, count = low, 1
        frontier = amask[low.bit_length() - 1] & avail & ~inset
        while count < size and frontier:
            # Grow through forbidden nodes first: they cost nothing to include in the witness. Among
            # them (else among all), the lowest node, as the list version took min((not forbidden, x)).
            f = frontier & forbidden
            b = f & -f if f else frontier & -frontier
            inset |= b
            count += 1
            frontier = (frontier | amask[b.bit_length() - 1]) & avail & ~inset
        if count < size:
            continue
        free = (inset & ~forbidden).bit_count()
        if best is None or free < best[0]:
            best = (free, inset)
            if free <= 1:
                break
    return best[1] if best else 0


def _too_big(p: Problem, gone: int, target: int) -> list[int]:
    return [c for c in piece_masks(p, p.full & ~gone) if c.bit_count() > target]


def _lower_bound(p: Problem, gone: int, forbidden: int, target: int) -> int:
    """Disjoint witnesses each need their own removal."""
    g = gone
    count = 0
    while True:
        big = _too_big(p, g, target)
        if not big:
            return count
        w = _witness(p, big[0], p.full & ~g, forbidden, target + 1)
        if not w or not w & ~forbidden:
            return 10**9  # a piece that cannot be broken: infeasible branch
        count += 1
        g |= w


def exact_set(p: Problem, target: int, max_k: int | None = None) -> tuple[list[int], int]:
    """The optimal removal set and the target it meets (raised when flagged nodes block `target`)."""
    reach = max(target, flagged_floor(p))
    harm = p.harm
    best: dict = {}

    def better(key_new, key_old) -> bool:
        return key_old is None or key_new > key_old

    def key_of(removed: list[int]):
        return (math.fsum(harm[v] for v in removed), [-t for t in sorted(p.tie[v] for v in removed)])

    def dfs(removed: list[int], gone: int, forbidden: int, depth: int) -> None:
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
            rest = sorted((harm[v] for v in bits(p.full & ~gone & ~forbidden)), reverse=True)
            if math.fsum(harm[v] for v in removed) + math.fsum(rest[:depth]) < best["key"][0]:
                return
        piece = max(big, key=int.bit_count)
        w = _witness(p, piece, p.full & ~gone, forbidden, reach + 1)
        cand = sorted(bits(w & ~forbidden), key=lambda v: (-harm[v], p.tie[v]))
        f = forbidden
        for v in cand:
            removed.append(v)
            dfs(removed, gone | 1 << v, f, depth - 1)
            removed.pop()
            f |= 1 << v  # later branches never remove v: each set is visited once

    forbidden0 = _mask(v for v in range(p.n) if p.flagged[v])
    limit = p.n if max_k is None else max_k
    for k in range(0, limit + 1):
        dfs([], 0, forbidden0, k)
        if "set" in best:
            return best["set"], reach
    raise RuntimeError("no dismantling set within the removal limit")


def exact_dismantle(p: Problem, target: int) -> Result:
    chosen, reach = exact_set(p, target)
    order, sizes = order_removals(p, chosen)
    return Result(order, sizes, target, reach == target, True, "exact", reach)
