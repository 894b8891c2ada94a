"""Layers stage: hand-worked cases for the victim, intelligence, custody and SOC layers.

as_of is 2021-03-15 and recency_half_life 1825 days throughout, so a date 1825 days before
as_of (2016-03-15) has recency factor 1/2 and a date on as_of has factor 1.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from hiddennet import layers
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)
HALF = AS_OF - dt.timedelta(days=1825)  # recency factor 1/2
D = dt.date

SCHEMAS = {
    "full_table": [("crime_ref", pa.string()), ("offender_id", pa.string()), ("victim_id", pa.string()),
                   ("offence_date", pa.date32())],
    "final_table": [("offender_1", pa.string()), ("offender_2", pa.string()), ("crime_ref_1", pa.string()),
                    ("crime_ref_2", pa.string()), ("victim_id", pa.string()), ("offence_date_1", pa.date32()),
                    ("offence_date_2", pa.date32()), ("weight", pa.float64())],
    "intel_logs": [("log_id", pa.string()), ("log_date", pa.date32()), ("grading_system", pa.string()),
                   ("source_grade", pa.string()), ("information_grade", pa.string()),
                   ("handling_code", pa.string()), ("source_line", pa.int64())],
    "intel_nominals": [("log_id", pa.string()), ("nominal_id", pa.string()), ("source_line", pa.int64())],
    "custody_cells": [("nominal_id", pa.string()), ("establishment", pa.string()), ("cell_id", pa.string()),
                      ("from_date", pa.date32()), ("to_date", pa.date32()), ("source_line", pa.int64())],
    "soc_nominals": [("nominal_id", pa.string()), ("group_id", pa.string()), ("source_line", pa.int64())],
    "soc_edges": [("nominal_id_a", pa.string()), ("nominal_id_b", pa.string()), ("weight", pa.float64()),
                  ("layer", pa.string()), ("source_line", pa.int64())],
}


def put(engine, name: str, rows: list[tuple]) -> None:
    """Create table `name` with the columns of docs/tables.md; source_line filled when not given."""
    schema = pa.schema(SCHEMAS[name])
    width = len(schema)
    rows = [tuple(r) + (i + 2,) * (width - len(r)) for i, r in enumerate(rows)]
    cols = {f.name: [r[i] for r in rows] for i, f in enumerate(schema)}
    engine.register_arrow(name, pa.table(cols, schema=schema))


def setup_inputs(engine, *, seeds=("S1",), final=(), logs=(), mentions=(), stays=(), soc_nodes=(), soc_edges=()):
    put(engine, "full_table", [(f"C{i}", s, "V1", D(2020, 1, 1)) for i, s in enumerate(seeds)])
    put(engine, "final_table", list(final))
    put(engine, "intel_logs", list(logs))
    put(engine, "intel_nominals", list(mentions))
    put(engine, "custody_cells", list(stays))
    put(engine, "soc_nominals", list(soc_nodes))
    put(engine, "soc_edges", list(soc_edges))


def edges(engine, layer: str) -> dict:
    rows = engine.fetch_rows(
        f"SELECT nominal_a, nominal_b, weight, first_date, last_date, evidence_count, handling_code, "
        f"crime_refs, log_ids, soc_layer FROM edges WHERE layer = '{layer}' ORDER BY nominal_a, nominal_b"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def test_edges_columns_follow_the_contract(engine, settings):
    setup_inputs(engine)
    out = layers.run(engine, settings)
    assert out.tables == ("edges",)
    assert engine.columns("edges") == [
        "nominal_a", "nominal_b", "layer", "weight", "first_date", "last_date", "evidence_count",
        "handling_code", "crime_refs", "log_ids", "soc_layer",
    ]
    assert out.facts["edges"] == 0
    assert not engine.has_table("_layers_intel_pairs")


def test_victim_layer_sums_final_table_rows(engine, settings):
    """A-B share victim V1 on two rows (0.5 and 0.25) -> one edge, weight 0.75, evidence 2,
    dates over both crimes of both rows (2019-01-01 .. 2020-06-01), crime refs C1, C2, C3 once each.
    A-C share one row (weight 1.0)."""
    final = [
        ("A", "B", "C1", "C2", "V1", D(2019, 1, 1), D(2019, 5, 1), 0.5),
        ("A", "B", "C3", "C2", "V1", D(2020, 6, 1), D(2019, 5, 1), 0.25),
        ("A", "C", "C1", "C1", "V2", D(2019, 1, 1), D(2019, 1, 1), 1.0),
    ]
    setup_inputs(engine, seeds=("A", "B", "C"), final=final)
    layers.run(engine, settings)
    e = edges(engine, "victim")
    assert set(e) == {("A", "B"), ("A", "C")}
    w, first, last, n, handling, crimes, logs, soc = e[("A", "B")]
    assert w == pytest.approx(0.75)
    assert (first, last, n) == (D(2019, 1, 1), D(2020, 6, 1), 2)
    assert list(crimes) == ["C1", "C2", "C3"]
    assert handling is None and logs is None and soc is None
    assert e[("A", "C")][0] == pytest.approx(1.0) and list(e[("A", "C")][5]) == ["C1"]


def test_intel_log_of_three_with_one_seed(engine, settings):
    """Log L1 (3x5x2 1A, 1825 days old) names seed S1 and non-seeds X, Y: k = 3, so S1-X and S1-Y
    each weigh 1/(3-1) x 1/2 = 0.25; X-Y (no seed) is not linked."""
    setup_inputs(
        engine,
        logs=[("L1", HALF, "3x5x2", "1", "A", "P")],
        mentions=[("L1", "S1"), ("L1", "X"), ("L1", "Y"), ("L1", "Y")],  # Y named twice: still k = 3
    )
    out = layers.run(engine, settings)
    e = edges(engine, "intel")
    assert set(e) == {("S1", "X"), ("S1", "Y")}
    for pair in e:
        w, first, last, n, handling, crimes, logs, soc = e[pair]
        assert w == pytest.approx(0.25)
        assert (first, last, n, handling, list(logs)) == (HALF, HALF, 1, "P", ["L1"])
    assert out.facts["intel_logs_used"] == 1


def test_intel_pair_counts_once_per_log_and_sums_over_logs(engine, settings):
    """Seeds S1 and S2 on log L1 (k = 2, as_of: weight 1) and L2 (k = 3, as_of: 1/2): S1-S2 is found
    from both seeds on each log but counts once per log: weight 1 + 1/2 = 1.5, evidence 2.
    Handling codes P, 4 and C on three logs: C is the most restrictive (P < 4 < C < 5)."""
    setup_inputs(
        engine,
        seeds=("S1", "S2"),
        logs=[
            ("L1", AS_OF, "3x5x2", "1", "B", "P"),
            ("L2", AS_OF, "5x5x5", "A", "1", "4"),
            ("L3", HALF, "3x5x2", "1", "C", "C"),
        ],
        mentions=[("L1", "S1"), ("L1", "S2"), ("L2", "S1"), ("L2", "S2"), ("L2", "Z"), ("L3", "S2"), ("L3", "Q")],
    )
    layers.run(engine, settings)
    e = edges(engine, "intel")
    assert e[("S1", "S2")][0] == pytest.approx(1.5)
    assert e[("S1", "S2")][3] == 2
    assert list(e[("S1", "S2")][6]) == ["L1", "L2"]
    assert e[("S1", "S2")][4] == "4"
    assert e[("S1", "Z")][0] == pytest.approx(0.5) and e[("S2", "Z")][0] == pytest.approx(0.5)
    # S2-Q from L3 only (k = 2, 1825 days old): weight 1/2, handling C.
    assert e[("Q", "S2")][0] == pytest.approx(0.5) and e[("Q", "S2")][4] == "C"


def test_intel_most_restrictive_handling_code_across_systems(engine, settings):
    """One pair on three logs with handling P (3x5x2), 4 (5x5x5) and C (3x5x2): the edge keeps C."""
    logs = [("L1", AS_OF, "3x5x2", "1", "A", "P"), ("L2", AS_OF, "5x5x5", "B", "2", "4"),
            ("L3", AS_OF, "3x5x2", "1", "A", "C")]
    setup_inputs(engine, logs=logs, mentions=[(f"L{i}", n) for i in (1, 2, 3) for n in ("S1", "X")])
    layers.run(engine, settings)
    assert edges(engine, "intel")[("S1", "X")][4] == "C"
    assert layers.HANDLING_RANK["C"] > layers.HANDLING_RANK["4"] > layers.HANDLING_RANK["1"]
    assert layers.HANDLING_RANK["5"] > layers.HANDLING_RANK["C"]


def test_intel_gradings_and_too_large_logs_are_counted_not_linked(engine, settings):
    """5x5x5 B2 is actionable (link S1-A); 5x5x5 D1 and 3x5x2 2C are not (counted by grading);
    a 3x5x2 1A log of 31 nominals is over max_log_nominals = 30 (skipped, counted as 1A); a log of
    exactly 30 is used (each of 29 links weighs 1/29)."""
    big = [("BIG", "S1")] + [("BIG", f"M{i:02d}") for i in range(30)]
    ok30 = [("OK30", "S1")] + [("OK30", f"K{i:02d}") for i in range(29)]
    setup_inputs(
        engine,
        logs=[
            ("B2", AS_OF, "5x5x5", "B", "2", "1"),
            ("D1", AS_OF, "5x5x5", "D", "1", "1"),
            ("X2C", AS_OF, "3x5x2", "2", "C", "P"),
            ("BIG", AS_OF, "3x5x2", "1", "A", "P"),
            ("OK30", AS_OF, "3x5x2", "1", "A", "P"),
        ],
        mentions=[("B2", "S1"), ("B2", "A"), ("D1", "S1"), ("D1", "D"), ("X2C", "S1"), ("X2C", "C")] + big + ok30,
    )
    out = layers.run(engine, settings)
    e = edges(engine, "intel")
    assert ("A", "S1") in e and ("D", "S1") not in e and ("C", "S1") not in e
    assert not any(p[0].startswith("M") for p in e)
    k_links = [p for p in e if p[0].startswith("K")]
    assert len(k_links) == 29
    assert all(e[p][0] == pytest.approx(1 / 29) for p in k_links)
    assert out.facts["intel_logs_not_actionable"] == {"5x5x5": {"D1": 1}, "3x5x2": {"2C": 1}}
    assert out.facts["intel_logs_too_large"] == {"3x5x2": {"1A": 1}}
    assert out.facts["intel_logs_used"] == 2


def test_intel_actionable_gradings_come_from_settings(engine):
    """With 5x5x5 D1 declared actionable, the D1 log links."""
    s = Settings(as_of=AS_OF, actionable_5x5x5=["D1"])
    setup_inputs(engine, logs=[("D1", AS_OF, "5x5x5", "D", "1", "1")], mentions=[("D1", "S1"), ("D1", "D")])
    layers.run(engine, s)
    assert ("D", "S1") in edges(engine, "intel")


def stay(n, fr, to, cell="C1", est="HMP1"):
    return (n, est, cell, fr, to)


def test_custody_29_days_no_link_30_days_link(engine, settings):
    """S1 and X share cell C1 from 2020-01-01 to 2020-01-29 (29 days: both ends count): no link.
    S1 and Y share cell C2 from 2020-03-01 to 2020-03-30 (30 days): linked, weight
    2^(-(as_of - 2020-03-30)/1825), first/last shared day 2020-03-01/2020-03-30, one stay pair."""
    stays = [
        stay("S1", D(2020, 1, 1), D(2020, 1, 29)),
        stay("X", D(2019, 12, 1), D(2020, 2, 10)),
        stay("S1", D(2020, 3, 1), D(2020, 3, 30), cell="C2"),
        stay("Y", D(2020, 3, 1), D(2020, 5, 1), cell="C2"),
    ]
    setup_inputs(engine, stays=stays)
    layers.run(engine, settings)
    e = edges(engine, "custody")
    assert set(e) == {("S1", "Y")}
    w, first, last, n, *_ = e[("S1", "Y")]
    assert w == pytest.approx(2 ** (-(AS_OF - D(2020, 3, 30)).days / 1825))
    assert (first, last, n) == (D(2020, 3, 1), D(2020, 3, 30), 1)


def test_custody_open_stay_ends_at_as_of(engine, settings):
    """S1 in since 2021-02-01, still there (to_date NULL); Y in from 2021-02-14, also open:
    shared 2021-02-14 .. 2021-03-15 = 30 days, last shared day as_of, weight 1."""
    setup_inputs(engine, stays=[stay("S1", D(2021, 2, 1), None), stay("Y", D(2021, 2, 14), None)])
    layers.run(engine, settings)
    e = edges(engine, "custody")
    assert e[("S1", "Y")][0] == pytest.approx(1.0)
    assert e[("S1", "Y")][1:3] == (D(2021, 2, 14), AS_OF)
    # One day less and there is no link.
    setup_inputs(engine, stays=[stay("S1", D(2021, 2, 1), None), stay("Y", D(2021, 2, 15), None)])
    layers.run(engine, settings)
    assert edges(engine, "custody") == {}


def test_custody_overlapping_stays_of_one_person_not_double_counted(engine, settings):
    """S1 has two overlapping stays in C1 (2020-01-01..01-20 and 2020-01-10..01-25: merged to
    01-01..01-25, 25 days). Y is there 2020-01-01..01-31. Shared days: 25, not 20 + 16 = 36: no
    link. Adding a second shared stay of S1 in C1 (2020-02-01..02-05, 5 days, with Y back
    02-01..02-10) makes 30 days in total over two stay pairs: linked, evidence 2."""
    stays = [
        stay("S1", D(2020, 1, 1), D(2020, 1, 20)),
        stay("S1", D(2020, 1, 10), D(2020, 1, 25)),
        stay("Y", D(2020, 1, 1), D(2020, 1, 31)),
    ]
    setup_inputs(engine, stays=stays)
    layers.run(engine, settings)
    assert edges(engine, "custody") == {}
    more = [stay("S1", D(2020, 2, 1), D(2020, 2, 5)), stay("Y", D(2020, 2, 1), D(2020, 2, 10))]
    setup_inputs(engine, stays=stays + more)
    layers.run(engine, settings)
    e = edges(engine, "custody")
    assert e[("S1", "Y")][1:4] == (D(2020, 1, 1), D(2020, 2, 5), 2)


def test_custody_needs_a_seed_and_the_same_cell(engine, settings):
    """X and Y (no seed) share 100 days: no link. S1 and Z are 100 days in cells C1 and C2 of the
    same prison, and in cell C1 of another prison: no link. S1 and S2 (both seeds): one edge."""
    fr, to = D(2020, 1, 1), D(2020, 4, 9)
    stays = [
        stay("X", fr, to), stay("Y", fr, to),
        stay("S1", fr, to, cell="C5"), stay("Z", fr, to, cell="C6"), stay("Z", fr, to, cell="C5", est="HMP2"),
        stay("S2", fr, to, cell="C5"),
    ]
    setup_inputs(engine, seeds=("S1", "S2"), stays=stays)
    layers.run(engine, settings)
    assert set(edges(engine, "custody")) == {("S1", "S2")}
    assert edges(engine, "custody")[("S1", "S2")][3] == 1


def test_soc_layer_one_edge_per_pair(engine, settings):
    """SOC rows A-B (2.0, crime) and B-A (3.0, intel) are one edge: weight 3 (the largest),
    evidence 2, soc_layer 'crime;intel'; C-D with no weight weighs 1."""
    setup_inputs(
        engine,
        soc_edges=[("A", "B", 2.0, "crime"), ("B", "A", 3.0, "intel"), ("D", "C", None, None)],
    )
    layers.run(engine, settings)
    e = edges(engine, "soc")
    assert e[("A", "B")][0] == 3.0 and e[("A", "B")][3] == 2 and e[("A", "B")][7] == "crime;intel"
    assert e[("C", "D")][0] == 1.0 and e[("C", "D")][7] in (None, "")


def test_every_edge_is_ordered_and_positive(engine, settings):
    """Across all layers: nominal_a < nominal_b, weight > 0, layer one of the four."""
    setup_inputs(
        engine,
        seeds=("S2", "S1"),
        final=[("S1", "S2", "C1", "C2", "V", D(2020, 1, 1), D(2020, 1, 2), 0.9)],
        logs=[("L", AS_OF, "3x5x2", "1", "A", "P")],
        mentions=[("L", "Z9"), ("L", "S2"), ("L", "A0")],
        stays=[stay("S2", D(2020, 1, 1), D(2020, 6, 1)), stay("B0", D(2020, 1, 1), D(2020, 6, 1))],
        soc_edges=[("Z", "A", 1.5, "x")],
    )
    out = layers.run(engine, settings)
    rows = engine.fetch_rows("SELECT nominal_a, nominal_b, layer, weight FROM edges")
    assert len(rows) == out.facts["edges"] == 5
    assert all(a < b and w > 0 and layer in layers.LAYER_NAMES for a, b, layer, w in rows)
    assert out.facts["edges_by_layer"] == {"victim": 1, "intel": 2, "custody": 1, "soc": 1}
