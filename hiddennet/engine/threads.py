"""Threads: one BLAS thread for the per-group work; independent statements side by side.

The per-group functions (dismantling's Fiedler vectors, gnd.py) solve many small eigenproblems,
where OpenBLAS's thread pool costs more than it gains; and the engines already run that work one
process per core. With a BLAS pool of two threads in each of two workers on two cores, the
dismantling of a scale-1 force took 7.0 s instead of 4.1 s (13.3 CPU seconds instead of 7.8:
benchmarks/RESULTS.md section 13). threadpoolctl sets the limit in the loaded BLAS library itself,
so it holds whatever imported numpy first and whatever the environment says.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

_limited = False


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def one_blas_thread() -> None:
    """For a worker process (a pool's initializer, Spark's Python worker): set once, for good."""
    global _limited
    if not _limited:
        threadpool_limits(limits=1, user_api="blas")
        _limited = True


_libc: Any = None


def release_free_memory() -> None:
    """glibc's malloc_trim(0): free pages inside the heap and its arenas go back to the system.
    Nothing elsewhere (another C library, not Linux)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def blas_limited() -> Any:
    """For per-group work in this process: one thread while it runs, then as before."""
    return threadpool_limits(limits=1, user_api="blas")


def side_by_side(engine: Any, items: Sequence[T], fn: Callable[[Any, T], R], threads: int) -> list[R] | None:
    """`fn(twin, item)` for every item, in `threads` threads, each on its own sibling of `engine`
    (DuckDB: a cursor on the same database; Engine.sibling), taking the next item in order as it
    finishes one. Returns the results in item order; None, with nothing run, when fewer than two
    siblings can be had (the caller then runs the items one after another).

    The items must be independent. A failure stops the taking of new items; the error raised is the
    one of the first item (in order) that failed, which is the one a run one after another meets,
    since every item before it was taken, and so finished, first.
    """
    twins: list[Any] = []
    for _ in range(min(threads, len(items))):
        twin = engine.sibling()
        if twin is None:
            break
        twins.append(twin)
    try:
        if len(twins) < 2:
            return None
        results: list[Any] = [None] * len(items)
        errors: dict[int, BaseException] = {}
        lock = threading.Lock()
        todo = iter(range(len(items)))

        def work(twin: Any) -> None:
            while True:
                with lock:
                    i = None if errors else next(todo, None)
                if i is None:
                    return
                try:
                    results[i] = fn(twin, items[i])
                except BaseException as e:  # re-raised in the caller's thread, below
                    with lock:
                        errors[i] = e
                    return

        with ThreadPoolExecutor(max_workers=len(twins)) as pool:
            for future in [pool.submit(work, t) for t in twins]:
                future.result()
        if errors:
            raise errors[min(errors)]
        return results
    finally:
        for twin in twins:
            twin.close()
