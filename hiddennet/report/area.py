"""Per-area problem profiles: the report's sections restricted to one local authority.

The rule (docs/report-and-dashboard.md, "Per-area problem profiles"):
- crimes and their people: full-table rows whose crime was recorded in the area (`location_area`);
  a final-table pair is the area's when either of its two crimes was recorded there;
- a group is the area's when any member appears in one of the area's selected crimes, or a member
  to safeguard has the area as their local area; a group active in several areas is in each of
  their profiles, with its crimes here and elsewhere shown;
- people to safeguard are the area's by `safeguarding.local_area`, the area whose hub receives
  their referral (the same rule as the referral packs);
- tables with no area (quarantine, counted gaps, selection counts) are shown for the whole force
  and say so; fairness is measured over the whole network and is left to the force report.
Any other table is not available in an area profile: a profile never shows a table it cannot
restrict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hiddennet.report.data import PLACE_AREA_COLUMNS, RunOutputs, TableUnreadable, Unavailable

# Shown for the whole force in an area profile (they have no area); the template says so.
FORCE_WIDE = frozenset({"quarantine", "data_gaps", "selection_summary"})
GROUPS_SHOWN = 50


def area_names(run: RunOutputs) -> list[str]:
    """The run's local areas: those of its selected crimes and of its people to safeguard."""
    names: set[str] = set()
    for table, column in (("full_table", "location_area"), ("safeguarding", "local_area")):
        try:
            names |= {str(a) for a in run.table(table, [column])[column].dropna()}
        except (Unavailable, TableUnreadable):
            continue
    return sorted(names)


def slug(area: str) -> str:
    """A file-name-safe form of an area's name (`Stoke-on-Trent` -> `stoke-on-trent`)."""
    s = re.sub(r"[^a-z0-9]+", "-", area.casefold()).strip("-")
    return s or "area"


class AreaRun:
    """A run seen through one local authority: `table` returns only the area's rows (the rule above)."""

    def __init__(self, run: RunOutputs, area: str):
        self.base, self.area = run, area
        self.run_dir, self.manifest, self.min_cell = run.run_dir, run.manifest, run.min_cell
        self._memo: dict[str | tuple, Any] = {}
        self._filters: dict[str, tuple[str, Callable[[pd.DataFrame], pd.Series]]] = {
            "full_table": ("location_area", lambda t: t["location_area"] == area),
            "crimes": ("location_area", lambda t: t["location_area"] == area),
            "final_table": ("crime_ref_1", self._final_pair),
            "crime_harm": ("crime_ref", lambda t: t["crime_ref"].isin(self.crimes())),
            "groups": ("group_id", lambda t: t["group_id"].isin(self.groups())),
            "group_harm": ("group_id", lambda t: t["group_id"].isin(self.groups())),
            "nominals": ("group_id", lambda t: t["group_id"].isin(self.groups())),
            "dismantling": ("group_id", lambda t: t["group_id"].isin(self.groups())),
            "edges": ("nominal_a", self._inside),
            "combined_edges": ("nominal_a", self._inside),
            "safeguarding": ("local_area", lambda t: t["local_area"] == area),
            "safeguarding_triage": ("nominal_id", lambda t: t["nominal_id"].isin(self.to_safeguard())),
        }

    def has(self, name: str) -> bool:
        return self.base.has(name)

    def columns(self, name: str) -> list[str]:
        return self.base.columns(name)

    def path(self, name: str) -> Path:
        return self.base.path(name)

    def table(self, name: str, columns: Sequence[str] | None = None, *, optional: Sequence[str] = ()) -> pd.DataFrame:
        if name in FORCE_WIDE:
            return self.base.table(name, columns, optional=optional)
        if name == "places":
            return self._places(columns, optional)
        if name == "fairness":
            raise Unavailable("fairness is measured over the whole force's network: see the force report")
        if name not in self._filters:
            raise Unavailable(f"table {name} is not restricted to one area")
        memo = ("table", name, None if columns is None else tuple(columns), tuple(optional))
        if memo not in self._memo:  # sections read the same tables: filter each once
            self._memo[memo] = self._restricted(name, columns, optional)
        return self._memo[memo]

    def _restricted(self, name: str, columns: Sequence[str] | None, optional: Sequence[str]) -> pd.DataFrame:
        key, keep = self._filters[name]
        need = [*(columns if columns is not None else self.base.columns(name))]
        extra = [c for c in self._filter_columns(name, key) if c not in need and c not in optional]
        t = self.base.table(name, need + extra, optional=optional)
        absent = [c for c in self._filter_columns(name, key) if c not in t]
        if absent:
            raise Unavailable(f"table {name} has no column {', '.join(absent)}")
        return t[keep(t).fillna(False).astype(bool)].drop(columns=extra).reset_index(drop=True)

    @staticmethod
    def _filter_columns(name: str, key: str) -> list[str]:
        pairs = {"final_table": ["crime_ref_1", "crime_ref_2"], "edges": ["nominal_a", "nominal_b"],
                 "combined_edges": ["nominal_a", "nominal_b"]}
        return pairs.get(name, [key])

    def _places(self, columns: Sequence[str] | None, optional: Sequence[str]) -> pd.DataFrame:
        have = self.base.columns("places")
        col = next((c for c in PLACE_AREA_COLUMNS if c in have), None)
        if col is None:
            raise Unavailable("table places has no area column")
        need = list(columns) if columns is not None else have
        t = self.base.table("places", [*need, *([col] if col not in need else [])], optional=optional)
        t = t[t[col] == self.area]
        return t.drop(columns=[col]) if col not in need else t

    # -- what belongs to the area ----------------------------------------------------------------
    def _full(self) -> pd.DataFrame:
        if "full" not in self._memo:
            t = self.base.table("full_table", ["crime_ref", "offender_id", "victim_id"], optional=["location_area"])
            if "location_area" not in t:
                raise Unavailable("table full_table has no column location_area")
            self._memo["full"] = t[t["location_area"] == self.area]
        return self._memo["full"]

    def crimes(self) -> set[str]:
        """The area's crimes: every crime recorded there (crimes table), else its selected ones."""
        if "crimes" not in self._memo:
            try:
                c = self.base.table("crimes", ["crime_ref", "location_area"])
                self._memo["crimes"] = set(c.loc[c["location_area"] == self.area, "crime_ref"])
            except Unavailable:
                self._memo["crimes"] = set(self._full()["crime_ref"])
        return self._memo["crimes"]

    def to_safeguard(self) -> set[str]:
        if "sg" not in self._memo:
            try:
                s = self.base.table("safeguarding", ["nominal_id"], optional=["local_area", "group_ids"])
                mine = s[s["local_area"] == self.area] if "local_area" in s else s.iloc[0:0]
            except Unavailable:
                mine = pd.DataFrame(columns=["nominal_id", "group_ids"])
            self._memo["sg"] = mine
        return set(self._memo["sg"]["nominal_id"])

    def groups(self) -> set[str]:
        """Groups with a member in one of the area's selected crimes or a member to safeguard here."""
        if "groups" not in self._memo:
            full = self._full()
            people = set(full["offender_id"]) | set(full["victim_id"])
            n = self.base.table("nominals", ["nominal_id", "group_id"])
            ids = set(n.loc[n["nominal_id"].isin(people | self.to_safeguard()), "group_id"].dropna())
            sg = self._memo["sg"]
            if "group_ids" in sg:
                ids |= {g for gs in sg["group_ids"] for g in (list(gs) if gs is not None else [])}
            self._memo["groups"] = ids
        return self._memo["groups"]

    def members(self) -> set[str]:
        if "members" not in self._memo:
            n = self.base.table("nominals", ["nominal_id", "group_id"])
            self._memo["members"] = set(n.loc[n["group_id"].isin(self.groups()), "nominal_id"])
        return self._memo["members"]

    def _final_pair(self, t: pd.DataFrame) -> pd.Series:
        mine = set(self._full()["crime_ref"])
        return t["crime_ref_1"].isin(mine) | t["crime_ref_2"].isin(mine)

    def _inside(self, t: pd.DataFrame) -> pd.Series:
        m = self.members()
        return t["nominal_a"].isin(m) & t["nominal_b"].isin(m)


def area_groups(run: AreaRun) -> dict:
    """The area's groups: force priority, size, people to safeguard, and the members' selected
    crimes (offender role) here and in other areas."""
    g = run.base.table("groups", ["group_id", "size"], optional=["priority_rank", "safeguarding_only",
                                                                  "flagged_members", "harm_cchi"])
    g = g[g["group_id"].isin(run.groups())].copy()
    n = run.base.table("nominals", ["nominal_id", "group_id"])
    n = n[n["group_id"].isin(run.groups())]
    full = run.base.table("full_table", ["crime_ref", "offender_id"], optional=["location_area"])
    crimes = full.merge(n, left_on="offender_id", right_on="nominal_id")
    here = crimes[crimes["location_area"] == run.area].groupby("group_id")["crime_ref"].nunique()
    there = crimes[crimes["location_area"] != run.area]
    elsewhere = there.groupby("group_id")["crime_ref"].nunique()
    areas = there.dropna(subset=["location_area"]).groupby("group_id")["location_area"].nunique()
    if "priority_rank" not in g:
        g["priority_rank"] = None
    g = g.sort_values(["priority_rank", "group_id"], na_position="last")
    rows = [
        {
            "group_id": str(r["group_id"]),
            "size": int(r["size"]),
            "rank": None if pd.isna(r["priority_rank"]) else int(r["priority_rank"]),
            "safeguarding_only": bool(r.get("safeguarding_only")) if r.get("safeguarding_only") is not None else False,
            "flagged": None if pd.isna(r.get("flagged_members")) else int(r["flagged_members"]),
            "crimes_here": int(here.get(r["group_id"], 0)),
            "crimes_elsewhere": int(elsewhere.get(r["group_id"], 0)),
            "other_areas": int(areas.get(r["group_id"], 0)),
        }
        for r in g.to_dict("records")
    ]
    return {"groups": len(rows), "rows": rows[:GROUPS_SHOWN], "shown": min(len(rows), GROUPS_SHOWN),
            "spanning": sum(1 for r in rows if r["other_areas"])}
