"""The country's data on one machine: a whole DuckDB run at scale 40 under memory limits.

    .venv/bin/python benchmarks/bench_country.py --scale 40 --limits 16GB 4GB --workdir /work/country

The force at `--scale` (40: about the forty forces of England and Wales) is generated once (kept in
the work folder and reused), then `run_pipeline` runs on DuckDB once per memory limit, each in a
fresh subprocess with its own spill folder. The baseline is a scale-1 run with the same settings,
made in the same command, so the growth figure compares like with like: time at scale 40 should be
no more than 50x time at scale 1 (1.25 x the growth of the data).

Printed (Markdown on stdout, progress on stderr), per run: pipeline seconds and the ratio to the
baseline, seconds per stage (from the run's manifest), peak memory (the largest resident set of the
run's process tree, its worker processes included, sampled every second from /proc), the most disk
DuckDB spilled at once (size of the spill folder, sampled with the memory) and the size of the run's
database and published tables, and the peak memory of the large run stage by stage: the tree, its
largest process, its PSS, and the run's own process split into DuckDB's tracked memory
(`duckdb_memory()`) and the rest (Python, Arrow, what DuckDB does not track), both sampled inside the
run every 0.2 s. Outputs are deleted after each run unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engines import run_measured  # noqa: E402  (same folder: a child run, its peak memory)

_CHILD = r"""
import json, sys, threading, time
from pathlib import Path
from hiddennet.engine import duckdb_engine
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings
force, out, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
events = []
# The run's own process, sampled here each 0.2 s: DuckDB's tracked memory (duckdb_memory()) and the
# rest of the process's RSS (Python, Arrow, untracked allocations), peak of each per stage.
engines, stage, split = [], ["start"], {}
made = duckdb_engine.DuckDBEngine.__init__
def _init(self, *a, **k):
    made(self, *a, **k)
    engines.append(self)
duckdb_engine.DuckDBEngine.__init__ = _init
def _sample():
    cursor = None
    while True:
        if cursor is None and engines:
            cursor = engines[0].con.cursor()
        rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
        tracked = 0.0
        if cursor is not None:
            try:
                tracked = cursor.execute("SELECT sum(memory_usage_bytes) / 2**20 FROM duckdb_memory()").fetchall()[0][0] or 0.0
            except Exception:
                pass  # the database is closing
        p = split.setdefault(stage[0], [0.0, 0.0])
        p[0], p[1] = max(p[0], tracked), max(p[1], rss - tracked)
        time.sleep(0.2)
threading.Thread(target=_sample, daemon=True).start()
def _event(name, what, _s):
    events.append((name, what, time.time()))
    stage[0] = name if what == "start" else "publish"
t0 = time.perf_counter()
result = run_pipeline(Path(force), Path(out), Settings(engine="duckdb", **overrides), _event)
seconds = time.perf_counter() - t0
m = result.manifest
print(json.dumps({"seconds": seconds, "timings": m.get("stage_seconds", {}), "events": events,
                  "groups": m.get("stages", {}).get("network", {}).get("groups"), "duckdb_split": split}))
"""


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                continue  # DuckDB removed the file while we looked
    return total


def _run(force: Path, out: Path, spill: Path, overrides: dict) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    overrides = {**overrides, "duckdb_temp_directory": str(spill)}
    timeline: list = []
    result = run_measured(
        [_CHILD, str(force), str(out), json.dumps(overrides)], f"run with {overrides}", interval=1.0,
        watch=lambda: _du(spill), timeline=timeline,
    )
    result["stage_peaks"] = _stage_peaks(result.pop("events"), timeline)
    # Publishing (sorted Parquet writes, input checksums) has no stage timing of its own.
    result["timings"]["publish"] = round(result["seconds"] - sum(result["timings"].values()), 3)
    result["peak_mb"] = result["peak_mb"] or 0.0
    result["process_peak_mb"] = result["process_peak_mb"] or 0.0
    result["pss_peak_mb"] = result["pss_peak_mb"] or 0.0
    result["spill_mb"] = result.pop("watch_peak") / 2**20
    database = out / "hiddennet.duckdb"
    result["database_mb"] = database.stat().st_size / 2**20 if database.exists() else 0.0
    result["out_mb"] = _du(out) / 2**20
    shutil.rmtree(spill, ignore_errors=True)
    return result


def _stage_peaks(events: list, timeline: list) -> dict:
    """{stage: [peak tree MB, peak largest-process MB, peak tree PSS MB]} from the memory samples taken while it ran
    ("start" of the pipeline: before the first stage; "publish": after the last, with the database copy)."""
    spans, start, last = [], None, None
    for stage, what, at in events:
        if what == "start":
            start = (stage, at)
        elif start is not None and start[0] == stage:
            spans.append((stage, start[1], at))
            last = at
    peaks: dict = {}

    def stage_at(t: float) -> str:
        if not spans or t < spans[0][1]:
            return "start"
        if last is not None and t >= last:
            return "publish"
        return [s for s, a, _b in spans if a <= t][-1]  # between two stages: the one before

    for t, *mem in timeline:
        p = peaks.setdefault(stage_at(t), [0.0, 0.0, 0.0])
        p[:] = [max(a, b / 2**20) for a, b in zip(p, mem, strict=True)]
    return peaks


def _force(work: Path, scale: float, seed: int) -> Path:
    from hiddennet.generate import generate_force

    force = work / f"force-{scale:g}"
    if not (force / "crimes.csv").exists():
        print(f"generating scale {scale:g} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        generate_force(force, scale=scale, seed=seed)
        print(f"  generated in {time.perf_counter() - t0:.0f}s, {_du(force) / 2**30:.1f} GB", file=sys.stderr)
    return force


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=40.0)
    ap.add_argument("--baseline-scale", type=float, default=1.0)
    ap.add_argument("--limits", nargs="+", default=["16GB", "4GB"], help="DuckDB memory limits, one run each")
    ap.add_argument("--no-stability", nargs="*", default=None, metavar="LIMIT",
                    help="runs (by limit; none named: all) without the stability reruns of the fairness stage")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="duckdb_threads (default: one per core)")
    ap.add_argument("--workdir", type=Path, default=Path("benchmarks/data/country"))
    ap.add_argument("--keep", action="store_true", help="keep each run's outputs")
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}", file=sys.stderr)
    big = _force(args.workdir, args.scale, args.seed)
    small = _force(args.workdir, args.baseline_scale, args.seed)
    rows = []
    for limit in args.limits:
        stability = not (args.no_stability is not None and (not args.no_stability or limit in args.no_stability))
        overrides = {"duckdb_memory_limit": limit, "stability_checks": stability}
        if args.threads:
            overrides["duckdb_threads"] = args.threads
        runs = {}
        for scale, force in ((args.baseline_scale, small), (args.scale, big)):
            print(f"scale {scale:g}, memory limit {limit}, stability {'on' if stability else 'off'} ...",
                  file=sys.stderr, flush=True)
            out = args.workdir / f"out-{scale:g}-{limit}"
            runs[scale] = _run(force, out, args.workdir / f"spill-{scale:g}-{limit}", overrides)
            r = runs[scale]
            print(f"  {r['seconds']:.0f}s, peak {r['peak_mb']:.0f} MB (largest process {r['process_peak_mb']:.0f} MB), "
                  f"spilled at most {r['spill_mb']:.0f} MB",
                  file=sys.stderr, flush=True)
            # Each run's figures at once: an interrupted command keeps those of its finished runs.
            print(f"  {json.dumps(r)}", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
        rows.append((limit, stability, runs))

    growth = args.scale / args.baseline_scale
    goal = 1.25 * growth
    print(f"| memory limit | stability reruns | scale | pipeline s | / scale {args.baseline_scale:g} (goal <= {goal:g}x) "
          "| peak RSS MB (process tree) | largest process MB | tree PSS MB | most spilled MB | database MB | published + database MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for limit, stability, runs in rows:
        base = runs[args.baseline_scale]["seconds"]
        for scale, r in runs.items():
            ratio = f"{r['seconds'] / base:.1f}x" if scale != args.baseline_scale else ""
            print(f"| {limit} | {'on' if stability else 'off'} | {scale:g} | {r['seconds']:.0f} | {ratio} | "
                  f"{r['peak_mb']:,.0f} | {r['process_peak_mb']:,.0f} | {r['pss_peak_mb']:,.0f} | {r['spill_mb']:,.0f} | {r['database_mb']:,.0f} | {r['out_mb']:,.0f} |")
    print()
    for limit, stability, runs in rows:
        stages = list(dict.fromkeys(k for r in runs.values() for k in r["timings"]))
        print(f"| {limit}, stability {'on' if stability else 'off'}: stage | scale {args.baseline_scale:g} s | "
              f"scale {args.scale:g} s | ratio |")
        print("|---|---|---|---|")
        small_t, big_t = runs[args.baseline_scale]["timings"], runs[args.scale]["timings"]
        for st in stages:
            a, b = small_t.get(st), big_t.get(st)
            ratio = f"{b / a:.1f}x" if a and b is not None else ""
            print(f"| {st} | {'' if a is None else f'{a:.1f}'} | {'' if b is None else f'{b:.1f}'} | {ratio} |")
        print()
        split = runs[args.scale].get("duckdb_split", {})
        print(f"| {limit}, scale {args.scale:g}: stage | peak RSS MB, process tree | largest process MB | tree PSS MB "
              "| the run's process: DuckDB tracked MB | the rest of it MB |")
        print("|---|---|---|---|---|---|")
        for st, (tree, one, pss) in runs[args.scale]["stage_peaks"].items():
            duck, rest = split.get(st, (0.0, 0.0))
            print(f"| {st} | {tree:,.0f} | {one:,.0f} | {pss:,.0f} | {duck:,.0f} | {rest:,.0f} |")
        print()


if __name__ == "__main__":
    main()
