"""Categories in the console: the change form of the customer 360 (the allowed next categories only,
a reason, the loss reason when lost) and the Win-back page (lost customers worth a call, and the
win-back rate per loss reason as a chart)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.charts import Bar, bars_svg
from console.forms import form_errors
from console.i18n import Texts
from console.pages.customer import _render_360
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer
from shared.events import LossReason

router = APIRouter(include_in_schema=False)
LOSS_REASONS: tuple[str, ...] = get_args(LossReason)
WIN_BACK_PAGE = 50


def refusal_in_words(refused: ServiceRefused, t: Texts) -> str:
    """A refused change in the person's language: a forbidden step names what is allowed instead."""
    problem = refused.problem
    if refused.status == 409 and problem.get("code") == "category_not_allowed":
        allowed = [t.pgettext("category", c) for c in problem.get("allowed") or []]
        return t.gettext("A customer who is %(current)s cannot become %(wanted)s. From here they can become: "
                         "%(allowed)s.", current=t.pgettext("category", str(problem.get("category"))),
                         wanted=t.pgettext("category", str(problem.get("requested"))), allowed=", ".join(allowed))
    if refused.status == 403 and problem.get("code") == "out_of_scope":
        return t.gettext("This customer is looked after by %(owner)s; ask them or a manager.",
                         owner=str(problem.get("owner")))
    return refused.detail


@router.post("/customers/{customer_id:uuid}/category", response_model=None)
async def change_category(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    body: dict[str, Any] = {"category": form.get("category", ""), "reason": form.get("reason", "")}
    if form.get("category") == "lost" or form.get("loss_reason"):
        body["loss_reason"] = form.get("loss_reason") or None
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/category", who.person,
                                     who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, ["category", "reason", "loss_reason"], who.texts)
        if refused.status in (403, 409):
            problem = refusal_in_words(refused, who.texts)
        return await _render_360(request, who, customer_id, status=refused.status if refused.status != 404 else 422,
                                forms={"category": {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/customers/{customer_id}?done=category#category", status_code=303)


# --- win-back ---------------------------------------------------------------------------------


def rate_bars(rates: dict[str, Any], t: Texts) -> Any:
    """The win-back rate per loss reason, a bar each (the share written beside it with the counts)."""
    bars = [Bar(t.pgettext("loss_reason", r["loss_reason"]), float(r["share"] or 0),
                t.gettext("%(share)s (%(won)s of %(lost)s)", share=t.percent(r["share"]) if r["share"] is not None
                          else "—", won=r["won_back"], lost=r["lost"]))
            for r in rates["items"]]
    return bars_svg(bars, t.gettext("Win-back rate per loss reason"),
                    t.gettext("Of the customers lost for each reason in the last 365 days, the share that became "
                              "prospective or current again."), "win-back-rates")


@router.get("/win-back", response_class=HTMLResponse)
async def win_back(request: Request, cursor: Annotated[str, Query(max_length=100)] = "",
                   who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:read")
    api = services(request)
    lang = who.texts.accept_language
    params: dict[str, Any] = {"limit": WIN_BACK_PAGE}
    if cursor:
        params["cursor"] = cursor
    got = await parts(items=api.get("contacts", "/win-back", who.person, lang, params=params),
                      rates=api.get("contacts", "/win-back/rates", who.person, lang))
    rates = None if isinstance(got["rates"], Missing) else got["rates"]
    return render(request, "win_back.html", who, got=got, rates=rates,
                  chart=rate_bars(rates, who.texts) if rates else None, first_page=not cursor,
                  missing_part=lambda name: got[name] if isinstance(got[name], Missing) else None)
