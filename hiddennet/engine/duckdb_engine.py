"""DuckDB engine: the default, embedded, one machine."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from hiddennet.engine.base import Engine, GroupFn
from hiddennet.engine.threads import blas_limited, cores, one_blas_thread, release_free_memory
from hiddennet.errors import InputContractError, OutputWriteError, SettingsError, engine_io_reason
from hiddennet.settings import memory_share
from hiddennet.sql import lit as _quote, q

# Rows handed to a per-group function at once; batches always hold whole groups.
_BATCH_ROWS = 500_000
# Per-group work goes to worker processes only from this many rows: a worker costs about a second
# to start (it imports NetworKit and pyarrow), which a scale-1 force's centrality does not repay.
_POOL_MIN_ROWS = 100_000
# Batches per worker: groups differ widely in cost (the largest come first), so smaller batches
# spread the work more evenly.
_BATCHES_PER_WORKER = 8
# Rows of a worker's batch at most: the batch's share of a worker's memory stays the same at any
# scale (it was 500,000 rows at scale 40), and more, smaller batches cost little once the input is
# large enough for this cap to bite (a scale-1 force's batches are about 12,000 rows). One large
# group is still one batch: its memory is the group's (benchmarks/RESULTS.md section 14).
_WORKER_BATCH_ROWS = 50_000
# A group of more rows than this is mapped one at a time across an engine and its siblings (map_groups):
# at scale 40 the largest component's links are millions of rows, and its Leiden split ~1.2 GB.
_HUGE_GROUP_ROWS = 1_000_000
# Input rows of the batches a pool may hold in flight or finished but waiting for a slower batch
# ahead of them (see _map_in_processes); a scale-1 force's dismantling input is about 200,000.
_WINDOW_ROWS = 500_000


# DuckDB's allocator settings under a memory limit (see __init__).
_RELEASE_FREED = (("allocator_flush_threshold", "'16MB'"), ("allocator_bulk_deallocation_flush_threshold", "'16MB'"),
                  ("allocator_background_threads", "true"))


class DuckDBEngine(Engine):
    name = "duckdb"
    errors = (duckdb.Error,)
    keeps_scan_order = True  # preserve_insertion_order is set on every connection (below)

    def __init__(
        self,
        database: str | Path = ":memory:",
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | Path | None = None,
        group_workers: int | None = None,
    ):
        self.database = str(database)
        self.memory_limit = memory_limit
        self.group_workers = int(group_workers or threads or cores())
        try:
            self.con = duckdb.connect(self.database)
        except duckdb.IOException as e:
            raise OutputWriteError(f"cannot open the run's database {self.database}: {_io_reason(e)}") from None
        # Insertion order is kept so that a table's rowid follows the file it was read from.
        self.con.execute("SET preserve_insertion_order = true")
        # DuckDB draws a progress bar on stdout for long queries, terminal or not: stdout is for results.
        self.con.execute("SET enable_progress_bar = false")
        self._schema = "main"
        # Worker processes of map_groups, made when first needed and shared with the siblings.
        self._pool: ProcessPoolExecutor | None = None
        self._pool_owner: DuckDBEngine = self
        self._pool_lock = threading.Lock()
        self._huge_lock = threading.Lock()  # one group over _HUGE_GROUP_ROWS at a time (map_groups)
        # Settings are validated (settings.py) and still quoted as literals, never pasted bare.
        for setting, name, value in (
            ("duckdb_memory_limit", "memory_limit", memory_limit),
            ("duckdb_threads", "threads", None if threads is None else int(threads)),
            (
                "duckdb_temp_directory", "temp_directory",
                None if temp_directory is None else Path(temp_directory).as_posix(),
            ),
        ):
            if value:
                try:
                    self.con.execute(f"SET {name} = {_quote(value) if isinstance(value, str) else value}")
                except duckdb.Error:
                    self.con.close()
                    raise SettingsError(f"{setting}: DuckDB does not accept this value") from None
        if memory_limit:
            # The limit bounds DuckDB's buffers, not what its allocator keeps of freed query memory for
            # reuse (at scale 1, 300-400 MB above the tables between stages): under a limit, hand it back.
            for name, value in _RELEASE_FREED:
                self.con.execute(f"SET {name} = {value}")

    def write_parquet_sorted(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        # Through a view: DuckDB's writer streams the sort straight into the file (the same bytes, about
        # half the CPU), where a sorted table would first be written into the database and read back.
        order = ", ".join(q(c) for c in self.columns(name))
        # A temporary view: this connection's own, never part of the database a sibling may be copying.
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW __sorted_parquet AS SELECT * FROM {name} ORDER BY {order}")
        try:
            self.write_parquet("__sorted_parquet", path, metadata)
        finally:
            self.con.execute("DROP VIEW IF EXISTS __sorted_parquet")

    def save_database(self, path: Path) -> None:
        """Copy every table and view of this in-memory database into a new database file at `path`
        (the run's `hiddennet.duckdb`)."""
        target = Path(path).as_posix()
        try:
            self.con.execute(f"ATTACH {_quote(target)} AS __run_database")
            try:
                self.con.execute("COPY FROM DATABASE memory TO __run_database")
            finally:
                self.con.execute("DETACH __run_database")
        except duckdb.Error as e:
            raise OutputWriteError(f"cannot write the run's database {target}: {_io_reason(e)}") from None

    def execute(self, sql: str) -> None:
        self.last_statement = sql
        self.con.execute(sql)

    def fetch_arrow(self, select_sql: str) -> pa.Table:
        self.last_statement = select_sql
        return self.con.sql(select_sql).to_arrow_table()

    def register_arrow(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self.last_statement = f"CREATE TABLE {name} AS SELECT 1"
        view = f"__arrow_{name}"
        self.con.register(view, table)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    @contextmanager
    def memory_lent(self, fraction: float) -> Iterator[None]:
        # The limit is the database's (every cursor's): a lower one moves table data out to the
        # temporary folder, and the allocator settings set with the limit hand the memory back.
        limit, lent = self.memory_limit, False
        if limit:
            try:
                self.con.execute(f"SET memory_limit = {_quote(memory_share(limit, 1, fraction) or '')}")
                lent = True
            except duckdb.Error:  # DuckDB cannot move enough out now (memory held by running queries): lend none
                pass
        try:
            yield
        finally:
            if limit and lent:
                self.con.execute(f"SET memory_limit = {_quote(limit)}")

    def take_rows(self, name: str, source: str, columns: Sequence[tuple[str, str, str | None]], where: str,
                  order: str | None = None) -> None:
        have = self.columns(source)
        at = [have.index(col) if col in have else -1 for _, col, _ in columns]
        # A rename onto another kept column's name would need a swap: copied instead.
        clash = any(out != col and out in have for out, col, _ in columns)
        if order is not None or -1 in at or at != sorted(set(at)) or clash:
            # A sort, or columns in another order: copied (rowid is the source's order).
            super().take_rows(name, source, columns, where, order or "s.rowid")
            return
        # In place, where a copy of a large table costs as much as reading it: the rows not kept are
        # deleted (marked, not moved), the columns not kept dropped and the rest altered, then renamed,
        # one column at a time; the order of the rows is the source's. Altered last column first, so an
        # expression reads the columns before it as they were (what the copy reads).
        self.execute(f"DELETE FROM {source} AS s WHERE NOT coalesce(({where}), false)")
        kept = {col for _, col, _ in columns}
        for col in have:
            if col not in kept:
                self.execute(f"ALTER TABLE {source} DROP COLUMN {q(col)}")
        for _, col, expr in reversed(columns):
            if expr is not None:
                kind = self.con.sql(f"SELECT {expr} FROM {source} LIMIT 0").types[0]
                self.execute(f"ALTER TABLE {source} ALTER COLUMN {q(col)} SET DATA TYPE {kind} USING ({expr})")
        for out, col, _ in columns:
            if out != col:
                self.execute(f"ALTER TABLE {source} RENAME COLUMN {q(col)} TO {q(out)}")
        self.drop(name)
        self.execute(f"ALTER TABLE {source} RENAME TO {q(name)}")

    def fill_from(self, name: str, lookup: str, key: str, fills: Sequence[tuple[str, str]], order: str) -> None:
        # In place: only the rows a lookup row changes are written (an UPDATE keeps the rows' order).
        sets = ", ".join(f"{q(col)} = {expr}" for col, expr in fills)
        changed = " OR ".join(f"({expr}) IS DISTINCT FROM t.{q(col)}" for col, expr in fills)
        self.execute(f"UPDATE {name} AS t SET {sets} FROM {lookup} AS x WHERE x.{q(key)} = t.{q(key)} AND ({changed})")

    def drop(self, name: str) -> None:
        # Qualified, so that inside a scope a missing table never resolves to the main one.
        self.con.execute(f"DROP TABLE IF EXISTS {self._schema}.{name}")
        self.con.execute(f"DROP VIEW IF EXISTS {self._schema}.{name}")

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        previous = self._schema
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        self.con.execute(f"USE {name}")
        self.con.execute(f"SET search_path = '{name},{previous}'")
        self._schema = name
        try:
            yield
        finally:
            self.con.execute(f"USE {previous}")
            self.con.execute(f"SET search_path = '{previous}'")
            self._schema = previous

    def has_table(self, name: str) -> bool:
        n = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema IN (?, 'main')",
            [name, self._schema],
        ).fetchall()[0][0]  # fetchall closes the result; DuckDB 2.0 keeps a fetchone() result open
        return n > 0

    def columns(self, name: str) -> list[str]:
        # An empty result's schema: the search path finds the scope's table before the main one, and
        # it costs a fraction of a millisecond where information_schema costs 2-10 ms a call.
        try:
            return self.con.sql(f"SELECT * FROM {q(name)} LIMIT 0").columns
        except duckdb.CatalogException:
            return []

    def write_parquet(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        kv = ""
        if metadata:
            pairs = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in metadata.items())
            kv = f", KV_METADATA {{{pairs}}}"
        self.con.execute(f"COPY {name} TO '{Path(path).as_posix()}' (FORMAT parquet{kv})")

    def read_parquet(self, name: str, path: Path) -> None:
        self.create_table(name, f"SELECT * FROM read_parquet('{Path(path).as_posix()}')")

    def scan_csv(self, name: str, path: Path, columns: list[str], select_sql: str | None = None) -> pa.Table:
        from hiddennet.ingest.records import MAX_VALUE_CHARS

        cols = ", ".join(f"{_quote(c)}: 'VARCHAR'" for c in columns)
        # Reject tables accumulate across scans: start each scan with fresh ones.
        self.con.execute("DROP TABLE IF EXISTS __scan_rejects")
        self.con.execute("DROP TABLE IF EXISTS __scan_reject_scans")
        try:
            # max_line_size: a longer record comes back as `unreadable`, and ingest reads the file
            # value by value to say which value is too long (no line can hold one if none is longer).
            read = (
                f"SELECT *, (row_number() OVER () - 1)::BIGINT AS __row "
                f"FROM read_csv({_quote(Path(path).as_posix())}, columns = {{{cols}}}, header = true, "
                "auto_detect = false, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
                f"strict_mode = true, max_line_size = {MAX_VALUE_CHARS}, "
                "store_rejects = true, rejects_table = '__scan_rejects', rejects_scan = '__scan_reject_scans')"
            )
            # With select_sql the read is a CTE used once, so DuckDB inlines it: one pass, no text copy.
            body = f"WITH __csv AS ({read}) {select_sql}" if select_sql else read
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {body}")
        except duckdb.Error:
            # Never the error's text: DuckDB quotes the offending line.
            raise InputContractError("the fast CSV reader cannot read this file", file=Path(path).name) from None
        # Only positions and error kinds leave this method; csv_line (raw data) is never read.
        rejects = self.fetch_arrow(
            """
            SELECT line::BIGINT AS record, arg_min(column_name, coalesce(column_idx, 0)) AS "column",
                   CASE arg_min(error_type, coalesce(column_idx, 0))
                       WHEN 'MISSING COLUMNS' THEN 'too_few_columns'
                       WHEN 'TOO MANY COLUMNS' THEN 'too_many_columns'
                       WHEN 'INVALID ENCODING' THEN 'invalid_utf8'
                       WHEN 'INVALID UNICODE' THEN 'invalid_utf8'
                       WHEN 'UNQUOTED VALUE' THEN 'unterminated_quote'
                       ELSE 'unreadable' END AS error
            FROM __scan_rejects GROUP BY line ORDER BY line
            """
        )
        self.con.execute("DROP TABLE IF EXISTS __scan_rejects")
        self.con.execute("DROP TABLE IF EXISTS __scan_reject_scans")
        return rejects

    def scan_parquet(self, name: str, path: Path) -> list[str]:
        src = f"read_parquet({_quote(Path(path).as_posix())})"
        file = Path(path).name
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
            # Columns by position (#i), named c0..c{n-1}: a file column called `__row` or
            # `file_row_number` cannot clash with ours. A timestamp with a time zone is taken as
            # the instant's calendar date in UTC, whatever this machine's time zone.
            cols = [
                f"CAST(timezone('UTC', #{i + 1}) AS VARCHAR) AS c{i}"
                if str(t).upper().startswith("TIMESTAMP WITH TIME ZONE")
                else f"CAST(#{i + 1} AS VARCHAR) AS c{i}"
                for i, (_, t, *_) in enumerate(described)
            ]
            sep = ", " if cols else ""
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(cols)}{sep}"
                             f"(row_number() OVER () - 1)::BIGINT AS __row FROM {src}")
        except duckdb.Error:
            raise InputContractError("not a readable Parquet file", file=file) from None
        return [r[0] for r in described]

    def map_groups(
        self, name: str, select_sql: str, group_col: str, fn: GroupFn, schema: pa.Schema, *, costly: bool = False
    ) -> None:
        """Streams: the input is sorted by group into a temporary table inside DuckDB (so it spills
        under the memory limit, as the old whole fetch's sort did), fetched a batch of whole groups
        at a time (a range of group keys: the sorted table's zone maps skip the rest), and each
        batch's result is appended to `name` before the next is fetched; workers get a bounded
        window of batches. Python holds a few batches, never the whole input or output."""
        self._map_count = getattr(self, "_map_count", 0) + 1
        staged = f"__map_groups_{self._map_count}"
        key = q(group_col)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS SELECT * FROM ({select_sql}) ORDER BY {key}")
        try:
            per_key = self.con.execute(
                f"SELECT {key}, count(*) FROM {staged} GROUP BY {key} ORDER BY {key} NULLS LAST").fetchall()
            total = sum(int(n) for _, n in per_key)
            # Costly groups (seconds of solver for a few rows each) go to the workers one group a batch.
            pooled = self.group_workers > 1 and (costly or total >= _POOL_MIN_ROWS)
            size = _BATCH_ROWS
            if pooled:
                size = 1 if costly else min(_WORKER_BATCH_ROWS,
                                            math.ceil(total / (self.group_workers * _BATCHES_PER_WORKER)))
            keyed = [(k, int(n)) for k, n in per_key if k is not None]
            counts = [n for _, n in keyed]
            cuts = _whole_group_ranges(counts, size)
            ranges = [(keyed[lo - 1][0], keyed[hi - 1][0]) for lo, hi in cuts]
            if len(keyed) < len(per_key):
                ranges.append((None, None))  # rows without a group key: one batch of their own, never dropped
            # A group too large to share a batch is held whole twice over (its batch here, and where fn
            # runs): such a group goes to a worker process (never this one, which holds the database),
            # one at a time across this engine and its siblings (the stability reruns side by side each
            # split the same largest component). Results stay in batch order.
            huge = [sum(counts[lo - 1:hi]) > _HUGE_GROUP_ROWS for lo, hi in cuts] + [False] * (len(ranges) - len(cuts))
            self.register_arrow(name, schema.empty_table())
            for is_huge, run in itertools.groupby(zip(ranges, huge, strict=True), key=lambda rh: rh[1]):
                part = [r for r, _ in run]
                if not is_huge:
                    self._map_batches(name, staged, key, part, fn, schema, pooled and len(ranges) > 1)
                    continue
                for one in part:
                    with self._pool_owner._huge_lock:
                        self._map_batches(name, staged, key, [one], fn, schema, self.group_workers > 1)
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {staged}")

    def _map_batches(self, name: str, staged: str, key: str, ranges: list, fn: GroupFn, schema: pa.Schema,
                     pooled: bool) -> None:
        """fn over the groups of each range of keys, in worker processes when `pooled`; results appended to `name`."""
        batches = (self._fetch_groups(staged, key, lo, hi) for lo, hi in ranges)
        if pooled:
            for part in _map_in_processes(fn, batches, self.group_workers, self._workers()):
                self._append(name, part.cast(schema))
        else:
            with blas_limited():
                for part in map(fn, batches):
                    self._append(name, part.cast(schema))

    def _fetch_groups(self, staged: str, key: str, lo, hi) -> pa.Table:
        # A filtered scan keeps the sorted table's order (insertion order is preserved).
        if lo is None:
            return self.con.sql(f"SELECT * FROM {staged} WHERE {key} IS NULL").to_arrow_table()
        return self.con.sql(f"SELECT * FROM {staged} WHERE {key} BETWEEN ? AND ?", params=[lo, hi]).to_arrow_table()

    def _append(self, name: str, table: pa.Table) -> None:
        if not table.num_rows:
            return
        view = f"__arrow_append_{name}"
        self.con.register(view, table)
        try:
            self.con.execute(f"INSERT INTO {self._schema}.{name} SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def _workers(self) -> ProcessPoolExecutor:
        """The engine's worker processes, made once and kept until it closes (the dismantling's two
        passes and the centrality would each pay the workers' start, about half a second at scale 1,
        again); a sibling uses its engine's, so threads side by side never start more than one pool."""
        owner = self._pool_owner
        with owner._pool_lock:
            if owner._pool is None:
                owner._pool = worker_pool(owner.group_workers)
            return owner._pool

    def sibling(self) -> DuckDBEngine | None:
        """A cursor on the same database: DuckDB runs its statements beside this connection's, and
        `USE` and the search path (a scope), temporary tables and registered Arrow views are its own.
        Database-wide settings (memory limit, threads, temp directory) are shared."""
        twin = object.__new__(type(self))
        twin.database = self.database
        twin.group_workers = self.group_workers
        twin.con = self.con.cursor()
        twin.con.execute("SET enable_progress_bar = false")
        twin._schema = "main"
        twin._pool = None
        twin._pool_owner = self._pool_owner  # the engine's workers (closed with the engine, not the twin)
        twin._pool_lock = self._pool_lock
        twin.memory_limit = self.memory_limit
        return twin

    def close(self) -> None:
        if self._pool is not None and self._pool_owner is self:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.con.close()


def _whole_group_ranges(counts: list[int], size: int) -> list[tuple[int, int]]:
    """Ranges (first, last) of group positions (1-based, in key order) of about `size` rows each, a
    range ending where its rows reach `size` or at the last group; counts[i] is the rows of group
    i + 1. The same cuts as slicing the whole sorted input at group ends."""
    out, start, rows = [], 1, 0
    for i, c in enumerate(counts, start=1):
        rows += c
        if rows >= size or i == len(counts):
            out.append((start, i))
            start, rows = i + 1, 0
    return out


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes for the per-group work, one BLAS thread each (engine/threads.py). forkserver, not
    fork: this process runs DuckDB's threads, and forking a threaded process can leave a lock held
    in the child."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=one_blas_thread)


def _map_in_processes(fn: GroupFn, batches: Iterator[pa.Table], workers: int,
                      pool: ProcessPoolExecutor | None = None) -> Iterator[pa.Table]:
    """fn over the batches in worker processes (`pool`, else a pool of its own), results in batch
    order (so the output is the same as in one process: every per-group function gives each group
    the same rows whatever batch it is in). A slow batch does not idle the other workers: they go on
    with the batches behind it while its finished followers wait their turn, as long as the batches
    in flight or waiting hold at most _WINDOW_ROWS rows (and always at least 2 x workers batches), so
    memory stays bounded however many there are."""
    own = pool is None
    pool = worker_pool(workers) if pool is None else pool
    window: deque = deque()  # (future, input rows), in batch order
    try:
        rows = 0
        for batch in batches:
            window.append((pool.submit(_batch_then_trim, fn, batch), batch.num_rows))
            rows += batch.num_rows
            while len(window) >= 2 * workers and (rows > _WINDOW_ROWS or window[0][0].done()):
                future, n = window.popleft()
                rows -= n
                yield future.result()
        while window:
            yield window.popleft()[0].result()
    finally:
        for future, _ in window:
            future.cancel()  # after a failure: the batches not started yet are not run at all
        if own:
            pool.shutdown(wait=True)


def _batch_then_trim(fn: GroupFn, batch: pa.Table) -> pa.Table:
    """fn(batch) in a worker, then the C allocator's free memory handed back to the system: a worker
    lives as long as its engine, and what a large batch freed inside the heap would otherwise stay
    with it until reused (at scale 40 workers held 0.7 GB between their 1.2 GB peaks)."""
    try:
        return fn(batch)
    finally:
        release_free_memory()


def _io_reason(e: Exception) -> str:
    # The reason in plain words, never DuckDB's own text.
    return engine_io_reason(str(e)) or "input/output failure"


