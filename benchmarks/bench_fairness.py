"""The fairness stage's stability reruns: one after another (the old path) against worker processes
(the new path), on the same force in the same run, with the fairness tables compared.

    .venv/bin/python benchmarks/bench_fairness.py [--scale 0.25] [--seed 1] [--workers 2]

Generates the force in a temporary folder, runs ingest..dismantle once on an in-memory DuckDB, then
the fairness stage twice: `stability_workers = 1` (13 reruns in the run's database, as before) and
`stability_workers = --workers` (the reruns in worker processes). Prints both times, their ratio,
and whether the two `fairness` tables are identical (they must be).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hiddennet import dismantle, harm, ingest, layers, network, safeguard, select  # noqa: E402
from hiddennet.engine import make_engine  # noqa: E402
from hiddennet.engine.duckdb_engine import DuckDBEngine  # noqa: E402
from hiddennet.generate import generate_force  # noqa: E402
from hiddennet.pipeline import rerun_priority  # noqa: E402
from hiddennet.safeguard import fairness  # noqa: E402
from hiddennet.settings import Settings  # noqa: E402


def prepared(engine, folder: Path, settings: Settings) -> Settings:
    """ingest..dismantle on `engine`; the settings with the resolved as_of."""
    facts = ingest.run(engine, settings, folder).facts
    settings = settings.model_copy(update={"as_of": facts["as_of"]})
    for stage in (select, layers, network, safeguard, harm, dismantle):
        stage.run(engine, settings)
    return settings


def both_paths(engine, settings: Settings, workers: int) -> tuple[float, float, bool]:
    """Seconds of the fairness stage one after another, then in `workers` processes; same table?"""
    out, secs = [], []
    for w, stages in ((1, None), (workers, rerun_priority)):
        s = settings.model_copy(update={"stability_workers": w})
        t = time.perf_counter()
        fairness.run(engine, s, rerun=lambda v, scope, s=s: rerun_priority(engine, s, v, scope), rerun_stages=stages,
                     engine_factory=make_engine)
        secs.append(time.perf_counter() - t)
        out.append(engine.fetch_arrow("SELECT * FROM fairness"))
    return secs[0], secs[1], out[0].equals(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"# bench_fairness {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, scale {args.scale}, seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix="hiddennet-bench-fairness-") as tmp:
        generate_force(Path(tmp) / "input", scale=args.scale, seed=args.seed)
        with DuckDBEngine() as engine:
            t = time.perf_counter()
            settings = prepared(engine, Path(tmp) / "input", Settings())
            print(f"ingest..dismantle: {time.perf_counter() - t:.1f} s")
            old, new, same = both_paths(engine, settings, args.workers)
    print(f"fairness stage, reruns one after another: {old:.1f} s")
    print(f"fairness stage, reruns in {args.workers} worker processes: {new:.1f} s")
    print(f"ratio old / new: {old / new:.2f}x; fairness tables identical: {same}")
    with open("/proc/loadavg") as f:
        print(f"machine load average at the end: {f.read().split()[0]}")


if __name__ == "__main__":
    main()
