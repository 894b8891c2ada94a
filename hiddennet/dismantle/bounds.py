"""Cheap lower bounds on the fewest removals of a group: no solver, always on.

Target: leave no connected piece above `level` nominals, removing only removable (not flagged)
nominals. Write OPT for the fewest removals that do it. Removals in different pieces of the group
are disjoint and each piece must be broken on its own, so OPT = sum over the pieces C above `level`
of OPT(C), and a valid bound per piece summed over the pieces is a valid bound for the group. Per
piece the better of two bounds is taken (the larger of two valid bounds is valid):

- **packing** (`packing_bound`): any `level`+1 connected nodes of the piece (a *witness*) cannot all
  stay, since they would make a piece above `level`; so the optimal set holds a removable node of
  every witness. Witnesses that share no node need distinct removed nodes, so the number of pairwise
  disjoint witnesses is at most OPT(C). The greedy packing below only ever picks witnesses disjoint
  from the ones before (their nodes are marked gone), so its count is at most OPT(C), whatever
  greedy choices it makes. Two greedy orders are tried and the larger count kept.
- **counting** (`counting_bound`): removing a node v from a graph turns the one piece holding it into
  at most deg(v) pieces (each new piece holds a neighbour of v; deg(v) = 0: the piece vanishes), so
  the number of pieces grows by at most deg(v) - 1, with deg(v) at most v's degree in the whole
  piece. After removing any k removable nodes S of a connected piece of m nodes, there are at most
  1 + sum_{v in S} (deg(v) - 1) <= 1 + D(k) pieces, D(k) the sum of the k largest (deg - 1) over
  the removable nodes, and the m - k nodes left must fit in pieces of at most `level`, so
  m - k <= level * (1 + D(k)). The smallest k meeting this is at most OPT(C).

When the bound equals the length of a known order that meets the level, that order is optimal: no
order is shorter than a lower bound.
"""

from __future__ import annotations

from hiddennet.dismantle.exact import _witness
from hiddennet.dismantle.graph import Problem, _mask, bits, components


def _pack(p: Problem, piece: list[int], level: int, by_degree: bool) -> int:
    """Disjoint witnesses of `level`+1 connected nodes packed greedily in `piece` (see the module)."""
    inside = set(piece)
    gone = [v not in inside for v in range(p.n)]
    forbidden = _mask(v for v in range(p.n) if p.flagged[v])
    count = 0
    while True:
        big = [c for c in components(p, gone) if len(c) > level]
        if not big:
            return count
        if by_degree:
            # Start from the node with fewest neighbours left: a witness grown from the rim of a piece
            # cuts less of the rest, so more disjoint witnesses fit (same validity: still disjoint).
            left = [v for c in big for v in c]
            s = min(left, key=lambda v: (sum(1 for u in p.adj[v] if not gone[u]), v))
            w = _grow(p, s, gone, level + 1)
            if len(w) <= level:  # s's own piece is larger than level, so this never happens
                return count
        else:
            gone_mask = _mask(v for v in range(p.n) if gone[v])
            w = bits(_witness(p, _mask(big[0]), p.full & ~gone_mask, forbidden, level + 1))
            if not w:
                return count
        count += 1
        for v in w:
            gone[v] = True


def _grow(p: Problem, s: int, gone: list[bool], size: int) -> list[int]:
    """`size` connected nodes from s, breadth first, among nodes not gone (fewer when the piece is smaller)."""
    seen, mark = [s], {s}
    for v in seen:
        if len(seen) >= size:
            break
        for u in sorted(p.adj[v]):
            if not gone[u] and u not in mark and len(seen) < size:
                mark.add(u)
                seen.append(u)
    return seen


def packing_bound(p: Problem, level: int) -> int:
    """Sum over the pieces above `level` of the larger of two greedy packings of disjoint witnesses."""
    return sum(max(_pack(p, c, level, False), _pack(p, c, level, True))
               for c in components(p, set()) if len(c) > level)


def _counting_piece(p: Problem, piece: list[int], level: int) -> int:
    gains = sorted((len(p.adj[v]) - 1 for v in piece if not p.flagged[v]), reverse=True)
    m, total = len(piece), 0
    for k in range(len(gains) + 1):
        if m - k <= level * (1 + total):
            return k
        if k < len(gains):
            total += gains[k]
    return len(gains)  # every removable node: OPT(C) can be no more than that


def counting_bound(p: Problem, level: int) -> int:
    """Sum over the pieces above `level` of the counting bound of the module docstring."""
    return sum(_counting_piece(p, c, level) for c in components(p, set()) if len(c) > level)


def cheap_bound(p: Problem, level: int) -> tuple[int, str]:
    """The larger of the two bounds per piece, summed, and which gave it: `packing` or `counting`
    (the one that alone reaches the total, packing on a tie), `packing+counting` when neither alone does."""
    pack = count = best = 0
    for c in components(p, set()):
        if len(c) <= level:
            continue
        a = max(_pack(p, c, level, False), _pack(p, c, level, True))
        b = _counting_piece(p, c, level)
        pack, count, best = pack + a, count + b, best + max(a, b)
    if pack == best:
        return best, "packing"
    return best, ("counting" if count == best else "packing+counting")
