"""The HTML pages. Each asks permission for one action on one resource; what a role sees of the
content (anonymised members, harm, evidence, areas) is decided in `serve.data`."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.responses import Response

from hiddennet.report import charts as _charts
from hiddennet.serve import security as sec
from hiddennet.serve.context import dash, id_path

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_OVERVIEW, "overview")
    f, charts = d.data.figures(actor)
    return d.page(
        request,
        "overview.html.j2",
        f=f,
        charts=charts,
        min_cell=d.run.min_cell,
        group_links=d.may(actor, sec.VIEW_GROUP),
    )


@router.get("/groups", response_class=HTMLResponse)
async def groups_page(request: Request, limit: int = 100, offset: int = 0) -> Response:
    d = dash(request)
    d.check(request, sec.VIEW_GROUPS, "groups")
    p = d.data.ranked(limit, offset)
    return d.page(request, "groups.html.j2", rows=p["items"], total=p["total"], limit=p["limit"], offset=p["offset"])


@router.get("/groups/{group_id:anyid}/dismantling", response_class=HTMLResponse)
async def dismantling_page(request: Request, group_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_DISMANTLING, f"group:{group_id}")
    row = d.data.group_row(group_id)
    officer = d.officer(actor)
    fraction, recorded = d.data.dismantle_fraction()
    return d.page(
        request,
        "dismantling.html.j2",
        group=row,
        rows=d.data.dismantling_rows(officer, group_id),
        proof=d.data.dismantling_proof(group_id),
        officer=officer,
        fraction=fraction,
        fraction_recorded=recorded,
        target_piece=d.data.dismantle_target(int(row.get("size") or 0)),
    )


def picture_nodes(gr: dict, officer: bool) -> list[dict]:
    """The graph's nodes with their degree in the group and, for per-person access, their page."""
    degree = {n["id"]: 0 for n in gr["nodes"]}
    for e in gr["edges"]:
        degree[e["source"]] += 1
        degree[e["target"]] += 1
    return [
        {**n, "degree": degree[n["id"]], **({"href": f"/people/{id_path(i)}"} if officer else {})}
        for n, i in zip(gr["nodes"], gr["_ids"], strict=True)
    ]


@router.get("/groups/{group_id:anyid}", response_class=HTMLResponse)
async def group_page(request: Request, group_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_GROUP, f"group:{group_id}")
    row = d.data.group_row(group_id)
    officer = d.officer(actor)
    gr = d.data.graph(officer, group_id)
    svg = _charts.network_svg(
        gr["_labels"],
        gr["_flags"],
        gr["_edges"],
        title=f"Group {group_id}",
        seed=1,
        links=[f"/people/{id_path(i)}" for i in gr["_ids"]] if officer else None,
        pos=gr["_pos"],
    )
    nodes = picture_nodes(gr, officer)
    data = json.dumps({"nodes": nodes, "edges": gr["edges"]}).replace("<", "\\u003c")
    members = d.data.member_rows(d.data.members(group_id)) if officer else None
    return d.page(
        request,
        "group.html.j2",
        group=row,
        svg=svg,
        graph_json=Markup(data),
        nodes=nodes,
        edge_count=len(gr["edges"]),
        members=members,
        officer=officer,
        links=d.data.links(actor, officer, group_id),
        can_dismantle=d.may(actor, sec.VIEW_DISMANTLING, f"group:{group_id}"),
        can_export=d.may(actor, sec.EXPORT_GROUP, f"group:{group_id}"),
    )


@router.get("/safeguarding", response_class=HTMLResponse)
async def safeguarding_page(request: Request, area: str | None = None, limit: int = 500, offset: int = 0) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_SAFEGUARDING, "safeguarding" + (f":{area}" if area else ""))
    if area and not actor.sees_area(area):
        d.refuse(request)
    p = d.data.safeguarding(actor, area, limit, offset)
    areas = d.data.areas(actor)
    packs = [a for a in areas if d.may(actor, sec.MAKE_REFERRAL_PACK, f"area:{a}")]
    return d.page(
        request,
        "safeguarding.html.j2",
        rows=p["items"],
        total=p["total"],
        limit=p["limit"],
        offset=p["offset"],
        area=area,
        areas=areas,
        packs=packs,
        officer=d.officer(actor),
    )


@router.get("/people/{nominal_id:anyid}", response_class=HTMLResponse)
async def person_page(request: Request, nominal_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_PERSON, f"person:{nominal_id}")
    # The records merged into this person and why: only for the roles that may search by identity.
    resolved = d.data.person_records(nominal_id) if d.may(actor, sec.SEARCH_IDENTITY, "search") else None
    return d.page(request, "person.html.j2", p=d.data.person(actor, nominal_id), resolved=resolved)
