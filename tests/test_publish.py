"""Publishing (hiddennet/publish.py): sorted Parquet files, input checksums, the run folder's file hashes."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest

from hiddennet import publish, rundir
from hiddennet.engine.duckdb_engine import DuckDBEngine


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "run.duckdb") as e:
        yield e


def _plain_sha256(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_sorted_sorts_on_every_column_nulls_last_and_leaves_nothing_behind(engine, tmp_path):
    # Inserted out of order, with ties on the first column and NULLs in both.
    engine.create_table(
        "groups_in",
        "SELECT * FROM (VALUES ('g2', 3), (NULL, 1), ('g1', NULL), ('g1', 2), ('g2', 1), ('g1', 1)) t(group_id, n)",
    )
    path = tmp_path / "tables" / "groups_in.parquet"
    assert publish._write_sorted(engine, "groups_in", path, {"as_of": "2021-03-15"}) == 6
    rows = pq.read_table(path).to_pylist()
    assert [(r["group_id"], r["n"]) for r in rows] == [
        ("g1", 1), ("g1", 2), ("g1", None), ("g2", 1), ("g2", 3), (None, 1),
    ]
    assert pq.read_metadata(path).metadata[b"as_of"] == b"2021-03-15"
    # No sorted copy is left in the run's database, as a table or a view; the source is untouched.
    assert not engine.has_table("__sorted_parquet")
    assert engine.count("groups_in") == 6
    # The same table written again gives the same bytes (reruns publish identical files).
    again = tmp_path / "again.parquet"
    publish._write_sorted(engine, "groups_in", again, {"as_of": "2021-03-15"})
    assert again.read_bytes() == path.read_bytes()


def test_write_sorted_drops_its_view_when_the_writer_fails(engine, tmp_path):
    engine.create_table("edges_in", "SELECT 1 AS a")
    (tmp_path / "taken").write_text("a file where the tables folder should be")
    with pytest.raises(Exception):  # noqa: B017 - the engine's own I/O error; only the clean-up matters here
        publish._write_sorted(engine, "edges_in", tmp_path / "taken" / "edges_in.parquet", {})
    assert not engine.has_table("__sorted_parquet")


def test_write_sorted_counts_an_empty_table(engine, tmp_path):
    engine.create_table("empty_in", "SELECT 'x' AS a WHERE false")
    path = tmp_path / "empty_in.parquet"
    assert publish._write_sorted(engine, "empty_in", path, {}) == 0
    assert pq.read_table(path).num_rows == 0


def test_file_checksums_are_sha256_of_each_input_file_by_name(tmp_path):
    (tmp_path / "crimes.csv").write_bytes(b"crime_ref\nC1\n" * 100_000)  # more than one read chunk
    (tmp_path / "nominals.csv").write_bytes(b"")
    (tmp_path / "notes").mkdir()  # folders are not input files
    sums = publish.file_checksums(tmp_path)
    assert list(sums) == ["crimes.csv", "nominals.csv"]
    assert sums == {n: _plain_sha256(tmp_path / n) for n in sums}


def test_sha256_all_matches_sha256_file_by_file_in_the_given_order(tmp_path):
    # Sizes out of order, so that the largest-first schedule differs from the order asked for.
    sizes = [10, 0, 3 << 20, 1, (1 << 20) + 7, 5000]
    paths = []
    for i, size in enumerate(sizes):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes((i * 7 + j) % 251 for j in range(size)))
        paths.append(p)
    assert rundir.sha256_all(paths) == [_plain_sha256(p) for p in paths]
    assert rundir.sha256_all(paths[:1]) == [_plain_sha256(paths[0])]
    assert rundir.sha256_all([]) == []


def test_sha256_all_raises_for_a_missing_file(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    with pytest.raises(FileNotFoundError):
        rundir.sha256_all([tmp_path / "a", tmp_path / "missing"])


def test_columns_are_the_tables_columns_in_order(engine):
    """The column list publish sorts on: table order, quoted and mixed-case names, empty tables; a missing
    table has none; inside a scope the scope's table comes before the main one of the same name."""
    engine.create_table("wide_in", 'SELECT 1 AS "z", 2 AS "a", 3 AS "group", 4 AS "Mixed Case"')
    assert engine.columns("wide_in") == ["z", "a", "group", "Mixed Case"]
    engine.create_table("empty_in", "SELECT 'x' AS b, 1 AS a WHERE false")
    assert engine.columns("empty_in") == ["b", "a"]
    assert engine.columns("not_a_table") == []
    with engine.scope("scratch_cols"):
        assert engine.columns("empty_in") == ["b", "a"]  # read through to the main namespace
        engine.create_table("empty_in", "SELECT 1 AS c")
        assert engine.columns("empty_in") == ["c"]
    assert engine.columns("empty_in") == ["b", "a"]
