"""Improving a dismantling set after GND: reinsertion, 2-for-1 swaps and a seeded iterated local search.

GND (gnd.py) gives a good set quickly; on criminal networks a few of its removals are often
redundant or replaceable. The search here only ever moves between sets that meet the target, and
keeps the best by (fewest removals, most harm, tie order), so it can only improve on its start:
1. reinsertion (graph.reinsert) and 2-for-1 swaps (graph.swap_search) until neither applies;
2. `rounds` times: put back 1-3 removed nodes drawn with the seed, repair the pieces that grow above
   the target by removing, one at a time, the node of highest betweenness within them (ties drawn
   with the seed among the best two), then step 1 again; accept the result when it is no worse.
Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
import time

from hiddennet.dismantle.baselines import betweenness
from hiddennet.dismantle.graph import Problem, components, order_removals, reinsert, swap_search


def _better_or_equal(p: Problem, a: list[int], b: list[int], speed: dict | None = None) -> bool:
    """a is no worse than b: fewest removals, then most harm, then the set whose step order breaks
    the group fastest (smallest sum of the largest piece over the steps), then the tie order.

    `speed` caches that sum per set: the current and best sets are compared again and again."""
    ka = (len(a), -math.fsum(p.harm[v] for v in a))
    kb = (len(b), -math.fsum(p.harm[v] for v in b))
    if ka != kb:
        return ka < kb
    speed = {} if speed is None else speed

    def pace(x: list[int]) -> int:
        key = tuple(sorted(x))
        if key not in speed:
            speed[key] = sum(order_removals(p, x)[1])
        return speed[key]

    sa, sb = pace(a), pace(b)
    if sa != sb:
        return sa < sb
    return sorted(p.tie[v] for v in a) <= sorted(p.tie[v] for v in b)


def polish(p: Problem, removed: list[int], target: int, deadline: float | None = None, cut: dict | None = None
           ) -> list[int]:
    return swap_search(p, reinsert(p, removed, target), target, deadline=deadline, cut=cut)


def _repair(p: Problem, removed: set[int], target: int, rng: random.Random,
            scores: dict[frozenset[int], list[float]] | None = None) -> set[int]:
    """`scores`: betweenness on the pieces above target left by a removed set, kept across rounds (a
    function of the set; a third of the rounds' repairs pass through a set seen before)."""
    removed = set(removed)
    scores = {} if scores is None else scores
    while True:
        big = [c for c in components(p, removed) if len(c) > target]
        if not big:
            return removed
        key = frozenset(removed)
        if key not in scores:
            alive = [False] * p.n
            for c in big:
                for v in c:
                    alive[v] = True
            scores[key] = betweenness(p, alive)
        score = scores[key]
        cand = sorted((v for c in big for v in c if not p.flagged[v]), key=lambda v: (-score[v], -p.harm[v], p.tie[v]))
        if not cand:
            return removed
        removed.add(cand[0] if len(cand) == 1 or rng.random() < 0.5 else cand[1])


def iterated_search(
    p: Problem, start: list[int], target: int, *, rounds: int = 100, seed: int = 0, seconds: float | None = None,
    cut: dict | None = None, bound: int | None = None,
) -> list[int]:
    """`seconds`: stop after this much wall time too (large groups only: the result then depends on
    the machine's speed; without it the search is deterministic for a given seed). `cut` (a dict) gets
    "time" = True when that deadline stopped the search before its rounds were done.

    `bound`: a proven lower bound on the removals; once the best set has that many and holds the
    most harm any set of that many can (the most harmful removable nominals' sum), no round can
    improve it by count or harm, so the rounds stop. Only the pace and tie rules could still pick a
    different set of equal count and harm, and they are not pursued further (documented)."""
    deadline = None if seconds is None else time.perf_counter() + seconds
    rng = random.Random(seed)
    current = polish(p, start, target, deadline, cut)
    best = current
    speed: dict = {}
    # Polish is a function of its (sorted) input: about half the rounds repair back to a set an
    # earlier round polished (54% of the calls on the scale-1 generated force).
    polished: dict[frozenset[int], list[int]] = {}
    scores: dict[frozenset[int], list[float]] = {}
    top = sorted((0.0 if f else h for h, f in zip(p.harm, p.flagged, strict=True)), reverse=True)
    for _ in range(rounds):
        if bound is not None and len(best) <= bound and math.fsum(p.harm[v] for v in best) >= math.fsum(
                top[: len(best)]) - 1e-9:
            break
        if not current:
            break
        if deadline is not None and time.perf_counter() > deadline:
            if cut is not None:
                cut["time"] = True
            break
        k = min(len(current), rng.choice((1, 2, 2, 3)))
        drop = set(rng.sample(current, k))
        trial = _repair(p, set(current) - drop, target, rng, scores)
        if any(len(c) > target for c in components(p, trial)):
            continue  # flagged nodes block this repair
        key = frozenset(trial)
        if key not in polished:
            polished[key] = polish(p, sorted(trial), target, deadline, cut)
        trial_l = polished[key]
        if trial_l == current:
            continue  # the round came back to where it started
        if _better_or_equal(p, trial_l, current, speed):
            current = trial_l
            if current != best and _better_or_equal(p, current, best, speed):
                best = current
    return best
