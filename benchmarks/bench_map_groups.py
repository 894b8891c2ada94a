"""Peak memory of DuckDB's map_groups: the old whole-table fetch against the streaming one, same run.

    .venv/bin/python benchmarks/bench_map_groups.py [--rows 3000000] [--groups 100000]

Each path runs in its own child process (so each peak RSS is its own) over the same generated
table (`rows` rows of 5 columns in `groups` groups, made in DuckDB, under the same DuckDB memory
limit), with a light per-group function (rows and integer sum per group). Prints both peaks, the time of each, their ratios, and whether the two
outputs are identical.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

OUT = pa.schema([("g", pa.int64()), ("rows", pa.int64()), ("total", pa.int64())])


def per_group(batch: pa.Table) -> pa.Table:
    out = batch.group_by("g").aggregate([("x", "count"), ("x", "sum")]).sort_by("g")
    return pa.table({"g": out.column("g"), "rows": out.column("x_count"), "total": out.column("x_sum")}, schema=OUT)


def old_map_groups(engine, name, select_sql, group_col, fn, schema) -> None:
    """The implementation before issue 21: the whole sorted input and all results in Python."""
    data = engine.fetch_arrow(f"SELECT * FROM ({select_sql}) ORDER BY {group_col}")
    keys = data.column(group_col)
    change = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    cuts = [i + 1 for i in pc.indices_nonzero(change).to_pylist()] + [data.num_rows]
    parts, start = [], 0
    for c in cuts:
        if c - start >= 500_000 or c == data.num_rows:
            parts.append(fn(data.slice(start, c - start)).cast(schema))
            start = c
    engine.register_arrow(name, pa.concat_tables(parts))


def child(path: str, rows: int, groups: int, limit: str, queue) -> None:
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    with DuckDBEngine(group_workers=1, memory_limit=limit) as e:
        e.execute("SET enable_progress_bar = false")
        e.execute(f"""CREATE TABLE input AS SELECT (i * 7919) % {groups} AS g, (i * 31) % 1000 AS x, 'nominal-' || i AS a,
                      i AS b, i * 0.5 AS c FROM range({rows}) t(i)""")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        if path == "old":
            old_map_groups(e, "out", "SELECT * FROM input", "g", per_group, OUT)
        else:
            e.map_groups("out", "SELECT * FROM input", "g", per_group, OUT)
        secs = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        digest = e.fetch_rows("SELECT count(*), sum(rows), sum(hash(g, rows, total)) FROM out")[0]
    queue.put((base / 1024, peak / 1024, secs, digest))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--memory-limit", default="256MB", help="DuckDB's memory limit in both children")
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    out = {}
    for path in ("old", "new"):
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(path, args.rows, args.groups, args.memory_limit, q))
        p.start()
        out[path] = q.get()
        p.join()
        base, peak, secs, _ = out[path]
        print(f"{path}: peak RSS {peak:.0f} MB (after the input was made: {base:.0f} MB), map_groups {secs:.2f} s")
    (_, po, so, do), (_, pn, sn, dn) = out["old"], out["new"]
    print(f"peak RSS new / old: {pn / po:.2f}; time new / old: {sn / so:.2f}; identical outputs: {do == dn}")


if __name__ == "__main__":
    main()
