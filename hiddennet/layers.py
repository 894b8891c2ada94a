"""Layers: the four kinds of link between nominals, as one `edges` table (method.md sections 2 and 3).

    victim   offenders who share a victim (from `final_table`)
    intel    seed nominals named on the same actionable intelligence log
    custody  nominals (at least one a seed) who shared a prison cell for long enough
    soc      the existing Serious Organised Crime network, as given
    cooffend offenders on the same selected crime (setting `cooffending_layer`; docs/all-age.md)
    place    people on selected crimes at the same place, and children found there (setting `place_layer`)

Seed nominals are the offenders in `full_table`. Everything is SQL run through the engine, so the
intelligence layer of a whole force (millions of log mentions) never becomes Python objects, and
the same statements run on Spark after transpiling. Choices the method leaves open are listed in
docs/network.md.
"""

from __future__ import annotations

from hiddennet.contract import OFFENDER_ROLES
from hiddennet.settings import ALLAGE_LAYERS, Settings
from hiddennet.sql import date_lit
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

LAYER_NAMES = ("victim", "intel", "custody", "soc")

# Handling codes ranked from least to most restrictive across both grading systems. 5x5x5 runs
# 1 < 2 < 3 < 4 < 5; 3x5x2 P (share lawfully) ranks with 5x5x5 1 and C (conditions apply) is placed
# above 4 and below 5: conditions set by the originator bind at least as much as "originating
# agency only", while 5 ("no further dissemination") stays the strictest. Codes are unambiguous
# on their own (digits only in 5x5x5, letters only in 3x5x2), so the edge keeps the bare code.
HANDLING_RANK = {"1": 1, "P": 1, "2": 2, "3": 3, "4": 4, "C": 5, "5": 6}

# Scratch tables of this stage, dropped at the end.
_SCRATCH = (
    "_layers_seeds",
    "_layers_log_graded",
    "_layers_log_size",
    "_layers_intel_pairs",
    "_layers_stays",
    "_layers_custody_pairs",
    "_layers_cooffend_pairs",
    "_layers_place_people",
    "_layers_place_pairs",
)

EDGE_COLUMNS = (
    "nominal_a, nominal_b, layer, weight, first_date, last_date, evidence_count, handling_code, "
    "crime_refs, log_ids, soc_layer"
)


def _in_list(values) -> str:
    # Gradings come from validated settings (letters and digits); quoted for safety all the same.
    vals = [str(v).replace("'", "''") for v in values]
    return "(" + ", ".join(f"'{v}'" for v in vals) + ")" if vals else "(NULL)"


def _decay(age_days_sql: str, half_life: float) -> str:
    """2^(-age / half_life) as SQL; age in days."""
    return f"pow(2.0, -CAST({age_days_sql} AS DOUBLE) / {float(half_life)!r})"



# -- victim ---------------------------------------------------------------------------------------
def victim_sql() -> str:
    """Per offender pair: summed final-table weight, rows as evidence, dates over both crimes."""
    return """
        SELECT offender_1 AS nominal_a, offender_2 AS nominal_b, 'victim' AS layer,
               sum(weight ORDER BY weight) AS weight,  -- ordered: same bits on every run
               least(min(offence_date_1), min(offence_date_2)) AS first_date,
               greatest(max(offence_date_1), max(offence_date_2)) AS last_date,
               count(*) AS evidence_count,
               CAST(NULL AS VARCHAR) AS handling_code,
               list_sort(list_distinct(list_concat(list(crime_ref_1), list(crime_ref_2)))) AS crime_refs,
               CAST(NULL AS VARCHAR[]) AS log_ids,
               CAST(NULL AS VARCHAR) AS soc_layer
        FROM final_table
        WHERE offender_1 < offender_2
        GROUP BY offender_1, offender_2
    """


# -- intelligence ---------------------------------------------------------------------------------
def build_intel(engine, settings: Settings) -> dict:
    """Writes `_layers_intel_pairs` (one row per pair and log) and returns the counts by grading."""
    _grade_logs(engine, settings)
    _intel_pairs(engine, settings)
    return _intel_log_counts(engine, int(settings.max_log_nominals))


def _grade_logs(engine, settings: Settings) -> None:
    """`_layers_log_size`: every log with its grading, whether it is actionable, and k, its number of nominals."""
    as_of = date_lit(settings.as_of)
    grading = "concat(source_grade, information_grade)"
    engine.create_table(
        "_layers_log_graded",
        f"""
        SELECT log_id, log_date, grading_system, {grading} AS grading, handling_code,
               (grading_system = '3x5x2' AND {grading} IN {_in_list(settings.actionable_3x5x2)})
               OR (grading_system = '5x5x5' AND {grading} IN {_in_list(settings.actionable_5x5x5)})
               AS actionable,
               log_date > {as_of} AS after_as_of
        FROM intel_logs
        """,
    )
    # k = distinct nominals on the log, seed or not.
    engine.create_table(
        "_layers_log_size",
        """
        SELECT g.log_id, g.log_date, g.grading_system, g.grading, g.handling_code, g.actionable,
               g.after_as_of, coalesce(c.k, 0) AS k
        FROM _layers_log_graded g
        -- Counted per log first: grouping the join by every log column is slower for the same answer.
        LEFT JOIN (SELECT log_id, count(DISTINCT nominal_id) AS k FROM intel_nominals GROUP BY log_id) c
            ON c.log_id = g.log_id
        """,
    )


def _intel_pairs(engine, settings: Settings) -> None:
    """`_layers_intel_pairs`: a seed and another nominal on one usable log, weighted 1/(k-1) and by recency."""
    as_of = date_lit(settings.as_of)
    max_k = int(settings.max_log_nominals)
    # A pair counts once per log, also when both are seeds: hence the DISTINCT on the ordered pair.
    engine.create_table(
        "_layers_intel_pairs",
        f"""
        WITH used AS (
            SELECT log_id, log_date, handling_code, k FROM _layers_log_size
            WHERE actionable AND NOT after_as_of AND k BETWEEN 2 AND {max_k}
        ),
        mentions AS (
            SELECT DISTINCT n.log_id, n.nominal_id FROM intel_nominals n JOIN used u ON u.log_id = n.log_id
        ),
        pairs AS (
            SELECT DISTINCT s.log_id, least(s.nominal_id, o.nominal_id) AS nominal_a,
                   greatest(s.nominal_id, o.nominal_id) AS nominal_b
            FROM mentions s
            JOIN _layers_seeds sd ON sd.nominal_id = s.nominal_id
            JOIN mentions o ON o.log_id = s.log_id AND o.nominal_id <> s.nominal_id
        )
        SELECT p.log_id, p.nominal_a, p.nominal_b, u.log_date, u.handling_code,
               1.0 / (u.k - 1) * {_decay(f"date_diff('day', u.log_date, {as_of})", settings.recency_half_life)}
               AS weight
        FROM pairs p JOIN used u ON u.log_id = p.log_id
        """,
    )


def _intel_log_counts(engine, max_k: int) -> dict:
    """Logs not used, by reason (not actionable, too large by grading; too small, after as_of) and logs used."""
    rows = engine.fetch_rows(
        f"""
        SELECT grading_system, grading,
               sum(CASE WHEN NOT actionable THEN 1 ELSE 0 END) AS not_actionable,
               sum(CASE WHEN actionable AND NOT after_as_of AND k > {max_k} THEN 1 ELSE 0 END) AS too_large,
               sum(CASE WHEN actionable AND NOT after_as_of AND k < 2 THEN 1 ELSE 0 END) AS too_small,
               sum(CASE WHEN actionable AND after_as_of THEN 1 ELSE 0 END) AS after_as_of,
               sum(CASE WHEN actionable AND NOT after_as_of AND k BETWEEN 2 AND {max_k} THEN 1 ELSE 0 END) AS used
        FROM _layers_log_size GROUP BY grading_system, grading ORDER BY grading_system, grading
        """
    )
    facts: dict = {
        "intel_logs_not_actionable": {},
        "intel_logs_too_large": {},
        "intel_logs_too_small": 0,
        "intel_logs_after_as_of": 0,
        "intel_logs_used": 0,
    }
    for system, grading_value, not_act, too_large, too_small, after, used in rows:
        system = system or "unknown"
        grading_value = grading_value or "unknown"
        if not_act:
            facts["intel_logs_not_actionable"].setdefault(system, {})[grading_value] = int(not_act)
        if too_large:
            facts["intel_logs_too_large"].setdefault(system, {})[grading_value] = int(too_large)
        facts["intel_logs_too_small"] += int(too_small or 0)
        facts["intel_logs_after_as_of"] += int(after or 0)
        facts["intel_logs_used"] += int(used or 0)
    return facts


def intel_sql() -> str:
    """Per pair: weights summed over logs; the most restrictive handling code of its logs."""
    rank = " ".join(f"WHEN '{code}' THEN {r}" for code, r in HANDLING_RANK.items())
    return f"""
        WITH ranked AS (
            SELECT *, CASE handling_code {rank} ELSE NULL END AS handling_rank FROM _layers_intel_pairs
        ),
        strictest AS (
            SELECT nominal_a, nominal_b, handling_code,
                   row_number() OVER (PARTITION BY nominal_a, nominal_b
                                      ORDER BY handling_rank DESC NULLS LAST, handling_code DESC NULLS LAST) AS rn
            FROM ranked
        )
        SELECT p.nominal_a, p.nominal_b, 'intel' AS layer, sum(p.weight ORDER BY p.weight) AS weight,
               min(p.log_date) AS first_date, max(p.log_date) AS last_date, count(*) AS evidence_count,
               max(s.handling_code) AS handling_code,
               CAST(NULL AS VARCHAR[]) AS crime_refs,
               list_sort(list(p.log_id)) AS log_ids,
               CAST(NULL AS VARCHAR) AS soc_layer
        FROM _layers_intel_pairs p
        JOIN strictest s ON s.nominal_a = p.nominal_a AND s.nominal_b = p.nominal_b AND s.rn = 1
        GROUP BY p.nominal_a, p.nominal_b
    """


# -- custody --------------------------------------------------------------------------------------
def build_custody(engine, settings: Settings) -> dict:
    """Writes `_layers_stays` (a person's stays per cell, overlaps merged) and `_layers_custody_pairs`."""
    _merge_stays(engine, date_lit(settings.as_of))
    _cellmate_pairs(engine)
    return {"custody_stays_merged": engine.count("_layers_stays")}


def _merge_stays(engine, as_of: str) -> None:
    """`_layers_stays`: each person's stays in one cell, clipped to as_of, overlapping stays merged."""
    # Stays are clipped to as_of (an open stay ends there; days after it are not known yet).
    # Merging is gaps-and-islands: a stay starts a new island when it begins after every earlier
    # stay of the same person in the same cell has ended.
    engine.create_table(
        "_layers_stays",
        f"""
        WITH clipped AS (
            SELECT nominal_id, establishment, cell_id, from_date,
                   least(coalesce(to_date, {as_of}), {as_of}) AS to_date
            FROM custody_cells
            WHERE from_date <= {as_of}
        ),
        valid AS (SELECT * FROM clipped WHERE to_date >= from_date),
        marked AS (
            SELECT *, CASE WHEN max(to_date) OVER (
                            PARTITION BY nominal_id, establishment, cell_id ORDER BY from_date, to_date
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) IS NULL
                        OR date_diff('day', max(to_date) OVER (
                            PARTITION BY nominal_id, establishment, cell_id ORDER BY from_date, to_date
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), from_date) > 0
                       THEN 1 ELSE 0 END AS starts_island
            FROM valid
        ),
        islands AS (
            SELECT *, sum(starts_island) OVER (
                       PARTITION BY nominal_id, establishment, cell_id ORDER BY from_date, to_date
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
            FROM marked
        )
        SELECT nominal_id, establishment, cell_id, min(from_date) AS from_date, max(to_date) AS to_date
        FROM islands GROUP BY nominal_id, establishment, cell_id, island
        """,
    )


def _cellmate_pairs(engine) -> None:
    """`_layers_custody_pairs`: a seed and another person in one cell at the same time, with the days shared."""
    # Only cells where a seed stayed matter; each pair is produced once (from the smaller id when
    # both are seeds).
    engine.create_table(
        "_layers_custody_pairs",
        """
        WITH seed_stays AS (
            SELECT s.* FROM _layers_stays s JOIN _layers_seeds sd ON sd.nominal_id = s.nominal_id
        ),
        pairs AS (
            SELECT s.nominal_id AS n1, o.nominal_id AS n2,
                   greatest(s.from_date, o.from_date) AS shared_from,
                   least(s.to_date, o.to_date) AS shared_to
            FROM seed_stays s
            JOIN _layers_stays o ON o.establishment = s.establishment AND o.cell_id = s.cell_id
                 AND o.nominal_id <> s.nominal_id
                 AND o.from_date <= s.to_date AND s.from_date <= o.to_date
            LEFT JOIN _layers_seeds os ON os.nominal_id = o.nominal_id
            WHERE os.nominal_id IS NULL OR s.nominal_id < o.nominal_id
        )
        SELECT least(n1, n2) AS nominal_a, greatest(n1, n2) AS nominal_b, shared_from, shared_to,
               date_diff('day', shared_from, shared_to) + 1 AS shared_days
        FROM pairs
        """,
    )


def custody_sql(settings: Settings) -> str:
    as_of = date_lit(settings.as_of)
    return f"""
        SELECT nominal_a, nominal_b, 'custody' AS layer,
               {_decay(f"date_diff('day', max(shared_to), {as_of})", settings.recency_half_life)} AS weight,
               min(shared_from) AS first_date, max(shared_to) AS last_date, count(*) AS evidence_count,
               CAST(NULL AS VARCHAR) AS handling_code, CAST(NULL AS VARCHAR[]) AS crime_refs,
               CAST(NULL AS VARCHAR[]) AS log_ids, CAST(NULL AS VARCHAR) AS soc_layer
        FROM _layers_custody_pairs
        GROUP BY nominal_a, nominal_b
        HAVING sum(shared_days) >= {int(settings.min_shared_cell_days)}
    """


# -- SOC ------------------------------------------------------------------------------------------
def soc_sql() -> str:
    """(a, b) and (b, a) are one edge; the weight is the largest given (see docs/network.md)."""
    return """
        SELECT least(nominal_id_a, nominal_id_b) AS nominal_a, greatest(nominal_id_a, nominal_id_b) AS nominal_b,
               'soc' AS layer, max(coalesce(weight, 1.0)) AS weight,
               CAST(NULL AS DATE) AS first_date, CAST(NULL AS DATE) AS last_date, count(*) AS evidence_count,
               CAST(NULL AS VARCHAR) AS handling_code, CAST(NULL AS VARCHAR[]) AS crime_refs,
               CAST(NULL AS VARCHAR[]) AS log_ids,
               array_to_string(list_sort(list_distinct(list(layer))), ';') AS soc_layer
        FROM soc_edges
        WHERE nominal_id_a <> nominal_id_b AND coalesce(weight, 1.0) > 0
        GROUP BY least(nominal_id_a, nominal_id_b), greatest(nominal_id_a, nominal_id_b)
    """


# -- co-offending (docs/all-age.md) -----------------------------------------------------------------
def _offender_roles() -> str:
    return "(" + ", ".join(f"'{r}'" for r in OFFENDER_ROLES) + ")"


def build_cooffend(engine, settings: Settings) -> dict:
    """`_layers_cooffend_pairs` (one row per pair and crime): offenders on the same selected crime; with
    `cooffending_window_days` also a selected crime's offender and anyone who co-offended with them on any
    crime dated in the window. Crimes after as_of make no link. Each crime weighs 2^(-age / recency_half_life)."""
    as_of = date_lit(settings.as_of)
    window = settings.cooffending_window_days
    offenders = f"SELECT DISTINCT crime_ref, nominal_id FROM crime_nominals WHERE role IN {_offender_roles()}"
    selected = "SELECT DISTINCT crime_ref FROM profile_crimes"
    windowed = (
        f"""UNION
            SELECT p.crime_ref, p.a, p.b FROM all_pairs p JOIN dated d ON d.crime_ref = p.crime_ref
            WHERE date_diff('day', d.offence_date, {as_of}) BETWEEN 0 AND {int(window) - 1}
              AND (p.a IN (SELECT nominal_id FROM selected_offenders)
                   OR p.b IN (SELECT nominal_id FROM selected_offenders))"""
        if window else ""
    )
    engine.create_table(
        "_layers_cooffend_pairs",
        f"""
        WITH offenders AS ({offenders}),
        dated AS (SELECT crime_ref, offence_date FROM crimes WHERE offence_date <= {as_of}),
        all_pairs AS (
            SELECT x.crime_ref, x.nominal_id AS a, y.nominal_id AS b
            FROM offenders x JOIN offenders y ON y.crime_ref = x.crime_ref AND x.nominal_id < y.nominal_id
        ),
        selected_offenders AS (
            SELECT DISTINCT o.nominal_id FROM offenders o JOIN ({selected}) s ON s.crime_ref = o.crime_ref
        ),
        chosen AS (
            SELECT p.crime_ref, p.a, p.b FROM all_pairs p JOIN ({selected}) s ON s.crime_ref = p.crime_ref
            {windowed}
        )
        SELECT c.crime_ref, c.a AS nominal_a, c.b AS nominal_b, d.offence_date,
               {_decay(f"date_diff('day', d.offence_date, {as_of})", settings.recency_half_life)} AS weight
        FROM chosen c JOIN dated d ON d.crime_ref = c.crime_ref
        """,
    )
    return {"cooffend_crime_pairs": engine.count("_layers_cooffend_pairs")}


def cooffend_sql() -> str:
    return """
        SELECT nominal_a, nominal_b, 'cooffend' AS layer, sum(weight ORDER BY weight) AS weight,
               min(offence_date) AS first_date, max(offence_date) AS last_date, count(*) AS evidence_count,
               CAST(NULL AS VARCHAR) AS handling_code, list_sort(list(crime_ref)) AS crime_refs,
               CAST(NULL AS VARCHAR[]) AS log_ids, CAST(NULL AS VARCHAR) AS soc_layer
        FROM _layers_cooffend_pairs
        GROUP BY nominal_a, nominal_b
    """


# -- place (docs/all-age.md) -----------------------------------------------------------------------
def place_key_sql(col: str) -> str:
    """A place key as compared: trimmed and lower-cased; empty is none."""
    return f"nullif(lower(trim({col})), '')"


def build_place(engine, settings: Settings) -> dict:
    """`_layers_place_pairs`: two people at one place on different selected crimes (or one of them found there
    after a missing episode), weighted as the final table is (gap and recency halving). Places with more
    than `place_max_people` people make no links."""
    as_of = date_lit(settings.as_of)
    parts = []
    if "location_key" in engine.columns("crimes"):
        parts.append(f"""
            SELECT {place_key_sql("c.location_key")} AS place, c.crime_ref AS event, c.crime_ref, cn.nominal_id,
                   c.offence_date AS event_date
            FROM crimes c JOIN (SELECT DISTINCT crime_ref FROM profile_crimes) s ON s.crime_ref = c.crime_ref
            JOIN crime_nominals cn ON cn.crime_ref = c.crime_ref
                 AND (cn.role = 'victim' OR cn.role IN {_offender_roles()})
            WHERE c.offence_date <= {as_of}""")
    if engine.has_table("missing_episodes"):
        parts.append(f"""
            SELECT {place_key_sql("found_location_key")} AS place,
                   concat('missing:', nominal_id, ':', CAST(start_date AS VARCHAR)) AS event,
                   CAST(NULL AS VARCHAR) AS crime_ref, nominal_id, start_date AS event_date
            FROM missing_episodes WHERE start_date <= {as_of}""")
    body = " UNION ".join(parts) if parts else (
        "SELECT CAST(NULL AS VARCHAR) AS place, CAST(NULL AS VARCHAR) AS event, CAST(NULL AS VARCHAR) AS crime_ref, "
        "CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS DATE) AS event_date WHERE false")
    engine.create_table(
        "_layers_place_people",
        f"""
        SELECT p.*, k.people FROM (SELECT * FROM ({body}) AS u WHERE place IS NOT NULL) p
        JOIN (SELECT place, count(DISTINCT nominal_id) AS people FROM ({body}) AS u2 WHERE place IS NOT NULL
              GROUP BY place) k ON k.place = p.place
        """,
    )
    max_people = int(settings.place_max_people)
    gap = "abs(date_diff('day', x.event_date, y.event_date))"
    recency = f"greatest(date_diff('day', greatest(x.event_date, y.event_date), {as_of}), 0)"
    engine.create_table(
        "_layers_place_pairs",
        f"""
        SELECT DISTINCT x.place, x.nominal_id AS nominal_a, y.nominal_id AS nominal_b, x.event AS event_a,
               y.event AS event_b, x.crime_ref AS crime_a, y.crime_ref AS crime_b,
               least(x.event_date, y.event_date) AS first_date,
               greatest(x.event_date, y.event_date) AS last_date,
               {_decay(gap, settings.gap_half_life)} * {_decay(recency, settings.recency_half_life)} AS weight
        FROM _layers_place_people x
        JOIN _layers_place_people y ON y.place = x.place AND x.nominal_id < y.nominal_id AND x.event <> y.event
        WHERE x.people <= {max_people}
        """,
    )
    crowded = engine.fetch_rows(
        f"SELECT count(DISTINCT place) FROM _layers_place_people WHERE people > {max_people}")[0][0]
    return {"place_locations_too_crowded": int(crowded or 0),
            "place_location_key_supplied": "location_key" in engine.columns("crimes")}


def place_sql() -> str:
    # crime_refs: the crimes behind the link (a missing episode is evidence but not a crime).
    return """
        SELECT p.nominal_a, p.nominal_b, 'place' AS layer, sum(p.weight ORDER BY p.weight) AS weight,
               min(p.first_date) AS first_date, max(p.last_date) AS last_date, count(*) AS evidence_count,
               CAST(NULL AS VARCHAR) AS handling_code, max(r.crime_refs) AS crime_refs,
               CAST(NULL AS VARCHAR[]) AS log_ids, CAST(NULL AS VARCHAR) AS soc_layer
        FROM _layers_place_pairs p
        LEFT JOIN (
            SELECT nominal_a, nominal_b, list_sort(list(DISTINCT c)) AS crime_refs FROM (
                SELECT nominal_a, nominal_b, crime_a AS c FROM _layers_place_pairs
                UNION SELECT nominal_a, nominal_b, crime_b AS c FROM _layers_place_pairs
            ) AS u WHERE c IS NOT NULL GROUP BY nominal_a, nominal_b
        ) r ON r.nominal_a = p.nominal_a AND r.nominal_b = p.nominal_b
        GROUP BY p.nominal_a, p.nominal_b
    """


def run(engine, settings: Settings) -> StageOutput:
    """Build `edges` from the four layers."""
    if settings.as_of is None:  # the pipeline always sets it; a direct caller may not
        raise ValueError("layers: settings.as_of must be set")
    facts: dict = {}
    parts: list[str] = []

    cooffend = settings.cooffending_layer and engine.has_table("profile_crimes")
    place = settings.place_layer and engine.has_table("profile_crimes")
    if engine.has_table("full_table") and cooffend:
        # Offenders of selected crimes without a victim (drug supply) are seeds too.
        engine.create_table(
            "_layers_seeds",
            "SELECT offender_id AS nominal_id FROM full_table UNION SELECT cn.nominal_id FROM crime_nominals cn "
            "JOIN (SELECT DISTINCT crime_ref FROM profile_crimes) s ON s.crime_ref = cn.crime_ref "
            f"WHERE cn.role IN {_offender_roles()}",
        )
    elif engine.has_table("full_table"):
        engine.create_table("_layers_seeds", "SELECT DISTINCT offender_id AS nominal_id FROM full_table")
    else:
        engine.create_table("_layers_seeds", empty_sql("full_table", "offender_id AS nominal_id"))
    facts["seed_nominals"] = engine.count("_layers_seeds")

    if engine.has_table("final_table"):
        parts.append(victim_sql())
    if engine.has_table("intel_logs") and engine.has_table("intel_nominals"):
        facts.update(build_intel(engine, settings))
        parts.append(intel_sql())
    if engine.has_table("custody_cells"):
        facts.update(build_custody(engine, settings))
        parts.append(custody_sql(settings))
    if engine.has_table("soc_edges"):
        parts.append(soc_sql())
    if cooffend:
        facts.update(build_cooffend(engine, settings))
        parts.append(cooffend_sql())
    if place:
        facts.update(build_place(engine, settings))
        parts.append(place_sql())

    body = " UNION ALL ".join(f"SELECT {EDGE_COLUMNS} FROM ({p})" for p in parts) if parts else empty_sql("edges")
    engine.create_table("edges", f"SELECT {EDGE_COLUMNS} FROM ({body}) ORDER BY layer, nominal_a, nominal_b")

    counts = dict(engine.fetch_rows("SELECT layer, count(*) FROM edges GROUP BY layer"))
    facts["edges_by_layer"] = {name: int(counts.get(name, 0)) for name in LAYER_NAMES}
    facts["edges_by_layer"].update({name: int(counts[name]) for name in ALLAGE_LAYERS if name in counts})
    facts["edges"] = sum(facts["edges_by_layer"].values())
    for name in _SCRATCH:
        engine.drop(name)
    return StageOutput(tables=("edges",), facts=facts)


# The layers whose weights gap_half_life moves: the victim layer (the final table's weights, which
# select halves by the time between crimes) and the place layer (its own gap halving).
GAP_LAYERS = ("victim", "place")


def rebuild_gap_layers(engine, settings: Settings) -> StageOutput:
    """`edges` for settings that differ from the run's only in gap_half_life (and layer weights,
    which layers do not read): the run's `edges` of the other layers as they are (their weights
    read only recency_half_life), the victim and place layers built again as `run` builds them.
    The same table as `run` on those settings, without the intelligence and custody pairs' work."""
    place = settings.place_layer and engine.has_table("profile_crimes")
    kept = ", ".join(f"'{name}'" for name in GAP_LAYERS)
    parts = [f"SELECT {EDGE_COLUMNS} FROM edges WHERE layer NOT IN ({kept})"]
    if engine.has_table("final_table"):
        parts.append(victim_sql())
    if place:
        build_place(engine, settings)
        parts.append(place_sql())
    body = " UNION ALL ".join(f"SELECT {EDGE_COLUMNS} FROM ({p})" for p in parts)
    engine.create_table("edges", f"SELECT {EDGE_COLUMNS} FROM ({body}) ORDER BY layer, nominal_a, nominal_b")
    for name in _SCRATCH:
        engine.drop(name)
    return StageOutput(tables=("edges",), facts={})


STAGE = Stage(
    "layers",
    lambda engine, settings, ctx: run(engine, settings),
    optional_reads=("full_table", "final_table", "intel_logs", "intel_nominals", "custody_cells", "soc_edges",
                    "profile_crimes", "crimes", "crime_nominals", "missing_episodes"),
    writes=("edges",),
)
