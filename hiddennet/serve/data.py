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
from typing import Any, cast

import numpy as np
import pandas as pd
from markupsafe import Markup

from hiddennet.report import build_charts, charts as _charts, data as report_data
from hiddennet.report.data import REASON_LABELS, RunOutputs, TableUnreadable, Unavailable

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
            f[name] = {"available": False, "reason": NOT_FOR_AREA_SCOPED, **report_data.heading(f[name])}
        head = report_data.heading(f["safeguarding"])
        try:
            area_run = cast(RunOutputs, AreaView(self.run, actor.areas))  # the same reads, area-filtered
            f["safeguarding"] = {"available": True, **report_data.safeguarding(area_run), **head}
        except (Unavailable, TableUnreadable) as e:
            f["safeguarding"] = {"available": False, "reason": str(e), **head}
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
        # A Python membership test: pandas' Arrow-string isin walks the whole (large) set of
        # flagged ids in Python on every call, 0.5 s for a 50-member group of a scale-1 run.
        flagged_ids = self.flagged_ids()
        flagged = pd.Series([x in flagged_ids for x in m["nominal_id"]], index=m.index, dtype=bool)
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
        self.enrich(actor, [e for link in out.values() for e in link["layers"]])
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
        return self.enrich(actor, rows)

    # -- the person-centred network (across group boundaries) ------------------------------------
    def _edges_all(self) -> pd.DataFrame | None:
        if "edges_all" not in self._cache:
            try:
                e = self.run.table(
                    "edges",
                    ["nominal_a", "nominal_b", "layer"],
                    optional=[
                        "weight",
                        "first_date",
                        "last_date",
                        "evidence_count",
                        "handling_code",
                        "log_ids",
                        "crime_refs",
                    ],
                )
            except Unavailable:
                e = None
            self._cache["edges_all"] = e
        return self._cache["edges_all"]

    def layer_links(self, nominal_ids, layers: Sequence[str] | None, date_from: str | None, date_to: str | None):
        """Layer edges touching any of `nominal_ids`, in the chosen layers, whose evidence dates
        overlap [date_from, date_to] (ISO dates; an edge without dates passes a date filter)."""
        e = self._edges_all()
        if e is None:
            return e
        ids = set(nominal_ids)
        e = e[e["nominal_a"].isin(ids) | e["nominal_b"].isin(ids)].copy()
        # Dates as ISO strings (None when absent) on the few rows kept, not on the whole table.
        for c in ("first_date", "last_date"):
            vals = [_first_date(jsonable(v)) for v in e[c]] if c in e else [None] * len(e)
            e[c] = pd.Series(vals, index=e.index, dtype=object)
        if layers:
            e = e[e["layer"].isin(set(layers))]
        if date_from:
            e = e[[(v is None) or v >= date_from for v in e["last_date"]]]
        if date_to:
            e = e[[(v is None) or v <= date_to for v in e["first_date"]]]
        return e

    def network(self, actor, centre: str, expand: Sequence[str], filters: Mapping[str, Any]) -> dict:
        """The centre's links, plus those of every node in `expand` already on the picture (one
        hop each, across groups), as `actor` may see them: nodes with group, harm (none for
        people to safeguard), dismantling pick; one link per pair with each layer's weight,
        first/last date and evidence under the handling rules."""
        if centre not in self.network_ids():
            raise NotFound()
        frontier, rows = self._expanded(centre, expand, filters)
        nodes_ids = sorted({centre} | {r["nominal_a"] for r in rows} | {r["nominal_b"] for r in rows})
        links = self._network_links(actor, rows)
        nodes = self.network_nodes(nodes_ids, centre)
        for n in nodes:
            n["expanded"] = n["nominal_id"] in frontier
        return {"centre": centre, "nodes": nodes, "links": links, "expanded": frontier}

    def _expanded(self, centre: str, expand: Sequence[str], filters: Mapping[str, Any]) -> tuple[list[str], list[dict]]:
        """Expand in the order given, one hop each: a node is expanded only once it is on the picture."""

        def links_of(ids: list[str]) -> list[dict]:
            e = self.layer_links(ids, filters.get("layers"), filters.get("date_from"), filters.get("date_to"))
            return [] if e is None else e.sort_values(["nominal_a", "nominal_b", "layer"]).to_dict("records")

        frontier = [centre]
        rows = links_of(frontier)
        for nid in expand:
            on_picture = {r["nominal_a"] for r in rows} | {r["nominal_b"] for r in rows}
            if nid in on_picture and nid not in frontier:
                frontier.append(nid)
                rows = links_of(frontier)
        return frontier, rows

    def network_ids(self) -> set[str]:
        if "network_ids" not in self._cache:
            try:
                self._cache["network_ids"] = set(self.run.table("nominals", ["nominal_id"])["nominal_id"].astype(str))
            except Unavailable:
                self._cache["network_ids"] = set()
        return self._cache["network_ids"]

    def dismantling_picks(self) -> dict[str, int]:
        if "picks" not in self._cache:
            try:
                d = self.run.table("dismantling", ["nominal_id", "step"])
                self._cache["picks"] = {str(a): int(b) for a, b in zip(d["nominal_id"], d["step"], strict=True)}
            except Unavailable:
                self._cache["picks"] = {}
        return self._cache["picks"]

    def network_nodes(self, ids: Sequence[str], centre: str) -> list[dict]:
        try:
            n = self.run.table("nominals", ["nominal_id", "group_id"], optional=["harm_cchi", "safeguarding_flagged"])
            n = n[n["nominal_id"].isin(set(ids))]
            info = {str(r["nominal_id"]): r for r in records(n)}
        except Unavailable:
            info = {}
        flagged, picks = self.flagged_ids(), self.dismantling_picks()
        out = []
        for nid in ids:
            r = info.get(nid, {})
            sg = nid in flagged or bool(r.get("safeguarding_flagged"))
            out.append(
                {
                    "nominal_id": nid,
                    "group_id": r.get("group_id"),
                    "to_safeguard": sg,
                    # People to safeguard carry no harm and are never dismantling picks.
                    "harm_cchi": None if sg else r.get("harm_cchi"),
                    "pick_step": None if sg else picks.get(nid),
                    "centre": nid == centre,
                }
            )
        return out

    def _network_links(self, actor, rows: list[dict]) -> list[dict]:
        out: dict[tuple[str, str], dict] = {}
        evidence = []
        for r in rows:
            key = (str(r["nominal_a"]), str(r["nominal_b"]))
            link = out.setdefault(key, {"a": key[0], "b": key[1], "weight": 0.0, "layers": []})
            ev = self.evidence(actor, True, r)
            ev.update(weight=jsonable(r.get("weight")), first_date=r.get("first_date"), last_date=r.get("last_date"))
            link["weight"] += float(r.get("weight") or 0)
            link["layers"].append(ev)
            evidence.append(ev)
        self.enrich(actor, evidence)
        for link in out.values():
            link["weight"] = round(link["weight"], 4)
        return list(out.values())

    def enrich(self, actor, evidence: list[dict]) -> list[dict]:
        """Crimes (ref, title, date) and logs (id, date, grading, handling code) behind each
        layer's evidence, looked up in one pass; a log whose own code the role may not see is
        withheld, as a link's code withholds all of them."""
        crimes = self.crime_details([c for ev in evidence for c in ev.get("crime_refs") or []])
        logs = self.intel_logs([x for ev in evidence for x in ev.get("log_ids") or []])
        for ev in evidence:
            if ev.get("crime_refs") is not None:
                ev["crimes"] = [
                    {"crime_ref": c, **crimes.get(c, {"title": None, "date": None})} for c in ev["crime_refs"]
                ]
            if ev.get("log_ids") is not None:
                ev["logs"] = [self._log_entry(actor, x, logs.get(x)) for x in ev["log_ids"]]
                ev["log_ids"] = [x["log_id"] for x in ev["logs"] if x["log_id"] is not None]
        return evidence

    def intel_logs(self, ids) -> dict[str, dict]:
        try:
            t = self.run.table(
                "intel_logs",
                ["log_id"],
                optional=["log_date", "grading_system", "source_grade", "information_grade", "handling_code"],
            )
        except Unavailable:
            return {}
        t = t[t["log_id"].isin(set(ids))].drop_duplicates("log_id")
        return {str(r["log_id"]): r for r in records(t)}

    def _log_entry(self, actor, log_id: str, log: dict | None) -> dict:
        """One log behind an intel link: its own handling code decides, as the link's does."""
        code = None if log is None else log.get("handling_code")
        if not self.handling.allows(actor.role if actor else None, code):
            return {"log_id": None, "withheld": f"handling code {code}"}
        if log is None:
            return {"log_id": log_id, "date": None, "grading": None, "handling_code": None}
        grades = "".join(str(log.get(k) or "") for k in ("source_grade", "information_grade"))
        system = log.get("grading_system")
        return {
            "log_id": log_id,
            "date": _first_date(log.get("log_date")),
            "grading": f"{system} {grades}".strip() if system or grades else None,
            "handling_code": code,
        }

    # -- exports: the graph as the role sees it ------------------------------------------------------
    def group_export(self, actor, officer: bool, group_id: str) -> dict:
        """A group's members (labels anonymised without per-person access; harm only with it and
        never for people to safeguard) and its links per layer with their evidence."""
        self.group_row(group_id)
        m = self.members(group_id)
        labels = self.labels(officer, m)
        rows = self.member_rows(m)
        nodes = [
            {
                "id": f"n{i}",
                "label": labels[i],
                "group_id": group_id,
                "to_safeguard": bool(r["to_safeguard"]),
                "harm_cchi": round(float(r["harm_cchi"])) if officer and r.get("harm_cchi") is not None else None,
            }
            for i, r in enumerate(rows)
        ]
        links = [
            {"a": lk["source"], "b": lk["target"], **_export_layer(e)}
            for lk in self.links(actor, officer, group_id)
            for e in lk["layers"]
        ]
        return {"nodes": nodes, "links": links}

    def network_export(self, actor, centre: str, expand: Sequence[str], filters: Mapping[str, Any]) -> dict:
        net = self.network(actor, centre, expand, filters)
        nodes = [
            {
                "id": n["nominal_id"],
                "label": n["nominal_id"],
                "group_id": n["group_id"],
                "to_safeguard": n["to_safeguard"],
                "harm_cchi": round(float(n["harm_cchi"])) if n["harm_cchi"] is not None else None,
                "pick_step": n["pick_step"],
            }
            for n in net["nodes"]
        ]
        links = [{"a": lk["a"], "b": lk["b"], **_export_layer(e)} for lk in net["links"] for e in lk["layers"]]
        return {"nodes": nodes, "links": links}

    # -- paths -------------------------------------------------------------------------------------
    def _adjacency(self) -> dict[str, dict[str, float]]:
        if "adjacency" not in self._cache:
            from hiddennet.serve.paths import adjacency

            try:
                e = self.run.table("combined_edges", ["nominal_a", "nominal_b", "weight"])
                edges = zip(e["nominal_a"].astype(str), e["nominal_b"].astype(str), e["weight"], strict=True)
                self._cache["adjacency"] = adjacency(edges)
            except Unavailable:
                self._cache["adjacency"] = {}
        return self._cache["adjacency"]

    def paths(self, source: str, target: str) -> dict:
        """The strongest path (sum of 1/weight) and the one of fewest links between two nominals."""
        from hiddennet.serve.paths import fewest_links_path, strongest_path

        ids = self.network_ids()
        if source not in ids or target not in ids:
            raise NotFound()
        adj = self._adjacency()
        strong = strongest_path(adj, source, target) if source != target else ([source], 0.0)
        return {
            "source": source,
            "target": target,
            "strongest": strong[0] if strong else None,
            "distance": round(strong[1], 4) if strong else None,
            "fewest": fewest_links_path(adj, source, target) if source != target else [source],
        }

    # -- search ------------------------------------------------------------------------------------
    def search(self, q: str, *, people: bool, identity: bool) -> dict:
        """Groups whose id matches `q`; with `people` (per-person access) nominals by id; with
        `identity` also by forename + surname or PNC id from the restricted
        `nominal_identities` (filled only when the run had `dashboard_identity_search` on).
        Matching is case- and space-insensitive: exact, then prefix (ids) or substring (names).
        The matched name is not returned: results name the nominal id."""
        q = _norm(q)
        out: dict[str, Any] = {"groups": [], "people": [], "identity_available": False}
        if not q:
            return out
        try:
            g = self.groups_table()["group_id"].astype(str)
            out["groups"] = sorted(x for x in g if _norm(x).startswith(q))[: self.page_max]
        except NotFound:
            pass
        if not people:
            return out
        hits: list[tuple[int, str, str]] = []  # (rank, nominal id, matched on)
        try:
            ids = self.run.table("nominals", ["nominal_id"])["nominal_id"].astype(str)
            hits += [(0 if _norm(i) == q else 1, i, "nominal id") for i in ids if _norm(i).startswith(q)]
        except Unavailable:
            pass
        if identity:
            found, available = self._identity_hits(q)
            hits += found
            out["identity_available"] = available
        out["people"] = self._people_results(hits)
        return out

    def _identity_hits(self, q: str) -> tuple[list[tuple[int, str, str]], bool]:
        try:
            t = self.run.table("nominal_identities", ["nominal_id"], optional=["forename", "surname", "pnc_id"])
        except Unavailable:
            return [], False
        cols = {"forename", "surname", "pnc_id"} & set(t.columns)
        if not cols or t.empty:
            return [], False
        hits = []
        for r in t.to_dict("records"):
            pnc = _norm(r.get("pnc_id") or "")
            name = _norm(f"{r.get('forename') or ''} {r.get('surname') or ''}")
            if pnc and pnc == q:
                hits.append((0, str(r["nominal_id"]), "PNC id"))
            elif name and q in name:
                hits.append((0 if name == q else 2, str(r["nominal_id"]), "name"))
        return hits, True

    def _people_results(self, hits: list[tuple[int, str, str]]) -> list[dict]:
        best: dict[str, tuple[int, str]] = {}
        for rank, nid, how in hits:
            if nid not in best or rank < best[nid][0]:
                best[nid] = (rank, how)
        groups = {}
        try:
            n = self.run.table("nominals", ["nominal_id", "group_id"])
            groups = dict(zip(n["nominal_id"].astype(str), n["group_id"], strict=True))
        except Unavailable:
            pass
        flagged = self.flagged_ids()
        order = sorted(best, key=lambda i: (best[i][0], i))[: self.page_max]
        return [
            {
                "nominal_id": i,
                "group_id": jsonable(groups.get(i)),
                "to_safeguard": i in flagged,
                "matched_on": best[i][1],
            }
            for i in order
        ]

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

    def dismantling_proof(self, group_id: str) -> dict | None:
        """The group's lower bound on the fewest removals, the order's gap to it and how the bound was
        found (the same on every row of the group), or None when the run has no proof columns."""
        try:
            d = self.run.table("dismantling", ["group_id", "lower_bound", "gap"], optional=["optimal", "bound_method"])
        except Unavailable:
            return None
        d = d[d["group_id"] == group_id]
        if d.empty or d["lower_bound"].isna().all():
            return None
        r = records(d.head(1))[0]
        return {"lower_bound": int(r["lower_bound"]), "gap": int(r["gap"]), "optimal": bool(r.get("optimal")),
                "bound_method": r.get("bound_method") or ""}

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
            s = self.run.table(
                "safeguarding",
                ["nominal_id", "reasons"],
                optional=["age_on_as_of", "group_ids", "local_area", "referral_status"],
            )
        except Unavailable:
            raise NotFound() from None
        # The triage band of each person (most urgent first); a run without triage has none.
        try:
            bands = self.run.table("safeguarding_triage", ["nominal_id", "band", "band_order"])
        except Unavailable:
            return s.assign(band=None, band_order=None)
        return s.merge(bands, on="nominal_id", how="left")

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
        # Most urgent band first (docs/safeguarding.md), then by area and id.
        s = s.sort_values(["band_order", "local_area", "nominal_id"], na_position="last")
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

    def person_records(self, nominal_id: str) -> dict | None:
        """Entity resolution (docs/resolve.md): the source records that are this person (`nominal_map`) and
        the model's match weight per comparison for each pair of them (`match_explanations`); None when
        the run did not resolve. For roles that may see identities only (the caller checks)."""
        try:
            m = self.run.table("nominal_map", ["source_system", "source_id", "canonical_id", "rule"],
                               optional=["match_probability", "linked_to"])
        except Unavailable:
            return None
        mine = m[m["canonical_id"] == nominal_id]
        ids = set(mine["source_id"])
        rows = sorted(records(mine.drop(columns=["canonical_id"])), key=lambda r: (r["source_system"], r["source_id"]))
        try:
            e = self.run.table("match_explanations", ["nominal_id_a", "nominal_id_b", "comparison", "match_weight"],
                               optional=["label", "match_probability"])
            e = e[e["nominal_id_a"].isin(ids) & e["nominal_id_b"].isin(ids)]
            pairs: dict[tuple[str, str], dict] = {}
            for r in records(e):
                pair = pairs.setdefault((r["nominal_id_a"], r["nominal_id_b"]), {
                    "a": r["nominal_id_a"], "b": r["nominal_id_b"], "probability": r.get("match_probability"),
                    "weights": []})
                pair["weights"].append({k: r.get(k) for k in ("comparison", "label", "match_weight")})
            explained = [pairs[k] for k in sorted(pairs)]
        except Unavailable:
            explained = []
        return {"records": rows, "explained": explained}


def _export_layer(e: Mapping[str, Any]) -> dict:
    """One layer of a link as export columns; the evidence as one readable cell."""
    if e.get("evidence_withheld"):
        evidence = None
    elif e.get("crimes"):
        evidence = "; ".join(_described(c["crime_ref"], c.get("title"), c.get("date")) for c in e["crimes"])
    elif e.get("logs"):
        evidence = "; ".join(
            "a log withheld" if g.get("withheld") else _described(g["log_id"], g.get("date"), g.get("grading"))
            for g in e["logs"]
        )
    else:
        evidence = "; ".join(e.get("crime_refs") or e.get("log_ids") or []) or None
    return {
        "layer": e["layer"],
        "weight": e.get("weight"),
        "first_date": e.get("first_date"),
        "last_date": e.get("last_date"),
        "evidence": evidence,
        "handling_code": e.get("handling_code"),
        "evidence_withheld": e.get("evidence_withheld"),
    }


def _described(ref: str, *about: Any) -> str:
    """`C00003 (Sexual activity with a child, 2019-05-01)`: a ref with what is known about it."""
    known = [str(x) for x in about if x]
    return f"{ref} ({', '.join(known)})" if known else str(ref)


def _norm(text: Any) -> str:
    return " ".join(str(text).casefold().split())


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
