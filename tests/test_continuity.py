"""Continuity between runs end to end (docs/continuity.md): two runs of one generated force a week apart
(`generate --later-of`), with a history; the history off; the CLI's `history` and `diff`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet.continuity import history as store
from hiddennet.continuity.changes import alerts_sql, changes_sql
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.generate import generate_force
from hiddennet.generate.later import generate_later
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings
from hiddennet.tables import arrow_schema

NEW_TABLES = {"group_lineage", "changes", "alerts"}


def hiddennet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hiddennet", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Force A (scale 0.02), its later extract B (7 days); A without history, A then B with history H."""
    root = tmp_path_factory.mktemp("continuity")
    generate_force(root / "a", scale=0.02, seed=5)
    truth = generate_later(root / "b", root / "a", days=7)
    base = Settings(stability_checks=False)
    hist = base.model_copy(update={"history_dir": str(root / "history")})
    run_pipeline(root / "a", root / "a-off", base)
    run_pipeline(root / "a", root / "a-on", hist)
    run_pipeline(root / "b", root / "b-on", hist)
    return {"root": root, "truth": truth, "history": root / "history"}


def _table(folder: Path, name: str) -> pa.Table:
    return pq.read_table(folder / "tables" / f"{name}.parquet")


def _group_members(folder: Path) -> dict[str, frozenset[str]]:
    t = _table(folder, "nominals").to_pydict()
    out: dict[str, set[str]] = {}
    for n, g in zip(t["nominal_id"], t["group_id"], strict=True):
        out.setdefault(g, set()).add(n)
    return {g: frozenset(m) for g, m in out.items()}


def test_history_off_and_a_first_run_publish_todays_tables_byte_for_byte(runs):
    """A fresh history changes no table of the run (its ids are today's) and adds only the three continuity
    tables; with the history off none of them is published."""
    off, on = runs["root"] / "a-off" / "tables", runs["root"] / "a-on" / "tables"
    off_names = {p.name for p in off.glob("*.parquet")}
    on_names = {p.name for p in on.glob("*.parquet")}
    assert not {f"{t}.parquet" for t in NEW_TABLES} & off_names
    assert on_names - off_names == {f"{t}.parquet" for t in NEW_TABLES}
    different = [n for n in sorted(off_names) if (off / n).read_bytes() != (on / n).read_bytes()]
    assert different == []
    for name in NEW_TABLES:  # the registered columns and types, in order
        schema = pq.read_schema(on / f"{name}.parquet")
        assert [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in arrow_schema(name)], name
    lineage = _table(runs["root"] / "a-on", "group_lineage").to_pydict()
    assert set(lineage["kind"]) == {"new"}
    assert _table(runs["root"] / "a-on", "changes").num_rows == 0


def test_unchanged_groups_keep_their_ids(runs):
    """Every group of A with exactly the same members in B has the same id in B (most groups do)."""
    a, b = _group_members(runs["root"] / "a-on"), _group_members(runs["root"] / "b-on")
    by_members_b = {m: g for g, m in b.items()}
    same = {g: by_members_b[m] for g, m in a.items() if m in by_members_b}
    assert len(same) >= 0.9 * len(a)
    assert all(g == h for g, h in same.items())


def _changes(runs, change: str) -> list[dict]:
    return [r for r in _table(runs["root"] / "b-on", "changes").to_pylist() if r["change"] == change]


def test_every_planted_change_is_reported(runs):
    """Each change planted by the later extract (planted_truth/later.json) is in `changes` or `alerts`."""
    t = runs["truth"]
    b = _group_members(runs["root"] / "b-on")
    new = [r["group_id"] for r in _changes(runs, "group_new")]
    assert any(b[g] == frozenset(t["new_group"]["members"]) for g in new)
    assert t["grown"]["group"] in {r["group_id"] for r in _changes(runs, "group_grown")}
    assert {(r["group_id"], r["previous_group_id"]) for r in _changes(runs, "group_merged")} & {
        tuple(t["merged"]["groups"]), tuple(reversed(t["merged"]["groups"]))}
    assert t["split"]["group"] in {r["previous_group_id"] for r in _changes(runs, "group_split")}
    assert t["dissolved"]["group"] in {r["previous_group_id"] for r in _changes(runs, "group_dissolved")}
    flagged = {r["nominal_id"]: r["detail"] for r in _changes(runs, "newly_flagged")}
    assert flagged.get(t["newly_flagged_child"]) == "child"
    alerts = _table(runs["root"] / "b-on", "alerts").to_pylist()
    assert (t["newly_flagged_child"], "new_child_in_ranked_group") in {(r["nominal_id"], r["alert"]) for r in alerts}
    assert t["top_n"]["group"] in {r["group_id"] for r in alerts if r["alert"] == "entered_top_n"}


def test_run_ids_are_the_historys(runs):
    """The ids B published are those the history replays for it (B is the latest run)."""
    ids = store.stable_ids(runs["history"]).to_pylist()
    b_run = store.run_id_of(runs["root"] / "b-on")
    mine = {r["run_group_id"]: r["group_id"] for r in ids if r["run_id"] == b_run}
    assert mine and all(k == v for k, v in mine.items())
    assert set(mine) == set(_group_members(runs["root"] / "b-on"))


def test_registering_in_another_order_gives_the_same_ids(runs, tmp_path):
    """A fresh history given B first, then A, replays to the same ids and lineage as H (A then B)."""
    h2 = tmp_path / "h2"
    r1 = hiddennet("history", str(h2), "--register", str(runs["root"] / "b-on"))
    r2 = hiddennet("history", str(h2), "--register", str(runs["root"] / "a-on"), "--json")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    listed = json.loads(r2.stdout)
    assert [r["as_of"] for r in listed] == sorted(r["as_of"] for r in listed)
    assert store.stable_ids(h2).to_pylist() == store.stable_ids(runs["history"]).to_pylist()
    assert store.lineage(h2).to_pylist() == store.lineage(runs["history"]).to_pylist()
    for p in h2.rglob("*"):
        assert p.stat().st_mode & 0o077 == 0, p  # owner-only


def test_diff_gives_the_changes_table_and_prints_no_flagged_person(runs, tmp_path):
    """`hiddennet diff A B` finds the same changes as the run's own `changes`; the text counts the newly
    flagged without naming them or printing their ids."""
    a, b = str(runs["root"] / "a-on"), str(runs["root"] / "b-on")
    r = hiddennet("diff", a, b, "--parquet", str(tmp_path / "c.parquet"))
    assert r.returncode == 0, r.stderr
    assert runs["truth"]["newly_flagged_child"] not in r.stdout
    assert "Later" not in r.stdout and "Sam" not in r.stdout  # the planted people's recorded names
    assert "groups dissolved" in r.stdout and runs["truth"]["dissolved"]["group"] in r.stdout
    def rows(t: pa.Table) -> list[tuple]:
        return sorted(tuple("" if v is None else str(v) for v in r.values()) for r in t.to_pylist())

    assert rows(pq.read_table(tmp_path / "c.parquet")) == rows(_table(runs["root"] / "b-on", "changes"))
    j = json.loads(hiddennet("diff", a, b, "--json").stdout)
    assert j["counts"]["newly_flagged"] >= 1
    assert all(row["change"] != "newly_flagged" for row in j["rows"])


def test_diff_of_a_folder_that_is_not_a_run_exits_2(tmp_path, runs):
    r = hiddennet("diff", str(tmp_path), str(runs["root"] / "b-on"))
    assert r.returncode == 2 and "not a hiddennet run" in r.stderr


def test_history_that_is_a_file_exits_2(tmp_path, runs):
    f = tmp_path / "file"
    f.write_text("x")
    r = hiddennet("history", str(f))
    assert r.returncode == 2 and "not a folder" in r.stderr
    r = hiddennet("run", str(runs["root"] / "a"), "--out", str(tmp_path / "out"), "--history", str(f))
    assert r.returncode == 2 and f"--history {f}: not a folder" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_damaged_history_entry_exits_2(tmp_path, runs):
    """A run.json that is not an entry is named (exit 2), never a traceback."""
    h = tmp_path / "h"
    assert hiddennet("history", str(h), "--register", str(runs["root"] / "a-on")).returncode == 0
    entry = next(h.glob("runs/*/run.json"))
    entry.write_text("{not json")
    r = hiddennet("history", str(h))
    assert r.returncode == 2 and "run.json: not a run entry" in r.stderr and "Traceback" not in r.stderr


# -- the rules of changes and alerts, hand-worked ---------------------------------------------------------
def _hand_engine(e=None):
    """Previous: G1 {a,b} rank 1 harm 100, G2 {c,d} rank 2 harm 50, G3 {e} rank 3; a watched, linked to b.
    Now: G1 {a,b,x} rank 2 harm 160, G4 {c,d,k} rank 1 (k a child, new), G3 gone; a newly linked to x."""
    e = e if e is not None else DuckDBEngine()
    g = pa.schema([("group_id", pa.string()), ("size", pa.int64()), ("harm_cchi", pa.float64()),
                   ("rank_harm_cchi", pa.float64()), ("priority_rank", pa.int32()), ("safeguarding_only", pa.bool_())])
    e.register_arrow("pg", pa.table({"group_id": ["G1", "G2", "G3"], "size": [2, 2, 1], "harm_cchi": [100.0, 50, 1],
                                     "rank_harm_cchi": [100.0, 50, 1], "priority_rank": [1, 2, 3],
                                     "safeguarding_only": [False] * 3}, schema=g))
    e.register_arrow("cg", pa.table({"group_id": ["G1", "G4"], "size": [3, 3], "harm_cchi": [160.0, 300],
                                     "rank_harm_cchi": [160.0, 300], "priority_rank": [2, 1],
                                     "safeguarding_only": [False] * 2}, schema=g))

    def nominals(ids, groups, flagged, child, dism):
        return pa.table({"nominal_id": ids, "group_id": groups, "safeguarding_flagged": flagged, "is_child": child,
                         "in_dismantling": dism})

    e.register_arrow("pn", nominals(list("abcde"), ["G1", "G1", "G2", "G2", "G3"], [False] * 5, [False] * 5,
                                    [True, False, False, False, False]))
    e.register_arrow("cn", nominals(list("abxcdk"), ["G1", "G1", "G1", "G4", "G4", "G4"],
                                    [False] * 5 + [True], [False] * 5 + [True], [True, True, False, False, False,
                                                                                 False]))
    e.register_arrow("pl", pa.table({"nominal_a": ["a"], "nominal_b": ["b"]}))
    e.register_arrow("cl", pa.table({"nominal_a": ["a", "a"], "nominal_b": ["b", "x"]}))
    e.register_arrow("lin", pa.table({"old_id": ["G1", "G2", "G3"], "new_id": ["G1", "G4", None],
                                      "kind": ["continued", "successor", "dissolved"], "overlap": [2 / 3, 0.5, 0.0],
                                      "shared": [2, 2, 0]}))
    return e


PREV = {"groups": "pg", "nominals": "pn", "links": "pl"}
CUR = {"groups": "cg", "nominals": "cn", "links": "cl"}


def test_changes_rules_hand_worked():
    """G1 grew 2 -> 3, its rank moved 1 -> 2 and harm 100 -> 160; G4 is new (successor of G2, J 0.5 under a
    threshold); G3 dissolved; x and k are new in the network; b is new in a dismantling order; k newly flagged
    as a child."""
    with _hand_engine() as e:
        rows = e.fetch_arrow(changes_sql(PREV, CUR, "lin")).to_pylist()
    got = {(r["change"], r["group_id"], r["previous_group_id"], r["nominal_id"], r["before"], r["after"],
            r["detail"]) for r in rows}
    assert got == {
        ("group_grown", "G1", "G1", None, 2.0, 3.0, None),
        ("rank_moved", "G1", "G1", None, 1.0, 2.0, None),
        ("harm_changed", "G1", "G1", None, 100.0, 160.0, None),
        ("group_new", "G4", "G2", None, None, 3.0, "successor"),
        ("group_dissolved", None, "G3", None, 1.0, None, None),
        ("nominal_new_in_network", "G1", None, "x", None, None, None),
        ("nominal_new_in_network", "G4", None, "k", None, None, None),
        ("nominal_new_in_dismantling", "G1", None, "b", None, None, None),
        ("newly_flagged", "G4", None, "k", None, None, "child"),
    }


def test_alert_rules_hand_worked():
    """Top 1: G4 enters (it has no continued predecessor); harm growth 50%: G1 grew 60% (100 -> 160); the
    watched a has a new link to x; k is a new child in the ranked G4. At top 2 and 70% only the first,
    the watch and the child remain (G1 was already in the top 2; 60% < 70%)."""
    s = Settings(alert_top_n=1, alert_harm_growth_pct=50, alert_watch_nominals=["a"])
    with _hand_engine() as e:
        rows = e.fetch_arrow(alerts_sql(PREV, CUR, "lin", s)).to_pylist()
        got = {(r["alert"], r["group_id"], r["nominal_id"], r["detail"]) for r in rows}
        assert got == {("entered_top_n", "G4", None, "1"), ("harm_growth", "G1", None, "50.0"),
                       ("watched_nominal_new_link", "G1", "a", "x"), ("new_child_in_ranked_group", "G4", "k", None)}
        s2 = s.model_copy(update={"alert_top_n": 2, "alert_harm_growth_pct": 70.0})
        got2 = {r["alert"] for r in e.fetch_arrow(alerts_sql(PREV, CUR, "lin", s2)).to_pylist()}
        assert got2 == {"entered_top_n", "watched_nominal_new_link", "new_child_in_ranked_group"}
        off = Settings(alert_top_n=0, alert_harm_growth_pct=None, alert_new_child_in_ranked_group=False)
        assert e.fetch_arrow(alerts_sql(PREV, CUR, "lin", off)).num_rows == 0


@pytest.mark.spark
def test_changes_alerts_and_naming_agree_on_spark(spark_engine):
    """The changes and alerts SQL and the group naming of the network stage give DuckDB's rows on Spark
    (transpiled): the published continuity tables are not in the engine-parity fixture, which has no history."""
    from hiddennet import continuity

    s = Settings(alert_top_n=1, alert_harm_growth_pct=50, alert_watch_nominals=["a"], history_dir="unused")
    got = {}
    for name, e in (("duckdb", DuckDBEngine()), ("spark", spark_engine)):
        if name == "spark":
            e.reset()
        _hand_engine(e)
        e.register_arrow("history_members", pa.table({"nominal_id": list("abcd"), "group_id": ["G1", "G1", "G2", "G2"]}))
        e.register_arrow("history_ids", pa.table({"group_id": ["G1", "G2", "G3"]}))
        e.register_arrow("_m", pa.table({"nominal_id": list("abxcdk"), "group_id": ["G0002"] * 3 + ["G0001"] * 3,
                                         "parent_component": ["G0002"] * 3 + ["G0001"] * 3,
                                         "node_index": [0, 1, 2, 0, 1, 2], "size": [3] * 6}))
        continuity.name_groups(e, s, "_m")
        got[name] = (
            sorted(map(str, e.fetch_arrow(changes_sql(PREV, CUR, "lin")).to_pylist())),
            sorted(map(str, e.fetch_arrow(alerts_sql(PREV, CUR, "lin", s)).to_pylist())),
            sorted((r["nominal_id"], r["group_id"], r["parent_component"])
                   for r in e.fetch_arrow("SELECT * FROM _m").to_pylist()),
            sorted(map(str, e.fetch_arrow("SELECT * FROM group_lineage").to_pylist())),
        )
    assert got["duckdb"] == got["spark"]
    # G0001 {c,d,k} shares 2 of 5 with G2 {c,d} (J 0.4): it keeps G2; G0002 {a,b,x} keeps G1 (J 2/3).
    assert got["duckdb"][2] == [("a", "G1", "G1"), ("b", "G1", "G1"), ("c", "G2", "G2"), ("d", "G2", "G2"),
                                ("k", "G2", "G2"), ("x", "G1", "G1")]


def test_every_stage_keeps_to_its_declaration_with_a_history(runs, tmp_path):
    """The later extract through the checking engine, named from a history holding the first run: the
    continuity, network and changes stages read and write only what they declare."""
    import shutil

    from hiddennet.engine.checking import CheckingEngine
    from hiddennet.pipeline import run_stages

    hist = tmp_path / "h"
    shutil.copytree(runs["history"], hist)
    for p in hist.glob("runs/2021-03-22-*"):  # keep only the first run: B is named from A
        shutil.rmtree(p)
    store._rederive(hist)
    (tmp_path / "out").mkdir()
    with CheckingEngine() as engine:
        manifest = run_stages(engine, runs["root"] / "b", tmp_path / "out",
                              Settings(stability_checks=False, history_dir=str(hist)))
        assert {"history_members", "history_ids"} <= engine.seen["network"]["read"]
        assert "group_lineage" in engine.seen["changes"]["read"]
    assert manifest["stages"]["changes"]["changes"] > 0
    assert set(manifest["tables"]) >= NEW_TABLES


def test_report_section_only_with_a_history_and_no_person(runs):
    """The report of B has the continuity section (group changes, force trends by quarter) and names no
    person newly flagged; the report of A without history has no such section."""
    from hiddennet.report import render_report

    html = render_report(runs["root"] / "b-on")
    assert "Since the previous run" in html and "Quarter by quarter" in html
    assert runs["truth"]["dissolved"]["group"] in html
    assert runs["truth"]["newly_flagged_child"] not in html
    assert "Since the previous run" not in render_report(runs["root"] / "a-off")


def test_trends_by_quarter_from_the_history(runs):
    """A (2021-03-15) and B (2021-03-22) are both in 2021-Q1: the quarter's row comes from B, the latest;
    the force's crimes count is B's `(force)` count."""
    from hiddennet.continuity.trends import trends

    t = trends(runs["history"]).to_pylist()
    assert {r["quarter"] for r in t} == {"2021-Q1"}
    assert {r["as_of"].isoformat() for r in t} == {"2021-03-22"}
    b_run = store.run_id_of(runs["root"] / "b-on")
    want = [c for c in store.read(runs["history"], b_run, "counts").to_pylist()
            if c["area"] == "(force)" and c["measure"] == "crimes"]
    got = [r for r in t if r["area"] == "(force)" and r["measure"] == "crimes"]
    assert [g["count"] for g in got] == [w["count"] for w in want] and got[0]["count"] > 0
    assert {r["measure"] for r in t} == {"crimes", "victims", "offenders", "groups", "referrals"}


def test_later_of_a_folder_without_an_extract_exits_2(tmp_path):
    r = hiddennet("generate", str(tmp_path / "later"), "--later-of", str(tmp_path))
    assert r.returncode == 2 and "no crimes.csv" in r.stderr and "Traceback" not in r.stderr
