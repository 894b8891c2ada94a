"""The JSON API: the same checks, content rules and audit as the pages. Every list is one page of
at most `dashboard_page_max` items (`limit`, `offset`; `next_offset` is null on the last page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from hiddennet.serve import security as sec
from hiddennet.serve.context import dash

router = APIRouter(prefix="/api")


@router.get("/overview")
async def api_overview(request: Request) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_OVERVIEW, "overview")
    return d.api(d.data.figures(actor)[0])


@router.get("/groups")
async def api_groups(request: Request, limit: int = 100, offset: int = 0) -> Response:
    d = dash(request)
    d.check(request, sec.VIEW_GROUPS, "groups")
    p = d.data.ranked(limit, offset)
    return d.api({**{k: v for k, v in p.items() if k != "items"}, "groups": p["items"]})


@router.get("/groups/{group_id:anyid}/dismantling")
async def api_dismantling(request: Request, group_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_DISMANTLING, f"group:{group_id}")
    d.data.group_row(group_id)
    return d.api({"group_id": group_id, "steps": d.data.dismantling_rows(d.officer(actor), group_id)})


@router.get("/groups/{group_id:anyid}/links")
async def api_links(request: Request, group_id: str, limit: int = 100, offset: int = 0) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_GROUP, f"group:{group_id}")
    d.data.group_row(group_id)
    links = d.data.links(actor, d.officer(actor), group_id)
    limit, offset = d.data.page(limit, offset)
    nxt = offset + limit if offset + limit < len(links) else None
    return d.api(
        {
            "group_id": group_id,
            "total": len(links),
            "limit": limit,
            "offset": offset,
            "next_offset": nxt,
            "links": links[offset : offset + limit],
        }
    )


@router.get("/groups/{group_id:anyid}")
async def api_group(request: Request, group_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_GROUP, f"group:{group_id}")
    row = d.data.group_row(group_id)
    gr = d.data.graph(d.officer(actor), group_id)
    return d.api({"group": row, "nodes": gr["nodes"], "edges": gr["edges"]})


@router.get("/safeguarding")
async def api_safeguarding(request: Request, area: str | None = None, limit: int = 100, offset: int = 0) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_SAFEGUARDING, "safeguarding" + (f":{area}" if area else ""))
    if area and not actor.sees_area(area):
        d.refuse(request)
    p = d.data.safeguarding(actor, area, limit, offset)
    return d.api({**{k: v for k, v in p.items() if k != "items"}, "people": p["items"]})


@router.get("/people/{nominal_id:anyid}")
async def api_person(request: Request, nominal_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_PERSON, f"person:{nominal_id}")
    return d.api(d.data.person(actor, nominal_id))
