"""Network: the combined network, its groups and each nominal's centrality (method.md section 4).

    edges -> combined_edges      one row per pair: layer weights applied and summed
          -> components          connected components in SQL (large-star / small-star)
          -> network_groups      components, those over max_group_size split by Leiden
          -> network_nominals    per nominal: group, node_index, degree, weighted degree, betweenness

Components run as SQL through the engine so that the same statements run on Spark. Leiden and
betweenness run per group in NetworKit through `engine.map_groups`, on integer node indexes made
in SQL. Every choice the method leaves open is written down in docs/network.md.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import partial

import numpy as np
import pyarrow as pa

from hiddennet import continuity
from hiddennet.errors import HiddennetError
from hiddennet.settings import ALLAGE_LAYERS, Settings
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

LAYER_NAMES = ("victim", "intel", "custody", "soc")

# Large-star / small-star halves the number of rounds at worst every two rounds (O(log^2 n));
# a graph that has not converged after this many rounds means a bug, not a big graph.
_MAX_CC_ROUNDS = 200


# -- connected components in SQL --------------------------------------------------------------------
def connected_components(engine, edges_sql: str, out: str, prefix: str = "_cc") -> int:
    """Connected components of the undirected graph `edges_sql` (columns nominal_a, nominal_b).

    Writes `out` (nominal_id, component_id) where component_id is the smallest nominal_id of the
    component (identifiers compared as text). Returns the number of rounds used.

    Follows the alternating algorithm of Kiveris, Lattanzi, Mirrokni, Rastogi and Vassilvitskii,
    "Connected Components in MapReduce and Beyond" (SoCC 2014): alternate large-star and
    small-star operations on integer-labelled edges until every edge joins a node to the root of
    its star. Each operation is one GROUP BY and one join, so it runs on any SQL engine.
    """
    ids, cur, nxt = f"{prefix}_ids", f"{prefix}_edges", f"{prefix}_next"
    _label_nodes(engine, edges_sql, ids, cur)
    rounds = 0
    while True:
        rounds += 1
        if rounds > _MAX_CC_ROUNDS:
            raise HiddennetError(f"network: connected components did not converge in {_MAX_CC_ROUNDS} rounds")
        if _star_round(engine, cur, nxt):
            break
    engine.create_table(
        out,
        f"""
        SELECT i.nominal_id, r.nominal_id AS component_id
        FROM {ids} i
        LEFT JOIN {cur} e ON e.u = i.id
        JOIN {ids} r ON r.id = coalesce(e.v, i.id)
        """,
    )
    engine.drop(cur)
    engine.drop(ids)
    return rounds


def _label_nodes(engine, edges_sql: str, ids: str, cur: str) -> None:
    """`ids` (nominal_id, id) and `cur`, the edges as (larger id, smaller id) pairs without self-loops."""
    # Integer labels in nominal_id order, so the smallest label is the smallest nominal id.
    engine.create_table(
        ids,
        f"""
        WITH nodes AS (
            SELECT nominal_a AS nominal_id FROM ({edges_sql}) UNION SELECT nominal_b FROM ({edges_sql})
        )
        SELECT nominal_id, row_number() OVER (ORDER BY nominal_id) AS id FROM nodes
        """,
    )
    engine.create_table(
        cur,
        f"""
        SELECT DISTINCT greatest(ia.id, ib.id) AS u, least(ia.id, ib.id) AS v
        FROM ({edges_sql}) e JOIN {ids} ia ON ia.nominal_id = e.nominal_a JOIN {ids} ib ON ib.nominal_id = e.nominal_b
        WHERE ia.id <> ib.id
        """,
    )


def _star_round(engine, cur: str, nxt: str) -> bool:
    """One large-star and one small-star operation on `cur`; True when it has converged to stars."""
    # Large-star: every neighbour larger than u is attached to the smallest of u's closed neighbourhood.
    engine.create_table(
        nxt,
        f"""
        WITH sym AS (SELECT u, v FROM {cur} UNION ALL SELECT v AS u, u AS v FROM {cur}),
        m AS (SELECT u, least(u, min(v)) AS m FROM sym GROUP BY u)
        SELECT DISTINCT s.v AS u, m.m AS v FROM sym s JOIN m ON m.u = s.u WHERE s.v > s.u
        """,
    )
    engine.drop(cur)
    # Small-star: u and its smaller neighbours are attached to the smallest of them.
    engine.create_table(
        cur,
        f"""
        WITH dir AS (SELECT DISTINCT greatest(u, v) AS u, least(u, v) AS v FROM {nxt} WHERE u <> v),
        m AS (SELECT u, min(v) AS m FROM dir GROUP BY u)
        SELECT d.v AS u, m.m AS v FROM dir d JOIN m ON m.u = d.u WHERE d.v <> m.m
        UNION
        SELECT u, m AS v FROM m
        """,
    )
    engine.drop(nxt)
    # Converged when the edges form stars: one parent per node and every parent a root.
    not_star = engine.scalar(
        f"""
        SELECT (SELECT count(*) FROM (SELECT u FROM {cur} GROUP BY u HAVING count(*) > 1) x)
             + (SELECT count(*) FROM {cur} a JOIN {cur} b ON a.v = b.u)
        """
    )
    return not not_star


# -- per-group graph work (NetworKit) ---------------------------------------------------------------
def _group_slices(keys: np.ndarray):
    """(start, stop) of each run of equal keys in an array sorted by key."""
    if len(keys) == 0:
        return []
    cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [len(keys)]))
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


# NetworKit's random seed is the process's (nk.engineering.setSeed): a Leiden in one thread reseeded
# by another's midway gives another partition. Threads of one process (the stability reruns side by
# side) therefore take turns inside one_thread; worker processes have one thread each.
_NETWORKIT = threading.RLock()


@contextmanager
def one_thread():
    """NetworKit on one thread, and on one Python thread at a time, while inside: its parallel Leiden
    and betweenness give results that depend on the thread count, on timing and on the seed set last,
    and a run must give the same tables on every machine."""
    import networkit as nk

    with _NETWORKIT:
        threads = nk.getMaxNumberOfThreads()
        nk.setNumberOfThreads(1)
        try:
            yield
        finally:
            nk.setNumberOfThreads(threads)


def _nk_graph(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray):
    import networkit as nk

    g = nk.Graph(int(n), weighted=True, directed=False)
    if len(a):
        g.addEdges((w.astype(np.float64), (a.astype(np.uint64), b.astype(np.uint64))))
    return g


LEIDEN_SCHEMA = pa.schema([("component", pa.string()), ("node_index", pa.int64()), ("piece", pa.int64())])


def _connected_pieces(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Cut each part into its connected pieces: a Leiden part need not be connected in the graph."""
    import networkit as nk

    inside = part[a] == part[b]
    g = _nk_graph(n, a[inside], b[inside], w[inside])  # held here: NetworKit algorithms do not own their graph
    cc = nk.components.ConnectedComponents(g)
    cc.run()
    return np.asarray(cc.getPartition().getVector(), dtype=np.int64)


# Leiden sees the weights on an integer grid of this many steps up to the piece's largest weight.
_LEIDEN_GRID = 2.0**30


def leiden_weights(w: np.ndarray) -> np.ndarray:
    """The weights as whole numbers from 1 to 2^30, in proportion (modularity does not change when
    every weight is scaled). NetworKit's ParallelLeiden adds and subtracts community volumes as it
    moves nodes; with fractional weights those sums pick up round-off, a node alone in its
    community can then see a gain in leaving it, and the move phase never ends: it allocated
    memory until the process died (a 17-node star at resolution 2 did it). Sums of whole numbers
    below 2^53 are exact, so a node alone has nothing to gain. Weights under 2^-30 of the largest
    count as 2^-30 of it."""
    if not len(w):
        return w.astype(np.float64)
    top = float(np.max(w))
    return np.maximum(1.0, np.rint(w.astype(np.float64) * (_LEIDEN_GRID / top)))


def _leiden(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, seed: int, gamma: float) -> np.ndarray:
    import networkit as nk

    nk.engineering.setSeed(int(seed), False)
    g = _nk_graph(n, a, b, leiden_weights(w))  # held here: NetworKit algorithms do not own their graph
    leiden = nk.community.ParallelLeiden(g, randomize=True, iterations=3, gamma=float(gamma))
    leiden.run()
    return np.asarray(leiden.getPartition().getVector(), dtype=np.int64)


# A piece that Leiden leaves whole at one resolution is tried again at twice the resolution; at
# a high enough resolution every nominal is its own community, so the split always ends.
_MAX_RESOLUTION_DOUBLINGS = 40


def split_to_size(
    n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, max_size: int, seed: int, resolution: float
) -> np.ndarray:
    """Piece number of each node: connected Leiden pieces of at most `max_size` nominals.

    Leiden runs on the component; any piece still over `max_size` is split again by Leiden on its
    own subgraph (recursive split), and a piece Leiden will not split at the current resolution is
    retried at double resolution. Every piece is connected. Deterministic per seed (one thread).
    """
    with one_thread():
        return _split_to_size(n, a, b, w, max_size, seed, resolution)


def _split_to_size(n, a, b, w, max_size, seed, resolution) -> np.ndarray:
    piece = np.zeros(n, dtype=np.int64)
    next_piece = 1
    # Work list: node indexes of a piece, its edges in local indexes (0..len(nodes)-1), resolution.
    work = [(np.arange(n, dtype=np.int64), a.astype(np.int64), b.astype(np.int64), w, float(resolution))]
    while work:
        nodes, sa, sb, sw, gamma = work.pop()
        m = len(nodes)
        for _ in range(_MAX_RESOLUTION_DOUBLINGS + 1):
            sub = _connected_pieces(m, sa, sb, sw, _leiden(m, sa, sb, sw, seed, gamma))
            if sub.max(initial=0) > 0:
                break
            gamma *= 2  # Leiden kept the piece whole: raise the resolution
        else:
            raise HiddennetError("network: Leiden could not split a group down to max_group_size")
        sizes = np.bincount(sub)
        # New local index of each node inside its sub-piece, for the sub-piece's own edge list.
        order = np.argsort(sub, kind="stable")
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        rank = np.empty(m, dtype=np.int64)
        rank[order] = np.arange(m) - np.repeat(starts, sizes)
        inside = sub[sa] == sub[sb]
        ea, eb, ew, ep = sa[inside], sb[inside], sw[inside], sub[sa[inside]]
        big = np.flatnonzero(sizes > max_size)
        for p in np.flatnonzero(sizes <= max_size):
            piece[nodes[sub == p]] = next_piece
            next_piece += 1
        for p in big:
            keep = ep == p
            members = nodes[order[starts[p]: starts[p] + sizes[p]]]
            work.append((members, rank[ea[keep]], rank[eb[keep]], ew[keep], gamma))
    return piece


def leiden_pieces_fn(seed: int, resolution: float, max_size: int):
    """Per component: connected Leiden pieces of at most `max_size` nominals (`split_to_size`).

    Leiden runs on one thread (`one_thread`): NetworKit's ParallelLeiden gives the same partition
    for the same seed only when the thread count is fixed, and one is the count every machine has.
    A partial, not a closure, so that it pickles (an engine may run batches in worker processes).
    """
    return partial(_leiden_pieces, seed=seed, resolution=resolution, max_size=max_size)


def _leiden_pieces(t: pa.Table, *, seed: int, resolution: float, max_size: int) -> pa.Table:
    out_c: list[str] = []
    out_i: list[int] = []
    out_p: list[int] = []
    for comp, a, b, w, n in _each_group(t, "component"):
        piece = split_to_size(n, a, b, w, max_size, seed, resolution)
        out_c.extend([comp] * n)
        out_i.extend(range(n))
        out_p.extend(piece.tolist())
    return pa.table({"component": out_c, "node_index": out_i, "piece": out_p}, schema=LEIDEN_SCHEMA)


CENTRALITY_SCHEMA = pa.schema(
    [
        ("group_id", pa.string()),
        ("node_index", pa.int64()),
        ("degree", pa.int64()),
        ("weighted_degree", pa.float64()),
        ("betweenness", pa.float64()),
        ("betweenness_exact", pa.bool_()),
    ]
)


def group_betweenness(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, exact_max: int, samples: int, seed: int):
    """Normalised betweenness with distance 1/weight; (scores, exact).

    Normalised as networkx's `betweenness_centrality(normalized=True)` on an undirected graph: the
    share of shortest paths between pairs of other members that pass through the nominal, i.e.
    NetworKit's raw score (each pair counted in both directions) divided by (n-1)(n-2).
    """
    import networkit as nk

    if n <= 2 or len(a) == 0:
        return np.zeros(n), True
    g = _nk_graph(n, a, b, 1.0 / w)
    if n <= exact_max:
        algo = nk.centrality.Betweenness(g, normalized=False)
        exact = True
    else:
        nk.engineering.setSeed(int(seed), False)
        algo = nk.centrality.EstimateBetweenness(g, int(samples), False, False)
        exact = False
    algo.run()
    scores = np.asarray(algo.scores(), dtype=np.float64) / ((n - 1) * (n - 2))
    return scores, exact


def centrality_fn(exact_max: int, samples: int, seed: int):
    """Per group: degree, weighted degree, betweenness.

    One NetworKit thread (`one_thread`): parallel betweenness adds path counts in an order that
    varies from run to run, so the last digits (and the ties of a dismantling order) would vary too.
    A partial, not a closure, so that it pickles (an engine may run batches in worker processes).
    """
    return partial(_centrality_one_thread, exact_max=exact_max, samples=samples, seed=seed)


def _centrality_one_thread(t: pa.Table, *, exact_max: int, samples: int, seed: int) -> pa.Table:
    with one_thread():
        return _centrality(t, exact_max, samples, seed)


def _in_order(t: pa.Table, key: str) -> pa.Table:
    """Rows by group then edge: engines hand rows over in any order, and NetworKit's results (Leiden
    parts, sums of weights) depend on the order edges are added."""
    return t.sort_by([(key, "ascending"), ("a", "ascending"), ("b", "ascending")])


def _each_group(t: pa.Table, key: str):
    """(key value, a, b, weight, n) per group of a map_groups batch (columns key, a, b, weight, n)."""
    t = _in_order(t, key)
    keys = t.column(key).to_numpy(zero_copy_only=False)
    a_all = t.column("a").to_numpy()
    b_all = t.column("b").to_numpy()
    w_all = t.column("weight").to_numpy()
    n_all = t.column("n").to_numpy()
    for start, stop in _group_slices(keys):
        yield keys[start], a_all[start:stop], b_all[start:stop], w_all[start:stop], int(n_all[start])


def _centrality(t: pa.Table, exact_max: int, samples: int, seed: int) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in CENTRALITY_SCHEMA.names}
    for group, a, b, w, n in _each_group(t, "group_id"):
        degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
        wdeg = np.bincount(a, weights=w, minlength=n) + np.bincount(b, weights=w, minlength=n)
        btw, exact = group_betweenness(n, a, b, w, exact_max, samples, seed)
        cols["group_id"].extend([group] * n)
        cols["node_index"].extend(range(n))
        cols["degree"].extend(degree.tolist())
        cols["weighted_degree"].extend(wdeg.tolist())
        cols["betweenness"].extend(btw.tolist())
        cols["betweenness_exact"].extend([exact] * n)
    return pa.table(cols, schema=CENTRALITY_SCHEMA)


# -- the stage ----------------------------------------------------------------------------------------
def _layer_weight_case(settings: Settings) -> str:
    lw = settings.layer_weight
    # The all-age layers exist only when their setting is on; their weights are harmless otherwise.
    whens = " ".join(f"WHEN '{name}' THEN {float(getattr(lw, name))!r}" for name in (*LAYER_NAMES, *ALLAGE_LAYERS))
    return f"CASE layer {whens} ELSE 0.0 END"


def combined_sql(settings: Settings, leave_out: str | None = None) -> str:
    """Pairs with their combined weight; layers weighted 0 (or left out) contribute nothing."""
    case = _layer_weight_case(settings)
    skip = f"AND layer <> '{leave_out}'" if leave_out else ""
    return f"""
        SELECT nominal_a, nominal_b, sum({case} * weight ORDER BY {case} * weight) AS weight,
               list_sort(list_distinct(list(layer))) AS layers
        FROM edges
        WHERE {case} > 0 AND weight > 0 {skip}
        GROUP BY nominal_a, nominal_b
        HAVING sum({case} * weight) > 0
    """


def _components_summary(engine, table: str) -> dict:
    row = engine.fetch_rows(
        f"SELECT count(*), coalesce(max(size), 0), coalesce(sum(size), 0) FROM "
        f"(SELECT component_id, count(*) AS size FROM {table} GROUP BY component_id)"
    )[0]
    return {"groups": int(row[0]), "largest_group": int(row[1]), "nominals": int(row[2])}


def ablation(engine, settings: Settings, all_layers: str | None = None) -> dict:
    """Components (no Leiden split) with all layers and with each layer left out in turn.

    `all_layers`: a table (nominal_id, component_id) of the components with every layer, already
    made (`run`'s `_net_cc`, from the same pairs), so that they are not searched for twice."""
    result = {}
    for leave_out in (None, *LAYER_NAMES):
        key = "all_layers" if leave_out is None else f"without_{leave_out}"
        if leave_out is None and all_layers is not None:
            result[key] = _components_summary(engine, all_layers)
            continue
        connected_components(engine, combined_sql(settings, leave_out), "_net_ablation", prefix="_net_abl")
        result[key] = _components_summary(engine, "_net_ablation")
        engine.drop("_net_ablation")
    return result


def _width(count: int) -> int:
    return max(4, len(str(max(count, 1))))


def _centrality_table(engine, settings: Settings) -> None:
    engine.map_groups(
        "_net_centrality",
        """
        SELECT e.group_id, ma.node_index AS a, mb.node_index AS b, e.weight, ma.size AS n
        FROM combined_edges e
        JOIN _net_members ma ON ma.nominal_id = e.nominal_a
        JOIN _net_members mb ON mb.nominal_id = e.nominal_b
        WHERE e.group_id IS NOT NULL
        """,
        "group_id",
        centrality_fn(settings.betweenness_exact_max, settings.betweenness_samples, settings.seed),
        CENTRALITY_SCHEMA,
    )


def run(engine, settings: Settings, *, ranking_only: bool = False) -> StageOutput:
    """Build combined_edges, network_nominals and network_groups from `edges`.

    `ranking_only` (the stability reruns of the fairness stage): groups only, no centrality
    (degree and betweenness are left 0) and no layer ablation; a group's rank does not use them.
    """
    facts: dict = {}
    engine.create_table("_net_combined", combined_sql(settings))
    rounds = connected_components(engine, "SELECT nominal_a, nominal_b FROM _net_combined", "_net_cc", prefix="_net_cc")
    facts["component_rounds"] = rounds
    n_components = _name_components(engine)
    _split_large_components(engine, settings)
    # With a run history, groups inherit the previous run's ids (docs/continuity.md); else unchanged.
    continuity.name_groups(engine, settings, "_net_members")
    _combined_edges_table(engine)
    if ranking_only:
        engine.register_arrow("_net_centrality", CENTRALITY_SCHEMA.empty_table())
    else:
        _centrality_table(engine, settings)
    _network_nominals_table(engine, settings)
    _network_groups_table(engine)
    facts.update(_group_facts(engine, n_components))
    if not ranking_only:
        facts["ablation"] = ablation(engine, settings, all_layers="_net_cc")
    for name in ("_net_combined", "_net_cc", "_net_components", "_net_nodes", "_net_leiden", "_net_members",
                 "_net_centrality"):
        engine.drop(name)
    return StageOutput(tables=("combined_edges", "network_nominals", "network_groups"), facts=facts)


def _name_components(engine) -> int:
    """`_net_components` (component id, size, name) and `_net_nodes` (each nominal's component and index in it).
    Returns the number of components."""
    # Component ids: "G" + rank by size (largest first), ties by the smallest member id.
    n_components = engine.count("(SELECT DISTINCT component_id FROM _net_cc)")
    width = _width(n_components)
    engine.create_table(
        "_net_components",
        f"""
        WITH sizes AS (SELECT component_id, count(*) AS size FROM _net_cc GROUP BY component_id)
        SELECT component_id, size,
               'G' || lpad(CAST(row_number() OVER (ORDER BY size DESC, component_id) AS VARCHAR), {width}, '0')
               AS component
        FROM sizes
        """,
    )
    engine.create_table(
        "_net_nodes",
        """
        SELECT c.nominal_id, k.component, k.size,
               row_number() OVER (PARTITION BY k.component ORDER BY c.nominal_id) - 1 AS comp_index
        FROM _net_cc c JOIN _net_components k ON k.component_id = c.component_id
        """,
    )
    return n_components


def _split_large_components(engine, settings: Settings) -> None:
    """`_net_leiden` (Leiden pieces of components over max_group_size) and `_net_members` (each nominal's group,
    node index in it and the component it came from)."""
    max_size = int(settings.max_group_size)
    engine.map_groups(
        "_net_leiden",
        f"""
        SELECT na.component, na.comp_index AS a, nb.comp_index AS b, e.weight, na.size AS n
        FROM _net_combined e
        JOIN _net_nodes na ON na.nominal_id = e.nominal_a
        JOIN _net_nodes nb ON nb.nominal_id = e.nominal_b
        WHERE na.size > {max_size}
        """,
        "component",
        leiden_pieces_fn(settings.seed, settings.leiden_resolution, max_size),
        LEIDEN_SCHEMA,
    )
    # Pieces of a split component: "<component>-" + rank by size, ties by smallest member id.
    max_pieces = engine.scalar(
        "SELECT coalesce(max(p), 0) FROM (SELECT count(DISTINCT piece) AS p FROM _net_leiden GROUP BY component)"
    )
    pwidth = _width(int(max_pieces or 0))
    engine.create_table(
        "_net_members",
        f"""
        WITH split AS (
            SELECT n.nominal_id, n.component, l.piece
            FROM _net_nodes n JOIN _net_leiden l ON l.component = n.component AND l.node_index = n.comp_index
        ),
        pieces AS (
            SELECT component, piece, count(*) AS size, min(nominal_id) AS first_member
            FROM split GROUP BY component, piece
        ),
        named AS (
            SELECT component, piece,
                   component || '-' || lpad(CAST(row_number() OVER (PARTITION BY component
                                                 ORDER BY size DESC, first_member) AS VARCHAR), {pwidth}, '0')
                   AS group_id
            FROM pieces
        ),
        members AS (
            SELECT s.nominal_id, p.group_id, s.component AS parent_component
            FROM split s JOIN named p ON p.component = s.component AND p.piece = s.piece
            UNION ALL
            SELECT nominal_id, component AS group_id, component AS parent_component
            FROM _net_nodes WHERE size <= {max_size}
        )
        SELECT nominal_id, group_id, parent_component,
               CAST(row_number() OVER (PARTITION BY group_id ORDER BY nominal_id) - 1 AS INTEGER) AS node_index,
               count(*) OVER (PARTITION BY group_id) AS size
        FROM members
        """,
    )


def _combined_edges_table(engine) -> None:
    """`combined_edges`: the combined network's edges with the group of both ends (none across groups)."""
    engine.create_table(
        "combined_edges",
        """
        SELECT e.nominal_a, e.nominal_b, e.weight, e.layers,
               CASE WHEN ma.group_id = mb.group_id THEN ma.group_id END AS group_id
        FROM _net_combined e
        JOIN _net_members ma ON ma.nominal_id = e.nominal_a
        JOIN _net_members mb ON mb.nominal_id = e.nominal_b
        ORDER BY e.nominal_a, e.nominal_b
        """,
    )


def _network_nominals_table(engine, settings: Settings) -> None:
    """`network_nominals`: group, node index, CSE and SOC membership and centrality of every nominal."""
    seeds = "SELECT DISTINCT offender_id AS nominal_id FROM full_table" if engine.has_table("full_table") else (
        empty_sql("full_table", "offender_id AS nominal_id")
    )
    soc_nominals = (
        "SELECT nominal_id, group_id FROM soc_nominals" if engine.has_table("soc_nominals") else
        empty_sql("soc_nominals", "nominal_id, group_id")
    )
    # In the SOC network: listed in soc_nominals, or an end of a SOC link (the link proves it).
    engine.create_table(
        "network_nominals",
        f"""
        WITH soc AS (
            SELECT DISTINCT nominal_id FROM (
                SELECT nominal_id FROM ({soc_nominals})
                UNION ALL SELECT nominal_a FROM edges WHERE layer = 'soc'
                UNION ALL SELECT nominal_b FROM edges WHERE layer = 'soc'
            )
        ),
        soc_groups AS (
            SELECT nominal_id, list_sort(list_distinct(list(group_id))) AS soc_group_ids
            FROM ({soc_nominals}) WHERE group_id IS NOT NULL GROUP BY nominal_id
        ),
        seeds AS ({seeds})
        SELECT m.nominal_id, m.group_id, m.node_index,
               s.nominal_id IS NOT NULL AS in_cse_network,
               soc.nominal_id IS NOT NULL AS in_soc_network,
               sg.soc_group_ids,
               CAST(coalesce(c.degree, 0) AS INTEGER) AS degree,
               coalesce(c.weighted_degree, 0.0) AS weighted_degree,
               coalesce(c.betweenness, 0.0) AS betweenness,
               coalesce(c.betweenness_exact, m.size <= {int(settings.betweenness_exact_max)}) AS betweenness_exact
        FROM _net_members m
        LEFT JOIN seeds s ON s.nominal_id = m.nominal_id
        LEFT JOIN soc ON soc.nominal_id = m.nominal_id
        LEFT JOIN soc_groups sg ON sg.nominal_id = m.nominal_id
        LEFT JOIN _net_centrality c ON c.group_id = m.group_id AND c.node_index = m.node_index
        ORDER BY m.group_id, m.node_index
        """,
    )


def _network_groups_table(engine) -> None:
    """`network_groups`: size, parent component, SOC overlap, edges and CSE members of every group."""
    engine.create_table(
        "network_groups",
        """
        WITH e AS (SELECT group_id, count(*) AS edges FROM combined_edges WHERE group_id IS NOT NULL GROUP BY group_id)
        SELECT n.group_id, count(*) AS size, min(m.parent_component) AS parent_component,
               CAST(sum(CASE WHEN n.in_soc_network THEN 1 ELSE 0 END) AS INTEGER) AS soc_overlap,
               coalesce(max(e.edges), 0) AS edges,
               CAST(sum(CASE WHEN n.in_cse_network THEN 1 ELSE 0 END) AS INTEGER) AS cse_members
        FROM network_nominals n
        JOIN _net_members m ON m.nominal_id = n.nominal_id
        LEFT JOIN e ON e.group_id = n.group_id
        GROUP BY n.group_id
        ORDER BY n.group_id
        """,
    )



def _group_facts(engine, n_components: int) -> dict:
    """Counts for the manifest: nominals, edges, components, splits, groups, sampled betweenness."""
    g = engine.fetch_rows(
        "SELECT count(*), coalesce(max(size), 0), "
        "(SELECT count(*) FROM (SELECT DISTINCT component, piece FROM _net_leiden) p) FROM network_groups"
    )[0]
    return {
        "nominals": engine.count("network_nominals"),
        "combined_edges": engine.count("combined_edges"),
        "components": n_components,
        "components_split": int(engine.scalar("SELECT count(DISTINCT component) FROM _net_leiden") or 0),
        "groups": int(g[0]),
        "largest_group": int(g[1]),
        "groups_from_splits": int(g[2]),
        "betweenness_sampled_groups": int(
            engine.scalar("SELECT count(DISTINCT group_id) FROM network_nominals WHERE NOT betweenness_exact") or 0
        ),
    }


STAGE = Stage(
    "network",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("edges",),
    optional_reads=("full_table", "soc_nominals", "history_members", "history_ids"),
    # group_lineage is published by the changes stage, and only with a history (docs/continuity.md).
    writes=("combined_edges", "network_nominals", "network_groups", "group_lineage"),
)
