"""What changed since the previous run (`changes`) and what an officer asked to hear about (`alerts`),
as DuckDB-dialect SQL over named tables, so the changes stage and `hiddennet diff` run the same rules.

Inputs (names passed in): groups (group_id, size, harm_cchi, rank_harm_cchi, priority_rank,
safeguarding_only), nominals (nominal_id, group_id, safeguarding_flagged, is_child, in_dismantling;
group_id NULL for a flagged person outside the network), links (nominal_a, nominal_b), for the previous
(`prev`) and the current (`cur`) run, and the lineage (old_id, new_id, kind, overlap, shared) whose
new_id are the current run's ids. The rules are in docs/continuity.md.
"""

from __future__ import annotations

from hiddennet.settings import Settings
from hiddennet.sql import lit
from hiddennet.tables import empty_sql

# A child, by the safeguarding reasons of the person (`s.reasons`, docs/safeguarding.md).
CHILD = ("(list_contains(s.reasons, 'child_victim') OR list_contains(s.reasons, 'child_offender') "
         "OR list_contains(s.reasons, 'child_in_network'))")


def _pairs(prev: dict, cur: dict, lineage: str) -> str:
    """Continued groups: previous and current size, rank and ranking harm side by side."""
    return f"""
        SELECT l.old_id, l.new_id, p.size AS p_size, g.size AS c_size, p.priority_rank AS p_rank,
               g.priority_rank AS c_rank, p.rank_harm_cchi AS p_harm, g.rank_harm_cchi AS c_harm
        FROM {lineage} l JOIN {prev['groups']} p ON p.group_id = l.old_id
        JOIN {cur['groups']} g ON g.group_id = l.new_id
        WHERE l.kind = 'continued'
    """


_COLS = "change, group_id, previous_group_id, nominal_id, before, after, detail"


def _row(change: str, group: str, previous: str, nominal: str, before: str, after: str, detail: str) -> str:
    return (f"SELECT '{change}' AS change, {group} AS group_id, {previous} AS previous_group_id, "
            f"{nominal} AS nominal_id, CAST({before} AS DOUBLE) AS before, CAST({after} AS DOUBLE) AS after, "
            f"CAST({detail} AS VARCHAR) AS detail")


def changes_sql(prev: dict, cur: dict, lineage: str) -> str:
    """The `changes` table: one row per change (docs/tables.md)."""
    pg, cg, pn, cn = prev["groups"], cur["groups"], prev["nominals"], cur["nominals"]
    null = "CAST(NULL AS VARCHAR)"
    parts = [
        _row("group_new", "g.group_id", "s.old_id", null, "NULL", "g.size",
             "CASE WHEN s.old_id IS NOT NULL THEN 'successor' END")
        + f" FROM {cg} g LEFT JOIN traced t ON t.new_id = g.group_id LEFT JOIN succ s ON s.new_id = g.group_id"
          " WHERE t.new_id IS NULL",
        _row("group_grown", "new_id", "old_id", null, "p_size", "c_size", "NULL") + " FROM pairs WHERE c_size > p_size",
        _row("group_shrunk", "new_id", "old_id", null, "p_size", "c_size", "NULL")
        + " FROM pairs WHERE c_size < p_size",
        *(
            _row(f"group_{kind}", "l.new_id", "l.old_id", null, "p.size", "g.size", "NULL")
            + f" FROM {lineage} l JOIN {pg} p ON p.group_id = l.old_id JOIN {cg} g ON g.group_id = l.new_id"
              f" WHERE l.kind = '{kind}'"
            for kind in ("merged", "split")
        ),
        _row("group_dissolved", null, "l.old_id", null, "p.size", "NULL", "NULL")
        + f" FROM {lineage} l JOIN {pg} p ON p.group_id = l.old_id WHERE l.kind = 'dissolved'",
        _row("rank_moved", "new_id", "old_id", null, "p_rank", "c_rank", "NULL")
        + " FROM pairs WHERE p_rank IS DISTINCT FROM c_rank",
        _row("harm_changed", "new_id", "old_id", null, "p_harm", "c_harm", "NULL")
        + " FROM pairs WHERE p_harm IS DISTINCT FROM c_harm",
        _row("nominal_new_in_network", "n.group_id", null, "n.nominal_id", "NULL", "NULL", "NULL")
        + f" FROM {cn} n LEFT JOIN {pn} p ON p.nominal_id = n.nominal_id AND p.group_id IS NOT NULL"
          " WHERE n.group_id IS NOT NULL AND p.nominal_id IS NULL",
        _row("nominal_new_in_dismantling", "n.group_id", null, "n.nominal_id", "NULL", "NULL", "NULL")
        + f" FROM {cn} n LEFT JOIN {pn} p ON p.nominal_id = n.nominal_id"
          " WHERE n.in_dismantling AND NOT coalesce(p.in_dismantling, false)",
        _row("newly_flagged", "n.group_id", null, "n.nominal_id", "NULL", "NULL",
             "CASE WHEN n.is_child THEN 'child' ELSE 'adult_or_age_unknown' END")
        + f" FROM {cn} n LEFT JOIN {pn} p ON p.nominal_id = n.nominal_id"
          " WHERE n.safeguarding_flagged AND NOT coalesce(p.safeguarding_flagged, false)",
    ]
    return f"""
        WITH pairs AS ({_pairs(prev, cur, lineage)}),
        traced AS (SELECT DISTINCT new_id FROM {lineage} WHERE kind IN ('continued', 'merged', 'split')),
        succ AS (SELECT new_id, min(old_id) AS old_id FROM {lineage} WHERE kind = 'successor' GROUP BY new_id),
        all_rows AS ({' UNION ALL '.join(parts)})
        SELECT {_COLS} FROM all_rows
        ORDER BY change, group_id NULLS FIRST, previous_group_id NULLS FIRST, nominal_id NULLS FIRST
    """


_ACOLS = "alert, group_id, nominal_id, before, after, detail"


def _alert(alert: str, group: str, nominal: str, before: str, after: str, detail: str) -> str:
    return (f"SELECT '{alert}' AS alert, {group} AS group_id, {nominal} AS nominal_id, "
            f"CAST({before} AS DOUBLE) AS before, CAST({after} AS DOUBLE) AS after, "
            f"CAST({detail} AS VARCHAR) AS detail")


def _watch_sql(prev: dict, cur: dict, watch: list[str]) -> str:
    values = ", ".join(f"({lit(w)})" for w in sorted(set(watch)))

    def ends(t: str) -> str:
        return (f"SELECT w.nominal_id AS watched, CASE WHEN e.nominal_a = w.nominal_id THEN e.nominal_b "
                f"ELSE e.nominal_a END AS other FROM {t} e JOIN watch w "
                f"ON w.nominal_id = e.nominal_a OR w.nominal_id = e.nominal_b")

    return f"""
        WITH watch AS (SELECT nominal_id FROM (VALUES {values}) v(nominal_id)),
        now AS ({ends(cur['links'])}), before AS ({ends(prev['links'])})
        {_alert('watched_nominal_new_link', 'n.group_id', 'x.watched', 'NULL', 'NULL', 'x.other')}
        FROM (SELECT DISTINCT watched, other FROM now
              WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.watched = now.watched AND b.other = now.other)) x
        LEFT JOIN {cur['nominals']} n ON n.nominal_id = x.watched
    """


def alerts_sql(prev: dict, cur: dict, lineage: str, settings: Settings) -> str:
    """The `alerts` table from the alert settings (docs/settings.md, `alert_*`)."""
    cg, cn, pn = cur["groups"], cur["nominals"], prev["nominals"]
    parts = []
    if settings.alert_top_n > 0:
        n = int(settings.alert_top_n)
        parts.append(
            _alert("entered_top_n", "g.group_id", "CAST(NULL AS VARCHAR)", "pr.p_rank", "g.priority_rank", f"'{n}'")
            + f" FROM {cg} g LEFT JOIN pairs pr ON pr.new_id = g.group_id"
              f" WHERE g.priority_rank <= {n} AND (pr.p_rank IS NULL OR pr.p_rank > {n})"
        )
    if settings.alert_harm_growth_pct is not None:
        factor = 1 + float(settings.alert_harm_growth_pct) / 100
        parts.append(
            _alert("harm_growth", "new_id", "CAST(NULL AS VARCHAR)", "p_harm", "c_harm",
                   f"'{float(settings.alert_harm_growth_pct)!r}'")
            + f" FROM pairs WHERE p_harm > 0 AND c_harm >= p_harm * {factor!r}"
        )
    if settings.alert_new_child_in_ranked_group:
        parts.append(
            _alert("new_child_in_ranked_group", "n.group_id", "n.nominal_id", "NULL", "g.priority_rank", "NULL")
            + f" FROM {cn} n JOIN {cg} g ON g.group_id = n.group_id"
              f" LEFT JOIN {pn} p ON p.nominal_id = n.nominal_id AND p.is_child"
              f" LEFT JOIN {lineage} l ON l.old_id = p.group_id AND l.new_id = n.group_id AND l.kind = 'continued'"
              " WHERE n.is_child AND g.priority_rank IS NOT NULL AND l.new_id IS NULL"
        )
    selects = [f"SELECT * FROM ({p})" for p in parts]
    if settings.alert_watch_nominals:
        selects.append(f"SELECT * FROM ({_watch_sql(prev, cur, settings.alert_watch_nominals)})")
    if not selects:
        return empty_sql("alerts")
    return f"""
        WITH pairs AS ({_pairs(prev, cur, lineage)}),
        all_rows AS ({' UNION ALL '.join(selects)})
        SELECT {_ACOLS} FROM all_rows ORDER BY alert, group_id NULLS FIRST, nominal_id NULLS FIRST, detail
    """
