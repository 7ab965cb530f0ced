"""Duplicates to review (managers): likely pairs side by side with the reasons, a merge into the
survivor the manager chooses after a confirmation, and recent merges with Undo while it is allowed
(30 days). Acts only through contacts' HTTP API as the signed-in person."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.pages.common import now
from console.services import Missing, ServiceRefused, parts
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 20
RECENT_MERGES = 20


def reason_words(t: Any) -> dict[str, str]:
    """The duplicate reasons contacts gives (by code), in the reader's language."""
    return {
        "same_phone": t.gettext("same phone number"),
        "same_email": t.gettext("same email address"),
        "same_identity": t.gettext("same identity"),
        "same_name": t.gettext("same name"),
        "same_pinyin": t.gettext("same name in pinyin"),
        "same_phone_prefix": t.gettext("phone numbers share the first 7 digits"),
        "same_company": t.gettext("contact persons of the same company"),
    }


def undoable(merge: dict[str, Any], moment: datetime) -> bool:
    return merge.get("undone_at") is None and datetime.fromisoformat(merge["undo_until"]) > moment


@router.get("/duplicates", response_class=HTMLResponse)
async def duplicates(
    request: Request,
    cursor: Annotated[str, Query(max_length=80)] = "",
    rescan: Annotated[str, Query(max_length=1)] = "",
    merged: uuid.UUID | None = None,
    undone: uuid.UUID | None = None,
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "customers:merge")
    api, lang = services(request), who.texts.accept_language
    params: dict[str, Any] = {"limit": PAGE}
    if cursor:
        params["cursor"] = cursor
    if rescan:
        params["rescan"] = "true"
    got = await parts(pairs=api.get("contacts", "/duplicates", who.person, lang, params=params),
                      merges=api.get("contacts", "/merges", who.person, lang, params={"limit": RECENT_MERGES}))
    pairs = None if isinstance(got["pairs"], Missing) else got["pairs"]
    merges = [] if isinstance(got["merges"], Missing) else got["merges"]["items"]
    moment = now()
    return render(request, "duplicates.html", who, pairs=pairs, merges=merges,
                  missing=got["pairs"] if pairs is None else None, reasons=reason_words(who.texts),
                  undoable=lambda m: undoable(m, moment), first_page=not cursor,
                  just_merged=next((m for m in merges if merged and m["id"] == str(merged)), None),
                  just_undone=next((m for m in merges if undone and m["id"] == str(undone)), None))


@router.get("/duplicates/merge", response_class=HTMLResponse)
async def confirm_merge(request: Request, pair: Annotated[str, Query(max_length=80)], survivor: uuid.UUID,
                        who: Viewer = Depends(viewer)) -> HTMLResponse:
    """What the merge will do, before it is done: ``pair`` names both customers, ``survivor`` the one that stays."""
    require_page(who, "customers:merge")
    try:
        ids = {uuid.UUID(part) for part in pair.split()}
    except ValueError:
        ids = set()
    if len(ids) != 2 or survivor not in ids:
        return render(request, "error.html", who, status=422, kind="problem",
                      detail=who.texts.gettext("Choose the two customers to merge."))
    merged = (ids - {survivor}).pop()
    api, lang = services(request), who.texts.accept_language
    try:
        got = await parts(merged=api.get("contacts", f"/customers/{merged}", who.person, lang),
                          survivor=api.get("contacts", f"/customers/{survivor}", who.person, lang))
    except ServiceRefused as refused:
        return render(request, "error.html", who, status=refused.status, kind="problem", detail=refused.detail)
    return render(request, "duplicates_confirm.html", who, merged=got["merged"], survivor=got["survivor"])


@router.post("/duplicates/merge", response_model=None)
async def merge(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:merge")
    form = await check_csrf(request, who)
    try:
        merged, survivor = uuid.UUID(form.get("merged", "")), uuid.UUID(form.get("survivor", ""))
    except ValueError:
        return render(request, "error.html", who, status=422, kind="problem",
                      detail=who.texts.gettext("Choose the two customers to merge."))
    try:
        result = await services(request).post(
            "contacts", f"/customers/{merged}/merge-into/{survivor}", who.person, who.texts.accept_language, {},
            idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        return render(request, "error.html", who, status=refused.status, kind="problem", detail=refused.detail)
    return RedirectResponse(f"/duplicates?merged={result['merge_id']}", status_code=303)


@router.post("/merges/{merge_id:uuid}/undo", response_model=None)
async def undo(request: Request, merge_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:merge")
    form = await check_csrf(request, who)
    try:
        await services(request).post("contacts", f"/merges/{merge_id}/undo", who.person, who.texts.accept_language,
                                     {}, idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        return render(request, "error.html", who, status=refused.status, kind="problem", detail=refused.detail)
    return RedirectResponse(f"/duplicates?undone={merge_id}", status_code=303)
