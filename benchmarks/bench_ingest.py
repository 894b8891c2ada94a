"""Benchmark of ingest: every check against DuckDB's plain `read_csv` of the same files, and against
the ingest of a baseline commit (before the hardening of issue 12), all in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--scale 1] [--clean] [--threads N] [--repeat 1]
                                                [--baseline 308821b | --no-baseline]

Generates (once; reused from benchmarks/data/, git-ignored) a synthetic force with
`hiddennet.generate.generate_force` (dirty rows planted unless --clean), then, in the same run,
times three methods, each in its own process so that peak memory (max RSS, from
resource.getrusage) belongs to one method, the three interleaved in each repetition:
- plain: `CREATE TABLE <t> AS SELECT * FROM read_csv('<file>', ignore_errors = true)` (auto-detect;
  without ignore_errors the plain reader stops at the first bad row of a dirty force) for every file;
- ingest: `hiddennet.ingest.run` of this tree (parse, type, check, deduplicate, orphans,
  demographics, quarantine);
- baseline: the same call on the tree of commit `--baseline` (default 308821b, the code before the
  hardening), extracted once with `git archive` from this repository's own history into
  benchmarks/data/ (so the command works from a fresh clone), run with this interpreter.
All use an in-memory DuckDB. CPU seconds (user + sys of the process, every thread, around the work
only) are the figure to compare on a shared machine; wall seconds are printed too. Per method the
repetition with the least CPU counts. Prints the ratios ingest / plain (goal: at most 3), baseline /
plain and ingest / baseline (goal: at most 1), and peak memory.
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
if "--tree" not in sys.argv:  # a child measuring another tree puts that one first instead
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


def baseline_tree(commit: str) -> Path:
    """The tree of `commit` (extracted once from this repository's history with git archive)."""
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", commit], check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = DATA / f"baseline-{rev}"
    if not (tree / ".complete").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "hiddennet"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        (tree / ".complete").write_text("ok\n")
    return tree


def _files(folder: Path) -> dict[str, Path]:
    return {p.name.split(".")[0]: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def measure(method: str, folder: Path, threads: int | None) -> dict:
    """Run one method in this process; return seconds, peak memory and rows."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(threads=threads)
    if method != "plain":
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
    ap.add_argument("--baseline", default="308821b", help="commit whose ingest is the baseline (default: "
                    "308821b, before the hardening of issue 12)")
    ap.add_argument("--no-baseline", action="store_true", help="plain read and this tree's ingest only")
    ap.add_argument("--child", choices=["plain", "ingest"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.tree:
            sys.path.insert(0, args.tree)
        print(json.dumps(measure(args.child, Path(args.folder), args.threads)))
        return

    folder = force_dir(args.scale, not args.clean, args.seed)
    size_mb = sum(p.stat().st_size for p in _files(folder).values()) / 1e6
    trees = {"plain": None, "ingest": None}
    if not args.no_baseline:
        trees["baseline"] = baseline_tree(args.baseline)
    results = {}
    for _ in range(args.repeat):
        for method, tree in trees.items():  # interleaved: load changes hit every method alike
            cmd = [sys.executable, __file__, "--child", "plain" if method == "plain" else "ingest",
                   "--folder", str(folder)]
            if tree:
                cmd += ["--tree", str(tree)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            r["method"] = method
            if method not in results or r["cpu_seconds"] < results[method]["cpu_seconds"]:
                results[method] = r
    _report(args, folder, size_mb, results)


def _report(args, folder: Path, size_mb: float, results: dict) -> None:
    plain = results["plain"]
    print(f"force: {folder.name}, {size_mb:.0f} MB in {len(_files(folder))} files, rows {plain['rows']}")
    labels = {"plain": "plain read_csv", "ingest": "ingest (this tree)", "baseline": f"ingest ({args.baseline})"}
    for method, r in results.items():
        extra = ""
        if method != "plain":
            extra = (f"  rejected {r['rows_rejected']}, cleared {r['values_cleared']}, "
                     f"conflicts {r['demographic_conflicts']}")
        print(f"{labels[method]:22}: {r['seconds']:8.2f} s  cpu {r['cpu_seconds']:7.2f} s  "
              f"peak {r['peak_rss_mb']:6.0f} MB{extra}")
    ratios = {}
    pairs = [("ingest", "plain"), ("baseline", "plain"), ("ingest", "baseline")]
    for a, b in pairs:
        if a in results and b in results:
            wall = results[a]["seconds"] / results[b]["seconds"]
            cpu = results[a]["cpu_seconds"] / results[b]["cpu_seconds"]
            ratios[f"{a}/{b}"] = {"wall": round(wall, 2), "cpu": round(cpu, 2)}
            goal = {"plain": "goal <= 3" if a == "ingest" else "", "baseline": "goal <= 1"}[b]
            print(f"ratio {a} / {b}: {wall:.2f} wall, {cpu:.2f} cpu {('(' + goal + ')') if goal else ''}")
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"load average at the end: {load} ({len(__import__('os').sched_getaffinity(0))} cores)")
    print(json.dumps({"scale": args.scale, "dirty": not args.clean, "repeat": args.repeat, "ratios": ratios,
                      "load": load, **results}))


if __name__ == "__main__":
    main()
