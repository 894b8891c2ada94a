"""The bitset primitives of the dismantling search against the list versions they replaced and networkx.

Each reference below is the plain-list code the stage ran before the bitsets (issue 21), kept here
so that the faster code is checked to give the same answers, tie for tie, on generated graphs.
"""

from __future__ import annotations

import math
from collections import deque

import networkx as nx
from hypothesis import given, settings, strategies as st

from hiddennet.dismantle import search
from hiddennet.dismantle.baselines import betweenness
from hiddennet.dismantle.exact import _lower_bound, _witness, exact_set
from hiddennet.dismantle.graph import (
    Problem,
    _mask,
    _splits,
    bits,
    components,
    order_removals,
    piece_masks,
    reinsert,
    swap_search,
)


@st.composite
def problems(draw, max_n: int = 24):
    n = draw(st.integers(3, max_n))
    m = draw(st.integers(0, 3 * n))
    edges = [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)), 1.0) for _ in range(m)]
    harm = [float(draw(st.integers(0, 3))) for _ in range(n)]  # few values: ties must be broken alike
    flagged = [draw(st.integers(0, 9)) == 0 for _ in range(n)]
    tie = draw(st.permutations(list(range(n))))
    return Problem(n, edges, harm, flagged, list(tie))


# -- the list versions the bitsets replaced ---------------------------------------------------------

def ref_components(p, removed):
    seen = list(removed) if isinstance(removed, list) else [i in removed for i in range(p.n)]
    out = []
    for s in range(p.n):
        if seen[s]:
            continue
        seen[s] = True
        piece = [s]
        for v in piece:
            for u in p.adj[v]:
                if not seen[u]:
                    seen[u] = True
                    piece.append(u)
        piece.sort()
        out.append(piece)
    return out


def ref_largest(p, removed):
    return max((len(c) for c in ref_components(p, removed)), default=0)


def ref_order(p, chosen):
    left, removed, order, sizes = set(chosen), set(), [], []
    while left:
        best = None
        for v in sorted(left):
            key = (ref_largest(p, removed | {v}), -p.harm[v], p.tie[v])
            if best is None or key < best[0]:
                best = (key, v)
        left.discard(best[1])
        removed.add(best[1])
        order.append(best[1])
        sizes.append(best[0][0])
    return order, sizes


def ref_splits(p, piece, w, target):
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


def ref_reinsert(p, removed, target):
    out = set(removed)
    while True:
        label, sizes = [-1] * p.n, []
        for i, c in enumerate(ref_components(p, out)):
            for v in c:
                label[v] = i
            sizes.append(len(c))
        best = None
        for v in sorted(out):
            size = 1 + sum(sizes[i] for i in {label[u] for u in p.adj[v] if label[u] >= 0})
            if size <= target:
                key = (size, p.harm[v], -p.tie[v])
                if best is None or key < best[0]:
                    best = (key, v)
        if best is None:
            return sorted(out)
        out.discard(best[1])


def ref_swap(p, removed, target):
    current = sorted(removed)
    for _ in range(1000):
        improved = False
        for i in range(len(current)):
            for j in range(i + 1, len(current)):
                rest = set(current) - {current[i], current[j]}
                big = [c for c in ref_components(p, rest) if len(c) > target]
                if len(big) != 1:
                    continue
                best = None
                for w in big[0]:
                    if not p.flagged[w] and ref_splits(p, set(big[0]), w, target):
                        key = (-p.harm[w], p.tie[w])
                        if best is None or key < best[0]:
                            best = (key, w)
                if best is not None:
                    current = ref_reinsert(p, sorted(rest | {best[1]}), target)
                    improved = True
                    break
            if improved:
                break
        if not improved:
            return current
    return current


def ref_betweenness(p, alive):
    n, bc = p.n, [0.0] * p.n
    for s in range(n):
        if not alive[s]:
            continue
        stack, pred, sigma, dist = [], [[] for _ in range(n)], [0.0] * n, [-1] * n
        sigma[s], dist[s] = 1.0, 0
        q = deque([s])
        while q:
            v = q.popleft()
            stack.append(v)
            for u in p.adj[v]:
                if not alive[u]:
                    continue
                if dist[u] < 0:
                    dist[u] = dist[v] + 1
                    q.append(u)
                if dist[u] == dist[v] + 1:
                    sigma[u] += sigma[v]
                    pred[u].append(v)
        delta = [0.0] * n
        while stack:
            w = stack.pop()
            coeff = (1.0 + delta[w]) / sigma[w] if sigma[w] else 0.0
            for v in pred[w]:
                delta[v] += sigma[v] * coeff
            if w != s:
                bc[w] += delta[w]
    return bc


def ref_witness(p, piece, gone, forbidden, size):
    best = None
    for s in piece:
        chosen, inset = [s], {s}
        frontier = [u for u in p.adj[s] if not gone[u]]
        while len(chosen) < size:
            cand = [u for u in frontier if u not in inset]
            if not cand:
                break
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


def valid_set(p, target, seed):
    """A removal set meeting `target` when flagged nodes allow it: every removable node, then reinserted."""
    chosen = [v for v in range(p.n) if not p.flagged[v]]
    if any(len(c) > target for c in ref_components(p, set(chosen))):
        return None
    return ref_reinsert(p, chosen, target)


# -- the checks -------------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(0, 2**20))
def test_components_match_networkx_and_the_list_version(p, seed):
    removed = {v for v in range(p.n) if (seed >> (v % 20)) & 1}
    g = nx.Graph()
    g.add_nodes_from(v for v in range(p.n) if v not in removed)
    g.add_edges_from((a, b) for a, b, _ in p.edges if a not in removed and b not in removed)
    want = sorted(sorted(c) for c in nx.connected_components(g))
    assert components(p, removed) == ref_components(p, removed) == want
    flags = [v in removed for v in range(p.n)]
    assert components(p, flags) == want
    assert [bits(c) for c in piece_masks(p, p.full & ~_mask(removed))] == want


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(2, 6))
def test_splits_order_reinsert_and_swaps_match_the_list_versions(p, target):
    for piece in ref_components(p, set()):
        for w in piece:
            assert _splits(p, set(piece), w, target) == ref_splits(p, set(piece), w, target)
    start = valid_set(p, target, 0)
    if start is None:
        return
    everyone = [v for v in range(p.n) if not p.flagged[v]]
    assert reinsert(p, everyone, target) == start
    assert order_removals(p, start) == ref_order(p, start)
    assert order_removals(p, everyone) == ref_order(p, everyone)
    assert swap_search(p, start, target) == ref_swap(p, start, target)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 2**20))
def test_betweenness_is_bit_for_bit_the_reference_and_matches_networkx(p, seed):
    alive = [not (seed >> (v % 20)) & 1 for v in range(p.n)]
    got = betweenness(p, alive)
    assert got == ref_betweenness(p, alive)  # exact equality: the search's ties depend on it
    g = nx.Graph()
    g.add_nodes_from(v for v in range(p.n) if alive[v])
    g.add_edges_from((a, b) for a, b, _ in p.edges if alive[a] and alive[b] and a != b)
    nxb = nx.betweenness_centrality(g, normalized=False)
    for v in range(p.n):
        assert math.isclose(got[v], 2 * nxb.get(v, 0.0), abs_tol=1e-9)  # ours counts both directions


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(1, 5), st.integers(0, 2**20))
def test_witness_and_packing_bound_match_the_list_version(p, target, seed):
    gone = [bool((seed >> (v % 20)) & 1) and v % 3 == 0 for v in range(p.n)]
    forbidden = list(p.flagged)
    g, f = _mask(v for v in range(p.n) if gone[v]), _mask(v for v in range(p.n) if forbidden[v])
    for piece in ref_components(p, gone):
        want = ref_witness(p, piece, gone, forbidden, target + 1)
        assert bits(_witness(p, _mask(piece), p.full & ~g, f, target + 1)) == sorted(want)
    # The packing bound, by the list version's loop.
    g2, count = list(gone), 0
    while True:
        big = [c for c in ref_components(p, g2) if len(c) > target]
        if not big:
            break
        w = ref_witness(p, big[0], g2, forbidden, target + 1)
        if not w or all(forbidden[v] for v in w):
            count = 10**9
            break
        count += 1
        for v in w:
            g2[v] = True
    assert _lower_bound(p, g, f, target) == count


@settings(max_examples=40, deadline=None)
@given(problems(max_n=12), st.integers(2, 3))
def test_iterated_search_never_worse_than_its_start_and_exact_no_worse_than_it(p, target):
    start = valid_set(p, target, 0)
    if start is None:
        return
    found = search.iterated_search(p, start, target, rounds=5, seed=1)
    assert not any(len(c) > target for c in components(p, set(found)))
    assert len(found) <= len(start)
    best, reach = exact_set(p, target)
    assert reach == target and len(best) <= len(found)


@settings(max_examples=40, deadline=None)
@given(problems(max_n=14), st.integers(2, 3))
def test_stopping_at_the_bound_never_loses_removals_or_harm(p, target):
    """The early stop (a best set at the proven bound holding the top harm) gives up only the pace and
    tie rules: count and harm equal those of the full rounds, with the exact optimum as the bound."""
    start = valid_set(p, target, 0)
    if start is None:
        return
    best, _ = exact_set(p, target)
    full = search.iterated_search(p, start, target, rounds=10, seed=3)
    stopped = search.iterated_search(p, start, target, rounds=10, seed=3, bound=len(best))
    assert not any(len(c) > target for c in components(p, set(stopped)))
    key = lambda s: (len(s), math.fsum(p.harm[v] for v in s))  # noqa: E731
    assert key(stopped) == key(full) and len(stopped) >= len(best)
