"""The engine interface: the few things a stage may ask of the database that runs it.

Stages write SQL in DuckDB's dialect and hand it to an Engine; they never import duckdb or
pyspark. A Spark engine transpiles the same SQL with sqlglot, so dialect differences live in
the engines alone.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from hiddennet import tables
from hiddennet.sql import q, tables_in as sql_tables

if TYPE_CHECKING:
    from hiddennet.stage import Stage

# A per-group function: takes an Arrow table holding one or more *whole* groups, returns an Arrow
# table matching the declared output schema. Engines may call it once per group (Spark) or once per
# batch of groups (DuckDB), so it must not assume either. Rows come in no particular order (the
# order may change from run to run): a function whose result depends on order must sort first.
GroupFn = Callable[[pa.Table], pa.Table]


class Engine(abc.ABC):
    """Runs DuckDB-dialect SQL over named tables."""

    name: str = "abstract"
    # Exception classes the engine raises when a statement fails (turned into StageError by the
    # pipeline, naming the stage and the table); an engine sets its own.
    errors: tuple[type[Exception], ...] = ()
    # The statement being run, so that a failure can name its table (`failed_table`).
    last_statement: str = ""
    # True when a SELECT over one table with WHERE only (no join, no GROUP BY) returns rows in the
    # table's insertion order, as DuckDB guarantees with preserve_insertion_order: a reader may then
    # skip an ORDER BY that only restores that order. False (the safe default): sort.
    keeps_scan_order: bool = False

    # -- statements -----------------------------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: str) -> None:
        """Run one statement (DuckDB dialect) for its effect."""

    def create_table(self, name: str, select_sql: str) -> None:
        """Materialise the result of a SELECT under `name`, replacing any table of that name."""
        self.execute(f"CREATE OR REPLACE TABLE {name} AS {select_sql}")

    def take_rows(self, name: str, source: str, columns: Sequence[tuple[str, str, str | None]], where: str,
                  order: str | None = None) -> None:
        """Table `name`: the rows of table `source` (alias `s` in `where`) for which `where` is true, with
        `columns`, each (output name, column of `source`, SQL over that column and the columns before
        it in `columns`, as `source` has them; or None for the column as it is), sorted by `order`;
        None keeps `source`'s order on an engine that keeps scan order (`keeps_scan_order`), any order
        on others. `source` is gone afterwards: an engine may make it `name` in place rather than copy
        its rows."""
        cols = ", ".join(f"{expr or q(col)} AS {q(out)}" for out, col, expr in columns)
        sort = f" ORDER BY {order}" if order else ""
        self.create_table(name, f"SELECT {cols} FROM {source} s WHERE {where}{sort}")
        self.drop(source)

    def fill_from(self, name: str, lookup: str, key: str, fills: Sequence[tuple[str, str]], order: str) -> None:
        """Each row of table `name` (alias `t`) whose column `key` matches a row of `lookup` (alias `x`,
        at most one row per key) gets each column of `fills` (column, SQL over `t` and `x`) set to its
        SQL; the other rows keep theirs. Each SQL must give the row's own value when x's columns are
        NULL. The rows keep their order (an engine that copies sorts by `order`, SQL over `t`)."""
        sets = dict(fills)
        cols = ", ".join(f"{sets[c]} AS {q(c)}" if c in sets else f"t.{q(c)}" for c in self.columns(name))
        scratch = f"__fill_{name}"
        self.create_table(scratch, f"SELECT {cols} FROM {name} t LEFT JOIN {lookup} x ON x.{q(key)} = t.{q(key)} "
                          f"ORDER BY {order}")
        self.drop(name)
        self.create_table(name, f"SELECT * FROM {scratch}")
        self.drop(scratch)

    @abc.abstractmethod
    def fetch_arrow(self, select_sql: str) -> pa.Table:
        """The result of a SELECT as an Arrow table."""

    def fetch_rows(self, select_sql: str) -> list[tuple]:
        """The result of a SELECT as a list of tuples (small results only)."""
        t = self.fetch_arrow(select_sql)
        cols = [c.to_pylist() for c in t.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def scalar(self, select_sql: str):
        """The single value of a one-row, one-column SELECT."""
        rows = self.fetch_rows(select_sql)
        return rows[0][0] if rows else None

    # -- tables ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def register_arrow(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        """Materialise an Arrow table under `name`, replacing any table of that name. A record batch
        reader is read once, as a stream where the engine can (memory: one batch, not the table)."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool:
        """True when a table or view called `name` exists."""

    @abc.abstractmethod
    def columns(self, name: str) -> list[str]:
        """Column names of a table, in order."""

    def count(self, name: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {name}"))

    def drop(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name}")

    def empty(self, name: str) -> None:
        """Create registered table `name` (hiddennet/tables.py) with no rows, under its engine name."""
        self.create_table(tables.table(name).sql_name, tables.empty_sql(name))

    def failed_table(self) -> str | None:
        """The table of the last statement: the one it writes, else the first it reads; None if unknown."""
        try:
            reads, writes, drops = sql_tables(self.last_statement)
        except Exception:  # noqa: BLE001 - an unparseable statement names no table
            return None
        for names in (writes, drops, reads):
            if names:
                return sorted(names)[0]
        return None

    @abc.abstractmethod
    def write_parquet(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        """Write a table as one Parquet file, with `metadata` as the file's key-value metadata."""

    def write_parquet_sorted(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        """`write_parquet` of table `name` with its rows sorted on every column (in column order, NULLs
        last), so that a rerun on the same input writes the same file whatever order the engine's
        threads or partitions produced the rows in."""
        order = ", ".join(f'"{c}"' for c in self.columns(name))
        self.create_table("__sorted_parquet", f"SELECT * FROM {name} ORDER BY {order}")
        try:
            self.write_parquet("__sorted_parquet", path, metadata)
        finally:
            self.drop("__sorted_parquet")

    @abc.abstractmethod
    def read_parquet(self, name: str, path: Path) -> None:
        """Materialise a Parquet file (or a folder of them) as table `name`."""

    # -- reading a force's extracts (ingest) ------------------------------------------------------
    # Both readers make every column VARCHAR (ids are never cast: `007` and `7` differ) and add
    # `__row BIGINT`, the 0-based order of the accepted rows in the file, so that ingest can give
    # each row its physical line. Neither ever returns a raw value of a bad row.
    def scan_csv(self, name: str, path: Path, columns: list[str], select_sql: str | None = None) -> pa.Table:
        """Read a comma-separated file with a header line as table `name`.

        `select_sql`, when given, is a SELECT over the read rows as relation `__csv` (its `columns`
        and `__row`): table `name` is its result, so that ingest types the values in the same pass
        as the read instead of storing the text first.

        `columns` names the file's columns in order, one per header cell (the header is skipped).
        UTF-8, optional byte-order mark, LF or CRLF, `"` quotes doubled inside quoted fields;
        `.gz` is decompressed. Rows that cannot be parsed are left out and returned, one per
        record, as an Arrow table `record BIGINT` (1-based record number, header = 1, blank lines
        counted), `column VARCHAR` (NULL when not one column) and `error VARCHAR`, one of
        `too_few_columns`, `too_many_columns`, `invalid_utf8`, `unterminated_quote`, `unreadable`.
        A record longer than ingest's MAX_VALUE_CHARS bytes is `unreadable`. A file the reader
        cannot read at all raises InputContractError (ingest then reads it another way).
        """
        raise NotImplementedError(f"{self.name} engine cannot read CSV files")

    def scan_parquet(self, name: str, path: Path) -> list[str]:
        """Read a Parquet file as table `name`: its columns by position as `c0`..`c{n-1}`, each cast
        to VARCHAR (a timestamp with a time zone as its UTC time), plus `__row` (file order, from 0).

        Returns the file's column names in order (as written in the file). A file that is not
        readable Parquet raises InputContractError naming it.
        """
        raise NotImplementedError(f"{self.name} engine cannot read Parquet extracts")

    # -- per-group graph work ---------------------------------------------------------------------
    @abc.abstractmethod
    def map_groups(
        self, name: str, select_sql: str, group_col: str, fn: GroupFn, schema: pa.Schema, *, costly: bool = False
    ) -> None:
        """Apply `fn` to the rows of each group of `select_sql` (by `group_col`); store the union as `name`.

        `fn` gets batches of one or more whole groups, in any order, possibly in other processes: it
        must pickle (a module-level function, or a `functools.partial` of one) and give each group
        the same rows whatever else is in its batch. `costly`: each group is long work for few rows (an
        integer program): an engine with worker processes spreads even a few groups over them.
        """

    # -- scratch namespaces ------------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Inside, tables a stage creates go to namespace `name` and reads fall back to the main one.

        Used to rerun stages with other settings (stability checks) without touching the run's tables.
        Stages must drop tables with `engine.drop`, which drops only inside the current namespace.
        """
        raise NotImplementedError(f"{self.name} engine has no scratch namespaces")
        yield  # pragma: no cover

    # -- stages ------------------------------------------------------------------------------------
    @contextmanager
    def in_stage(self, stage: Stage) -> Iterator[None]:
        """Statements inside belong to `stage`. A checking engine checks them against its declaration."""
        yield

    @contextmanager
    def memory_lent(self, fraction: float) -> Iterator[None]:
        """Inside, the engine holds at most `fraction` of its memory limit (what it holds beyond goes
        to its temporary folder), so that worker processes can use the rest. No effect without a limit."""
        yield

    # -- life cycle -----------------------------------------------------------------------------------
    def save_database(self, path: Path) -> None:
        """Copy every table into a new database file at `path` (engines that can hold a run in memory)."""
        raise NotImplementedError(f"the {self.name} engine keeps no database file")

    def sibling(self) -> Engine | None:
        """Another handle on the same tables, for work in another thread: its own scratch namespace
        and stage context, the same database. None (the default) when the engine has none; the
        caller then does the work one piece after another on this engine. Close it after use."""
        return None

    def close(self) -> None:  # noqa: B027 - optional for engines without resources
        """Release the engine's resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
