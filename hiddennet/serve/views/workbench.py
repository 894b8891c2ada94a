"""The analyst's workbench: search, the person-centred network view (expand, filter, a link's
evidence, paths) and exports. Role rules come from `security` (actions) and `data` (content);
every request is audited by the middleware, exports also as disclosures."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.responses import Response

from hiddennet import auditlog
from hiddennet.report import MARKING
from hiddennet.safeguard.referrals import DISCLOSURE_LOG
from hiddennet.serve import graphfiles, security as sec
from hiddennet.serve.context import dash, id_path
from hiddennet.serve.data import NotFound
from hiddennet.serve.views.exports import attachment

router = APIRouter()
# Exports before the views: `/network/{id:anyid}` would take `/network/{id}/export.csv` too.
export_router = APIRouter()

MAX_QUERY = 200


async def form_of(request: Request) -> dict[str, str]:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {k: v[0] for k, v in form.items()}


@router.get("/search", response_class=HTMLResponse)
async def search_form(request: Request) -> Response:
    d = dash(request)
    actor = d.check(request, sec.SEARCH, "search")
    return d.page(request, "search.html.j2", q="", results=None, **_scope(d, actor))


@router.post("/search", response_class=HTMLResponse)
async def search(request: Request) -> Response:
    """A POST, so that a name searched for never sits in a URL (history, logs); the audit line
    records that a search ran (and whether names could be matched), never what was searched."""
    d = dash(request)
    actor = d.check(request, sec.SEARCH, "search")
    q = (await form_of(request)).get("q", "")[:MAX_QUERY]
    scope = _scope(d, actor)
    results = d.data.search(q, people=scope["people"], identity=scope["identity"])
    request.state.audit["detail"] = (
        "identity_search" if scope["identity"] else ("id_search" if scope["people"] else "group_search")
    )
    return d.page(request, "search.html.j2", q=q, results=results, **scope)


def _scope(d, actor) -> dict:
    return {"people": d.officer(actor), "identity": d.may(actor, sec.SEARCH_IDENTITY, "search")}


LAYERS = ("victim", "intel", "custody", "soc")
LAYER_COLOURS = {"victim": "#D55E00", "intel": "#0072B2", "custody": "#CC79A7", "soc": "#E69F00"}
MAX_EXPAND = 25
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _valid_date(v: str) -> bool:
    try:
        return bool(_DATE.fullmatch(v)) and dt.date.fromisoformat(v) is not None
    except ValueError:
        return False


def network_state(request: Request) -> dict:
    """The view's state from its query: expanded nominals (in order), layers, dates, a path end.
    A malformed date is refused as input (the page says so), never guessed."""
    q = request.query_params
    layers = [x for x in q.getlist("layer") if x in LAYERS]
    dates = {k: q.get(k) or None for k in ("from", "to")}
    for v in dates.values():
        if v is not None and not _valid_date(v):
            raise BadInput()
    return {
        "expand": list(dict.fromkeys(q.getlist("expand")))[:MAX_EXPAND],
        "layers": layers,
        "date_from": dates["from"],
        "date_to": dates["to"],
        "path_to": (q.get("path_to") or "").strip() or None,
    }


class BadInput(Exception):
    pass


def state_query(state: dict, **change) -> str:
    s = {**state, **change}
    pairs = [("expand", x) for x in s["expand"]] + [("layer", x) for x in s["layers"]]
    pairs += [(k, s[v]) for k, v in (("from", "date_from"), ("to", "date_to"), ("path_to", "path_to")) if s[v]]
    return urlencode(pairs)


def network_view(d, actor, centre: str, state: dict) -> dict:
    filters = {k: state[k] or None for k in ("layers", "date_from", "date_to")}
    net = d.data.network(actor, centre, state["expand"], filters)
    path = None
    if state["path_to"]:
        try:
            path = d.data.paths(centre, state["path_to"])
        except NotFound:
            path = {"target": state["path_to"], "unknown": True}
        # People on the path but not on the picture come with their flags too (a person to
        # safeguard on a path is drawn as one, never as a plain member or a pick).
        have = {n["nominal_id"] for n in net["nodes"]}
        extra = sorted({*(path.get("strongest") or []), *(path.get("fewest") or [])} - have)
        net["nodes"] += [{**n, "expanded": False} for n in d.data.network_nodes(extra, centre)]
    return {"net": net, "path": path}


def picture(net: dict, path: dict | None, state: dict, centre: str) -> dict:
    """The cytoscape elements: node size by harm (people to safeguard a fixed ring), one edge per
    layer coloured by layer, the path's links drawn on top."""
    ids = [n["nominal_id"] for n in net["nodes"]]
    on_path = set((path or {}).get("strongest") or []) | set((path or {}).get("fewest") or [])
    ids += sorted(on_path - set(ids))
    index = {nid: f"n{i}" for i, nid in enumerate(ids)}
    top = max([n["harm_cchi"] or 0 for n in net["nodes"]] + [1])
    nodes = []
    for nid in ids:
        n = next((x for x in net["nodes"] if x["nominal_id"] == nid), {"nominal_id": nid, "to_safeguard": False})
        size = 16 if n.get("to_safeguard") else round(12 + 28 * ((n.get("harm_cchi") or 0) / top) ** 0.5, 1)
        nodes.append(
            {
                "id": index[nid],
                "label": nid,
                "to_safeguard": bool(n.get("to_safeguard")),
                "pick": n.get("pick_step"),
                "centre": nid == centre,
                "size": size,
                "href": f"/people/{id_path(nid)}",
                "expand_href": None
                if n.get("expanded")
                else f"/network/{id_path(centre)}?{state_query(state, expand=[*state['expand'], nid])}",
                "on_path": nid in on_path,
            }
        )
    edges = [
        {"source": index[lk["a"]], "target": index[lk["b"]], "layer": e["layer"], "weight": e.get("weight") or 0}
        for lk in net["links"]
        for e in lk["layers"]
    ]
    strong = (path or {}).get("strongest") or []
    edges += [
        {"source": index[a], "target": index[b], "layer": "path", "weight": 3} for a, b in itertools.pairwise(strong)
    ]
    return {"nodes": nodes, "edges": edges, "colours": LAYER_COLOURS}


def _network_request(request: Request, nominal_id: str):
    """(dashboard, view, state, None) of a person-centred request; (dashboard, None, None, the 400
    page) when a date of its filter is not a date."""
    d = dash(request)
    actor = d.check(request, sec.VIEW_NETWORK, f"network:{nominal_id}")
    try:
        state = network_state(request)
    except BadInput:
        request.state.audit["outcome"] = "rejected_input"
        return d, None, None, d.error(request, 400, "Dates are written as YYYY-MM-DD.")
    return d, network_view(d, actor, nominal_id, state), state, None


@router.get("/network/{nominal_id:anyid}", response_class=HTMLResponse)
async def network_page(request: Request, nominal_id: str) -> Response:
    d, v, state, error = _network_request(request, nominal_id)
    if error is not None:
        return error
    pic = picture(v["net"], v["path"], state, nominal_id)
    return d.page(
        request,
        "network.html.j2",
        centre=nominal_id,
        net=v["net"],
        path=v["path"],
        state=state,
        layers=LAYERS,
        colours=LAYER_COLOURS,
        pic=pic,
        graph_json=Markup(json.dumps(pic).replace("<", "\\u003c")),
        query=state_query(state),
    )


@router.get("/api/network/{nominal_id:anyid}")
async def api_network(request: Request, nominal_id: str) -> Response:
    d, v, _state, error = _network_request(request, nominal_id)
    if error is not None:
        return error
    return d.api({**v["net"], "path": v["path"]})


# -- exports ----------------------------------------------------------------------------------------
# format -> (media type, file ending, writer of the file's text or bytes)
EXPORTS: dict[str, tuple[str, str, Callable[[dict], str | bytes]]] = {
    "csv": ("text/csv; charset=utf-8", "csv", graphfiles.to_csv),
    "graphml": ("application/graphml+xml", "graphml", graphfiles.to_graphml),
    "gexf": ("application/gexf+xml", "gexf", graphfiles.to_gexf),
    "i2.csv": ("text/csv; charset=utf-8", "i2.csv", graphfiles.to_i2_csv),
}


def export_response(d, request: Request, actor, scope: str, fmt: str, graph: dict, stem: str) -> Response:
    """The file, and one disclosure record (who, role, what, format, size, checksum; no content)
    appended to the run's hash-chained disclosures.jsonl before it is sent."""
    media, ext, write = EXPORTS[fmt]
    body = write(graph)
    data = body.encode("utf-8") if isinstance(body, str) else body
    record = {
        "time_utc": sec.AuditEvent.now(),
        "kind": "dashboard_export",
        "actor": actor.name,
        "role": actor.role,
        "scope": scope,
        "format": fmt,
        "marking": MARKING,
        "nodes": len(graph["nodes"]),
        "links": len(graph["links"]),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    auditlog.append_event(d.run_dir / DISCLOSURE_LOG, record)
    request.state.audit["detail"] = f"disclosed_{ext.replace('.', '_')}"
    return Response(data, media_type=media, headers={"Content-Disposition": attachment(f"{stem}.{ext}")})


@export_router.get("/groups/{group_id:anyid}/export.{fmt}")
async def group_export(request: Request, group_id: str, fmt: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.EXPORT_GROUP, f"group:{group_id}")
    if fmt not in EXPORTS:
        raise NotFound()
    request.state.audit["action"] = f"{sec.EXPORT_GROUP}"
    graph = d.data.group_export(actor, d.officer(actor), group_id)
    return export_response(d, request, actor, f"group:{group_id}", fmt, graph, f"group-{group_id}")


@export_router.get("/network/{nominal_id:anyid}/export.{fmt}")
async def network_export(request: Request, nominal_id: str, fmt: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.EXPORT_NETWORK, f"network:{nominal_id}")
    if fmt not in EXPORTS:
        raise NotFound()
    try:
        state = network_state(request)
    except BadInput:
        request.state.audit["outcome"] = "rejected_input"
        return d.error(request, 400, "Dates are written as YYYY-MM-DD.")
    filters = {k: state[k] or None for k in ("layers", "date_from", "date_to")}
    graph = d.data.network_export(actor, nominal_id, state["expand"], filters)
    return export_response(d, request, actor, f"network:{nominal_id}", fmt, graph, f"network-{nominal_id}")
