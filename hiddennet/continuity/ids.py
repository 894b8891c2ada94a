"""Stable group ids between runs: the rule of docs/continuity.md, as pure functions.

A run's groups are named from the previous run's (in `as_of` order) by member overlap:

1. Every pair (previous group P, current group C) that shares members has its Jaccard index
   J = |P & C| / |P | C| (members are nominal ids).
2. Pairs with J >= `group_id_min_jaccard` are taken greedily, best first: by J descending, then
   shared members descending, then P's id, then C's smallest member id (ascending, as text). A pair
   is taken when neither P nor C is taken yet: C inherits P's id.
3. Every other current group gets a new id `G<n>` (n zero-padded to 4 digits), n counting on from
   the largest number of any id ever used in the history, in the order size descending, then
   smallest member id. Ids are never reused: a dissolved group's id is never given again.
4. With no previous run, the names are those a run without history gives (`baseline_names`).

The lineage (`group_lineage`) records, for each previous group P and current group C:
`continued` (C inherited P's id), `merged` (C is the main successor of two or more previous
groups: P merged into C), `split` (P is the main predecessor of two or more current groups: C split
off P), `successor` (the main successor or predecessor otherwise, when C did not inherit P's id),
`dissolved` (P has no continued, merged, split or successor row: new id NULL) and `new` (C has
none: old id NULL). P's main successor is the current group holding most of P's members (ties: J
descending, then the smaller smallest member); C's main predecessor is the previous group giving
most of C's members (ties: J descending, then the smaller id).

Both the network stage (SQL counts, then `match`) and the history's replay (`hiddennet history
--register`, from stored memberships) call `match`, so the two give the same ids.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_NUMBER = re.compile(r"^G(\d+)")

LINEAGE_KINDS = ("continued", "merged", "split", "successor", "dissolved", "new")


@dataclass(frozen=True)
class Current:
    """A group of the current run before naming: its run-time key, size and smallest member id."""

    key: str
    size: int
    first_member: str


@dataclass(frozen=True)
class LineageRow:
    old_id: str | None
    new_id: str | None
    kind: str
    overlap: float  # Jaccard index of the two groups' members; 0 for `new` and `dissolved` without any
    shared: int


def id_number(group_id: str) -> int:
    """The number of an id: `G0012` and `G0012-0003` -> 12; 0 when it has none."""
    m = _NUMBER.match(group_id)
    return int(m.group(1)) if m else 0


def _width(count: int) -> int:
    return max(4, len(str(max(count, 1))))


def baseline_names(members: Mapping[str, str], parents: Mapping[str, str]) -> dict[str, str]:
    """Group key -> the name a run without history gives it (hiddennet/network.py).

    `members`: nominal id -> group key; `parents`: group key -> the key of its component (shared by
    the pieces of a split component, the group's own key when not split). Components are named
    `G` + rank by size descending then smallest member; pieces of a split component (a component with
    more than one group) `<component>-` + rank by size descending then smallest member.
    """
    group_members: dict[str, list[str]] = defaultdict(list)
    for nominal, key in members.items():
        group_members[key].append(nominal)
    comp_groups: dict[str, list[str]] = defaultdict(list)
    for key in group_members:
        comp_groups[parents[key]].append(key)

    def size_first(keys: Iterable[str]) -> tuple[int, str]:
        ms = [m for k in keys for m in group_members[k]]
        return -len(ms), min(ms)

    comps = sorted(comp_groups, key=lambda c: size_first(comp_groups[c]))
    width = _width(len(comps))
    split = [c for c in comps if len(comp_groups[c]) > 1 or comp_groups[c][0] != c]
    pwidth = _width(max((len(comp_groups[c]) for c in split), default=0))
    names: dict[str, str] = {}
    for rank, comp in enumerate(comps, start=1):
        cname = f"G{rank:0{width}d}"
        keys = comp_groups[comp]
        if comp not in split:
            names[keys[0]] = cname
            continue
        for prank, key in enumerate(sorted(keys, key=lambda k: size_first([k])), start=1):
            names[key] = f"{cname}-{prank:0{pwidth}d}"
    return names


def match(
    previous_sizes: Mapping[str, int],
    current: Iterable[Current],
    shared: Mapping[tuple[str, str], int],
    used_ids: Iterable[str],
    min_jaccard: float,
) -> tuple[dict[str, str], list[LineageRow]]:
    """(current key -> stable id, lineage rows) by the rule of the module docstring.

    `previous_sizes`: previous group id -> members; `shared`: (previous id, current key) -> members in
    both (pairs with none left out); `used_ids`: every id the history has given so far.
    """
    cur = {c.key: c for c in current}
    jac = {
        (p, k): n / (previous_sizes[p] + cur[k].size - n) for (p, k), n in shared.items() if n > 0
    }
    names = _inherit(jac, shared, cur, min_jaccard)
    next_number = max((id_number(g) for g in used_ids), default=0) + 1
    for c in sorted(cur.values(), key=lambda c: (-c.size, c.first_member)):
        if c.key not in names:
            names[c.key] = f"G{next_number:04d}"
            next_number += 1
    return names, _lineage(previous_sizes, cur, shared, jac, names)


def _inherit(jac, shared, cur, min_jaccard) -> dict[str, str]:
    pairs = sorted(
        (pk for pk, j in jac.items() if j >= min_jaccard),
        key=lambda pk: (-jac[pk], -shared[pk], pk[0], cur[pk[1]].first_member),
    )
    names: dict[str, str] = {}
    taken: set[str] = set()
    for p, k in pairs:
        if p not in taken and k not in names:
            names[k] = p
            taken.add(p)
    return names


def _lineage(previous_sizes, cur, shared, jac, names) -> list[LineageRow]:
    succ: dict[str, str] = {}  # previous id -> main successor key
    pred: dict[str, str] = {}  # current key -> main predecessor id
    for (p, k) in sorted(jac, key=lambda pk: (-shared[pk], -jac[pk], cur[pk[1]].first_member)):
        succ.setdefault(p, k)
    for (p, k) in sorted(jac, key=lambda pk: (-shared[pk], -jac[pk], pk[0])):
        pred.setdefault(k, p)
    into: dict[str, int] = defaultdict(int)
    outof: dict[str, int] = defaultdict(int)
    for k in succ.values():
        into[k] += 1
    for p in pred.values():
        outof[p] += 1
    rows: list[LineageRow] = []
    for (p, k), j in sorted(jac.items()):
        if names[k] == p:
            kind = "continued"
        elif succ.get(p) == k and into[k] >= 2:
            kind = "merged"
        elif pred.get(k) == p and outof[p] >= 2:
            kind = "split"
        elif succ.get(p) == k or pred.get(k) == p:
            kind = "successor"
        else:
            continue
        rows.append(LineageRow(p, names[k], kind, j, shared[(p, k)]))
    traced_old = {r.old_id for r in rows}
    traced_new = {r.new_id for r in rows}
    for p in sorted(set(previous_sizes) - traced_old):
        rows.append(LineageRow(p, None, "dissolved", 0.0, 0))
    for k in sorted(cur, key=lambda k: names[k]):
        if names[k] not in traced_new:
            rows.append(LineageRow(None, names[k], "new", 0.0, 0))
    return sorted(rows, key=lambda r: (r.new_id or "", r.old_id or "", r.kind))


def match_sets(
    previous: Mapping[str, frozenset[str]] | None,
    members: Mapping[str, str],
    parents: Mapping[str, str],
    used_ids: Iterable[str],
    min_jaccard: float,
) -> tuple[dict[str, str], list[LineageRow]]:
    """The same from member sets: `previous` (id -> members; None or empty with no used id: no previous run),
    `members` (nominal -> current group key) and `parents` (group key -> component key)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for nominal, key in members.items():
        groups[key].append(nominal)
    used_ids = set(used_ids)
    previous = previous or {}
    if not previous and not used_ids:
        names = baseline_names(members, parents)
        return names, [LineageRow(None, names[k], "new", 0.0, 0) for k in sorted(groups, key=lambda k: names[k])]
    where = {m: p for p, ms in previous.items() for m in ms}
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for nominal, key in members.items():
        if nominal in where:
            shared[(where[nominal], key)] += 1
    current = [Current(k, len(ms), min(ms)) for k, ms in groups.items()]
    return match({p: len(ms) for p, ms in previous.items()}, current, shared, used_ids, min_jaccard)


def parent_names(names: Mapping[str, str], parents: Mapping[str, str]) -> dict[str, str]:
    """Group key -> the stable name of its component: the group's own id when not split; for the pieces of
    a split component, the part before `-` when every piece's id has the same one (`G0001` for
    `G0001-0001`, `G0001-0002`: as a run without history names it), else the smallest piece id (as text)."""
    comp: dict[str, list[str]] = defaultdict(list)
    for key, parent in parents.items():
        comp[parent].append(names[key])

    def name(ids: list[str]) -> str:
        if len(ids) == 1:
            return ids[0]
        heads = {i.split("-", 1)[0] for i in ids}
        return heads.pop() if len(heads) == 1 and all("-" in i for i in ids) else min(ids)

    return {key: name(comp[parents[key]]) for key in parents}
