"""The stable-id rule (hiddennet/continuity/ids.py, docs/continuity.md) on hand-worked cases, and the
history's replay: ids do not depend on the order runs are registered in."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings as hsettings, strategies as st

from hiddennet.continuity import history as store
from hiddennet.continuity.ids import baseline_names, match_sets, parent_names


def _members(groups: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """'ab' style groups: key -> members as letters; every group its own component."""
    members = {m: key for key, ms in groups.items() for m in ms}
    return members, {key: key for key in groups}


def _prev(groups: dict[str, str]) -> dict[str, frozenset[str]]:
    return {g: frozenset(ms) for g, ms in groups.items()}


def test_jaccard_tie_goes_to_the_smaller_previous_id_and_the_other_merged():
    """P1={a,b}, P2={c,d}; now C={a,b,c,d}: J = 2/4 = 0.5 for both, shared 2 for both, so the tie goes
    to the smaller id: C is G0001; G0002 merged into it."""
    members, parents = _members({"x": "abcd"})
    names, rows = match_sets(_prev({"G0001": "ab", "G0002": "cd"}), members, parents, {"G0001", "G0002"}, 0.3)
    assert names == {"x": "G0001"}
    assert {(r.old_id, r.new_id, r.kind, r.overlap) for r in rows} == {
        ("G0001", "G0001", "continued", 0.5), ("G0002", "G0001", "merged", 0.5)}


def test_two_current_groups_tied_for_one_previous_go_by_smallest_member():
    """P={a,b,c,d}; now {a,b} and {c,d}: J = 2/4 each; the group whose smallest member is `a` keeps the
    id, the other gets the next new number (G0006: ids up to 5 were used) and is recorded as split off."""
    members, parents = _members({"k1": "cd", "k2": "ab"})
    names, rows = match_sets(_prev({"G0005": "abcd"}), members, parents, {"G0005", "G0003"}, 0.3)
    assert names == {"k2": "G0005", "k1": "G0006"}
    assert {(r.old_id, r.new_id, r.kind) for r in rows} == {("G0005", "G0005", "continued"),
                                                            ("G0005", "G0006", "split")}


def test_split_the_larger_part_keeps_the_id():
    """P={a,b,c,d,e} -> {a,b,c} (J 3/5 = 0.6) and {d,e} (J 2/5 = 0.4): the larger part keeps G0001."""
    members, parents = _members({"p": "de", "q": "abc"})
    names, rows = match_sets(_prev({"G0001": "abcde"}), members, parents, {"G0001"}, 0.3)
    assert names == {"q": "G0001", "p": "G0002"}
    kinds = {r.new_id: (r.kind, r.overlap) for r in rows}
    assert kinds == {"G0001": ("continued", 0.6), "G0002": ("split", 0.4)}


def test_ids_are_never_reused_and_a_dissolved_group_is_recorded():
    """G0003 dissolved (none of its members is left); a new group gets G0008 (7 was the largest number ever
    used, by a split piece G0007-0002), never G0003."""
    members, parents = _members({"old": "ab", "fresh": "xyz"})
    used = {"G0001", "G0003", "G0007-0002"}
    names, rows = match_sets(_prev({"G0001": "ab", "G0003": "cd"}), members, parents, used, 0.3)
    assert names == {"old": "G0001", "fresh": "G0008"}
    assert ("G0003", None, "dissolved") in {(r.old_id, r.new_id, r.kind) for r in rows}
    assert (None, "G0008", "new") in {(r.old_id, r.new_id, r.kind) for r in rows}


def test_below_the_threshold_a_group_gets_a_new_id_traced_as_successor():
    """P={a,b,c,d}; now {a,v,w,x,y}: J = 1/8 = 0.125 < 0.3, so a new id; the lineage says successor."""
    members, parents = _members({"k": "avwxy"})
    names, rows = match_sets(_prev({"G0001": "abcd"}), members, parents, {"G0001"}, 0.3)
    assert names == {"k": "G0002"}
    assert [(r.old_id, r.new_id, r.kind, r.overlap) for r in rows] == [("G0001", "G0002", "successor", 0.125)]
    # At a threshold of 0.1 the same group keeps the id.
    names, _ = match_sets(_prev({"G0001": "abcd"}), members, parents, {"G0001"}, 0.1)
    assert names == {"k": "G0001"}


def test_best_pair_first_not_first_group_first():
    """P={a..f}: C1={a,b,c,w,x,y,z} shares 3 of 10 (J 0.3), C2={d,e,f} shares 3 of 6 (J 0.5). C1 comes first
    by smallest member, but the best pair is taken first: C2 keeps G0001, C1 is new (G0002), split off P."""
    members, parents = _members({"c1": "abcwxyz", "c2": "def"})
    names, rows = match_sets(_prev({"G0001": "abcdef"}), members, parents, {"G0001"}, 0.3)
    assert names == {"c2": "G0001", "c1": "G0002"}
    assert {(r.old_id, r.new_id, r.kind) for r in rows} == {("G0001", "G0001", "continued"),
                                                            ("G0001", "G0002", "split")}


def test_no_history_gives_the_names_of_a_run_without_history():
    """Components by size, then smallest member: {a,b,c} (3, a) G0001; the split component {f,g,h} (3, f)
    G0002, its pieces by size: {f,g} G0002-0001, {h} G0002-0002; {d,e} (2) G0003."""
    members = {m: k for k, ms in {"A": "abc", "D": "de", "P1": "fg", "P2": "h"}.items() for m in ms}
    parents = {"A": "A", "D": "D", "P1": "P", "P2": "P"}
    assert baseline_names(members, parents) == {"A": "G0001", "P1": "G0002-0001", "P2": "G0002-0002", "D": "G0003"}
    names, rows = match_sets({}, members, parents, set(), 0.3)
    assert names == baseline_names(members, parents) and {r.kind for r in rows} == {"new"}


def test_a_split_component_keeps_its_name_as_parent():
    """Pieces G0002-0001 and G0002-0002 of one component: its parent is G0002 (as a run without history
    names it); pieces with ids of no common head take the smallest id."""
    names = {"p1": "G0002-0001", "p2": "G0002-0002", "x": "G0009", "q1": "G0004-0001", "q2": "G0011"}
    parents = {"p1": "P", "p2": "P", "x": "x", "q1": "Q", "q2": "Q"}
    assert parent_names(names, parents) == {"p1": "G0002", "p2": "G0002", "x": "G0009", "q1": "G0004-0001",
                                            "q2": "G0004-0001"}


# -- the replay does not depend on the registration order ------------------------------------------------
def _store(history: Path, run_id: str, as_of: str, groups: dict[str, list[str]]) -> None:
    """A run as the history keeps it (its members and entry), without a run folder."""
    folder = history / "runs" / run_id
    folder.mkdir(parents=True)
    rows = [(m, g, g) for g, ms in groups.items() for m in ms]
    pq.write_table(pa.table({"nominal_id": [r[0] for r in rows], "run_group_id": [r[1] for r in rows],
                             "run_parent": [r[2] for r in rows]}), folder / "members.parquet")
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, "as_of": as_of, "registered_utc": "",
                                                 "folder": "", "profile": "cse", "min_jaccard": 0.3}))


_people = st.sampled_from("abcdefghijkl")
_run = st.dictionaries(st.sampled_from(["k1", "k2", "k3", "k4"]), st.sets(_people, min_size=1, max_size=5),
                       min_size=1, max_size=4)


def _disjoint(groups: dict[str, set[str]]) -> dict[str, list[str]]:
    seen: set[str] = set()
    out = {}
    for k in sorted(groups):
        ms = sorted(groups[k] - seen)
        seen |= set(ms)
        if ms:
            out[k] = ms
    return out


@hsettings(max_examples=40, deadline=None)
@given(runs=st.lists(_run, min_size=2, max_size=4), order=st.randoms(use_true_random=False))
def test_ids_do_not_depend_on_the_registration_order(tmp_path_factory, runs, order):
    """The same runs stored in the history in as_of order and in a random order give the same ids and
    lineage (the replay sorts by as_of), and registering only the latest run each time (in as_of order)
    gives what a full replay gives."""
    dated = [(f"2021-0{i + 1}-01", f"2021-0{i + 1}-01-r{i}", _disjoint(g)) for i, g in enumerate(runs)]
    dated = [d for d in dated if d[2]]
    shuffled = list(dated)
    order.shuffle(shuffled)
    results = []
    for seq in (dated, shuffled):
        h = tmp_path_factory.mktemp("hist")
        for as_of, run_id, groups in seq:
            _store(h, run_id, as_of, groups)
            store._rederive(h, run_id)  # at every registration, as `register` does (only the latest when it can)
        results.append((store.stable_ids(h).to_pylist(), store.lineage(h).to_pylist()))
        full = store.replay(h, store.runs(h))  # the incremental registrations equal a full replay
        assert (full[0].to_pylist(), full[1].to_pylist()) == results[-1]
    assert results[0] == results[1]
    # Never reused: an id of a run is the previous run's (inherited) or one no earlier run had.
    ids = results[0][0]
    seen: set[str] = set()
    previous: set[str] = set()
    for run_id in sorted({r["run_id"] for r in ids}):
        mine = [r["group_id"] for r in ids if r["run_id"] == run_id]
        assert len(mine) == len(set(mine))
        assert all(g in previous or g not in seen for g in mine)
        seen |= set(mine)
        previous = set(mine)
