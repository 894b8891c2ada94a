"""Spark engine: the same stages over many forces, in local mode or on a cluster.

Stage SQL is DuckDB's dialect; `hiddennet.engine.spark.dialect` turns it into Spark SQL (sqlglot plus
a few documented rewrites). Tables are Spark temporary views held in a registry of logical name ->
view, one registry per namespace, so that `scope()` can shadow tables without touching the run's.
Every table is materialised when it is made (see `_materialise`), never recomputed on each read.

pyspark is imported at module level on purpose: `make_engine` turns the ImportError into a message
naming the `spark` extra. See docs/spark.md for configuration and trade-offs.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from hiddennet.engine.base import Engine, GroupFn
from hiddennet.engine.spark import dialect
from hiddennet.errors import HiddennetError

# Settings of our own inside `settings.spark` (never passed to Spark): see docs/spark.md.
_OWN_PREFIX = "hiddennet."
# Tables up to this many rows are written to Parquet by collecting them to the driver as Arrow;
# larger ones are written by Spark in parallel and the parts combined into one file.
_COLLECT_MAX_ROWS = 2_000_000
# HIDDENNET_SPARK_TRACE=1 prints each materialised table and its seconds on stderr (names only).
_TRACE = os.environ.get("HIDDENNET_SPARK_TRACE") == "1"

# Quiet, local-only defaults; anything in settings.spark wins.
_DEFAULTS = {
    "spark.master": "local[*]",
    "spark.app.name": "hiddennet",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    # DuckDB's TIMESTAMP has no time zone; so must Spark's.
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    # DuckDB raises on bad casts and overflow; Spark in ANSI mode does too.
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
_LOCAL_DEFAULTS = {
    # Few, larger shuffle partitions: 200 tiny tasks cost more than they save on one machine.
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.driver.memory": "4g",
}


class SparkEngineError(HiddennetError):
    """A statement could not be run on Spark (untranslatable SQL or a Spark failure)."""


class SparkEngine(Engine):
    name = "spark"
    errors = (PySparkException, Py4JError)

    _root: SparkSession | None = None
    _shared: SparkEngine | None = None

    def __init__(self, conf: dict[str, str] | None = None):
        conf = {str(k): str(v) for k, v in (conf or {}).items()}
        own = {k[len(_OWN_PREFIX):]: conf.pop(k) for k in list(conf) if k.startswith(_OWN_PREFIX)}
        self.collect_max_rows = int(own.get("collect_max_rows", _COLLECT_MAX_ROWS))
        # `parquet` writes every table to scratch_dir and reads it back (survives executor loss on a
        # cluster, frees memory at once); `checkpoint` keeps tables in Spark's block manager.
        self.scratch_dir = own.get("scratch_dir")
        self.materialize = own.get("materialize", "parquet" if self.scratch_dir else "checkpoint")
        if self.materialize not in ("checkpoint", "parquet"):
            raise SparkEngineError(f"settings spark.hiddennet.materialize: unknown mode {self.materialize!r}")
        self._own_scratch = None
        if self.materialize == "parquet" and not self.scratch_dir:
            self._own_scratch = tempfile.mkdtemp(prefix="hiddennet-spark-")
            self.scratch_dir = self._own_scratch
        root = SparkEngine._root_session(conf)
        # A session of its own (shared SparkContext): temporary views of two engines never collide.
        self.spark = root.newSession()
        for k, v in conf.items():
            if k.startswith("spark.sql."):
                self.spark.conf.set(k, v)
        self._namespace = "main"
        self._views: dict[str, dict[str, str]] = {"main": {}}  # namespace -> logical (lower) -> view
        self._frames: dict[str, DataFrame] = {}  # view -> materialised DataFrame
        self._paths: dict[str, str] = {}  # view -> scratch folder (parquet mode)

    # -- sessions -------------------------------------------------------------------------------
    @classmethod
    def _root_session(cls, conf: dict[str, str]) -> SparkSession:
        if cls._root is not None and cls._root.sparkContext._jsc is not None:
            return cls._root
        # Python workers must run the interpreter that has hiddennet and pyarrow installed.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        settings = dict(_DEFAULTS)
        master = conf.get("spark.master", settings["spark.master"])
        if master.startswith("local"):
            settings.update(_LOCAL_DEFAULTS)
        settings.update(conf)
        builder = SparkSession.builder
        for k, v in settings.items():
            builder = builder.config(k, v)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel(conf.get("hiddennet.log_level", "ERROR"))
        cls._root = session
        atexit.register(cls._stop_root)
        return session

    @classmethod
    def _stop_root(cls) -> None:
        if cls._root is not None:
            try:
                cls._root.stop()
            finally:
                cls._root = None
                cls._shared = None

    @classmethod
    def shared(cls, conf: dict[str, str] | None = None) -> SparkEngine:
        """One engine for the whole process (tests): starting Spark takes seconds.

        `conf` counts only for the call that makes it (the first, or the first after a stop)."""
        if cls._shared is None or cls._root is None:
            cls._shared = cls(conf or {})
        return cls._shared

    def reset(self) -> None:
        """Drop every table and view of every namespace; back to the main namespace."""
        for views in self._views.values():
            for view in list(views.values()):
                self._release(view)
        self._views = {"main": {}}
        self._namespace = "main"

    def close(self) -> None:
        # The SparkContext is shared by every engine of the process and stopped at exit.
        self.reset()
        if self._own_scratch:
            shutil.rmtree(self._own_scratch, ignore_errors=True)
            self._own_scratch = None

    # -- names -----------------------------------------------------------------------------------
    def _resolve(self, name: str) -> str:
        """The view behind a logical name: the current namespace first, then the main one."""
        key = name.lower()
        for ns in (self._namespace, "main"):
            view = self._views.get(ns, {}).get(key)
            if view is not None:
                return view
        return name

    def _target(self, name: str) -> str:
        """The view a table created under `name` gets in the current namespace."""
        return name if self._namespace == "main" else f"{self._namespace}__{name}"

    def _spark_sql(self, node) -> str:
        try:
            return dialect.to_spark(node, self._resolve)
        except dialect.UnsupportedSQL as e:
            raise SparkEngineError(str(e)) from None

    def _query(self, select_sql: str) -> DataFrame:
        nodes = dialect.parse(select_sql)
        if len(nodes) != 1:
            raise SparkEngineError("expected exactly one SELECT statement")
        return self.spark.sql(self._spark_sql(nodes[0]))

    # -- statements --------------------------------------------------------------------------------
    def execute(self, sql: str) -> None:
        from sqlglot import exp

        self.last_statement = sql
        for node in dialect.parse(sql):
            if isinstance(node, exp.Create) and str(node.args.get("kind", "")).upper() in ("TABLE", "VIEW"):
                self._create(node)
            elif isinstance(node, exp.Drop) and str(node.args.get("kind", "")).upper() in ("TABLE", "VIEW"):
                for t in node.args.get("tables") or node.expressions or [node.this]:
                    self.drop(t.name)
            elif isinstance(node, exp.Insert):
                self._insert(node)
            else:
                self.spark.sql(self._spark_sql(node))

    def _create(self, node) -> None:
        from sqlglot import exp

        target = node.this
        columns = None
        if isinstance(target, exp.Schema):
            columns = [c for c in target.expressions if isinstance(c, exp.ColumnDef)]
            target = target.this
        name = target.name
        if node.args.get("exists") and self._exists_here(name):
            return  # CREATE ... IF NOT EXISTS
        query = node.expression
        if query is None:
            # CREATE TABLE t (col type, ...): an empty table with that schema.
            ddl = ", ".join(f"`{c.name}` {c.args['kind'].sql(dialect='spark')}" for c in columns or [])
            self._register(name, self.spark.createDataFrame([], schema=ddl), materialise=True)
            return
        df = self.spark.sql(self._spark_sql(query))
        if columns:
            df = df.toDF(*[c.name for c in columns])
        lazy = str(node.args.get("kind")).upper() == "VIEW"
        self._register(name, df, materialise=not lazy)

    def _insert(self, node) -> None:
        name = node.this.name if hasattr(node.this, "name") else str(node.this)
        if not self.has_table(name):
            raise SparkEngineError(f"table {name}: INSERT into a table that does not exist")
        current = self.spark.table(self._resolve(name))
        new = self.spark.sql(self._spark_sql(node.expression))
        self._register(name, current.union(new.toDF(*current.columns)), materialise=True)

    def create_table(self, name: str, select_sql: str) -> None:
        self.last_statement = f"CREATE TABLE {name} AS {select_sql}"
        self._register(name, self._query(select_sql), materialise=True)

    def fetch_arrow(self, select_sql: str) -> pa.Table:
        self.last_statement = select_sql
        return _like_duckdb(self._query(select_sql).toArrow())

    # -- tables --------------------------------------------------------------------------------------
    def _register(self, name: str, df: DataFrame, *, materialise: bool) -> None:
        view = self._target(name)
        path = None
        if materialise:
            df, path = self._materialise(df, view)
        old_frame = self._frames.get(view)
        old_path = self._paths.pop(view, None)
        df.createOrReplaceTempView(view)
        self._views.setdefault(self._namespace, {})[name.lower()] = view
        self._frames[view] = df
        if path:
            self._paths[view] = path
        if old_frame is not None and old_frame is not df:
            _unpersist(old_frame)
        if old_path:
            shutil.rmtree(old_path, ignore_errors=True)

    def _materialise(self, df: DataFrame, view: str) -> tuple[DataFrame, str | None]:
        t0 = time.perf_counter()
        try:
            return self._materialise_now(df, view)
        finally:
            if _TRACE:
                print(f"[spark] {view}: {time.perf_counter() - t0:.2f}s", file=sys.stderr, flush=True)

    def _materialise_now(self, df: DataFrame, view: str) -> tuple[DataFrame, str | None]:
        """Compute `df` once and cut its lineage, so later reads neither recompute nor re-plan it.

        checkpoint: `localCheckpoint(eager=True)` keeps the rows in the executors' block manager
        (memory, spilling to disk) and replaces the plan by a scan of them. parquet: write to the
        scratch folder and read back; slower but survives executor loss and frees memory on drop.
        """
        if self.materialize == "checkpoint":
            return df.localCheckpoint(eager=True), None
        assert self.scratch_dir is not None  # __init__ gives `parquet` a scratch folder (its own if none is set)
        path = str(Path(self.scratch_dir) / f"{view}-{uuid.uuid4().hex}")
        df.write.mode("overwrite").parquet(path)
        return self.spark.read.parquet(path), path

    def _release(self, view: str) -> None:
        self.spark.catalog.dropTempView(view)
        frame = self._frames.pop(view, None)
        if frame is not None:
            _unpersist(frame)
        path = self._paths.pop(view, None)
        if path:
            shutil.rmtree(path, ignore_errors=True)

    def _exists_here(self, name: str) -> bool:
        return name.lower() in self._views.get(self._namespace, {})

    def drop(self, name: str) -> None:
        # Only the current namespace: inside a scope the main table of that name stays.
        view = self._views.get(self._namespace, {}).pop(name.lower(), None)
        if view is not None:
            self._release(view)

    def has_table(self, name: str) -> bool:
        return self._exists_here(name) or name.lower() in self._views["main"]

    def columns(self, name: str) -> list[str]:
        if not self.has_table(name):
            raise SparkEngineError(f"table {name}: not found")
        return list(self.spark.table(self._resolve(name)).columns)

    def register_arrow(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self.last_statement = f"CREATE TABLE {name} AS SELECT 1"
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()  # createDataFrame takes a whole table (the driver holds it anyway)
        self._register(name, self.spark.createDataFrame(_sparkable(table)), materialise=True)

    def write_parquet(self, name: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        """One Parquet file at `path`, whatever the size.

        Up to `collect_max_rows` rows the table is collected as Arrow and written by pyarrow (one
        pass, no temporary files). Above, Spark writes its parts in parallel to a temporary folder
        next to `path` and pyarrow streams their row groups into one file (memory: one row group);
        on a cluster `path` must then be on a file system the driver and executors share.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        df = self.spark.table(self._resolve(name))
        meta = {k.encode(): str(v).encode() for k, v in (metadata or {}).items()}
        if df.count() <= self.collect_max_rows:
            table = _like_duckdb(df.toArrow())
            pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), path)
            return
        parts = path.parent / f".{path.name}.parts-{uuid.uuid4().hex}"
        try:
            df.write.parquet(str(parts))
            files = sorted(parts.glob("part-*.parquet"))
            schema = _like_duckdb(df.limit(0).toArrow()).schema.with_metadata(meta)
            with pq.ParquetWriter(path, schema) as writer:
                for f in files:
                    pf = pq.ParquetFile(f)
                    for i in range(pf.num_row_groups):
                        writer.write_table(_like_duckdb(pf.read_row_group(i)).cast(schema))
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    def read_parquet(self, name: str, path: Path) -> None:
        self._register(name, self.spark.read.parquet(Path(path).as_posix()), materialise=True)

    # -- reading a force's extracts (ingest) -------------------------------------------------------
    # Parsing is delegated to an in-memory DuckDB and the result loaded into Spark, so that both
    # engines accept and reject exactly the same rows and render every value as the same text. The
    # cost: each extract passes through the driver's memory once (one force's extract is well
    # within that; for many forces, run ingest per force and read its Parquet output instead).
    def scan_csv(self, name: str, path: Path, columns: list[str], select_sql: str | None = None) -> pa.Table:
        from hiddennet.engine.duckdb_engine import DuckDBEngine

        with DuckDBEngine() as duck:
            rejects = duck.scan_csv("__scan", path, columns, select_sql)
            self.register_arrow(name, duck.fetch_arrow("SELECT * FROM __scan ORDER BY __row"))
        return rejects

    def scan_parquet(self, name: str, path: Path) -> list[str]:
        from hiddennet.engine.duckdb_engine import DuckDBEngine

        with DuckDBEngine() as duck:
            names = duck.scan_parquet("__scan", path)
            self.register_arrow(name, duck.fetch_arrow("SELECT * FROM __scan ORDER BY __row"))
        return names

    # -- per-group graph work ----------------------------------------------------------------------
    def map_groups(
        self, name: str, select_sql: str, group_col: str, fn: GroupFn, schema: pa.Schema, *, costly: bool = False
    ) -> None:
        """groupBy(group_col) then `fn` once per group in the Python workers, as Arrow.

        Spark 4 has `applyInArrow` (Arrow in, Arrow out: no pandas round trip, so integer columns
        with NULLs keep their type); with Spark 3.5 we fall back to `applyInPandas` and convert.
        `costly` changes nothing here: Spark already runs the groups as tasks over its executors.
        """
        self.last_statement = f"CREATE TABLE {name} AS {select_sql}"
        from pyspark.sql.pandas.types import from_arrow_schema

        _ship_by_value(fn)
        df = self._query(select_sql)
        spark_schema = from_arrow_schema(_sparkable_schema(schema))
        grouped = df.groupBy(group_col)
        if hasattr(grouped, "applyInArrow"):
            result = grouped.applyInArrow(_arrow_group_fn(fn, schema), schema=spark_schema)
        else:  # pragma: no cover - Spark 3.5
            result = grouped.applyInPandas(_PandasGroupFn(fn, schema), schema=spark_schema)
        self._register(name, result, materialise=True)

    # -- scratch namespaces ------------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        previous = self._namespace
        self._views.setdefault(name, {})
        self._namespace = name
        try:
            yield
        finally:
            self._namespace = previous


def _arrow_group_fn(fn: GroupFn, schema: pa.Schema):
    """The per-group function as Spark's Python workers call it: Arrow in, Arrow out.

    A plain function with type hints: pyspark picks the Arrow-table flavour of applyInArrow from them.
    """

    def per_group(table: pa.Table) -> pa.Table:
        from hiddennet.engine.threads import one_blas_thread

        one_blas_thread()  # a Python worker per core already (engine/threads.py)
        return fn(_like_duckdb(table)).cast(schema)

    return per_group


class _PandasGroupFn:  # pragma: no cover - Spark 3.5 only
    def __init__(self, fn: GroupFn, schema: pa.Schema):
        self.fn = fn
        self.schema = schema

    def __call__(self, frame):
        from hiddennet.engine.threads import one_blas_thread

        one_blas_thread()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return self.fn(_like_duckdb(table)).cast(self.schema).to_pandas()


def _ship_by_value(fn) -> None:
    """Python workers import hiddennet's own modules; a function defined elsewhere (a test, a
    notebook) is sent with its module's code instead, since the workers may not be able to import it."""
    while isinstance(fn, functools.partial):  # the module of the function inside, not functools
        fn = fn.func
    module = getattr(fn, "__module__", None) or ""
    if module == "__main__" or module == "hiddennet" or module.startswith("hiddennet."):
        return
    mod = sys.modules.get(module)
    if mod is not None:
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(mod)


def _unpersist(df: DataFrame) -> None:
    with suppress(Exception):  # freeing memory is best effort
        df.unpersist(blocking=False)


def _duck_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type DuckDB would hand out for the same column (Spark prefers large variants;
    DuckDB marks every field nullable)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t) or pa.types.is_list_view(t):
        return pa.list_(pa.field(t.value_field.name, _duck_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _duck_type(f.type)) for f in t])
    return t


def _like_duckdb(table: pa.Table) -> pa.Table:
    target = pa.schema([pa.field(f.name, _duck_type(f.type)) for f in table.schema],
                       metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)


def _spark_type(t: pa.DataType) -> pa.DataType:
    """A type Spark can take from Arrow (no null or dictionary columns, no unsigned integers)."""
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_dictionary(t):
        return _spark_type(t.value_type)
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(_spark_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _spark_type(f.type)) for f in t])
    return t


def _sparkable_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _spark_type(f.type), f.nullable) for f in schema])


def _sparkable(table: pa.Table) -> pa.Table:
    target = _sparkable_schema(table.schema)
    return table if target.equals(table.schema) else table.cast(target)
