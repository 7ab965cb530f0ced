"""Ticket rules: what a valid complaint, feedback or service request is, and when it is due.

A complaint is promised an answer within a time set by its severity; a service request within
two days; feedback needs no answer. The promise is the ticket's ``due_at`` (its SLA clock).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.customer_ref import CustomerByIdentity
from shared.errors import InFuture, Invalid
from shared.events import BusinessTime, Channel, ComplaintFiled, Event, FeedbackReceived, ServiceRequested

Kind = Literal["complaint", "feedback", "service_request"]
Severity = Literal["low", "normal", "high", "critical"]
Status = Literal["open", "resolved", "closed"]

RESPONSE_TIME: dict[Severity, timedelta] = {
    "critical": timedelta(hours=4),
    "high": timedelta(hours=24),
    "normal": timedelta(hours=48),
    "low": timedelta(hours=72),
}
SERVICE_REQUEST_TIME = timedelta(hours=48)
MAX_CLOCK_SKEW = timedelta(minutes=5)


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


class Ticket(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    kind: Kind
    channel: str
    subject: str
    description: str
    severity: Severity | None
    satisfaction: int | None
    status: Status
    occurred_at: datetime
    recorded_at: datetime
    due_at: datetime | None


class TicketInFuture(InFuture):
    field_name = "occurred_at"


def due_at(kind: Kind, severity: Severity | None, occurred_at: datetime) -> datetime | None:
    if kind == "complaint":
        return occurred_at + RESPONSE_TIME[severity or "normal"]
    if kind == "service_request":
        return occurred_at + SERVICE_REQUEST_TIME
    return None


def open_ticket(new: NewTicket, *, ticket_id: uuid.UUID, now: datetime) -> tuple[Ticket, Event]:
    if new.customer_id is None:  # the API resolves `customer` to an id before opening
        raise Invalid.field("customer_id", "required (or the customer as an identity in `customer`)")
    customer_id = new.customer_id
    occurred_at = new.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise TicketInFuture(occurred_at)
    severity: Severity | None = (new.severity or "normal") if new.kind == "complaint" else None
    ticket = Ticket(
        id=ticket_id, customer_id=customer_id, kind=new.kind, channel=new.channel, subject=new.subject,
        description=new.description, severity=severity, satisfaction=new.satisfaction,
        status="resolved" if new.kind == "feedback" else "open",
        occurred_at=occurred_at, recorded_at=now, due_at=due_at(new.kind, severity, occurred_at),
    )
    common = {
        "customer_id": customer_id, "occurred_at": occurred_at, "ticket_id": ticket_id,
        "channel": new.channel, "subject": new.subject, "description": new.description,
    }
    event: Event
    if new.kind == "complaint":
        event = ComplaintFiled(severity=severity or "normal", **common)
    elif new.kind == "feedback":
        event = FeedbackReceived(satisfaction=new.satisfaction, **common)
    else:
        event = ServiceRequested(**common)
    return ticket, event
