"""One ticket (工单详情): its header (status, priority, the SLA clock, the customer and the order),
its history, and the steps of handling it — respond to the customer, an investigation note, wait
on the customer or resume, assign, escalate to a manager, the resolution (responsibility, apology,
remedy and the customer's answer, compensation, a prevention action), the customer's answer to a
pending remedy, reopen, satisfaction. Each step is a form posting to the tickets service with an
Idempotency-Key; a refusal comes back at its field with what was typed kept (``console.forms``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import form_errors, refusal
from console.i18n import Texts
from console.pages import ticket_view as tv
from console.pages.tickets import WRITE, console_people, handler_id, people_names, ticket_words
from console.services import ServiceRefused, parts, unless_unknown
from console.web import Viewer, check_csrf, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
MANAGER_ROLES = ("manager", "admin")
HANDLER_ROLES = ("admin", "manager", "sales", "service")


def refusal_words(t: Texts, refused: ServiceRefused) -> str | None:
    """A 409 in words: the step is not possible in the ticket's status (and what is)."""
    problem = refused.problem
    if refused.status == 409 and ("allowed" in problem or "status_now" in problem or "status" in problem):
        allowed = problem.get("allowed") or []
        words = ", ".join(tv.step_label(t, str(a)) for a in allowed) or t.gettext("nothing")
        now = problem.get("status_now") or problem.get("status") or ""
        return t.gettext("Not possible while the ticket is %(status)s. Possible now: %(allowed)s.",
                         status=tv.status_label(t, str(now)), allowed=words)
    if refused.status == 404:
        return t.gettext("The tickets service does not offer this step yet (%(detail)s).",
                         detail=refusal(problem, t) or refused.detail)
    return None


async def _render(request: Request, who: Viewer, ticket_id: uuid.UUID, *, status: int = 200,
                  forms: dict[str, Any] | None = None) -> HTMLResponse:
    api, lang = services(request), who.texts.accept_language
    try:
        ticket = await api.get("tickets", f"/tickets/{ticket_id}", who.person, lang)
    except ServiceRefused as refused:
        if refused.status == 404:
            return render(request, "error.html", who, status=404, kind="problem",
                          detail=who.texts.gettext("There is no such ticket."))
        raise
    calls: dict[str, Any] = {"customer": unless_unknown(
        api.get("contacts", f"/customers/{ticket['customer_id']}", who.person, lang))}
    if ticket.get("order_id") and who.may("orders:read"):
        calls["order"] = unless_unknown(api.get("orders", f"/orders/{ticket['order_id']}", who.person, lang))
    got = await parts(**calls)
    people = await console_people(request)
    t = who.texts
    customer = got["customer"] if isinstance(got["customer"], dict) else None
    order = got.get("order") if isinstance(got.get("order"), dict) else None
    names = people_names(people)
    shown: Callable[[str | None], str] = lambda who_: names.get(who_ or "", who_ or "—")  # noqa: E731
    remedies = ticket.get("remedies") or []
    pending = next((r for r in reversed(remedies) if r.get("accepted") is None), None)
    active = ticket["status"] in tv.ACTIVE
    allowed = ticket.get("allowed_actions")
    if allowed is None:  # a tickets service that does not say: its state machine as the console knows it
        allowed = tv.allowed_actions(ticket["status"], pending is not None)
    handlers = [p for p in people if p.role in HANDLER_ROLES]
    return render(
        request, "ticket.html", who, status=status, ticket=ticket, customer=customer, order=order,
        forms=forms or {}, shown=shown, remedies=remedies, pending=pending, active=active,
        activity=ticket.get("activity") or [], prevention=ticket.get("prevention_actions") or [],
        details=lambda entry: tv.activity_details(t, entry.get("detail") or {}, shown),
        may_write=who.may(WRITE), can=lambda action: who.may(WRITE) and action in allowed,
        managers=[(handler_id(p), p.display_name) for p in people if p.role in MANAGER_ROLES],
        people_options=[("", t.gettext("Nobody yet"))] + [(handler_id(p), p.display_name) for p in handlers],
        targets=[(f"person:{handler_id(p)}", p.display_name) for p in handlers],
        queue_targets=[(f"queue:{q}", tv.queue_label(t, q)) for q in sorted({"service", ticket.get("queue") or
                                                                               "service"})],
        responsibility_options=[("", t.gettext("Not said"))] + [(r, tv.responsibility_label(t, r))
                                                               for r in tv.RESPONSIBILITIES],
        resolve_responsibility=[(r, tv.responsibility_label(t, r)) for r in tv.RESPONSIBILITIES],
        category_options=[("", t.gettext("Unchanged"))] + [(c, tv.category_label(t, c)) for c in tv.CATEGORIES],
        remedy_options=[(r, tv.remedy_label(t, r)) for r in tv.REMEDIES],
        answer_options=[(a, tv.answer_label(t, a)) for a in tv.ANSWERS],
        **ticket_words(t),
    )


@router.get("/tickets/{ticket_id:uuid}", response_class=HTMLResponse)
async def ticket_page(request: Request, ticket_id: uuid.UUID,
                      done: Annotated[str, Query(max_length=32)] = "",  # what was just done (the notice says so)
                      who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "tickets:read")
    return await _render(request, who, ticket_id)


async def _act(request: Request, who: Viewer, ticket_id: uuid.UUID, form: dict[str, str], *, step: str,
               path: str, body: dict[str, Any], fields: list[str], done: str,
               renamed: dict[str, str] | None = None) -> Response:
    """Post one step; back on the ticket's page, with the refusal at its fields when refused.
    ``renamed``: the API's field → the form's (the assign form's one choice is assignee or queue)."""
    try:
        await services(request).post("tickets", f"/tickets/{ticket_id}/{path}", who.person,
                                     who.texts.accept_language, body,
                                     idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))
    except ServiceRefused as refused:
        if refused.out_of_scope:
            raise
        names = {**{f: f for f in fields}, **(renamed or {})}
        errors, problem = form_errors(refused, names, who.texts)
        errors = {names.get(k, k): v for k, v in errors.items()}
        problem = refusal_words(who.texts, refused) or problem
        return await _render(request, who, ticket_id, status=refused.status,
                             forms={step: {"values": form, "errors": errors, "problem": problem}})
    return RedirectResponse(f"/tickets/{ticket_id}?done={done}", status_code=303)


def _text(form: dict[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _optional(body: dict[str, Any], form: dict[str, str], *names: str) -> dict[str, Any]:
    for name in names:
        if _text(form, name):
            body[name] = _text(form, name)
    return body


@router.post("/tickets/{ticket_id:uuid}/responses", response_model=None)
async def respond(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    return await _act(request, who, ticket_id, form, step="respond", path="responses",
                      body={"message": form.get("message", "")}, fields=["message"], done="responded")


@router.post("/tickets/{ticket_id:uuid}/notes", response_model=None)
async def note(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    body = _optional({"note": form.get("note", "")}, form, "responsibility", "category")
    return await _act(request, who, ticket_id, form, step="note", path="notes", body=body,
                      fields=["note", "responsibility", "category"], done="noted")


@router.post("/tickets/{ticket_id:uuid}/status", response_model=None)
async def set_status(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    body = _optional({"status": form.get("status", "")}, form, "reason")
    closing = body["status"] == "closed"
    return await _act(request, who, ticket_id, form, step="close" if closing else "status", path="status",
                      body=body, fields=["status", "reason"], done="closed" if closing else "status")


@router.post("/tickets/{ticket_id:uuid}/assign", response_model=None)
async def assign(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    kind, _, value = form.get("target", "").partition(":")
    body: dict[str, Any] = {"queue": value} if kind == "queue" else {"assignee": value}
    _optional(body, form, "reason")
    return await _act(request, who, ticket_id, form, step="assign", path="assign", body=body,
                      fields=["target", "reason"], done="assigned", renamed={"assignee": "target", "queue": "target"})


@router.post("/tickets/{ticket_id:uuid}/escalate", response_model=None)
async def escalate(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    return await _act(request, who, ticket_id, form, step="escalate", path="escalate",
                      body={"to": form.get("to", ""), "reason": form.get("reason", "")}, fields=["to", "reason"],
                      done="escalated")


PREVENTION = ("prevention.action", "prevention.owner", "prevention.due_on")


def resolution_body(form: dict[str, str]) -> dict[str, Any]:
    """The resolution form as POST /tickets/{id}/resolution takes it: optional fields left out when
    empty; the prevention action only when any of its three fields is filled in."""
    body: dict[str, Any] = {"resolution": form.get("resolution", ""), "apology_given": form.get("apology_given") == "on",
                            "customer_answer": form.get("customer_answer") or "accepted"}
    _optional(body, form, "responsibility", "remedy", "remedy_detail", "answer_comment", "category")
    compensation = _text(form, "compensation").replace(",", "").replace("¥", "")
    if compensation:
        body["compensation"] = compensation
    if any(_text(form, name) for name in PREVENTION):
        body["prevention"] = {name.split(".", 1)[1]: _text(form, name) for name in PREVENTION}
    return body


@router.post("/tickets/{ticket_id:uuid}/resolution", response_model=None)
async def resolve(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    body = resolution_body(form)
    done = {"accepted": "resolved", "rejected": "rejected", "pending": "proposed"}.get(body["customer_answer"],
                                                                                      "resolved")
    return await _act(request, who, ticket_id, form, step="resolution", path="resolution", body=body,
                      fields=["resolution", "apology_given", "customer_answer", "responsibility", "remedy",
                              "remedy_detail", "answer_comment", "category", "compensation", *PREVENTION],
                      done=done)


@router.post("/tickets/{ticket_id:uuid}/remedy-answer", response_model=None)
async def remedy_answer(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    accepted = form.get("accepted") == "true"
    body = _optional({"accepted": accepted}, form, "comment")
    return await _act(request, who, ticket_id, form, step="remedy_answer", path="remedy-answer", body=body,
                      fields=["accepted", "comment"], done="accepted" if accepted else "rejected")


@router.post("/tickets/{ticket_id:uuid}/reopen", response_model=None)
async def reopen(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    return await _act(request, who, ticket_id, form, step="reopen", path="reopen",
                      body={"reason": form.get("reason", "")}, fields=["reason"], done="reopened")


@router.post("/tickets/{ticket_id:uuid}/satisfaction", response_model=None)
async def satisfaction(request: Request, ticket_id: uuid.UUID, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, WRITE)
    form = await check_csrf(request, who)
    body = _optional({"score": _text(form, "score")}, form, "comment")
    return await _act(request, who, ticket_id, form, step="satisfaction", path="satisfaction", body=body,
                      fields=["score", "comment"], done="satisfaction")
