"""Ticket settings and follow-through: 服务时限 (the SLA policies per kind and priority, and the shop
calendar they count in: opening hours per weekday, holidays and make-up working days 调休), read by
everyone who reads tickets and changed by those with ``tickets:manage``; and 预防措施 (prevention
actions agreed at resolutions, open ones by due day, overdue ones said so, each done with a note).

Both write through the tickets API (``PUT /sla-policies``, ``PUT /calendar``,
``POST /prevention-actions/{id}/done``); what it refuses is shown at the field, with what was typed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import store
from console.forms import refusal, worded
from console.pages import ticket_admin_words as words
from console.pages.common import customer_names, now
from console.pages.followups import overdue_words
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
MANAGE = "tickets:manage"
LIMIT = 500  # the most prevention actions the page lists


# --- 服务时限: the policies and the calendar ---------------------------------------------------------


async def _sla_page(request: Request, who: Viewer, *, status: int = 200, saved: str = "",
                    policy_typed: dict[str, str] | None = None, policy_errors: dict[str, str] | None = None,
                    policy_problem: str | None = None, calendar_typed: dict[str, str] | None = None,
                    calendar_errors: dict[str, str] | None = None, calendar_problem: str | None = None) -> HTMLResponse:
    api = services(request)
    lang = who.texts.accept_language
    got = await parts(policies=api.get("tickets", "/sla-policies", who.person, lang),
                      calendar=api.get("tickets", "/calendar", who.person, lang))
    t = who.texts
    policies_missing = got["policies"] if isinstance(got["policies"], Missing) else None
    calendar_missing = got["calendar"] if isinstance(got["calendar"], Missing) else None
    by_row = {} if policies_missing else words.policies_by_row(words.items_of(got["policies"]))
    shown_policies = {words.policy_field(k, p, c): words.minutes_text(t, (by_row.get(f"{k}-{p}") or {}).get(c))
                      for k in words.KINDS for p in words.PRIORITIES for c in words.CLOCKS}
    shown_policies.update(policy_typed or {})
    calendar = {} if calendar_missing else got["calendar"]
    shown_calendar = words.calendar_shown(calendar)
    if calendar_typed is not None:
        shown_calendar = calendar_typed
    existing = int(shown_calendar.get("existing_rows") or 0)
    rows = int(shown_calendar.get("day_rows") or 0) if calendar_typed is not None else existing + words.BLANK_DAY_ROWS
    monday = (calendar.get("weekly") or {}).get("1") or []
    return render(
        request, "ticket_sla.html", who, status=status, saved=saved, editable=who.may(MANAGE),
        policies_missing=policies_missing, calendar_missing=calendar_missing, by_row=by_row,
        policy=shown_policies, policy_errors=policy_errors or {}, policy_problem=policy_problem,
        calendar=calendar, cal=shown_calendar, calendar_errors=calendar_errors or {},
        calendar_problem=calendar_problem, day_rows=range(rows), existing_rows=existing,
        workday_minutes=words.business_minutes_of(monday), **_sla_words(t),
    )


def _sla_words(t: Any) -> dict[str, Any]:
    return {
        "kinds": words.KINDS, "priorities": words.PRIORITIES, "clocks": words.CLOCKS, "weekdays": words.WEEKDAYS,
        "policy_field": words.policy_field, "kind_label": lambda k: words.kind_label(t, k),
        "priority_label": lambda p: words.priority_label(t, p), "clock_label": lambda c: words.clock_label(t, c),
        "weekday_label": lambda d: words.weekday_label(t, d), "minutes_text": lambda m: words.minutes_text(t, m),
        "hours_text": words.hours_text,
        "day_kind_options": [(k, words.day_kind_label(t, k)) for k in words.DAY_KINDS],
        "day_kind_label": lambda k: words.day_kind_label(t, k),
    }


@router.get("/tickets/sla", response_class=HTMLResponse)
async def sla_settings(request: Request, saved: Annotated[str, Query(max_length=16)] = "",
                       who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "tickets:read")
    return await _sla_page(request, who, saved=saved if saved in ("policies", "calendar") else "")


@router.post("/tickets/sla/policies", response_model=None)
async def save_policies(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, MANAGE)
    form = await check_csrf(request, who)
    parsed = words.policies_form(form, who.texts)
    if parsed.body is None:
        return await _sla_page(request, who, status=422, policy_typed=parsed.typed, policy_errors=parsed.errors)
    try:
        await services(request).put("tickets", "/sla-policies", who.person, who.texts.accept_language,
                                    {"policies": parsed.body}, idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = _placed(refused, who, lambda path: words.policy_error_field(path, parsed.rows))
        return await _sla_page(request, who, status=refused.status, policy_typed=parsed.typed, policy_errors=errors,
                               policy_problem=problem)
    return RedirectResponse("/tickets/sla?saved=policies#policies", status_code=303)


@router.post("/tickets/sla/calendar", response_model=None)
async def save_calendar(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, MANAGE)
    form = await check_csrf(request, who)
    parsed = words.calendar_form(form, who.texts)
    if parsed.body is None:
        return await _sla_page(request, who, status=422, calendar_typed=parsed.typed, calendar_errors=parsed.errors)
    try:
        await services(request).put("tickets", "/calendar", who.person, who.texts.accept_language, parsed.body,
                                    idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = _placed(refused, who, lambda path: words.calendar_error_field(path, parsed.rows))
        return await _sla_page(request, who, status=refused.status, calendar_typed=parsed.typed,
                               calendar_errors=errors, calendar_problem=problem)
    return RedirectResponse("/tickets/sla?saved=calendar#calendar", status_code=303)


def _placed(refused: ServiceRefused, who: Viewer,
            field_of: Callable[[str], str | None]) -> tuple[dict[str, str], str | None]:
    """A refusal's errors at the form's fields (``field_of`` finds the field a body path names);
    the rest, and a refusal naming no field, for the summary above the form."""
    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    for path, problem in refused.field_errors().items():
        found = field_of(path)
        said = words.refusal_words(path, problem, who.texts) or words_of(problem, who)
        if found and found not in errors:
            errors[found] = said
        else:
            elsewhere.append(said if not path or path in ("weekly", "days") else f"{path}: {said}")
    if not errors and not elsewhere:
        return {}, refusal(refused.problem, who.texts) or refused.detail
    return errors, "; ".join(elsewhere) if elsewhere else None


def words_of(problem: dict[str, Any], who: Viewer) -> str:
    return worded(problem, who.texts) or str(problem.get("message") or "")


# --- 预防措施: prevention actions due ----------------------------------------------------------------


def _owner_id(who: Viewer) -> str:
    """What a prevention action's ``owner`` holds for this person: their owner id (salespeople),
    else their sign-in name (as a ticket's assignee)."""
    return who.person.owner or who.person.name


async def _prevention_page(request: Request, who: Viewer, *, scope: str, status: int = 200, done: str = "",
                           failed: str = "", note: str = "", error: str | None = None) -> HTMLResponse:
    params: dict[str, Any] = {"status": "open"}
    if scope == "mine":
        params["owner"] = _owner_id(who)
    got = await parts(actions=services(request).get("tickets", "/prevention-actions", who.person,
                                                    who.texts.accept_language, params=params))
    missing = got["actions"] if isinstance(got["actions"], Missing) else None
    actions = [] if missing else words.items_of(got["actions"])[:LIMIT]
    zone = ZoneInfo(request.app.state.settings.timezone)
    today = now().astimezone(zone).date()
    for action in actions:
        action["late_days"] = (today - _day(action.get("due_on"), today)).days
    actions.sort(key=lambda a: (str(a.get("due_on") or ""), str(a.get("created_at") or "")))
    names = await customer_names(services(request), who, [str(a.get("customer_id") or "") for a in actions])
    async with request.app.state.pool.acquire() as conn:
        people = await store.people(conn)
    shown = {p.name: p.display_name for p in people}
    shown.update({p.owner: p.display_name for p in people if p.owner})
    t = who.texts
    return render(request, "ticket_prevention.html", who, status=status, scope=scope, actions=actions,
                  missing=missing, names=names, people=shown, done=done, failed=failed, note=note, error=error,
                  overdue_count=sum(1 for a in actions if a.get("overdue") or a["late_days"] > 0),
                  category_label=lambda c: words.category_label(t, c),
                  due_words=lambda days: overdue_words(t, days), may_write=who.may("tickets:write"))


def _day(value: Any, default: date) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return default


def _scope(who: Viewer, asked: str) -> str:
    """mine or all; by default a manager sees everyone's, the others their own."""
    if asked in ("mine", "all"):
        return asked
    return "all" if who.may(MANAGE) else "mine"


@router.get("/tickets/prevention", response_class=HTMLResponse)
async def prevention(request: Request, show: Annotated[Literal["", "mine", "all"], Query()] = "",
                     done: Annotated[str, Query(max_length=64)] = "", who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "tickets:read")
    return await _prevention_page(request, who, scope=_scope(who, show), done=done)


@router.post("/tickets/prevention/{action_id:uuid}/done", response_model=None)
async def prevention_done(request: Request, action_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "tickets:write")
    form = await check_csrf(request, who)
    note = form.get("note", "").strip()
    scope = _scope(who, form.get("show", ""))
    try:
        await services(request).post("tickets", f"/prevention-actions/{action_id}/done", who.person,
                                     who.texts.accept_language, {"note": note},
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        fields = refused.field_errors()
        error = (words_of(fields["note"], who) if "note" in fields
                 else refusal(refused.problem, who.texts) or refused.detail)
        return await _prevention_page(request, who, scope=scope, status=refused.status, failed=str(action_id),
                                      note=note, error=error)
    return RedirectResponse(f"/tickets/prevention?show={scope}&done={action_id}", status_code=303)
