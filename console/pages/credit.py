"""Credit in the console: the customer 360's credit panel (tier badge, what is owed, terms and the
form to set them) and the managers' approval queue (orders the credit check sent for approval)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import form_errors
from console.i18n import Texts
from console.pages.common import customer_names
from console.pages.customer import _render_360
from console.services import Missing, ServiceDown, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
MANAGE = "credit:manage"
TERMS_FIELDS = ["payment_days", "credit_limit", "when_exceeded", "reason"]


@router.post("/customers/{customer_id:uuid}/credit-terms", response_model=None)
async def set_terms(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, MANAGE)
    form = await check_csrf(request, who)
    limit = form.get("credit_limit", "").strip().replace(",", "")
    body: dict[str, Any] = {"payment_days": form.get("payment_days", "").strip(), "credit_limit": limit or None,
                            "when_exceeded": form.get("when_exceeded") or "refuse", "reason": form.get("reason", "")}
    try:
        await services(request).put("orders", f"/customers/{customer_id}/credit-terms", who.person,
                                    who.texts.accept_language, body,
                                    idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, TERMS_FIELDS, who.texts)
        return await _render_360(request, who, customer_id, status=refused.status if refused.status != 404 else 422,
                                 forms={"credit": {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/customers/{customer_id}?done=credit#credit", status_code=303)


# --- approvals ------------------------------------------------------------------------------------


async def _approvals_page(request: Request, who: Viewer, *, status: int = 200, problem: str | None = None,
                          failed: str | None = None) -> HTMLResponse:
    api = services(request)
    got = await parts(items=api.get("orders", "/approvals", who.person, who.texts.accept_language,
                                    params={"limit": 500}))
    missing = got["items"] if isinstance(got["items"], Missing) else None
    items = [] if missing else got["items"]["items"]
    names = await customer_names(api, who, [i["customer_id"] for i in items])
    return render(request, "approvals.html", who, status=status, items=items, names=names, missing=missing,
                  problem=problem, failed=failed, why_words=lambda why: why_words(who.texts, why))


def why_words(t: Texts, why: str) -> str:
    return {"on_hold": t.gettext("customer on credit hold"), "over_limit": t.gettext("over the credit limit")}.get(
        why, why)


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, done: Annotated[str, Query(max_length=16)] = "",
                    who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, MANAGE)
    return await _approvals_page(request, who)


@router.get("/approvals/count", response_class=HTMLResponse)
async def approvals_count(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    """The number the nav shows beside Approvals (empty when none, or when orders does not answer)."""
    if not who.may(MANAGE):
        return HTMLResponse("", headers={"Cache-Control": "no-store"})
    try:
        got = await services(request).get("orders", "/approvals", who.person, who.texts.accept_language,
                                          params={"limit": 500})
    except (ServiceDown, ServiceRefused):
        return HTMLResponse("", headers={"Cache-Control": "no-store"})
    count = len(got["items"])
    return HTMLResponse(str(count) if count else "", headers={"Cache-Control": "no-store"})


@router.post("/approvals/{order_id:uuid}", response_model=None)
async def decide(request: Request, order_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, MANAGE)
    form = await check_csrf(request, who)
    approved = form.get("decision") == "approve"
    try:
        await services(request).post("orders", f"/orders/{order_id}/approval", who.person, who.texts.accept_language,
                                     {"approved": approved, "reason": form.get("reason", "")},
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, ["reason"], who.texts)
        message = errors.get("reason") or problem or refused.detail
        return await _approvals_page(request, who, status=refused.status if refused.status != 404 else 422,
                                     problem=str(message), failed=str(order_id))
    return RedirectResponse(f"/approvals?done={'approved' if approved else 'refused'}", status_code=303)
