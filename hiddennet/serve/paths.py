"""Paths between two nominals over the combined network (every group, links Leiden cut included):
the strongest path (Dijkstra, each link's distance 1/weight, so strong links are short) and the
path of fewest links (breadth first). Ties go to the lexicographically smaller id, so the answer
does not depend on row order."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable


def adjacency(edges: Iterable[tuple[str, str, float]]) -> dict[str, dict[str, float]]:
    """Undirected, keeping the strongest weight of a pair listed twice; non-positive weights left out."""
    adj: dict[str, dict[str, float]] = {}
    for a, b, w in edges:
        if a == b or not w or w <= 0:
            continue
        for x, y in ((a, b), (b, a)):
            nb = adj.setdefault(x, {})
            nb[y] = max(nb.get(y, 0.0), float(w))
    return adj


def strongest_path(adj: dict[str, dict[str, float]], source: str, target: str) -> tuple[list[str], float] | None:
    """(path, total distance) minimising the sum of 1/weight, or None when they are not connected."""
    if source not in adj or target not in adj:
        return None
    dist, prev = {source: 0.0}, {}
    heap: list[tuple[float, str]] = [(0.0, source)]
    done: set[str] = set()
    while heap:
        d, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        if u == target:
            break
        for v in sorted(adj[u]):
            nd = d + 1.0 / adj[u][v]
            if v not in dist or nd < dist[v] - 1e-12:
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    if target not in done:
        return None
    return _walk_back(prev, source, target), dist[target]


def fewest_links_path(adj: dict[str, dict[str, float]], source: str, target: str) -> list[str] | None:
    if source not in adj or target not in adj:
        return None
    prev: dict[str, str] = {}
    seen, queue = {source}, deque([source])
    while queue:
        u = queue.popleft()
        if u == target:
            return _walk_back(prev, source, target)
        for v in sorted(adj[u]):
            if v not in seen:
                seen.add(v)
                prev[v] = u
                queue.append(v)
    return None


def _walk_back(prev: dict[str, str], source: str, target: str) -> list[str]:
    path = [target]
    while path[-1] != source:
        path.append(prev[path[-1]])
    return path[::-1]
