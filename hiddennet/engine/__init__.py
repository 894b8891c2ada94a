"""Engines run the SQL of the table stages. DuckDB is the default; Spark is an extra."""

from __future__ import annotations

from pathlib import Path

from hiddennet.engine.base import Engine, GroupFn
from hiddennet.errors import EngineUnavailableError

__all__ = ["Engine", "GroupFn", "make_engine"]


def make_engine(settings, database: str | Path = ":memory:") -> Engine:
    """The engine the settings ask for. Spark is imported only here, and only when asked for."""
    if settings.engine == "duckdb":
        from hiddennet.engine.duckdb_engine import DuckDBEngine

        return DuckDBEngine(
            database,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            temp_directory=settings.duckdb_temp_directory,
            group_workers=settings.duckdb_group_workers,
        )
    if settings.engine == "spark":
        try:
            from hiddennet.engine.spark_engine import SparkEngine
        except ImportError:
            raise EngineUnavailableError(
                "--engine spark needs the spark extra: pip install 'hiddennet[spark]' "
                "(or HIDDENNET_SPARK=1 bash scripts/setup)"
            ) from None
        return SparkEngine(settings.spark)
    raise EngineUnavailableError(f"unknown engine {settings.engine!r}")
