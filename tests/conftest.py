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


@pytest.fixture(params=engine_params())
def engine(request):
    """Each table test runs once per engine; the results must agree."""
    if request.param == "duckdb":
        with DuckDBEngine() as e:
            yield e
    else:
        from hiddennet.engine.spark_engine import SparkEngine

        e = SparkEngine.shared()
        e.reset()
        yield e


@pytest.fixture
def settings():
    """Default settings with a fixed reference date."""
    return Settings(as_of=dt.date(2021, 3, 15))
