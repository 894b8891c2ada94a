"""Time the whole pipeline on DuckDB and on Spark (local mode) over the same generated force.

    .venv/bin/python benchmarks/bench_engines.py --scales 1 4 --cores 2

For each scale the force is generated once (seed fixed), then `run_pipeline` runs on each engine
in a fresh subprocess (so one engine's memory or JVM does not weigh on the other), and the wall
time, per-stage timings and the Spark/DuckDB ratio are printed (Markdown table on stdout,
progress on stderr). Spark runs with `spark.master = local[<cores>]` and DuckDB with
`duckdb_threads = <cores>`, so both get the same cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings
force, out, engine, cores, stability = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
if engine == "spark":
    s = Settings(engine="spark", stability_checks=stability, spark={"spark.master": f"local[{cores}]"})
else:
    s = Settings(engine="duckdb", stability_checks=stability, duckdb_threads=cores)
t0 = time.perf_counter()
result = run_pipeline(Path(force), Path(out), s)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "timings": result.manifest.get("stage_seconds", {})}))
"""


def _run(force: Path, out: Path, engine: str, cores: int, stability: bool) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(force), str(out), engine, str(cores), "1" if stability else "0"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{engine} run failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Wall time includes interpreter start and, for Spark, starting the JVM.
    result["wall"] = wall
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    ap.add_argument("--no-stability", action="store_true", help="skip the stability reruns (stability_checks=false)")
    ap.add_argument("--workdir", type=Path, default=None, help="where forces and outputs go (default: a temp folder)")
    args = ap.parse_args(argv)

    from hiddennet.generate import generate_force

    work = args.workdir or Path(tempfile.mkdtemp(prefix="hiddennet-bench-"))
    print(f"# machine: {platform.machine()}, {args.cores} cores for each engine, python {platform.python_version()}", file=sys.stderr)
    rows = []
    for scale in args.scales:
        force = work / f"force-{scale:g}"
        if not (force / "crimes.csv").exists() and not any(force.glob("crimes.*")):
            t0 = time.perf_counter()
            generate_force(force, scale=scale, seed=args.seed)
            print(f"generated scale {scale:g} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        results = {}
        for engine in args.engines:
            print(f"scale {scale:g}: {engine} ...", file=sys.stderr, flush=True)
            results[engine] = _run(force, work / f"out-{scale:g}-{engine}", engine, args.cores, not args.no_stability)
            print(f"  {results[engine]['seconds']:.1f}s pipeline, {results[engine]['wall']:.1f}s wall", file=sys.stderr)
        rows.append((scale, results))

    print("| scale | engine | pipeline s | wall s (incl. start-up) | slowest stages |")
    print("|---|---|---|---|---|")
    for scale, results in rows:
        for engine, r in results.items():
            slow = sorted(r["timings"].items(), key=lambda kv: -kv[1])[:3]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in slow)
            print(f"| {scale:g} | {engine} | {r['seconds']:.1f} | {r['wall']:.1f} | {stages} |")
        if "duckdb" in results and "spark" in results:
            ratio = results["spark"]["seconds"] / results["duckdb"]["seconds"]
            print(f"| {scale:g} | spark / duckdb | {ratio:.2f}x | | |")


if __name__ == "__main__":
    main()
