"""A small undirected graph over nodes 0..n-1 and the helpers every dismantling algorithm shares.

Groups are at most a few dozen nominals (method.md section 4 caps them at `max_group_size`), so the
algorithms here work on Python lists: building a C++ graph per group would cost more than the work.
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


def components(p: Problem, removed: set[int] | list[bool]) -> list[list[int]]:
    """Connected pieces of the graph without `removed`, each sorted, in order of their smallest node."""
    # The hot loop of the search: plain lists and local names, no per-node function calls.
    seen = list(removed) if isinstance(removed, list) else [i in removed for i in range(p.n)]
    adj = p.adj
    out = []
    for s in range(p.n):
        if seen[s]:
            continue
        seen[s] = True
        piece = [s]
        for v in piece:  # the list grows while it is walked: a breadth-first search
            for u in adj[v]:
                if not seen[u]:
                    seen[u] = True
                    piece.append(u)
        piece.sort()
        out.append(piece)
    return out


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
    left = set(chosen)
    removed: set[int] = set()
    order, sizes = [], []
    while left:
        best = None
        for v in left:
            size = largest_piece(p, removed | {v})
            key = (size, -p.harm[v], p.tie[v])
            if best is None or key < best[0]:
                best = (key, v)
        assert best is not None  # `left` is not empty: the loop above set it
        v = best[1]
        left.discard(v)
        removed.add(v)
        order.append(v)
        sizes.append(best[0][0])
    return order, sizes


def swap_search(
    p: Problem, removed: list[int], target: int, max_rounds: int = 1000, deadline: float | None = None
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
            return current  # time-bounded (large groups): the set is valid, maybe not 2-for-1 optimal
        improved = False
        for i in range(len(current)):
            for j in range(i + 1, len(current)):
                rest = set(current) - {current[i], current[j]}
                big = [c for c in components(p, rest) if len(c) > target]
                if len(big) != 1:
                    continue
                best = None
                piece = set(big[0])
                for w in big[0]:
                    if p.flagged[w]:
                        continue
                    if _splits(p, piece, w, target):
                        key = (-p.harm[w], p.tie[w])
                        if best is None or key < best[0]:
                            best = (key, w)
                if best is not None:
                    current = reinsert(p, sorted(rest | {best[1]}), target)
                    improved = True
                    break
            if improved:
                break
        if not improved:
            return current
    return current


def _splits(p: Problem, piece: set[int], w: int, target: int) -> bool:
    """True when removing w leaves no part of `piece` above `target` (a search inside the piece only)."""
    seen = {w}
    for s in piece:
        if s in seen:
            continue
        seen.add(s)
        stack, size = [s], 1
        while stack:
            v = stack.pop()
            for u in p.adj[v]:
                if u in piece and u not in seen:
                    seen.add(u)
                    stack.append(u)
                    size += 1
                    if size > target:
                        return False
    return True


def reinsert(p: Problem, removed: list[int], target: int) -> list[int]:
    """Put back removed nodes that leave no piece above `target`, cheapest damage first.

    Damage = size of the piece the node would rejoin. Ties: lower harm first (high-harm nominals stay
    removed), then the node that loses the tie order.
    """
    out = set(removed)
    while True:
        label = [-1] * p.n
        sizes = []
        for i, c in enumerate(components(p, out)):
            for v in c:
                label[v] = i
            sizes.append(len(c))
        best = None
        for v in out:
            pieces = {label[u] for u in p.adj[v] if label[u] >= 0}
            size = 1 + sum(sizes[i] for i in pieces)
            if size <= target:
                key = (size, p.harm[v], -p.tie[v])
                if best is None or key < best[0]:
                    best = (key, v)
        if best is None:
            return sorted(out)
        out.discard(best[1])
