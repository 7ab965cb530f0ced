"""Handling a ticket: who has it (assignment, escalation), answering the customer, investigation
notes, waiting on the customer and closing by hand; and the ticket as its detail page shows it.
No I/O. What is allowed in which status: ``resolution.allowed_actions``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.tickets.domain import sla
from services.tickets.domain.resolution import Action, Change, ensure_allowed, updated, with_clocks
from services.tickets.domain.tickets import MAX_CLOCK_SKEW, Ticket, clocks_of
from shared.edge import NON_BLANK
from shared.errors import InFuture, Invalid
from shared.events import (
    BusinessTime,
    Money,
    PreventionActionCompleted,
    Remedy,
    Responsibility,
    TicketAssigned,
    TicketCategory,
    TicketEscalated,
    TicketNoteAdded,
    TicketResponded,
    TicketStatusChanged,
)


class Assignment(BaseModel):
    """Exactly one of ``assignee`` (a person's id) and ``queue`` (a team queue)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    assignee: str | None = Field(None, min_length=1, max_length=200, pattern=NON_BLANK,
                                 description="The person who handles it from now on (a person's id).")
    queue: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$",
                              description="Or a team queue (nobody in person until someone takes it).")
    reason: str = Field("", max_length=1000)


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: str = Field(min_length=1, max_length=200, pattern=NON_BLANK,
                    description="The manager who takes it over (a person's id).")
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


class CustomerResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    message: str = Field(min_length=1, max_length=10_000, pattern=NON_BLANK,
                         description="What the customer was told.")
    occurred_at: BusinessTime | None = Field(None, description="When (a call made earlier); default now.")


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(min_length=1, max_length=10_000, pattern=NON_BLANK)
    responsibility: Responsibility | None = Field(None, description="The finding so far: whose fault it is.")
    category: TicketCategory | None = Field(None, description="What it is about, if found out.")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: Literal["open", "waiting_on_customer", "closed"] = Field(
        description="waiting_on_customer pauses the resolution clock, open resumes it; closed by hand "
        "(from open or waiting: a reason is required). Resolving and reopening have their own routes.")
    reason: str = Field("", max_length=1000)


class PreventionDone(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field("", max_length=2000)


class ResponseInFuture(InFuture):
    field_name = "occurred_at"


def _handling(action: Action, row: Mapping[str, Any]) -> None:
    ensure_allowed(action, row["status"])


def assign(row: Mapping[str, Any], body: Assignment, *, by: str, now: datetime) -> Change | None:
    """To a person or a queue; None when it already is there (nothing happens)."""
    if (body.assignee is None) == (body.queue is None):
        raise Invalid.field("assignee", "give either assignee (a person) or queue (a team), not both")
    _handling("assign", row)
    if (body.assignee, body.queue) == (row["assignee"], row["queue"]):
        return None
    event = TicketAssigned(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"],
                           assignee=body.assignee, queue=body.queue, previous_assignee=row["assignee"], by=by,
                           reason=body.reason)
    return Change(updated(row, assignee=body.assignee, queue=body.queue), [event], "assigned",
                  {"assignee": body.assignee, "queue": body.queue, "previous_assignee": row["assignee"],
                   "previous_queue": row["queue"], "reason": body.reason})


def escalate(row: Mapping[str, Any], body: Escalation, *, by: str, now: datetime) -> Change:
    """The manager ``to`` takes it over: the assignee from now on."""
    _handling("escalate", row)
    event = TicketEscalated(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], to=body.to, by=by,
                            reason=body.reason)
    return Change(updated(row, assignee=body.to, queue=None, escalated_to=body.to, escalated_at=now), [event],
                  "escalated", {"to": body.to, "previous_assignee": row["assignee"], "reason": body.reason})


def respond(row: Mapping[str, Any], body: CustomerResponse, *, by: str, now: datetime) -> Change:
    """Someone answered the customer; the first answer stops the first-response clock."""
    _handling("responses", row)
    at = body.occurred_at or now
    if at > now + MAX_CLOCK_SKEW:
        raise ResponseInFuture(at)
    if at < row["occurred_at"]:
        raise Invalid.field("occurred_at", f"before the customer raised the ticket ({row['occurred_at'].isoformat()})")
    first = row["first_response_at"] is None
    clocks = sla.responded(clocks_of(row), at)
    event = TicketResponded(customer_id=row["customer_id"], occurred_at=at, ticket_id=row["id"], by=by,
                            message=body.message, first=first)
    return Change(with_clocks(row, clocks), [event], "responded", {"message": body.message, "first": first})


def note(row: Mapping[str, Any], body: Note, *, by: str, now: datetime) -> Change:
    """An investigation note, in any status; it may record the finding (responsibility, category)."""
    _handling("notes", row)
    event = TicketNoteAdded(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"], by=by,
                            note=body.note, responsibility=body.responsibility, category=body.category)
    return Change(updated(row, responsibility=body.responsibility or row["responsibility"],
                          category=body.category or row["category"]), [event], "note",
                  {"note": body.note, "responsibility": body.responsibility, "category": body.category})


WITHDRAWN = "withdrawn: the ticket was closed by hand"


def change_status(row: Mapping[str, Any], body: StatusChange, *, by: str, now: datetime, cal: sla.Calendar,
                  pending_remedy: uuid.UUID | None = None) -> Change | None:
    """open ⇄ waiting_on_customer (the resolution clock pauses and resumes), or closed by hand
    (a remedy still waiting for its answer, ``pending_remedy``, is withdrawn: answered, neither
    accepted nor rejected). None when the ticket already has the status."""
    if body.status == row["status"]:
        return None
    ensure_allowed(f"status:{body.status}", row["status"], pending_remedy is not None)  # type: ignore[arg-type]
    withdrawn = None
    clocks = clocks_of(row)
    if body.status == "waiting_on_customer":
        changed = updated(with_clocks(row, sla.pause(clocks, now, cal)), status=body.status)
    elif body.status == "open":
        changed = updated(with_clocks(row, sla.resume(clocks, now, cal)), status=body.status)
    else:
        if row["status"] != "resolved" and not body.reason:
            raise Invalid.field("reason", "required to close a ticket that was not resolved (a duplicate, …)")
        changed = updated(row, status="closed", closed_at=now, due_at=None)
        if pending_remedy is not None:
            withdrawn = {"id": pending_remedy, "accepted": None, "answered_at": now, "answer_comment": WITHDRAWN}
    event = TicketStatusChanged(customer_id=row["customer_id"], occurred_at=now, ticket_id=row["id"],
                                status=body.status, previous_status=row["status"], by=by, reason=body.reason)
    return Change(changed, [event], "status", {"status": body.status, "previous_status": row["status"],
                                               "reason": body.reason}, answered_remedy=withdrawn)


def complete_prevention(action: Mapping[str, Any], customer_id: uuid.UUID, body: PreventionDone, *, by: str,
                        now: datetime) -> PreventionActionCompleted | None:
    """A prevention action done; None when it already was (nothing happens again)."""
    if action["done_at"] is not None:
        return None
    return PreventionActionCompleted(customer_id=customer_id, occurred_at=now, ticket_id=action["ticket_id"],
                                     action_id=action["id"], category=action["category"], by=by, note=body.note)


# --- the ticket as the detail page shows it ---------------------------------------------------


class ActivityEntry(BaseModel):
    seq: int
    at: datetime
    by: str
    action: str = Field(description="opened, assigned, escalated, responded, note, status, remedy_proposed, "
                        "remedy_answered, resolved, reopened, satisfaction, prevention_done, sla_breached")
    detail: dict[str, Any]


class RemedyView(BaseModel):
    id: uuid.UUID
    remedy: Remedy
    detail: str
    compensation: Money | None
    proposed_at: datetime
    proposed_by: str
    accepted: bool | None = Field(description="null: not answered — still waiting (`answered_at` null) or "
                                  "withdrawn when the ticket was closed by hand.")
    answered_at: datetime | None
    answer_comment: str


class PreventionActionView(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    category: str
    action: str
    owner: str
    due_on: date
    created_at: datetime
    done_at: datetime | None
    done_by: str | None
    done_note: str
    overdue: bool = Field(description="Not done and its due date is before today (the shop's date at as_of).")


class PreventionListItem(PreventionActionView):
    customer_id: uuid.UUID
    subject: str = Field(description="The ticket's subject.")
    ticket_category: str = Field(description="The ticket's category now (`category`: when the action was agreed).")
    ticket_status: str


def prevention_view(row: Mapping[str, Any], today: date) -> dict[str, Any]:
    fields = {name: row[name] for name in PreventionActionView.model_fields if name != "overdue"}
    return {**fields, "overdue": row["done_at"] is None and row["due_on"] < today}


class TicketDetail(Ticket):
    allowed_actions: list[str] = Field(
        description="What may happen next, named as the routes: assign, escalate, responses, notes, status:open, "
        "status:waiting_on_customer, status:closed, resolution, remedy-answer, reopen, satisfaction.")
    compensation_credited: Money | None = Field(
        description="What orders credits for this ticket: the first accepted compensation (once per ticket; "
        "a later one after a reopen is not paid again).")
    activity: list[ActivityEntry] = Field(description="Everything that happened to it, oldest first.")
    remedies: list[RemedyView] = Field(description="Remedies put to the customer and their answers, oldest first.")
    prevention_actions: list[PreventionActionView]


def today_in(cal: sla.Calendar, at: datetime) -> date:
    """The shop's date at ``at``."""
    return at.astimezone(cal.zone).date()
