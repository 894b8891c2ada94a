"""Stages touch only the tables they declare (hiddennet/stage.py, hiddennet/engine/checking.py),
the declarations agree with the registry, and engine failures name the stage and the table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from hiddennet import harm, network, tables
from hiddennet.engine.checking import CheckingEngine, ContractViolation
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.errors import InputContractError, StageError
from hiddennet.generate import generate_force
from hiddennet.pipeline import STAGES, run_stages
from hiddennet.settings import Settings
from hiddennet.stage import Stage, StageContext, StageOutput, run_stage

CTX = StageContext(input_dir=Path("."), out_dir=Path("."))


@pytest.fixture(scope="module")
def checked_run(tmp_path_factory):
    """The whole pipeline, stability reruns included, on a small dirty force through the checking
    engine: any stage reading an undeclared table, or not writing a declared one, fails the run."""
    base = tmp_path_factory.mktemp("checked")
    generate_force(base / "input", scale=0.02, seed=11, dirty=True)
    (base / "out").mkdir()
    engine = CheckingEngine()
    manifest = run_stages(engine, base / "input", base / "out", Settings())
    yield engine, manifest
    engine.close()


def test_every_stage_keeps_to_its_declaration(checked_run):
    engine, manifest = checked_run
    # The stability reruns' own steps, checked too: the partial rerun's links (pipeline._stable_links)
    # and a gap_half_life rerun's layers (layers.rebuild_gap_layers).
    own_steps = ("stability_links", "stability_gap_layers")
    assert [s.name for s in STAGES] == [name for name in engine.seen if name not in own_steps]
    assert "skipped" not in manifest["stages"]["fairness"]["stability"]  # the reruns ran, each checked
    assert "edges" in engine.seen["stability_links"]["written"]
    assert "edges" in engine.seen["stability_gap_layers"]["written"]
    assert "edges" in engine.seen["stability_gap_layers"]["read"]  # the run's other layers
    # The drift the declarations fixed: network reads full_table, harm combined_edges, ingest writes conflicts.
    assert "full_table" in engine.seen["network"]["read"]
    assert "combined_edges" in engine.seen["harm"]["read"]
    assert "demographic_conflicts" in engine.seen["ingest"]["written"]


def test_engine_tables_of_a_run_are_the_registered_ones(checked_run):
    """After the run, every registered table exists with its registered columns and types, in order
    (ingest tables may carry the input file's extra columns after their own, as VARCHAR)."""
    engine, _ = checked_run
    for t in tables.TABLES.values():
        got = [(r[0], r[1]) for r in engine.con.execute(f"DESCRIBE main.{t.name}").fetchall()]
        want = [(c.name, c.type) for c in t.columns]
        assert got[: len(want)] == want, t.name
        extra = got[len(want):]
        assert not extra or (t.extras and all(ty == "VARCHAR" for _, ty in extra)), t.name


def test_declarations_agree_with_the_registry():
    """Each registered table is written by the stage the registry names; every declared table is
    registered; each stage reads only tables written by a stage before it."""
    by_name = {s.name: s for s in STAGES}
    for t in tables.TABLES.values():
        assert t.name in by_name[t.stage].writes, f"{t.name}: not in the writes of stage {t.stage}"
    written: set[str] = set()
    for s in STAGES:
        for name in s.reads + s.optional_reads + s.writes:
            assert name in tables.TABLES, f"stage {s.name}: {name} is not registered"
        for name in s.reads + s.optional_reads:
            assert name in written, f"stage {s.name} reads {name} before any stage writes it"
        written |= set(s.writes)


# -- the check fails a wrong declaration ---------------------------------------------------------------
def _edges(engine):
    engine.register_arrow("edges", pa.table({
        "nominal_a": ["A", "B"], "nominal_b": ["B", "C"], "layer": ["victim", "victim"], "weight": [1.0, 1.0]}))


def test_a_true_declaration_passes(settings):
    with CheckingEngine() as e:
        _edges(e)
        run_stage(network.STAGE, e, settings, CTX)
        assert e.seen["network"]["written"] >= {"combined_edges", "network_nominals", "network_groups"}


def test_reading_an_undeclared_table_fails(settings):
    """network without `edges` in its reads: its first statement reading edges fails the stage."""
    wrong = dataclasses.replace(network.STAGE, reads=())
    with CheckingEngine() as e:
        _edges(e)
        with pytest.raises(ContractViolation, match="stage network: reads edges .not declared"):
            run_stage(wrong, e, settings, CTX)


def test_a_declared_table_left_unwritten_fails(settings):
    wrong = dataclasses.replace(network.STAGE, writes=(*network.STAGE.writes, "group_harm"))
    with CheckingEngine() as e:
        _edges(e)
        with pytest.raises(ContractViolation, match="declares it writes group_harm but did not write it"):
            run_stage(wrong, e, settings, CTX)


def test_writing_an_undeclared_table_fails(settings):
    wrong = dataclasses.replace(network.STAGE, writes=("combined_edges", "network_nominals", "group_lineage"))
    with CheckingEngine() as e:
        _edges(e)
        with pytest.raises(ContractViolation, match="writes network_groups .not declared in writes"):
            run_stage(wrong, e, settings, CTX)


def test_a_declared_read_never_read_fails(settings):
    wrong = dataclasses.replace(network.STAGE, reads=("edges", "crimes"))
    with CheckingEngine() as e:
        _edges(e)
        with pytest.raises(ContractViolation, match="declares it reads crimes but never read it"):
            run_stage(wrong, e, settings, CTX)


def test_another_stages_scratch_table_is_not_readable(settings):
    """Scratch tables (`_...`) are exempt only for the stage that made them."""
    maker = Stage("layers", lambda e, s, c: (e.create_table("_layers_x", "SELECT 1 AS k"), StageOutput(()))[1])
    reader = Stage("network", lambda e, s, c: StageOutput((), {"n": e.count("_layers_x")}))
    with CheckingEngine() as e:
        run_stage(maker, e, settings, CTX)
        with pytest.raises(ContractViolation, match="reads _layers_x .a scratch table of another stage"):
            run_stage(reader, e, settings, CTX)


# -- engine failures name the stage and the table, never a value ------------------------------------------
def test_an_engine_failure_names_stage_and_table_not_the_value(settings):
    """DuckDB's own message quotes the value it could not convert; the StageError does not."""
    bad = Stage("harm", lambda e, s, c: e.create_table("group_harm", "SELECT CAST('N0042-Smith' AS INTEGER) AS x"))
    with DuckDBEngine() as e:
        with pytest.raises(duckdb.ConversionException, match="N0042-Smith"):  # what is being hidden
            e.execute("SELECT CAST('N0042-Smith' AS INTEGER)")
        with pytest.raises(StageError) as info:
            run_stage(bad, e, settings, CTX)
    err = info.value
    assert str(err) == "stage harm: failed on table group_harm: duckdb ConversionException"
    assert (err.stage, err.table, err.exit_code) == ("harm", "group_harm", 1)
    assert err.__cause__ is None and err.__suppress_context__  # the engine's message is not chained either


def test_a_missing_input_names_the_table_being_made(settings):
    """harm with no `crimes`: the stage and the table whose statement failed (its scratch copy of crimes)."""
    with DuckDBEngine() as e, pytest.raises(StageError) as info:
        run_stage(harm.STAGE, e, settings, CTX)
    assert str(info.value) == "stage harm: failed on table _harm_crimes: duckdb CatalogException"


def test_a_failure_in_the_pipeline_is_wrapped_once(tmp_path, settings):
    """Through run_stages: the stage that failed is named once (network finds no `edges` here)."""
    with DuckDBEngine() as e, pytest.raises(StageError) as info:
        run_stages(e, tmp_path, tmp_path, settings, stages=(network.STAGE,))
    assert str(info.value).startswith("stage network: failed on table ")
    assert str(info.value).count("stage ") == 1


def test_hiddennet_errors_pass_through_unchanged(settings):
    def run(e, s, c):
        raise InputContractError("required column missing", file="crimes.csv", column="crime_ref")

    with DuckDBEngine() as e, pytest.raises(InputContractError, match="^file crimes.csv, column crime_ref"):
        run_stage(Stage("ingest", run), e, settings, CTX)


# -- no stage makes an engine ---------------------------------------------------------------------------------
# Modules that may make an engine: the engines themselves, the drivers that run stages (the pipeline,
# the generator's calibration run of ingest and select and its later extract's run to harm), the entry
# points (CLI, the dashboard) and `hiddennet diff`, which compares two published run folders outside any run.
_MAY_MAKE_ENGINES = ("hiddennet/engine/", "hiddennet/pipeline.py", "hiddennet/cli.py", "hiddennet/__main__.py",
                     "hiddennet/serve/", "hiddennet/generate/calibrate.py", "hiddennet/generate/later.py",
                     "hiddennet/continuity/diff.py")


def _engine_makers(tree) -> list[str]:
    """Names by which a module's code reaches make_engine or an engine class: imports of them, and
    attribute uses (`hiddennet.engine.make_engine`, `engine_module.DuckDBEngine`)."""
    import ast

    makers = {"make_engine", "DuckDBEngine", "SparkEngine", "CheckingEngine"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [a.name for a in node.names if a.name in makers or a.name in ("duckdb_engine", "spark_engine")]
            if node.module and node.module.split(".")[-1] in ("duckdb_engine", "spark_engine", "checking"):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[-1] in ("duckdb_engine", "spark_engine")]
        elif isinstance(node, ast.Attribute) and node.attr in makers:
            found.append(node.attr)
    return found


def test_no_stage_imports_or_makes_an_engine():
    """Stages get their engine (and a worker's engine factory, StageContext.engine_factory) from the
    pipeline: no module under hiddennet/ but the engines, the drivers and the entry points names
    make_engine or an engine class."""
    import ast

    root = Path(__file__).resolve().parent.parent
    offenders = {}
    for path in sorted((root / "hiddennet").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(_MAY_MAKE_ENGINES):
            continue
        names = _engine_makers(ast.parse(path.read_text(encoding="utf-8")))
        if names:
            offenders[rel] = names
    assert offenders == {}


def test_the_engine_maker_check_finds_every_form():
    """The check above cannot pass by missing a form: each of these is found."""
    import ast

    for code in ("from hiddennet.engine import make_engine", "import hiddennet.engine.duckdb_engine",
                 "from hiddennet.engine.duckdb_engine import DuckDBEngine", "def f():\n    from x import make_engine",
                 "import hiddennet.engine as he\nhe.make_engine(s)", "from hiddennet.engine import spark_engine as s\n"
                 "s.SparkEngine()", "from hiddennet.engine import duckdb_engine"):
        assert _engine_makers(ast.parse(code)), code
    assert _engine_makers(ast.parse("from hiddennet.engine import Engine")) == []
