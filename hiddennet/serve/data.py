"""Data access for the dashboard: what each actor may see of one run's published tables.

Every rule about *content* lives here, so that each page, API and export applies it the same way:
anonymised members for roles without per-person access; no harm for a group made only of people
to safeguard; evidence ids of an intelligence link only for the roles its handling code allows;
a safeguarding lead sees the people of their own areas only and no ranked list of groups.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from hiddennet.report import build_charts
from hiddennet.report import charts as _charts
from hiddennet.report import data as report_data
from hiddennet.report.data import REASON_LABELS, RunOutputs, Unavailable

GROUP_HARM_FIELDS = ("harm_cchi", "harm_ons", "rank_harm_cchi", "rank_harm_ons", "priority_rank")
MEMBER_HARM_FIELDS = ("harm_cchi", "harm_ons")
NOT_FOR_AREA_SCOPED = "not shown to a role scoped to local areas"


class NotFound(Exception):
    pass


def jsonable(v: Any) -> Any:
    """Plain JSON values from pandas/numpy cells (NaN and NaT become null)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if isinstance(v, Markup):
        return str(v)
    return v


def records(df: pd.DataFrame) -> list[dict]:
    return [jsonable(r) for r in df.to_dict("records")]


class HandlingPolicy:
    """Handling code -> roles allowed to see the evidence ids of a link. A code not in the map is
    shown to every role that may see the link; `none` stands for a link without a code."""

    def __init__(self, roles_by_code: Mapping[str, Sequence[str]]):
        self.roles_by_code = {str(k): frozenset(v) for k, v in roles_by_code.items()}

    def allows(self, role: str | None, code: str | None) -> bool:
        roles = self.roles_by_code.get(code if code is not None else "none")
        return roles is None or (role is not None and role in roles)


class AreaView:
    """A run seen through an area scope: the safeguarding table holds only the given areas."""

    def __init__(self, run: RunOutputs, areas: Sequence[str]):
        self._run, self._areas = run, set(areas)
        self.min_cell = run.min_cell

    def table(self, name: str, columns: Sequence[str] | None = None, *, optional: Sequence[str] = ()) -> pd.DataFrame:
        extra = (
            [*optional, *([] if "local_area" in optional else ["local_area"])]
            if name == "safeguarding"
            else list(optional)
        )
        t = self._run.table(name, columns, optional=extra)
        if name == "safeguarding":
            t = t[t["local_area"].isin(self._areas)] if "local_area" in t else t.iloc[0:0]
        return t


class RunData:
    """One run's tables as the dashboard shows them; `officer` means per-person access."""

    def __init__(self, run: RunOutputs, handling: HandlingPolicy, page_max: int):
        self.run, self.handling, self.page_max = run, handling, page_max
        self._cache: dict[str, Any] = {}

    # -- overview ------------------------------------------------------------------------------
    def figures(self, actor) -> tuple[dict, dict]:
        """(figures, charts) of the overview; an area-scoped actor gets no network or dismantling
        section (they rank groups by harm) and the safeguarding figures of their areas only."""
        if "figures" not in self._cache:
            f = report_data.figures(self.run)
            self._cache["figures"] = (f, build_charts(f))
        if actor is None or not actor.area_scoped:
            return self._cache["figures"]
        f = dict(self._cache["figures"][0])
        for name in ("network", "dismantling"):
            f[name] = {"available": False, "reason": NOT_FOR_AREA_SCOPED}
        try:
            f["safeguarding"] = {"available": True, **report_data.safeguarding(AreaView(self.run, actor.areas))}
        except Unavailable as e:
            f["safeguarding"] = {"available": False, "reason": str(e)}
        return f, build_charts(f)

    # -- groups --------------------------------------------------------------------------------
    def groups_table(self) -> pd.DataFrame:
        try:
            return self.run.table(
                "groups",
                ["group_id", "size"],
                optional=[
                    "harm_cchi",
                    "harm_ons",
                    "priority_rank",
                    "soc_overlap",
                    "safeguarding_only",
                    "edges",
                    "parent_component",
                    "rank_harm_cchi",
                    "rank_harm_ons",
                    "flagged_members",
                ],
            )
        except Unavailable:
            raise NotFound() from None

    def group_row(self, group_id: str) -> dict:
        g = self.groups_table()
        m = g[g["group_id"] == group_id]
        if m.empty:
            raise NotFound()
        row = jsonable(m.iloc[0].to_dict())
        if row.get("safeguarding_only"):
            # Every member is a person to safeguard: the group carries no harm and no rank anywhere.
            for k in GROUP_HARM_FIELDS:
                row.pop(k, None)
        return row

    def page(self, limit: int, offset: int) -> tuple[int, int]:
        return max(1, min(int(limit), self.page_max)), max(0, int(offset))

    def ranked(self, limit: int, offset: int) -> dict:
        g = self.groups_table()
        # Groups of people to safeguard only carry no rank and are not listed as priorities.
        g = g[g["priority_rank"].notna()] if "priority_rank" in g else g.iloc[0:0]
        if "safeguarding_only" in g:
            g = g[~g["safeguarding_only"].fillna(False).astype(bool)]
        g = g.sort_values(["priority_rank", "group_id"])
        limit, offset = self.page(limit, offset)
        return paged(records(g.iloc[offset : offset + limit]), len(g), limit, offset)

    def flagged_ids(self) -> set[str]:
        if "flagged" not in self._cache:
            try:
                self._cache["flagged"] = set(self.run.table("safeguarding", ["nominal_id"])["nominal_id"])
            except Unavailable:
                self._cache["flagged"] = set()
        return self._cache["flagged"]

    def members(self, group_id: str) -> pd.DataFrame:
        try:
            n = self.run.table(
                "nominals",
                ["nominal_id", "group_id"],
                optional=[
                    "node_index",
                    "degree",
                    "weighted_degree",
                    "betweenness",
                    "in_soc_network",
                    "harm_cchi",
                    "harm_ons",
                    "safeguarding_flagged",
                ],
            )
        except Unavailable:
            return pd.DataFrame(columns=["nominal_id", "group_id", "to_safeguard"])
        m = n[n["group_id"] == group_id].copy()
        m = m.sort_values("node_index" if "node_index" in m else "nominal_id").reset_index(drop=True)
        flagged = m["nominal_id"].isin(self.flagged_ids())
        if "safeguarding_flagged" in m:
            flagged |= m["safeguarding_flagged"].fillna(False).astype(bool)
        m["to_safeguard"] = flagged
        return m

    def member_rows(self, m: pd.DataFrame) -> list[dict]:
        rows = records(m)
        for r in rows:
            if r["to_safeguard"]:
                for k in MEMBER_HARM_FIELDS:
                    r.pop(k, None)
        return rows

    @staticmethod
    def labels(officer: bool, m: pd.DataFrame) -> list[str]:
        """Nominal ids for per-person access; otherwise anonymous member numbers."""
        if officer:
            return [str(x) for x in m["nominal_id"]]
        return ["person to safeguard" if f else f"member {i + 1}" for i, f in enumerate(m["to_safeguard"])]

    def _group_edges(self, group_id: str, index: Mapping[str, int]) -> list[tuple[int, int, float]]:
        try:
            e = self.run.table("combined_edges", ["nominal_a", "nominal_b", "weight"], optional=["group_id", "layers"])
        except Unavailable:
            return []
        e = e[e["group_id"] == group_id] if "group_id" in e else e
        return [
            (index[a], index[b], float(w))
            for a, b, w in zip(e["nominal_a"], e["nominal_b"], e["weight"], strict=True)
            if a in index and b in index
        ]

    def graph(self, officer: bool, group_id: str) -> dict:
        m = self.members(group_id)
        index = {nid: i for i, nid in enumerate(m["nominal_id"])}
        edges = self._group_edges(group_id, index)
        labels = self.labels(officer, m)
        pos = _charts.layout(len(labels), [(a, b) for a, b, _ in edges], seed=1)
        return {
            "nodes": [
                {
                    "id": f"n{i}",
                    "label": labels[i],
                    "to_safeguard": bool(m["to_safeguard"].iloc[i]),
                    "x": round(float(pos[i][0]) * 700, 1),
                    "y": round(float(pos[i][1]) * 460, 1),
                }
                for i in range(len(labels))
            ],
            "edges": [{"source": f"n{a}", "target": f"n{b}", "weight": round(w, 4)} for a, b, w in edges],
            "_labels": labels,
            "_flags": [bool(x) for x in m["to_safeguard"]],
            "_edges": edges,
            "_ids": [str(x) for x in m["nominal_id"]],
            "_pos": pos,
        }

    # -- link evidence, under the handling policy ----------------------------------------------------
    def _layer_edges(self) -> pd.DataFrame | None:
        try:
            return self.run.table(
                "edges",
                ["nominal_a", "nominal_b", "layer"],
                optional=["evidence_count", "handling_code", "log_ids", "crime_refs", "first_date", "last_date"],
            )
        except Unavailable:
            return None

    def evidence(self, actor, officer: bool, row: Mapping[str, Any]) -> dict:
        """One layer edge as `actor` may see it: log ids withheld when the handling code does not
        allow the role; crime refs only with per-person access."""
        code = row.get("handling_code")
        code = None if code is None or (isinstance(code, float) and math.isnan(code)) else str(code)
        out = {"layer": row["layer"], "evidence_count": jsonable(row.get("evidence_count")), "handling_code": code}
        if row["layer"] == "intel":
            if self.handling.allows(actor.role if actor else None, code):
                out["log_ids"] = [str(x) for x in (jsonable(row.get("log_ids")) or [])]
            else:
                out["log_ids"] = None
                out["evidence_withheld"] = f"handling code {code or 'none'}"
        if row["layer"] == "victim" and officer:
            out["crime_refs"] = [str(x) for x in (jsonable(row.get("crime_refs")) or [])]
        return out

    def links(self, actor, officer: bool, group_id: str) -> list[dict]:
        """Every link inside the group, one entry per pair with each layer's evidence."""
        m = self.members(group_id)
        labels = dict(zip(m["nominal_id"], self.labels(officer, m), strict=True))
        index = {nid: i for i, nid in enumerate(m["nominal_id"])}
        e = self._layer_edges()
        if e is None or not labels:
            return []
        e = e[e["nominal_a"].isin(index) & e["nominal_b"].isin(index)]
        out: dict[tuple[str, str], dict] = {}
        for r in e.sort_values(["nominal_a", "nominal_b", "layer"]).to_dict("records"):
            key = (r["nominal_a"], r["nominal_b"])
            link = out.setdefault(
                key,
                {
                    "source": f"n{index[key[0]]}",
                    "target": f"n{index[key[1]]}",
                    "a": labels[key[0]],
                    "b": labels[key[1]],
                    "layers": [],
                },
            )
            link["layers"].append(self.evidence(actor, officer, r))
        return list(out.values())

    def person_links(self, actor, nominal_id: str) -> list[dict]:
        e = self._layer_edges()
        if e is None:
            return []
        e = e[(e["nominal_a"] == nominal_id) | (e["nominal_b"] == nominal_id)]
        rows = []
        for r in e.sort_values(["nominal_a", "nominal_b", "layer"]).to_dict("records"):
            other = r["nominal_b"] if r["nominal_a"] == nominal_id else r["nominal_a"]
            rows.append({"other": str(other), **self.evidence(actor, True, r)})
        return rows

    # -- crimes (title and date from the run's full table) -----------------------------------------
    def _crimes(self) -> pd.DataFrame | None:
        if "crimes" not in self._cache:
            try:
                c = self.run.table(
                    "full_table", ["crime_ref", "offender_id"], optional=["offence_title", "offence_date"]
                )
            except Unavailable:
                c = None
            self._cache["crimes"] = c
        return self._cache["crimes"]

    def crime_details(self, refs) -> dict[str, dict]:
        """crime_ref -> {title, date} for the given refs (those the run's full table holds)."""
        c = self._crimes()
        if c is None:
            return {}
        hit = c[c["crime_ref"].isin(set(refs))].drop_duplicates("crime_ref")
        return {
            str(r["crime_ref"]): {"title": r.get("offence_title"), "date": _first_date(r.get("offence_date"))}
            for r in records(hit)
        }

    def person_crimes(self, nominal_id: str) -> list[dict] | None:
        """The crimes a nominal is recorded as offender in: ref, title and date, oldest first."""
        c = self._crimes()
        if c is None:
            return None
        mine = c[c["offender_id"] == nominal_id].drop_duplicates("crime_ref")
        rows = [
            {"crime_ref": r["crime_ref"], "title": r.get("offence_title"), "date": _first_date(r.get("offence_date"))}
            for r in records(mine)
        ]
        return sorted(rows, key=lambda r: (r["date"] or "", r["crime_ref"]))

    def _with_crime_details(self, rows: list[dict]) -> list[dict]:
        details = self.crime_details([r["item_ref"] for r in rows if r.get("item_kind") == "crime"])
        for r in rows:
            d = details.get(str(r.get("item_ref"))) if r.get("item_kind") == "crime" else None
            r["title"], r["date"] = (d["title"], d["date"]) if d else (None, None)
        return rows

    # -- dismantling, safeguarding, people ---------------------------------------------------------
    def dismantling_rows(self, officer: bool, group_id: str) -> list[dict]:
        try:
            d = self.run.table(
                "dismantling",
                ["group_id", "step", "nominal_id", "remaining_largest_fraction"],
                optional=["harm_removed_cchi", "exact", "method", "target_reached"],
            )
        except Unavailable:
            return []
        d = d[d["group_id"] == group_id].sort_values("step")
        m = self.members(group_id)
        labels = dict(zip(m["nominal_id"], self.labels(officer, m), strict=True))
        size = len(m)
        target = self.dismantle_target(size)
        rows = []
        for r in records(d):
            r["member"] = labels.get(r["nominal_id"], r["nominal_id"] if officer else "member")
            if not officer:
                r.pop("nominal_id")
            # The table's target_reached is the group's outcome (the same on every row); what a
            # reader needs is whether the piece left *after this step* is within the target.
            frac = r.get("remaining_largest_fraction")
            r["largest_piece"] = round(float(frac) * size) if frac is not None and size else None
            r["target_piece"] = target
            r["target_reached_here"] = r["largest_piece"] is not None and r["largest_piece"] <= target
            rows.append(r)
        return rows

    def dismantle_fraction(self) -> tuple[float, bool]:
        """(fraction, recorded): the run's dismantle_fraction from its manifest, else the default."""
        from hiddennet.settings import Settings

        recorded = (self.run.manifest.get("settings") or {}).get("dismantle_fraction")
        return (float(recorded), True) if recorded is not None else (Settings().dismantle_fraction, False)

    def dismantle_target(self, size: int) -> int:
        """The largest piece allowed: max(2, ceil(fraction * group size)) nominals (the method's target)."""
        return max(2, math.ceil(self.dismantle_fraction()[0] * size))

    def _safeguarding(self) -> pd.DataFrame:
        try:
            return self.run.table(
                "safeguarding",
                ["nominal_id", "reasons"],
                optional=["age_on_as_of", "group_ids", "local_area", "referral_status"],
            )
        except Unavailable:
            raise NotFound() from None

    def areas(self, actor) -> list[str]:
        s = self._safeguarding()
        known = sorted({str(a) for a in s["local_area"].dropna()}) if "local_area" in s else []
        return [a for a in known if actor is None or actor.sees_area(a)]

    def safeguarding(self, actor, area: str | None, limit: int, offset: int) -> dict:
        """People to safeguard, one page; an area-scoped actor sees their own areas only."""
        s = self._safeguarding()
        if "local_area" not in s:
            s = s.assign(local_area=None)
        if actor is not None and actor.area_scoped:
            s = s[s["local_area"].isin(set(actor.areas))]
        if area:
            s = s[s["local_area"] == area]
        s = s.sort_values(["local_area", "nominal_id"], na_position="last")
        limit, offset = self.page(limit, offset)
        rows = [_safeguarding_row(r) for r in records(s.iloc[offset : offset + limit])]
        return paged(rows, len(s), limit, offset)

    def person(self, actor, nominal_id: str) -> dict:
        if not self.run.has("nominals"):
            raise NotFound()
        full = self.run.table("nominals", list(self.run.columns("nominals")))
        m = full[full["nominal_id"] == nominal_id]
        if m.empty:
            raise NotFound()
        row = jsonable(m.iloc[0].to_dict())
        to_safeguard = nominal_id in self.flagged_ids() or bool(row.get("safeguarding_flagged"))
        out: dict[str, Any] = {"nominal_id": nominal_id, "group_id": row.get("group_id"), "to_safeguard": to_safeguard}
        if to_safeguard:
            # A person to safeguard is shown with the reasons for the referral, never with harm or priority.
            s = self._safeguarding()
            hit = s[s["nominal_id"] == nominal_id]
            out["safeguarding"] = _safeguarding_row(records(hit)[0]) if not hit.empty else None
            return out
        out["network"] = {
            k: row.get(k)
            for k in ("degree", "weighted_degree", "betweenness", "in_cse_network", "in_soc_network")
            if k in row
        }
        out["harm"] = {k: row.get(k) for k in ("harm_cchi", "harm_ons") if k in row}
        try:
            h = self.run.table(
                "harm_explained",
                ["nominal_id", "item_kind", "item_ref"],
                optional=["layer", "cchi_days", "ons_weight", "link_weight"],
            )
            out["harm_explained"] = self._with_crime_details(
                records(h[h["nominal_id"] == nominal_id].drop(columns=["nominal_id"]))
            )
            out["harm_total_cchi"] = sum(float(r.get("cchi_days") or 0) for r in out["harm_explained"])
        except Unavailable:
            out["harm_explained"] = None
        out["crimes"] = self.person_crimes(nominal_id)
        out["links"] = self.person_links(actor, nominal_id)
        return out


def _first_date(v: Any) -> Any:
    return None if v is None else str(v)[:10]


def _safeguarding_row(r: dict) -> dict:
    r["reasons"] = list(r.get("reasons") or [])
    r["reason_labels"] = [REASON_LABELS.get(x, x.replace("_", " ")) for x in r["reasons"]]
    r["group_ids"] = list(r.get("group_ids") or [])
    return r


def paged(items: list, total: int, limit: int, offset: int) -> dict:
    nxt = offset + limit if offset + limit < total else None
    return {"total": total, "limit": limit, "offset": offset, "next_offset": nxt, "items": items}
