"""Receivables (应收): the ageing of what customers owe (buckets with a bar chart, customers with
theirs), a customer's statement with a "record a payment" form, and an order's receivable (its
instalments, invoices with the fapiao number, payments, an instalment plan). All through orders'
HTTP API (docs/architecture.md §14.2)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.charts import Bar, bars_svg
from console.forms import form_errors
from console.i18n import Texts
from console.pages.common import now
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
METHODS = ("cash", "wechat_pay", "alipay", "bank_transfer", "card", "other")
PAYMENT_FIELDS = ("method", "amount", "received_at", "reference", "overpayment")
PLAN_ROWS = 3


def bucket_label(t: Texts, key: str) -> str:
    return {"current": t.gettext("Not yet due"), "days_1_30": t.gettext("1-30 days overdue"),
            "days_31_60": t.gettext("31-60 days overdue"), "days_61_90": t.gettext("61-90 days overdue"),
            "over_90": t.gettext("Over 90 days overdue")}.get(key, key)


def method_label(t: Texts, method: str) -> str:
    return {"cash": t.pgettext("payment", "cash"), "wechat_pay": t.pgettext("payment", "WeChat Pay"),
            "alipay": t.pgettext("payment", "Alipay"), "bank_transfer": t.pgettext("payment", "bank transfer"),
            "card": t.pgettext("payment", "card"), "credit_note": t.pgettext("payment", "credit note"),
            "other": t.pgettext("payment", "other")}.get(method, method)


def line_label(t: Texts, kind: str) -> str:
    return {"order": t.pgettext("statement", "order"), "cancellation": t.pgettext("statement", "cancellation"),
            "return": t.pgettext("statement", "return"), "invoice": t.pgettext("statement", "invoice"),
            "payment": t.pgettext("statement", "payment"),
            "credit_note": t.pgettext("statement", "credit note")}.get(kind, kind)


def end_of(day: date, zone: ZoneInfo) -> datetime:
    """A day as an ``as_of``/``to``: its end in the shop (the next day's first instant)."""
    return datetime.combine(day + timedelta(days=1), time(), zone)


def ageing_chart(totals: dict[str, Any], t: Texts) -> Any:
    return bars_svg([Bar(bucket_label(t, k), float(totals[k]), t.money(totals[k])) for k in BUCKETS],
                    t.gettext("What customers owe, by days overdue"),
                    t.gettext("The unpaid part of every instalment, by how many days past its due date."), "ageing")


# --- ageing ----------------------------------------------------------------------------------


@router.get("/receivables", response_class=HTMLResponse)
async def receivables(request: Request, as_of: Annotated[date | None, Query()] = None,
                      owner: Annotated[str, Query(max_length=64)] = "",
                      cursor: Annotated[str, Query(max_length=64)] = "", who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:read")
    zone = ZoneInfo(request.app.state.settings.timezone)
    day = as_of or now().astimezone(zone).date()
    params: list[tuple[str, Any]] = [("as_of", end_of(day, zone).isoformat()), ("limit", PAGE)]
    if owner.strip() and who.may("customers:all"):
        params.append(("owner", owner.strip()))
    if cursor:
        params.append(("cursor", cursor))
    call = services(request)
    got = await parts(ageing=call.get("orders", "/receivables/ageing", who.person, who.texts.accept_language,
                                      params=params))
    ageing = None if isinstance(got["ageing"], Missing) else got["ageing"]
    names: dict[str, str] = {}
    if ageing and ageing["customers"]:
        found = await parts(customers=call.get(
            "contacts", "/customers", who.person, who.texts.accept_language,
            params=[("id", c["customer_id"]) for c in ageing["customers"]] + [("limit", PAGE)]))
        if not isinstance(found["customers"], Missing):
            names = {c["id"]: c["name"] for c in found["customers"]["items"]}
    query = [("as_of", day.isoformat())] + ([("owner", owner)] if owner else [])
    return render(request, "receivables.html", who, ageing=ageing, missing=got["ageing"] if ageing is None else None,
                  chart=ageing_chart(ageing["totals"], who.texts) if ageing else None, names=names, buckets=BUCKETS,
                  bucket_label=lambda k: bucket_label(who.texts, k), as_of=day.isoformat(), owner=owner,
                  query=query, first_page=not cursor)


# --- statement -------------------------------------------------------------------------------


async def _statement_page(request: Request, who: Viewer, customer_id: uuid.UUID, *, start: date | None = None,
                          end: date | None = None, status: int = 200, form: dict[str, Any] | None = None,
                          done: str = "") -> HTMLResponse:
    zone = ZoneInfo(request.app.state.settings.timezone)
    params: list[tuple[str, Any]] = []
    if start:
        params.append(("from", datetime.combine(start, time(), zone).isoformat()))
    if end:
        params.append(("to", end_of(end, zone).isoformat()))
    call = services(request)
    got = await parts(
        statement=call.get("orders", f"/customers/{customer_id}/statement", who.person, who.texts.accept_language,
                           params=params),
        customer=call.get("contacts", f"/customers/{customer_id}", who.person, who.texts.accept_language))
    statement = None if isinstance(got["statement"], Missing) else got["statement"]
    customer = None if isinstance(got["customer"], Missing) else got["customer"]
    return render(request, "statement.html", who, status=status, statement=statement, customer=customer,
                  customer_id=customer_id, missing=got["statement"] if statement is None else None,
                  start=start.isoformat() if start else "", end=end.isoformat() if end else "",
                  form=form or {"values": {"method": "bank_transfer"}, "errors": {}, "problem": None},
                  methods=[(m, method_label(who.texts, m)) for m in METHODS], buckets=BUCKETS,
                  bucket_label=lambda k: bucket_label(who.texts, k),
                  line_label=lambda k: line_label(who.texts, k), done=done)


@router.get("/customers/{customer_id:uuid}/statement", response_class=HTMLResponse)
async def statement(request: Request, customer_id: uuid.UUID, start: Annotated[date | None, Query(alias="from")] = None,
                    end: Annotated[date | None, Query(alias="to")] = None,
                    done: Annotated[str, Query(max_length=16)] = "", who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:read")
    return await _statement_page(request, who, customer_id, start=start, end=end, done=done)


def payment_body(customer_id: uuid.UUID, form: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """The orders request of the statement's payment form (a received day: its noon in the shop)."""
    body: dict[str, Any] = {"customer_id": str(customer_id), "method": form.get("method") or "bank_transfer",
                            "amount": form.get("amount", "").strip(), "overpayment": form.get("overpayment") == "on"}
    if form.get("reference", "").strip():
        body["reference"] = form["reference"].strip()
    if form.get("received_at"):
        try:
            body["received_at"] = datetime.combine(date.fromisoformat(form["received_at"]), time(12), zone).isoformat()
        except ValueError:
            body["received_at"] = form["received_at"]  # orders names the field
    return body


@router.post("/customers/{customer_id:uuid}/payments", response_model=None)
async def record_payment(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "payments:write")
    form = await check_csrf(request, who)
    zone = ZoneInfo(request.app.state.settings.timezone)
    try:
        await services(request).post("orders", "/payments", who.person, who.texts.accept_language,
                                     payment_body(customer_id, form, zone),
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, PAYMENT_FIELDS, who.texts)
        return await _statement_page(request, who, customer_id, status=refused.status,
                                     form={"values": form, "errors": errors, "problem": problem})
    return RedirectResponse(f"/customers/{customer_id}/statement?done=payment", status_code=303)


# --- an order's receivable -------------------------------------------------------------------


async def _order_page(request: Request, who: Viewer, order_id: uuid.UUID, *, status: int = 200,
                      forms: dict[str, Any] | None = None, done: str = "") -> HTMLResponse:
    call, lang = services(request), who.texts.accept_language
    got = await parts(
        receivable=call.get("orders", f"/orders/{order_id}/receivable", who.person, lang),
        invoices=call.get("orders", "/invoices", who.person, lang, params={"order_id": str(order_id)}),
        payments=call.get("orders", "/payments", who.person, lang, params={"order_id": str(order_id)}))
    receivable = None if isinstance(got["receivable"], Missing) else got["receivable"]
    listed = {k: ([] if isinstance(got[k], Missing) else got[k]["items"]) for k in ("invoices", "payments")}
    empty: dict[str, Any] = {"values": {}, "errors": {}, "problem": None}
    return render(request, "order_receivable.html", who, status=status, order_id=order_id, receivable=receivable,
                  missing=got["receivable"] if receivable is None else None, invoices=listed["invoices"],
                  payments=listed["payments"], forms={"invoice": empty, "plan": empty, **(forms or {})},
                  plan_rows=range(1, PLAN_ROWS + 1), method_label=lambda m: method_label(who.texts, m), done=done)


@router.get("/orders/{order_id:uuid}/receivable", response_class=HTMLResponse)
async def order_receivable(request: Request, order_id: uuid.UUID, done: Annotated[str, Query(max_length=16)] = "",
                           who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:read")
    return await _order_page(request, who, order_id, done=done)


async def _order_write(request: Request, who: Viewer, order_id: uuid.UUID, form_name: str, fields: tuple[str, ...],
                       method: str, path: str, body: dict[str, Any], form: dict[str, str]) -> Response:
    try:
        await services(request).send(method, "orders", path, who.person, who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.status == 404:
            return render(request, "error.html", who, status=404, kind="problem", detail=refused.detail)
        errors, problem = form_errors(refused, fields, who.texts)
        return await _order_page(request, who, order_id, status=refused.status,
                                 forms={form_name: {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/orders/{order_id}/receivable?done={form_name}", status_code=303)


@router.post("/orders/{order_id:uuid}/invoices", response_model=None)
async def issue_invoice(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    body = {k: form[k].strip() for k in ("official_number", "amount") if form.get(k, "").strip()}
    return await _order_write(request, who, order_id, "invoice", ("official_number", "amount"), "POST",
                              f"/orders/{order_id}/invoices", body, form)


@router.post("/orders/{order_id:uuid}/invoices/{invoice_id:uuid}", response_model=None)
async def set_fapiao(request: Request, order_id: uuid.UUID, invoice_id: uuid.UUID,
                     who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    return await _order_write(request, who, order_id, "invoice", ("official_number",), "PATCH",
                              f"/invoices/{invoice_id}", {"official_number": form.get("official_number", "").strip()
                                                          or None}, form)


def plan_body(form: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """The filled rows of the plan form (a due day: its end in the shop)."""
    rows = []
    for n in range(1, PLAN_ROWS + 1):
        due, amount = form.get(f"due_{n}", "").strip(), form.get(f"amount_{n}", "").strip()
        if not due and not amount:
            continue
        try:
            due_at = datetime.combine(date.fromisoformat(due), time(23, 59), zone).isoformat()
        except ValueError:
            due_at = due
        try:
            rows.append({"due_at": due_at, "amount": str(Decimal(amount))})
        except InvalidOperation:
            rows.append({"due_at": due_at, "amount": amount})
    return {"instalments": rows}


@router.post("/orders/{order_id:uuid}/instalments", response_model=None)
async def set_plan(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "payments:write")
    form = await check_csrf(request, who)
    zone = ZoneInfo(request.app.state.settings.timezone)
    return await _order_write(request, who, order_id, "plan", ("instalments",), "PUT",
                              f"/orders/{order_id}/instalments", plan_body(form, zone), form)
