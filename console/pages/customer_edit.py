"""Editing a customer's record, its history, contact persons and competitors.

The edit form sends only what the person changed (against the values it was drawn with, kept in
the form), with ``If-Match`` = the revision it read. When someone else changed the record
meanwhile (412), the form comes back with the person's own changes kept, every other field at
its current value, and what the other person changed listed, so re-applying overwrites nothing
the person did not mean to.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import form_errors, worded
from console.i18n import Texts
from console.pages.customer import _render_360
from console.pages.identities import identity_kind_label
from console.services import ServiceRefused
from console.web import Viewer, check_csrf, render, require_page, services, templates, viewer
from shared.events import ContactRole, LeadSource

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "kind", "email", "address", "notes", "tags", "lead_source", "lead_source_detail", "referred_by",
          "external_ref")
LEAD_SOURCES: tuple[str, ...] = get_args(LeadSource)
CONTACT_ROLES: tuple[str, ...] = get_args(ContactRole)
HISTORY_PAGE = 30
_TAG_SPLIT = re.compile(r"[,，、\n]")
templates.globals["LEAD_SOURCES"] = LEAD_SOURCES  # the registration form offers them too (customer_new.html)


# --- the form and the record (pure) -----------------------------------------------------------


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in _TAG_SPLIT.split(text) if t.strip()]


def as_read(customer: dict[str, Any]) -> dict[str, Any]:
    """The editable fields of a record as the API gave it."""
    return {f: (customer.get(f) or []) if f == "tags" else customer.get(f) for f in FIELDS}


def typed(form: dict[str, str]) -> dict[str, Any]:
    """The editable fields as the person left them in the form: blank is none."""
    values: dict[str, Any] = {f: (form.get(f) or "").strip() or None for f in FIELDS if f != "tags"}
    values["name"] = values["name"] or ""  # a blank name goes to the service, which says it is required
    values["tags"] = split_tags(form.get("tags", ""))
    return values


def changed(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from what the form was drawn with: what the person changed."""
    return {f: v for f, v in now.items() if v != (before.get(f) or ([] if f == "tags" else None))}


def form_values(values: dict[str, Any]) -> dict[str, str]:
    """Record values as the form shows them (tags as one text)."""
    return {f: ", ".join(v) if f == "tags" else ("" if v is None else str(v)) for f, v in values.items()}


def shown(value: Any) -> str:
    """A history value in a line of text: lists joined, competitors with their notes, none as —."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} ({v})" if v else str(k) for k, v in value.items()) or "—"
    return str(value)


def revision_of(etag: str | None) -> int:
    """The revision an ETag names (0 for anything else)."""
    found = re.fullmatch(r'\s*(?:W/)?"(\d{1,9})"\s*', etag or "")
    return int(found.group(1)) if found else 0


def _etag(customer: dict[str, Any]) -> str:
    """The ETag GET /customers/{id} answers: the quoted revision (the body carries it too)."""
    return f'"{customer["revision"]}"'


# --- edit -------------------------------------------------------------------------------------


def _edit_page(request: Request, who: Viewer, customer: dict[str, Any], *, values: dict[str, str],
               read: dict[str, Any], status: int = 200, errors: dict[str, str] | None = None,
               problem: str | None = None, conflict: list[dict[str, Any]] | None = None,
               theirs: list[dict[str, Any]] | None = None) -> HTMLResponse:
    return render(request, "customer_edit.html", who, status=status, customer=customer, values=values,
                  read_json=json.dumps(read, ensure_ascii=False), etag=_etag(customer), errors=errors or {},
                  problem=problem, conflict=conflict, theirs=theirs or [], lead_sources=LEAD_SOURCES, shown=shown)


@router.get("/customers/{customer_id:uuid}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:write")
    customer = await services(request).get("contacts", f"/customers/{customer_id}", who.person,
                                           who.texts.accept_language)
    read = as_read(customer)
    return _edit_page(request, who, customer, values=form_values(read), read=read)


@router.post("/customers/{customer_id:uuid}/edit", response_model=None)
async def save(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    api, lang = services(request), who.texts.accept_language
    try:
        before = json.loads(form.get("read") or "{}")
    except ValueError:
        before = {}
    mine = changed(typed(form), before if isinstance(before, dict) else {})
    if not mine:
        return RedirectResponse(f"/customers/{customer_id}", status_code=303)
    try:
        await api.send("PATCH", "contacts", f"/customers/{customer_id}", who.person, lang, mine,
                       idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()), if_match=form.get("etag"))
    except ServiceRefused as refused:
        current = await api.get("contacts", f"/customers/{customer_id}", who.person, lang)
        if refused.status == 412:
            return await _conflict(request, who, current, before, mine, form)
        errors, problem = form_errors(refused, [*FIELDS, *(f"tags[{i}]" for i in range(20))], who.texts)
        errors = {("tags" if name.startswith("tags[") else name): text for name, text in errors.items()}
        taken = email_taken(refused, who.texts)
        if taken:
            errors, problem = {**errors, "email": taken}, None
        return _edit_page(request, who, {**current, "revision": revision_of(form.get("etag"))},
                          values=form, read=before, status=422, errors=errors, problem=problem)
    return RedirectResponse(f"/customers/{customer_id}?done=edited", status_code=303)


def email_taken(refused: ServiceRefused, t: Texts) -> str | None:
    """A 409 of a changed e-mail another customer holds (as an identity), in words at the field."""
    holder = refused.problem.get("holder") if refused.status == 409 else None
    if refused.problem.get("kind") != "email" or not isinstance(holder, dict):
        return None
    return t.gettext("This %(kind)s (%(value)s) already belongs to %(name)s. An identity belongs to one customer "
                     "only: unlink it there first, or merge the two customers.",
                     kind=identity_kind_label(t, "email"), value=refused.problem.get("value", ""),
                     name=holder.get("name", ""))


async def _conflict(request: Request, who: Viewer, current: dict[str, Any], before: dict[str, Any],
                    mine: dict[str, Any], form: dict[str, str]) -> HTMLResponse:
    """412: the person's changes over the current record, and what the other side changed."""
    now = as_read(current)
    theirs = [{"field": f, "read": before.get(f), "now": now[f], "also_mine": f in mine}
              for f in FIELDS if now[f] != (before.get(f) or ([] if f == "tags" else None))]
    history = await services(request).get("contacts", f"/customers/{current['id']}/history", who.person,
                                          who.texts.accept_language, params={"limit": 10})
    changes = [e for e in history["items"] if e["revision"] > revision_of(form.get("etag")) and e["kind"] == "changed"]
    values = form_values({**now, **mine})
    values["idempotency_key"] = str(uuid.uuid4())  # a new write: the refused one is done with
    return _edit_page(request, who, current, values=values, read=now, status=409, conflict=theirs, theirs=changes)


# --- history ----------------------------------------------------------------------------------


@router.get("/customers/{customer_id:uuid}/history", response_class=HTMLResponse)
async def history(request: Request, customer_id: uuid.UUID,
                  cursor: Annotated[str, Query(max_length=12, pattern=r"^[0-9]*$")] = "",
                  who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:read")
    api, lang = services(request), who.texts.accept_language
    customer = await api.get("contacts", f"/customers/{customer_id}", who.person, lang)
    page = await api.get("contacts", f"/customers/{customer_id}/history", who.person, lang,
                         params={"limit": HISTORY_PAGE, **({"cursor": cursor} if cursor else {})})
    return render(request, "customer_history.html", who, customer=customer, entries=page["items"],
                  next_cursor=page["next_cursor"], first_page=not cursor, shown=shown)


# --- contact persons --------------------------------------------------------------------------


@router.get("/customers/{customer_id:uuid}/contacts/add", response_class=HTMLResponse)
async def find_contact_person(request: Request, customer_id: uuid.UUID,
                              q: Annotated[str, Query(max_length=100)] = "",
                              who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "customers:write")
    return await _contact_page(request, who, customer_id, q.strip())


async def _contact_page(request: Request, who: Viewer, customer_id: uuid.UUID, q: str, *, status: int = 200,
                        problem: str | None = None) -> HTMLResponse:
    api, lang = services(request), who.texts.accept_language
    company = await api.get("contacts", f"/customers/{customer_id}", who.person, lang)
    found: list[dict[str, Any]] = []
    if q:
        listed = await api.get("contacts", "/customers", who.person, lang, params={"q": q, "limit": 20})
        found = [c for c in listed["items"] if c["kind"] == "person" and not c.get("merged_into")]
    return render(request, "customer_contact_add.html", who, status=status, customer=company, q=q, found=found,
                  roles=CONTACT_ROLES, problem=problem)


@router.post("/customers/{customer_id:uuid}/contacts/add", response_model=None)
async def add_contact_person(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    body = {"person_id": form.get("person_id", ""), "role": form.get("role", ""), "title": form.get("title") or None}
    try:
        await services(request).post("contacts", f"/customers/{customer_id}/contacts", who.person,
                                     who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        _, problem = form_errors(refused, [], who.texts)
        return await _contact_page(request, who, customer_id, form.get("q", ""), status=422, problem=problem)
    return RedirectResponse(f"/customers/{customer_id}?done=contact#contact-persons", status_code=303)


@router.post("/customers/{customer_id:uuid}/contacts/remove", response_model=None)
async def remove_contact_person(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    person, role = form.get("person_id", ""), form.get("role", "")
    await services(request).send("DELETE", "contacts", f"/customers/{customer_id}/contacts/{quote(person, safe='')}/"
                                 f"{quote(role, safe='')}", who.person, who.texts.accept_language,
                                 idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    return RedirectResponse(f"/customers/{customer_id}#contact-persons", status_code=303)


# --- competitors ------------------------------------------------------------------------------


@router.post("/customers/{customer_id:uuid}/competitors", response_model=None)
async def note_competitor(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    name = " ".join(form.get("competitor", "").split())
    try:
        if not name:
            raise ServiceRefused("contacts", 422, {"errors": [{"field": "competitor", "code": "missing"}]})
        await services(request).send("PUT", "contacts", f"/customers/{customer_id}/competitors/{quote(name, safe='')}",
                                     who.person, who.texts.accept_language, {"note": form.get("note", "")},
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        errors, problem = form_errors(refused, ["competitor", "note"], who.texts)
        about_name = refused.field_errors().get("path.name")
        if about_name is not None:  # the name travels in the path: its error belongs at the name's field
            errors["competitor"], problem = worded(about_name, who.texts), None
        return await _render_360(request, who, customer_id, status=422,
                                 forms={"competitor": {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/customers/{customer_id}?done=competitor#competitors", status_code=303)


@router.post("/customers/{customer_id:uuid}/competitors/remove", response_model=None)
async def forget_competitor(request: Request, customer_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "customers:write")
    form = await check_csrf(request, who)
    name = form.get("competitor", "")
    await services(request).send("DELETE", "contacts", f"/customers/{customer_id}/competitors/{quote(name, safe='')}",
                                 who.person, who.texts.accept_language,
                                 idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    return RedirectResponse(f"/customers/{customer_id}#competitors", status_code=303)


@router.get("/competitors", response_class=HTMLResponse)
async def competitor_report(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    """Per competitor, how many customers (in the person's scope) also buy there, by category."""
    require_page(who, "customers:read")
    report = await services(request).get("contacts", "/competitors", who.person, who.texts.accept_language)
    return render(request, "competitors.html", who, items=report["items"],
                  categories=("potential", "prospective", "current", "lost"))
