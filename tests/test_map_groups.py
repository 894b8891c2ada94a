"""DuckDB's map_groups streams batches of whole groups and appends each result: bounded batches,
the same rows as one call on the whole input, inside a scope too."""

from __future__ import annotations

from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.engine import duckdb_engine
from hiddennet.engine.duckdb_engine import DuckDBEngine, _whole_group_ranges

OUT = pa.schema([("g", pa.string()), ("rows", pa.int64()), ("total", pa.int64())])


def per_group(batch: pa.Table, seen: list | None = None) -> pa.Table:
    """Rows and sum of x per group (order-free), and the batch size when asked."""
    if seen is not None:
        seen.append((batch.num_rows, sorted(set(batch.column("g").to_pylist()))))
    out = batch.group_by("g").aggregate([("x", "count"), ("x", "sum")]).sort_by("g")
    return pa.table({"g": out.column("g"), "rows": out.column("x_count"), "total": out.column("x_sum")}, schema=OUT)


def test_ranges_by_hand():
    """Groups of 3, 1, 4, 1, 5 rows, size 4: [1..2] (4 rows), [3] (4), [4..5] (6, the last group)."""
    assert _whole_group_ranges([3, 1, 4, 1, 5], 4) == [(1, 2), (3, 3), (4, 5)]
    assert _whole_group_ranges([], 4) == []
    assert _whole_group_ranges([9], 4) == [(1, 1)]


def test_batches_hold_whole_groups_and_stay_bounded(monkeypatch):
    """40 groups of 1-9 rows (seeded), batches of about 10 rows: each batch is at most 10 + 8 rows (it
    ends at the group that reaches 10), no group is split over two batches, and the stored result
    equals one call on the whole input."""
    import random

    rng = random.Random(3)
    g, x = [], []
    for i in range(40):
        for _ in range(rng.randint(1, 9)):
            g.append(f"G{i:02d}")
            x.append(rng.randint(0, 100))
    data = pa.table({"g": g, "x": pa.array(x, pa.int64())})
    monkeypatch.setattr(duckdb_engine, "_BATCH_ROWS", 10)
    seen: list = []
    with DuckDBEngine(group_workers=1) as e:
        e.register_arrow("input", data)
        e.map_groups("out", "SELECT * FROM input", "g", partial(per_group, seen=seen), OUT)
        got = e.fetch_arrow("SELECT * FROM out ORDER BY g")
    assert len(seen) > 3 and all(n <= 18 for n, _ in seen)
    groups = [gg for _, gs in seen for gg in gs]
    assert len(groups) == len(set(groups)) == 40
    assert got.equals(per_group(data))


def test_empty_input_and_scope():
    """No rows: an empty table with the declared columns. In a scope, the result goes to the scope
    and the input is read through the fallback to the main namespace."""
    with DuckDBEngine() as e:
        e.register_arrow("input", pa.table({"g": pa.array([], pa.string()), "x": pa.array([], pa.int64())}))
        e.map_groups("out", "SELECT * FROM input", "g", per_group, OUT)
        assert e.count("out") == 0 and e.columns("out") == ["g", "rows", "total"]
        e.register_arrow("input", pa.table({"g": ["a", "b", "a"], "x": pa.array([1, 2, 3], pa.int64())}))
        with e.scope("scratch"):
            e.map_groups("out", "SELECT * FROM input", "g", per_group, OUT)
            assert e.fetch_rows("SELECT * FROM out ORDER BY g") == [("a", 2, 4), ("b", 1, 2)]
        assert e.count("out") == 0  # the main table is untouched


def test_workers_stream_the_same_rows(monkeypatch):
    """Two worker processes, batches of about 50 rows over 300 groups: the same stored rows, in the
    same order, as the main process (results are appended in batch order)."""
    g = [f"G{i % 300:03d}" for i in range(2000)]
    data = pa.table({"g": g, "x": pa.array(range(2000), pa.int64())})
    monkeypatch.setattr(duckdb_engine, "_BATCH_ROWS", 50)
    out = []
    for workers, min_rows in ((1, 10**9), (2, 0)):
        monkeypatch.setattr(duckdb_engine, "_POOL_MIN_ROWS", min_rows)
        with DuckDBEngine(group_workers=workers) as e:
            e.register_arrow("input", data)
            e.map_groups("out", "SELECT * FROM input", "g", per_group, OUT)
            out.append(e.fetch_arrow("SELECT * FROM out"))
    assert out[0].equals(out[1]) and pc.sum(out[0].column("rows")).as_py() == 2000


def test_rows_without_a_group_key_are_not_dropped(monkeypatch):
    """Groups a (2 rows), b (1) and 2 rows with a NULL key, batches of 1 row: the NULL rows come as a
    batch of their own and their result is stored (never a silent drop)."""
    monkeypatch.setattr(duckdb_engine, "_BATCH_ROWS", 1)
    with DuckDBEngine(group_workers=1) as e:
        x = pa.array([1, 2, 3, 4, 5], pa.int64())
        e.register_arrow("input", pa.table({"g": ["a", None, "b", "a", None], "x": x}))
        e.map_groups("out", "SELECT * FROM input", "g", per_group, OUT)
        assert e.fetch_rows("SELECT * FROM out ORDER BY g NULLS LAST") == [("a", 2, 5), ("b", 1, 3), (None, 2, 7)]


def costly_group(batch: pa.Table, seen: str) -> pa.Table:
    """per_group, noting the worker process and the groups of each batch in a file."""
    import os

    with open(seen, "a") as f:
        f.write(f"{os.getpid()} {','.join(sorted(set(batch.column('g').to_pylist())))}\n")
    return per_group(batch)


def test_costly_groups_go_to_the_workers_one_group_a_batch(tmp_path):
    """6 groups of 2 rows, far under the pool's row minimum: with `costly` and two workers every batch
    holds one group, the batches run outside the main process, and the rows equal the main process's."""
    data = pa.table({"g": [f"G{i % 6}" for i in range(12)], "x": pa.array(range(12), pa.int64())})
    out = []
    for workers in (1, 2):
        seen = tmp_path / f"seen{workers}.txt"
        with DuckDBEngine(group_workers=workers) as e:
            e.register_arrow("input", data)
            e.map_groups("out", "SELECT * FROM input", "g", partial(costly_group, seen=str(seen)), OUT, costly=True)
            out.append(e.fetch_arrow("SELECT * FROM out"))
        lines = [ln.split() for ln in seen.read_text().splitlines()]
        if workers == 2:
            import os

            assert len(lines) == 6 and all("," not in gs for _, gs in lines)
            assert all(int(pid) != os.getpid() for pid, _ in lines)
        else:
            assert len(lines) == 1  # one batch in the main process: costly changes nothing there
    assert out[0].equals(out[1]) and out[0].num_rows == 6


def _slow_first(batch: pa.Table) -> pa.Table:
    """Batch 0 sleeps long enough for the others to finish behind it; each returns its number."""
    import time

    k = batch.column("k")[0].as_py()
    if k == 0:
        time.sleep(1.5)
    return pa.table({"k": [k]})


def _pulled(batches: list[pa.Table], log: list[int]):
    for i, b in enumerate(batches):
        log.append(i)
        yield b


def test_a_slow_batch_does_not_idle_the_other_workers(monkeypatch):
    """Ten one-row batches, the first slow: by the time its result is given back, every batch has
    been handed to the pool (the old fixed window of 2 x workers stopped at four), and results
    still come back in batch order. Under a window of no rows, the pool holds 2 x workers batches."""
    batches = [pa.table({"k": [i]}) for i in range(10)]
    log: list[int] = []
    parts = duckdb_engine._map_in_processes(_slow_first, _pulled(batches, log), 2)
    first = next(parts)
    assert first.column("k").to_pylist() == [0] and len(log) == 10
    assert [p.column("k")[0].as_py() for p in parts] == list(range(1, 10))
    monkeypatch.setattr(duckdb_engine, "_WINDOW_ROWS", 0)
    log.clear()
    parts = duckdb_engine._map_in_processes(_slow_first, _pulled(batches, log), 2)
    next(parts)
    assert len(log) <= 2 * 2 + 1
    assert [p.column("k")[0].as_py() for p in parts] == list(range(1, 10))


def test_the_worker_processes_are_kept_for_the_engines_life(tmp_path):
    """Two pooled calls on one engine run in the same worker processes (started once), a sibling
    uses the engine's (threads side by side start no second pool), and closing the engine ends them."""
    data = pa.table({"g": [f"G{i % 4}" for i in range(8)], "x": pa.array(range(8), pa.int64())})
    pids = []
    e = DuckDBEngine(group_workers=2)
    try:
        e.register_arrow("input", data)
        for k in range(2):
            seen = tmp_path / f"seen{k}.txt"
            e.map_groups(f"out{k}", "SELECT * FROM input", "g", partial(costly_group, seen=str(seen)), OUT, costly=True)
            pids.append({ln.split()[0] for ln in seen.read_text().splitlines()})
        pool = e._pool
        # Two workers in all: a pool per call would have started two more for the second.
        assert pool is not None and len(pids[0] | pids[1]) <= 2
        twin = e.sibling()
        assert twin is not None and twin._workers() is pool
        twin.close()
        assert e._pool is pool  # a sibling's close leaves the engine's workers alone
    finally:
        e.close()
    assert e._pool is None
    import pytest

    with pytest.raises(RuntimeError):
        pool.submit(len, [])  # shut down: no new work


def sized_group(batch: pa.Table, seen: str) -> pa.Table:
    """per_group, noting each batch's rows in a file (the batch runs in a worker process)."""
    with open(seen, "a") as f:
        f.write(f"{batch.num_rows}\n")
    return per_group(batch)


def test_worker_batches_are_capped(tmp_path, monkeypatch):
    """A worker's memory follows its batch, so pooled batches stop at _WORKER_BATCH_ROWS rows (up to
    the group that reaches it) however large the input: 60 groups of 1-3 rows under a cap of 5 give
    batches of at most 5 + 2 rows, more of them than the 2 x 8 the input alone would make, and the
    same rows as one call on the whole input."""
    import random

    rng = random.Random(5)
    g = [f"G{i:02d}" for i in range(60) for _ in range(rng.randint(1, 3))]
    data = pa.table({"g": g, "x": pa.array(range(len(g)), pa.int64())})
    monkeypatch.setattr(duckdb_engine, "_POOL_MIN_ROWS", 0)
    monkeypatch.setattr(duckdb_engine, "_WORKER_BATCH_ROWS", 5)
    seen = tmp_path / "seen.txt"
    with DuckDBEngine(group_workers=2) as e:
        e.register_arrow("input", data)
        e.map_groups("out", "SELECT * FROM input", "g", partial(sized_group, seen=str(seen)), OUT)
        got = e.fetch_arrow("SELECT * FROM out ORDER BY g")
    sizes = [int(n) for n in seen.read_text().split()]
    assert sum(sizes) == len(g) and max(sizes) <= 7 and len(sizes) > 16
    assert got.equals(per_group(data))


def test_under_a_memory_limit_freed_memory_goes_back():
    """With duckdb_memory_limit set, DuckDB's allocator returns freed query memory (flush thresholds,
    background threads), on the engine and on its siblings; without a limit, DuckDB's defaults."""
    def allocator(e: DuckDBEngine) -> dict:
        return dict(e.fetch_rows("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'allocator%'"))

    with DuckDBEngine(memory_limit="1GB") as e:
        twin = e.sibling()
        assert twin is not None
        for got in (allocator(e), allocator(twin)):
            assert got["allocator_background_threads"] == "true"
            assert got["allocator_flush_threshold"] in ("16MB", "16.0 MiB", "15.2 MiB")
        twin.close()
    with DuckDBEngine() as e:
        assert allocator(e)["allocator_background_threads"] == "false"


def _fails(batch: pa.Table) -> pa.Table:
    raise ValueError("boom")


def test_a_worker_batch_hands_back_free_memory_after_it_runs(monkeypatch):
    """_batch_then_trim returns the batch's result and trims the C heap afterwards, also when the
    batch fails (its error unchanged)."""
    import pytest

    calls: list[int] = []
    monkeypatch.setattr(duckdb_engine, "release_free_memory", lambda: calls.append(1))
    data = pa.table({"g": ["a", "a", "b"], "x": pa.array([1, 2, 3], pa.int64())})
    assert duckdb_engine._batch_then_trim(per_group, data).equals(per_group(data))
    with pytest.raises(ValueError, match="boom"):
        duckdb_engine._batch_then_trim(_fails, data)
    assert calls == [1, 1]
    from hiddennet.engine.threads import release_free_memory

    release_free_memory()  # the real call, twice: loads libc once, never raises
    release_free_memory()


_HUGE_NOW = {"now": 0, "most": 0}


def huge_counting(batch: pa.Table, lock) -> pa.Table:
    """per_group, counting how many batches holding a group of over 5 rows run at once."""
    import time

    huge = max(batch.group_by("g").aggregate([("x", "count")]).column("x_count").to_pylist()) > 5
    if huge:
        with lock:
            _HUGE_NOW["now"] += 1
            _HUGE_NOW["most"] = max(_HUGE_NOW["most"], _HUGE_NOW["now"])
        time.sleep(0.2)  # long enough for the other thread's huge group to overlap, were it allowed to
        with lock:
            _HUGE_NOW["now"] -= 1
    return per_group(batch)


def test_huge_groups_go_one_at_a_time_across_siblings(monkeypatch):
    """Two siblings map side by side (the stability reruns do), each input with two groups of over
    _HUGE_GROUP_ROWS rows among small ones: a huge group never runs beside another, the small ones
    run as before, and each result is the one call on the whole input."""
    import threading

    monkeypatch.setattr(duckdb_engine, "_BATCH_ROWS", 4)
    monkeypatch.setattr(duckdb_engine, "_HUGE_GROUP_ROWS", 5)
    g = [f"H{i}" for i in (1, 2) for _ in range(8)] + [f"S{i}" for i in range(10) for _ in range(2)]
    data = pa.table({"g": g, "x": pa.array(range(len(g)), pa.int64())})
    lock = threading.Lock()
    results: dict[int, pa.Table] = {}
    with DuckDBEngine(group_workers=1) as e:
        e.register_arrow("input", data)
        twins = [e.sibling(), e.sibling()]

        def one(i: int) -> None:
            twins[i].map_groups(f"out{i}", "SELECT * FROM input", "g", partial(huge_counting, lock=lock), OUT)
            results[i] = twins[i].fetch_arrow(f"SELECT * FROM out{i} ORDER BY g")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for twin in twins:
            assert twin is not None
            twin.close()
    assert _HUGE_NOW["most"] == 1
    assert results[0].equals(per_group(data)) and results[1].equals(per_group(data))


PIDS = pa.schema([("g", pa.string()), ("pid", pa.int64())])


def group_pid(batch: pa.Table) -> pa.Table:
    """The process each group of a batch ran in."""
    import os

    groups = sorted(set(batch.column("g").to_pylist()))
    return pa.table({"g": groups, "pid": [os.getpid()] * len(groups)}, schema=PIDS)


def test_a_huge_group_runs_in_a_worker_and_keeps_batch_order(monkeypatch):
    """Groups a, m, z of 2, 8 (over _HUGE_GROUP_ROWS) and 2 rows, two workers: the huge group runs in a
    worker, also when it is the only batch (the run's process holds the database: a group that size
    never beside it), and the results keep batch order (a, m, z). Without a huge group a single batch
    runs here, as before."""
    import os

    monkeypatch.setattr(duckdb_engine, "_BATCH_ROWS", 3)
    monkeypatch.setattr(duckdb_engine, "_POOL_MIN_ROWS", 0)
    monkeypatch.setattr(duckdb_engine, "_HUGE_GROUP_ROWS", 5)
    g = ["a"] * 2 + ["m"] * 8 + ["z"] * 2
    with DuckDBEngine(group_workers=2) as e:
        e.register_arrow("input", pa.table({"g": g, "x": pa.array(range(len(g)), pa.int64())}))
        e.map_groups("out", "SELECT * FROM input", "g", group_pid, PIDS)
        rows = e.fetch_rows("SELECT * FROM out")
        e.map_groups("alone", "SELECT * FROM input WHERE g = 'm'", "g", group_pid, PIDS)
        (alone,) = e.fetch_rows("SELECT * FROM alone")
        e.map_groups("small", "SELECT * FROM input WHERE g = 'a'", "g", group_pid, PIDS)
        (small,) = e.fetch_rows("SELECT * FROM small")
    assert [r[0] for r in rows] == ["a", "m", "z"]
    assert dict(rows)["m"] != os.getpid() and alone[1] != os.getpid()
    assert small[1] == os.getpid()
