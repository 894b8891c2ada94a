"""The dashboard's page of what changed since the previous run and the alerts (docs/continuity.md).

For the roles allowed `view_changes` (analysts, intelligence officers). Group changes and group alerts
for both; the changes and alerts about one person (nominal ids, a new child in a ranked group) only
with per-person access (intelligence officers). A run without a history shows that it has none.
Audited like every page (the middleware and `check`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from hiddennet.continuity.report import WORDS
from hiddennet.serve import security as sec
from hiddennet.serve.context import dash

router = APIRouter()

# Alerts and changes that name a person: per-person access only.
PERSON_ALERTS = ("watched_nominal_new_link", "new_child_in_ranked_group")
PERSON_CHANGES = ("nominal_new_in_network", "nominal_new_in_dismantling", "newly_flagged")


def _rows(run, name: str) -> list[dict] | None:
    if not run.has(name):
        return None
    return run.table(name).astype(object).where(lambda t: t.notna(), None).to_dict("records")


@router.get("/continuity", response_class=HTMLResponse)
async def continuity_page(request: Request, limit: int = 200) -> Response:
    d = dash(request)
    actor = d.check(request, sec.VIEW_CHANGES, "continuity")
    officer = d.officer(actor)
    changes, alerts = _rows(d.run, "changes"), _rows(d.run, "alerts")
    counts: dict[str, int] = {}
    for r in changes or []:
        counts[r["change"]] = counts.get(r["change"], 0) + 1
    limit = max(1, min(limit, d.data.page_max))
    shown = [r for r in changes or [] if officer or r["change"] not in PERSON_CHANGES]
    return d.page(
        request,
        "continuity.html.j2",
        history=changes is not None,
        counts=[(WORDS.get(c, c), n) for c, n in sorted(counts.items())],
        changes=shown[:limit],
        more=max(0, len(shown) - limit),
        alerts=[a for a in alerts or [] if officer or a["alert"] not in PERSON_ALERTS],
        officer=officer,
    )
