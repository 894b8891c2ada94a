"""Entity resolution (docs/resolve.md): one person, one node, before selection.

The last step of ingest when `resolve` is on. Ingest has written its typed tables on the ids of the
systems the records came from; this step decides which records are one person (merge.py: a person's
decisions, same PNC id, the force's crosswalk, then the Splink model of model.py, never a child's
record with an adult's automatically), writes `nominal_map` (every source id -> canonical id),
`review_pairs` and `match_explanations`, and rewrites ingest's person-keyed tables on canonical ids,
so every stage after ingest works on people, not records. Run inside ingest because those tables are
ingest's: no other stage writes them (hiddennet/engine/checking.py).
"""

from __future__ import annotations

import datetime as dt
import time

import pyarrow as pa
import pyarrow.compute as pc

from hiddennet import tables
from hiddennet.engine.base import Engine
from hiddennet.resolve.merge import Pair, Record, Resolution, resolve_people
from hiddennet.resolve.model import IDENTIFIERS, ModelPair, score_pairs
from hiddennet.settings import Settings
from hiddennet.sql import lit, q

INPUTS = ("nominal_crosswalk", "review_decisions")
OUTPUTS = ("nominal_map", "review_pairs", "match_explanations")
# Ingest's tables keyed by a person, the person columns of each, and the key rows collapse on once
# two records are one person (None: every row is kept).
PERSON_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "crime_nominals": (("nominal_id",), ("crime_ref", "nominal_id", "role")),
    "intel_nominals": (("nominal_id",), ("log_id", "nominal_id")),
    "custody_cells": (("nominal_id",), None),
    "soc_nominals": (("nominal_id",), ("nominal_id", "group_id")),
    "soc_edges": (("nominal_id_a", "nominal_id_b"), None),
    "sharing_basis": (("nominal_id",), None),
    "referral_outcomes": (("nominal_id",), None),
    "demographic_conflicts": (("nominal_id",), ("nominal_id", "column", "kind")),
    # All-age (docs/all-age.md): one person's episodes under two records are one person's episodes.
    "missing_episodes": (("nominal_id",), ("nominal_id", "start_date")),
}


def write_empty(engine: Engine) -> None:
    """Resolve off: its tables exist, empty (never published)."""
    for name in OUTPUTS:
        engine.empty(name)


def run(engine: Engine, settings: Settings, as_of: dt.date) -> dict:
    cpu0 = time.process_time()  # this process's CPU (every thread of it): the shared machine's load aside
    # The optional identifiers (docs/input-contract.md) the force's person records hold, carried by ingest as extras.
    extra = [c for c in IDENTIFIERS if c in engine.columns("nominals")]
    records = engine.fetch_arrow(
        f"SELECT nominal_id, coalesce(source_system, {lit(settings.resolve_source_system)}) AS source_system, "
        f"forename, surname, date_of_birth, sex, ethnicity, pnc_id{''.join(', ' + q(c) for c in extra)} "
        "FROM nominals ORDER BY nominal_id"
    )
    crosswalk = engine.fetch_rows("SELECT source_system, source_id, nominal_id FROM nominal_crosswalk "
                                  "ORDER BY source_system, source_id")
    decisions = {(min(a, b), max(a, b)): d for a, b, d in engine.fetch_rows(
        "SELECT nominal_id_a, nominal_id_b, decision FROM review_decisions ORDER BY nominal_id_a, nominal_id_b")}
    # Which of the crosswalk's ids are person records, asked of the id column (no Python set of every record).
    is_record = _membership(records, [x for _, s, n in crosswalk for x in (s, n)])
    model_pairs, model_facts = score_pairs(records, settings.resolve_review_probability, settings.resolve_seed)
    pairs = _pnc_pairs(records) + [Pair(s, n, 1.0, "crosswalk") for _, s, n in crosswalk if is_record[s]]
    pairs += [Pair(p.a, p.b, p.probability, "model") for p in model_pairs]
    # Only records named by a pair or a decision can be merged: the rest stay people of their own.
    touched = {x for p in pairs for x in (p.a, p.b)} | {x for k in decisions for x in k}
    people = _people(records, as_of, settings.child_age, touched)
    res = resolve_people(people, pairs, decisions, settings.resolve_match_probability,
                         settings.resolve_review_probability, settings.resolve_source_system)
    # res.canonical covers the touched records; every other record is its own canonical id.
    outside = [(sys, s, n) for sys, s, n in crosswalk if not is_record[s] and is_record[n]]
    _write_map(engine, records, res, outside)
    _write_review(engine, res)
    _write_explanations(engine, res, model_pairs)
    _rewrite(engine)
    merged = sum(1 for r, c in res.canonical.items() if r != c)
    # Each person's canonical id is one of its records, so people = records - records merged into another.
    return {**model_facts, "records_merged": merged, "people": records.num_rows - merged,
            "review_pairs": len(res.review), "held_child_and_adult": res.held_child_adult,
            "kept_apart_by_decision": res.kept_apart, "decisions": len(decisions),
            "crosswalk_ids": len(crosswalk), "cpu_seconds": round(time.process_time() - cpu0, 3)}


def _people(records: pa.Table, as_of: dt.date, child_age: int, touched: set[str]) -> list[Record]:
    """The records in `touched`, each a child when under `child_age` on `as_of` (vectorised: a child was
    born after the day `child_age` years before `as_of`; 29 February falls back to 28 February)."""
    try:
        cutoff = as_of.replace(year=as_of.year - child_age)
    except ValueError:
        cutoff = dt.date(as_of.year - child_age, 2, 28)
    child = pc.greater(records.column("date_of_birth"), pa.scalar(cutoff, pa.date32())).to_pylist()
    return [Record(nid, system, c) for nid, system, c in zip(records.column("nominal_id").to_pylist(),
                                                            records.column("source_system").to_pylist(), child,
                                                            strict=True) if nid in touched]


def _age(dob: dt.date, as_of: dt.date) -> int:
    return as_of.year - dob.year - ((as_of.month, as_of.day) < (dob.month, dob.day))


def _membership(records: pa.Table, values: list[str]) -> dict[str, bool]:
    """value -> whether it is the id of a person record."""
    if not values:
        return {}
    found = pc.is_in(pa.array(values, pa.string()), value_set=records.column("nominal_id").combine_chunks())
    return dict(zip(values, found.to_pylist(), strict=True))


def _pnc_pairs(records: pa.Table) -> list[Pair]:
    """Records with the same PNC id (ignoring case and spaces): a chain through each id's records. Only the
    records whose id is shared reach Python."""
    pnc = pc.utf8_upper(pc.replace_substring_regex(records.column("pnc_id"), r"\s+", ""))
    t = pa.table({"pnc": pnc, "nominal_id": records.column("nominal_id")}).filter(
        pc.fill_null(pc.not_equal(pnc, ""), False))
    counts = t.group_by("pnc").aggregate([("nominal_id", "count")])
    shared = counts.filter(pc.greater(counts.column("nominal_id_count"), 1)).column("pnc")
    t = t.filter(pc.is_in(t.column("pnc"), value_set=shared.combine_chunks()))
    by_pnc: dict[str, list[str]] = {}
    for key, nid in zip(t.column("pnc").to_pylist(), t.column("nominal_id").to_pylist(), strict=True):
        by_pnc.setdefault(key, []).append(nid)
    pairs = []
    for same in by_pnc.values():
        first, *others = sorted(same)
        pairs += [Pair(first, other, 1.0, "pnc") for other in others]
    return pairs


def _write_map(engine: Engine, records: pa.Table, res: Resolution, outside: list[tuple[str, str, str]]) -> None:
    """One row per record (in id order), then the crosswalk's ids that have no record. Built column-wise: the
    records no pair touched (nearly all) are `single`, their own canonical id, without a Python pass over them."""
    ids = records.column("nominal_id").combine_chunks()
    linked = sorted(res.canonical)
    edges = [res.joined_by.get(i) for i in linked]
    at = pc.index_in(ids, value_set=pa.array(linked, pa.string()))  # null: a record no pair touched

    def column(values: list, kind: pa.DataType, default: pa.Array | pa.Scalar) -> pa.Array:
        return pc.if_else(pc.is_valid(at), pc.take(pa.array(values, kind), at), default)

    canonical = column([res.canonical[i] for i in linked], pa.string(), ids)
    probability = column([None if e is None else e.probability for e in edges], pa.float64(),
                         pa.scalar(None, pa.float64()))
    rule = column(["single" if e is None else e.rule for e in edges], pa.string(), pa.scalar("single"))
    linked_id = column([None if e is None else (e.b if e.a == i else e.a) for i, e in zip(linked, edges, strict=True)],
                       pa.string(), pa.scalar(None, pa.string()))
    canon_of = {i: res.canonical.get(i, i) for o in outside for i in [o[2]]}
    rows = {
        "source_system": pa.concat_arrays([records.column("source_system").combine_chunks().cast(pa.string()),
                                           pa.array([o[0] for o in outside], pa.string())]),
        "source_id": pa.concat_arrays([ids, pa.array([o[1] for o in outside], pa.string())]),
        "canonical_id": pa.concat_arrays([canonical, pa.array([canon_of[o[2]] for o in outside], pa.string())]),
        "match_probability": pa.concat_arrays([probability, pa.array([1.0] * len(outside), pa.float64())]),
        "rule": pa.concat_arrays([rule, pa.array(["crosswalk"] * len(outside), pa.string())]),
        "linked_id": pa.concat_arrays([linked_id, pa.array([o[2] for o in outside], pa.string())]),
    }
    schema = tables.arrow_schema("nominal_map")  # the columns in the order of `rows`
    engine.register_arrow("nominal_map", pa.Table.from_arrays(
        [v.cast(f.type) for v, f in zip(rows.values(), schema, strict=True)], schema=schema))


def _write_review(engine: Engine, res: Resolution) -> None:
    cols = tables.table("review_pairs").column_names
    data = [(f"{a}|{b}", a, b, res.canonical[a], res.canonical[b], p.probability, p.rule, why)
            for p, why in res.review for a, b in [p.key()]]
    engine.register_arrow("review_pairs", pa.table(
        {c: [d[i] for d in data] for i, c in enumerate(cols)}, schema=tables.arrow_schema("review_pairs")))


def _write_explanations(engine: Engine, res: Resolution, model_pairs: list[ModelPair]) -> None:
    """Per-comparison match weights of the model pairs that were merged or held for review."""
    shown = {p.key() for p, _ in res.review} | {e.key() for e in res.joined_by.values()}
    data = [(p.a, p.b, c, level, label, weight, p.probability)
            for p in model_pairs if (min(p.a, p.b), max(p.a, p.b)) in shown for c, level, label, weight in p.weights]
    cols = tables.table("match_explanations").column_names
    engine.register_arrow("match_explanations", pa.table(
        {c: [d[i] for d in data] for i, c in enumerate(cols)}, schema=tables.arrow_schema("match_explanations")))


def _rewrite(engine: Engine) -> None:
    """Ingest's person-keyed tables on canonical ids (column order and types kept)."""
    engine.create_table("__res_canon",
                        "SELECT source_id, canonical_id FROM nominal_map WHERE source_id <> canonical_id")
    _rewrite_nominals(engine)
    for t, (person_cols, key) in PERSON_TABLES.items():
        cols = engine.columns(t)
        joins = " ".join(f"LEFT JOIN __res_canon m{i} ON m{i}.source_id = t.{q(c)}" for i, c in enumerate(person_cols))
        mapped = {c: f"coalesce(m{i}.canonical_id, t.{q(c)})" for i, c in enumerate(person_cols)}
        select = ", ".join(f"{mapped[c]} AS {q(c)}" if c in mapped else f"t.{q(c)}" for c in cols)
        body = f"SELECT {select} FROM {t} t {joins}"
        if t == "soc_edges":  # two records of one person are no longer a link
            body = f"SELECT * FROM ({body}) x WHERE nominal_id_a <> nominal_id_b"
        if key:
            order = "source_line" if "source_line" in cols else ", ".join(q(c) for c in cols)
            body = (f"SELECT {', '.join(q(c) for c in cols)} FROM (SELECT *, row_number() OVER (PARTITION BY "
                    f"{', '.join(q(k) for k in key)} ORDER BY {order}) AS __n FROM ({body}) y) z WHERE __n = 1")
        engine.create_table(f"__res_{t}", body)
        engine.create_table(t, f"SELECT * FROM __res_{t}")
        engine.drop(f"__res_{t}")
    engine.drop("__res_canon")


def _rewrite_nominals(engine: Engine) -> None:
    """One row per person: the canonical record's values, a blank filled from the person's other records,
    and the youngest date of birth among them (a child's record keeps the person a child)."""
    cols = engine.columns("nominals")
    filled = [c for c in cols if c not in ("nominal_id", "date_of_birth", "source_line", "source_system")]
    agg = ", ".join(["max(n.date_of_birth) AS date_of_birth"] + [f"min(n.{q(c)}) AS {q(c)}" for c in filled])
    engine.create_table(
        "__res_people",
        f"SELECT coalesce(m.canonical_id, n.nominal_id) AS canonical_id, {agg} FROM nominals n "
        f"LEFT JOIN __res_canon m ON m.source_id = n.nominal_id GROUP BY coalesce(m.canonical_id, n.nominal_id)",
    )
    select = []
    for c in cols:
        if c == "date_of_birth":
            select.append("p.date_of_birth")
        elif c in filled:
            select.append(f"coalesce(n.{q(c)}, p.{q(c)}) AS {q(c)}")
        else:
            select.append(f"n.{q(c)}")
    engine.create_table("__res_nominals", f"SELECT {', '.join(select)} FROM nominals n "
                        "JOIN __res_people p ON p.canonical_id = n.nominal_id")
    engine.create_table("nominals", "SELECT * FROM __res_nominals")
    for scratch in ("__res_nominals", "__res_people"):
        engine.drop(scratch)
