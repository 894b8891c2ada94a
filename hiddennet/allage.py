"""Stage `allage`: all-age exploitation in one run (docs/all-age.md).

    profile_crimes, profile_full_table, network_nominals, edges, crime_harm, safeguarding, group_harm,
    crimes, crime_nominals, missing_episodes
      -> profile_nominals, profile_edges, group_harm_by_profile, cross_profile, places, missing_children

Runs after harm. Every table is written on every run (empty when its feature is off) and published only
when its feature is on: the profile tables with `profiles`, `places` with `place_layer`, `missing_children`
when the input `missing_episodes` has rows. So a run without them publishes exactly what it did before.
"""

from __future__ import annotations

from hiddennet.contract import OFFENDER_ROLES
from hiddennet.engine import Engine
from hiddennet.layers import place_key_sql
from hiddennet.settings import Settings, active_profiles
from hiddennet.sql import age_years, date_lit
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

PROFILE_TABLES = ("profile_nominals", "profile_edges", "group_harm_by_profile", "cross_profile")
OUTPUT_TABLES = (*PROFILE_TABLES, "places", "missing_children")
CRIME_LAYERS = ("victim", "cooffend", "place")
_ROLES = "(" + ", ".join(f"'{r}'" for r in OFFENDER_ROLES) + ")"


def run(engine: Engine, settings: Settings) -> StageOutput:
    published: list[str] = []
    tagging = settings.profiles is not None and engine.has_table("profile_crimes")
    if tagging:
        _profile_nominals(engine)
        _profile_edges(engine)
        _group_harm_by_profile(engine, settings)
        _cross_profile(engine)
        published += PROFILE_TABLES
    else:
        for t in PROFILE_TABLES:
            engine.create_table(t, empty_sql(t))
    has_key = engine.has_table("crimes") and "location_key" in engine.columns("crimes")
    if settings.place_layer and has_key and engine.has_table("profile_crimes"):
        _places(engine, settings)
    else:
        engine.create_table("places", empty_sql("places"))
    if settings.place_layer:
        published.append("places")
    supplied = engine.has_table("missing_episodes") and engine.count("missing_episodes") > 0
    if supplied:
        _missing_children(engine, settings)
        published.append("missing_children")
    else:
        engine.create_table("missing_children", empty_sql("missing_children"))
    facts = {"profiles": active_profiles(settings), "location_key_supplied": has_key, "missing_episodes": supplied}
    for t in published:
        facts[f"{t}_rows"] = engine.count(t)
    return StageOutput(tables=tuple(published), facts=facts)


def _profile_nominals(engine: Engine) -> None:
    """Everyone on a profile's crimes: in an offender role on one, or a selected victim (profile_full_table)."""
    engine.create_table(
        "profile_nominals",
        f"""
        WITH tagged AS (
            SELECT pc.profile, cn.nominal_id, pc.crime_ref, true AS as_offender, false AS as_victim
            FROM profile_crimes pc JOIN crime_nominals cn ON cn.crime_ref = pc.crime_ref AND cn.role IN {_ROLES}
            UNION ALL
            SELECT profile, victim_id, crime_ref, false, true FROM profile_full_table
        )
        SELECT t.profile, t.nominal_id, n.group_id, bool_or(t.as_offender) AS as_offender,
               bool_or(t.as_victim) AS as_victim, count(DISTINCT t.crime_ref) AS crimes
        FROM tagged t LEFT JOIN network_nominals n ON n.nominal_id = t.nominal_id
        GROUP BY t.profile, t.nominal_id, n.group_id
        """,
    )


def _profile_edges(engine: Engine) -> None:
    """A crime layer's link under the profiles of its crimes; another layer's under the profiles of its ends."""
    crime_layers = ", ".join(f"'{x}'" for x in CRIME_LAYERS)
    engine.create_table(
        "profile_edges",
        f"""
        WITH refs AS (
            SELECT nominal_a, nominal_b, layer, unnest(crime_refs) AS crime_ref
            FROM edges WHERE layer IN ({crime_layers})
        ),
        by_crime AS (
            SELECT DISTINCT pc.profile, r.nominal_a, r.nominal_b, r.layer
            FROM refs r JOIN profile_crimes pc ON pc.crime_ref = r.crime_ref
        ),
        by_end AS (
            SELECT DISTINCT p.profile, e.nominal_a, e.nominal_b, e.layer
            FROM edges e JOIN profile_nominals p ON p.nominal_id = e.nominal_a OR p.nominal_id = e.nominal_b
            WHERE e.layer NOT IN ({crime_layers})
        )
        SELECT profile, nominal_a, nominal_b, layer FROM by_crime
        UNION SELECT profile, nominal_a, nominal_b, layer FROM by_end
        """,
    )


def _group_harm_by_profile(engine: Engine, settings: Settings) -> None:
    """Per group and profile: harm of the profile's in-window crimes of members in an offender role, as
    nominal harm counts it (each member and crime once); ranked among the profile's groups."""
    measure = "rank_harm_ons" if settings.priority_measure == "ons" else "rank_harm_cchi"
    engine.create_table(
        "group_harm_by_profile",
        f"""
        WITH members AS (
            SELECT profile, group_id, count(DISTINCT nominal_id) AS members FROM profile_nominals
            WHERE group_id IS NOT NULL GROUP BY profile, group_id
        ),
        items AS (
            SELECT DISTINCT pc.profile, n.group_id, n.nominal_id, h.crime_ref,
                   coalesce(h.cchi_days, 0) AS cchi, coalesce(h.ons_weight, 0) AS ons,
                   s.nominal_id IS NOT NULL AS flagged
            FROM network_nominals n
            JOIN crime_nominals cn ON cn.nominal_id = n.nominal_id AND cn.role IN {_ROLES}
            JOIN profile_crimes pc ON pc.crime_ref = cn.crime_ref
            JOIN crime_harm h ON h.crime_ref = cn.crime_ref AND h.in_window
            LEFT JOIN (SELECT DISTINCT nominal_id FROM safeguarding) s ON s.nominal_id = n.nominal_id
        ),
        sums AS (
            SELECT profile, group_id, count(DISTINCT crime_ref) AS crimes,
                   sum(cchi ORDER BY cchi) AS harm_cchi, sum(ons ORDER BY ons) AS harm_ons,
                   sum(CASE WHEN flagged THEN 0 ELSE cchi END ORDER BY CASE WHEN flagged THEN 0 ELSE cchi END)
                       AS rank_harm_cchi,
                   sum(CASE WHEN flagged THEN 0 ELSE ons END ORDER BY CASE WHEN flagged THEN 0 ELSE ons END)
                       AS rank_harm_ons
            FROM items GROUP BY profile, group_id
        ),
        joined AS (
            SELECT m.group_id, m.profile, CAST(m.members AS BIGINT) AS members,
                   CAST(coalesce(s.crimes, 0) AS BIGINT) AS crimes,
                   CAST(coalesce(s.harm_cchi, 0) AS DOUBLE) AS harm_cchi,
                   CAST(coalesce(s.harm_ons, 0) AS DOUBLE) AS harm_ons,
                   CAST(coalesce(s.rank_harm_cchi, 0) AS DOUBLE) AS rank_harm_cchi,
                   CAST(coalesce(s.rank_harm_ons, 0) AS DOUBLE) AS rank_harm_ons,
                   coalesce(g.safeguarding_only, false) AS safeguarding_only, g.size
            FROM members m
            LEFT JOIN sums s ON s.profile = m.profile AND s.group_id = m.group_id
            LEFT JOIN group_harm g ON g.group_id = m.group_id
        )
        SELECT group_id, profile, members, crimes, harm_cchi, harm_ons, rank_harm_cchi, rank_harm_ons,
               CAST(CASE WHEN safeguarding_only THEN NULL ELSE row_number() OVER (
                    PARTITION BY profile, safeguarding_only ORDER BY {measure} DESC, size DESC, group_id) END AS INT)
               AS priority_rank
        FROM joined
        """,
    )


def _cross_profile(engine: Engine) -> None:
    """Nominals and groups under two or more profiles; a nominal's offender profiles (a perpetrator across them)."""
    engine.create_table(
        "cross_profile",
        """
        WITH offending AS (
            SELECT nominal_id, list_sort(list(DISTINCT profile)) AS offender_profiles FROM profile_nominals
            WHERE as_offender GROUP BY nominal_id
        ),
        nominal AS (
            SELECT p.nominal_id AS id, max(p.group_id) AS group_id, list_sort(list(DISTINCT p.profile)) AS profiles,
                   CAST(count(DISTINCT p.profile) AS INTEGER) AS n_profiles,
                   coalesce(max(o.offender_profiles), CAST([] AS VARCHAR[])) AS offender_profiles
            FROM profile_nominals p LEFT JOIN offending o ON o.nominal_id = p.nominal_id
            GROUP BY p.nominal_id HAVING count(DISTINCT p.profile) > 1
        ),
        grp AS (
            SELECT g.group_id AS id, g.group_id, list_sort(list(DISTINCT g.profile)) AS profiles,
                   CAST(count(DISTINCT g.profile) AS INTEGER) AS n_profiles,
                   max(o.offender_profiles) AS offender_profiles
            FROM group_harm_by_profile g
            LEFT JOIN (
                SELECT group_id, list_sort(list(DISTINCT profile)) AS offender_profiles FROM profile_nominals
                WHERE as_offender AND group_id IS NOT NULL GROUP BY group_id
            ) o ON o.group_id = g.group_id
            GROUP BY g.group_id HAVING count(DISTINCT g.profile) > 1
        )
        SELECT 'nominal' AS kind, n.id, n.group_id, n.profiles, n.n_profiles, n.offender_profiles,
               s.nominal_id IS NOT NULL AS safeguarding_flagged
        FROM nominal n LEFT JOIN (SELECT DISTINCT nominal_id FROM safeguarding) s ON s.nominal_id = n.id
        UNION ALL
        SELECT 'group', id, group_id, profiles, n_profiles, coalesce(offender_profiles, CAST([] AS VARCHAR[])), false
        FROM grp
        """,
    )


def _places(engine: Engine, settings: Settings) -> None:
    """Per place and profile: selected crimes, people, harm, recency and missing episodes found there."""
    as_of = date_lit(settings.as_of)
    key = place_key_sql("location_key")
    found = (f"SELECT {place_key_sql('found_location_key')} AS place, count(*) AS n FROM missing_episodes "
             f"WHERE start_date <= {as_of} GROUP BY {place_key_sql('found_location_key')}"
             if engine.has_table("missing_episodes") else "SELECT CAST(NULL AS VARCHAR) AS place, 0 AS n WHERE false")
    engine.create_table(
        "places",
        f"""
        WITH located AS (SELECT crime_ref, {key} AS place, location_type, location_area FROM crimes),
        modes AS (
            SELECT place, kind, value, row_number() OVER (PARTITION BY place, kind ORDER BY n DESC, value) AS pick
            FROM (SELECT place, 'type' AS kind, location_type AS value, count(*) AS n FROM located
                  WHERE place IS NOT NULL AND location_type IS NOT NULL GROUP BY place, location_type
                  UNION ALL
                  SELECT place, 'area', location_area, count(*) FROM located
                  WHERE place IS NOT NULL AND location_area IS NOT NULL GROUP BY place, location_area) AS m
        ),
        crimes_at AS (
            SELECT DISTINCT pc.profile, l.place, pc.crime_ref, pc.offence_date
            FROM profile_crimes pc JOIN located l ON l.crime_ref = pc.crime_ref
            WHERE l.place IS NOT NULL AND pc.offence_date <= {as_of}
        ),
        people AS (
            SELECT c.profile, c.place, cn.nominal_id, cn.role = 'victim' AS is_victim
            FROM crimes_at c JOIN crime_nominals cn ON cn.crime_ref = c.crime_ref
            WHERE cn.role = 'victim' OR cn.role IN {_ROLES}
        ),
        counted AS (
            SELECT c.profile, c.place, count(*) AS crimes, max(c.offence_date) AS last_offence_date,
                   CAST(sum(coalesce(h.cchi_days, 0) ORDER BY coalesce(h.cchi_days, 0)) AS DOUBLE) AS harm
            FROM crimes_at c LEFT JOIN crime_harm h ON h.crime_ref = c.crime_ref GROUP BY c.profile, c.place
        ),
        heads AS (
            SELECT profile, place, count(DISTINCT CASE WHEN is_victim THEN nominal_id END) AS victims,
                   count(DISTINCT CASE WHEN NOT is_victim THEN nominal_id END) AS offenders
            FROM people GROUP BY profile, place
        ),
        rows AS (
            SELECT c.place AS location_key, t.value AS location_type, a.value AS location_area, c.profile,
                   CAST(c.crimes AS BIGINT) AS crimes, CAST(coalesce(h.victims, 0) AS BIGINT) AS victims,
                   CAST(coalesce(h.offenders, 0) AS BIGINT) AS offenders, c.harm, c.last_offence_date,
                   pow(2.0, -CAST(greatest(date_diff('day', c.last_offence_date, {as_of}), 0) AS DOUBLE)
                       / {float(settings.recency_half_life)!r}) AS recency_weight,
                   CAST(coalesce(f.n, 0) AS BIGINT) AS missing_found
            FROM counted c
            LEFT JOIN heads h ON h.profile = c.profile AND h.place = c.place
            LEFT JOIN modes t ON t.place = c.place AND t.kind = 'type' AND t.pick = 1
            LEFT JOIN modes a ON a.place = c.place AND a.kind = 'area' AND a.pick = 1
            LEFT JOIN ({found}) f ON f.place = c.place
        )
        SELECT *, CAST(row_number() OVER (PARTITION BY location_area, profile
                                          ORDER BY harm * recency_weight DESC, crimes DESC, location_key) AS INT)
                  AS area_rank
        FROM rows
        """,
    )


def _missing_children(engine: Engine, settings: Settings) -> None:
    """Children on as_of with missing episodes: how many, whether repeated, their group, where found."""
    as_of = date_lit(settings.as_of)
    engine.create_table(
        "missing_children",
        f"""
        WITH ep AS (
            SELECT nominal_id, count(*) AS episodes, max(start_date) AS last_missing
            FROM missing_episodes WHERE start_date <= {as_of} GROUP BY nominal_id
        ),
        found AS (
            SELECT nominal_id, list_sort(list(DISTINCT k)) AS keys FROM (
                SELECT nominal_id, {place_key_sql('found_location_key')} AS k FROM missing_episodes
                WHERE start_date <= {as_of}) AS f
            WHERE k IS NOT NULL GROUP BY nominal_id
        )
        SELECT e.nominal_id, CAST(e.episodes AS BIGINT) AS episodes, e.last_missing,
               e.episodes >= {int(settings.missing_repeat_episodes)} AS repeat_missing,
               g.group_id, coalesce(fd.keys, CAST([] AS VARCHAR[])) AS found_location_keys
        FROM ep e
        LEFT JOIN found fd ON fd.nominal_id = e.nominal_id
        JOIN nominals n ON n.nominal_id = e.nominal_id
        LEFT JOIN (SELECT nominal_id, min(group_id) AS group_id FROM network_nominals GROUP BY nominal_id) g
            ON g.nominal_id = e.nominal_id
        WHERE {age_years('n.date_of_birth', as_of)} < {int(settings.child_age)}
        """,
    )


STAGE = Stage(
    "allage",
    lambda engine, settings, ctx: run(engine, settings),
    optional_reads=("profile_crimes", "profile_full_table", "network_nominals", "edges", "crime_harm",
                    "safeguarding", "group_harm", "crimes", "crime_nominals", "missing_episodes", "input_nominals"),
    writes=OUTPUT_TABLES,
)
