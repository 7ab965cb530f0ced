"""My follow-ups (定人定时): the customers whose next follow-up is due today or overdue, for the
signed-in salesperson (a manager picks an owner), each with a quick "log follow-up" form; the
same form on the customer 360 (``templates/macros/follow_up.html``), posting to contacts."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import store
from console.forms import form_errors
from console.i18n import Texts
from console.pages.common import now
from console.pages.customer import _render_360
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, templates, viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
CHANNELS = ("phone", "wechat", "visit", "store", "email", "other")
OUTCOMES = ("reached", "no_answer", "interested", "not_interested", "order_expected", "complaint", "other")
PICKS = (1, 7, 30)  # the quick picks of the next due day: tomorrow, in a week, in a month
AHEAD = (0, 7)  # the page's choice: due today and overdue, or also the coming week
MAX_AHEAD = 30
FORM_FIELDS = ("channel", "outcome", "note", "next_due", "occurred_at", "by")


def outcome_label(t: Texts, outcome: str) -> str:
    return {
        "reached": t.pgettext("outcome", "reached"), "no_answer": t.pgettext("outcome", "no answer"),
        "interested": t.pgettext("outcome", "interested"), "not_interested": t.pgettext("outcome", "not interested"),
        "order_expected": t.pgettext("outcome", "order expected"), "complaint": t.pgettext("outcome", "complaint"),
        "other": t.pgettext("outcome", "other"),
    }.get(outcome, outcome)


def event_words(t: Texts) -> tuple[str, ...]:
    """The timeline's type filter and tags name events by ``pgettext("event", type)``: this puts the
    follow-up's there (the catalogue finds the call)."""
    return (t.pgettext("event", "FollowUpLogged"),)


def picks(zone: ZoneInfo, moment: datetime | None = None) -> list[tuple[int, date]]:
    """The quick picks' days, counted from today in the shop."""
    today = (moment or now()).astimezone(zone).date()
    return [(days, today + timedelta(days=days)) for days in PICKS]


def days_late(due: str | date, zone: ZoneInfo, moment: datetime | None = None) -> int:
    """Shop days since ``due`` (negative: still ahead)."""
    day = date.fromisoformat(due) if isinstance(due, str) else due
    return ((moment or now()).astimezone(zone).date() - day).days


def overdue_words(t: Texts, days: int) -> str:
    """"逾期 3 天", "今天到期", "2 天后到期": exact days, never "a week ago"."""
    if days > 0:
        return t.ngettext("overdue %(num)d day", "overdue %(num)d days", days)
    if days == 0:
        return t.gettext("due today")
    return t.ngettext("due in %(num)d day", "due in %(num)d days", -days)


# The form macro needs these on both pages; registered once with the page's templates.
templates.globals["follow_up_picks"] = picks
templates.globals["follow_up_channels"] = CHANNELS
templates.globals["follow_up_outcome"] = outcome_label
templates.globals["follow_up_outcome_options"] = lambda t: [(o, outcome_label(t, o)) for o in OUTCOMES]
templates.globals["follow_up_overdue"] = lambda t, due, zone: overdue_words(t, days_late(due, zone))


def follow_up_body(form: dict[str, str], zone: ZoneInfo, moment: datetime) -> dict[str, Any]:
    """The contacts request of a posted form. A quick pick pressed without the page's script
    (``next_in``: days from today in the shop) gives the next due day; else the date field."""
    body: dict[str, Any] = {"channel": form.get("channel") or "phone", "outcome": form.get("outcome") or "reached",
                            "note": form.get("note", "")}
    next_in = form.get("next_in", "")
    if next_in.isdigit() and int(next_in) in PICKS:
        body["next_due"] = (moment.astimezone(zone).date() + timedelta(days=int(next_in))).isoformat()
    elif form.get("next_due"):
        body["next_due"] = form["next_due"]
    return body


def _back(form: dict[str, str], customer_id: uuid.UUID) -> str:
    """Where the form came from: the due list or the customer page (never another site)."""
    back = form.get("back", "")
    if back.startswith("/follow-ups") and not back.startswith("//"):
        return back
    return f"/customers/{customer_id}"


@router.post("/customers/{customer_id:uuid}/follow-ups", response_model=None)
async def log_follow_up(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    zone = ZoneInfo(request.app.state.settings.timezone)
    back = _back(form, customer_id)
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/follow-ups", who.person,
                                     who.texts.accept_language, follow_up_body(form, zone, now()),
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.status == 404:
            return render(request, "error.html", who, status=404, kind="problem",
                          detail=who.texts.gettext("There is no such customer."))
        errors, problem = form_errors(refused, FORM_FIELDS, who.texts)
        failed = {"values": form, "errors": errors, "problem": problem}
        if back.startswith("/follow-ups"):
            shown = parse_qs(urlsplit(back).query)  # the list as it was: its owner and how far ahead
            ahead = shown.get("ahead", ["0"])[0]
            return await _render_due(request, who, owner=shown.get("owner", [""])[0][:64],
                                     ahead=int(ahead) if ahead.isdigit() and int(ahead) <= MAX_AHEAD else 0,
                                     status=refused.status, forms={str(customer_id): failed})
        return await _render_360(request, who, customer_id, status=422, forms={"follow_up": failed})
    separator = "&" if "?" in back else "?"
    if back.startswith("/customers/"):
        return RedirectResponse(f"{back}?done=follow_up#follow-ups", status_code=303)
    return RedirectResponse(f"{back}{separator}logged={customer_id}", status_code=303)


@router.get("/follow-ups", response_class=HTMLResponse)
async def due_follow_ups(
    request: Request,
    owner: Annotated[str, Query(max_length=64)] = "",
    ahead: Annotated[int, Query(ge=0, le=MAX_AHEAD)] = 0,
    cursor: Annotated[str, Query(max_length=200)] = "",
    logged: uuid.UUID | None = None,  # the customer a follow-up was just logged for (the notice says so)
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "customers:read")
    return await _render_due(request, who, owner=owner, ahead=ahead, cursor=cursor, logged=logged)


async def _render_due(request: Request, who: Viewer, *, owner: str, ahead: int, cursor: str = "",
                      logged: uuid.UUID | None = None, status: int = 200,
                      forms: dict[str, Any] | None = None) -> HTMLResponse:
    # A salesperson sees their own list (contacts refuses another owner's); a manager picks.
    everyone = who.may("customers:all")
    owner = owner.strip() if everyone else ""
    params: list[tuple[str, str]] = [("within_days", str(ahead)), ("limit", str(PAGE))]
    if owner:
        params.append(("owner", owner))
    if cursor:
        params.append(("cursor", cursor))
    got = await parts(due=services(request).get("contacts", "/follow-ups/due", who.person, who.texts.accept_language,
                                                 params=params))
    missing = got["due"] if isinstance(got["due"], Missing) else None
    items: list[dict[str, Any]] = [] if missing else got["due"]["items"]
    async with request.app.state.pool.acquire() as conn:
        people = await store.people(conn)
    owners = sorted({(p.owner, p.display_name) for p in people if p.owner})
    names = {p.name: p.display_name for p in people}  # contacts records who followed up by sign-in name
    t = who.texts
    query = [(k, v) for k, v in (("owner", owner), ("ahead", str(ahead) if ahead else "")) if v]
    return render(
        request, "followups.html", who, status=status,
        items=items, missing=missing, next_cursor=None if missing else got["due"]["next_cursor"], first_page=not cursor,
        owner=owner, ahead=ahead, everyone=everyone, forms=forms or {}, query=query, logged=logged, people=names,
        back=request.url.path + ("?" + urlencode(query) if query else ""),
        owner_options=[("", t.gettext("Everyone"))] + [(o, f"{name} ({o})") for o, name in owners],
        ahead_options=[(str(a), t.gettext("Due today and overdue") if a == 0 else
                        t.ngettext("Also the next %(num)d day", "Also the next %(num)d days", a)) for a in AHEAD],
        overdue_words=lambda days: overdue_words(t, days), outcome_label=lambda o: outcome_label(t, o),
    )
