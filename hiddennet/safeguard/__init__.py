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
- `nrm_consider` / `adult_at_risk`: victims of a selected slavery or trafficking crime (every selected
  crime under a profile of `slavery_profiles`, else one with an offence code of `slavery_offence_codes`),
  of any age; those 18 or over on `as_of` are also adults at risk.
- Lawful sharing: a child (under `child_age` on `as_of`) is shared with the hub of their area under
  Working Together to Safeguard Children 2018; anyone else only with a recorded basis in the
  force's `sharing_basis` input (the latest record on or before `as_of` decides; a refusal or
  withdrawal of consent, or an expired basis, means none). Without one the person is on the
  police-side review list (`safeguarding_review`) and never in a pack.

Besides `safeguarding` the stage writes `safeguarding_review`, `safeguarding_crimes` (the crimes behind
each flag, with type and date) and `safeguarding_identifiers` (names, date of birth and sex of flagged
people, only when `referral_identifiers` is on; else empty). Triage (`bands.py`) runs after harm.
"""

from __future__ import annotations

from hiddennet.contract import NO_SHARING_BASES, OFFENDER_ROLES
from hiddennet.engine import Engine
from hiddennet.safeguard.bands import triage
from hiddennet.select import load_profile
from hiddennet.settings import Settings
from hiddennet.sql import age_years, date_lit
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

__all__ = ["run", "triage", "REASONS", "CHILD_BASIS", "OUTPUT_TABLES"]

REASONS = (
    "child_victim", "transitional_victim", "child_offender", "child_in_network", "victim_offender_overlap",
    "adult_at_risk", "nrm_consider", "possible_cce_victim",
)
_ALLAGE_REASONS = ("possible_cce_victim",)
OUTPUT_TABLES = ("safeguarding", "safeguarding_review", "safeguarding_crimes", "safeguarding_identifiers")
# The basis on which a child is shared with the hub of their area.
CHILD_BASIS = "working_together_2018"

# Scratch tables of this stage, dropped before it returns.
_AGES = "_safeguard_ages"
_REASONS = "_safeguard_reasons"
_CRIMES = "_safeguard_crimes"


def run(engine: Engine, settings: Settings) -> StageOutput:
    as_of = date_lit(settings.as_of)
    child = int(settings.child_age)
    tmax = int(settings.transitional_age_max)
    slavery, slavery_join = _slavery_sql(settings)
    # Without a final table (a partial run) every full-table crime counts as linking.
    links = (
        "SELECT offender_1 AS nominal_id, crime_ref_1 AS crime_ref FROM final_table "
        "UNION SELECT offender_2 AS nominal_id, crime_ref_2 AS crime_ref FROM final_table"
        if engine.has_table("final_table")
        else empty_sql("full_table", "offender_id AS nominal_id, crime_ref")
    )

    _ages_table(engine, as_of, child, slavery, slavery_join)
    _reasons_table(engine, child, tmax, links, _cce_suspects_sql(engine, settings))
    _crimes_table(engine)
    _safeguarding_table(engine, as_of, child)
    _police_side_tables(engine, settings)

    facts = _facts(engine, child)
    for name in (_AGES, _REASONS, _CRIMES):
        engine.drop(name)
    return StageOutput(tables=OUTPUT_TABLES, facts=facts)


def _ages_table(engine: Engine, as_of: str, child: int, slavery: str, slavery_join: str = "") -> None:
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
                   bool_or(victim_age < {child}) AS victim_as_child,
                   bool_or({slavery}) AS slavery_victim
            FROM full_table{slavery_join} GROUP BY victim_id
        )
        SELECT p.nominal_id,
               coalesce(r.age, v.age) AS age_on_as_of,
               r.age IS NULL AND v.age IS NOT NULL AS age_estimated,
               v.nominal_id IS NOT NULL AS selected_victim,
               coalesce(v.victim_as_child, false) AS victim_as_child,
               coalesce(v.slavery_victim, false) AS slavery_victim
        FROM people p
        LEFT JOIN recorded r USING (nominal_id)
        LEFT JOIN victim_bound v USING (nominal_id)
        """,
    )


def _reasons_table(engine: Engine, child: int, tmax: int, links: str, cce_suspects: str = "") -> None:
    """One row per person and reason that flags them."""
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
        UNION ALL
        SELECT nominal_id, 'nrm_consider' FROM {_AGES} WHERE slavery_victim
        UNION ALL
        SELECT nominal_id, 'adult_at_risk' FROM {_AGES} WHERE slavery_victim AND age_on_as_of >= {child}
        {cce_suspects}
        """,
    )


def _crimes_table(engine: Engine) -> None:
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


def _safeguarding_table(engine: Engine, as_of: str, child: int) -> None:
    """One row per flagged person: reasons, age, groups, crimes, area, whether they may be shared."""
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
               CASE WHEN sh.sharing_basis IS NULL THEN 'police_review' ELSE 'to_refer' END AS referral_status,
               sh.sharing_basis IS NOT NULL AS share_with_hub,
               sh.sharing_basis, sh.sharing_basis_expires, sh.review_reason,
               oc.outcome AS last_outcome, oc.outcome_date AS last_outcome_date
        FROM reasons r
        LEFT JOIN {_AGES} a ON a.nominal_id = r.nominal_id
        LEFT JOIN groups g ON g.nominal_id = r.nominal_id
        LEFT JOIN refs c ON c.nominal_id = r.nominal_id
        LEFT JOIN area_ranked ar ON ar.nominal_id = r.nominal_id AND ar.pick = 1
        LEFT JOIN ({_sharing_sql(engine, as_of, child)}) sh ON sh.nominal_id = r.nominal_id
        LEFT JOIN ({_outcome_sql(engine, as_of)}) oc ON oc.nominal_id = r.nominal_id
        ORDER BY r.nominal_id
        """,
    )


def _slavery_sql(settings: Settings) -> tuple[str, str]:
    """SQL over a `full_table` row: true for a slavery or trafficking crime (see the module docstring), and the
    join it needs (several profiles: the row's crime selected by a profile of `slavery_profiles`)."""
    codes = ", ".join("'" + c.replace("'", "''") + "'" for c in settings.slavery_offence_codes)
    by_code = f"coalesce(upper(trim(offence_code)) IN ({codes.upper()}), false)" if codes else "false"
    if settings.profiles is not None:
        names = ", ".join("'" + p.replace("'", "''") + "'" for p in settings.slavery_profiles) or "NULL"
        join = (f" LEFT JOIN (SELECT DISTINCT crime_ref AS slavery_crime FROM profile_crimes "
                f"WHERE profile IN ({names})) sl ON sl.slavery_crime = full_table.crime_ref")
        return f"(sl.slavery_crime IS NOT NULL OR {by_code})", join
    if load_profile(settings.profile).name in settings.slavery_profiles:
        return "true", ""
    return by_code, ""


def _cce_suspects_sql(engine: Engine, settings: Settings) -> str:
    """`possible_cce_victim` (docs/all-age.md): with the co-offending layer on and `cce` among the profiles,
    a network nominal in an offender role on a drug-supply crime selected under `cce` who was a child on its
    offence date: a possible victim of criminal exploitation (Modern Slavery Act 2015 s.45; study section 12),
    never a target. Empty SQL otherwise, so that the stage is unchanged without the setting."""
    names = settings.profiles if settings.profiles is not None else [settings.profile]
    if not settings.cooffending_layer or "cce" not in names or not engine.has_table("profile_crimes"):
        return ""
    codes = ", ".join("'" + c.strip().upper().replace("'", "''") + "'" for c in settings.drug_supply_offence_codes)
    if not codes:
        return ""
    roles = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    return f"""
        UNION ALL
        SELECT DISTINCT cn.nominal_id, 'possible_cce_victim' FROM profile_crimes pc
            JOIN crime_nominals cn ON cn.crime_ref = pc.crime_ref AND cn.role IN ({roles})
            JOIN nominals n ON n.nominal_id = cn.nominal_id
            JOIN (SELECT DISTINCT nominal_id FROM network_nominals) nn ON nn.nominal_id = cn.nominal_id
            WHERE pc.profile = 'cce' AND upper(trim(pc.offence_code)) IN ({codes})
              AND {age_years('n.date_of_birth', 'pc.offence_date')} < {int(settings.child_age)}"""


def _sharing_sql(engine: Engine, as_of: str, child: int) -> str:
    """Per person of `_safeguard_ages`: sharing_basis (NULL: none), its expiry, and why a person without one
    stays on the police side. A child: Working Together 2018. Others: the latest recorded basis on or before
    as_of (ties: a refusal first, then by name); a refusal, a withdrawal or an expiry before as_of is none."""
    no_basis = ", ".join(f"'{b}'" for b in NO_SHARING_BASES)
    if engine.has_table("sharing_basis"):
        recorded = (f"SELECT nominal_id, basis, expires, row_number() OVER "
                    f"(PARTITION BY nominal_id ORDER BY recorded_date DESC, "
                    f"CASE WHEN basis IN ({no_basis}) THEN 0 ELSE 1 END, basis) AS pick "
                    f"FROM sharing_basis WHERE recorded_date <= {as_of}")
    else:
        recorded = ("SELECT CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS VARCHAR) AS basis, "
                    "CAST(NULL AS DATE) AS expires, 1 AS pick WHERE false")
    usable = f"b.basis IS NOT NULL AND b.basis NOT IN ({no_basis}) AND (b.expires IS NULL OR b.expires >= {as_of})"
    return f"""
        SELECT a.nominal_id,
               CASE WHEN a.age_on_as_of < {child} THEN '{CHILD_BASIS}' WHEN {usable} THEN b.basis END AS sharing_basis,
               CASE WHEN a.age_on_as_of < {child} THEN NULL WHEN {usable} THEN b.expires END AS sharing_basis_expires,
               CASE WHEN a.age_on_as_of < {child} OR ({usable}) THEN NULL
                    WHEN b.basis IN ({no_basis}) THEN 'consent_refused_or_withdrawn'
                    WHEN b.basis IS NOT NULL THEN 'basis_expired'
                    WHEN a.age_on_as_of IS NULL THEN 'age_unknown_no_basis'
                    ELSE 'adult_no_basis' END AS review_reason
        FROM {_AGES} a LEFT JOIN ({recorded}) b ON b.nominal_id = a.nominal_id AND b.pick = 1
    """


def _outcome_sql(engine: Engine, as_of: str) -> str:
    """The latest outcome a hub reported (input `referral_outcomes`) on or before as_of; ties by name."""
    if not engine.has_table("referral_outcomes"):
        return ("SELECT CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS VARCHAR) AS outcome, "
                "CAST(NULL AS DATE) AS outcome_date WHERE false")
    return (f"SELECT nominal_id, outcome, outcome_date FROM "
            f"(SELECT nominal_id, outcome, outcome_date, row_number() OVER "
            f"(PARTITION BY nominal_id ORDER BY outcome_date DESC, outcome) AS pick FROM referral_outcomes "
            f"WHERE outcome_date <= {as_of}) o WHERE pick = 1")


def _police_side_tables(engine: Engine, settings: Settings) -> None:
    """safeguarding_review (people who may not leave in a pack), safeguarding_crimes (the crimes behind each
    flag, recorded role in plain terms) and safeguarding_identifiers (restricted; empty unless switched on)."""
    engine.create_table(
        "safeguarding_review",
        "SELECT nominal_id, reasons, age_on_as_of, local_area, review_reason FROM safeguarding "
        "WHERE NOT share_with_hub ORDER BY nominal_id",
    )
    accused = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    engine.create_table(
        "safeguarding_crimes",
        f"""
        SELECT c.nominal_id, c.crime_ref, k.offence_title, c.offence_date, c.location_area,
               coalesce(list_sort(list(DISTINCT CASE WHEN cn.role = 'victim' THEN 'victim'
                                                    WHEN cn.role IN ({accused}) THEN 'accused_or_suspect'
                                                    WHEN cn.role IS NOT NULL THEN 'other' END)),
                        CAST([] AS VARCHAR[])) AS recorded_as
        FROM {_CRIMES} c
        LEFT JOIN crimes k ON k.crime_ref = c.crime_ref
        LEFT JOIN crime_nominals cn ON cn.crime_ref = c.crime_ref AND cn.nominal_id = c.nominal_id
        GROUP BY c.nominal_id, c.crime_ref, k.offence_title, c.offence_date, c.location_area
        ORDER BY c.nominal_id, c.offence_date, c.crime_ref
        """,
    )
    have = {c.lower() for c in engine.columns("nominals")}
    cols = [f"n.{c}" if c in have else f"CAST(NULL AS {'DATE' if c == 'date_of_birth' else 'VARCHAR'}) AS {c}"
            for c in ("forename", "surname", "date_of_birth", "sex")]
    on = "true" if settings.referral_identifiers else "false"
    engine.create_table(
        "safeguarding_identifiers",
        f"SELECT s.nominal_id, {', '.join(cols)} FROM safeguarding s JOIN nominals n ON n.nominal_id = s.nominal_id "
        f"WHERE {on} ORDER BY s.nominal_id",
    )


def _facts(engine: Engine, child: int) -> dict:
    """Counts a reviewer needs: people per reason, and the check that no child victim is missed."""
    per_reason = dict(engine.fetch_rows(f"SELECT reason, count(DISTINCT nominal_id) FROM {_REASONS} GROUP BY reason"))
    row = engine.fetch_rows(
        """
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
        # The all-age reason is counted only when it can apply (docs/all-age.md), so the facts are as before.
        "people_per_reason": {r: int(per_reason.get(r, 0)) for r in REASONS
                              if r not in _ALLAGE_REASONS or r in per_reason},
        "full_table_child_victims": int(child_victims),
        "age_estimated_from_offence": int(row[1]),
        "flagged_without_local_area": int(row[2]),
        "local_area_decided_by_tie_break": int(row[3]),
        "flagged_with_unknown_age": int(row[4]),
        "network_nominals_with_unknown_age": int(unknown_age_in_network),
        "to_refer": int(engine.scalar("SELECT count(*) FROM safeguarding WHERE share_with_hub")),
        "police_review": dict(
            (str(k), int(v)) for k, v in engine.fetch_rows(
                "SELECT review_reason, count(*) FROM safeguarding WHERE NOT share_with_hub GROUP BY review_reason")
        ),
    }


STAGE = Stage(
    "safeguard",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("crimes", "input_nominals", "crime_nominals", "full_table", "network_nominals"),
    optional_reads=("final_table", "sharing_basis", "referral_outcomes", "profile_crimes"),
    writes=OUTPUT_TABLES,
)

# Triage needs harm and the dismantling orders, so it runs after them, as its own step.
TRIAGE_STAGE = Stage(
    "triage",
    lambda engine, settings, ctx: triage(engine, settings),
    reads=("safeguarding", "safeguarding_crimes", "network_nominals", "group_harm", "nominal_harm"),
    optional_reads=("full_table", "intel_logs", "intel_nominals", "combined_edges", "dismantling", "missing_children"),
    writes=("safeguarding_triage", "safeguarding_peer_groups"),
)
