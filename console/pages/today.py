"""Today (今日): what needs someone today: open alerts by kind, tickets past or about to pass their
promised time (SLA, in business time), open complaints by due time."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from console import store
from console.pages import ticket_admin_words as ticket_words
from console.pages.common import (
    ALERT_KINDS,
    alert_kind_label,
    alerts_in_context,
    display_names,
    now,
)
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, render, require_page, services, viewer

log = logging.getLogger(__name__)
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
        # tickets whose promised time ran out, and those due within two business hours
        breached=_card(api.get("tickets", "/tickets", who.person, lang,
                               params={"breached": "true", "status": "open", "limit": LIMIT})),
        breaching=_card(api.get("tickets", "/tickets", who.person, lang,
                                params={"breaching_within": ticket_words.SOON, "status": "open", "limit": LIMIT})),
    )
    alerts: list[dict[str, Any]] = [] if isinstance(got["alerts"], Missing) else got["alerts"]["items"]
    complaints: list[dict[str, Any]] = [] if isinstance(got["complaints"], Missing) else got["complaints"]["items"]
    tickets_missing = next((got[k] for k in ("breached", "breaching") if isinstance(got[k], Missing)), None)
    at_risk = [] if tickets_missing else (ticket_words.at_risk(got["breached"]["items"], breached=True)
                                          + ticket_words.at_risk(got["breaching"]["items"], breached=False))
    names = await alerts_in_context(request, who, alerts,
                                    also=[c["customer_id"] for c in [*complaints, *at_risk]])
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
        at_risk=at_risk, tickets_missing=tickets_missing, handlers=await _handlers(request),
        clock_words=lambda k: ticket_words.clock_words(who.texts, k),
        which_clock=lambda c: ticket_words.which_clock(who.texts, c),
        ticket_kind=lambda k: ticket_words.kind_label(who.texts, k),
        ticket_priority=lambda p: ticket_words.priority_label(who.texts, p),
        ticket_queue=lambda q: ticket_words.queue_label(who.texts, q),
    )


async def _handlers(request: Request) -> dict[str, str]:
    """A ticket's ``assignee`` (an owner id, or a sign-in name) → the name the console shows."""
    async with request.app.state.pool.acquire() as conn:
        people = await store.people(conn)
    shown = {p.name: p.display_name for p in people}
    shown.update({p.owner: p.display_name for p in people if p.owner})
    return shown


async def _card(call: Awaitable[Any]) -> Any:
    """A card of Today that a refusal does not take the page down with: it says tickets did not answer."""
    try:
        return await call
    except ServiceRefused as refused:
        if refused.out_of_scope:
            raise
        log.warning("Today: tickets refused a card's list: %s", refused)
        return Missing("tickets")
