"""The dismantle stage on a generated force's own groups without and with the proof, in one run.

    .venv/bin/python benchmarks/bench_proof_stage.py [--scale 0.05] [--seed 1] [--budgets 0 0.5 2]

Generates the force, runs ingest..harm once (in-memory DuckDB), then `dismantle.run` once per
`dismantle_proof_seconds` budget; prints each time, its ratio to the first, and the proof facts.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.0, 0.5, 2.0])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hiddennet-bench-proof-") as tmp:
        generate_force(Path(tmp) / "input", scale=args.scale, seed=args.seed)
        with DuckDBEngine() as e:
            e.execute("SET enable_progress_bar = false")
            s = Settings()
            s = s.model_copy(update={"as_of": ingest.run(e, s, Path(tmp) / "input").facts["as_of"]})
            for stage in (select, layers, network, safeguard, harm):
                stage.run(e, s)
            first = None
            for budget in args.budgets:
                t = time.perf_counter()
                facts = dismantle.run(e, s.model_copy(update={"dismantle_proof_seconds": budget})).facts
                secs = time.perf_counter() - t
                first = first or secs
                keys = ("groups_dismantled", "groups_heuristic", "groups_exact", "groups_optimal", "groups_with_gap",
                        "largest_gap", "removals_above_lower_bounds", "groups_solved_by_ilp", "steps")
                print(f"proof budget {budget:g} s: dismantle {secs:.2f} s ({secs / first:.2f}x the first); "
                      + ", ".join(f"{k} {facts[k]}" for k in keys))
    with open("/proc/loadavg") as f:
        print(f"machine load average at the end: {f.read().split()[0]}")


if __name__ == "__main__":
    main()
