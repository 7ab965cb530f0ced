"""A ticket's life as pure rules: which step is allowed in which status (the state machine), the
resolution's rules (responsibility, compensation, prevention), the clocks each step moves, and
compensation credited once per ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.tickets.domain import lifecycle, sla
from services.tickets.domain import resolution as rules
from services.tickets.domain.resolution import ResolutionRequest, allowed_actions
from services.tickets.domain.tickets import NewTicket, open_ticket
from shared.errors import Conflict, Invalid

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday
TODAY = NOW.date()
# Every hour a business hour: business time is wall time, so the clocks are easy to follow.
ALWAYS_OPEN = sla.Calendar(ZoneInfo("UTC"), {d: sla.parse_hours([["00:00", "24:00"]]) for d in range(1, 8)}, {})
COMPLAINT_NORMAL = sla.Policy(240, 1620)
REST = {"first_response_at": None, "first_response_breached_at": None, "resolution_breached_at": None,
        "paused_at": None, "resolution_left_s": None, "escalated_to": None, "escalated_at": None,
        "responsibility": None, "apology_given": None, "resolution": None, "remedy": None, "remedy_detail": None,
        "compensation": None, "resolved_by": None, "closed_at": None, "reopened_count": 0,
        "satisfaction_comment": None}


def ticket(kind: str = "complaint", **columns: Any) -> dict[str, Any]:
    """A tickets row as the database holds it, opened at NOW - 1 h with the default policy."""
    new = NewTicket.model_validate({"customer_id": uuid.uuid4(), "kind": kind, "channel": "phone", "subject": "Cup"})
    row, _ = open_ticket(new, ticket_id=uuid.uuid4(), now=NOW - timedelta(hours=1), policy=COMPLAINT_NORMAL,
                         calendar=ALWAYS_OPEN, owner="wang")
    return {**REST, **row, **columns}


def resolution(**fields: Any) -> ResolutionRequest:
    body = {"responsibility": "ours", "apology_given": True, "remedy": "refund", "compensation": "20.00",
            "resolution": "refunded the cracked cup", "customer_answer": "accepted", **fields}
    return ResolutionRequest.model_validate(body)


def propose(row: dict[str, Any], body: ResolutionRequest, *, credited: Decimal | None = None,
            pending: bool = False, now: datetime = NOW) -> rules.Change:
    return rules.propose(row, body, remedy_id=uuid.uuid4(), action_id=uuid.uuid4(), by="li", now=now, today=TODAY,
                         cal=ALWAYS_OPEN, credited=credited, remedy_pending=pending)


def types(change: rules.Change) -> list[str]:
    return [type(e).__name__ for e in change.events]


# --- the state machine ----------------------------------------------------------------------


def test_what_each_status_allows() -> None:
    handling = ["assign", "escalate", "responses", "notes"]
    assert allowed_actions("open") == [*handling, "status:waiting_on_customer", "status:closed", "resolution"]
    assert allowed_actions("waiting_on_customer") == [*handling, "status:open", "resolution", "status:closed"]
    assert allowed_actions("waiting_on_customer", remedy_pending=True) == [*handling, "remedy-answer",
                                                                          "status:closed"]
    assert allowed_actions("resolved") == ["notes", "satisfaction", "reopen", "status:closed"]
    assert allowed_actions("closed") == ["notes", "reopen"]


@pytest.mark.parametrize(("action", "status", "pending"), [
    ("satisfaction", "open", False), ("reopen", "open", False), ("resolution", "resolved", False),
    ("resolution", "waiting_on_customer", True), ("remedy-answer", "waiting_on_customer", False),
    ("remedy-answer", "open", False), ("assign", "closed", False), ("responses", "resolved", False),
    ("status:open", "waiting_on_customer", True), ("satisfaction", "closed", False),
])
def test_a_step_not_allowed_is_a_409_naming_the_status_and_what_is_allowed(action: rules.Action, status: str,
                                                                          pending: bool) -> None:
    with pytest.raises(Conflict) as refused:
        rules.ensure_allowed(action, status, pending)
    assert refused.value.extra == {"allowed": allowed_actions(status, pending), "status_now": status}
    assert action not in refused.value.extra["allowed"]


# --- the resolution's rules -------------------------------------------------------------------


def test_a_complaint_needs_its_responsibility_and_feedback_does_not() -> None:
    with pytest.raises(Invalid) as refused:
        propose(ticket(), resolution(responsibility=None))
    assert refused.value.errors is not None and refused.value.errors[0].field == "responsibility"
    assert propose(ticket("service_request"), resolution(responsibility=None)).row["status"] == "resolved"


def test_an_explanation_only_comes_without_compensation() -> None:
    with pytest.raises(Invalid) as refused:
        propose(ticket(), resolution(remedy="explanation"))
    assert refused.value.errors is not None and refused.value.errors[0].field == "compensation"
    assert propose(ticket(), resolution(remedy="explanation", compensation=None)).row["status"] == "resolved"


def test_a_prevention_action_is_not_due_before_today() -> None:
    late = {"action": "pack cups in foam", "owner": "zhao", "due_on": str(TODAY - timedelta(days=1))}
    with pytest.raises(Invalid) as refused:
        propose(ticket(), resolution(prevention=late))
    assert refused.value.errors is not None and refused.value.errors[0].field == "prevention.due_on"
    assert propose(ticket(), resolution(prevention={**late, "due_on": str(TODAY)})).new_prevention is not None


@pytest.mark.parametrize(("fields", "field"), [
    ({"resolution": "   "}, "resolution"), ({"remedy": "voucher"}, "remedy"), ({"customer_answer": "maybe"},
                                                                                  "customer_answer"),
    ({"compensation": "-1"}, "compensation"), ({"prevention": {"action": "x", "owner": "", "due_on": "2030-01-01"}},
                                               "prevention.owner"),
])
def test_a_bad_field_of_a_resolution_is_named(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        resolution(**fields)
    assert ".".join(str(p) for p in refused.value.errors()[0]["loc"]) == field


def test_a_score_outside_1_to_5_is_refused_naming_score() -> None:
    for score in (0, 6):
        with pytest.raises(ValidationError) as refused:
            rules.Satisfaction.model_validate({"score": score})
        assert refused.value.errors()[0]["loc"] == ("score",)


# --- the customer's answer --------------------------------------------------------------------


def test_an_accepted_remedy_resolves_with_everything_and_its_prevention_action() -> None:
    prevention = {"action": "pack cups in foam", "owner": "zhao", "due_on": "2025-03-31"}
    change = propose(ticket(), resolution(prevention=prevention, category="delivery", remedy_detail="one cup"))
    assert types(change) == ["TicketResponded", "TicketRemedyProposed", "TicketRemedyAnswered", "TicketResolved"]
    resolved = change.events[-1]
    assert resolved.model_dump(include={"kind", "category", "responsibility", "apology_given", "remedy",
                                        "remedy_detail", "compensation", "resolution", "resolved_by"}) == {
        "kind": "complaint", "category": "delivery", "responsibility": "ours", "apology_given": True,
        "remedy": "refund", "remedy_detail": "one cup", "compensation": Decimal("20.00"),
        "resolution": "refunded the cracked cup", "resolved_by": "li"}
    assert change.new_prevention is not None and resolved.prevention is not None  # type: ignore[attr-defined]
    assert resolved.prevention.action_id == change.new_prevention["id"]  # type: ignore[attr-defined]
    assert (change.row["status"], change.row["resolved_at"], change.row["due_at"]) == ("resolved", NOW, None)
    assert change.row["first_response_at"] == NOW  # putting a remedy to the customer answered them
    assert change.new_remedy is not None and change.new_remedy["accepted"] is True
    assert change.action == "resolved" and change.activity_event == -1


def test_a_rejected_remedy_keeps_the_ticket_open_and_its_clock_running() -> None:
    responded = ticket(first_response_at=NOW - timedelta(minutes=30))
    responded["due_at"] = responded["resolution_due_at"]
    change = propose(responded, resolution(customer_answer="rejected", answer_comment="wants a new set"))
    assert types(change) == ["TicketRemedyProposed", "TicketRemedyAnswered"]
    assert change.events[1].accepted is False  # type: ignore[attr-defined]
    assert change.row["status"] == "open" and change.row["due_at"] == responded["resolution_due_at"]
    assert change.new_prevention is None and change.action == "remedy_answered"
    assert change.events[change.activity_event] is change.events[1]


def test_a_pending_answer_waits_on_the_customer_with_the_resolution_clock_paused_then_resumes() -> None:
    row = ticket(first_response_at=NOW - timedelta(minutes=30))
    due = row["resolution_due_at"]  # 27 business hours after opening: 26 left at NOW
    change = propose(row, resolution(customer_answer="pending"))
    assert types(change) == ["TicketRemedyProposed", "TicketStatusChanged"]
    waiting = change.row
    assert (waiting["status"], waiting["paused_at"], waiting["due_at"]) == ("waiting_on_customer", NOW, None)
    assert waiting["resolution_left_s"] == (due - NOW).total_seconds() == 26 * 3600
    assert change.action == "remedy_proposed" and change.events[change.activity_event] is change.events[0]
    proposal = rules.Proposal.from_detail(change.detail)
    assert (proposal.remedy, proposal.compensation, proposal.responsibility) == ("refund", Decimal("20.00"), "ours")

    # the customer says no two hours later: open again, with exactly the time that was left
    later = NOW + timedelta(hours=2)
    refused = rules.answer(waiting, proposal, rules.RemedyAnswer(accepted=False), action_id=uuid.uuid4(), by="li",
                           now=later, cal=ALWAYS_OPEN, credited=None)
    assert types(refused) == ["TicketRemedyAnswered", "TicketStatusChanged"]
    assert refused.row["status"] == "open" and refused.row["due_at"] == later + timedelta(hours=26)
    assert refused.answered_remedy == {"id": proposal.remedy_id, "accepted": False, "answered_at": later,
                                       "answer_comment": ""}

    # or yes: resolved with what was proposed
    agreed = rules.answer(waiting, proposal, rules.RemedyAnswer(accepted=True, comment="ok"), action_id=uuid.uuid4(),
                          by="li", now=later, cal=ALWAYS_OPEN, credited=None)
    assert types(agreed) == ["TicketRemedyAnswered", "TicketResolved"]
    assert agreed.events[1].compensation == Decimal("20.00")  # type: ignore[attr-defined]
    assert (agreed.row["status"], agreed.row["paused_at"], agreed.row["due_at"]) == ("resolved", None, None)


def test_no_remedy_answer_without_a_remedy_waiting() -> None:
    with pytest.raises(Conflict):
        rules.answer(ticket(status="waiting_on_customer"), None, rules.RemedyAnswer(accepted=True),
                     action_id=uuid.uuid4(), by="li", now=NOW, cal=ALWAYS_OPEN, credited=None)


def test_a_new_resolution_waits_for_the_answer_to_the_remedy_pending() -> None:
    with pytest.raises(Conflict) as refused:
        propose(ticket(status="waiting_on_customer"), resolution(), pending=True)
    assert "remedy-answer" in refused.value.extra["allowed"]


# --- compensation credited once ---------------------------------------------------------------


def test_compensation_is_credited_once_per_ticket() -> None:
    assert rules.paid(Decimal("20.00"), None) == Decimal("20.00")
    assert rules.paid(Decimal("50.00"), Decimal("20.00")) is None  # after a reopen: not paid again
    assert rules.paid(Decimal("0.00"), None) is None and rules.paid(None, None) is None
    again = propose(ticket(), resolution(compensation="50.00"), credited=Decimal("20.00"))
    assert again.events[-1].compensation is None  # type: ignore[attr-defined]
    assert again.row["compensation"] == Decimal("50.00") and again.detail["compensation_credited"] is None


# --- reopen, satisfaction ---------------------------------------------------------------------


def test_a_reopen_starts_a_fresh_resolution_clock_and_counts() -> None:
    resolved = ticket(status="resolved", first_response_at=NOW - timedelta(minutes=50), resolved_at=NOW,
                      resolution_breached_at=NOW, due_at=None)
    later = NOW + timedelta(days=3)
    change = rules.reopen(resolved, rules.Reopening(reason="cracked again"), by="li", now=later,
                          policy=COMPLAINT_NORMAL, cal=ALWAYS_OPEN)
    assert types(change) == ["TicketReopened"]
    row = change.row
    assert (row["status"], row["reopened_count"], row["resolved_at"], row["resolution_breached_at"]) == (
        "open", 1, None, None)
    assert row["resolution_due_at"] == row["due_at"] == later + timedelta(minutes=1620)
    with pytest.raises(Conflict):
        rules.reopen(ticket(), rules.Reopening(reason="x"), by="li", now=later, policy=COMPLAINT_NORMAL,
                     cal=ALWAYS_OPEN)


def test_satisfaction_closes_a_resolved_ticket_only() -> None:
    change = rules.record_satisfaction(ticket(status="resolved"), rules.Satisfaction(score=4, comment="quick"),
                                       by="li", now=NOW)
    assert types(change) == ["TicketSatisfactionRecorded"]
    assert (change.row["status"], change.row["satisfaction"], change.row["closed_at"]) == ("closed", 4, NOW)
    for status in ("open", "waiting_on_customer", "closed"):
        with pytest.raises(Conflict):
            rules.record_satisfaction(ticket(status=status), rules.Satisfaction(score=4), by="li", now=NOW)


# --- handling: assignment, escalation, responses, status ------------------------------------


def test_assignment_to_a_person_or_a_queue_and_escalation_to_a_manager() -> None:
    row = ticket()
    with pytest.raises(Invalid) as both:
        lifecycle.assign(row, lifecycle.Assignment(assignee="li", queue="service"), by="boss", now=NOW)
    assert both.value.errors is not None and both.value.errors[0].field == "assignee"
    assert lifecycle.assign(row, lifecycle.Assignment(assignee="wang"), by="boss", now=NOW) is None  # already
    to_queue = lifecycle.assign(row, lifecycle.Assignment(queue="service"), by="boss", now=NOW)
    assert to_queue is not None and (to_queue.row["assignee"], to_queue.row["queue"]) == (None, "service")
    escalated = lifecycle.escalate(row, lifecycle.Escalation(to="boss", reason="angry"), by="wang", now=NOW)
    assert (escalated.row["assignee"], escalated.row["escalated_to"], escalated.row["escalated_at"]) == (
        "boss", "boss", NOW)
    assert escalated.events[0].to == "boss"  # type: ignore[attr-defined]


def test_the_first_response_stops_the_first_response_clock_once() -> None:
    row = ticket()
    assert row["due_at"] == row["first_response_due_at"]
    first = lifecycle.respond(row, lifecycle.CustomerResponse(message="We are on it"), by="wang", now=NOW)
    assert first.events[0].first is True  # type: ignore[attr-defined]
    assert first.row["first_response_at"] == NOW and first.row["due_at"] == row["resolution_due_at"]
    second = lifecycle.respond(first.row, lifecycle.CustomerResponse(message="Still on it"), by="wang", now=NOW)
    assert second.events[0].first is False and second.row["first_response_at"] == NOW  # type: ignore[attr-defined]
    with pytest.raises(Invalid) as future:
        lifecycle.respond(row, lifecycle.CustomerResponse(message="x", occurred_at=NOW + timedelta(hours=1)), by="w", now=NOW)
    assert future.value.errors is not None and future.value.errors[0].field == "occurred_at"


def test_waiting_on_the_customer_pauses_and_open_resumes_with_what_was_left() -> None:
    row = ticket(first_response_at=NOW - timedelta(minutes=30))
    waiting = lifecycle.change_status(row, lifecycle.StatusChange(status="waiting_on_customer"), by="w", now=NOW,
                                      cal=ALWAYS_OPEN)
    assert waiting is not None and waiting.row["due_at"] is None and waiting.row["resolution_left_s"] == 26 * 3600
    later = NOW + timedelta(days=2)
    back = lifecycle.change_status(waiting.row, lifecycle.StatusChange(status="open"), by="w", now=later,
                                   cal=ALWAYS_OPEN)
    assert back is not None and back.row["due_at"] == later + timedelta(hours=26) and back.row["paused_at"] is None
    assert lifecycle.change_status(back.row, lifecycle.StatusChange(status="open"), by="w", now=later,
                                   cal=ALWAYS_OPEN) is None
    with pytest.raises(Invalid) as no_reason:
        lifecycle.change_status(row, lifecycle.StatusChange(status="closed"), by="w", now=NOW, cal=ALWAYS_OPEN)
    assert no_reason.value.errors is not None and no_reason.value.errors[0].field == "reason"
    with pytest.raises(Conflict):  # reopening has its own route
        lifecycle.change_status(ticket(status="resolved"), lifecycle.StatusChange(status="open"), by="w", now=NOW,
                                cal=ALWAYS_OPEN)


def test_closing_by_hand_withdraws_the_remedy_waiting_for_its_answer() -> None:
    remedy_id = uuid.uuid4()
    waiting = ticket(status="waiting_on_customer", paused_at=NOW, resolution_left_s=3600, due_at=None)
    closed = lifecycle.change_status(waiting, lifecycle.StatusChange(status="closed", reason="no answer in a month"),
                                     by="w", now=NOW, cal=ALWAYS_OPEN, pending_remedy=remedy_id)
    assert closed is not None and closed.row["status"] == "closed" and closed.row["closed_at"] == NOW
    assert closed.answered_remedy == {"id": remedy_id, "accepted": None, "answered_at": NOW,
                                      "answer_comment": lifecycle.WITHDRAWN}


def test_a_prevention_action_is_overdue_after_its_day_and_done_once() -> None:
    action = {"id": uuid.uuid4(), "ticket_id": uuid.uuid4(), "category": "delivery", "action": "foam", "owner": "z",
              "due_on": date(2025, 3, 2), "created_at": NOW, "done_at": None, "done_by": None, "done_note": ""}
    assert lifecycle.prevention_view(action, TODAY)["overdue"] is True
    assert lifecycle.prevention_view({**action, "due_on": TODAY}, TODAY)["overdue"] is False
    event = lifecycle.complete_prevention(action, uuid.uuid4(), lifecycle.PreventionDone(note="done"), by="z", now=NOW)
    assert event is not None and event.category == "delivery"
    assert lifecycle.complete_prevention({**action, "done_at": NOW}, uuid.uuid4(), lifecycle.PreventionDone(),
                                         by="z", now=NOW) is None
