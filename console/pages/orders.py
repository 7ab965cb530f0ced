"""Orders (订单): entering an order from the customer 360 (catalogue search, ad-hoc lines, discounts,
channel, how it was paid), the orders list, an order's page (its history, the next status, cancel,
return) and the catalogue for managers. Everything goes through the orders service's API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from console.forms import form_errors, refusal
from console.i18n import Texts
from console.services import Missing, ServiceRefused, parts, unless_unknown
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
LINES = 6
PAGE = 50
CHANNELS = ("store", "phone", "web", "wechat", "fair", "field_sales", "other")
PAID_WITH = ("cash", "wechat_pay", "alipay", "bank_transfer", "card", "other")
STATUSES = ("pending_approval", "placed", "confirmed", "fulfilled", "completed", "cancelled", "returned")
LINE_PARTS = ("sku", "quantity", "unit_price", "discount")


def next_step_label(t: Texts, status: str) -> str:
    return {"confirmed": t.gettext("Confirm"), "fulfilled": t.gettext("Mark fulfilled"),
            "completed": t.gettext("Mark completed")}.get(status, status)


def refusal_words(t: Texts, refused: ServiceRefused) -> str:
    """A 409 in words: what the order's status allows, or the credit refusal's reason."""
    problem = refused.problem
    if refused.status == 409 and "allowed" in problem:
        allowed = [t.pgettext("order_status", a) for a in problem.get("allowed") or []]
        now_status = t.pgettext("order_status", str(problem.get("status_now", "")))
        return t.gettext("Not possible while the order is %(status)s. Possible now: %(allowed)s.",
                         status=now_status, allowed=", ".join(allowed) or t.gettext("nothing"))
    if refused.status == 409 and ("tier" in problem or "outstanding" in problem):
        words = []
        if problem.get("tier"):
            words.append(t.gettext("credit tier %(tier)s", tier=problem["tier"]))
        if problem.get("outstanding") is not None:
            words.append(t.gettext("owes %(amount)s", amount=t.money(problem["outstanding"])))
        limit = problem.get("credit_limit", problem.get("limit"))
        if limit is not None:
            words.append(t.gettext("credit limit %(amount)s", amount=t.money(limit)))
        return t.gettext("Refused on credit: %(why)s. Take payment now (choose how it was paid) or ask a manager.",
                         why=", ".join(words) or refused.detail)
    if refused.status == 409:
        return t.gettext("The order was refused: %(why)s", why=refusal(problem, t) or refused.detail)
    return refusal(problem, t) or refused.detail


def order_body(form: dict[str, str], customer_id: uuid.UUID) -> dict[str, Any]:
    """The orders request of the entry form: the lines filled in (a line without a price: list price)."""
    lines = []
    for i in range(LINES):
        sku, quantity, price, discount = (form.get(f"lines[{i}].{p}", "").strip() for p in LINE_PARTS)
        if not (sku or quantity or price or discount) and i > 0:
            continue
        line: dict[str, Any] = {"sku": sku, "quantity": quantity or "1"}
        if price:
            line["unit_price"] = price
        if discount:
            line["discount"] = discount
        lines.append(line)
    body: dict[str, Any] = {"customer_id": str(customer_id), "channel": form.get("channel") or "store", "lines": lines}
    if form.get("discount", "").strip():
        body["discount"] = form["discount"].strip()
    if form.get("paid_with") and form["paid_with"] != "on_account":
        body["paid_with"] = form["paid_with"]
    if form.get("external_ref", "").strip():
        body["external_ref"] = form["external_ref"].strip()
    return body


async def _render_new(request: Request, who: Viewer, customer_id: uuid.UUID, *, status: int = 200,
                      form: dict[str, Any] | None = None) -> HTMLResponse:
    api, lang = services(request), who.texts.accept_language
    got = await parts(customer=api.get("contacts", f"/customers/{customer_id}", who.person, lang),
                      credit=unless_unknown(api.get("orders", f"/customers/{customer_id}/credit", who.person, lang)))
    if isinstance(got["customer"], Missing):
        return render(request, "error.html", who, status=503, kind="problem",
                      detail=who.texts.gettext("The customer cannot be read right now."))
    credit = got["credit"] if isinstance(got["credit"], dict) else None
    on_account = bool(credit and credit.get("terms"))
    t = who.texts
    paid = [(m, t.pgettext("method", m)) for m in PAID_WITH]
    if on_account:
        paid = [("on_account", t.gettext("On account (pay later)")), *paid]
    return render(request, "order_new.html", who, status=status, customer=got["customer"], credit=credit,
                  on_account=on_account, lines=LINES, channels=CHANNELS, paid_options=paid, form=form or {})


@router.get("/customers/{customer_id:uuid}/orders/new", response_class=HTMLResponse)
async def new_order(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:write")
    return await _render_new(request, who, customer_id)


@router.post("/customers/{customer_id:uuid}/orders/new", response_model=None)
async def place_order(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    try:
        placed = await services(request).post("orders", "/orders", who.person, who.texts.accept_language,
                                              order_body(form, customer_id),
                                              idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        fields = [f"lines[{i}].{p}" for i in range(LINES) for p in LINE_PARTS] + ["channel", "discount",
                                                                                   "paid_with", "external_ref"]
        errors, problem = form_errors(refused, fields, who.texts)
        if refused.status == 409:
            problem = refusal_words(who.texts, refused)
        return await _render_new(request, who, customer_id, status=refused.status,
                                 form={"values": form, "errors": errors, "problem": problem})
    return RedirectResponse(f"/orders/{placed['id']}?done=placed", status_code=303)


@router.get("/catalogue/search.json", response_model=None)
async def catalogue_search(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                           who: Viewer = Depends(viewer)) -> Response:
    """The entry form's type-ahead: active products whose sku or name holds ``q``."""
    require_page(who, "orders:read")
    if not q.strip():
        return JSONResponse({"items": []})
    got = await services(request).get("orders", "/products", who.person, who.texts.accept_language,
                                      params={"q": q.strip(), "limit": 10})
    items = [{k: p[k] for k in ("sku", "name", "category", "list_price")} for p in got["items"]]
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})


# --- the list and one order ------------------------------------------------------------------


@router.get("/orders", response_class=HTMLResponse)
async def orders_list(request: Request, status: Annotated[str, Query(max_length=32)] = "",
                      cursor: Annotated[str, Query(max_length=64)] = "",
                      who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:read")
    status = status if status in STATUSES else ""
    params: dict[str, Any] = {"order": "newest", "limit": PAGE}
    if status:
        params["status"] = status
    if cursor:
        params["cursor"] = cursor
    got = await parts(orders=services(request).get("orders", "/orders", who.person, who.texts.accept_language,
                                                    params=params))
    missing = got["orders"] if isinstance(got["orders"], Missing) else None
    t = who.texts
    return render(request, "orders.html", who, missing=missing, items=[] if missing else got["orders"]["items"],
                  next_cursor=None if missing else got["orders"]["next_cursor"], shown_status=status, first_page=not cursor,
                  status_options=[("", t.gettext("Any"))] + [(s, t.pgettext("order_status", s)) for s in STATUSES])


async def _render_order(request: Request, who: Viewer, order_id: uuid.UUID, *, status: int = 200,
                        forms: dict[str, Any] | None = None) -> HTMLResponse:
    api, lang = services(request), who.texts.accept_language
    try:
        order = await api.get("orders", f"/orders/{order_id}", who.person, lang)
    except ServiceRefused as refused:
        if refused.status == 404:
            return render(request, "error.html", who, status=404, kind="problem",
                          detail=who.texts.gettext("There is no such order."))
        raise
    got = await parts(customer=api.get("contacts", f"/customers/{order['customer_id']}", who.person, lang))
    customer = None if isinstance(got["customer"], Missing) else got["customer"]
    allowed = order.get("allowed_next", [])
    steps = [s for s in allowed if s not in ("cancelled", "returned")]
    return render(request, "order.html", who, status=status, order=order, customer=customer, forms=forms or {},
                  next_step=steps[0] if steps else None, may_cancel="cancelled" in allowed,
                  may_return="returned" in allowed, step_label=lambda s: next_step_label(who.texts, s))


@router.get("/orders/{order_id:uuid}", response_class=HTMLResponse)
async def order_page(request: Request, order_id: uuid.UUID,
                     done: Annotated[str, Query(max_length=32)] = "",  # what was just done (the notice says so)
                     who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "orders:read")
    return await _render_order(request, who, order_id)


async def _act(request: Request, who: Viewer, order_id: uuid.UUID, action: str, body: dict[str, Any],
               form: dict[str, str], fields: list[str], done: str) -> Response:
    try:
        await services(request).post("orders", f"/orders/{order_id}/{action}", who.person, who.texts.accept_language,
                                     body, idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, fields, who.texts)
        if refused.status == 409:
            problem = refusal_words(who.texts, refused)
        return await _render_order(request, who, order_id, status=refused.status,
                                   forms={action: {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/orders/{order_id}?done={done}", status_code=303)


@router.post("/orders/{order_id:uuid}/status", response_model=None)
async def step(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    return await _act(request, who, order_id, "status", {"status": form.get("status", ""),
                                                         "note": form.get("note", "")}, form, ["note"], "status")


@router.post("/orders/{order_id:uuid}/cancel", response_model=None)
async def cancel(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    return await _act(request, who, order_id, "cancel", {"reason": form.get("reason", "")}, form, ["reason"],
                      "cancelled")


@router.post("/orders/{order_id:uuid}/returns", response_model=None)
async def return_goods(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "orders:write")
    form = await check_csrf(request, who)
    body: dict[str, Any] = {"reason": form.get("reason", "")}
    named = sorted(int(k[len("qty-"):]) for k, v in form.items() if k.startswith("qty-") and k[4:].isdigit()
                   and v.strip())
    if form.get("whole"):
        body["whole"] = True
    else:
        body["lines"] = [{"line_no": n, "quantity": form[f"qty-{n}"].strip()} for n in named]
    fields = ["reason"] + [f"lines[{i}].quantity" for i in range(len(named))]
    response = await _act(request, who, order_id, "returns", body, form, fields, "returned")
    return response


# --- the catalogue ---------------------------------------------------------------------------


async def _render_catalogue(request: Request, who: Viewer, *, q: str = "", sku: str = "", cursor: str = "",
                            status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    api, lang = services(request), who.texts.accept_language
    params: dict[str, Any] = {"include_inactive": "true", "limit": PAGE}
    if q:
        params["q"] = q
    if cursor:
        params["cursor"] = cursor
    calls: dict[str, Any] = {"products": api.get("orders", "/products", who.person, lang, params=params)}
    if sku and not form:
        calls["editing"] = unless_unknown(api.get("orders", f"/products/{quote(sku, safe='')}", who.person, lang))
    got = await parts(**calls)
    missing = got["products"] if isinstance(got["products"], Missing) else None
    editing = got.get("editing") if isinstance(got.get("editing"), dict) else None
    values = (form or {}).get("values") or (editing or {})
    return render(request, "catalogue.html", who, status=status, missing=missing, q=q,
                  items=[] if missing else got["products"]["items"],
                  categories=[] if missing else got["products"]["categories"],
                  next_cursor=None if missing else got["products"]["next_cursor"], first_page=not cursor,
                  form=form or {}, values=values, editing=bool(editing or (form and sku)))


@router.get("/catalogue", response_class=HTMLResponse)
async def catalogue_page(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                         sku: Annotated[str, Query(max_length=64)] = "",
                         cursor: Annotated[str, Query(max_length=64)] = "",
                         saved: Annotated[str, Query(max_length=64)] = "",  # the product just saved (the notice)
                         who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "catalogue:write")
    return await _render_catalogue(request, who, q=q.strip(), sku=sku.strip(), cursor=cursor)


@router.post("/catalogue", response_model=None)
async def save_product(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "catalogue:write")
    form = await check_csrf(request, who)
    sku = form.get("sku", "").strip()
    body: dict[str, Any] = {"name": form.get("name", ""), "list_price": form.get("list_price", "").strip() or None,
                            "category": form.get("category", "").strip() or None, "active": form.get("active") == "on"}
    try:
        if not sku:
            raise ServiceRefused("orders", 422, {"detail": "sku", "errors": [
                {"field": "sku", "message": "required", "code": "missing"}]})
        await services(request).put("orders", f"/products/{quote(sku, safe='')}", who.person,
                                    who.texts.accept_language, body,
                                    idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, ["sku", "name", "category", "list_price"], who.texts)
        if "path.sku" in refused.field_errors():
            errors["sku"] = who.texts.gettext("Not an article code this field takes (no spaces at the ends, no /).")
        return await _render_catalogue(request, who, sku=sku, status=refused.status,
                                       form={"values": form, "errors": errors, "problem": problem})
    return RedirectResponse(f"/catalogue?q={quote(sku)}&saved={quote(sku)}", status_code=303)
