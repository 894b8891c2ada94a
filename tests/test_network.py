"""Network stage: components in SQL against networkx, centrality against networkx, Leiden split,
hand-worked combined weights, SOC membership and layer ablation.
Spark runs the component, hand-worked and Leiden tests; the property and larger tests run on
DuckDB only (each Spark run of the stage costs a minute on two cores), and tests/test_engine_parity.py
runs the whole pipeline on both engines.
"""

from __future__ import annotations

import datetime as dt
import random

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from hiddennet import network
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)

EDGE_SCHEMA = pa.schema([
    ("nominal_a", pa.string()), ("nominal_b", pa.string()), ("layer", pa.string()), ("weight", pa.float64()),
    ("first_date", pa.date32()), ("last_date", pa.date32()), ("evidence_count", pa.int64()),
    ("handling_code", pa.string()), ("crime_refs", pa.list_(pa.string())), ("log_ids", pa.list_(pa.string())),
    ("soc_layer", pa.string()),
])


def put_edges(engine, rows):
    """rows: (a, b, layer, weight); stored with a < b as the layers stage writes them."""
    rows = [(min(a, b), max(a, b), layer, w) for a, b, layer, w in rows]
    n = len(rows)
    cols = {
        "nominal_a": [r[0] for r in rows], "nominal_b": [r[1] for r in rows], "layer": [r[2] for r in rows],
        "weight": [float(r[3]) for r in rows], "first_date": [None] * n, "last_date": [None] * n,
        "evidence_count": [1] * n, "handling_code": [None] * n, "crime_refs": [None] * n, "log_ids": [None] * n,
        "soc_layer": [None] * n,
    }
    engine.register_arrow("edges", pa.table(cols, schema=EDGE_SCHEMA))


def put_seeds_and_soc(engine, seeds=(), soc=()):
    engine.register_arrow("full_table", pa.table({"offender_id": pa.array(list(seeds), pa.string())}))
    engine.register_arrow(
        "soc_nominals",
        pa.table({"nominal_id": pa.array([s[0] for s in soc], pa.string()),
                  "group_id": pa.array([s[1] for s in soc], pa.string())}),
    )


# -- components ------------------------------------------------------------------------------------
def cc_partition(engine, pairs) -> tuple[set, dict]:
    engine.register_arrow(
        "_t_pairs", pa.table({"nominal_a": [a for a, _ in pairs], "nominal_b": [b for _, b in pairs]},
                             schema=pa.schema([("nominal_a", pa.string()), ("nominal_b", pa.string())]))
    )
    network.connected_components(engine, "SELECT nominal_a, nominal_b FROM _t_pairs", "_t_cc", prefix="_t")
    rows = engine.fetch_rows("SELECT nominal_id, component_id FROM _t_cc")
    by_comp: dict[str, set] = {}
    for node, comp in rows:
        by_comp.setdefault(comp, set()).add(node)
    return {frozenset(s) for s in by_comp.values()}, dict(rows)


def nx_partition(pairs) -> set:
    g = nx.Graph()
    g.add_edges_from(pairs)
    return {frozenset(c) for c in nx.connected_components(g)}


def generated_graphs(seed: int = 7):
    """Hundreds of graphs of the shapes that break component algorithms, labels shuffled."""
    rng = random.Random(seed)
    graphs = []
    for _ in range(80):
        graphs.append(nx.gnm_random_graph(rng.randint(2, 60), rng.randint(1, 70), seed=rng.randint(0, 10**6)))
    for _ in range(40):  # dense
        graphs.append(nx.gnp_random_graph(rng.randint(3, 25), 0.6, seed=rng.randint(0, 10**6)))
    for _ in range(40):  # paths: long diameter
        graphs.append(nx.path_graph(rng.randint(2, 400)))
    for _ in range(30):
        graphs.append(nx.star_graph(rng.randint(1, 40)))
    for _ in range(30):  # isolated pairs
        graphs.append(nx.Graph([(2 * j, 2 * j + 1) for j in range(rng.randint(1, 10))]))
    for _ in range(30):
        graphs.append(nx.random_labeled_tree(rng.randint(2, 80), seed=rng.randint(0, 10**6)))
    for _ in range(20):
        graphs.append(nx.cycle_graph(rng.randint(3, 100)))
    out = []
    for g in graphs:
        nodes = list(g.nodes)
        labels = list(range(len(nodes)))
        rng.shuffle(labels)  # a path in shuffled order is the hard case for label propagation
        name = dict(zip(nodes, labels, strict=True))
        out.append([(name[a], name[b]) for a, b in g.edges if a != b])
    return [e for e in out if e]


def test_components_match_networkx_on_generated_graphs(engine):
    """270 generated graphs run at once as one disjoint union (graph i's nodes prefixed i:), so the
    component of every node must match networkx and its id must be the component's smallest id."""
    pairs, expected = [], set()
    for i, g in enumerate(generated_graphs()):
        es = [(f"{i:03d}:{a:04d}", f"{i:03d}:{b:04d}") for a, b in g]
        pairs += es
        expected |= nx_partition(es)
    got, comp_of = cc_partition(engine, pairs)
    assert got == expected
    assert all(comp_of[n] == min(c) for c in expected for n in c)


def test_components_of_a_long_shuffled_path(engine):
    """A 3000-node path with shuffled labels is one component (diameter 2999)."""
    rng = random.Random(3)
    labels = list(range(3000))
    rng.shuffle(labels)
    pairs = [(f"N{labels[i]:05d}", f"N{labels[i + 1]:05d}") for i in range(2999)]
    got, comp_of = cc_partition(engine, pairs)
    assert got == nx_partition(pairs) and set(comp_of.values()) == {"N00000"}


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)).filter(lambda p: p[0] != p[1]), min_size=1, max_size=60))
def test_components_property(duck, raw):
    pairs = [(f"n{a}", f"n{b}") for a, b in raw]
    got, _ = cc_partition(duck, pairs)
    assert got == nx_partition(pairs)


# -- centrality --------------------------------------------------------------------------------------
def nx_betweenness(n, a, b, w):
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for x, y, z in zip(a, b, w, strict=True):
        g.add_edge(int(x), int(y), dist=1.0 / z)
    return nx.betweenness_centrality(g, weight="dist", normalized=True)


def test_betweenness_matches_networkx_on_generated_graphs():
    """Weights from {0.5, 1, 2, 4}: distances 1/w are exact binary fractions, so ties between
    paths are exact in both libraries. Unweighted and weighted, normalised like networkx."""
    rng = np.random.default_rng(11)
    for i in range(60):
        n = int(rng.integers(3, 40))
        g = nx.gnm_random_graph(n, int(rng.integers(n - 1, 3 * n)), seed=int(rng.integers(10**6)))
        if i % 3 == 0:
            g = nx.path_graph(n) if i % 2 else nx.star_graph(n - 1)
        a = np.array([e[0] for e in g.edges], dtype=np.int64)
        b = np.array([e[1] for e in g.edges], dtype=np.int64)
        w = np.ones(len(a)) if i % 2 == 0 else rng.choice([0.5, 1.0, 2.0, 4.0], size=len(a))
        got, exact = network.group_betweenness(n, a, b, w, exact_max=5000, samples=100, seed=1)
        want = nx_betweenness(n, a, b, w)
        assert exact
        assert got == pytest.approx([want[k] for k in range(n)], abs=1e-9)


def test_sampled_betweenness_is_marked_and_repeatable():
    g = nx.gnm_random_graph(80, 200, seed=5)
    a = np.array([e[0] for e in g.edges])
    b = np.array([e[1] for e in g.edges])
    w = np.ones(len(a))
    s1, exact1 = network.group_betweenness(80, a, b, w, exact_max=50, samples=20, seed=9)
    s2, _ = network.group_betweenness(80, a, b, w, exact_max=50, samples=20, seed=9)
    exact, _ = network.group_betweenness(80, a, b, w, exact_max=5000, samples=20, seed=9)
    assert not exact1 and np.array_equal(s1, s2)
    assert np.corrcoef(s1, exact)[0, 1] > 0.8  # an estimate of the same thing


# -- the stage -------------------------------------------------------------------------------------
def run_stage(engine, edge_rows, seeds=(), soc=(), **overrides):
    put_edges(engine, edge_rows)
    put_seeds_and_soc(engine, seeds, soc)
    s = Settings(as_of=AS_OF, **overrides)
    return network.run(engine, s)


def nominals(engine):
    cols = "nominal_id, group_id, node_index, in_cse_network, in_soc_network, soc_group_ids, degree, " \
           "weighted_degree, betweenness, betweenness_exact"
    return {r[0]: r[1:] for r in engine.fetch_rows(f"SELECT {cols} FROM network_nominals")}


def test_hand_worked_network(engine):
    """Edges: A-B victim 1 and intel 0.5 (combined 1.5, layers [intel, victim]); B-C victim 1;
    A-C intel 0.25 (distance 4, longer than A-B-C = 1/1.5 + 1); D-E custody 2.
    Groups: {A, B, C} (G0001: larger first) and {D, E} (G0002).
    B: degree 2, weighted degree 2.5, betweenness 1 (the one pair A-C goes through B: 1 / 1 pair).
    A: degree 2, weighted degree 1.75, betweenness 0. D: degree 1, weighted 2, betweenness 0."""
    out = run_stage(
        engine,
        [("A", "B", "victim", 1.0), ("A", "B", "intel", 0.5), ("B", "C", "victim", 1.0),
         ("A", "C", "intel", 0.25), ("D", "E", "custody", 2.0)],
        seeds=("A", "B"), soc=(("E", "OCG7"), ("E", "OCG2"), ("Z", "OCG9")),
    )
    ce = {(r[0], r[1]): r[2:] for r in engine.fetch_rows("SELECT nominal_a, nominal_b, weight, layers, group_id FROM combined_edges")}
    assert ce[("A", "B")][0] == pytest.approx(1.5) and list(ce[("A", "B")][1]) == ["intel", "victim"]
    assert ce[("A", "B")][2] == "G0001" and ce[("D", "E")][2] == "G0002"
    nom = nominals(engine)
    assert set(nom) == {"A", "B", "C", "D", "E"}  # Z (SOC only, no link) is not in the network
    assert nom["B"][0] == "G0001" and nom["B"][1] == 1  # node_index by nominal id within the group
    assert nom["B"][5:8] == (2, pytest.approx(2.5), pytest.approx(1.0))
    assert nom["A"][5:8] == (2, pytest.approx(1.75), pytest.approx(0.0))
    assert nom["D"][5:8] == (1, pytest.approx(2.0), pytest.approx(0.0))
    assert nom["A"][2] and not nom["C"][2]  # in_cse_network
    assert nom["E"][3] and list(nom["E"][4]) == ["OCG2", "OCG7"] and not nom["D"][3]
    groups = {r[0]: r[1:] for r in engine.fetch_rows(
        "SELECT group_id, size, parent_component, soc_overlap, edges, cse_members FROM network_groups")}
    assert groups == {"G0001": (3, "G0001", 0, 3, 2), "G0002": (2, "G0002", 1, 1, 0)}
    assert out.facts["groups"] == 2 and out.facts["largest_group"] == 3
    # Ablation: without intel, A-B-C still hangs together through victim links; without victim,
    # the intel links A-B and A-C do; without custody, D and E drop out.
    ab = out.facts["ablation"]
    assert ab["all_layers"] == {"groups": 2, "largest_group": 3, "nominals": 5}
    assert ab["without_victim"] == {"groups": 2, "largest_group": 3, "nominals": 5}
    assert ab["without_intel"] == {"groups": 2, "largest_group": 3, "nominals": 5}
    assert ab["without_custody"] == {"groups": 1, "largest_group": 3, "nominals": 3}
    assert ab["without_soc"] == ab["all_layers"]


def test_layer_weight_zero_leaves_pairs_out(duck):
    """With layer_weight.intel = 0: A-C (intel only) is left out and A-B weighs 2 x 1 = 2
    (victim weight 2); C is not a nominal of the network."""
    run_stage(duck, [("A", "B", "victim", 1.0), ("A", "B", "intel", 0.5), ("A", "C", "intel", 0.25)],
              layer_weight={"victim": 2.0, "intel": 0.0})
    rows = duck.fetch_rows("SELECT nominal_a, nominal_b, weight, layers FROM combined_edges")
    assert len(rows) == 1 and rows[0][:3] == ("A", "B", pytest.approx(2.0)) and list(rows[0][3]) == ["victim"]
    assert set(nominals(duck)) == {"A", "B"}


def two_cliques(k: int, prefix: str = "N"):
    """Two k-cliques joined by one weak edge."""
    rows = []
    for side in (0, 1):
        for i in range(k):
            for j in range(i + 1, k):
                rows.append((f"{prefix}{side}{i:02d}", f"{prefix}{side}{j:02d}", "victim", 1.0))
    rows.append((f"{prefix}000", f"{prefix}100", "intel", 0.1))
    return rows


def test_large_component_split_by_leiden(engine):
    """Two 30-cliques joined by one edge: a component of 60 > 50 is split into the two cliques,
    both keeping parent component G0001; the bridge edge belongs to no group. Rerun: same ids."""
    out = run_stage(engine, two_cliques(30))
    groups = engine.fetch_rows("SELECT group_id, size, parent_component, edges FROM network_groups ORDER BY group_id")
    assert groups == [("G0001-0001", 30, "G0001", 435), ("G0001-0002", 30, "G0001", 435)]
    members = engine.fetch_rows("SELECT nominal_id, group_id FROM network_nominals ORDER BY nominal_id")
    assert {g for n, g in members if n.startswith("N0")} == {"G0001-0001"}
    assert engine.scalar("SELECT count(*) FROM combined_edges WHERE group_id IS NULL") == 1
    assert out.facts["components_split"] == 1 and out.facts["groups_from_splits"] == 2
    run_stage(engine, two_cliques(30))
    assert engine.fetch_rows("SELECT nominal_id, group_id FROM network_nominals ORDER BY nominal_id") == members


def test_every_group_is_connected_and_within_its_component(duck):
    """A random sparse graph of 400 nominals with max_group_size 20: Leiden splits the big
    components; every group (Leiden part cut into pieces) is connected in the combined network,
    lies inside one networkx component, and node_index runs 0..size-1. Centrality on each group
    matches networkx on the group's own subgraph."""
    rng = random.Random(2)
    g = nx.gnm_random_graph(400, 520, seed=4)
    rows = [(f"N{a:03d}", f"N{b:03d}", "victim", rng.choice([0.5, 1.0, 2.0])) for a, b in g.edges]
    run_stage(duck, rows, max_group_size=20)
    full = nx.Graph()
    full.add_weighted_edges_from([(a, b, w) for a, b, _, w in rows])
    comp_of = {n: i for i, c in enumerate(nx.connected_components(full)) for n in c}
    nom = nominals(duck)
    by_group: dict[str, list] = {}
    for n, v in nom.items():
        by_group.setdefault(v[0], []).append(n)
    assert any("-" in gid for gid in by_group)
    for gid, members in by_group.items():
        sub = full.subgraph(members)
        assert nx.is_connected(sub), gid
        assert len({comp_of[m] for m in members}) == 1
        assert sorted(nom[m][1] for m in members) == list(range(len(members)))
        h = nx.Graph()
        h.add_nodes_from(members)
        h.add_edges_from((a, b, {"dist": 1 / d["weight"]}) for a, b, d in sub.edges(data=True))
        want = nx.betweenness_centrality(h, weight="dist", normalized=True)
        for m in members:
            assert nom[m][5] == h.degree(m)
            assert nom[m][6] == pytest.approx(sub.degree(m, weight="weight"))
            assert nom[m][7] == pytest.approx(want[m], abs=1e-9)


def test_sampled_betweenness_marked_in_the_table(duck):
    """betweenness_exact_max = 3: the 5-path group is sampled and marked, the pair is exact."""
    run_stage(duck, [("A", "B", "victim", 1), ("B", "C", "victim", 1), ("C", "D", "victim", 1),
                       ("D", "E", "victim", 1), ("X", "Y", "victim", 1)], betweenness_exact_max=3)
    nom = nominals(duck)
    assert not nom["A"][8] and not nom["C"][8] and nom["X"][8]


def test_empty_edges_give_empty_tables(duck):
    out = run_stage(duck, [])
    assert duck.count("network_nominals") == 0 and duck.count("network_groups") == 0
    assert out.facts["groups"] == 0 and out.facts["ablation"]["all_layers"]["groups"] == 0


def test_worker_processes_give_the_same_network(one_process_and_workers):
    """Leiden pieces and centrality computed in worker processes (the DuckDB engine's pool, forced
    on for small data) equal those computed in the main process, bit for bit: a random graph of 600
    nominals in six blocks, max_group_size 20, so both per-group functions have several batches."""
    rng = random.Random(11)
    rows = []
    for block in range(0, 600, 100):
        rows += [(f"N{block + rng.randrange(100):03d}", f"N{block + rng.randrange(100):03d}",
                  rng.choice(["victim", "intel"]), rng.random()) for _ in range(150)]
    rows = [r for r in rows if r[0] != r[1]]
    cols = "nominal_id, group_id, node_index, degree, weighted_degree, betweenness, betweenness_exact"

    def work(e):
        run_stage(e, rows, max_group_size=20)
        return (e.fetch_rows(f"SELECT {cols} FROM network_nominals ORDER BY nominal_id"),
                e.fetch_rows("SELECT * FROM network_groups ORDER BY group_id"))

    results, pooled = one_process_and_workers(work)
    assert pooled == 2  # Leiden and centrality went to the workers
    assert results[0] == results[1] and len(results[0][0]) > 400
