"""The report's section on continuity (docs/continuity.md): what changed since the previous run and
the quarter-by-quarter trends of the force's run history. Aggregates and group ids only: changes about
one person are counted, never listed. Empty (no section) for a run made without history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hiddennet.continuity.report import WORDS
from hiddennet.report.data import Unavailable

_GROUP_CHANGES = ("group_new", "group_grown", "group_shrunk", "group_merged", "group_split", "group_dissolved")
_GROUP_ALERTS = ("entered_top_n", "harm_growth")


def continuity_figures(run, limit: int = 30) -> dict | None:
    """{counts, groups, alerts, person_alerts} of a run folder (`RunOutputs`), or None without a history."""
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
    }


def changes_section(run: Any) -> dict:
    """The report's "Changes since the last run" section (hiddennet/report/data.py's hook). In an area
    profile (`AreaRun`), group changes are those of the area's groups; the counts stay force-wide."""
    base, area = getattr(run, "base", run), getattr(run, "area", None)
    c = continuity_figures(base, limit=10**9)
    if c is None:
        raise Unavailable("no run history")
    groups, alerts = c["groups"], c["alerts"]
    if area is not None:
        mine = run.groups()
        groups = [r for r in groups if r["group_id"] in mine]
        alerts = [a for a in alerts if a["group_id"] in mine]
    note = ("Group ids are stable between runs (docs/continuity.md): a group keeps the id of the previous run's "
            "group it overlaps most. Changes about one person are counted here, never listed; "
            f"{c['person_alerts']:,} alerts about people are on the dashboard for intelligence officers.")
    tables = [{"title": "Since the previous run" + (" (whole force)" if area else ""),
               "columns": ["change", "count"], "rows": [[label, f"{n:,}"] for label, n in c["counts"]]}]
    if groups:
        tables.append({"title": "Group changes", "columns": ["change", "group", "previous group", "size before",
                                                             "size now"],
                       "rows": [[r["change"].replace("_", " "), r["group_id"] or "", r["previous_group_id"] or "",
                                 _num(r["before"]), _num(r["after"])] for r in groups[:50]]})
    if alerts:
        tables.append({"title": "Alerts on groups", "columns": ["alert", "group", "before", "now"],
                       "rows": [[a["alert"].replace("_", " "), a["group_id"] or "", _num(a["before"]),
                                 _num(a["after"])] for a in alerts[:50]]})
    return {"note": note, "tables": tables}


def trends_section(run: Any) -> dict:
    """The report's "Trends over runs" section: quarter by quarter counts from the run history, for the
    whole force or, in an area profile, for its area."""
    base, area = getattr(run, "base", run), getattr(run, "area", None)
    history = base.manifest.get("settings", {}).get("history_dir")
    if not history or not Path(history).is_dir():
        raise Unavailable("no run history")
    from hiddennet.continuity.trends import trends

    rows = [r for r in trends(history).to_pylist() if r["area"] == (area or "(force)")]
    if not rows:
        raise Unavailable("no run history for this area" if area else "no run history")
    return {"note": "One row per quarter of `as_of` (the quarter's latest registered run), measure and band.",
            "tables": [{"title": "Quarter by quarter", "columns": ["quarter", "profile", "measure", "band", "count"],
                        "rows": [[r["quarter"], r["profile"], r["measure"], r["band"] or "", f"{r['count']:,}"]
                                 for r in rows]}]}


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
