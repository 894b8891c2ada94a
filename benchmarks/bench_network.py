"""Benchmark of the layers and network stages, DuckDB + NetworKit against pandas + networkx.

    .venv/bin/python benchmarks/bench_network.py [--scales 1 10] [--baseline-scales 1]

For each scale: make the input tables of the layers stage (hiddennet.generate + ingest + select
when all three exist, else the synthetic generator below, which writes the typed tables of
docs/tables.md directly), saved as Parquet under benchmarks/data/network-scale-<s>/. Then, each in
its own process so that peak memory (max RSS) belongs to one method:
- `hiddennet`: each layer's SQL timed on its own, then `layers.run` and `network.run` as the
  pipeline calls them, then components and centrality timed on their own;
- `baseline`: the same steps in pandas + networkx (layers in pandas, components with
  networkx, per-group degree and betweenness with networkx on the very groups hiddennet made;
  the Leiden split is not redone: networkx has no Leiden).
Prints per-layer times and pair counts, peak memory, the ratios, and checks that both give the
same number of components. No real data: every value is random.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"
AS_OF = dt.date(2021, 12, 31)
TABLES = ("full_table", "final_table", "intel_logs", "intel_nominals", "custody_cells", "soc_nominals", "soc_edges")


# -- data ------------------------------------------------------------------------------------------
def _own_tables(scale: float, seed: int) -> dict:
    """Typed layer inputs for one force x scale: 80k full-table rows, 29k final-table rows,
    500k intelligence logs naming ~2M nominals, 150k custody stays, a SOC network of 5k nominals."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    s = scale
    n_seed, n_pop = int(55_000 * s), int(400_000 * s)
    ids = np.char.add("N", np.arange(n_pop).astype(str))
    start = np.datetime64("2011-01-01")
    span = (np.datetime64(AS_OF.isoformat()) - start).astype(int)

    def days(n):
        return start + rng.integers(0, span, n).astype("timedelta64[D]")

    n_full = int(80_000 * s)
    full = pa.table({
        "crime_ref": np.char.add("C", rng.integers(0, int(69_000 * s), n_full).astype(str)),
        "offender_id": ids[np.concatenate([np.arange(n_seed), rng.integers(0, n_seed, n_full - n_seed)])],
        "victim_id": ids[rng.integers(n_seed, n_pop, n_full)],
        "offence_date": days(n_full),
    })
    n_final = int(29_000 * s)
    o1, o2 = rng.integers(0, n_seed, n_final), rng.integers(0, n_seed, n_final)
    keep = o1 != o2
    o1, o2 = o1[keep], o2[keep]
    a, b = np.minimum(o1, o2), np.maximum(o1, o2)
    a_id, b_id = ids[a], ids[b]
    swap = a_id > b_id  # text order, as select writes offender_1 < offender_2
    a_id, b_id = np.where(swap, b_id, a_id), np.where(swap, a_id, b_id)
    d1, d2 = days(len(a)), days(len(a))
    final = pa.table({
        "offender_1": a_id, "offender_2": b_id,
        "crime_ref_1": np.char.add("C", rng.integers(0, int(69_000 * s), len(a)).astype(str)),
        "crime_ref_2": np.char.add("C", rng.integers(0, int(69_000 * s), len(a)).astype(str)),
        "victim_id": ids[rng.integers(n_seed, n_pop, len(a))],
        "offence_date_1": d1, "offence_date_2": d2, "weight": rng.random(len(a)),
    })
    n_logs = int(500_000 * s)
    k = np.minimum(1 + rng.geometric(0.33, n_logs), 30)
    big = rng.random(n_logs) < 0.01
    k[big] = rng.integers(31, 60, big.sum())
    system = np.where(rng.random(n_logs) < 0.7, "3x5x2", "5x5x5")
    src = np.where(system == "3x5x2", rng.choice(["1", "1", "2", "3"], n_logs), rng.choice(list("ABCDE"), n_logs))
    inf = np.where(system == "3x5x2", rng.choice(list("ABCDE"), n_logs), rng.choice(list("12345"), n_logs))
    handling = np.where(system == "3x5x2", rng.choice(["P", "C"], n_logs), rng.choice(list("12345"), n_logs))
    log_ids = np.char.add("L", np.arange(n_logs).astype(str))
    logs = pa.table({"log_id": log_ids, "log_date": days(n_logs), "grading_system": system,
                     "source_grade": src, "information_grade": inf, "handling_code": handling,
                     "source_line": np.arange(n_logs) + 2})
    rows = int(k.sum())
    log_of = np.repeat(np.arange(n_logs), k)
    # First name on half the logs is a seed; the others anyone (seeds are 14% of the population).
    first = np.concatenate([[0], np.cumsum(k)[:-1]])
    who = rng.integers(0, n_pop, rows)
    seeded = rng.random(n_logs) < 0.5
    who[first[seeded]] = rng.integers(0, n_seed, seeded.sum())
    mentions = pa.table({"log_id": log_ids[log_of], "nominal_id": ids[who], "source_line": np.arange(rows) + 2})
    n_stays = int(150_000 * s)
    prisoner = np.where(rng.random(n_stays) < 0.3, rng.integers(0, n_seed, n_stays), rng.integers(n_seed, n_pop, n_stays))
    fr = days(n_stays)
    to = fr + rng.integers(0, 400, n_stays).astype("timedelta64[D]")
    open_ = rng.random(n_stays) < 0.05
    custody = pa.table({
        "nominal_id": ids[prisoner],
        "establishment": np.char.add("HMP", rng.integers(0, int(20 * max(s, 1)), n_stays).astype(str)),
        "cell_id": np.char.add("C", rng.integers(0, 400, n_stays).astype(str)),
        "from_date": fr, "to_date": pa.array(np.where(open_, np.datetime64("NaT"), to).astype("datetime64[D]"), from_pandas=True),
        "source_line": np.arange(n_stays) + 2,
    })
    n_soc = int(5_000 * s)
    soc_members = rng.choice(n_pop, n_soc, replace=False)
    soc_members[: n_soc // 5] = rng.choice(n_seed, n_soc // 5, replace=False)
    soc_nominals = pa.table({"nominal_id": ids[soc_members],
                             "group_id": np.char.add("OCG", rng.integers(0, max(1, n_soc // 20), n_soc).astype(str)),
                             "source_line": np.arange(n_soc) + 2})
    ea, eb = rng.choice(soc_members, int(8_000 * s)), rng.choice(soc_members, int(8_000 * s))
    keep = ea != eb
    soc_edges = pa.table({"nominal_id_a": ids[ea[keep]], "nominal_id_b": ids[eb[keep]],
                          "weight": np.where(rng.random(keep.sum()) < 0.3, np.nan, rng.random(keep.sum()) * 3 + 0.1),
                          "layer": rng.choice(["crime", "intel", "custody"], keep.sum()),
                          "source_line": np.arange(keep.sum()) + 2})
    soc_edges = soc_edges.set_column(2, "weight", pa.array(soc_edges.column("weight").to_numpy(), from_pandas=True))
    return {"full_table": full, "final_table": final, "intel_logs": logs, "intel_nominals": mentions,
            "custody_cells": custody, "soc_nominals": soc_nominals, "soc_edges": soc_edges}


def make_data(scale: float, seed: int = 1) -> tuple[Path, str]:
    """Parquet files of the layer inputs for this scale (made once, reused)."""
    import pyarrow.parquet as pq

    folder = DATA / f"network-scale-{scale:g}"
    marker = folder / "SOURCE"
    if marker.exists():
        return folder, marker.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        from hiddennet import ingest, select  # noqa: F401
        from hiddennet.generate import generate_force  # type: ignore[attr-defined]
    except ImportError:
        generate_force = None
    if generate_force is not None:
        from hiddennet import ingest, select
        from hiddennet.engine.duckdb_engine import DuckDBEngine
        from hiddennet.settings import Settings

        raw = folder / "force"
        generate_force(raw, scale=scale, seed=seed)
        with DuckDBEngine() as e:
            got = ingest.run(e, Settings(as_of=AS_OF), raw)
            as_of = got.facts.get("as_of", AS_OF)
            select.run(e, Settings(as_of=as_of))
            for t in TABLES:
                e.write_parquet(t, folder / f"{t}.parquet")
        source = f"hiddennet.generate + ingest + select (as_of {as_of})"
    else:
        for name, table in _own_tables(scale, seed).items():
            pq.write_table(table, folder / f"{name}.parquet")
        source = "bench_network._own_tables (hiddennet.generate not available)"
    marker.write_text(source + "\n")
    return folder, source


# -- hiddennet -----------------------------------------------------------------------------------
def measure_hiddennet(folder: Path, threads: int | None) -> dict:
    from hiddennet import layers, network
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.settings import Settings

    settings = Settings(as_of=AS_OF)
    out: dict = {"seconds": {}, "pairs": {}}
    with DuckDBEngine(threads=threads) as e:
        for t in TABLES:
            e.read_parquet(t, folder / f"{t}.parquet")

        def timed(key, fn):
            t0 = time.perf_counter()
            r = fn()
            out["seconds"][key] = round(time.perf_counter() - t0, 3)
            return r

        # Each layer on its own (the same SQL layers.run unions), for its time and pair count.
        e.create_table("_layers_seeds", "SELECT DISTINCT offender_id AS nominal_id FROM full_table")
        timed("layer_victim", lambda: e.create_table("_b_victim", layers.victim_sql()))
        timed("layer_intel", lambda: (layers.build_intel(e, settings), e.create_table("_b_intel", layers.intel_sql())))
        timed("layer_custody", lambda: (layers.build_custody(e, settings),
                                        e.create_table("_b_custody", layers.custody_sql(settings))))
        timed("layer_soc", lambda: e.create_table("_b_soc", layers.soc_sql()))
        for name in ("victim", "intel", "custody", "soc"):
            out["pairs"][name] = e.count(f"_b_{name}")
        out["pairs"]["intel_pair_log_rows"] = e.count("_layers_intel_pairs")
        out["pairs"]["intel_nominals_rows"] = e.count("intel_nominals")

        lay = timed("layers.run", lambda: layers.run(e, settings))
        net = timed("network.run", lambda: network.run(e, settings))
        out["seconds"]["stages_total"] = round(out["seconds"]["layers.run"] + out["seconds"]["network.run"], 3)
        out["facts"] = {"layers": lay.facts, "network": net.facts}

        # Components and centrality on their own, on the graph network.run used.
        e.create_table("_b_comb", network.combined_sql(settings))
        timed("components", lambda: network.connected_components(e, "SELECT nominal_a, nominal_b FROM _b_comb", "_b_cc", "_b"))
        out["components"] = int(e.scalar("SELECT count(DISTINCT component_id) FROM _b_cc"))
        sel = """SELECT c.group_id, ma.node_index AS a, mb.node_index AS b, c.weight, g.size AS n
                 FROM combined_edges c JOIN network_nominals ma ON ma.nominal_id = c.nominal_a
                 JOIN network_nominals mb ON mb.nominal_id = c.nominal_b JOIN network_groups g ON g.group_id = c.group_id
                 WHERE c.group_id IS NOT NULL"""
        timed("centrality", lambda: e.map_groups(
            "_b_centrality", sel, "group_id",
            network.centrality_fn(settings.betweenness_exact_max, settings.betweenness_samples, settings.seed),
            network.CENTRALITY_SCHEMA))
        # The groups, for the baseline's centrality on the very same subgraphs.
        e.write_parquet("combined_edges", folder / "_combined_edges.parquet")
        out["groups"] = e.count("network_groups")
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


# -- baseline: pandas + networkx ---------------------------------------------------------------------
def measure_baseline(folder: Path) -> dict:
    import networkx as nx
    import pandas as pd

    out: dict = {"seconds": {}, "pairs": {}}
    t = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    as_of = pd.Timestamp(AS_OF)
    hl = 1825.0

    def timed(key, fn):
        t0 = time.perf_counter()
        r = fn()
        out["seconds"][key] = round(time.perf_counter() - t0, 3)
        return r

    seeds = pd.Index(t["full_table"]["offender_id"].unique())

    def victim():
        return t["final_table"].groupby(["offender_1", "offender_2"], as_index=False)["weight"].sum().rename(
            columns={"offender_1": "a", "offender_2": "b"})

    def intel():
        logs = t["intel_logs"]
        g = logs["source_grade"] + logs["information_grade"]
        ok = ((logs["grading_system"] == "3x5x2") & g.isin(["1A", "1B", "1C"])) | (
            (logs["grading_system"] == "5x5x5") & g.isin([a + b for a in "ABC" for b in "123"]))
        m = t["intel_nominals"][["log_id", "nominal_id"]].drop_duplicates()
        k = m.groupby("log_id").size().rename("k")
        logs = logs[ok & (pd.to_datetime(logs["log_date"]) <= as_of)].join(k, on="log_id")
        logs = logs[(logs["k"] >= 2) & (logs["k"] <= 30)]
        m = m[m["log_id"].isin(logs["log_id"])]
        s = m[m["nominal_id"].isin(seeds)]
        p = s.merge(m, on="log_id", suffixes=("_s", "_o"))
        p = p[p["nominal_id_s"] != p["nominal_id_o"]]
        p["a"] = np.minimum(p["nominal_id_s"], p["nominal_id_o"])
        p["b"] = np.maximum(p["nominal_id_s"], p["nominal_id_o"])
        p = p[["log_id", "a", "b"]].drop_duplicates().merge(logs[["log_id", "log_date", "k"]], on="log_id")
        age = (as_of - pd.to_datetime(p["log_date"])).dt.days
        p["weight"] = 1.0 / (p["k"] - 1) * np.power(2.0, -age / hl)
        return p.groupby(["a", "b"], as_index=False)["weight"].sum()

    def custody():
        c = t["custody_cells"].copy()
        c["from_date"] = pd.to_datetime(c["from_date"])
        c["to_date"] = pd.to_datetime(c["to_date"]).fillna(as_of).clip(upper=as_of)
        c = c[(c["from_date"] <= as_of) & (c["to_date"] >= c["from_date"])]
        c = c.sort_values(["nominal_id", "establishment", "cell_id", "from_date", "to_date"])
        key = ["nominal_id", "establishment", "cell_id"]
        prev = c.groupby(key)["to_date"].cummax().groupby([c[k] for k in key]).shift()
        c["island"] = (prev.isna() | (c["from_date"] > prev)).cumsum()
        c = c.groupby(key + ["island"], as_index=False).agg(from_date=("from_date", "min"), to_date=("to_date", "max"))
        s = c[c["nominal_id"].isin(seeds)]
        p = s.merge(c, on=["establishment", "cell_id"], suffixes=("_s", "_o"))
        p = p[(p["nominal_id_s"] != p["nominal_id_o"]) & (p["from_date_o"] <= p["to_date_s"]) & (p["from_date_s"] <= p["to_date_o"])]
        p = p[~p["nominal_id_o"].isin(seeds) | (p["nominal_id_s"] < p["nominal_id_o"])]
        p["a"] = np.minimum(p["nominal_id_s"], p["nominal_id_o"])
        p["b"] = np.maximum(p["nominal_id_s"], p["nominal_id_o"])
        p["last"] = np.minimum(p["to_date_s"], p["to_date_o"])
        p["days"] = (p["last"] - np.maximum(p["from_date_s"], p["from_date_o"])).dt.days + 1
        g = p.groupby(["a", "b"], as_index=False).agg(days=("days", "sum"), last=("last", "max"))
        g = g[g["days"] >= 30]
        g["weight"] = np.power(2.0, -(as_of - g["last"]).dt.days / hl)
        return g[["a", "b", "weight"]]

    def soc():
        s = t["soc_edges"]
        d = pd.DataFrame({"a": np.minimum(s["nominal_id_a"], s["nominal_id_b"]),
                          "b": np.maximum(s["nominal_id_a"], s["nominal_id_b"]), "weight": s["weight"].fillna(1.0)})
        return d.groupby(["a", "b"], as_index=False)["weight"].max()

    parts = {}
    for name, fn in (("victim", victim), ("intel", intel), ("custody", custody), ("soc", soc)):
        parts[name] = timed(f"layer_{name}", fn)
        out["pairs"][name] = len(parts[name])
    comb = timed("combine", lambda: pd.concat(parts.values()).groupby(["a", "b"], as_index=False)["weight"].sum())

    def components():
        g = nx.Graph()
        g.add_edges_from(zip(comb["a"], comb["b"], strict=True))
        return list(nx.connected_components(g))

    comps = timed("components", components)
    out["components"] = len(comps)

    # Centrality on the groups hiddennet made (same subgraphs), as networkx would be used.
    ce = pd.read_parquet(folder / "_combined_edges.parquet")
    ce = ce[ce["group_id"].notna()]

    def centrality():
        n = 0
        for _, grp in ce.groupby("group_id", sort=False):
            g = nx.Graph()
            g.add_weighted_edges_from(zip(grp["nominal_a"], grp["nominal_b"], 1.0 / grp["weight"], strict=True), weight="dist")
            dict(g.degree())
            nx.betweenness_centrality(g, weight="dist", normalized=True)
            n += 1
        return n

    out["groups_centrality"] = timed("centrality", centrality)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


# -- driver ---------------------------------------------------------------------------------------
def child(method: str, scale: float, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--scales", str(scale)]
    if threads:
        cmd += ["--threads", str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"{method} at scale {scale} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", nargs="+", type=float, default=[1, 10])
    ap.add_argument("--baseline-scales", nargs="*", type=float, default=[1, 10])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", choices=["hiddennet", "baseline"])
    args = ap.parse_args()
    if args.child:
        folder = DATA / f"network-scale-{args.scales[0]:g}"
        r = measure_hiddennet(folder, args.threads) if args.child == "hiddennet" else measure_baseline(folder)
        print(json.dumps(r, default=str))
        return
    for scale in args.scales:
        t0 = time.perf_counter()
        folder, source = make_data(scale)
        print(f"== scale {scale:g}: data from {source} ({time.perf_counter() - t0:.1f} s to make or find)")
        h = child("hiddennet", scale, args.threads)
        s = h["seconds"]
        print(f"  hiddennet: layers.run {s['layers.run']} s, network.run {s['network.run']} s, "
              f"total {s['stages_total']} s, peak RSS {h['peak_rss_mb']} MB")
        print("  per layer (s): " + ", ".join(f"{k[6:]} {v}" for k, v in s.items() if k.startswith("layer_")))
        print(f"  pairs: {h['pairs']}")
        print(f"  components {h['components']} ({s['components']} s), groups {h['groups']}, centrality {s['centrality']} s")
        f = h["facts"]["network"]
        print(f"  network facts: nominals {f['nominals']}, combined edges {f['combined_edges']}, "
              f"largest group {f['largest_group']}, components split {f['components_split']}, rounds {f['component_rounds']}")
        print(f"  ablation: {json.dumps(f['ablation'])}")
        print(f"  intel skipped: too large {h['facts']['layers']['intel_logs_too_large']}")
        if scale in args.baseline_scales:
            b = child("baseline", scale, args.threads)
            bs = b["seconds"]
            print("  baseline pandas+networkx: per layer (s): "
                  + ", ".join(f"{k[6:]} {v}" for k, v in bs.items() if k.startswith("layer_"))
                  + f"; components {bs['components']} s; centrality {bs['centrality']} s; peak RSS {b['peak_rss_mb']} MB")
            print(f"  baseline pairs: {b['pairs']}")
            same = b["components"] == h["components"] and b["pairs"] == {k: h["pairs"][k] for k in b["pairs"]}
            print(f"  same components and pairs: {same} ({b['components']} vs {h['components']})")
            layer_b = sum(v for k, v in bs.items() if k.startswith("layer_"))
            layer_h = sum(v for k, v in s.items() if k.startswith("layer_"))
            print(f"  ratios (baseline / hiddennet): layers {layer_b / layer_h:.1f}x, components "
                  f"{bs['components'] / s['components']:.1f}x, centrality {bs['centrality'] / s['centrality']:.1f}x, "
                  f"components+centrality {(bs['components'] + bs['centrality']) / (s['components'] + s['centrality']):.1f}x")


if __name__ == "__main__":
    main()
