"""The public pool (公海): customers without an owner and a Claim button; for managers the handover
of one person's customers to another (with a confirm step) and the pool rules per category; and
the owner actions of the customer page (release to the pool, assign)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import store
from console.forms import form_errors
from console.i18n import Texts
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
CATEGORIES = ("potential", "prospective", "current", "lost")
RULE_FIELDS = ("no_follow_up_days", "no_order_days", "max_per_owner", "reclaim_days")
Text = Annotated[str, Query(max_length=100)]


def claim_refusal(refused: ServiceRefused, t: Texts) -> str:
    """Why contacts refused a claim, in the person's words (the service's sentence for the rest)."""
    p = refused.problem
    code = p.get("code")
    if code == "not_in_pool":
        return t.gettext("This customer is no longer in the pool: %(owner)s looks after them.", owner=p.get("owner"))
    if code == "already_owner":
        return t.gettext("This customer is already yours.")
    if code == "max_per_owner":
        return t.gettext("You already hold %(held)s customers of this category; the pool rule allows at most "
                         "%(limit)s per person. Release one first or ask a manager.",
                         held=p.get("held"), limit=p.get("limit"))
    if code == "reclaim_lock":
        return t.gettext("This customer went back to the pool from you; you may claim them again from %(day)s.",
                         day=str(p.get("reclaim_after", ""))[:10])
    if code == "no_owner_id":
        return t.gettext("You have no owner id, so you cannot hold customers: ask an admin to set one.")
    return refused.detail


# --- the pool --------------------------------------------------------------------------------


async def _pool_page(request: Request, who: Viewer, *, category: str, q: str, cursor: str, status: int = 200,
                     refusal: str | None = None) -> HTMLResponse:
    params = [(k, v) for k, v in (("category", category), ("q", q), ("cursor", cursor)) if v] + [("limit", PAGE)]
    got = await parts(pool=services(request).get("contacts", "/pool", who.person, who.texts.accept_language,
                                                 params=params))
    missing = got["pool"] if isinstance(got["pool"], Missing) else None
    page = None if missing else got["pool"]
    query = [(k, v) for k, v in (("category", category), ("q", q)) if v]
    return render(request, "pool.html", who, status=status, rows=page["items"] if page else [],
                  next_cursor=page["next_cursor"] if page else None, missing=missing, refusal=refusal,
                  filters={"category": category, "q": q}, categories=CATEGORIES, query=query, first_page=not cursor)


@router.get("/pool", response_class=HTMLResponse)
async def pool(request: Request, category: Text = "", q: Text = "",
               cursor: Annotated[str, Query(max_length=200)] = "", who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:read")
    return await _pool_page(request, who, category=category if category in CATEGORIES else "", q=q.strip(),
                            cursor=cursor)


@router.post("/pool/{customer_id:uuid}/claim", response_model=None)
async def claim(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:claim")
    form = await check_csrf(request, who)
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/claim", who.person,
                                     who.texts.accept_language, {},
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        return await _pool_page(request, who, category="", q="", cursor="", status=refused.status,
                                refusal=claim_refusal(refused, who.texts))
    return RedirectResponse(f"/customers/{customer_id}?done=claimed", status_code=303)


# --- handover --------------------------------------------------------------------------------


async def _owners(request: Request, who: Viewer) -> tuple[list[dict[str, Any]], Missing | None]:
    """The people who can hold customers (salespeople's owner ids, from People) and every owner id
    customers carry, each with how many customers they hold."""
    got = await parts(owners=services(request).get("contacts", "/owners", who.person, who.texts.accept_language))
    counts = {} if isinstance(got["owners"], Missing) else {o["owner"]: o["customers"] for o in got["owners"]}
    async with request.app.state.pool.acquire() as conn:
        people = [p for p in await store.people(conn) if p.owner]
    shown = {p.owner: p.display_name for p in people if p.owner}
    options = [{"owner": o, "name": shown.get(o, o), "customers": counts.get(o, 0), "person": o in shown}
               for o in sorted({*shown, *counts})]
    return options, got["owners"] if isinstance(got["owners"], Missing) else None


@router.get("/handover", response_class=HTMLResponse)
async def handover_form(request: Request, from_owner: Annotated[str, Query(max_length=64)] = "",
                        to_owner: Annotated[str, Query(max_length=64)] = "",
                        reason: Annotated[str, Query(max_length=1000)] = "",
                        who: Viewer = Depends(viewer)) -> HTMLResponse:
    """Step 1 picks the two people; with both picked, step 2 says how many customers will move."""
    require_page(who, "customers:assign")
    options, missing = await _owners(request, who)
    values = {"from_owner": from_owner, "to_owner": to_owner, "reason": reason.strip()}
    errors: dict[str, str] = {}
    confirm = None
    if from_owner or to_owner:
        if not from_owner:
            errors["from_owner"] = who.texts.gettext("Required.")
        if not to_owner:
            errors["to_owner"] = who.texts.gettext("Required.")
        if from_owner and from_owner == to_owner:
            errors["to_owner"] = who.texts.gettext("Choose someone else than the person handing over.")
        if not values["reason"]:
            errors["reason"] = who.texts.gettext("Required.")
        if not errors:
            confirm = next((o for o in options if o["owner"] == from_owner), {"owner": from_owner, "customers": 0})
    return render(request, "handover.html", who, status=422 if errors else 200, options=options, missing=missing,
                  values=values, errors=errors, confirm=confirm, result=None, problem=None)


@router.post("/handover", response_model=None)
async def handover(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:assign")
    form = await check_csrf(request, who)
    body = {"from_owner": form.get("from_owner", ""), "to_owner": form.get("to_owner", ""),
            "reason": form.get("reason", "")}
    try:
        result = await services(request).post("contacts", "/handover", who.person, who.texts.accept_language, body,
                                              idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, body, who.texts)
        options, missing = await _owners(request, who)
        return render(request, "handover.html", who, status=refused.status, options=options, missing=missing,
                      values=body, errors=errors, confirm=None, result=None, problem=problem)
    options, missing = await _owners(request, who)
    return render(request, "handover.html", who, options=options, missing=missing, values={}, errors={},
                  confirm=None, result=result, problem=None)


# --- pool rules ------------------------------------------------------------------------------


async def _rules_page(request: Request, who: Viewer, *, status: int = 200, errors: dict[str, dict[str, str]] | None
                      = None, values: dict[str, dict[str, str]] | None = None, saved: str = "") -> HTMLResponse:
    got = await parts(rules=services(request).get("contacts", "/pool/rules", who.person, who.texts.accept_language))
    missing = got["rules"] if isinstance(got["rules"], Missing) else None
    rules = {} if missing else {r["category"]: r for r in got["rules"]["items"]}
    suggested = {} if missing else got["rules"]["suggested"]
    shown = {c: {f: "" if (rules.get(c) or {}).get(f) is None else str(rules[c][f]) for f in RULE_FIELDS}
             for c in CATEGORIES}
    for category, typed in (values or {}).items():
        shown[category] = typed
    return render(request, "pool_rules.html", who, status=status, missing=missing, rules=rules, shown=shown,
                  suggested=suggested, categories=CATEGORIES, fields=RULE_FIELDS, errors=errors or {}, saved=saved)


@router.get("/pool/rules", response_class=HTMLResponse)
async def rules(request: Request, saved: Annotated[str, Query(max_length=16)] = "",
                who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "pool:rules")
    return await _rules_page(request, who, saved=saved if saved in CATEGORIES else "")


@router.post("/pool/rules/{category}", response_model=None)
async def save_rule(request: Request, category: str, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "pool:rules")
    form = await check_csrf(request, who)
    typed = {f: form.get(f, "").strip() for f in RULE_FIELDS}
    body = {f: v or None for f, v in typed.items()}  # empty: no limit
    try:
        await services(request).put("contacts", f"/pool/rules/{category}", who.person, who.texts.accept_language,
                                    body, idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, _ = form_errors(refused, RULE_FIELDS, who.texts)
        errors = {f: who.texts.gettext("A whole number of days (or people) from 1, or empty for no limit.")
                  for f in errors}  # every field takes the same: say it the same way
        return await _rules_page(request, who, status=refused.status, errors={category: errors},
                                 values={category: typed})
    return RedirectResponse(f"/pool/rules?saved={category}", status_code=303)


# --- the customer page's owner actions --------------------------------------------------------


@router.post("/customers/{customer_id:uuid}/release", response_model=None)
async def release(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    return await _owner_action(request, who, customer_id, "release", ("reason",))


@router.post("/customers/{customer_id:uuid}/assign", response_model=None)
async def assign(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:assign")
    return await _owner_action(request, who, customer_id, "assign", ("owner", "reason"))


async def _owner_action(request: Request, who: Viewer, customer_id: uuid.UUID, action: str,
                        fields: tuple[str, ...]) -> Response:
    form = await check_csrf(request, who)
    body = {f: form.get(f, "") for f in fields}
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/{action}", who.person,
                                     who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, fields, who.texts)
        words = "; ".join(v for v in [problem, *errors.values()] if v)
        return render(request, "error.html", who, status=refused.status, kind="problem", detail=words)
    return RedirectResponse(f"/customers/{customer_id}?done={action}#ownership", status_code=303)
