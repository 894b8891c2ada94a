"""Downloads: a group's links as CSV (evidence under the handling policy, cells escaped against
spreadsheet formulas) and a safeguarding lead's referral pack for one of their own areas."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from hiddennet.errors import HiddennetError
from hiddennet.report import MARKING
from hiddennet.serve import security as sec
from hiddennet.serve.context import dash
from hiddennet.stage import NOTICE

router = APIRouter()

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _links_csv(links: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    buf.write(f"# {MARKING}: {NOTICE}\n")
    w.writerow(
        [
            "member_a",
            "member_b",
            "layer",
            "evidence_count",
            "handling_code",
            "log_ids",
            "crime_refs",
            "evidence_withheld",
        ]
    )
    for link in links:
        for e in link["layers"]:
            row = [
                link["a"],
                link["b"],
                e["layer"],
                e.get("evidence_count"),
                e.get("handling_code"),
                ";".join(e.get("log_ids") or []),
                ";".join(e.get("crime_refs") or []),
                e.get("evidence_withheld"),
            ]
            w.writerow([csv_cell(c) for c in row])
    return buf.getvalue()


def attachment(name: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/groups/{group_id:anyid}/links.csv")
async def links_csv(request: Request, group_id: str) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_GROUP, f"group:{group_id}")
    request.state.audit["action"] = "export_links"
    d.data.group_row(group_id)
    text = _links_csv(d.data.links(actor, d.officer(actor), group_id))
    return Response(
        text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": attachment(f"links-{group_id}.csv")}
    )


@router.post("/safeguarding/referral-pack")
async def referral_pack(request: Request) -> Response:
    """The referral pack of one area, made by a safeguarding lead of that area, as a download
    (CSV, or `format=html` for the printable pack). Each pack is logged in disclosures.jsonl."""
    from hiddennet.safeguard.referrals import write_referral_pack

    d = dash(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    area, fmt = form.get("area", [""])[0], form.get("format", ["csv"])[0]
    actor = d.check(request, sec.MAKE_REFERRAL_PACK, f"area:{area}")
    if not area or not actor.sees_area(area) or fmt not in ("csv", "html"):
        d.refuse(request)
    try:
        facts = await run_in_threadpool(
            write_referral_pack, d.run_dir, area=area, recipient=f"{area} MASH", actor=actor.name
        )
    except HiddennetError:
        request.state.audit["outcome"] = "not_found"
        return d.error(request, 404, "No referral pack can be made for that area in this run.")
    path = Path(facts[fmt])
    media = "text/csv; charset=utf-8" if fmt == "csv" else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media, headers={"Content-Disposition": attachment(path.name)})
