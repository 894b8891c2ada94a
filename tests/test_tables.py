"""The table registry (hiddennet/tables.py): types, empty tables, Arrow schemas, the sample run built from it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet import tables
from hiddennet.contract import TABLES as CONTRACT
from hiddennet.ingest.rules import SQL_TYPE
from hiddennet.report.sample import conform, write_sample_run


def _describe(engine, name: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in engine.con.execute(f"DESCRIBE {name}").fetchall()]


@pytest.mark.parametrize("name", sorted(tables.TABLES))
def test_empty_table_has_the_registered_columns(duck, name):
    """engine.empty(name): no rows, exactly the registered columns and DuckDB types, under the engine name."""
    t = tables.table(name)
    duck.empty(name)
    assert _describe(duck, t.sql_name) == [(c.name, c.type) for c in t.columns]
    assert duck.count(t.sql_name) == 0


@pytest.mark.parametrize("name", sorted(tables.TABLES))
def test_arrow_schema_round_trips_through_the_engine(duck, name):
    """An empty Arrow table of `arrow_schema(name)` becomes a DuckDB table of the registered types."""
    duck.register_arrow("t", tables.arrow_schema(name).empty_table())
    assert _describe(duck, "t") == [(c.name, c.type) for c in tables.table(name).columns]
    assert [tables.sql_type(f.type) for f in tables.arrow_schema(name)] == [c.type for c in tables.table(name).columns]


def test_columns_spec_reads_names_types_meanings_and_continuations():
    cols = tables._columns(
        """
        a  VARCHAR    first
        b  VARCHAR[]
        c  BIGINT     a long meaning
                        that goes on
        """
    )
    assert cols == (tables.Column("a", "VARCHAR", "first"), tables.Column("b", "VARCHAR[]", ""),
                    tables.Column("c", "BIGINT", "a long meaning that goes on"))


def test_every_type_is_a_known_duckdb_type():
    for t in tables.TABLES.values():
        for c in t.columns:
            tables.arrow_type(c.type)  # KeyError for a type the registry does not know
    with pytest.raises(KeyError):
        tables.table("no_such_table")


def test_ingested_tables_are_the_input_contract_plus_source_line():
    """The registry's ingest tables are the contract's columns (typed as ingest types them), then
    `source_line`; the person table adds where each demographic came from and leaves out the names and
    PNC ids (read and checked, never published)."""
    for name, contract in CONTRACT.items():
        reg = tables.table("input_nominals" if name == "nominals" else name)
        expected = [(c.name, SQL_TYPE.get(c.kind, "VARCHAR")) for c in contract.columns]
        if name == "nominals":
            # source_system is read for entity resolution only (nominal_map publishes it, docs/resolve.md).
            expected = [e for e in expected if e[0] not in ("forename", "surname", "pnc_id", "source_system")]
            expected += [(f"{d}_source", "VARCHAR") for d in ("date_of_birth", "sex", "ethnicity")]
        assert [(c.name, c.type) for c in reg.columns] == [*expected, ("source_line", "BIGINT")]
        assert reg.stage == "ingest" and reg.extras and reg.sql_name == name


def test_sample_run_has_the_registered_schema_of_every_table_it_writes(tmp_path):
    """report/sample.py cannot drift: every table it writes has the registry's columns and types."""
    run = write_sample_run(tmp_path)
    written = sorted((run / "tables").glob("*.parquet"))
    assert len(written) >= 13
    for path in written:
        schema = pq.read_schema(path)
        assert schema.names == list(tables.table(path.stem).column_names), path.stem
        assert [tables.sql_type(f.type) for f in schema] == [c.type for c in tables.table(path.stem).columns], path.stem


def test_sample_refuses_a_column_the_registry_does_not_have():
    with pytest.raises(ValueError, match="not in hiddennet/tables.py"):
        conform("groups", {"group_id": ["G1"], "not_a_column": [1]}, np.random.default_rng(0))
    t = conform("groups", {"group_id": ["G1"], "size": [3]}, np.random.default_rng(0))
    assert t.schema == tables.arrow_schema("groups") and t.column("size").to_pylist() == [3]
    assert t.column("size").type == pa.int64()


def test_tables_with_names_are_restricted():
    """Every registered table holding a name, a PNC id or a date of birth is marked restricted."""
    personal = {"forename", "surname", "pnc_id", "date_of_birth"}
    for t in tables.TABLES.values():
        if personal & set(t.column_names):
            assert t.restricted, t.name
