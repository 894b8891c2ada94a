"""A whole run, every stage with the stability reruns on: the working tables in memory (the default)
against in the run's database file from the start (the way before), on the same force in one command.

    .venv/bin/python benchmarks/bench_run.py [--scale 1] [--seed 1] [--memory-limit 600MB]

Generates a dirty force in a temporary folder, then runs `hiddennet run` on it once per mode in a fresh
process (`duckdb_database = "file"`, then `"memory"`, then `"memory"` with `--memory-limit` when given)
and prints each run's wall time, CPU seconds (the process and its waited-for children), peak RSS of the
largest process, the stage times of its manifest, the ratio to the file run, and whether the published
Parquet files are byte-identical to the file run's (they must be).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "hiddennet"]


def one_run(inp: Path, out: Path, config: dict[str, str]) -> dict:
    conf = out.with_suffix(".toml")
    conf.write_text("".join(f'{k} = "{v}"\n' for k, v in config.items()))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([*CLI, "run", str(inp), "--out", str(out), "--config", str(conf)], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages = json.loads((out / "manifest.json").read_text())["stage_seconds"]
    # ru_maxrss of children is the largest child so far: runs go from least to most memory here.
    return {"wall": wall, "cpu": cpu, "peak_mb": after.ru_maxrss / 1024, "stages": stages}


def same_tables(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "tables").glob("*.parquet"))
    return bool(names) and names == sorted(p.name for p in (b / "tables").glob("*.parquet")) and all(
        (a / "tables" / n).read_bytes() == (b / "tables" / n).read_bytes() for n in names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-limit", default=None, help="also a memory run with this duckdb_memory_limit")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hiddennet-bench-run-") as tmp:
        work = Path(tmp)
        subprocess.run([*CLI, "generate", str(work / "in"), "--scale", str(args.scale), "--seed", str(args.seed),
                        "--dirty"], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        modes = [("file", {"duckdb_database": "file"})]
        if args.memory_limit:
            modes.append((f"memory, limit {args.memory_limit}",
                          {"duckdb_database": "memory", "duckdb_memory_limit": args.memory_limit}))
        modes.append(("memory", {"duckdb_database": "memory"}))
        results = {}
        for i, (name, config) in enumerate(modes):
            out = work / f"out{i}"
            results[name] = r = one_run(work / "in", out, config)
            r["same_tables_as_file"] = same_tables(work / "out0", out)
            print(f"{name:24s} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  peak {r['peak_mb']:7.0f} MB  "
                  f"ratio to file {r['wall'] / results['file']['wall']:.2f}  same tables {r['same_tables_as_file']}",
                  flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        print(json.dumps({"scale": args.scale, "seed": args.seed, "runs": results}, default=str))


if __name__ == "__main__":
    main()
