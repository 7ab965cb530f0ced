"""Alerts: the worklist, filtered by kind, owner and age; acknowledging one with a note (an event
insights publishes and puts on the customer's timeline, so the team sees who handled what)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import worded
from console.pages.common import (
    ALERT_KINDS,
    alert_kind_label,
    alerts_in_context,
    display_names,
    now,
)
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 50
AGES = (1, 7, 30)
Text = Annotated[str, Query(max_length=100)]


def alert_query(kind: str, owner: str, older_than: int | None, handled: str) -> list[tuple[str, str]]:
    """The insights query of the worklist's filters (only the ones set)."""
    params: list[tuple[str, str]] = [("status", "open")]
    if kind in ALERT_KINDS:
        params.append(("kind", kind))
    if owner:
        params.append(("owner", owner))
    if older_than:
        params.append(("raised_before", (now() - timedelta(days=older_than)).isoformat()))
    if handled in ("yes", "no"):
        params.append(("acknowledged", "true" if handled == "yes" else "false"))
    return params


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(
    request: Request,
    kind: Text = "",
    owner: Text = "",
    older_than: Annotated[int | None, Query(ge=1, le=3650)] = None,
    handled: Text = "no",
    cursor: Annotated[str, Query(max_length=200)] = "",
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "insights:read")
    api = services(request)
    params = [*alert_query(kind, owner.strip(), older_than, handled), ("limit", str(PAGE))]
    if cursor:
        params.append(("cursor", cursor))
    got = await parts(alerts=api.get("insights", "/alerts", who.person, who.texts.accept_language, params=params))
    items: list[dict[str, Any]] = [] if isinstance(got["alerts"], Missing) else got["alerts"]["items"]
    names = await alerts_in_context(request, who, items)
    t = who.texts
    filters = {"kind": kind if kind in ALERT_KINDS else "", "owner": owner.strip(),
               "older_than": str(older_than or ""), "handled": handled if handled in ("yes", "no", "all") else "no"}
    query = [(k, v) for k, v in filters.items() if v]
    return render(request, "alerts.html", who, items=items, names=names, filters=filters, kinds=ALERT_KINDS,
                  ages=AGES, missing=got["alerts"] if isinstance(got["alerts"], Missing) else None,
                  next_cursor=None if isinstance(got["alerts"], Missing) else got["alerts"]["next_cursor"],
                  query=query, back=request.url.path + ("?" + urlencode(query) if query else ""),
                  kind_label=lambda k: alert_kind_label(who.texts, k), first_page=not cursor,
                  people=await display_names(request),
                  kind_options=[("", t.gettext("Any"))] + [(k, alert_kind_label(t, k)) for k in ALERT_KINDS],
                  age_options=[("", t.gettext("Any time"))] + [
                      (str(d), t.ngettext("%(num)d day", "%(num)d days", d)) for d in AGES])


@router.post("/alerts/{alert_id:uuid}/acknowledge", response_model=None)
async def acknowledge(request: Request, alert_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "alerts:acknowledge")
    form = await check_csrf(request, who)
    back = form.get("back") or "/alerts"
    if not back.startswith("/") or back.startswith("//"):
        back = "/alerts"
    try:
        await services(request).post("insights", f"/alerts/{alert_id}/acknowledge", who.person,
                                     who.texts.accept_language, {"note": form.get("note", "")},
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.status != 409:  # acknowledged by someone else meanwhile: the list shows who
            return render(request, "error.html", who, status=refused.status, kind="problem",
                          detail=worded(refused.field_errors()["note"], who.texts)
                          if "note" in refused.field_errors() else refused.detail)
    anchor = form.get("next_anchor", "")
    return RedirectResponse(back + (f"#{anchor}" if anchor else ""), status_code=303)
