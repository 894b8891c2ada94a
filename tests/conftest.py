"""Shared fixtures. Sockets are blocked for the whole suite (pyproject addopts): nothing may call out."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil

import pytest

from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.settings import Settings

HAVE_SPARK = (
    importlib.util.find_spec("pyspark") is not None
    and shutil.which("java") is not None
    and importlib.util.find_spec("hiddennet.engine.spark_engine") is not None
)


def engine_params():
    """Engines a table test runs on: DuckDB always, Spark when its extra and Java are present."""
    return [
        pytest.param("duckdb", id="duckdb"),
        pytest.param(
            "spark",
            id="spark",
            marks=[pytest.mark.spark, pytest.mark.skipif(not HAVE_SPARK, reason="spark extra or Java missing")],
        ),
    ]


@pytest.fixture
def duck():
    """A fresh in-memory DuckDB engine."""
    with DuckDBEngine() as e:
        yield e


def pytest_configure(config):
    # Registered so that `--dist loadgroup` can be used by hand; scripts/test uses `--dist loadfile`,
    # which keeps each file (and so the parity and end-to-end pipelines) on one worker.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on the same xdist worker")


# Spark for tests: local mode on the two cores CI has, and no machinery that pays only on big data.
# Rows in tests number in the thousands, so each job's fixed cost is all there is: two shuffle
# partitions (not 200, not 4), no adaptive re-planning between stages, no UI, a small driver heap.
SPARK_TEST_CONF = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_conf():
    """The Spark settings of every Spark engine a test makes (as a `[spark]` settings table)."""
    return dict(SPARK_TEST_CONF)


@pytest.fixture(scope="session")
def spark_engine(spark_conf):
    """The one Spark session of this test process (JVM start-up costs tens of seconds).

    Every Spark engine made later in the process (`SparkEngine(...)`, `run_pipeline` with
    engine="spark") shares its SparkContext, so this fixture fixes the context's settings first."""
    if not HAVE_SPARK:
        pytest.skip("spark extra or Java missing")
    from hiddennet.engine.spark_engine import SparkEngine

    e = SparkEngine.shared(spark_conf)
    yield e
    e.reset()


@pytest.fixture(params=engine_params())
def engine(request):
    """Each table test runs once per engine; the results must agree."""
    if request.param == "duckdb":
        with DuckDBEngine() as e:
            yield e
    else:
        e = request.getfixturevalue("spark_engine")
        e.reset()
        yield e


@pytest.fixture
def settings():
    """Default settings with a fixed reference date."""
    return Settings(as_of=dt.date(2021, 3, 15))


@pytest.fixture
def one_process_and_workers(monkeypatch):
    """`run(work)` calls `work(engine)` on two fresh DuckDB engines: per-group work in the main
    process, then forced into two worker processes (the pool's row threshold lowered to 0). Returns
    both results and how many `map_groups` calls went to the workers."""
    from hiddennet.engine import duckdb_engine

    def run(work):
        pooled = []
        real = duckdb_engine._map_in_processes
        monkeypatch.setattr(duckdb_engine, "_map_in_processes", lambda *a: pooled.append(1) or real(*a))
        results = []
        for workers, min_rows in ((1, 10**9), (2, 0)):
            monkeypatch.setattr(duckdb_engine, "_POOL_MIN_ROWS", min_rows)
            with DuckDBEngine(group_workers=workers) as e:
                results.append(work(e))
        return results, len(pooled)

    return run
