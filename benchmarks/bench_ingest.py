"""Benchmark of ingest: every check against DuckDB's plain `read_csv` of the same files.

    .venv/bin/python benchmarks/bench_ingest.py [--scale 1] [--clean] [--threads N] [--repeat 1]

Generates (once; reused from benchmarks/data/, git-ignored) a synthetic force with
`hiddennet.generate.generate_force` (dirty rows planted unless --clean), then, in the same run,
times two methods, each in its own process so that peak memory (max RSS, from
resource.getrusage) belongs to one method:
- plain: `CREATE TABLE <t> AS SELECT * FROM read_csv('<file>', ignore_errors = true)` (auto-detect;
  without ignore_errors the plain reader stops at the first bad row of a dirty force) for every file;
- ingest: `hiddennet.ingest.run` (parse, type, check, deduplicate, orphans, demographics, quarantine).
Both use an in-memory DuckDB. Prints seconds, the ratio ingest / plain (goal: at most 3) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"


def force_dir(scale: float, dirty: bool, seed: int) -> Path:
    folder = DATA / f"ingest-scale-{scale:g}{'-dirty' if dirty else ''}-seed{seed}"
    done = folder / ".complete"
    if not done.exists():
        from hiddennet.generate import generate_force

        t0 = time.perf_counter()
        facts = generate_force(folder, scale=scale, seed=seed, dirty=dirty)
        print(f"generated {folder.name} in {time.perf_counter() - t0:.1f} s: {facts['rows']}", file=sys.stderr)
        done.write_text("ok\n")
    return folder


def _files(folder: Path) -> dict[str, Path]:
    return {p.name.split(".")[0]: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def measure(method: str, folder: Path, threads: int | None) -> dict:
    """Run one method in this process; return seconds, peak memory and rows."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(threads=threads)
    if method == "ingest":
        from hiddennet import ingest
    start = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if method == "plain":
        rows = {}
        for name, path in _files(folder).items():
            # ignore_errors: DuckDB's plain reader stops at the first bad row of a dirty file.
            reader = "read_parquet({})" if path.name.lower().endswith(".parquet") else "read_csv({}, ignore_errors = true)"
            engine.execute(f"CREATE TABLE {name} AS SELECT * FROM " + reader.format(f"'{path.as_posix()}'"))
            rows[name] = engine.count(name)
        extra = {"rows": rows}
    else:
        from hiddennet import ingest
        from hiddennet.settings import Settings

        out = ingest.run(engine, Settings(), folder)
        f = out.facts
        extra = {
            "rows": {t: v["rows_read"] for t, v in f["tables"].items() if v["file"]},
            "accepted": {t: v["accepted"] for t, v in f["tables"].items() if v["file"]},
            "rows_rejected": f["rows_rejected"],
            "values_cleared": f["values_cleared"],
            "demographic_conflicts": f["demographic_conflicts_total"],
            "as_of": str(f["as_of"]),
        }
    seconds = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu = use.ru_utime + use.ru_stime - start.ru_utime - start.ru_stime
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.close()
    return {"method": method, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak_mb, 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clean", action="store_true", help="no planted dirty rows")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: one per core)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per method; the fastest counts")
    ap.add_argument("--child", choices=["plain", "ingest"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, Path(args.folder), args.threads)))
        return

    folder = force_dir(args.scale, not args.clean, args.seed)
    size_mb = sum(p.stat().st_size for p in _files(folder).values()) / 1e6
    results = {}
    for _ in range(args.repeat):
        for method in ("plain", "ingest"):
            cmd = [sys.executable, __file__, "--child", method, "--folder", str(folder)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            if method not in results or r["seconds"] < results[method]["seconds"]:
                results[method] = r
    plain, ing = results["plain"], results["ingest"]
    ratio = ing["seconds"] / plain["seconds"]
    print(f"force: {folder.name}, {size_mb:.0f} MB in {len(_files(folder))} files, rows {plain['rows']}")
    print(f"plain read_csv : {plain['seconds']:8.2f} s  cpu {plain['cpu_seconds']:7.1f} s  peak {plain['peak_rss_mb']:6.0f} MB")
    print(f"ingest         : {ing['seconds']:8.2f} s  cpu {ing['cpu_seconds']:7.1f} s  peak {ing['peak_rss_mb']:6.0f} MB  "
          f"rejected {ing['rows_rejected']}, cleared {ing['values_cleared']}, conflicts {ing['demographic_conflicts']}")
    cpu_ratio = ing["cpu_seconds"] / plain["cpu_seconds"]
    print(f"ratio ingest / plain: {ratio:.2f} wall, {cpu_ratio:.2f} cpu (goal <= 3)")
    print(json.dumps({"scale": args.scale, "dirty": not args.clean, "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2), "plain": plain, "ingest": ing}))


if __name__ == "__main__":
    main()
