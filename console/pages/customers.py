"""Customers (客户): search and filters over the customer list, and registering a customer.

Contacts knows names, phones, categories and owners; insights knows segments, stages and open
alerts. A filter on what insights knows asks insights first (a page of its profiles) and lets
contacts narrow that page by the rest; otherwise contacts pages and insights decorates.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import form_errors
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
CATEGORIES = ("potential", "prospective", "current", "lost")
SEGMENTS = ("prospect", "champions", "loyal", "potential", "at_risk", "hibernating", "lost")
STAGES = ("exploration", "formation", "stability", "decline", "lost")
CHANNELS = ("store", "phone", "web", "wechat", "fair", "visit", "email", "other")
Text = Annotated[str, Query(max_length=100)]


@router.get("/customers", response_class=HTMLResponse)
async def customers(
    request: Request,
    q: Text = "",
    category: Text = "",
    owner: Text = "",
    segment: Text = "",
    stage: Text = "",
    alert: Text = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "customers:read")
    api = services(request)
    lang = who.texts.accept_language
    filters = {"q": q.strip(), "category": category if category in CATEGORIES else "", "owner": owner.strip(),
               "segment": segment if segment in SEGMENTS else "", "stage": stage if stage in STAGES else "",
               "alert": "1" if alert == "1" else ""}
    contacts_params: list[tuple[str, str]] = [(k, v) for k, v in (("q", filters["q"]), ("category", filters["category"]))
                                              if v]
    rows: list[dict[str, Any]] = []
    next_cursor: str | None = None
    missing: Missing | None = None
    by_insights = bool(filters["segment"] or filters["stage"] or filters["alert"])
    if by_insights:
        params = [(k, v) for k, v in (("segment", filters["segment"]), ("stage", filters["stage"]),
                                      ("owner", filters["owner"])) if v]
        if filters["alert"]:
            params.append(("has_open_alert", "true"))
        params += [("limit", str(PAGE))] + ([("cursor", cursor)] if cursor else [])
        got = await parts(profiles=api.get("insights", "/profiles", who.person, lang, params=params))
        if isinstance(got["profiles"], Missing):
            missing = got["profiles"]
        else:
            profiles = {p["customer_id"]: p for p in got["profiles"]["items"]}
            next_cursor = got["profiles"]["next_cursor"]
            if profiles:
                found = await parts(customers=api.get("contacts", "/customers", who.person, lang, params=[
                    *contacts_params, *[("id", i) for i in profiles], ("limit", "500")]))
                if isinstance(found["customers"], Missing):
                    missing = found["customers"]
                else:
                    rows = [{**c, "profile": profiles.get(c["id"])} for c in found["customers"]["items"]]
    else:
        params = [*contacts_params, *([("owner", filters["owner"])] if filters["owner"] else []),
                  ("limit", str(PAGE)), *([("cursor", cursor)] if cursor else [])]
        got = await parts(customers=api.get("contacts", "/customers", who.person, lang, params=params))
        if isinstance(got["customers"], Missing):
            missing = got["customers"]
        else:
            listed = got["customers"]["items"]
            next_cursor = got["customers"]["next_cursor"]
            profiles = {}
            if listed:
                decorated = await parts(profiles=api.get("insights", "/profiles", who.person, lang, params=[
                    *[("id", c["id"]) for c in listed], ("limit", "500")]))
                if not isinstance(decorated["profiles"], Missing):
                    profiles = {p["customer_id"]: p for p in decorated["profiles"]["items"]}
            rows = [{**c, "profile": profiles.get(c["id"])} for c in listed]
    query = [(k, v) for k, v in filters.items() if v]
    return render(request, "customers.html", who, rows=rows, filters=filters, next_cursor=next_cursor,
                  missing=missing, query=query, categories=CATEGORIES, segments=SEGMENTS, stages=STAGES,
                  first_page=not cursor)


@router.get("/customers/new", response_class=HTMLResponse)
async def new_customer_form(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:write")
    return render(request, "customer_new.html", who, values={"kind": "person"}, errors={}, problem=None,
                  channels=CHANNELS, categories=CATEGORIES)


@router.post("/customers/new", response_model=None)
async def register_customer(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    body: dict[str, Any] = {
        "name": form.get("name", ""), "kind": form.get("kind") or "person",
        "phone": form.get("phone") or None, "email": form.get("email") or None,
        "external_ref": form.get("external_ref") or None, "category": form.get("category") or "potential",
        "channel": form.get("channel") or None, "lead_source": form.get("lead_source") or None,
        "owner": form.get("owner") or (who.person.owner if who.person.role == "sales" else None),
    }
    try:
        created = await services(request).post("contacts", "/customers", who.person, who.texts.accept_language,
                                                body, idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, body, who.texts)
        return render(request, "customer_new.html", who, status=422, values=form, errors=errors, problem=problem,
                      channels=CHANNELS, categories=CATEGORIES)
    return RedirectResponse(f"/customers/{created['id']}?registered=1", status_code=303)
