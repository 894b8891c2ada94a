"""Baselines, for comparison only: adaptive degree, adaptive betweenness and CoreHD.

Each removes one node at a time, recomputing its score after every removal, until no piece is larger
than the target (`target=0` runs until every removable node is gone, for whole curves).
Tie rule: the highest score wins; among equal scores the node with the smaller `Problem.tie` wins.
Flagged nodes stay in the graph and are never picked.

Betweenness follows Brandes (2001) with sources in node order and neighbours in insertion order,
exactly the order of the reference implementation used for the published Montagna curves, so equal
scores come out bit-for-bit equal and the tie rule picks the same node (see benchmarks).
CoreHD: Zdeborova, Zhang and Zhou (2016) "Fast and simple decycling and dismantling of networks",
Sci. Rep. 6:37954: remove the highest-degree node of the 2-core until the 2-core is empty; then
(our choice for the tree phase) the highest-degree node of the largest piece until the target.
"""

from __future__ import annotations

import heapq
from collections import deque

from hiddennet.dismantle.graph import Problem, Result, components


def betweenness(p: Problem, alive: list[bool], weighted: bool = False) -> list[float]:
    """Unnormalised betweenness of the alive subgraph; weighted: distance = 1 / link weight."""
    n = p.n
    bc = [0.0] * n
    nbr = [[u for u in p.adj[v] if alive[u]] if alive[v] else [] for v in range(n)]
    for s in range(n):
        if not alive[s]:
            continue
        stack = []
        pred: list[list[int]] = [[] for _ in range(n)]
        sigma = [0.0] * n
        sigma[s] = 1.0
        if not weighted:
            # The queue is the stack itself (nodes leave the queue in the order they joined it); the
            # sums run in the same order as the reference, so scores stay bit-for-bit the same.
            dist = [-1] * n
            dist[s] = 0
            stack.append(s)
            i = 0
            while i < len(stack):
                v = stack[i]
                i += 1
                dv1, sv = dist[v] + 1, sigma[v]
                for u in nbr[v]:
                    du = dist[u]
                    if du < 0:
                        dist[u] = du = dv1
                        stack.append(u)
                    if du == dv1:
                        sigma[u] += sv
                        pred[u].append(v)
        else:
            done: set[int] = set()
            best = {s: 0.0}
            heap = [(0.0, 0, s)]
            counter = 1
            while heap:
                d, _, v = heapq.heappop(heap)
                if v in done:
                    continue
                done.add(v)
                stack.append(v)
                # Every predecessor is final before v (distances are positive), so sigma is complete.
                sigma[v] = 1.0 if v == s else sum(sigma[x] for x in pred[v])
                for u in p.adj[v]:
                    if not alive[u] or u in done:
                        continue
                    nd = d + 1.0 / p.w(v, u)
                    old = best.get(u)
                    if old is None or nd < old * (1 - 1e-12):
                        best[u] = nd
                        pred[u] = [v]
                        heapq.heappush(heap, (nd, counter, u))
                        counter += 1
                    elif nd <= old * (1 + 1e-12):
                        pred[u].append(v)
        _accumulate(bc, s, stack, pred, sigma)
    return bc


def _accumulate(bc: list[float], s: int, stack: list[int], pred: list[list[int]], sigma: list[float]) -> None:
    """Brandes' dependency step: add source `s`'s pair dependencies to `bc`, farthest nodes first."""
    delta = [0.0] * len(bc)
    while stack:
        w = stack.pop()
        coeff = (1.0 + delta[w]) / sigma[w] if sigma[w] else 0.0
        for v in pred[w]:
            delta[v] += sigma[v] * coeff
        if w != s:
            bc[w] += delta[w]


def _degree_scores(p: Problem, alive: list[bool]) -> list[float]:
    return [float(sum(1 for u in p.adj[v] if alive[u])) if alive[v] else 0.0 for v in range(p.n)]


def _pick(p: Problem, alive: list[bool], score: list[float], allowed=None) -> int | None:
    best = None
    for v in range(p.n):
        if not alive[v] or p.flagged[v] or (allowed is not None and not allowed[v]):
            continue
        if best is None or score[v] > score[best] or (score[v] == score[best] and p.tie[v] < p.tie[best]):
            best = v
    return best


def _largest(p: Problem, alive: list[bool]) -> int:
    return max((len(c) for c in components(p, [not a for a in alive])), default=0)


def adaptive(p: Problem, target: int, measure: str, *, weighted: bool = False) -> Result:
    """Adaptive degree (`measure="degree"`) or betweenness (`"betweenness"`)."""
    alive = [True] * p.n
    order, sizes = [], []
    while _largest(p, alive) > target:
        score = _degree_scores(p, alive) if measure == "degree" else betweenness(p, alive, weighted)
        v = _pick(p, alive, score)
        if v is None:
            break
        alive[v] = False
        order.append(v)
        sizes.append(_largest(p, alive))
    reached = _largest(p, alive) <= target
    return Result(order, sizes, target, reached, False, f"adaptive_{measure}", target)


def _two_core(p: Problem, alive: list[bool]) -> list[bool]:
    core = list(alive)
    deg = _degree_scores(p, alive)
    q = deque(v for v in range(p.n) if core[v] and deg[v] < 2)
    while q:
        v = q.popleft()
        if not core[v]:
            continue
        core[v] = False
        for u in p.adj[v]:
            if core[u]:
                deg[u] -= 1
                if deg[u] < 2:
                    q.append(u)
    return core


def corehd(p: Problem, target: int) -> Result:
    alive = [True] * p.n
    order, sizes = [], []
    while _largest(p, alive) > target:
        core = _two_core(p, alive)
        v = _pick(p, alive, _degree_scores(p, core), allowed=core) if any(core) else None
        if v is None:
            # Tree phase: highest degree in the largest piece.
            big = max(components(p, [not a for a in alive]), key=lambda c: (len(c), -c[0]))
            inside = [False] * p.n
            for x in big:
                inside[x] = True
            v = _pick(p, alive, _degree_scores(p, alive), allowed=inside)
            if v is None:
                break
        alive[v] = False
        order.append(v)
        sizes.append(_largest(p, alive))
    return Result(order, sizes, target, _largest(p, alive) <= target, False, "corehd", target)
