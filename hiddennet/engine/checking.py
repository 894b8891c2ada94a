"""A DuckDB engine that checks each stage against its declaration (for tests; hiddennet/stage.py).

Every statement is parsed with sqlglot (`hiddennet.sql.tables_in`) and the tables it reads, writes
and drops are checked against the stage running it (`engine.in_stage(stage)`):
- a table read must be declared (`reads`, `optional_reads`) or written earlier by the same stage;
  probing with `has_table` or `columns` counts as reading;
- a table written or dropped must be declared in `writes`;
- scratch tables (a name starting with `_`) are exempt, but only those the stage created itself:
  reading another stage's scratch table is a violation;
- when the stage ends, every declared `writes` table has been written, and every declared `reads`
  table has been read (a declaration that is never used is drift too).
A violation raises ContractViolation at once, naming the stage and the table. Statements outside
any stage are not checked. Declared names are registry names; a table is matched by its registry
name or its engine name (`nominals` for `input_nominals`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from hiddennet import tables
from hiddennet.engine.base import GroupFn
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.sql import tables_in
from hiddennet.stage import Stage, is_scratch


class ContractViolation(AssertionError):
    """A stage read, wrote or left unwritten a table against its declaration."""


def _names(declared: tuple[str, ...]) -> dict[str, set[str]]:
    """Declared registry name -> the names it may have in the engine."""
    out = {}
    for name in declared:
        t = tables.TABLES.get(name)
        out[name] = {name, t.sql_name} if t else {name}
    return out


@dataclass
class _Frame:
    stage: Stage
    reads: dict[str, set[str]]
    writes: dict[str, set[str]]
    read: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)

    def allowed_reads(self) -> set[str]:
        return set().union(*self.reads.values(), *self.writes.values(), self.written)

    def allowed_writes(self) -> set[str]:
        return set().union(*self.writes.values())


class CheckingEngine(DuckDBEngine):
    """DuckDBEngine whose stages may touch only the tables they declare."""

    name = "duckdb"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._frames: list[_Frame] = []
        # Per stage name: every table it read and wrote (union over its runs), for tests to inspect.
        self.seen: dict[str, dict[str, set[str]]] = {}

    def sibling(self) -> CheckingEngine | None:
        """A cursor on the same database (DuckDBEngine.sibling) that goes on checking: it starts inside
        the stages this engine is in now, and records what it sees in the same `seen`."""
        twin = super().sibling()
        assert isinstance(twin, CheckingEngine)
        twin._frames = list(self._frames)
        twin.seen = self.seen
        return twin

    # -- the check -----------------------------------------------------------------------------------
    @contextmanager
    def in_stage(self, stage: Stage) -> Iterator[None]:
        frame = _Frame(stage, _names(stage.reads + stage.optional_reads), _names(stage.writes))
        self._frames.append(frame)
        try:
            yield
        finally:
            self._frames.pop()
        seen = self.seen.setdefault(stage.name, {"read": set(), "written": set()})
        seen["read"] |= frame.read
        seen["written"] |= frame.written
        for name, engine_names in _names(stage.writes).items():
            if not engine_names & frame.written:
                raise ContractViolation(f"stage {stage.name}: declares it writes {name} but did not write it")
        for name, engine_names in _names(stage.reads).items():
            if not engine_names & frame.read:
                raise ContractViolation(f"stage {stage.name}: declares it reads {name} but never read it")

    def _reads(self, names: set[str]) -> None:
        if not self._frames:
            return
        frame = self._frames[-1]
        for name in names:
            if name not in frame.allowed_reads():
                why = "a scratch table of another stage" if is_scratch(name) else "not declared"
                raise ContractViolation(f"stage {frame.stage.name}: reads {name} ({why})")
            frame.read.add(name)

    def _writes(self, names: set[str], verb: str = "writes") -> None:
        if not self._frames:
            return
        frame = self._frames[-1]
        for name in names:
            if not is_scratch(name) and name not in frame.allowed_writes():
                raise ContractViolation(f"stage {frame.stage.name}: {verb} {name} (not declared in writes)")
            if verb == "writes":
                frame.written.add(name)

    def _statement(self, sql: str) -> None:
        reads, writes, drops = tables_in(sql)
        self._writes(writes)
        self._writes(drops, "drops")
        self._reads(reads)

    # -- every way a stage reaches a table -----------------------------------------------------------
    def execute(self, sql: str) -> None:
        self._statement(sql)
        super().execute(sql)

    def fetch_arrow(self, select_sql: str) -> pa.Table:
        self._statement(select_sql)
        return super().fetch_arrow(select_sql)

    def register_arrow(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self._writes({name})
        super().register_arrow(name, table)

    def has_table(self, name: str) -> bool:
        found = super().has_table(name)
        self._reads({name})
        return found

    def columns(self, name: str) -> list[str]:
        self._reads({name})
        return super().columns(name)

    def write_parquet(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        self._reads({name})
        super().write_parquet(name, path, metadata)

    def write_parquet_sorted(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        self._reads({name})
        with self._engine_internal():  # its sorted view is the engine's, not the stage's
            super().write_parquet_sorted(name, path, metadata)

    def take_rows(self, name: str, source: str, columns: Sequence[tuple[str, str, str | None]], where: str,
                  order: str | None = None) -> None:
        self._statement(f"SELECT 1 FROM {source} s WHERE {where}")
        self._writes({name})
        self._writes({source}, "drops")
        with self._engine_internal():  # its DELETE and ALTER statements do what the declaration says
            super().take_rows(name, source, columns, where, order)

    def fill_from(self, name: str, lookup: str, key: str, fills: Sequence[tuple[str, str]], order: str) -> None:
        self._reads({name, lookup})
        self._writes({name})
        with self._engine_internal():  # its UPDATE does what the declaration says
            super().fill_from(name, lookup, key, fills, order)

    def scan_csv(self, name: str, path: Path, columns: list[str], select_sql: str | None = None) -> pa.Table:
        self._writes({name})
        with self._engine_internal():  # its reject tables are the engine's, not the stage's
            return super().scan_csv(name, path, columns, select_sql)

    def scan_parquet(self, name: str, path: Path) -> list[str]:
        self._writes({name})
        with self._engine_internal():
            return super().scan_parquet(name, path)

    @contextmanager
    def _engine_internal(self) -> Iterator[None]:
        frames, self._frames = self._frames, []
        try:
            yield
        finally:
            self._frames = frames

    def map_groups(
        self, name: str, select_sql: str, group_col: str, fn: GroupFn, schema: pa.Schema, *, costly: bool = False
    ) -> None:
        # The stage reads what `select_sql` reads and writes `name`; the engine's own staging tables
        # (a sorted copy of the input, the batches) are its business, not the stage's.
        self._statement(select_sql)
        self._writes({name})
        with self._engine_internal():
            super().map_groups(name, select_sql, group_col, fn, schema, costly=costly)
