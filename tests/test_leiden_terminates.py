"""Leiden's split always ends (network.split_to_size, network.leiden_weights).

NetworKit's ParallelLeiden looped for ever on a 17-node star at resolution 2 with fractional weights
(round-off in its community volumes), allocating memory until the process died. The weights now
reach it as whole numbers. A crash of that kind kills the process, so the graphs run in a child
process with a memory cap and a time limit: stars, trees and sparse graphs with weights of the
shapes the layers make (recency decay, 1/(k-1), sums of both), every max size from 2 to 12.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from hiddennet import network

_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from hiddennet import network

    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
    if sys.argv[1] == "raw":  # the weights as they were before the fix (to show the test can fail)
        network.leiden_weights = lambda w: w
    rng = np.random.default_rng(int(sys.argv[2]))
    star_w = np.array(STAR_WEIGHTS)
    a = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 13, 13])
    b = np.array([13] * 13 + [14, 15, 16])
    with network.one_thread():
        network._leiden(17, a, b, star_w, 1, 2.0)

    def weights(m):
        kind = rng.integers(0, 4)
        if kind == 0:
            return rng.uniform(0.01, 2.0, m)
        if kind == 1:
            return 2.0 ** (-rng.uniform(0, 12, m))
        if kind == 2:
            return 1.0 / rng.integers(1, 30, m) * 2.0 ** (-rng.uniform(0, 6, m))
        return rng.lognormal(0, 2, m)

    for i in range(int(sys.argv[3])):
        n = int(rng.integers(6, 60))
        shape = i % 3
        if shape == 0:  # a star, maybe with a few extra links among the leaves
            a = np.zeros(n - 1, dtype=np.int64); b = np.arange(1, n, dtype=np.int64)
        else:  # a random tree (shape 1) or a tree plus random links (shape 2)
            b = np.arange(1, n, dtype=np.int64); a = np.array([rng.integers(0, v) for v in b], dtype=np.int64)
        if shape == 2 or (shape == 0 and i % 2):
            extra = rng.integers(0, n, (n // 3, 2)); extra = extra[extra[:, 0] != extra[:, 1]]
            pairs = {(min(x, y), max(x, y)) for x, y in zip(a.tolist(), b.tolist())}
            for x, y in extra.tolist():
                pairs.add((min(x, y), max(x, y)))
            a = np.array([p[0] for p in sorted(pairs)], dtype=np.int64)
            b = np.array([p[1] for p in sorted(pairs)], dtype=np.int64)
        w = weights(len(a))
        size = int(rng.integers(2, 13))
        piece = network.split_to_size(n, a, b, w, size, int(rng.integers(0, 1000)), float(rng.choice([0.5, 1.0, 2.0])))
        counts = np.bincount(piece)
        assert counts[counts > 0].max() <= size, (i, size)
    print("ok")
    """
)


def _child(mode: str, seed: int, graphs: int) -> subprocess.CompletedProcess:
    star = "[0.2223445316534115, 0.4563964529341684, 0.06415219654344481, 0.1179951184353393, 0.1043494132180722, " \
        "0.1179951184353393, 1.18214125874953, 0.1179951184353393, 0.1179951184353393, 0.1043494132180722, " \
        "0.1179951184353393, 0.1179951184353393, 0.1179951184353393, 0.1043494132180722, 0.2223445316534115, " \
        "0.35204703971609624]"
    return subprocess.run([sys.executable, "-c", _CHILD.replace("STAR_WEIGHTS", star), mode, str(seed), str(graphs)],
                          capture_output=True, text=True, timeout=300)


def test_leiden_split_ends_on_stars_trees_and_sparse_graphs():
    done = _child("whole", 11, 600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_star_that_looped_fails_without_whole_weights():
    """The same child with the raw weights dies on the star (so the test above can fail)."""
    done = _child("raw", 11, 0)
    assert done.returncode != 0


def test_leiden_weights_by_hand():
    """Largest weight -> 2^30; half of it -> 2^29; a weight below 2^-30 of the largest -> 1; no weights -> none."""
    got = network.leiden_weights(np.array([2.0, 1.0, 1e-12]))
    assert got.tolist() == [2.0**30, 2.0**29, 1.0]
    assert network.leiden_weights(np.array([], dtype=np.float64)).size == 0
