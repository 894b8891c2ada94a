"""Time the whole pipeline on DuckDB and on Spark (local mode) over the same generated force.

    .venv/bin/python benchmarks/bench_engines.py --scales 1 4 --cores 2

For each scale the force is generated once (seed fixed), then `run_pipeline` runs on each engine
in a fresh subprocess (so one engine's memory or JVM does not weigh on the other), and the wall
time, per-stage timings, the Spark/DuckDB ratio and the peak memory are printed (Markdown tables
on stdout, progress on stderr). Spark runs with `spark.master = local[<cores>]` and DuckDB with
`duckdb_threads = <cores>`, so both get the same cores.

Peak memory is the largest resident set (RSS) of the child's whole process tree (Python, and for
Spark the JVM and its Python workers), sampled every 0.2 s from /proc (Linux; "n/a" elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
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


def _pss(pid: int) -> int:
    """Proportional set size: pages shared by the processes (the worker processes' libraries) count
    once over them, so a tree's sum is the memory it really holds; 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_rss(root: int) -> tuple[int, int, int] | None:
    """(resident bytes of `root` and all its descendants, of the largest single one of them, the
    tree's proportional set size) from Linux /proc; None when unavailable."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(d.name))
            rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    total, largest, pss, todo = 0, 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        pss += _pss(pid)
        todo.extend(children.get(pid, []))
    return total, largest, pss


def run_measured(args: list[str], label: str, interval: float = 0.2, watch=None, timeline: list | None = None) -> dict:
    """Run a child Python (`python -c ...`) that prints a JSON object on its last line of stdout.

    Returns that object with `wall` (seconds, interpreter start included), `peak_mb` (largest RSS
    of the child's process tree, its worker processes included, sampled every `interval` s; None
    without /proc), `process_peak_mb` (the largest of any one process of the tree), `pss_peak_mb` (the
tree's proportional set size: shared pages counted once) and, when `watch`
    (a function returning bytes) is given, `watch_peak` (its largest value at a sample). `timeline`,
    when given, gets (time.time(), tree bytes, largest process bytes, tree PSS bytes) at every sample.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak: dict = {"rss": 0, "one": 0, "pss": 0, "watch": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            if peak["rss"] is not None:
                rss = _tree_rss(proc.pid)
                peak["rss"] = None if rss is None else max(peak["rss"], rss[0])
                peak["one"] = 0 if rss is None else max(peak["one"], rss[1])
                peak["pss"] = 0 if rss is None else max(peak["pss"], rss[2])
                if timeline is not None and rss is not None:
                    timeline.append((time.time(), *rss))
            if watch is not None:
                peak["watch"] = max(peak["watch"], watch())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{label} failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["wall"] = wall
    result["peak_mb"] = None if peak["rss"] is None else peak["rss"] / 2**20
    result["process_peak_mb"] = None if peak["rss"] is None else peak["one"] / 2**20
    result["pss_peak_mb"] = None if peak["rss"] is None else peak["pss"] / 2**20
    if watch is not None:
        result["watch_peak"] = peak["watch"]
    return result


def _run(force: Path, out: Path, engine: str, cores: int, stability: bool) -> dict:
    # Wall time includes interpreter start and, for Spark, starting the JVM.
    return run_measured(
        [_CHILD, str(force), str(out), engine, str(cores), "1" if stability else "0"], f"{engine} run"
    )


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

    print("| scale | engine | pipeline s | wall s (incl. start-up) | peak RSS MB |")
    print("|---|---|---|---|---|")
    for scale, results in rows:
        for engine, r in results.items():
            peak = "n/a" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
            print(f"| {scale:g} | {engine} | {r['seconds']:.1f} | {r['wall']:.1f} | {peak} |")
        if "duckdb" in results and "spark" in results:
            ratio = results["spark"]["seconds"] / results["duckdb"]["seconds"]
            print(f"| {scale:g} | spark / duckdb | {ratio:.1f}x | | |")
    print()
    for scale, results in rows:
        engines = list(results)
        stages = list(dict.fromkeys(k for r in results.values() for k in r["timings"]))
        head = " | ".join(f"{e} s" for e in engines)
        ratio = " spark / duckdb |" if {"duckdb", "spark"} <= set(results) else ""
        print(f"| scale {scale:g}: stage | {head} |{ratio}")
        print("|---|" + "---|" * len(engines) + ("---|" if ratio else ""))
        for st in [*stages, "total"]:
            vals = [r["seconds"] if st == "total" else r["timings"].get(st) for r in results.values()]
            cells = " | ".join("" if v is None else f"{v:.1f}" for v in vals)
            extra = ""
            if ratio:
                d = results["duckdb"]["seconds"] if st == "total" else results["duckdb"]["timings"].get(st)
                sp = results["spark"]["seconds"] if st == "total" else results["spark"]["timings"].get(st)
                extra = f" {sp / d:.1f}x |" if d and sp is not None else " |"
            print(f"| {st} | {cells} |{extra}")
        print()

if __name__ == "__main__":
    main()
