"""A small undirected graph over nodes 0..n-1 and the helpers every dismantling algorithm shares.

Groups are at most a few dozen nominals (method.md section 4 caps them at `max_group_size`), so the
algorithms here work on Python lists and ints: building a C++ graph per group would cost more than
the work. The hot loops (pieces, splits, reinsertion, witnesses) use ints as bitsets (bit v = node v;
`Problem.amask` holds each node's neighbours), which OR a whole neighbourhood in one operation and
give the same answers as the list versions, tie for tie (tests/test_dismantle_bitsets.py).
Neighbour lists keep insertion order on purpose: the published Montagna curves are reproduced only
when betweenness sums run in the same order as the reference implementation (see baselines.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Problem:
    """One network to dismantle.

    tie[i] is node i's place in the tie order: among equal scores the node with the smaller tie
    wins. The stage sets it from (harm descending, nominal id ascending); the Montagna benchmark
    sets it so that the node inserted last wins, as in the published runs.
    """

    n: int
    edges: list[tuple[int, int, float]]
    harm: list[float] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    tie: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.harm:
            self.harm = [0.0] * self.n
        if not self.flagged:
            self.flagged = [False] * self.n
        if not self.tie:
            self.tie = list(range(self.n))
        self.adj: list[list[int]] = [[] for _ in range(self.n)]
        self.weight: dict[tuple[int, int], float] = {}
        for a, b, w in self.edges:
            if a == b:
                continue
            key = (a, b) if a < b else (b, a)
            if key in self.weight:
                self.weight[key] += w
                continue
            self.weight[key] = w
            self.adj[a].append(b)
            self.adj[b].append(a)
        # Bitsets (bit v = node v): neighbour masks, for the search's hot loops (components, splits).
        self.amask: list[int] = [_mask(nb) for nb in self.adj]
        self.full: int = (1 << self.n) - 1

    def w(self, a: int, b: int) -> float:
        return self.weight[(a, b) if a < b else (b, a)]


@dataclass
class Result:
    """A dismantling: nodes in removal order and the largest piece left after each removal."""

    order: list[int]
    largest_after: list[int]
    target: int
    target_reached: bool
    exact: bool
    method: str
    achievable_target: int = 0  # smallest reachable largest piece when flagged nodes block the target
    # Proven fewest removals that leave no piece above max(target, flagged_floor); None: not computed.
    lower_bound: int | None = None
    # Which bound `lower_bound` is: `exact`, `packing`, `counting`, `packing+counting` (bounds.py), `ilp`.
    bound_method: str | None = None
    # A wall-time safety net (search or proof seconds) cut this group's work: rerun on a faster or idler
    # machine, its row could differ. Counted in the stage's facts (`groups_cut_by_time`).
    time_cut: bool = False


def _mask(nodes) -> int:
    m = 0
    for v in nodes:
        m |= 1 << v
    return m


def bits(m: int) -> list[int]:
    """The nodes of a bitset, ascending."""
    out = []
    while m:
        b = m & -m
        out.append(b.bit_length() - 1)
        m ^= b
    return out


def piece_of(amask: list[int], alive: int, low: int, limit: int | None = None) -> int:
    """The piece (bitset) of `alive` holding the node of bit `low`: breadth-first by whole layers.
    With `limit`, it may stop as soon as the piece has more than `limit` nodes (callers that only ask
    "is it above the target?" need no more)."""
    comp = frontier = low
    while frontier:
        nb = 0
        while frontier:
            b = frontier & -frontier
            nb |= amask[b.bit_length() - 1]
            frontier ^= b
        frontier = nb & alive & ~comp
        comp |= frontier
        if limit is not None and comp.bit_count() > limit:
            break
    return comp


def piece_masks(p: Problem, alive: int) -> list[int]:
    """Connected pieces of the nodes of bitset `alive`, as bitsets, in order of their smallest node."""
    amask = p.amask
    out = []
    while alive:
        comp = piece_of(amask, alive, alive & -alive)
        alive &= ~comp
        out.append(comp)
    return out


def components(p: Problem, removed: set[int] | list[bool]) -> list[list[int]]:
    """Connected pieces of the graph without `removed`, each sorted, in order of their smallest node."""
    gone = _mask(i for i, r in enumerate(removed) if r) if isinstance(removed, list) else _mask(removed)
    return [bits(c) for c in piece_masks(p, p.full & ~gone)]


def largest_piece(p: Problem, removed) -> int:
    return max((len(c) for c in components(p, removed)), default=0)


def target_size(n: int, fraction: float) -> int:
    """method.md section 6: no piece larger than max(2, ceil(fraction * n))."""
    # The small epsilon keeps 0.07 * 100 = 7.000000000000001 (and 0.07 * 300 = 21.000000000000004) from
    # rounding up to 8 (22): a product that is an integer on paper must not gain a nominal.
    return max(2, math.ceil(fraction * n - 1e-9))


def flagged_floor(p: Problem) -> int:
    """Largest piece left when every removable node is removed: no dismantling can do better."""
    return largest_piece(p, [not f for f in p.flagged])


# Above this many nodes the step-by-step greedy order (quadratic in the set, each step a search of
# the graph) is replaced by adaptive degree within the set; see order_removals.
GREEDY_ORDER_MAX = 300


def largest_after_each(p: Problem, order: list[int]) -> list[int]:
    """Largest piece after each removal of `order`, by putting the nodes back in reverse (union-find)."""
    gone = set(order)
    parent = list(range(p.n))
    size = [1] * p.n

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra == rb:
            return size[ra]
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        return size[ra]

    best = 1 if len(gone) < p.n else 0
    for v in range(p.n):
        if v in gone:
            continue
        for u in p.adj[v]:
            if u not in gone and u < v:
                best = max(best, union(u, v))
    out = [0] * len(order)
    for i in range(len(order) - 1, -1, -1):
        out[i] = best
        v = order[i]
        gone.discard(v)
        best = max(best, 1)
        for u in p.adj[v]:
            if u not in gone:
                best = max(best, union(u, v))
    return out


def order_removals(p: Problem, chosen: list[int] | set[int]) -> tuple[list[int], list[int]]:
    """Order a removal set: each step the node whose removal leaves the smallest largest piece.

    Ties: higher harm first, then the tie order. Returns the order and the largest piece after each step.
    Graphs above GREEDY_ORDER_MAX nodes (outside method.md's groups, which Leiden keeps to 50) take
    the set in adaptive-degree order instead (degree among nodes still present; same ties).
    """
    if p.n > GREEDY_ORDER_MAX:
        left = set(chosen)
        alive = [True] * p.n
        order = []
        while left:
            v = min(left, key=lambda x: (-sum(1 for u in p.adj[x] if alive[u]), -p.harm[x], p.tie[x]))
            left.discard(v)
            alive[v] = False
            order.append(v)
        return order, largest_after_each(p, order)
    # Greedy, on bitsets: removing v changes only v's own piece, so the largest piece after it is
    # the larger of v's piece's largest part and the largest other piece (the same key as a full search).
    todo = sorted(set(chosen))
    present = p.full
    order, sizes = [], []
    amask = p.amask
    while todo:
        pieces = piece_masks(p, present)
        where = {}
        for c in pieces:
            for v in todo:
                if c >> v & 1:
                    where[v] = c
        counts = sorted((c.bit_count() for c in pieces), reverse=True)
        best = None
        for v in todo:
            c = where[v]
            size_c = c.bit_count()
            # The largest other piece: the runner-up when v's piece is (one of) the largest.
            others = counts[0] if size_c < counts[0] else (counts[1] if len(counts) > 1 else 0)
            rest = c & ~(1 << v)
            inner = 0
            while rest:
                q = piece_of(amask, rest, rest & -rest)
                rest &= ~q
                inner = max(inner, q.bit_count())
            size = max(others, inner)
            key = (size, -p.harm[v], p.tie[v])
            if best is None or key < best[0]:
                best = (key, v)
        assert best is not None  # `todo` is not empty: the loop above set it
        v = best[1]
        todo.remove(v)
        present &= ~(1 << v)
        order.append(v)
        sizes.append(best[0][0])
    return order, sizes


def _near_pieces(p: Problem, current: list[int], cur: int, base: list[int]) -> dict[int, int]:
    """For each removed node v: the mask of v and the pieces (of `base`, the graph without `cur`) next to it."""
    near = {}
    for v in current:
        nb, m = p.amask[v] & ~cur, 1 << v
        for c in base:
            if c & nb:
                m |= c
        near[v] = m
    return near


def _swap_for_pair(p: Problem, target: int, base_big: list[int], near: dict[int, int], u: int, v: int) -> int | None:
    """The node that can replace removed nodes u and v, or None: putting both back must leave exactly one
    piece above the target, and the node (most harm, then tie order) must bring it to the target."""
    amask = p.amask
    cu0, cv0 = near[u], near[v]
    if cu0 & cv0 or amask[u] >> v & 1:
        cu, cv = cu0 | cv0, 0
    else:
        cu, cv = cu0, cv0
    joined = cu | cv
    big = [c for c in base_big if not c & joined]
    big += [c for c in (cu, cv) if c and c.bit_count() > target]
    if len(big) != 1:
        return None
    piece = big[0]
    # The first splitting node in (most harm, tie order) is the one the full scan would keep. A node
    # of d links inside the piece leaves at most d parts, so it cannot split a piece of more than
    # d * target + 1 nodes: skip those without the search (same answer).
    size = piece.bit_count()
    cand = sorted((w for w in bits(piece) if not p.flagged[w]
                   and (amask[w] & piece).bit_count() * target + 1 >= size),
                  key=lambda w: (-p.harm[w], p.tie[w]))
    return next((w for w in cand if _splits_mask(amask, piece, w, target)), None)


def swap_search(
    p: Problem, removed: list[int], target: int, max_rounds: int = 1000, deadline: float | None = None,
    cut: dict | None = None,
) -> list[int]:
    """Local search after reinsertion: replace two removed nodes by one while the target still holds.

    For each pair (u, v) of the set in order, put both back; if that leaves exactly one piece above
    the target and some removable node w of it brings every piece to the target, take w instead
    (the most harmful such w, then the tie order), reinsert again and start over. Stops when no pair
    can be replaced: the set is then minimal and 2-for-1 optimal.
    """
    current = sorted(removed)
    for _ in range(max_rounds):
        if deadline is not None and time.perf_counter() > deadline:
            if cut is not None:
                cut["time"] = True
            return current  # time-bounded (large groups): the set is valid, maybe not 2-for-1 optimal
        cur = _mask(current)
        # Putting u and v back changes only the pieces they join: u's piece is u and the pieces next
        # to it, the same for v, one piece when they touch or share a piece; no search needed.
        base = piece_masks(p, p.full & ~cur)
        base_big = [c for c in base if c.bit_count() > target]  # none when `current` meets the target
        near = _near_pieces(p, current, cur, base)
        swap = next(((i, j, w) for i in range(len(current)) for j in range(i + 1, len(current))
                     if (w := _swap_for_pair(p, target, base_big, near, current[i], current[j])) is not None), None)
        if swap is None:
            return current
        i, j, pick = swap
        rest = set(current) - {current[i], current[j]}
        current = reinsert(p, sorted(rest | {pick}), target)
    return current
    return current


def _splits(p: Problem, piece: set[int], w: int, target: int) -> bool:
    """True when removing w leaves no part of `piece` above `target` (a search inside the piece only)."""
    return _splits_mask(p.amask, _mask(piece), w, target)


def _splits_mask(amask: list[int], piece: int, w: int, target: int) -> bool:
    """_splits on bitsets: grows each part of `piece` without w layer by layer, stopping past `target`."""
    rest = piece & ~(1 << w)
    while rest:
        comp = piece_of(amask, rest, rest & -rest, target)
        if comp.bit_count() > target:
            return False
        rest &= ~comp
    return True


def reinsert(p: Problem, removed: list[int], target: int) -> list[int]:
    """Put back removed nodes that leave no piece above `target`, cheapest damage first.

    Damage = size of the piece the node would rejoin. Ties: lower harm first (high-harm nominals stay
    removed), then the node that loses the tie order.
    """
    out = _mask(removed)
    harm, tie, amask = p.harm, p.tie, p.amask
    while True:
        alive = p.full & ~out
        pieces = [(c, c.bit_count()) for c in piece_masks(p, alive)]
        best = None
        for v in bits(out):
            nb = amask[v] & alive
            size = 1 + sum(s for c, s in pieces if c & nb)
            if size <= target:
                key = (size, harm[v], -tie[v])
                if best is None or key < best[0]:
                    best = (key, v)
        if best is None:
            return bits(out)
        out &= ~(1 << best[1])
