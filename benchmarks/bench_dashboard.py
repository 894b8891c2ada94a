"""Benchmark of the dashboard in a real browser: is the largest group page of a generated run
interactive (graph drawn, first node clickable) in under 2 s?

    .venv/bin/python benchmarks/bench_dashboard.py [--scale 1] [--repeat 5] [--run DIR] [--workdir DIR]

Makes a run (`hiddennet generate --scale S --seed 1` then `hiddennet run`, under --workdir; or
uses --run DIR, an existing run folder), serves it with uvicorn on 127.0.0.1 (a free port) as
`hiddennet serve` wires it, signs in with the token form in Debian's Chromium (Playwright,
`/usr/bin/chromium`), then times, --repeat times each, in a fresh page:
- `overview` (baseline): navigation to the overview page until its `load` event;
- `group`: navigation to the largest group's page until the graph is drawn (`#cy[data-ready]`),
  then a mouse click on the first node until the page shows it selected (interactive);
- `network`: the same on the person-centred view of that group's first member.
Prints the medians, the ratio of each to the baseline measured in the same run, and whether the
group page met the 2 s goal. Only generated data; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

GOAL_SECONDS = 2.0


def make_run(scale: float, workdir: Path) -> Path:
    inp, out = workdir / "input", workdir / "out"
    if not (out / "manifest.json").exists():
        hn = str(ROOT / ".venv" / "bin" / "hiddennet")
        subprocess.run([hn, "generate", str(inp), "--scale", str(scale), "--seed", "1"], check=True)
        subprocess.run([hn, "run", str(inp), "--out", str(out)], check=True)
    return out


def largest_group(run: Path) -> tuple[str, int, str]:
    import pyarrow.parquet as pq

    g = pq.read_table(run / "tables" / "groups.parquet", columns=["group_id", "size"]).to_pandas()
    top = g.sort_values(["size", "group_id"], ascending=[False, True]).iloc[0]
    n = pq.read_table(run / "tables" / "nominals.parquet", columns=["nominal_id", "group_id"]).to_pandas()
    first = min(n[n["group_id"] == top["group_id"]]["nominal_id"])
    return str(top["group_id"]), int(top["size"]), str(first)


def time_overview(context, base: str) -> float:
    page = context.new_page()
    t = time.perf_counter()
    page.goto(base + "/", wait_until="load")
    s = time.perf_counter() - t
    page.close()
    return s


def time_interactive(context, url: str) -> float:
    """Navigation start to: graph drawn and the first node, clicked with the mouse, selected."""
    page = context.new_page()
    t = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#cy[data-ready='1']", timeout=60_000)
    page.locator("#cy").scroll_into_view_if_needed()
    box = page.locator("#cy").bounding_box()
    pos = page.evaluate(
        "(() => { const n = window.hiddennetGraph.nodes()[0]; const p = n.renderedPosition();"
        " return {id: n.id(), x: p.x, y: p.y}; })()"
    )
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    page.wait_for_selector(f"#cy[data-selected='{pos['id']}']", state="attached", timeout=60_000)
    s = time.perf_counter() - t
    page.close()
    return s


def measure(run: Path, repeat: int) -> dict:
    from browser_helpers import launch, served
    from playwright.sync_api import sync_playwright

    from hiddennet.serve import hash_token
    from hiddennet.serve.context import id_path

    gid, size, member = largest_group(run)
    users = [{"name": "bench", "role": "intelligence_officer", "token_sha256": hash_token("bench-token")}]
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"
    times: dict[str, list[float]] = {"overview": [], "group": [], "network": []}
    with served(run, users, audit) as base, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("input[name=token]", "bench-token")
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        page.close()
        time_interactive(context, f"{base}/groups/{id_path(gid)}")  # warm: the run's tables read once
        time_interactive(context, f"{base}/network/{id_path(member)}")
        for _ in range(repeat):
            times["overview"].append(time_overview(context, base))
            times["group"].append(time_interactive(context, f"{base}/groups/{id_path(gid)}"))
            times["network"].append(time_interactive(context, f"{base}/network/{id_path(member)}"))
        browser.close()
    return {"group_id": gid, "size": size, "times": times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run", type=Path, help="an existing run folder (skips generate + run)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "data" / "dashboard")
    a = ap.parse_args()
    t0 = time.perf_counter()
    run = a.run or make_run(a.scale, a.workdir / f"scale-{a.scale:g}")
    made = time.perf_counter() - t0
    r = measure(run, a.repeat)
    med = {k: statistics.median(v) for k, v in r["times"].items()}
    load = os.getloadavg()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"run: {run} (made or found in {made:.1f} s); largest group {r['group_id']} with {r['size']} members")
    for k, v in r["times"].items():
        print(f"{k:9s} median {med[k]:.3f} s  (min {min(v):.3f}, max {max(v):.3f}, n={len(v)})")
    print(f"group page interactive / overview load: {med['group'] / med['overview']:.2f}x")
    print(f"network view interactive / overview load: {med['network'] / med['overview']:.2f}x")
    print(f"goal (largest group interactive < {GOAL_SECONDS} s): {'met' if med['group'] < GOAL_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
