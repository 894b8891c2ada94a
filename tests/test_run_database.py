"""A DuckDB run's working tables in memory (the default) or in the run's database file from the start:
the same published tables byte for byte, and the same tables queryable in `hiddennet.duckdb`."""

from __future__ import annotations

import duckdb
import pytest

from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings


def _database_tables(path) -> list[tuple[str, str, int]]:
    """(schema, table, rows) of every table, rows counted: DuckDB's estimated_size also counts the rows a
    table published in place (ingest) deleted, which a file database keeps and a copy leaves out."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall()
        return [(s, t, con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]) for s, t in names]
    finally:
        con.close()


@pytest.mark.slow
def test_memory_and_file_databases_publish_the_same_run(tmp_path):
    generate_force(tmp_path / "in", scale=0.02, seed=5, dirty=True)
    quick = {"stability_checks": False}
    mem = run_pipeline(tmp_path / "in", tmp_path / "mem", Settings(**quick))
    spill = tmp_path / "spill"
    file = run_pipeline(tmp_path / "in", tmp_path / "file",
                        Settings(**quick, duckdb_database="file", duckdb_temp_directory=str(spill)))
    names = sorted(p.name for p in (mem.out_dir / "tables").glob("*.parquet"))
    assert names and names == sorted(p.name for p in (file.out_dir / "tables").glob("*.parquet"))
    for n in names:
        assert (mem.out_dir / "tables" / n).read_bytes() == (file.out_dir / "tables" / n).read_bytes(), n
    got = _database_tables(mem.out_dir / "hiddennet.duckdb")
    assert got == _database_tables(file.out_dir / "hiddennet.duckdb")
    assert ("main", "full_table", mem.manifest["tables"]["full_table"]["rows"]) in got
    # The in-memory run's spill folder is scratch: not left in the run folder, not in its file list.
    assert not (mem.out_dir / "hiddennet.duckdb.tmp").exists()
    listed = set(mem.manifest.get("files", {})) if isinstance(mem.manifest.get("files"), dict) else set()
    assert not any(str(f).startswith("hiddennet.duckdb.tmp") for f in listed)


def test_the_copy_runs_beside_publish_on_a_sibling(tmp_path, monkeypatch):
    """The in-memory run's copy into hiddennet.duckdb starts once publish's tables are final, on a
    sibling of the engine in another thread, while publish writes its Parquet files; the database
    holds the tables publish made (nominals, groups) and no temporary view of the writer."""
    import threading

    from hiddennet.engine.duckdb_engine import DuckDBEngine

    real = DuckDBEngine.save_database
    calls = []

    def spy(self, path):
        calls.append(threading.current_thread() is threading.main_thread())
        return real(self, path)

    monkeypatch.setattr(DuckDBEngine, "save_database", spy)
    generate_force(tmp_path / "in", scale=0.02, seed=6)
    run = run_pipeline(tmp_path / "in", tmp_path / "out", Settings(stability_checks=False))
    assert calls == [False]
    got = {(s, t) for s, t, _ in _database_tables(run.out_dir / "hiddennet.duckdb")}
    assert {("main", "nominals"), ("main", "groups"), ("main", "nominal_identities")} <= got
    con = duckdb.connect(str(run.out_dir / "hiddennet.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = '__sorted_parquet'").fetchall() == [(0,)]
    finally:
        con.close()


def test_a_failed_copy_fails_the_run_and_leaves_no_run_folder(tmp_path, monkeypatch):
    """The copy's error comes out of the run (the output-write error of cli.md), after the thread has
    ended, and nothing is committed at --out."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.errors import OutputWriteError

    def broken(self, path):
        raise OutputWriteError("cannot write the run's database: no space left on device")

    monkeypatch.setattr(DuckDBEngine, "save_database", broken)
    generate_force(tmp_path / "in", scale=0.02, seed=6)
    with pytest.raises(OutputWriteError):
        run_pipeline(tmp_path / "in", tmp_path / "out", Settings(stability_checks=False))
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "manifest.json").exists()
