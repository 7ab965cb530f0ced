"""The customer's channel identities on the customer 360 page: the list, linking one (kind, value,
label for `other`) and unlinking one; an identity another customer holds is said in words, with a
link to that customer. All through contacts' API as the signed-in person."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from console.forms import form_errors
from console.i18n import Texts
from console.services import ServiceRefused
from console.web import Viewer, check_csrf, require_page, services, viewer

router = APIRouter(include_in_schema=False)
KINDS = ("phone", "email", "wechat_openid", "wechat_unionid", "web_account", "membership_card", "fair_badge", "other")
FIELDS = ("kind", "value", "label")


def identity_kind_label(t: Texts, kind: str) -> str:
    """An identity kind in words (literal calls, so the catalogue finds them)."""
    return {
        "phone": t.pgettext("identity", "Phone"),
        "email": t.pgettext("identity", "Email"),
        "wechat_openid": t.pgettext("identity", "WeChat OpenID"),
        "wechat_unionid": t.pgettext("identity", "WeChat UnionID"),
        "web_account": t.pgettext("identity", "Web account"),
        "membership_card": t.pgettext("identity", "Membership card"),
        "fair_badge": t.pgettext("identity", "Fair badge"),
        "other": t.pgettext("identity", "Other"),
    }.get(kind, kind)


def identity_problem(refused: ServiceRefused, form: dict[str, str], t: Texts) -> dict[str, Any]:
    """What the form shows for a refusal: field errors; for a 409, the holder in words (and whom to link)."""
    holder = refused.problem.get("holder") if refused.status == 409 else None
    if isinstance(holder, dict) and holder.get("id"):
        kind = identity_kind_label(t, str(refused.problem.get("kind") or form.get("kind", "")))
        return {"values": form, "errors": {}, "holder": holder,
                "problem": t.gettext("This %(kind)s (%(value)s) already belongs to %(name)s. An identity belongs to "
                                     "one customer only: unlink it there first, or merge the two customers.",
                                     kind=kind, value=refused.problem.get("value") or form.get("value", ""),
                                     name=holder.get("name", ""))}
    errors, problem = form_errors(refused, FIELDS, t)
    ours = {  # contacts' codes for identities, in the person's language
        "label_missing": t.gettext("Say what it is (QQ, Douyin, ...)."),
        "email_invalid": t.gettext("Not an e-mail address."),
        "wechat_id_invalid": t.gettext("A WeChat id is 8 to 64 letters, digits, _ or -."),
    }
    for name, item in refused.field_errors().items():
        if name in FIELDS and item.get("code") in ours:
            errors[name] = ours[str(item["code"])]
    return {"values": form, "errors": errors, "problem": problem}


@router.post("/customers/{customer_id:uuid}/identities", response_model=None)
async def link_identity(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = dict(await check_csrf(request, who))
    body: dict[str, Any] = {"kind": form.get("kind") or "phone", "value": form.get("value", "")}
    if form.get("label", "").strip():
        body["label"] = form["label"]
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/identities", who.person,
                                     who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.status not in (409, 422):
            raise
        from console.pages.customer import _render_360  # the page this form is part of (imports this module)

        return await _render_360(request, who, customer_id, status=refused.status,
                                forms={"identity": identity_problem(refused, form, who.texts)})
    return RedirectResponse(f"/customers/{customer_id}?done=identity#identities", status_code=303)


@router.post("/customers/{customer_id:uuid}/identities/remove", response_model=None)
async def unlink_identity(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    kind = form.get("kind", "") if form.get("kind", "") in KINDS else "other"
    try:
        value = quote(form.get("value", "").strip() or "-", safe="")
        await services(request).delete("contacts", f"/customers/{customer_id}/identities/{kind}/{value}", who.person, who.texts.accept_language,
                                       idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.status != 404:  # already unlinked (a second click): the page shows it gone
            raise
    return RedirectResponse(f"/customers/{customer_id}?done=unlinked#identities", status_code=303)
