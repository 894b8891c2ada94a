"""Entity resolution (issue 17): precision and recall of the merges against the planted duplicates,
and the resolve step's time against the select stage's in the same run.

    .venv/bin/python benchmarks/bench_resolve.py --scale 1 --duplicates 0.05 [--engine duckdb|spark]

Generates a force with duplicates (hiddennet generate --duplicates), runs the whole pipeline with
`resolve` on, and compares `nominal_map` with planted_truth/duplicates.csv pairwise: a predicted pair
is two source ids given one canonical id; a true pair is two ids of one planted person. Prints the
figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hiddennet.generate import generate_force  # noqa: E402
from hiddennet.pipeline import run_pipeline  # noqa: E402
from hiddennet.settings import Settings  # noqa: E402


def _pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(a, b) for ids in groups.values() for a, b in itertools.combinations(sorted(ids), 2)}


def pairwise_scores(nominal_map: Path, truth_csv: Path) -> dict:
    """Pairwise precision and recall of nominal_map's merges against the planted clusters.

    A true pair is two ids of one planted person (the original record and its 1-2 duplicates, whatever the
    systems: two records of one person in one system count as in two). A predicted pair is two source ids
    given one canonical id. `records_only` leaves out the prison ids known only to the crosswalk (joined by
    rule, not by finding the person), and `missed_by_change` counts the missed true pairs by the planted change
    of the duplicate (a pair of two duplicates counts under both)."""
    m = pq.read_table(nominal_map, columns=["source_id", "canonical_id"]).to_pydict()
    predicted: dict[str, list[str]] = {}
    for s, c in zip(m["source_id"], m["canonical_id"], strict=True):
        predicted.setdefault(c, []).append(s)
    truth: dict[str, list[str]] = {}
    how: dict[str, str] = {}
    with truth_csv.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth.setdefault(row["cluster_id"], []).append(row["nominal_id"])
            how[row["nominal_id"]] = row["how"]
    p, t = _pairs(predicted), _pairs(truth)
    out = _score(p, t)
    rule_only = {i for i, h in how.items() if h == "crosswalk_only"}
    out["records_only"] = _score({x for x in p if not set(x) & rule_only}, {x for x in t if not set(x) & rule_only})
    missed: dict[str, int] = {}
    for pair in sorted(t - p):
        for i in pair:
            if how[i] != "original":
                missed[how[i]] = missed.get(how[i], 0) + 1
    out["missed_by_change"] = dict(sorted(missed.items(), key=lambda kv: -kv[1]))
    return out


def _score(p: set, t: set) -> dict:
    hit = len(p & t)
    return {"predicted_pairs": len(p), "true_pairs": len(t), "correct_pairs": hit,
            "precision": hit / len(p) if p else 1.0, "recall": hit / len(t) if t else 1.0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duplicates", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the input and the run in")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        t0 = time.perf_counter()
        generate_force(base / "input", scale=args.scale, seed=args.seed, duplicates=args.duplicates)
        print(f"generated scale {args.scale} with duplicates {args.duplicates} in {time.perf_counter() - t0:.1f} s")
        settings = Settings(resolve=True, engine=args.engine)
        t0, cpu0 = time.perf_counter(), time.process_time()
        cpu_marks: dict[str, float] = {}
        stage_cpu: dict[str, float] = {}

        def progress(name: str, what: str, _seconds: float) -> None:
            # Each stage's CPU seconds (this process, every thread), to compare resolve with select in one run.
            if what == "start":
                cpu_marks[name] = time.process_time()
            else:
                stage_cpu[name] = round(time.process_time() - cpu_marks[name], 3)

        result = run_pipeline(base / "input", base / "run", settings, progress)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        facts = result.manifest["stages"]["ingest"]["resolve"]
        seconds = result.manifest["stage_seconds"]
        scores = pairwise_scores(base / "run" / "tables" / "nominal_map.parquet",
                                 base / "input" / "planted_truth" / "duplicates.csv")
        ratio = facts["cpu_seconds"] / stage_cpu["select"] if stage_cpu.get("select") else float("inf")
        print(json.dumps({"scores": scores, "resolve": facts, "stage_seconds": seconds, "stage_cpu_seconds": stage_cpu,
                          "run_wall_s": round(wall, 1),
                          "run_cpu_s": round(cpu, 1)},
                         indent=2))
        print(f"precision {scores['precision']:.4f}  recall {scores['recall']:.4f}  "
              f"resolve CPU {facts['cpu_seconds']:.2f} s vs select CPU {stage_cpu.get('select', 0):.2f} s = {ratio:.2f}x "
              f"(wall {facts['seconds']:.2f} s vs {seconds['select']:.2f} s; ingest CPU without resolve "
              f"{stage_cpu.get('ingest', 0) - facts['cpu_seconds']:.2f} s); run CPU {cpu:.1f} s of {wall:.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
