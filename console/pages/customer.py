"""Customer 360: the profile, insights with their reasons, the rhythm picture, the timeline across
channels, orders and tickets; and the two actions a clerk takes from here: an order, a complaint or
feedback (forms posting to orders and tickets with an Idempotency-Key)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.charts import Purchase, Rhythm, rhythm_description, rhythm_svg
from console.forms import form_errors, line_fields
from console.pages import identities
from console.pages import ticket_view as tv
from console.pages.common import alert_kind_label, credit_reason, credit_refusal, display_names, now
from console.services import Missing, ServiceDown, ServiceRefused, parts, unless_unknown
from console.web import Viewer, check_csrf, render, require_page, services, viewer
from shared.events import LossReason

router = APIRouter(include_in_schema=False)
TIMELINE_FETCH = 1000  # the newest shown first; a customer with more sees the latest thousand
TIMELINE_STEP = 50
PRESETS = (7, 30, 90)
ORDER_LINES = 3
CHANNELS = ("store", "phone", "web", "wechat", "fair", "visit", "email", "other")
TICKET_KINDS = tv.KINDS
PRIORITIES = tv.PRIORITIES


def purchases_by_day(events: list[dict[str, Any]], zone: ZoneInfo) -> list[Purchase]:
    """OrderPlaced events summed per shop day, in the shop's currency (the first one seen)."""
    totals: dict[date, Decimal] = {}
    for event in events:
        if event["type"] != "OrderPlaced":
            continue
        day = datetime.fromisoformat(event["occurred_at"]).astimezone(zone).date()
        totals[day] = totals.get(day, Decimal(0)) + Decimal(str(event["data"].get("total") or 0))
    return [Purchase(day, amount) for day, amount in sorted(totals.items())]


def rhythm_of(insights: dict[str, Any] | None, purchases: list[Purchase], today: date, zone: ZoneInfo) -> Rhythm:
    rhythm = (insights or {}).get("rhythm") or {}
    expected = rhythm.get("next_purchase_expected_at")
    expected_day = datetime.fromisoformat(expected).astimezone(zone).date() if expected else None
    overdue_from = None
    if rhythm.get("overdue_after_days") is not None and purchases:
        overdue_from = purchases[-1].day + timedelta(days=round(float(rhythm["overdue_after_days"])))
    return Rhythm(purchases, today, rhythm.get("typical_gap_days"), expected_day, overdue_from)


def timeline_view(events: list[dict[str, Any]], *, kind: str, days: int | None, shown: int,
                  moment: datetime) -> tuple[list[tuple[str, list[dict[str, Any]]]], bool]:
    """Newest first, filtered by type and preset, grouped by month (YYYY-MM); and whether more are left."""
    picked = [e for e in reversed(events)
              if (not kind or e["type"] == kind)
              and (days is None or datetime.fromisoformat(e["occurred_at"]) >= moment - timedelta(days=days))]
    months: dict[str, list[dict[str, Any]]] = {}
    for event in picked[:shown]:
        months.setdefault(event["occurred_at"][:7], []).append(event)
    return list(months.items()), len(picked) > shown


async def _page_data(request: Request, who: Viewer, customer_id: uuid.UUID) -> dict[str, Any]:
    api = services(request)
    lang = who.texts.accept_language
    cid = str(customer_id)
    calls: dict[str, Any] = {"customer": api.get("contacts", f"/customers/{cid}", who.person, lang),
                             "identities": api.get("contacts", f"/customers/{cid}/identities", who.person, lang)}
    # the record's contact persons and competitors (customer_profile.html)
    calls["contact_persons"] = api.get("contacts", f"/customers/{cid}/contacts", who.person, lang)
    calls["competitors"] = api.get("contacts", f"/customers/{cid}/competitors", who.person, lang)
    calls["category"] = api.get("contacts", f"/customers/{cid}/category", who.person, lang)
    calls["referrals"] = api.get("contacts", f"/referrals/{cid}", who.person, lang)
    calls["owner_history"] = api.get("contacts", f"/customers/{cid}/owner-history", who.person, lang)
    calls["follow_ups"] = api.get("contacts", f"/customers/{cid}/follow-ups", who.person, lang, params={"limit": 20})
    if who.may("insights:read"):
        calls["insights"] = unless_unknown(api.get("insights", f"/customers/{cid}/insights", who.person, lang))
        calls["timeline"] = unless_unknown(api.get("insights", f"/customers/{cid}/timeline", who.person, lang,
                                                   params={"limit": TIMELINE_FETCH}))
    if who.may("orders:read"):  # the credit panel and tier badge (credit_panel.html); 404: nothing shown
        calls["credit"] = unless_unknown(api.get("orders", f"/customers/{cid}/credit", who.person, lang))
        calls["credit_terms"] = api.get("orders", f"/customers/{cid}/credit-terms", who.person, lang)
    if who.may("orders:read"):
        calls["orders"] = api.get("orders", "/orders", who.person, lang, params={"customer_id": cid, "limit": 500})
    if who.may("tickets:read"):
        calls["tickets"] = api.get("tickets", "/tickets", who.person, lang, params={"customer_id": cid, "limit": 500})
    return await parts(**calls)


def _absent(got: dict[str, Any], name: str) -> bool:
    return name not in got or isinstance(got[name], Missing)


@router.get("/customers/{customer_id:uuid}", response_class=HTMLResponse)
async def customer_360(
    request: Request,
    customer_id: uuid.UUID,
    type: Annotated[str, Query(max_length=64)] = "",
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    shown: Annotated[int, Query(ge=1, le=TIMELINE_FETCH)] = TIMELINE_STEP,
    # where the forms land after a write (the template says what was done); the edge refuses unknown ones
    done: Annotated[str, Query(max_length=16)] = "",
    registered: Annotated[str, Query(max_length=1)] = "",
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "customers:read")
    return await _render_360(request, who, customer_id, kind=type, days=days, shown=shown)


async def _render_360(request: Request, who: Viewer, customer_id: uuid.UUID, *, kind: str = "",
                      days: int | None = None, shown: int = TIMELINE_STEP, status: int = 200,
                      forms: dict[str, Any] | None = None) -> HTMLResponse:
    try:
        got = await _page_data(request, who, customer_id)
    except ServiceRefused as refused:
        if refused.status == 404:
            return render(request, "error.html", who, status=404, kind="problem",
                          detail=who.texts.gettext("There is no such customer."))
        raise
    if isinstance(got["customer"], Missing):  # no record to show: the whole page is the outage
        raise ServiceDown(got["customer"].service, "the customer's record could not be read")
    zone = ZoneInfo(request.app.state.settings.timezone)
    moment = now()
    # A customer insights has not heard of yet (just registered) has no insights: not an outage.
    insights = None if _absent(got, "insights") else got["insights"]
    events = [] if _absent(got, "timeline") or got["timeline"] is None else got["timeline"]["items"]
    purchases = purchases_by_day(events, zone)
    rhythm = rhythm_of(insights, purchases, moment.astimezone(zone).date(), zone)
    months, more = timeline_view(events, kind=kind, days=days, shown=shown, moment=moment)
    orders = [] if _absent(got, "orders") else list(reversed(got["orders"]["items"]))
    tickets = [] if _absent(got, "tickets") else list(reversed(got["tickets"]["items"]))
    types = sorted({e["type"] for e in events})
    t = who.texts
    return render(
        request, "customer.html", who, status=status,
        got=got, customer=got["customer"], insights=insights, rhythm=rhythm,
        rhythm_picture=rhythm_svg(rhythm, t, t.gettext("Purchases over time")) if purchases else None,
        rhythm_words=rhythm_description(rhythm, t), purchases=purchases[-24:][::-1],
        months=months, more=more, kind=kind, days=days, shown=shown, types=types, presets=PRESETS,
        orders=orders[:20], orders_total=len(orders), tickets=tickets[:20], tickets_total=len(tickets),
        kind_label=lambda k: alert_kind_label(t, k), channels=CHANNELS, ticket_kinds=TICKET_KINDS,
        priorities=PRIORITIES, order_lines=ORDER_LINES, forms=forms or {}, loss_reasons=get_args(LossReason),
        missing_part=lambda name: got.get(name) if name in got and isinstance(got[name], Missing) else None,
        identities=[] if _absent(got, "identities") else got["identities"]["items"],
        identity_options=[(k, identities.identity_kind_label(t, k)) for k in identities.KINDS],
        identity_label=lambda k: identities.identity_kind_label(t, k),
        credit=None if _absent(got, "credit") else got["credit"],
        credit_reason=credit_reason(t, None if _absent(got, "credit") else got["credit"]),
        people=await display_names(request),
        ticket_clock=lambda sla: tv.clock_of(t, sla), ticket_status=lambda s: tv.status_label(t, s),
        ticket_categories=[("", t.pgettext("ticket_category", "other"))] + [
            (c, tv.category_label(t, c)) for c in tv.CATEGORIES if c != "other"],
        orders_for_tickets=[(o["id"], " · ".join(filter(None, (
            str(datetime.fromisoformat(o["occurred_at"]).astimezone(zone).date()), o.get("external_ref"),
            t.money(o["total"], o.get("currency", "CNY")))))) for o in orders[:20]],
        service_types=[("", t.gettext("Not said"))] + [(s, tv.service_type_label(t, s)) for s in tv.SERVICE_TYPES],  # who logged a follow-up, by the name the console knows them by
    )


# --- actions ---------------------------------------------------------------------------------


@router.post("/customers/{customer_id:uuid}/orders", response_model=None)
async def place_order(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    lines = []
    for i in range(ORDER_LINES):
        sku, quantity, price = (form.get(f"lines[{i}].{p}", "").strip() for p in ("sku", "quantity", "unit_price"))
        if sku or quantity or price or i == 0:
            lines.append({"sku": sku, "quantity": quantity, "unit_price": price})
    body = {"customer_id": str(customer_id), "channel": form.get("channel") or "store", "lines": lines}
    if form.get("external_ref"):
        body["external_ref"] = form["external_ref"]
    if form.get("credit_override.reason", "").strip():  # credit (§14.5): a manager's override, with its reason
        body["credit_override"] = {"reason": form["credit_override.reason"].strip()}
    try:
        placed = await services(request).post("orders", "/orders", who.person, who.texts.accept_language, body,
                                              idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, [*line_fields(ORDER_LINES), "channel", "external_ref",
                                                "credit_override.reason"], who.texts)
        if refused.problem.get("code") == "credit_refused":  # credit (§14.5): why, in words
            problem = credit_refusal(who.texts, refused.problem)
        return await _render_360(request, who, customer_id, status=422,
                                 forms={"order": {"values": form, "errors": errors, "problem": problem}})
    if (placed or {}).get("status") == "pending_approval":  # credit (§14.5): over the terms, waits for a manager
        return RedirectResponse(f"/customers/{customer_id}?done=pending#orders", status_code=303)
    return RedirectResponse(f"/customers/{customer_id}?done=order#orders", status_code=303)


@router.post("/customers/{customer_id:uuid}/tickets", response_model=None)
async def file_ticket(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    """A phone complaint in seconds: kind complaint and channel phone unless changed, a priority and
    what it is about; then on to the new ticket's page, where it is handled."""
    require_page(who, "tickets:write")
    form = await check_csrf(request, who)
    kind = form.get("kind") or "complaint"
    body: dict[str, Any] = {"customer_id": str(customer_id), "kind": kind, "channel": form.get("channel") or "phone",
                            "subject": form.get("subject", ""), "description": form.get("description", ""),
                            "priority": form.get("priority") or "normal"}
    for optional in ("category", "order_id"):
        if form.get(optional):
            body[optional] = form[optional]
    if kind == "feedback" and form.get("satisfaction"):
        body["satisfaction"] = form["satisfaction"]
    if kind == "service_request" and form.get("service_type"):
        body["service_type"] = form["service_type"]
    fields = ["kind", "channel", "subject", "description", "priority", "category", "order_id", "satisfaction",
              "service_type"]
    try:
        filed = await services(request).post("tickets", "/tickets", who.person, who.texts.accept_language, body,
                                             idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, [*fields, "severity"], who.texts)
        if "severity" in errors:  # a complaint's priority under its first name
            errors.setdefault("priority", errors.pop("severity"))
        return await _render_360(request, who, customer_id, status=422,
                                 forms={"ticket": {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/tickets/{filed['id']}?done=filed", status_code=303)
