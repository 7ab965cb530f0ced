"""Tickets (工单): the queue of complaints, feedback and service requests a person handles (mine,
a team's queue, all), as a list or a board by status, each with its SLA clock in business time;
one ticket's page with its history and the steps of handling it, each a form posting to the
tickets service with an Idempotency-Key; and the nav's count of my tickets overdue or about to be.

The words (the clock, the columns, the service's codes) are ``ticket_view``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from console import store
from console.accounts import Person
from console.i18n import Texts
from console.pages import ticket_view as tv
from console.pages.common import customer_names
from console.services import Missing, ServiceDown, ServiceRefused, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
LIMIT = 200  # per status asked; a queue longer than this says so
VIEWS = ("mine", "queue", "all")
LAYOUTS = ("list", "board")
SLA_FILTERS = ("soon", "overdue")
STATUS_FILTERS = ("active", *tv.STATUSES)
DEFAULT_QUEUE = "service"
WRITE = "tickets:write"
FINISHED = ("resolved", "closed")


def may_see_all(who: Viewer) -> bool:
    return who.may("customers:all")


async def console_people(request: Request) -> list[Person]:
    async with request.app.state.pool.acquire() as conn:
        return [p for p in await store.people(conn) if not p.disabled]


def handler_id(p: Person) -> str:
    """What ``assignee`` (and escalation's ``to``) holds for a person: the owner id their customers
    carry (salespeople), else their sign-in name."""
    return p.owner or p.name


def people_names(people: list[Person]) -> dict[str, str]:
    """assignee → the name the console shows (by sign-in name and by owner id)."""
    shown = {str(p.id): p.display_name for p in people}
    shown.update({p.name: p.display_name for p in people})
    shown.update({p.owner: p.display_name for p in people if p.owner})
    return shown


def _filtered(items: list[dict[str, Any]], *, view: str, queue: str, mine: set[str], kind: str, category: str,
              sla: str) -> list[dict[str, Any]]:
    """What the filters ask for, also checked here: the API narrows the list, the page shows what it asked."""
    out = []
    for item in items:
        if view == "mine" and item.get("assignee") not in mine:
            continue
        if view == "queue" and (item.get("queue") != queue or item.get("assignee")):
            continue
        if kind and item.get("kind") != kind:
            continue
        if category and item.get("category") != category:
            continue
        if sla == "soon" and not tv.breaching_soon(item):
            continue
        if sla == "overdue" and not tv.overdue(item):
            continue
        out.append(item)
    return out


async def list_tickets(request: Request, who: Viewer, params: dict[str, Any]) -> Any:
    """GET /tickets; a tickets service older than issue 13's list filters refuses the ones it does
    not know (422 "unknown query parameter"): asked again without them (the page filters too)."""
    api, lang = services(request), who.texts.accept_language
    asked = dict(params)
    for _ in range(len(params)):
        try:
            return await api.get("tickets", "/tickets", who.person, lang, params=asked)
        except ServiceRefused as refused:
            unknown = {name for name, problem in refused.field_errors().items()
                       if "unknown query parameter" in str(problem.get("message", ""))} & set(asked)
            if refused.status != 422 or not unknown:
                raise
            asked = {k: v for k, v in asked.items() if k not in unknown}
    return await api.get("tickets", "/tickets", who.person, lang, params=asked)


async def _fetch(request: Request, who: Viewer, statuses: tuple[str, ...], *, view: str, queue: str, kind: str,
                 category: str, sla: str) -> tuple[list[dict[str, Any]], bool, Missing | None]:
    """The tickets of these statuses (one call each, at once); whether some were left out; what failed."""
    base: dict[str, Any] = {"limit": LIMIT}
    if view == "mine":  # by the id the console gives a person's tickets (not ?mine=: the service's own idea of me)
        base["assignee"] = handler_id(who.person)
    elif view == "queue":
        base["queue"] = queue
    if kind:
        base["kind"] = kind
    if category:
        base["category"] = category
    if sla == "soon":
        base["breaching_within"] = tv.SOON_PARAM
    elif sla == "overdue":
        base["breached"] = "true"
    # the active ones oldest first (the page sorts them by their clocks), the finished ones newest first
    got = await parts(**{s: list_tickets(request, who, {**base, "status": s, "order": "newest" if s in FINISHED
                                                        else "oldest"}) for s in statuses})
    items: list[dict[str, Any]] = []
    more = False
    for status in statuses:
        page = got[status]
        if isinstance(page, Missing):
            return [], False, page
        items.extend(page["items"])
        more = more or bool(page.get("next_cursor"))
    mine = tv.handler_ids(who.person.name, who.person.owner) | {str(who.person.id)}
    return _filtered(items, view=view, queue=queue, mine=mine, kind=kind, category=category, sla=sla), more, None


@router.get("/tickets", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    view: Annotated[str, Query(max_length=16)] = "",
    queue: Annotated[str, Query(max_length=64)] = "",
    layout: Annotated[str, Query(max_length=16)] = "list",
    kind: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=32)] = "active",
    category: Annotated[str, Query(max_length=32)] = "",
    sla: Annotated[str, Query(max_length=16)] = "",
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "tickets:read")
    layout = layout if layout in LAYOUTS else "list"
    kind = kind if kind in tv.KINDS else ""
    category = category if category in tv.CATEGORIES else ""
    sla = sla if sla in SLA_FILTERS else ""
    status = status if status in STATUS_FILTERS else "active"
    queue = queue.strip() or DEFAULT_QUEUE
    if view == "all" and not may_see_all(who):
        view = ""
    if layout == "board":
        statuses: tuple[str, ...] = tv.STATUSES
    else:
        statuses = tv.ACTIVE if status == "active" else (status,)
    newest = layout == "list" and status in FINISHED
    filters = {"queue": queue, "kind": kind, "category": category, "sla": sla}
    chosen = view if view in VIEWS else ""
    items: list[dict[str, Any]] = []
    more, missing = False, None
    if not chosen:  # mine when I have tickets; else everyone's (who may see all) or the service queue
        items, more, missing = await _fetch(request, who, statuses, view="mine", **filters)
        chosen = "mine"
        if not items and not missing:
            chosen = "all" if may_see_all(who) else "queue"
    if chosen != "mine" or view == "mine":
        items, more, missing = await _fetch(request, who, statuses, view=chosen, **filters)
    now = datetime.now(UTC)
    names, people = await asyncio.gather(customer_names(services(request), who, [i["customer_id"] for i in items]),
                                         console_people(request))
    t = who.texts
    shown: list[Mapping[str, Any]]
    if layout == "board":
        columns = tv.board(items, now)
        shown = [i for c in columns.values() for i in c]
    else:
        columns = {}
        shown = list(items) if newest else tv.by_urgency(items)
    attention = sum(1 for i in shown if tv.needs_attention(i))
    queues = sorted({DEFAULT_QUEUE, queue, *(i["queue"] for i in items if i.get("queue"))})
    return render(
        request, "tickets.html", who, items=shown, columns=columns, more=more, missing=missing, view=chosen,
        layout=layout, queue=queue, kind=kind, shown_status=status, category=category, sla=sla, attention=attention,
        names=names, people=people_names(people), may_see_all=may_see_all(who), queues=queues,
        kind_options=[("", t.gettext("Any"))] + [(k, t.pgettext("ticket", k)) for k in tv.KINDS],
        status_options=[("active", t.gettext("Open or waiting"))] + [(s, tv.status_label(t, s)) for s in tv.STATUSES],
        category_options=[("", t.gettext("Any"))] + [(c, tv.category_label(t, c)) for c in tv.CATEGORIES],
        sla_options=[("", t.gettext("Any")), ("soon", t.gettext("Breaching within 2 business hours")),
                     ("overdue", t.gettext("Overdue"))],
        queue_options=[(q, tv.queue_label(t, q)) for q in queues],
        column_label=lambda c: tv.column_label(t, c), **ticket_words(t),
    )


def ticket_words(t: Texts) -> dict[str, Any]:
    """The functions templates word a ticket with."""
    return {"clock": lambda sla: tv.clock_of(t, sla), "status_label": lambda s: tv.status_label(t, s),
            "category_label": lambda c: tv.category_label(t, c), "queue_label": lambda q: tv.queue_label(t, q),
            "responsibility_label": lambda r: tv.responsibility_label(t, r),
            "remedy_label": lambda r: tv.remedy_label(t, r),
            "service_type_label": lambda s: tv.service_type_label(t, s),
            "action_label": lambda a: tv.action_label(t, a)}


@router.get("/tickets/count", response_class=HTMLResponse)
async def attention_count(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    """The number beside 工单 in the nav: my tickets overdue or breaching within two business hours
    (empty when none, or when tickets does not answer)."""
    if not who.may("tickets:read"):
        return HTMLResponse("", headers={"Cache-Control": "no-store"})
    try:
        items, _, missing = await _fetch(request, who, tv.ACTIVE, view="mine", queue="", kind="", category="",
                                         sla="")
    except (ServiceDown, ServiceRefused):
        return HTMLResponse("", headers={"Cache-Control": "no-store"})
    n = 0 if missing else sum(1 for i in items if tv.needs_attention(i))
    return HTMLResponse(str(n) if n else "", headers={"Cache-Control": "no-store"})
