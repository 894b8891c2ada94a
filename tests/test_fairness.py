"""Bias and robustness checks (hiddennet/safeguard/fairness.py): suppression, ratios, stability, data gaps."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hiddennet.safeguard import fairness
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)
STR = pa.string()


def rows_by(rows, population, category):
    return {r["value"]: r for r in rows if r["population"] == population and r["category"] == category}


def test_primary_and_secondary_suppression_by_hand():
    """all_nominals sex: F 30, M 5, unknown 15 (total 50). M (5 < 10) is suppressed; alone it could be
    recovered as 50 - 30 - 15, so the smallest other non-zero cell (unknown, 15) is suppressed too.
    Ethnicity: IC1 40, IC3 3, unknown 7: two small cells hide each other, nothing more; zeros are shown."""
    counts = {("all_nominals", "sex", "F"): 30, ("all_nominals", "sex", "M"): 5, ("all_nominals", "sex", "unknown"): 15,
              ("all_nominals", "ethnicity", "IC1"): 40, ("all_nominals", "ethnicity", "IC3"): 3,
              ("all_nominals", "ethnicity", "unknown"): 7}
    rows, totals = fairness.composition_rows(counts, min_cell=10)
    assert totals["all_nominals"] == 50
    sex = rows_by(rows, "all_nominals", "sex")
    assert (sex["F"]["count"], sex["F"]["share"], sex["F"]["suppressed"]) == (30, 0.6, False)
    assert sex["M"]["suppressed"] and sex["M"]["count"] is None and sex["M"]["share"] is None
    assert sex["unknown"]["suppressed"] and sex["unknown"]["count"] is None
    eth = rows_by(rows, "all_nominals", "ethnicity")
    assert {v for v, r in eth.items() if r["suppressed"]} == {"IC3", "unknown"}
    assert eth["IC2"]["count"] == 0 and not eth["IC2"]["suppressed"]
    assert eth["IC1"]["count"] == 40


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=3, max_size=3), st.integers(1, 15))
def test_no_suppressed_cell_can_be_recovered_from_the_total(cells, min_cell):
    """Property: every shown count is >= min_cell or 0, and a measure never has exactly one suppressed cell
    (one alone equals the total minus the shown cells)."""
    counts = {("all_nominals", "sex", c): n for c, n in zip(("F", "M", "unknown"), cells, strict=True)}
    rows, _ = fairness.composition_rows(counts, min_cell=min_cell)
    sex = rows_by(rows, "all_nominals", "sex")
    assert all(r["count"] is None or r["count"] == 0 or r["count"] >= min_cell for r in sex.values())
    hidden = [v for v, r in sex.items() if r["suppressed"]]
    assert len(hidden) != 1
    assert all(r["share"] is None and r["ratio"] is None for r in sex.values() if r["suppressed"])


def _person(i, sex, born="1990-01-01", eth=None):
    return {"nominal_id": f"N{i:03d}", "date_of_birth": dt.date.fromisoformat(born) if born else None,
            "sex": sex, "ethnicity": eth}


def build(engine, people, groups, ranks, picks, flagged):
    engine.register_arrow("nominals", pa.Table.from_pylist(people, pa.schema(
        [("nominal_id", STR), ("date_of_birth", pa.date32()), ("sex", STR), ("ethnicity", STR)])))
    engine.register_arrow("network_nominals", pa.Table.from_pylist(
        [{"nominal_id": p, "group_id": g} for g, ms in groups.items() for p in ms],
        pa.schema([("nominal_id", STR), ("group_id", STR)])))
    engine.register_arrow("group_harm", pa.Table.from_pylist(
        [{"group_id": g, "priority_rank": ranks.get(g)} for g in groups],
        pa.schema([("group_id", STR), ("priority_rank", pa.int32())])))
    engine.register_arrow("dismantling", pa.Table.from_pylist(
        [{"group_id": "A", "step": i + 1, "nominal_id": p} for i, p in enumerate(picks)],
        pa.schema([("group_id", STR), ("step", pa.int32()), ("nominal_id", STR)])))
    engine.register_arrow("safeguarding", pa.Table.from_pylist(
        [{"nominal_id": p} for p in flagged], pa.schema([("nominal_id", STR)])))


def test_ratios_and_populations_on_the_engine(engine):
    """Group A (ranked): 20 M and 10 F adults plus 2 girls aged 15 who are flagged (left out of the
    prioritised members). Group B (unranked): 10 F. All nominals: F 22, M 20 (42).
    Prioritised members: M 20/30 -> ratio (20/30)/(20/42) = 1.4; F 10/30 -> (1/3)/(22/42) = 0.6364.
    Picks: 3 M -> suppressed, with F (0, first of the zero cells) as its secondary.
    Ethnicity is all unknown: share unknown 1.0 in every population with people."""
    people = [_person(i, "M") for i in range(20)] + [_person(i, "F") for i in range(20, 30)]
    people += [_person(i, "F", "2005-06-01") for i in (30, 31)] + [_person(i, "F") for i in range(40, 50)]
    groups = {"A": [f"N{i:03d}" for i in range(32)], "B": [f"N{i:03d}" for i in range(40, 50)]}
    build(engine, people, groups, {"A": 1}, picks=["N000", "N001", "N002"], flagged=["N030", "N031"])
    out = fairness.run(engine, Settings(as_of=AS_OF, stability_checks=False), rerun=None)
    rows = engine.fetch_arrow("SELECT * FROM fairness").to_pylist()
    pm = rows_by(rows, "prioritised_members", "sex")
    assert (pm["M"]["count"], pm["M"]["ratio"]) == (20, 1.4)
    assert (pm["F"]["count"], pm["F"]["ratio"]) == (10, 0.6364)
    assert out.facts["population_sizes"] == {"all_nominals": 42, "prioritised_members": 30, "dismantling_picks": 3}
    picks = rows_by(rows, "dismantling_picks", "sex")
    assert picks["M"]["suppressed"] and picks["F"]["suppressed"] and not picks["unknown"]["suppressed"]
    ages = rows_by(rows, "all_nominals", "age_band")
    # Age: 2 girls of 15 (14-17, suppressed) and 40 adults of 31 (25-34, the only other non-zero cell:
    # suppressed as the secondary, else 42 - 40 would give the 2 away).
    assert ages["14-17"]["suppressed"] and ages["25-34"]["suppressed"] and ages["25-34"]["count"] is None
    assert ages["under 10"]["count"] == 0 and not ages["under 10"]["suppressed"]
    assert out.facts["share_unknown"]["ethnicity"]["all_nominals"] == 1.0
    assert "nominal_id" not in engine.columns("fairness")
    assert out.facts["stability"] == {"skipped": "stability_checks is false"}


def _ranked(groups: dict[str, list[str]]) -> pa.Table:
    rows = [{"group_id": g, "priority_rank": r, "nominal_id": p}
            for r, (g, ms) in enumerate(groups.items(), start=1) for p in ms]
    return pa.Table.from_pylist(rows, pa.schema([("group_id", STR), ("priority_rank", pa.int32()), ("nominal_id", STR)]))


def test_stability_with_a_fake_rerun(duck):
    """The run's top groups: T1 {a,b,c,d}, T2 {e,f}, T3 {g,h,i}. Every variant returns them renamed, except
    intel_left_out, where T1 shrinks to {a,b} (Jaccard 2/4 = 0.5: kept) and T2 becomes {e,x,y} (1/4: lost)
    and T3 ranks 11th (outside the top 10: lost): 1 of 3 kept."""
    groups = {"T1": list("abcd"), "T2": list("ef"), "T3": list("ghi")}
    people = [{"nominal_id": p, "date_of_birth": None, "sex": None, "ethnicity": None} for p in "abcdefghixy"]
    build(duck, people, groups, {"T1": 1, "T2": 2, "T3": 3}, picks=[], flagged=[])
    calls = []

    def rerun(s: Settings, scope: str) -> pa.Table:
        calls.append((scope, s))
        if s.layer_weight.intel == 0:
            filler = {f"F{i}": [f"z{i}"] for i in range(8)}
            return _ranked({"V1": list("ab"), "V2": list("exy"), **filler, "V3": list("ghi")})
        return _ranked({f"X{g}": ms for g, ms in groups.items()})

    base = Settings(as_of=AS_OF)
    out = fairness.run(duck, base, rerun)
    scopes = [c[0] for c in calls]
    assert len(scopes) == 13 and len(set(scopes)) == 13
    by_scope = dict(calls)
    assert by_scope["stability_gap_half_life_down"].gap_half_life == pytest.approx(292.0)
    assert by_scope["stability_recency_half_life_up"].recency_half_life == pytest.approx(2190.0)
    assert by_scope["stability_layer_weight_custody_up"].layer_weight.custody == pytest.approx(1.2)
    assert by_scope["stability_layer_weight_custody_up"].layer_weight.victim == 1.0
    st_facts = out.facts["stability"]
    assert st_facts["top_groups"] == 3
    assert st_facts["variants"]["intel_left_out"] == {"kept": 1, "share": 0.3333}
    assert st_facts["variants"]["gap_half_life_up"] == {"kept": 3, "share": 1.0}
    assert st_facts["min_share_kept"] == 0.3333
    rows = duck.fetch_arrow("SELECT * FROM fairness WHERE measure = 'top10_stability'").to_pylist()
    assert len(rows) == 13 and {r["population"] for r in rows} == {"top10_groups"}


def test_stability_skipped_when_switched_off(duck):
    build(duck, [_person(1, "M")], {"A": ["N001"]}, {"A": 1}, picks=[], flagged=[])

    def rerun(s, scope):  # pragma: no cover - must not be called
        raise AssertionError("rerun called although stability_checks is false")

    out = fairness.run(duck, Settings(as_of=AS_OF, stability_checks=False), rerun)
    assert out.facts["stability"]["skipped"]
    assert duck.count("fairness") == 3 * (3 + 7 + 9)  # populations x (sex + ethnicity + age band categories)


def test_data_gaps_collects_other_stages_counts(duck):
    """Network: N001 (sex unknown, no date of birth), N002 (all known but ethnicity). Quarantine: two rows
    rejected for a bad date, one value cleared; one crime unmapped in CCHI; the selection's
    victims_without_dob (a gap) is kept, crimes_selected (not a gap) is not."""
    people = [_person(1, None, born=None), _person(2, "F", eth=None)]
    build(duck, people, {"A": ["N001", "N002"]}, {}, picks=[], flagged=[])
    duck.execute("CREATE TABLE quarantine AS SELECT * FROM (VALUES ('crimes', 2, 'bad_date', 'row_rejected'), "
                 "('crimes', 3, 'bad_date', 'row_rejected'), ('nominals', 4, 'bad_sex', 'value_cleared')) "
                 "t(source_table, line, reason, action)")
    duck.execute("CREATE TABLE crime_harm AS SELECT * FROM (VALUES ('C1', 'unmapped', 'single_value'), "
                 "('C2', 'title_match', 'single_value')) t(crime_ref, cchi_basis, ons_basis)")
    duck.execute("CREATE TABLE selection_summary AS SELECT * FROM (VALUES ('victims_without_dob', 4), "
                 "('crimes_selected', 99)) t(measure, value)")
    out = fairness.run(duck, Settings(as_of=AS_OF, stability_checks=False))
    gaps = out.facts["data_gaps"]
    assert gaps["network_nominals_unknown_sex"] == 1
    assert gaps["network_nominals_unknown_date_of_birth"] == 1
    assert gaps["network_nominals_unknown_ethnicity"] == 2
    assert gaps["quarantine_row_rejected_bad_date"] == 2 and gaps["quarantine_value_cleared_bad_sex"] == 1
    assert gaps["crimes_unmapped_cchi"] == 1 and gaps["crimes_unmapped_ons"] == 0
    assert gaps["selection_victims_without_dob"] == 4 and "selection_crimes_selected" not in gaps
    assert dict(duck.fetch_rows("SELECT gap, count FROM data_gaps")) == gaps


def test_identical_variants_are_rerun_once(duck):
    """With the soc layer weight at 0, soc down and soc up are 0 * 0.8 = 0 * 1.2 = 0: the same settings,
    so 12 reruns, not 13, and both variants get the same (here: all kept) row."""
    groups = {"T1": list("abcd")}
    people = [{"nominal_id": p, "date_of_birth": None, "sex": None, "ethnicity": None} for p in "abcd"]
    build(duck, people, groups, {"T1": 1}, picks=[], flagged=[])
    calls = []

    def rerun(s: Settings, scope: str) -> pa.Table:
        calls.append(scope)
        return _ranked({"X": list("abcd")})

    base = Settings(as_of=AS_OF, layer_weight={"soc": 0.0})
    out = fairness.run(duck, base, rerun)
    assert len(calls) == 12 and "stability_layer_weight_soc_up" not in calls
    assert out.facts["stability"]["variants"]["layer_weight_soc_up"] == {"kept": 1, "share": 1.0}


def test_reruns_in_workers_give_the_same_fairness_table(tmp_path):
    """A generated force (scale 0.02, seed 3) through ingest..dismantle, then the fairness stage with
    the 13 reruns one after another in the run's database, in two worker processes over Parquet
    copies of the tables, and in two threads on the run's database: the `fairness` tables are equal,
    row for row."""
    from hiddennet import dismantle, harm, ingest, layers, network, safeguard, select
    from hiddennet.engine import make_engine
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.generate import generate_force
    from hiddennet.pipeline import rerun_priority

    generate_force(tmp_path / "input", scale=0.02, seed=3)
    with DuckDBEngine() as e:
        s = Settings()
        s = s.model_copy(update={"as_of": ingest.run(e, s, tmp_path / "input").facts["as_of"]})
        for stage in (select, layers, network, safeguard, harm, dismantle):
            stage.run(e, s)
        tables = []
        # One after another (no rerun_stages; then stability_threads 1); in 2 workers with engines from
        # the factory; 2 workers asked for but no factory given (a stage never makes an engine): in
        # threads, as with stability_threads 2.
        for workers, threads, stages, factory in ((1, None, None, None), (1, 1, rerun_priority, None),
                                                  (2, None, rerun_priority, make_engine),
                                                  (2, None, rerun_priority, None), (1, 2, rerun_priority, None)):
            sw = s.model_copy(update={"stability_workers": workers, "stability_threads": threads})
            out = fairness.run(e, sw, rerun=lambda v, scope, sw=sw: rerun_priority(e, sw, v, scope), rerun_stages=stages,
                               engine_factory=factory)
            assert out.facts["stability"]["top_groups"] == 10
            tables.append(e.fetch_arrow("SELECT * FROM fairness"))
    assert all(tables[0].equals(t) for t in tables[1:])
    assert tables[0].filter(pa.compute.equal(tables[0].column("measure"), "top10_stability")).num_rows == 13


def test_a_stability_worker_gets_its_share_of_the_memory_limit_and_spills_in_the_run_folder(tmp_path):
    """Two workers under a 4GB limit: the run's engine keeps a quarter (1GB) while they run, and each
    worker's engine is made with half the rest (1.5GB), one thread, and a spill folder inside the rerun's
    temporary folder (never DuckDB's default `.tmp` in the working directory)."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.safeguard.fairness import _rerun_worker

    made = []

    def factory(s):
        made.append(s)
        return DuckDBEngine(memory_limit=s.duckdb_memory_limit, threads=s.duckdb_threads,
                            temp_directory=s.duckdb_temp_directory)

    def rerun(engine, base, variant, scope):
        return pa.table({"memory_limit": [engine.scalar("SELECT current_setting('memory_limit')")]})

    base = Settings(duckdb_memory_limit="4GB")
    got = _rerun_worker(str(tmp_path), [], base, rerun, factory, 2, ("intel_left_out", base))
    (own,) = made
    assert own.duckdb_memory_limit == "1.5GB" and own.duckdb_threads == 1
    assert own.duckdb_temp_directory == str(tmp_path / "spill-intel_left_out")
    assert got.column("memory_limit")[0].as_py().startswith("1.3")  # DuckDB shows 1.5 GB as 1.3 GiB


def test_the_run_engine_lends_its_memory_while_the_rerun_workers_run(monkeypatch, tmp_path):
    """While the pool of rerun workers runs, the run's DuckDB holds a quarter of its limit (its other
    data goes to its temporary folder); afterwards, and after a failure, the whole limit again."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.safeguard import fairness

    seen = []

    class Pool:  # the process pool, in this process: what matters is the engine's limit meanwhile
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, jobs):
            seen.append(engine.scalar("SELECT current_setting('memory_limit')"))
            if len(seen) > 1:
                raise RuntimeError("a worker failed")
            return [pa.table({"x": [1]}) for _ in jobs]

    monkeypatch.setattr(fairness, "ProcessPoolExecutor", Pool)
    with DuckDBEngine(memory_limit="4GB", temp_directory=tmp_path / "spill") as engine:
        engine.execute("CREATE TABLE t AS SELECT 1 AS a")
        whole = engine.scalar("SELECT current_setting('memory_limit')")
        jobs = [("a", Settings()), ("b", Settings())]
        assert len(fairness._reruns_in_processes(engine, Settings(), jobs, None, None, 2)) == 2
        assert engine.scalar("SELECT current_setting('memory_limit')") == whole
        with pytest.raises(RuntimeError):
            fairness._reruns_in_processes(engine, Settings(), jobs, None, None, 2)
        assert engine.scalar("SELECT current_setting('memory_limit')") == whole
    assert seen[0] == seen[1] and seen[0].startswith("953")  # 1 GB, shown in MiB
    with DuckDBEngine() as free:  # no limit: nothing to lend
        before = free.scalar("SELECT current_setting('memory_limit')")
        with free.memory_lent(0.25):
            assert free.scalar("SELECT current_setting('memory_limit')") == before


def test_lending_memory_duckdb_cannot_free_lends_none():
    """With no temporary folder DuckDB cannot move table data out: the lower limit is refused, so the
    engine lends nothing and goes on (never a failed run), keeping its limit."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    with DuckDBEngine(memory_limit="2GB") as e:
        e.execute("SET temp_directory = ''")
        e.execute("CREATE TABLE t AS SELECT range AS a, md5(range::VARCHAR) AS b FROM range(2000000)")
        whole = e.scalar("SELECT current_setting('memory_limit')")
        with e.memory_lent(0.01):
            assert e.scalar("SELECT current_setting('memory_limit')") == whole
            assert e.count("t") == 2_000_000
        assert e.scalar("SELECT current_setting('memory_limit')") == whole
