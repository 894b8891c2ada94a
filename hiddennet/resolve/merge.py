"""Which person records are one person: the merge of scored pairs into people, safeguarding first.

Pure Python on small inputs (one entry per person record and per candidate pair), so that every rule
is tested by hand (tests/test_resolve.py). docs/resolve.md states the rules:
- a person's decision (`review_decisions`) comes first: `merge` joins two records, `separate` keeps
  the two records' people apart whatever else links them;
- deterministic rules next (same PNC id, the force's crosswalk), then model pairs at or above the
  match threshold, strongest first; ties by rule and ids, so the result never depends on input order;
- a merge that would put a child's record (under `child_age` on `as_of`) and an adult's in one person
  is never made automatically: the pair goes to review (`child_and_adult`); only a decision makes it;
- model pairs between the review and the match thresholds go to review (`uncertain`);
- a person's canonical id is the smallest id of its records from the force's crime system, else the
  smallest id of its records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Order in which edges are applied when their probabilities tie (and the rule named in nominal_map).
RULES = ("review_decision", "pnc", "crosswalk", "model")


@dataclass(frozen=True)
class Record:
    nominal_id: str
    source_system: str
    child: bool | None  # under child_age on as_of by this record's date of birth; None: not known


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    probability: float
    rule: str

    def key(self) -> tuple[str, str]:
        return (self.a, self.b) if self.a <= self.b else (self.b, self.a)


@dataclass
class Resolution:
    canonical: dict[str, str]  # record id -> canonical id
    joined_by: dict[str, Pair]  # record id -> the edge that first joined it to its person
    review: list[tuple[Pair, str]]  # (pair, reason) for a person to decide
    kept_apart: int = 0  # edges not applied because a decision keeps the two people apart
    held_child_adult: int = 0  # edges not applied because they would join a child's and an adult's record


@dataclass
class _People:
    """Union-find over record ids, with each person's members and ages."""

    parent: dict[str, str]
    members: dict[str, list[str]] = field(default_factory=dict)
    child: dict[str, bool] = field(default_factory=dict)
    adult: dict[str, bool] = field(default_factory=dict)

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, ra: str, rb: str) -> None:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] += self.members.pop(rb)
        self.child[ra] = self.child[ra] or self.child.pop(rb)
        self.adult[ra] = self.adult[ra] or self.adult.pop(rb)


def _order(p: Pair) -> tuple:
    return (RULES.index(p.rule), -p.probability, *p.key())


def resolve_people(records: list[Record], pairs: list[Pair], decisions: dict[tuple[str, str], str],
                   match_probability: float, review_probability: float, crime_system: str) -> Resolution:
    """Merge `records` along `pairs` (rule pairs and model pairs) under the person's `decisions`
    ((a, b) sorted -> `merge` | `separate`)."""
    ids = {r.nominal_id: r for r in records}
    people = _People({i: i for i in ids}, {i: [i] for i in ids},
                     {i: r.child is True for i, r in ids.items()}, {i: r.child is False for i, r in ids.items()})
    apart = {k for k, d in decisions.items() if d == "separate"}
    edges = [Pair(a, b, 1.0, "review_decision") for (a, b), d in decisions.items() if d == "merge"]
    candidates: list[Pair] = []
    for p in pairs:
        if p.key() in decisions or p.a not in ids or p.b not in ids or p.a == p.b:
            continue
        if p.rule != "model" or p.probability >= match_probability:
            edges.append(p)
        elif p.probability >= review_probability:
            candidates.append(p)
    res = Resolution({}, {}, [])
    for e in sorted(edges, key=_order):
        ra, rb = people.find(e.a), people.find(e.b)
        if ra == rb:
            continue
        if apart and any((min(x, y), max(x, y)) in apart for x in people.members[ra] for y in people.members[rb]):
            res.kept_apart += 1
            continue
        mixed = (people.child[ra] and people.adult[rb]) or (people.adult[ra] and people.child[rb])
        if mixed and e.rule != "review_decision":
            res.held_child_adult += 1
            res.review.append((e, "child_and_adult"))
            continue
        for x in (e.a, e.b):
            res.joined_by.setdefault(x, e)
        people.union(ra, rb)
    for members in people.members.values():
        own = sorted(m for m in members if ids[m].source_system == crime_system)
        canonical = own[0] if own else min(members)
        for m in members:
            res.canonical[m] = canonical
    for p in sorted(candidates, key=_order):
        if res.canonical[p.a] != res.canonical[p.b]:
            res.review.append((p, "uncertain"))
    # One review entry per pair of records, the first reason found.
    first: dict[tuple[str, str], tuple[Pair, str]] = {}
    for p, why in res.review:
        first.setdefault(p.key(), (p, why))
    res.review = list(first.values())
    return res
