"""Changes as readable text (`hiddennet diff`) and the figures for the report's continuity section.

No name is ever printed: groups by id, nominals by id, people newly flagged for safeguarding only counted.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

# Readable words of each change (docs/continuity.md).
WORDS = {
    "group_new": "new groups",
    "group_grown": "groups grown",
    "group_shrunk": "groups shrunk",
    "group_merged": "groups merged (previous group merged into)",
    "group_split": "groups split off (from previous group)",
    "group_dissolved": "groups dissolved",
    "rank_moved": "priority rank moved",
    "harm_changed": "ranking harm changed",
    "nominal_new_in_network": "nominals new in the network",
    "nominal_new_in_dismantling": "nominals new in a dismantling order",
    "newly_flagged": "people newly flagged for safeguarding (counted only)",
}
_GROUP_CHANGES = ("group_new", "group_grown", "group_shrunk", "group_merged", "group_split", "group_dissolved")


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def print_changes(console: Console, facts: dict, run_a: str, run_b: str, limit: int = 20) -> None:
    """The counts, then the group changes and the top rank movers, as tables."""
    console.print(f"changes from {run_a} to {run_b}")
    counts = Table("change", "count", title="summary")
    for change in sorted(facts["counts"], key=lambda c: (list(WORDS).index(c) if c in WORDS else len(WORDS), c)):
        counts.add_row(WORDS.get(change, change), f"{facts['counts'][change]:,}")
    console.print(counts)
    rows = facts["rows"]
    groups = Table("change", "group", "previous group", "size before", "size after", title="groups")
    for r in (r for r in rows if r["change"] in _GROUP_CHANGES):
        groups.add_row(r["change"], r["group_id"] or "-", r["previous_group_id"] or "-", _num(r["before"]),
                       _num(r["after"]))
    console.print(groups)
    movers = sorted((r for r in rows if r["change"] == "rank_moved"),
                    key=lambda r: (r["after"] is None, r["after"] or 0, r["group_id"] or ""))[:limit]
    ranks = Table("group", "rank before", "rank after", title=f"rank movers (best {limit} ranks now)")
    for r in movers:
        ranks.add_row(r["group_id"] or "-", _num(r["before"]), _num(r["after"]))
    console.print(ranks)
    for change in ("nominal_new_in_dismantling",):
        ids = [r["nominal_id"] for r in rows if r["change"] == change]
        if ids:
            console.print(f"{WORDS[change]}: " + ", ".join(ids[:limit]) + (" ..." if len(ids) > limit else ""))
