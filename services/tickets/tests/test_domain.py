"""Ticket rules: complaints, feedback and service requests, and when each is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.tickets.domain import sla
from services.tickets.domain.tickets import NewTicket, TicketInFuture
from services.tickets.domain.tickets import open_ticket as _open_ticket
from shared.events import ComplaintFiled, FeedbackReceived, ServiceRequested

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000002")


def _ticket(kind: str, **fields: Any) -> NewTicket:
    return NewTicket.model_validate(
        {"customer_id": CUSTOMER, "kind": kind, "channel": "phone", "subject": "Kettle leaks", **fields}
    )


ALWAYS_OPEN = sla.Calendar(ZoneInfo("UTC"), {d: sla.parse_hours([["00:00", "24:00"]]) for d in range(1, 8)}, {})
# The default policies of migration 0004, in business minutes (here every minute is one).
POLICIES = {("complaint", "critical"): sla.Policy(60, 540), ("complaint", "high"): sla.Policy(120, 1080),
            ("complaint", "normal"): sla.Policy(240, 1620), ("complaint", "low"): sla.Policy(480, 2700),
            ("service_request", "normal"): sla.Policy(540, 2700), ("feedback", "normal"): sla.Policy(None, None)}


def open_ticket(new: NewTicket, *, ticket_id: uuid.UUID, now: datetime, owner: str | None = None) -> tuple[Any, Any]:
    """The row as a namespace (ticket.due_at …) and the event, with the default policies, always open."""
    policy = POLICIES.get((new.kind, new.priority or new.severity or "normal"), sla.Policy(None, None))
    row, event = _open_ticket(new, ticket_id=ticket_id, now=now, policy=policy, calendar=ALWAYS_OPEN, owner=owner)
    return SimpleNamespace(**row), event


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.value.errors())


# --- due dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "minutes"),
    [("critical", 60), ("high", 120), ("normal", 240), ("low", 480)],
)
def test_complaint_is_due_a_first_response_within_the_time_its_severity_sets(severity: str, minutes: int) -> None:
    ticket, _ = open_ticket(_ticket("complaint", severity=severity), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.due_at == ticket.first_response_due_at == NOW + timedelta(minutes=minutes)
    assert ticket.severity == ticket.priority == severity


def test_complaint_without_severity_is_normal() -> None:
    ticket, event = open_ticket(_ticket("complaint"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.severity == "normal"
    assert ticket.resolution_due_at == NOW + timedelta(minutes=1620)
    assert isinstance(event, ComplaintFiled)
    assert event.severity == "normal"


def test_priority_and_a_different_severity_are_refused_naming_priority() -> None:
    with pytest.raises(Exception, match="differs from severity") as exc:
        open_ticket(_ticket("complaint", severity="low", priority="high"), ticket_id=uuid.uuid4(), now=NOW)
    assert getattr(exc.value, "field", None) == "priority" or "priority" in str(exc.value)


def test_service_request_has_a_priority_but_no_severity() -> None:
    ticket, _ = open_ticket(_ticket("service_request"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.due_at == NOW + timedelta(minutes=540)
    assert ticket.severity is None and ticket.priority == "normal"
    assert ticket.status == "open"


def test_feedback_without_a_policy_is_due_never_and_resolved_at_once() -> None:
    ticket, _ = open_ticket(_ticket("feedback", satisfaction=2), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.due_at is None
    assert ticket.status == "resolved"
    assert ticket.severity is None
    assert ticket.satisfaction == 2


def test_complaint_is_open_until_answered() -> None:
    ticket, _ = open_ticket(_ticket("complaint", severity="high"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.status == "open"


def test_due_time_counts_from_when_the_customer_raised_it_not_when_it_was_keyed_in() -> None:
    raised = NOW - timedelta(hours=3)
    ticket, _ = open_ticket(_ticket("complaint", severity="critical", occurred_at=raised), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.occurred_at == raised
    assert ticket.recorded_at == NOW
    assert ticket.due_at == raised + timedelta(minutes=60)


def test_a_new_ticket_goes_to_the_customers_owner_else_the_service_queue() -> None:
    owned, _ = open_ticket(_ticket("complaint"), ticket_id=uuid.uuid4(), now=NOW, owner="li")
    pooled, _ = open_ticket(_ticket("complaint"), ticket_id=uuid.uuid4(), now=NOW, owner=None)
    named, _ = open_ticket(_ticket("complaint", assignee="wang"), ticket_id=uuid.uuid4(), now=NOW, owner="li")
    queued, _ = open_ticket(_ticket("complaint", queue="after-sales"), ticket_id=uuid.uuid4(), now=NOW, owner="li")
    assert (owned.assignee, owned.queue) == ("li", None)
    assert (pooled.assignee, pooled.queue) == (None, "service")
    assert (named.assignee, named.queue) == ("wang", None)
    assert (queued.assignee, queued.queue) == (None, "after-sales")


# --- fields that fit the kind ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["feedback", "service_request"])
def test_severity_on_anything_but_a_complaint_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _ticket(kind, severity="high")
    assert "severity applies to complaints only" in _messages(exc)
    assert [e["loc"] for e in exc.value.errors()] == [("severity",)]  # the 422 names the field


@pytest.mark.parametrize("kind", ["complaint", "service_request"])
def test_satisfaction_on_anything_but_feedback_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _ticket(kind, satisfaction=3)
    assert "satisfaction applies to feedback only" in _messages(exc)
    assert [e["loc"] for e in exc.value.errors()] == [("satisfaction",)]


@pytest.mark.parametrize("score", [0, 6, -1])
def test_satisfaction_outside_1_to_5_is_refused(score: int) -> None:
    with pytest.raises(ValidationError) as exc:
        _ticket("feedback", satisfaction=score)
    assert "satisfaction" in _messages(exc)


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "question"), ("severity", "urgent"), ("channel", "Phone"), ("subject", "  "), ("subject", "x" * 201)],
)
def test_invalid_ticket_fields_are_refused(field: str, value: str) -> None:
    fields = {"kind": "complaint", field: value}
    with pytest.raises(ValidationError) as exc:
        _ticket(**fields)
    assert f"{field}:" in _messages(exc)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _ticket("complaint", urgency="p1")
    assert "urgency: Extra inputs are not permitted" in _messages(exc)


# --- business time --------------------------------------------------------------------------


def test_ticket_raised_more_than_five_minutes_ahead_is_refused() -> None:
    with pytest.raises(TicketInFuture, match="in the future"):
        open_ticket(_ticket("complaint", occurred_at=NOW + timedelta(minutes=6)), ticket_id=uuid.uuid4(), now=NOW)


def test_ticket_raised_a_minute_ahead_is_accepted_as_clock_skew() -> None:
    ahead = NOW + timedelta(minutes=1)
    ticket, _ = open_ticket(_ticket("service_request", occurred_at=ahead), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.occurred_at == ahead


def test_occurred_at_defaults_to_now() -> None:
    ticket, event = open_ticket(_ticket("feedback"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.occurred_at == event.occurred_at == ticket.recorded_at == NOW


# --- the events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields", "event_class", "ce_type"),
    [
        ("complaint", {"severity": "critical"}, ComplaintFiled, "kehu.tickets.ComplaintFiled.v1"),
        ("feedback", {"satisfaction": 5}, FeedbackReceived, "kehu.tickets.FeedbackReceived.v1"),
        ("service_request", {}, ServiceRequested, "kehu.tickets.ServiceRequested.v1"),
    ],
)
def test_each_kind_publishes_its_own_event(kind: str, fields: dict[str, Any], event_class: type[Any], ce_type: str) -> None:
    ticket_id = uuid.uuid4()

    ticket, event = open_ticket(
        _ticket(kind, description="Bought last week.", channel="wechat", **fields), ticket_id=ticket_id, now=NOW
    )

    assert type(event) is event_class
    assert event.ce_type() == ce_type
    assert event.topic() == "kehu.tickets"
    assert event.model_dump(include={"customer_id", "ticket_id", "channel", "subject", "description", "occurred_at"}) == {
        "customer_id": CUSTOMER, "ticket_id": ticket_id, "channel": "wechat", "subject": "Kettle leaks",
        "description": "Bought last week.", "occurred_at": NOW,
    }
    assert ticket.id == ticket_id
    assert ticket.kind == kind


def test_complaint_event_carries_the_severity_and_feedback_event_the_satisfaction() -> None:
    _, complaint = open_ticket(_ticket("complaint", severity="low"), ticket_id=uuid.uuid4(), now=NOW)
    _, feedback = open_ticket(_ticket("feedback", satisfaction=4), ticket_id=uuid.uuid4(), now=NOW)
    _, unscored = open_ticket(_ticket("feedback"), ticket_id=uuid.uuid4(), now=NOW)
    assert isinstance(complaint, ComplaintFiled) and complaint.severity == "low"
    assert isinstance(feedback, FeedbackReceived) and feedback.satisfaction == 4
    assert isinstance(unscored, FeedbackReceived) and unscored.satisfaction is None
