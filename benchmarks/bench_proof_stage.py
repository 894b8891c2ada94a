"""The dismantle stage on a generated force's own groups: no bounds, cheap bounds, the default, the
integer program on every group with a gap, in one run.

    .venv/bin/python benchmarks/bench_proof_stage.py [--scale 0.05] [--seed 1] [--configs none cheap default all]
    .venv/bin/python benchmarks/bench_proof_stage.py --input /tmp/hd1   # a force generated before

Generates the force (or reads --input), runs ingest..harm once (in-memory DuckDB), then
`dismantle.run` once per configuration:
- `none`: no lower bound at all (the stage before issue 21's proof; `with_proof` patched out);
- `cheap`: the cheap bounds only (`dismantle_proof_seconds = 0`);
- `default`: the settings' defaults (cheap bounds, then the integer program on the
  `dismantle_proof_groups` most harmful groups left with a gap);
- `all`: the integer program on every group left with a gap (30 s per group, no stage limit).
Prints wall and CPU seconds (this process; with --workers 1, the default, the per-group work runs
in it, so that is all of the stage's CPU), each as a ratio to the first configuration, and the proof
facts. The machine is shared: quote CPU seconds with the load average.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hiddennet import dismantle, harm, ingest, layers, network, safeguard, select  # noqa: E402
from hiddennet.engine.duckdb_engine import DuckDBEngine  # noqa: E402
from hiddennet.generate import generate_force  # noqa: E402
from hiddennet.settings import Settings  # noqa: E402

CONFIGS = {
    "none": {"dismantle_proof_seconds": 0.0},
    "cheap": {"dismantle_proof_seconds": 0.0},
    "default": {},
    "all": {"dismantle_proof_seconds": 30.0, "dismantle_proof_groups": 1_000_000,
            "dismantle_proof_stage_seconds": 86_400.0},
}
KEYS = ("groups_dismantled", "groups_heuristic", "groups_exact", "groups_optimal", "groups_with_gap", "largest_gap",
        "removals_above_lower_bounds", "groups_given_to_ilp", "groups_solved_by_ilp", "steps")


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def _run(e, s: Settings, name: str) -> tuple[float, float, dict]:
    saved = dismantle.with_proof
    if name == "none":
        dismantle.with_proof = lambda p, res, seconds: res  # no bound at all: lower_bound NULL
    try:
        t, c = time.perf_counter(), _cpu()
        facts = dismantle.run(e, s.model_copy(update=CONFIGS[name])).facts
        return time.perf_counter() - t, _cpu() - c, facts
    finally:
        dismantle.with_proof = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--input", type=Path, default=None, help="a generated force's directory (skips generating)")
    ap.add_argument("--workers", type=int, default=1,
                    help="the engine's group workers (1: all work in this process, so its CPU time is all of it)")
    ap.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["none", "cheap", "default", "all"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hiddennet-bench-proof-") as tmp:
        data = args.input
        if data is None:
            data = Path(tmp) / "input"
            generate_force(data, scale=args.scale, seed=args.seed)
        with DuckDBEngine(group_workers=args.workers) as e:
            e.execute("SET enable_progress_bar = false")
            s = Settings()
            s = s.model_copy(update={"as_of": ingest.run(e, s, data).facts["as_of"]})
            for stage in (select, layers, network, safeguard, harm):
                stage.run(e, s)
            first = None
            for name in args.configs:
                load0 = _load()
                wall, cpu, facts = _run(e, s, name)
                first = first or (wall, cpu)
                print(f"{name}: dismantle {wall:.2f} s wall ({wall / first[0]:.2f}x the first), {cpu:.2f} s CPU "
                      f"({cpu / first[1]:.2f}x); load {load0}-{_load()}; "
                      + ", ".join(f"{k} {facts[k]}" for k in KEYS), flush=True)


if __name__ == "__main__":
    main()
