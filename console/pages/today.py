"""Today (今日): what needs someone today: open alerts by kind, open complaints by due time."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from console.pages.common import (
    ALERT_KINDS,
    alert_kind_label,
    alerts_in_context,
    display_names,
    now,
)
from console.services import Missing, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
LIMIT = 200  # the most of each list Today shows; the Alerts page has them all


@router.get("/", response_class=HTMLResponse)
async def today(request: Request, everyone: Annotated[str, Query(max_length=1)] = "",
                who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "insights:read")
    api = services(request)
    lang = who.texts.accept_language
    # A salesperson starts with their own customers' alerts; one click shows everyone's.
    mine = bool(who.person.owner) and everyone != "1"
    alert_params: dict[str, str | int] = {"status": "open", "limit": LIMIT}
    if mine and who.person.owner:
        alert_params["owner"] = who.person.owner
    got = await parts(
        alerts=api.get("insights", "/alerts", who.person, lang, params=alert_params),
        complaints=api.get("tickets", "/tickets", who.person, lang,
                           params={"status": "open", "kind": "complaint", "limit": LIMIT}),
        # contacts lists a salesperson's own follow-ups due, everyone's for a manager
        follow_ups=api.get("contacts", "/follow-ups/due", who.person, lang, params={"limit": LIMIT}),
        credit=api.get("insights", "/credit-standings/counts", who.person, lang),  # customers on hold
    )
    alerts: list[dict[str, Any]] = [] if isinstance(got["alerts"], Missing) else got["alerts"]["items"]
    complaints: list[dict[str, Any]] = [] if isinstance(got["complaints"], Missing) else got["complaints"]["items"]
    names = await alerts_in_context(request, who, alerts, also=[c["customer_id"] for c in complaints])
    moment = now()
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ALERT_KINDS}
    for alert in alerts:
        by_kind.setdefault(alert["kind"], []).append(alert)
    complaints.sort(key=lambda c: (c["due_at"] is None, c["due_at"] or "", c["occurred_at"]))
    for complaint in complaints:
        complaint["overdue"] = bool(complaint["due_at"]) and complaint["due_at"] < moment.isoformat()
    counts = Counter(a["kind"] for a in alerts)
    return render(
        request, "today.html", who,
        alerts_missing=got["alerts"] if isinstance(got["alerts"], Missing) else None,
        complaints_missing=got["complaints"] if isinstance(got["complaints"], Missing) else None,
        by_kind=by_kind, counts=counts, complaints=complaints, names=names, limit=LIMIT,
        kind_label=lambda k: alert_kind_label(who.texts, k),
        total=len(alerts) + len(complaints), mine=mine, people=await display_names(request),
        follow_ups_due=None if isinstance(got["follow_ups"], Missing) else got["follow_ups"]["items"],
        credit_counts=None if isinstance(got["credit"], Missing) else got["credit"]["counts"],
    )
