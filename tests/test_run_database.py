"""A DuckDB run's working tables in memory (the default) or in the run's database file from the start:
the same published tables byte for byte, and the same tables queryable in `hiddennet.duckdb`."""

from __future__ import annotations

import duckdb
import pytest

from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings


def _database_tables(path) -> list[tuple[str, str, int]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() ORDER BY ALL").fetchall()
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
