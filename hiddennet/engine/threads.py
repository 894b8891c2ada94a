"""One BLAS thread for the per-group work.

The per-group functions (dismantling's Fiedler vectors, gnd.py) solve many small eigenproblems,
where OpenBLAS's thread pool costs more than it gains; and the engines already run that work one
process per core. With a BLAS pool of two threads in each of two workers on two cores, the
dismantling of a scale-1 force took 7.0 s instead of 4.1 s (13.3 CPU seconds instead of 7.8:
benchmarks/RESULTS.md section 13). threadpoolctl sets the limit in the loaded BLAS library itself,
so it holds whatever imported numpy first and whatever the environment says.
"""

from __future__ import annotations

from typing import Any

from threadpoolctl import threadpool_limits

_limited = False


def one_blas_thread() -> None:
    """For a worker process (a pool's initializer, Spark's Python worker): set once, for good."""
    global _limited
    if not _limited:
        threadpool_limits(limits=1, user_api="blas")
        _limited = True


def blas_limited() -> Any:
    """For per-group work in this process: one thread while it runs, then as before."""
    return threadpool_limits(limits=1, user_api="blas")
