"""Safeguarding first (method.md section 7): flag every child and exploited person the analysis finds.

The `safeguarding` table has one row per person with every reason that applies. The harm and
dismantle stages read it so that a flagged person is never ranked or chosen for disruption; the
referral pack (`referrals.py`) presents them to the multi-agency safeguarding hub of their area.

Decisions (docs/safeguarding.md explains them for reviewers):
- Age on `as_of` is whole years from the resolved date of birth in `nominals`. A victim of a
  selected crime whose date of birth is not in `nominals` gets the lowest age consistent with the
  age recorded at the offence (age then + whole years since): erring towards "child" is the safe way.
- `child_offender` looks at the crimes that link the person into the network: the crimes behind
  their victim-layer links (`final_table`); a person in the network through other layers only is
  judged on all their `full_table` crimes. An unknown age at a crime never counts as "a child".
- `crime_refs`: the person's selected crimes (`full_table`, any role), plus the crimes where they
  were recorded as a victim when that is why they are flagged (victim-offender overlap); a person
  with neither (linked into the network by intelligence or custody) gets all their recorded crimes.
- `local_area`: the most frequent `crimes.location_area` of those crimes; ties go to the area of
  the most recent crime, then to the first name in alphabetical order; NULL when none is recorded.
"""

from __future__ import annotations

from hiddennet.engine import Engine
from hiddennet.settings import Settings
from hiddennet.sql import age_years, date_lit
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

REASONS = ("child_victim", "transitional_victim", "child_offender", "child_in_network", "victim_offender_overlap")

# Scratch tables of this stage, dropped before it returns.
_AGES = "_safeguard_ages"
_REASONS = "_safeguard_reasons"
_CRIMES = "_safeguard_crimes"


def run(engine: Engine, settings: Settings) -> StageOutput:
    as_of = date_lit(settings.as_of)
    child = int(settings.child_age)
    tmax = int(settings.transitional_age_max)
    # Without a final table (a partial run) every full-table crime counts as linking.
    links = (
        "SELECT offender_1 AS nominal_id, crime_ref_1 AS crime_ref FROM final_table "
        "UNION SELECT offender_2 AS nominal_id, crime_ref_2 AS crime_ref FROM final_table"
        if engine.has_table("final_table")
        else empty_sql("full_table", "offender_id AS nominal_id, crime_ref")
    )

    # Age on as_of of everyone who may be flagged; born after as_of counts as 0.
    engine.create_table(
        _AGES,
        f"""
        WITH people AS (
            SELECT victim_id AS nominal_id FROM full_table
            UNION SELECT offender_id FROM full_table
            UNION SELECT nominal_id FROM network_nominals
            UNION SELECT nominal_id FROM crime_nominals WHERE role = 'victim'
        ),
        recorded AS (
            SELECT nominal_id, greatest({age_years('date_of_birth', as_of)}, 0) AS age
            FROM nominals WHERE date_of_birth IS NOT NULL
        ),
        victim_bound AS (
            SELECT victim_id AS nominal_id,
                   max(victim_age + greatest({age_years('offence_date', as_of)}, 0)) AS age,
                   bool_or(victim_age < {child}) AS victim_as_child
            FROM full_table GROUP BY victim_id
        )
        SELECT p.nominal_id,
               coalesce(r.age, v.age) AS age_on_as_of,
               r.age IS NULL AND v.age IS NOT NULL AS age_estimated,
               v.nominal_id IS NOT NULL AS selected_victim,
               coalesce(v.victim_as_child, false) AS victim_as_child
        FROM people p
        LEFT JOIN recorded r USING (nominal_id)
        LEFT JOIN victim_bound v USING (nominal_id)
        """,
    )

    engine.create_table(
        _REASONS,
        f"""
        WITH net AS (SELECT DISTINCT nominal_id FROM network_nominals),
        ft_offenders AS (SELECT DISTINCT offender_id AS nominal_id FROM full_table),
        offence_age AS (
            SELECT offender_id AS nominal_id, crime_ref, max(offender_age) AS age
            FROM full_table GROUP BY offender_id, crime_ref
        ),
        linking AS ({links}),
        judged AS (
            SELECT o.nominal_id, o.age, l.crime_ref IS NOT NULL AS via_link
            FROM offence_age o LEFT JOIN linking l ON l.nominal_id = o.nominal_id AND l.crime_ref = o.crime_ref
        ),
        childhood AS (
            SELECT nominal_id,
                   CASE WHEN bool_or(via_link)
                        THEN bool_and(CASE WHEN via_link THEN coalesce(age < {child}, false) ELSE true END)
                        ELSE bool_and(coalesce(age < {child}, false)) END AS all_linked_as_child
            FROM judged GROUP BY nominal_id
        )
        SELECT nominal_id, 'child_victim' AS reason FROM {_AGES}
            WHERE selected_victim AND victim_as_child AND age_on_as_of < {child}
        UNION ALL
        SELECT nominal_id, 'transitional_victim' FROM {_AGES}
            WHERE selected_victim AND victim_as_child AND age_on_as_of BETWEEN {child} AND {tmax}
        UNION ALL
        SELECT n.nominal_id, 'child_offender' FROM net n
            JOIN ft_offenders o ON o.nominal_id = n.nominal_id
            JOIN {_AGES} a ON a.nominal_id = n.nominal_id
            LEFT JOIN childhood c ON c.nominal_id = n.nominal_id
            WHERE coalesce(a.age_on_as_of < {child}, false) OR coalesce(c.all_linked_as_child, false)
        UNION ALL
        SELECT n.nominal_id, 'child_in_network' FROM net n
            JOIN {_AGES} a ON a.nominal_id = n.nominal_id
            WHERE a.age_on_as_of < {child}
        UNION ALL
        SELECT o.nominal_id, 'victim_offender_overlap' FROM ft_offenders o
            WHERE o.nominal_id IN (SELECT nominal_id FROM crime_nominals WHERE role = 'victim')
        """,
    )

    # The crimes shown with each flagged person (see the module docstring), with their area.
    engine.create_table(
        _CRIMES,
        f"""
        WITH flagged AS (SELECT DISTINCT nominal_id FROM {_REASONS}),
        overlap AS (SELECT nominal_id FROM {_REASONS} WHERE reason = 'victim_offender_overlap'),
        candidates AS (
            SELECT victim_id AS nominal_id, crime_ref, 1 AS tier FROM full_table
            UNION ALL SELECT offender_id AS nominal_id, crime_ref, 1 AS tier FROM full_table
            UNION ALL SELECT nominal_id, crime_ref, 1 AS tier FROM crime_nominals
                WHERE role = 'victim' AND nominal_id IN (SELECT nominal_id FROM overlap)
            UNION ALL SELECT nominal_id, crime_ref, 2 AS tier FROM crime_nominals
        ),
        tiered AS (
            SELECT c.nominal_id, c.crime_ref, c.tier, min(c.tier) OVER (PARTITION BY c.nominal_id) AS best
            FROM candidates c JOIN flagged f ON f.nominal_id = c.nominal_id
        )
        SELECT DISTINCT t.nominal_id, t.crime_ref, k.location_area, k.offence_date
        FROM tiered t LEFT JOIN crimes k ON k.crime_ref = t.crime_ref
        WHERE t.tier = t.best
        """,
    )

    engine.create_table(
        "safeguarding",
        f"""
        WITH reasons AS (
            SELECT nominal_id, list_sort(list(DISTINCT reason)) AS reasons FROM {_REASONS} GROUP BY nominal_id
        ),
        groups AS (
            SELECT nominal_id, list_sort(list(DISTINCT group_id)) AS group_ids
            FROM network_nominals WHERE nominal_id IN (SELECT nominal_id FROM {_REASONS}) GROUP BY nominal_id
        ),
        refs AS (
            SELECT nominal_id, list_sort(list(DISTINCT crime_ref)) AS crime_refs FROM {_CRIMES} GROUP BY nominal_id
        ),
        area_counts AS (
            SELECT nominal_id, location_area, count(DISTINCT crime_ref) AS n, max(offence_date) AS latest
            FROM {_CRIMES} WHERE location_area IS NOT NULL GROUP BY nominal_id, location_area
        ),
        area_ranked AS (
            SELECT nominal_id, location_area, n,
                   row_number() OVER (PARTITION BY nominal_id ORDER BY n DESC, latest DESC, location_area) AS pick,
                   count(*) OVER (PARTITION BY nominal_id, n) AS same_n,
                   max(n) OVER (PARTITION BY nominal_id) AS top_n
            FROM area_counts
        )
        SELECT r.nominal_id, r.reasons, a.age_on_as_of, coalesce(a.age_estimated, false) AS age_estimated,
               coalesce(g.group_ids, CAST([] AS VARCHAR[])) AS group_ids,
               ar.location_area AS local_area,
               coalesce(ar.same_n > 1, false) AS local_area_tied,
               coalesce(c.crime_refs, CAST([] AS VARCHAR[])) AS crime_refs,
               'to_refer' AS referral_status
        FROM reasons r
        LEFT JOIN {_AGES} a ON a.nominal_id = r.nominal_id
        LEFT JOIN groups g ON g.nominal_id = r.nominal_id
        LEFT JOIN refs c ON c.nominal_id = r.nominal_id
        LEFT JOIN area_ranked ar ON ar.nominal_id = r.nominal_id AND ar.pick = 1
        ORDER BY r.nominal_id
        """,
    )

    facts = _facts(engine, child)
    for name in (_AGES, _REASONS, _CRIMES):
        engine.drop(name)
    return StageOutput(tables=("safeguarding",), facts=facts)


def _facts(engine: Engine, child: int) -> dict:
    """Counts a reviewer needs: people per reason, and the check that no child victim is missed."""
    per_reason = dict(engine.fetch_rows(f"SELECT reason, count(DISTINCT nominal_id) FROM {_REASONS} GROUP BY reason"))
    row = engine.fetch_rows(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE age_estimated),
               count(*) FILTER (WHERE local_area IS NULL),
               count(*) FILTER (WHERE local_area_tied),
               count(*) FILTER (WHERE age_on_as_of IS NULL)
        FROM safeguarding
        """
    )[0]
    child_victims = engine.scalar(
        f"SELECT count(*) FROM {_AGES} WHERE selected_victim AND victim_as_child AND age_on_as_of < {child}"
    )
    unknown_age_in_network = engine.scalar(
        f"SELECT count(DISTINCT n.nominal_id) FROM network_nominals n LEFT JOIN {_AGES} a "
        "ON a.nominal_id = n.nominal_id WHERE a.age_on_as_of IS NULL"
    )
    return {
        "flagged_people": int(row[0]),
        "people_per_reason": {r: int(per_reason.get(r, 0)) for r in REASONS},
        "full_table_child_victims": int(child_victims),
        "age_estimated_from_offence": int(row[1]),
        "flagged_without_local_area": int(row[2]),
        "local_area_decided_by_tie_break": int(row[3]),
        "flagged_with_unknown_age": int(row[4]),
        "network_nominals_with_unknown_age": int(unknown_age_in_network),
    }


STAGE = Stage(
    "safeguard",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("crimes", "input_nominals", "crime_nominals", "full_table", "network_nominals"),
    optional_reads=("final_table",),
    writes=("safeguarding",),
)
