"""The report's section on continuity (docs/continuity.md): what changed since the previous run and
the quarter-by-quarter trends of the force's run history. Aggregates and group ids only: changes about
one person are counted, never listed. Empty (no section) for a run made without history."""

from __future__ import annotations

from pathlib import Path

from hiddennet.continuity.report import WORDS

_GROUP_CHANGES = ("group_new", "group_grown", "group_shrunk", "group_merged", "group_split", "group_dissolved")
_GROUP_ALERTS = ("entered_top_n", "harm_growth")


def continuity_figures(run, limit: int = 30) -> dict | None:
    """{counts, groups, alerts, trends} of a run folder (`RunOutputs`), or None without a history."""
    if not run.has("changes"):
        return None
    changes = run.table("changes").astype(object).where(lambda t: t.notna(), None).to_dict("records")
    alerts = run.table("alerts").astype(object).where(lambda t: t.notna(), None).to_dict("records") \
        if run.has("alerts") else []
    counts: dict[str, int] = {}
    for r in changes:
        counts[r["change"]] = counts.get(r["change"], 0) + 1
    return {
        "counts": [(WORDS.get(c, c), counts[c]) for c in WORDS if c in counts],
        "groups": [r for r in changes if r["change"] in _GROUP_CHANGES][:limit],
        "alerts": [a for a in alerts if a["alert"] in _GROUP_ALERTS][:limit],
        "person_alerts": sum(1 for a in alerts if a["alert"] not in _GROUP_ALERTS),
        "trends": _force_trends(run.manifest.get("settings", {}).get("history_dir")),
    }


def _force_trends(history: str | None) -> list[dict]:
    """Force-level counts per quarter (rows: quarter, measure, band, count), from the history if it is there."""
    if not history or not Path(history).is_dir():
        return []
    from hiddennet.continuity.trends import trends

    t = trends(history).to_pylist()
    return [r for r in t if r["area"] == "(force)"]
