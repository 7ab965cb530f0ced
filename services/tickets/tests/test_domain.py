"""Ticket rules: complaints, feedback and service requests, and when each is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.tickets.domain.tickets import NewTicket, TicketInFuture, due_at, open_ticket
from shared.events import ComplaintFiled, FeedbackReceived, ServiceRequested

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000002")


def _ticket(kind: str, **fields: Any) -> NewTicket:
    return NewTicket.model_validate(
        {"customer_id": CUSTOMER, "kind": kind, "channel": "phone", "subject": "Kettle leaks", **fields}
    )


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.value.errors())


# --- due dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "hours"),
    [("critical", 4), ("high", 24), ("normal", 48), ("low", 72)],
)
def test_complaint_is_due_within_the_time_its_severity_sets(severity: str, hours: int) -> None:
    ticket, _ = open_ticket(_ticket("complaint", severity=severity), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.due_at == NOW + timedelta(hours=hours)
    assert ticket.severity == severity


def test_complaint_without_severity_is_normal_and_due_in_48_hours() -> None:
    ticket, event = open_ticket(_ticket("complaint"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.severity == "normal"
    assert ticket.due_at == NOW + timedelta(hours=48)
    assert isinstance(event, ComplaintFiled)
    assert event.severity == "normal"


def test_service_request_is_due_in_48_hours_and_has_no_severity() -> None:
    ticket, _ = open_ticket(_ticket("service_request"), ticket_id=uuid.uuid4(), now=NOW)
    assert ticket.due_at == NOW + timedelta(hours=48)
    assert ticket.severity is None
    assert ticket.status == "open"


def test_feedback_is_due_never_and_resolved_at_once() -> None:
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
    assert ticket.due_at == raised + timedelta(hours=4)


def test_due_at_function_matches_the_promises() -> None:
    assert due_at("complaint", None, NOW) == NOW + timedelta(hours=48)
    assert due_at("complaint", "low", NOW) == NOW + timedelta(hours=72)
    assert due_at("service_request", None, NOW) == NOW + timedelta(hours=48)
    assert due_at("feedback", None, NOW) is None


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
        _ticket("complaint", priority="p1")
    assert "priority: Extra inputs are not permitted" in _messages(exc)


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
def test_each_kind_publishes_its_own_event(kind: str, fields: dict[str, Any], event_class: type, ce_type: str) -> None:
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
