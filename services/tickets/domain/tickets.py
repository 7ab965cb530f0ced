"""Ticket rules: what a valid complaint, feedback or service request is, and how it is opened.

Each is promised a first response and a resolution within the times its SLA policy (kind and
priority) sets, in the shop's business hours (``sla``); feedback without a policy needs no answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.tickets.domain import sla
from shared.customer_ref import CustomerByIdentity
from shared.errors import InFuture, Invalid
from shared.events import (
    BusinessTime,
    Channel,
    ComplaintFiled,
    Event,
    FeedbackReceived,
    Money,
    Remedy,
    Responsibility,
    ServiceRequested,
    ServiceType,
    SlaClock,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)

Kind = Literal["complaint", "feedback", "service_request"]
Severity = Literal["low", "normal", "high", "critical"]
Status = TicketStatus

MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_QUEUE = "service"  # where a ticket waits when the customer has no owner (the pool)


class NewTicket(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: uuid.UUID | None = Field(None, description="kehu's id of the customer; or give `customer`.")
    customer: CustomerByIdentity | None = Field(
        None, description="Instead of `customer_id`: the customer as any identity (a phone, a membership card, a "
        "WeChat id), resolved through contacts (registered if asked). The ticket stores the resolved id.")
    kind: Kind
    channel: Channel
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    severity: Severity | None = Field(None, description="Complaints only (default normal); sets the promised time.")
    satisfaction: int | None = Field(None, ge=1, le=5, description="Feedback only: 1 (very unhappy) to 5.")
    occurred_at: BusinessTime | None = Field(None, description="When the customer raised it (default: now).")
    priority: TicketPriority | None = Field(
        None, description="low, normal (default), high or critical: picks the promised times (SLA policy). "
        "For a complaint the same as `severity`.")
    category: TicketCategory | None = Field(None, description="What it is about (default other).")
    order_id: uuid.UUID | None = Field(None, description="The order it concerns, if any.")
    service_type: ServiceType | None = Field(None, description="Service requests: warranty, repair, return, question.")
    assignee: str | None = Field(None, min_length=1, max_length=200,
                                 description="Who handles it (default: the customer's owner, else the queue).")
    queue: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$",
                              description="A team queue instead of a person (default `service`).")

    @field_validator("severity")
    @classmethod
    def _severity_for_complaints(cls, value: Severity | None, info: ValidationInfo) -> Severity | None:
        if value is not None and info.data.get("kind", "complaint") != "complaint":
            raise ValueError("severity applies to complaints only")
        return value

    @field_validator("satisfaction")
    @classmethod
    def _satisfaction_for_feedback(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("kind", "feedback") != "feedback":
            raise ValueError("satisfaction applies to feedback only")
        return value


class SlaView(BaseModel):
    """The running clock as a person sees it at ``as_of`` (``sla.view``): the console's countdown."""

    clock: SlaClock | None = Field(description="first_response until someone answers, then resolution; "
                                   "null when no clock runs (resolved, no policy).")
    due_at: datetime | None
    business_seconds_left: float | None = Field(
        description="Business time left at as_of, in seconds; negative once breached; null without a clock.")
    breached: bool
    paused: bool = Field(description="Waiting on the customer: the resolution clock stands still.")
    as_of: datetime


class Ticket(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    kind: Kind
    channel: str
    subject: str
    description: str
    severity: Severity | None = Field(description="Complaints: the priority (kept under its first name).")
    priority: TicketPriority
    category: TicketCategory
    service_type: ServiceType | None
    order_id: uuid.UUID | None
    satisfaction: int | None
    satisfaction_comment: str | None
    status: Status
    occurred_at: datetime
    recorded_at: datetime
    due_at: datetime | None = Field(description="The running clock's due time (see `sla`).")
    assignee: str | None
    queue: str | None
    escalated_to: str | None
    escalated_at: datetime | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    resolution_due_at: datetime | None
    paused_at: datetime | None
    sla: SlaView
    responsibility: Responsibility | None
    apology_given: bool | None
    resolution: str | None
    remedy: Remedy | None
    remedy_detail: str | None
    compensation: Money | None
    resolved_at: datetime | None
    resolved_by: str | None
    closed_at: datetime | None
    reopened_count: int


def clocks_of(row: Mapping[str, Any]) -> sla.Clocks:
    """A tickets row's SLA state."""
    left = row["resolution_left_s"]
    return sla.Clocks(first_response_due_at=row["first_response_due_at"], first_response_at=row["first_response_at"],
                      resolution_due_at=row["resolution_due_at"], paused_at=row["paused_at"],
                      resolution_left_s=float(left) if left is not None else None)


def ticket_of(row: Mapping[str, Any], as_of: datetime, calendar: sla.Calendar) -> Ticket:
    """The API's ticket from a ``tickets`` row (all columns), its clock seen at ``as_of``."""
    clock = sla.view(clocks_of(row), row["status"] in ("resolved", "closed"), as_of, calendar)
    fields = {name: row[name] for name in Ticket.model_fields if name != "sla"}
    return Ticket(**fields, sla=SlaView(clock=clock.clock, due_at=clock.due_at,
                                        business_seconds_left=clock.business_seconds_left,
                                        breached=clock.breached, paused=clock.paused, as_of=as_of))


class TicketInFuture(InFuture):
    field_name = "occurred_at"


def priority_of(new: NewTicket) -> TicketPriority:
    """Every ticket has a priority; a complaint's is its severity (its first name)."""
    if new.priority and new.severity and new.priority != new.severity:
        raise Invalid.field("priority", f"differs from severity {new.severity!r}: give one of them")
    return new.priority or new.severity or "normal"


def open_ticket(new: NewTicket, *, ticket_id: uuid.UUID, now: datetime, policy: sla.Policy,
                calendar: sla.Calendar, owner: str | None) -> tuple[dict[str, Any], Event]:
    """The new ``tickets`` row (column → value) and its event. ``owner``: the customer's owner from
    the replica, who handles it unless the request names someone or a queue; else the service queue.
    Feedback without a promised time (its policy has no clock) is resolved at once."""
    if new.customer_id is None:  # the API resolves `customer` to an id before opening
        raise Invalid.field("customer_id", "required (or the customer as an identity in `customer`)")
    customer_id = new.customer_id
    occurred_at = new.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise TicketInFuture(occurred_at)
    priority = priority_of(new)
    severity: Severity | None = priority if new.kind == "complaint" else None
    no_clock = policy.first_response_min is None and policy.resolution_min is None
    done_at_once = new.kind == "feedback" and no_clock
    clocks = sla.start(policy, occurred_at, calendar) if not done_at_once else sla.start(sla.Policy(None, None),
                                                                                            occurred_at, calendar)
    assignee = new.assignee if new.assignee is not None else (owner if new.queue is None else None)
    queue = new.queue if new.queue is not None else (None if assignee else DEFAULT_QUEUE)
    row: dict[str, Any] = {
        "id": ticket_id, "customer_id": customer_id, "kind": new.kind, "channel": new.channel,
        "subject": new.subject, "description": new.description, "severity": severity, "priority": priority,
        "category": new.category or "other", "service_type": new.service_type, "order_id": new.order_id,
        "satisfaction": new.satisfaction, "status": "resolved" if done_at_once else "open",
        "occurred_at": occurred_at, "recorded_at": now, "due_at": clocks.due_at,
        "assignee": assignee, "queue": queue,
        "first_response_due_at": clocks.first_response_due_at, "resolution_due_at": clocks.resolution_due_at,
        "resolved_at": occurred_at if done_at_once else None,
    }
    common = {
        "customer_id": customer_id, "occurred_at": occurred_at, "ticket_id": ticket_id,
        "channel": new.channel, "subject": new.subject, "description": new.description,
        "priority": priority, "category": new.category, "order_id": new.order_id, "assignee": assignee,
        "queue": queue,
    }
    event: Event
    if new.kind == "complaint":
        event = ComplaintFiled(severity=priority, **common)
    elif new.kind == "feedback":
        event = FeedbackReceived(satisfaction=new.satisfaction, **common)
    else:
        event = ServiceRequested(service_type=new.service_type, **common)
    return row, event
