"""Triage bands (hiddennet/safeguard/bands.py): hand-worked people, settings that move them, the rule table
of docs/safeguarding.md, and a real pipeline run with the triage step after harm and dismantle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_safeguard import AS_OF, HAND, Crime, World, build_world

from hiddennet import safeguard
from hiddennet.safeguard import bands as triage_mod
from hiddennet.settings import Settings


def bands(engine) -> dict[str, tuple[str, list[str]]]:
    return {r["nominal_id"]: (r["band"], r["band_reasons"])
            for r in engine.fetch_arrow("SELECT * FROM safeguarding_triage").to_pylist()}


def run_both(engine, world: World, settings: Settings, prepare=None) -> dict:
    build_world(engine, world)
    if prepare:
        prepare(engine)
    safeguard.run(engine, settings)
    out = safeguard.triage(engine, settings)
    return out.facts


def test_hand_worked_bands(engine, settings):
    """HAND on 2021-03-15 (days since the last linked crime in brackets):
    V1 (15; C1 2020-06-01, 287) and O2 (16, accused in C1, 287): high, a child active this year (O2 also a child
    in the network in an accused role). I1 (10; C8 2020-01-01, 439): medium, a child active within five years
    (under 13 but not active this year, so not `young_child`). V2 (20; 2015-07-01, 2084),
    V5 (21; 2015-06-01, 2114), O3 (30; 2007-02-01): monitor, nothing in five years. P5 (36; C7 2019-01-01, 804):
    active within five years but no rule above monitor. Run on every engine."""
    facts = run_both(engine, HAND, settings)
    assert bands(engine) == {
        "V1": ("high", ["child_recent_year"]),
        "O2": ("high", ["child_in_network_accused", "child_recent_year"]),
        "I1": ("medium", ["child"]),
        "V2": ("monitor", ["no_recent_activity"]),
        "V5": ("monitor", ["no_recent_activity"]),
        "O3": ("monitor", ["no_recent_activity"]),
        "P5": ("monitor", ["no_rule_above_monitor"]),
    }
    assert facts["people_per_band"] == {"immediate": 0, "high": 2, "medium": 1, "monitor": 4}
    days = dict(engine.fetch_rows("SELECT nominal_id, days_since_activity FROM safeguarding_triage"))
    assert (days["V1"], days["I1"], days["P5"], days["V2"]) == (287, 439, 804, 2084)


def _register_logs(engine, rows: list[tuple[str, str, str]]) -> None:
    """rows: (log_id, log_date, nominal_id)."""
    s = pa.string()
    engine.register_arrow("intel_logs", pa.Table.from_pylist(
        [dict(log_id=i, log_date=dt.date.fromisoformat(d)) for i, d, _ in rows],
        pa.schema([("log_id", s), ("log_date", pa.date32())])))
    engine.register_arrow("intel_nominals", pa.Table.from_pylist(
        [dict(log_id=i, nominal_id=n) for i, _, n in rows], pa.schema([("log_id", s), ("nominal_id", s)])))


def test_recency_repeat_victimisation_and_logs(duck, settings):
    """K1 (14) victim on 2021-03-01 (14 days): immediate. T1 (18 now) victim at 16 and 17 in C2, C3 (2019-01-01,
    2020-06-01: 287 days): repeat victimisation this year, high. T2 (19) victim twice in 2017 and 2018 (last
    2018-02-01: 1138 days): repeat victimisation earlier, medium. V2 (20; crime 2015) named in an intelligence
    log 10 days before as_of: the log makes them recent (medium, `recent_activity`), where HAND had them monitored."""
    w = World(
        dob={"O1": "1980-01-01", "K1": "2007-01-01", "T1": "2002-09-01", "T2": "2001-06-01", "V2": "2000-06-01"},
        crimes=[Crime("C1", "2021-03-01", offenders=("O1",), victims=("K1",)),
                Crime("C2", "2019-01-01", offenders=("O1",), victims=("T1",)),
                Crime("C3", "2020-06-01", offenders=("O1",), victims=("T1",)),
                Crime("C5", "2017-01-01", offenders=("O1",), victims=("T2",)),
                Crime("C6", "2018-02-01", offenders=("O1",), victims=("T2",)),
                Crime("C4", "2015-07-01", offenders=("O1",), victims=("V2",))],
    )
    run_both(duck, w, settings, prepare=lambda e: _register_logs(e, [("L1", "2021-03-05", "V2")]))
    b = bands(duck)
    assert b["K1"] == ("immediate", ["child_recent_activity"])
    assert b["T1"] == ("high", ["repeat_victimisation"])
    assert b["T2"] == ("medium", ["repeat_victimisation_earlier"])
    assert b["V2"] == ("medium", ["recent_activity"])


def _register_harm(engine, ranks: dict[str, int | None], harm: dict[str, float]) -> None:
    s = pa.string()
    engine.register_arrow("group_harm", pa.Table.from_pylist(
        [dict(group_id=g, priority_rank=r) for g, r in ranks.items()], pa.schema([("group_id", s), ("priority_rank", pa.int32())])))
    engine.register_arrow("nominal_harm", pa.Table.from_pylist(
        [dict(nominal_id=n, harm_cchi=h) for n, h in harm.items()], pa.schema([("nominal_id", s), ("harm_cchi", pa.float64())])))


def test_ranked_group_and_high_harm_links(duck, settings):
    """HAND's group G1 ranked 3 and O1 (unflagged) with 2000 CCHI days (above 1825). G1's links are the path
    O1-O2-O3-O4-P5-I1. P5 (adult, in G1, linked to O4 and I1 only, active within five years):
    `in_ranked_group` -> high. V1 is O1's victim in C1 and a child active this year: immediate through
    `child_high_harm_link_recent`; O2 is linked to O1 by a network link: immediate too. With G1 ranked 30
    (below the top 20) and O1 under the harm line, P5 falls back to monitor."""
    run_both(duck, HAND, settings, prepare=lambda e: _register_harm(e, {"G1": 3}, {"O1": 2000.0, "O4": 10.0}))
    b = bands(duck)
    assert b["P5"] == ("high", ["in_ranked_group"])
    assert b["V1"] == ("immediate", ["child_high_harm_link_recent"])
    assert b["O2"] == ("immediate", ["child_high_harm_link_recent"])
    assert dict(duck.fetch_rows("SELECT nominal_id, best_group_rank FROM safeguarding_triage"))["P5"] == 3
    run_both(duck, HAND, settings, prepare=lambda e: _register_harm(e, {"G1": 30}, {"O1": 100.0}))
    assert bands(duck)["P5"] == ("monitor", ["no_rule_above_monitor"])


def test_thresholds_are_settings(duck):
    """triage_recent_days 3000: V2 and V5 (2084 and 2114 days) become recent adults (medium) once the stale
    line (triage_stale_days) also moves past them; I1 with triage_young_child_age 9 is no longer `young_child`
    and, at 439 days, is a child active within the (longer) recent window: high `child_recent_year`."""
    s = Settings(as_of=AS_OF, triage_recent_days=3000, triage_stale_days=3000, triage_young_child_age=9)
    run_both(duck, HAND, s)
    b = bands(duck)
    assert b["V2"] == ("medium", ["recent_activity"]) and b["V5"] == ("medium", ["recent_activity"])
    assert b["I1"] == ("high", ["child_recent_year"])


def test_every_flagged_person_gets_exactly_one_band(duck, settings):
    """A person with no dated crime or log (NULL recency) is monitored, never counted as recent."""
    w = World(dob={"O1": "1980-01-01", "X": "2008-01-01"}, crimes=[], groups={"G1": ["O1", "X"]})
    run_both(duck, w, settings)
    assert bands(duck) == {"X": ("monitor", ["no_recent_activity"])}
    assert duck.count("safeguarding_triage") == duck.count("safeguarding")


def test_rule_table_in_the_docs_is_the_code():
    """docs/safeguarding.md holds the rule table exactly as the code states it (default thresholds)."""
    doc = (Path(__file__).parents[1] / "docs" / "safeguarding.md").read_text(encoding="utf-8")
    assert triage_mod.rule_table_markdown() in doc


def test_pipeline_with_the_triage_step(tmp_path):
    """The real pipeline on a tiny generated force (triage runs after dismantle): every flagged person has
    one band, the tables are published, and nobody of a band is in a dismantling order or a ranked position."""
    from hiddennet import pipeline
    from hiddennet.generate import generate_force

    generate_force(tmp_path / "in", scale=0.02, seed=3, dirty=True)
    r = pipeline.run_pipeline(tmp_path / "in", tmp_path / "out", Settings(stability_checks=False))
    tables = tmp_path / "out" / "tables"
    tri = pq.read_table(tables / "safeguarding_triage.parquet").to_pylist()
    flagged = {x["nominal_id"] for x in pq.read_table(tables / "safeguarding.parquet").to_pylist()}
    assert {x["nominal_id"] for x in tri} == flagged and all(x["band"] in triage_mod.BANDS for x in tri)
    assert sum(r.manifest["stages"]["triage"]["people_per_band"].values()) == len(flagged)
    picks = {x["nominal_id"] for x in pq.read_table(tables / "dismantling.parquet").to_pylist()}
    assert not picks & flagged
