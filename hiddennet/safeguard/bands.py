"""Triage (docs/safeguarding.md, "Triage bands"): how urgently a hub should look at each person flagged.

    safeguarding, safeguarding_crimes, full_table, intel_*, network_nominals, combined_edges,
    nominal_harm, group_harm -> safeguarding_triage, safeguarding_peer_groups

Runs after harm (it reads the group ranks and the nominals' harm), so it is a step of its own: the
safeguard stage runs before harm, and harm reads its table. The bands follow the Exploitation
Screening Tool the source study describes (section 12.3): high risk leads to a strategy discussion,
medium to the daily contextual safeguarding meeting or a disruption panel, low risk is monitored;
`immediate` is the part of high risk that should not wait for the next meeting.

Each rule is a row of `RULES` (code, band, plain words, SQL condition over the factors below); a person
gets the most urgent band any rule gives and `band_reasons` lists every rule that gives that band.
Factors, per flagged person:
- `days_since_activity`: days from the latest of their last linked crime (`safeguarding_crimes`) and
  their last intelligence log (`intel_nominals`) to `as_of`; NULL when neither has a date;
- `is_child`: under `child_age` on `as_of` (an unknown age is not a child here: such people are
  judged by the other rules);
- `victim_crimes`: selected crimes (`full_table`) in which they are the victim;
- `best_group_rank`: the best `group_harm.priority_rank` of their groups;
- `high_harm_link`: a combined link to, or a selected crime against them by, an unflagged nominal
  with at least `triage_high_harm_cchi` CCHI days.
A peer group is a network group of two or more whose members are all flagged (harm's
`safeguarding_only` groups): it is referred as one context (contextual safeguarding).
"""

from __future__ import annotations

from dataclasses import dataclass

from hiddennet.engine import Engine
from hiddennet.settings import Settings
from hiddennet.sql import date_lit
from hiddennet.stage import StageOutput

BANDS = ("immediate", "high", "medium", "monitor")
OUTPUT_TABLES = ("safeguarding_triage", "safeguarding_peer_groups")
_FACTORS = "_triage_factors"
_MATCHED = "_triage_matched"


@dataclass(frozen=True)
class Rule:
    code: str
    band: str
    words: str  # plain words for the pack and docs/safeguarding.md; {setting} placeholders filled in
    condition: str  # SQL over the factors table; {setting} placeholders filled in


# Stale = no linked crime or log within triage_stale_days (or none dated): every rule above monitor needs
# activity within that window, so a person with nothing for five years is monitored, whatever else applies.
_ACTIVE = "days_since_activity <= {triage_stale_days}"
RULES: tuple[Rule, ...] = (
    Rule("child_recent_activity", "immediate",
         "A child with a linked crime or intelligence log in the last {triage_immediate_days} days.",
         "is_child AND days_since_activity <= {triage_immediate_days}"),
    Rule("child_high_harm_link_recent", "immediate",
         "A child linked to a person of high harm, with activity in the last {triage_recent_days} days.",
         "is_child AND high_harm_link AND days_since_activity <= {triage_recent_days}"),
    Rule("child_recent_year", "high", "A child with a linked crime or log in the last {triage_recent_days} days.",
         "is_child AND days_since_activity <= {triage_recent_days}"),
    Rule("repeat_victimisation", "high",
         "Recorded as the victim of {triage_repeat_victim_crimes} or more crimes of exploitation or abuse, with a "
         "linked crime or log in the last {triage_recent_days} days.",
         "victim_crimes >= {triage_repeat_victim_crimes} AND days_since_activity <= {triage_recent_days}"),
    Rule("in_ranked_group", "high",
         "Linked into one of the {triage_ranked_group_top} highest-harm groups of the analysis.",
         "best_group_rank <= {triage_ranked_group_top} AND " + _ACTIVE),
    Rule("child_in_network_accused", "high",
         "A child recorded in an accused or suspect role in a network of exploitation: "
         "a child at risk of exploitation.",
         "is_child AND child_accused AND " + _ACTIVE),
    Rule("young_child", "high",
         "A child under {triage_young_child_age}, with a linked crime or log in the last {triage_recent_days} days.",
         "age_on_as_of < {triage_young_child_age} AND days_since_activity <= {triage_recent_days}"),
    Rule("slavery_victim_recent", "high",
         "Recorded as a victim of slavery or trafficking, with a linked crime or log in the last "
         "{triage_recent_days} days.",
         "nrm_consider AND days_since_activity <= {triage_recent_days}"),
    Rule("repeat_missing_in_group", "high",
         "A child missing {missing_repeat_episodes} or more times (input `missing_episodes`) who is linked into a "
         "group of the network.",
         "is_child AND repeat_missing_in_group"),
    Rule("child", "medium", "A child, with a linked crime or log in the last {triage_stale_days} days.",
         "is_child AND " + _ACTIVE),
    Rule("recent_activity", "medium", "A linked crime or log in the last {triage_recent_days} days.",
         "days_since_activity <= {triage_recent_days}"),
    Rule("repeat_victimisation_earlier", "medium",
         "Recorded as the victim of {triage_repeat_victim_crimes} or more crimes of exploitation or abuse.",
         "victim_crimes >= {triage_repeat_victim_crimes} AND " + _ACTIVE),
    Rule("high_harm_link", "medium", "Linked to a person of high harm.", "high_harm_link AND " + _ACTIVE),
    Rule("adult_at_risk", "medium", "An adult recorded as a victim of slavery or trafficking.",
         "adult_at_risk AND " + _ACTIVE),
    Rule("no_recent_activity", "monitor", "No linked crime or log in the last {triage_stale_days} days.",
         "NOT coalesce(" + _ACTIVE + ", false)"),
    Rule("no_rule_above_monitor", "monitor", "Active in the last {triage_stale_days} days; no other rule applies.",
         "coalesce(" + _ACTIVE + ", false)"),
)


def _thresholds(settings: Settings) -> dict[str, int | float]:
    return {
        "triage_immediate_days": int(settings.triage_immediate_days),
        "triage_recent_days": int(settings.triage_recent_days),
        "triage_stale_days": int(settings.triage_stale_days),
        "triage_repeat_victim_crimes": int(settings.triage_repeat_victim_crimes),
        "triage_ranked_group_top": int(settings.triage_ranked_group_top),
        "triage_young_child_age": int(settings.triage_young_child_age),
        "missing_repeat_episodes": int(settings.missing_repeat_episodes),
    }


def rule_words(settings: Settings | None = None) -> dict[str, str]:
    """Rule code -> its plain words with the run's thresholds (for packs and pages)."""
    t = _thresholds(settings or Settings())
    return {r.code: r.words.format(**t) for r in RULES}


def rule_table_markdown(settings: Settings | None = None) -> str:
    """The rule table of docs/safeguarding.md, with the default thresholds (a test keeps the two equal)."""
    lines = ["| band | rule | when |", "|---|---|---|"]
    words = rule_words(settings)
    lines += [f"| {r.band} | `{r.code}` | {words[r.code]} |" for r in RULES]
    return "\n".join(lines)


def _empty(columns: str) -> str:
    return f"SELECT {columns} WHERE false"


def _create_factors(engine: Engine, settings: Settings) -> None:
    as_of = date_lit(settings.as_of)
    child = int(settings.child_age)
    if engine.has_table("intel_nominals") and engine.has_table("intel_logs"):
        logs = ("SELECT i.nominal_id, max(l.log_date) AS last_log FROM intel_nominals i JOIN intel_logs l "
                "ON l.log_id = i.log_id WHERE i.nominal_id IN (SELECT nominal_id FROM safeguarding) "
                "GROUP BY i.nominal_id")
    else:
        logs = _empty("CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS DATE) AS last_log")
    ranks = ("SELECT n.nominal_id, min(g.priority_rank) AS best_rank FROM network_nominals n JOIN group_harm g "
             "ON g.group_id = n.group_id GROUP BY n.nominal_id" if engine.has_table("group_harm")
             else _empty("CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS INTEGER) AS best_rank"))
    high = (f"SELECT nominal_id FROM nominal_harm WHERE harm_cchi >= {float(settings.triage_high_harm_cchi)!r} "
            "AND nominal_id NOT IN (SELECT nominal_id FROM safeguarding)" if engine.has_table("nominal_harm")
            else _empty("CAST(NULL AS VARCHAR) AS nominal_id"))
    # Written by the all-age stage; without missing episodes it has no rows and the factor is false.
    missing = ("SELECT nominal_id FROM missing_children WHERE repeat_missing AND group_id IS NOT NULL"
               if engine.has_table("missing_children") else _empty("CAST(NULL AS VARCHAR) AS nominal_id"))
    edges = ("SELECT nominal_a AS a, nominal_b AS b FROM combined_edges UNION ALL "
             "SELECT nominal_b, nominal_a FROM combined_edges" if engine.has_table("combined_edges")
             else _empty("CAST(NULL AS VARCHAR) AS a, CAST(NULL AS VARCHAR) AS b"))
    engine.create_table(
        _FACTORS,
        f"""
        WITH high AS ({high}),
        linked AS (
            SELECT e.a AS nominal_id FROM ({edges}) e JOIN high h ON h.nominal_id = e.b
            UNION SELECT f.victim_id FROM full_table f JOIN high h ON h.nominal_id = f.offender_id
        ),
        crimes AS (SELECT nominal_id, max(offence_date) AS last_crime FROM safeguarding_crimes GROUP BY nominal_id),
        logs AS ({logs}),
        victim AS (SELECT victim_id AS nominal_id, count(DISTINCT crime_ref) AS n FROM full_table GROUP BY victim_id),
        ranks AS ({ranks})
        SELECT s.nominal_id, s.age_on_as_of, coalesce(s.age_on_as_of < {child}, false) AS is_child,
               c.last_crime, l.last_log,
               -- greatest() skips NULL: a person with no dated crime or log must stay NULL, not 0
               CASE WHEN c.last_crime IS NULL AND l.last_log IS NULL THEN NULL ELSE
                    greatest(date_diff('day', greatest(coalesce(c.last_crime, l.last_log),
                                                       coalesce(l.last_log, c.last_crime)),
                                       {as_of}), 0) END AS days_since_activity,
               coalesce(v.n, 0) AS victim_crimes, r.best_rank AS best_group_rank,
               s.nominal_id IN (SELECT nominal_id FROM linked) AS high_harm_link,
               list_contains(s.reasons, 'child_offender') AS child_accused,
               list_contains(s.reasons, 'nrm_consider') AS nrm_consider,
               list_contains(s.reasons, 'adult_at_risk') AS adult_at_risk,
               s.nominal_id IN (SELECT nominal_id FROM ({missing}) AS m) AS repeat_missing_in_group
        FROM safeguarding s
        LEFT JOIN crimes c ON c.nominal_id = s.nominal_id
        LEFT JOIN logs l ON l.nominal_id = s.nominal_id
        LEFT JOIN victim v ON v.nominal_id = s.nominal_id
        LEFT JOIN ranks r ON r.nominal_id = s.nominal_id
        """,
    )


def triage(engine: Engine, settings: Settings) -> StageOutput:
    """Write safeguarding_triage (a band and its reasons per flagged person) and safeguarding_peer_groups."""
    if settings.as_of is None:
        raise ValueError("triage needs the run's reference date (as_of)")
    _create_factors(engine, settings)
    t = _thresholds(settings)
    order = {b: i + 1 for i, b in enumerate(BANDS)}
    matched = " UNION ALL ".join(
        f"SELECT nominal_id, '{r.code}' AS code, {order[r.band]} AS band_order FROM {_FACTORS} "
        f"WHERE coalesce({r.condition.format(**t)}, false)"
        for r in RULES
    )
    engine.create_table(_MATCHED, matched)
    band_of = "CASE b.band_order " + " ".join(f"WHEN {i} THEN '{b}'" for b, i in order.items()) + " END"
    engine.create_table(
        "safeguarding_triage",
        f"""
        WITH best AS (SELECT nominal_id, min(band_order) AS band_order FROM {_MATCHED} GROUP BY nominal_id),
        why AS (
            SELECT m.nominal_id, list_sort(list(m.code)) AS band_reasons
            FROM {_MATCHED} m JOIN best b ON b.nominal_id = m.nominal_id AND b.band_order = m.band_order
            GROUP BY m.nominal_id
        ),
        peer AS (
            SELECT n.group_id FROM network_nominals n LEFT JOIN safeguarding s ON s.nominal_id = n.nominal_id
            GROUP BY n.group_id HAVING count(*) >= 2 AND count(s.nominal_id) = count(*)
        ),
        member AS (
            SELECT n.nominal_id, min(n.group_id) AS peer_group_id FROM network_nominals n
            WHERE n.group_id IN (SELECT group_id FROM peer) GROUP BY n.nominal_id
        )
        SELECT f.nominal_id, {band_of} AS band, CAST(b.band_order AS INTEGER) AS band_order, w.band_reasons,
               CAST(f.days_since_activity AS BIGINT) AS days_since_activity, f.last_crime AS last_crime_date,
               f.last_log AS last_log_date, CAST(f.victim_crimes AS BIGINT) AS victim_crimes,
               CAST(f.best_group_rank AS INTEGER) AS best_group_rank, f.high_harm_link, m.peer_group_id
        FROM {_FACTORS} f JOIN best b ON b.nominal_id = f.nominal_id JOIN why w ON w.nominal_id = f.nominal_id
        LEFT JOIN member m ON m.nominal_id = f.nominal_id
        ORDER BY b.band_order, f.nominal_id
        """,
    )
    _peer_groups(engine)
    facts = _facts(engine)
    for name in (_FACTORS, _MATCHED):
        engine.drop(name)
    return StageOutput(tables=OUTPUT_TABLES, facts=facts)


def _peer_groups(engine: Engine) -> None:
    band_of = "CASE band_order " + " ".join(f"WHEN {i + 1} THEN '{b}'" for i, b in enumerate(BANDS)) + " END"
    engine.create_table(
        "safeguarding_peer_groups",
        f"""
        SELECT peer_group_id AS group_id, CAST(count(*) AS BIGINT) AS size,
               list_sort(list(t.nominal_id)) AS members, {band_of} AS band, band_order,
               list_sort(list(DISTINCT coalesce(s.local_area, 'unknown'))) AS local_areas
        FROM (SELECT peer_group_id, nominal_id, min(band_order) OVER (PARTITION BY peer_group_id) AS band_order
              FROM safeguarding_triage WHERE peer_group_id IS NOT NULL) t
        JOIN safeguarding s ON s.nominal_id = t.nominal_id
        GROUP BY peer_group_id, band_order
        ORDER BY band_order, group_id
        """,
    )


def _facts(engine: Engine) -> dict:
    per_band = dict(engine.fetch_rows("SELECT band, count(*) FROM safeguarding_triage GROUP BY band"))
    per_rule = dict(engine.fetch_rows(
        "SELECT r, count(*) FROM (SELECT unnest(band_reasons) AS r FROM safeguarding_triage) x GROUP BY r"))
    return {
        "people_per_band": {b: int(per_band.get(b, 0)) for b in BANDS},
        "people_per_band_reason": {r.code: int(per_rule.get(r.code, 0)) for r in RULES},
        "peer_groups": int(engine.count("safeguarding_peer_groups")),
        "people_in_peer_groups": int(
            engine.scalar("SELECT count(*) FROM safeguarding_triage WHERE peer_group_id IS NOT NULL")
        ),
    }
