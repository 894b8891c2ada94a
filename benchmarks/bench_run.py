"""A whole run, every stage with the stability reruns on: this tree against a baseline commit, on the
same force, in one command.

    .venv/bin/python benchmarks/bench_run.py [--scale 1] [--seed 1] [--repeat 3] [--baseline cf15ede]
                                             [--memory-limit 600MB] [--file]

Generates a dirty force in a temporary folder, then runs `hiddennet run` on it in a fresh process per
run: the baseline commit's code (its `hiddennet` package extracted with git archive into
benchmarks/data, on this tree's environment), this tree with its defaults, and with `--memory-limit`
and `--file` this tree also with that `duckdb_memory_limit` and with `duckdb_database = "file"`. The
modes take turns, `--repeat` rounds of one run each, so a slow spell of the machine falls on all of
them; each round starts with a fixed CPU loop (pure Python, one core) whose time shows how fast the
machine was then.

Per run: wall time, CPU seconds of the whole machine over the run (the run's worker processes are
not its children, so only the machine's counters see all of them; meaningful on an idle machine),
the peak RSS of its largest process, and its stage times. Per mode the median of the rounds, its
ratio to the baseline's median, and which published Parquet files differ from the baseline's (the
tables must be byte-identical but for the changes the closing notes name).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_ingest import baseline_tree  # noqa: E402

# Runs `hiddennet` with the given package on the path and prints the peak RSS of its largest process.
_RUNNER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run([sys.executable, '-m', 'hiddennet', *sys.argv[1:]], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def _machine_cpu() -> float:
    """User + nice + system seconds of every core since boot (/proc/stat, in clock ticks)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    return sum(int(x) for x in fields) / os.sysconf("SC_CLK_TCK")


def calibration() -> float:
    """Seconds of a fixed pure-Python loop on one core: the machine's speed at that moment."""
    t0 = time.perf_counter()
    s = 0
    for i in range(10_000_000):
        s += i
    return time.perf_counter() - t0


def one_run(tree: Path, inp: Path, out: Path, config: dict[str, str]) -> dict:
    conf = out.with_suffix(".toml")
    conf.write_text("".join(f'{k} = "{v}"\n' for k, v in config.items()))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cpu0, t0 = _machine_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUNNER, "run", str(inp), "--out", str(out), "--config", str(conf)],
                          check=True, capture_output=True, text=True, cwd=out.parent, env=env)
    wall, cpu = time.perf_counter() - t0, _machine_cpu() - cpu0
    stages = json.loads((out / "manifest.json").read_text())["stage_seconds"]
    return {"wall": wall, "machine_cpu": cpu, "peak_mb": int(done.stdout.split()[-1]) / 1024, "stages": stages}


def differing_tables(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in (a / "tables").glob("*.parquet")} | {p.name for p in (b / "tables").glob("*.parquet")})
    return [n for n in names if not ((a / "tables" / n).exists() and (b / "tables" / n).exists()
                                     and (a / "tables" / n).read_bytes() == (b / "tables" / n).read_bytes())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", default="cf15ede", help="commit whose run is the baseline (default: cf15ede, "
                    "before the speed work of issue 21)")
    ap.add_argument("--memory-limit", default=None, help="also this tree with this duckdb_memory_limit")
    ap.add_argument("--file", action="store_true", help='also this tree with duckdb_database = "file"')
    args = ap.parse_args()
    modes: list[tuple[str, Path, dict[str, str]]] = [
        (f"baseline {args.baseline}", baseline_tree(args.baseline), {}), ("this tree", ROOT, {})]
    if args.memory_limit:
        modes.append((f"this tree, limit {args.memory_limit}", ROOT, {"duckdb_memory_limit": args.memory_limit}))
    if args.file:
        modes.append(("this tree, file database", ROOT, {"duckdb_database": "file"}))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in modes}
    with tempfile.TemporaryDirectory(prefix="hiddennet-bench-run-") as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "hiddennet", "generate", str(work / "in"), "--scale", str(args.scale),
                        "--seed", str(args.seed), "--dirty"], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        calibrations = []
        for rnd in range(args.repeat):
            calibrations.append(calibration())
            for i, (name, tree, config) in enumerate(modes):
                out = work / f"out-{i}-{rnd}"
                r = one_run(tree, work / "in", out, config)
                r["differs_from_baseline"] = differing_tables(work / f"out-0-{rnd}", out)
                runs[name].append(r)
                print(f"round {rnd + 1}  {name:34s} wall {r['wall']:6.2f} s  machine cpu {r['machine_cpu']:6.2f} s  "
                      f"peak {r['peak_mb']:6.0f} MB", flush=True)
        print(f"\ncalibration loop (10M additions, one core): {', '.join(f'{c:.2f}' for c in calibrations)} s")
        base = statistics.median(r["wall"] for r in runs[modes[0][0]])
        for name, _, _ in modes:
            rs = runs[name]
            wall = statistics.median(r["wall"] for r in rs)
            print(f"{name:34s} median wall {wall:6.2f} s (ratio to baseline {wall / base:.2f})  "
                  f"machine cpu {statistics.median(r['machine_cpu'] for r in rs):6.2f} s  "
                  f"peak {max(r['peak_mb'] for r in rs):6.0f} MB  "
                  f"tables differing from the baseline: {', '.join(rs[-1]['differs_from_baseline']) or 'none'}")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        print(json.dumps({"scale": args.scale, "seed": args.seed, "calibration": calibrations, "runs": runs},
                         default=str))


if __name__ == "__main__":
    main()
