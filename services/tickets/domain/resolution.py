"""A ticket's way to a resolution the customer agrees to, and what may happen in which status. No I/O.

Statuses (docs/tickets.md "A ticket's life"): ``open`` (being handled) ⇄ ``waiting_on_customer``
(the resolution clock stands still) → ``resolved`` (a remedy the customer accepted) → ``closed``
(satisfaction recorded, or closed by hand); ``resolved``/``closed`` → ``open`` again on a reopen.

A remedy is put to the customer with their answer: ``accepted`` resolves the ticket,
``rejected`` keeps it open, ``pending`` waits on the customer until POST remedy-answer. One remedy
waits for an answer at a time. A compensation is credited by orders once per ticket: the first
accepted remedy with a compensation above zero; a later one (after a reopen) is recorded on its
remedy but not paid again, and its ``TicketResolved`` carries no compensation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.tickets.domain import sla
from services.tickets.domain.tickets import clocks_of
from shared.edge import NON_BLANK
from shared.errors import Conflict, Invalid
from shared.events import (
    Event,
    Money,
    PreventionAction,
    Remedy,
    Responsibility,
    TicketCategory,
    TicketRemedyAnswered,
    TicketRemedyProposed,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketSatisfactionRecorded,
    TicketStatusChanged,
)

# --- the state machine ----------------------------------------------------------------------

# Each write of a ticket, named as its route (POST /tickets/{id}/<name>; a status change by target).
Action = Literal["assign", "escalate", "responses", "notes", "status:open", "status:waiting_on_customer",
                 "status:closed", "resolution", "remedy-answer", "reopen", "satisfaction"]
_HANDLING: tuple[Action, ...] = ("assign", "escalate", "responses", "notes")


def allowed_actions(status: str, remedy_pending: bool = False) -> list[Action]:
    """What may happen to a ticket in ``status``; ``remedy_pending``: a remedy waits for the answer."""
    if status == "open":
        return [*_HANDLING, "status:waiting_on_customer", "status:closed", "resolution"]
    if status == "waiting_on_customer":
        answer: list[Action] = ["remedy-answer"] if remedy_pending else ["status:open", "resolution"]
        return [*_HANDLING, *answer, "status:closed"]
    if status == "resolved":
        return ["notes", "satisfaction", "reopen", "status:closed"]
    if status == "closed":
        return ["notes", "reopen"]
    return []


def ensure_allowed(action: Action, status: str, remedy_pending: bool = False) -> None:
    """409 naming the status (``status_now``) and what is ``allowed`` when ``action`` is not."""
    allowed = allowed_actions(status, remedy_pending)
    if action in allowed:
        return
    why = ""
    if remedy_pending and action in ("resolution", "status:open"):
        why = " while a proposed remedy waits for the customer's answer (POST remedy-answer)"
    elif action == "remedy-answer" and status == "waiting_on_customer":
        why = ": no remedy waits for an answer"
    raise Conflict(f"a ticket {status} does not allow {action}{why}; allowed: {', '.join(allowed) or 'none'}",
                   title="Not allowed in the ticket's status", allowed=list(allowed), status_now=status)


# --- what a write changes -------------------------------------------------------------------

# The columns a write may change (store.lifecycle.save_ticket writes them all).
MUTABLE = ("status", "category", "due_at", "assignee", "queue", "escalated_to", "escalated_at", "first_response_at",
           "resolution_due_at", "resolution_breached_at", "paused_at", "resolution_left_s", "responsibility",
           "apology_given", "resolution", "remedy", "remedy_detail", "compensation", "resolved_at", "resolved_by",
           "closed_at", "reopened_count", "satisfaction", "satisfaction_comment")


@dataclass
class Change:
    """A write's outcome: the ticket's columns after it, its events (in order), the one activity line
    (``action``, ``detail``; its event the one at ``activity_event``) and the remedy and prevention
    rows it adds or answers."""

    row: dict[str, Any]
    events: list[Event]
    action: str
    detail: dict[str, Any] = field(default_factory=dict)
    activity_event: int = -1
    new_remedy: dict[str, Any] | None = None
    answered_remedy: dict[str, Any] | None = None
    new_prevention: dict[str, Any] | None = None


def updated(row: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {**dict(row), **changes}


def with_clocks(row: Mapping[str, Any], clocks: sla.Clocks, *, running: bool = True) -> dict[str, Any]:
    """The row with its SLA state; ``due_at`` the running clock's (none once resolved or closed)."""
    left = clocks.resolution_left_s
    return updated(row, first_response_at=clocks.first_response_at, resolution_due_at=clocks.resolution_due_at,
                   paused_at=clocks.paused_at, resolution_left_s=round(left) if left is not None else None,
                   due_at=clocks.due_at if running else None)


# --- a remedy put to the customer -------------------------------------------------------------


class PreventionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: str = Field(min_length=1, max_length=2000, pattern=NON_BLANK,
                        description="What is done so the same problem does not reach the next customer.")
    owner: str = Field(min_length=1, max_length=200, pattern=NON_BLANK, description="Who does it (a person's id).")
    due_on: date = Field(description="By when (the shop's date); not before today.")


CustomerAnswer = Literal["accepted", "rejected", "pending"]


class ResolutionRequest(BaseModel):
    """POST /tickets/{id}/resolution: the finding and the remedy put to the customer, with their answer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    responsibility: Responsibility | None = Field(
        None, description="Whose fault it was: ours, customer, third_party, undetermined. Required for complaints.")
    apology_given: bool = Field(False, description="An apology was given to the customer.")
    remedy: Remedy = Field(description="replace, repair, refund, discount, explanation (only) or other.")
    remedy_detail: str = Field("", max_length=2000)
    compensation: Money | None = Field(
        None, description="Money credited to the customer's account when accepted (not with `explanation`). "
        "Orders credits one compensation per ticket: the first accepted.")
    resolution: str = Field(min_length=1, max_length=2000, pattern=NON_BLANK,
                            description="What was done, in a sentence the customer would recognise.")
    customer_answer: CustomerAnswer = Field(
        description="accepted: resolved; rejected: stays open; pending: waits on the customer "
        "(the resolution clock pauses) until POST /tickets/{id}/remedy-answer.")
    answer_comment: str = Field("", max_length=2000)
    prevention: PreventionRequest | None = Field(
        None, description="A prevention action with its owner and due date, created when the remedy is accepted.")
    category: TicketCategory | None = Field(None, description="What it was about, if found out now.")


class RemedyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    accepted: bool = Field(description="true: the ticket is resolved with the proposal; false: it is open again.")
    comment: str = Field("", max_length=2000)


class Reopening(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


class Satisfaction(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    score: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (delighted).")
    comment: str = Field("", max_length=2000)


def check_resolution(kind: str, body: ResolutionRequest, today: date) -> None:
    """The rules a request's model cannot say alone (422 naming the field)."""
    if kind == "complaint" and body.responsibility is None:
        raise Invalid.field("responsibility", "required for a complaint: ours, customer, third_party or undetermined")
    if body.compensation is not None and body.remedy == "explanation":
        raise Invalid.field("compensation", "an explanation only comes without compensation: choose another remedy")
    if body.prevention is not None and body.prevention.due_on < today:
        raise Invalid.field("prevention.due_on", f"{body.prevention.due_on} is before today ({today})")


def paid(compensation: Decimal | None, credited: Decimal | None) -> Decimal | None:
    """What orders credits for this resolution: the compensation, unless one was credited already."""
    return compensation if credited is None and compensation is not None and compensation > 0 else None


def _first_response(row: Mapping[str, Any], clocks: sla.Clocks, message: str, by: str,
                    now: datetime) -> tuple[sla.Clocks, list[Event]]:
    """Putting a remedy to the customer answers them: the first such answer stops the first-response clock."""
    if clocks.first_response_at is not None:
        return clocks, []
    return sla.responded(clocks, now), [TicketResponded(customer_id=row["customer_id"], occurred_at=now,
                                                        ticket_id=row["id"], by=by, message=message, first=True)]


@dataclass(frozen=True)
class Proposal:
    """A remedy put to the customer (a ``ticket_remedies`` row and what came with it)."""

    remedy_id: uuid.UUID
    remedy: Remedy
    detail: str
    compensation: Decimal | None
    resolution: str
    responsibility: Responsibility | None
    apology_given: bool
    prevention: PreventionRequest | None

    def as_detail(self) -> dict[str, Any]:
        """The proposal as the activity line keeps it (an answer given later resolves with it)."""
        return {"remedy_id": str(self.remedy_id), "remedy": self.remedy, "remedy_detail": self.detail,
                "compensation": str(self.compensation) if self.compensation is not None else None,
                "resolution": self.resolution, "responsibility": self.responsibility,
                "apology_given": self.apology_given,
                "prevention": self.prevention.model_dump(mode="json") if self.prevention else None}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Proposal:
        compensation = detail.get("compensation")
        prevention = detail.get("prevention")
        return cls(uuid.UUID(str(detail["remedy_id"])), detail["remedy"], detail.get("remedy_detail", ""),
                   Decimal(compensation) if compensation is not None else None, detail["resolution"],
                   detail.get("responsibility"), bool(detail.get("apology_given")),
                   PreventionRequest.model_validate(prevention) if prevention else None)


def _resolve(row: dict[str, Any], clocks: sla.Clocks, proposal: Proposal, *, by: str, now: datetime,
             cal: sla.Calendar, action_id: uuid.UUID, credited: Decimal | None,
             ) -> tuple[dict[str, Any], TicketResolved, dict[str, Any] | None]:
    """The row resolved, its TicketResolved and the prevention action's row (if one was agreed)."""
    # Both clocks stop; a paused one gets the due time it would have had (reports compare it).
    clocks = sla.resolved(clocks, now, cal)
    resolved = updated(with_clocks(row, clocks, running=False), status="resolved", resolved_at=now, resolved_by=by)
    prevention = None
    new_prevention = None
    if proposal.prevention is not None:
        p = proposal.prevention
        prevention = PreventionAction(action_id=action_id, action=p.action, owner=p.owner, due_on=p.due_on)
        new_prevention = {"id": action_id, "ticket_id": row["id"], "category": resolved["category"],
                          "action": p.action, "owner": p.owner, "due_on": p.due_on, "created_at": now}
    event = TicketResolved(
        customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], resolution=proposal.resolution,
        compensation=paid(proposal.compensation, credited), resolved_by=by, kind=row["kind"],
        category=resolved["category"], responsibility=resolved["responsibility"],
        apology_given=proposal.apology_given, remedy=proposal.remedy, remedy_detail=proposal.detail,
        prevention=prevention)
    return resolved, event, new_prevention


def propose(row: Mapping[str, Any], body: ResolutionRequest, *, remedy_id: uuid.UUID, action_id: uuid.UUID,
            by: str, now: datetime, today: date, cal: sla.Calendar, credited: Decimal | None,
            remedy_pending: bool = False) -> Change:
    """POST /tickets/{id}/resolution. ``credited``: the compensation orders already credited for
    this ticket (None: none yet)."""
    ensure_allowed("resolution", row["status"], remedy_pending)
    check_resolution(row["kind"], body, today)
    proposal = Proposal(remedy_id, body.remedy, body.remedy_detail, body.compensation, body.resolution,
                        body.responsibility, body.apology_given, body.prevention)
    clocks, events = _first_response(row, clocks_of(row), body.resolution, by, now)
    # The ticket keeps the latest proposal and the finding, whatever the answer (`remedies` has each).
    current = updated(with_clocks(row, clocks), responsibility=body.responsibility or row["responsibility"],
                      category=body.category or row["category"], apology_given=body.apology_given,
                      resolution=body.resolution, remedy=body.remedy, remedy_detail=body.remedy_detail,
                      compensation=body.compensation)
    proposed = TicketRemedyProposed(
        customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], remedy_id=remedy_id,
        remedy=body.remedy, detail=body.remedy_detail, compensation=body.compensation,
        responsibility=current["responsibility"], apology_given=body.apology_given, by=by)
    events.append(proposed)
    remedy_row = {"id": remedy_id, "ticket_id": row["id"], "remedy": body.remedy, "detail": body.remedy_detail,
                  "compensation": body.compensation, "proposed_at": now, "proposed_by": by, "accepted": None,
                  "answered_at": None, "answer_comment": ""}
    detail = {**proposal.as_detail(), "customer_answer": body.customer_answer}
    if body.customer_answer == "pending":
        waiting = current
        if row["status"] != "waiting_on_customer":
            waiting = updated(with_clocks(current, sla.pause(clocks, now, cal)), status="waiting_on_customer")
            events.append(_status_changed(row, "waiting_on_customer", by, now, "a remedy waits for the customer's answer"))
        return Change(waiting, events, "remedy_proposed", detail, activity_event=events.index(proposed),
                      new_remedy=remedy_row)
    answered = {**remedy_row, "accepted": body.customer_answer == "accepted", "answered_at": now,
                "answer_comment": body.answer_comment}
    answered_event = TicketRemedyAnswered(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"],
                                          remedy_id=remedy_id, accepted=answered["accepted"],
                                          comment=body.answer_comment, by=by)
    events.append(answered_event)
    if body.customer_answer == "rejected":
        reopened = current
        if row["status"] == "waiting_on_customer":
            reopened = updated(with_clocks(current, sla.resume(clocks, now, cal)), status="open")
            events.append(_status_changed(row, "open", by, now, "the customer rejected the remedy"))
        return Change(reopened, events, "remedy_answered", detail, activity_event=events.index(answered_event),
                      new_remedy=answered)
    resolved, event, new_prevention = _resolve(current, clocks, proposal, by=by, now=now, cal=cal,
                                               action_id=action_id, credited=credited)
    events.append(event)
    detail["compensation_credited"] = str(event.compensation) if event.compensation is not None else None
    return Change(resolved, events, "resolved", detail, new_remedy=answered, new_prevention=new_prevention)


def answer(row: Mapping[str, Any], proposal: Proposal | None, body: RemedyAnswer, *, action_id: uuid.UUID,
           by: str, now: datetime, cal: sla.Calendar, credited: Decimal | None) -> Change:
    """POST /tickets/{id}/remedy-answer: the customer's answer to the remedy waiting for it."""
    ensure_allowed("remedy-answer", row["status"], proposal is not None)
    assert proposal is not None  # ensure_allowed: remedy-answer needs a pending remedy
    answered = {"id": proposal.remedy_id, "accepted": body.accepted, "answered_at": now,
                "answer_comment": body.comment}
    events: list[Event] = [TicketRemedyAnswered(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"],
                                                remedy_id=proposal.remedy_id, accepted=body.accepted,
                                                comment=body.comment, by=by)]
    detail: dict[str, Any] = {**proposal.as_detail(), "customer_answer": "accepted" if body.accepted else "rejected",
                              "answer_comment": body.comment}
    clocks = clocks_of(row)
    if not body.accepted:
        events.append(_status_changed(row, "open", by, now, "the customer rejected the remedy"))
        return Change(updated(with_clocks(row, sla.resume(clocks, now, cal)), status="open"), events,
                      "remedy_answered", detail, activity_event=0, answered_remedy=answered)
    resolved, event, new_prevention = _resolve(dict(row), clocks, proposal, by=by, now=now, cal=cal,
                                               action_id=action_id, credited=credited)
    events.append(event)
    detail["compensation_credited"] = str(event.compensation) if event.compensation is not None else None
    return Change(resolved, events, "resolved", detail, answered_remedy=answered, new_prevention=new_prevention)


def reopen(row: Mapping[str, Any], body: Reopening, *, by: str, now: datetime, policy: sla.Policy,
           cal: sla.Calendar) -> Change:
    """Resolved or closed → open, with a fresh resolution clock of the policy's full time from now."""
    ensure_allowed("reopen", row["status"])
    clocks = sla.reopened(clocks_of(row), policy, now, cal)
    opened = updated(with_clocks(row, clocks), status="open", resolution_breached_at=None, resolved_at=None,
                     resolved_by=None, closed_at=None, reopened_count=row["reopened_count"] + 1)
    event = TicketReopened(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], by=by,
                           reason=body.reason)
    return Change(opened, [event], "reopened", {"reason": body.reason, "previous_status": row["status"],
                                                "reopened_count": opened["reopened_count"]})


def record_satisfaction(row: Mapping[str, Any], body: Satisfaction, *, by: str, now: datetime) -> Change:
    """A resolved ticket's satisfaction closes it."""
    ensure_allowed("satisfaction", row["status"])
    closed = updated(row, status="closed", closed_at=now, due_at=None, satisfaction=body.score,
                     satisfaction_comment=body.comment)
    event = TicketSatisfactionRecorded(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"],
                                       score=body.score, comment=body.comment, by=by)
    return Change(closed, [event], "satisfaction", {"score": body.score, "comment": body.comment})


def _status_changed(row: Mapping[str, Any], status: Literal["open", "waiting_on_customer", "closed"], by: str,
                    now: datetime, reason: str) -> TicketStatusChanged:
    return TicketStatusChanged(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], status=status,
                               previous_status=row["status"], by=by, reason=reason)

