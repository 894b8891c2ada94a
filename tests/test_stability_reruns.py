"""The stability reruns of the fairness stage (pipeline.rerun_priority).

A variant that only reweights the run's links is rerun on the run's large components alone and its
new groups ranked against the run's others (the partial rerun): its top groups must be exactly
those of the whole rerun, for every variant, on generated forces, on both engines and through the
checking engine. A tie at rank 10 that only group ids could break sends it to the whole rerun
(hand-made rows). A half-life variant reruns select (the victim layer's weights are the final
table's); a gap_half_life one rebuilds only the victim and place layers, which must give the layers
stage's table exactly. A rerun leaves no table behind in its namespace.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from hiddennet import harm, ingest, layers, network, pipeline, safeguard, select
from hiddennet.engine.checking import CheckingEngine
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.generate import generate_force
from hiddennet.safeguard import fairness
from hiddennet.settings import Settings


def _prepared(engine, folder, settings: Settings) -> Settings:
    s = settings.model_copy(update={"as_of": ingest.run(engine, settings, folder).facts["as_of"]})
    for stage in (select, layers, network, safeguard, harm):
        stage.run(engine, s)
    return s


def _whole(engine, s: Settings, v: Settings, scope: str) -> pa.Table:
    top = pipeline._rerun_in_scope(engine, s, v, scope, partial=False)
    assert top is not None
    return top


def _compare_all_variants(engine, s: Settings, monkeypatch) -> dict[str, bool]:
    """Every variant both ways (the top groups as member sets must agree); returns, per variant,
    whether the partial rerun gave the answer (no fallback to the whole rerun)."""
    partial_answered: dict[str, bool] = {}
    real = pipeline._partial_rerun
    for name, v in fairness.variants(s):
        answers: list[bool] = []

        def spy(*a, answers=answers, **k):
            out = real(*a, **k)
            answers.append(out is not None)
            return out

        monkeypatch.setattr(pipeline, "_partial_rerun", spy)
        fast = pipeline.rerun_priority(engine, s, v, f"stability_{name}")
        monkeypatch.setattr(pipeline, "_partial_rerun", real)
        whole = _whole(engine, s, v, f"stability_whole_{name}")
        assert set(fairness.top_groups(fast)) == set(fairness.top_groups(whole)), name
        assert len(fairness.top_groups(fast)) == min(10, len(fairness.top_groups(whole))), name
        partial_answered[name] = bool(answers and answers[0])
    return partial_answered


@pytest.mark.parametrize(("scale", "seed", "extra"), [
    (0.05, 2, {}),
    (0.1, 5, {"priority_measure": "ons"}),
    (0.05, 7, {"max_group_size": 16}),
])
def test_partial_reruns_give_the_whole_reruns_top_groups(tmp_path, monkeypatch, scale, seed, extra):
    generate_force(tmp_path / "input", scale=scale, seed=seed, dirty=True)
    with DuckDBEngine() as e:
        s = _prepared(e, tmp_path / "input", Settings(**extra))
        assert e.scalar("SELECT count(*) FROM network_groups WHERE group_id LIKE '%-%'"), "no split component"
        answered = _compare_all_variants(e, s, monkeypatch)
    # Leaving the intel layer out drops links: always the whole rerun. The others keep the run's links.
    assert "intel_left_out" not in answered or not answered["intel_left_out"]
    assert sum(answered.values()) >= 10, answered


def test_through_the_checking_engine_and_nothing_left_behind(tmp_path):
    """Each nested stage (and the partial rerun's own step) is checked against its declaration; no
    table is left in any rerun namespace afterwards."""
    generate_force(tmp_path / "input", scale=0.03, seed=3)
    with CheckingEngine() as e:
        s = _prepared(e, tmp_path / "input", Settings())
        for name, v in fairness.variants(s)[:2] + fairness.variants(s)[-1:]:
            pipeline.rerun_priority(e, s, v, f"stability_{name}")
            _whole(e, s, v, f"stability_whole_{name}")
        left = e.con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> 'main'").fetchall()
    assert left == []


def test_a_half_life_variant_reweighs_the_final_table(tmp_path, monkeypatch):
    """The gap half-life moves the victim layer's weights: select is rerun in the namespace, so the
    variant's `edges` differ from the run's on the victim layer (before the fix they were equal)."""
    generate_force(tmp_path / "input", scale=0.03, seed=4)
    seen: dict[str, float] = {}
    with DuckDBEngine() as e:
        s = _prepared(e, tmp_path / "input", Settings())
        run_sum = e.scalar("SELECT sum(weight ORDER BY weight) FROM edges WHERE layer = 'victim'")
        real = pipeline._partial_rerun

        def spy(engine, *a, **k):
            seen["victim"] = engine.scalar("SELECT sum(weight ORDER BY weight) FROM edges WHERE layer = 'victim'")
            return real(engine, *a, **k)

        monkeypatch.setattr(pipeline, "_partial_rerun", spy)
        v = dict(fairness.variants(s))["gap_half_life_up"]
        pipeline.rerun_priority(e, s, v, "stability_gap")
    assert seen["victim"] != pytest.approx(run_sum)


def _rows(groups: list[tuple[str, float, int, int]]) -> pa.Table:
    """Rows (group id, measure, size, nominal) for groups given as (id, measure, size, members)."""
    out: dict[str, list] = {"group_id": [], "measure": [], "size": [], "nominal_id": []}
    for g, m, size, members in groups:
        for i in range(members):
            out["group_id"].append(g)
            out["measure"].append(m)
            out["size"].append(size)
            out["nominal_id"].append(f"{g}-n{i}")
    return pa.table(out)


def test_merged_top_by_hand():
    """Twelve groups: harm 100, 99, ... 89 (one member each, size 1): the top 10 are the first ten by
    harm whatever their order in the rows. When the 10th and the 11th tie on harm and size, only the
    group ids could order them: None (the whole rerun decides). A tie on harm broken by size is fine."""
    groups = [(f"G{i:02d}", 100.0 - i, 1, 1) for i in range(12)]
    top = pipeline._merged_top(_rows(list(reversed(groups))))
    assert top is not None
    assert top.column("nominal_id").to_pylist() == [f"G{i:02d}-n0" for i in range(10)]
    assert top.column("priority_rank").to_pylist() == list(range(1, 11))
    tied = groups[:9] + [("A", 50.0, 1, 1), ("B", 50.0, 1, 1)]
    assert pipeline._merged_top(_rows(tied)) is None
    by_size = groups[:9] + [("A", 50.0, 3, 3), ("B", 50.0, 2, 2)]
    top = pipeline._merged_top(_rows(by_size))
    assert top is not None and "A-n0" in top.column("nominal_id").to_pylist()
    assert "B-n0" not in top.column("nominal_id").to_pylist()
    # Fewer than ten groups: all of them, no tie question.
    few = pipeline._merged_top(_rows(groups[:3]))
    assert few is not None and few.column("priority_rank").to_pylist() == [1, 2, 3]


@pytest.mark.spark
def test_partial_reruns_on_spark(tmp_path, spark_engine):
    """Spark's namespaces: the partial rerun gives the whole rerun's top groups for a layer-weight and
    a half-life variant, as DuckDB does."""
    generate_force(tmp_path / "input", scale=0.02, seed=2)
    e = spark_engine
    e.reset()
    s = _prepared(e, tmp_path / "input", Settings(engine="spark"))
    named = dict(fairness.variants(s))
    for name in ("layer_weight_victim_up", "recency_half_life_down"):
        fast = pipeline.rerun_priority(e, s, named[name], f"stability_{name}")
        whole = _whole(e, s, named[name], f"stability_whole_{name}")
        assert set(fairness.top_groups(fast)) == set(fairness.top_groups(whole)), name


@pytest.mark.parametrize("extra", [{}, {"profiles": ["cse", "cce", "msht"], "place_layer": True, "cooffending_layer": True}])
def test_a_gap_variants_layers_are_those_of_the_whole_layers_stage(tmp_path, extra):
    """gap_half_life moves only the victim and place layers: the run's other layers kept as they are
    and those two built again give exactly the table the layers stage gives on the variant."""
    generate_force(tmp_path / "input", scale=0.05, seed=4, dirty=not extra, all_age=bool(extra))
    cols = layers.EDGE_COLUMNS
    with DuckDBEngine() as e:
        s = _prepared(e, tmp_path / "input", Settings(**extra))
        v = s.model_copy(update={"gap_half_life": s.gap_half_life * 0.8})
        for scope, build in (("gap_fast", layers.rebuild_gap_layers), ("gap_whole", layers.run)):
            with e.scope(scope):
                select.run(e, v)
                build(e, v)
        differ = e.scalar(f"""SELECT count(*) FROM (
            (SELECT {cols} FROM gap_fast.edges EXCEPT ALL SELECT {cols} FROM gap_whole.edges) UNION ALL
            (SELECT {cols} FROM gap_whole.edges EXCEPT ALL SELECT {cols} FROM gap_fast.edges))""")
        assert differ == 0
        by_layer = dict(e.fetch_rows("SELECT layer, count(*) FROM gap_fast.edges GROUP BY layer"))
        assert by_layer.get("victim") and by_layer.get("intel")
        if extra:
            assert by_layer.get("place"), "the generated force gives no place links: the test shows nothing"
        # The variant really moves the victim layer's weights (else the test could not tell).
        moved = e.scalar("SELECT count(*) FROM gap_fast.edges f JOIN main.edges r USING (nominal_a, nominal_b, layer) "
                         "WHERE f.layer = 'victim' AND f.weight <> r.weight")
        assert moved > 0
