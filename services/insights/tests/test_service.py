"""The service state folded from a customer's tickets and the service risk it adds to the churn
risk (``service.py``), and the complaint_unanswered alert (``transitions.apply_ticket``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.insights import domain, engine, fold, service
from services.insights import profile as pf
from shared.events import (
    ComplaintFiled,
    CustomerAlertCleared,
    CustomerAlertRaised,
    Event,
    FeedbackReceived,
    LifecycleStageChanged,
    OrderLine,
    OrderPlaced,
    SegmentChanged,
    TicketNoteAdded,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketSatisfactionRecorded,
    TicketSlaBreached,
    TicketStatusChanged,
)

ZONE = UTC
T0 = datetime(2025, 1, 6, 10, tzinfo=UTC)  # a Monday
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-00000000c001")
TICKET = uuid.UUID("0195a1b2-0000-7000-8000-0000000c0de7")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Customer:
    """One customer's events, folded as the engine folds them (one fact at a time)."""

    def __init__(self) -> None:
        self.profile = pf.Profile(customer_id=str(CUSTOMER))
        self.published: list[Event] = []
        self.facts: list[engine.Fact] = []

    def fact(self, event: Event) -> engine.Fact:
        # an event's id is its own, whatever the order it arrives in
        fact = engine.fact_of(uuid.uuid5(CUSTOMER, event.model_dump_json()), event, "CNY")
        assert fact is not None
        return fact

    def send(self, *events: Event) -> list[Event]:
        facts = [self.fact(e) for e in events]
        self.facts.extend(facts)
        out = engine.apply_facts({str(CUSTOMER): self.profile}, facts, max(f.at for f in facts),
                                 domain.DEFAULT_POPULATION, ZONE)
        self.published += out
        return out

    def risk(self, when: datetime) -> domain.Assessment:
        return domain.assess(self.profile, when.timestamp(), domain.DEFAULT_POPULATION, ZONE)


def order(n: float) -> OrderPlaced:
    return OrderPlaced(customer_id=CUSTOMER, occurred_at=day(n), order_id=uuid.uuid4(), channel="store",
                       currency="CNY", total=Decimal("20.00"),
                       lines=[OrderLine(sku="TEA", quantity=Decimal(2), unit_price=Decimal("10.00"),
                                        amount=Decimal("20.00"))])


def complaint(n: float, priority: str = "normal", ticket: uuid.UUID = TICKET) -> ComplaintFiled:
    return ComplaintFiled(customer_id=CUSTOMER, occurred_at=day(n), ticket_id=ticket, channel="phone",
                          subject="Kettle leaks", severity=priority)


def breach(due: float, found: float, ticket: uuid.UUID = TICKET, clock: str = "first_response") -> TicketSlaBreached:
    return TicketSlaBreached(customer_id=CUSTOMER, occurred_at=day(due), ticket_id=ticket, clock=clock,
                             kind="complaint", priority="normal", due_at=day(due), as_of=day(found))


def responded(n: float, ticket: uuid.UUID = TICKET) -> TicketResponded:
    return TicketResponded(customer_id=CUSTOMER, occurred_at=day(n), ticket_id=ticket, by="li", message="sorry",
                           first=True)


def resolved(n: float, ticket: uuid.UUID = TICKET, responsibility: str = "ours") -> TicketResolved:
    return TicketResolved(customer_id=CUSTOMER, occurred_at=day(n), ticket_id=ticket, resolution="replaced",
                          resolved_by="li", kind="complaint", responsibility=responsibility,
                          remedy="replace")


def note(n: float, responsibility: str, ticket: uuid.UUID = TICKET) -> TicketNoteAdded:
    return TicketNoteAdded(customer_id=CUSTOMER, occurred_at=day(n), ticket_id=ticket, by="li", note="found it",
                           responsibility=responsibility)


# --- the rule ------------------------------------------------------------------------------------


def _state(*facts: tuple[float, service.TicketFact]) -> service.Service:
    state = service.Service()
    for n, (when, fact) in enumerate(facts):
        service.apply(state, day(when).timestamp(), str(uuid.UUID(int=n + 1)), fact)
    return state


def opened(priority: str = "normal", ticket: str = str(TICKET)) -> service.TicketFact:
    return service.TicketFact("ComplaintFiled", ticket, "complaint", priority=priority)


@pytest.mark.parametrize(("priority", "age_days", "risk"), [
    ("normal", 0, 0.10), ("normal", 15, 0.15), ("normal", 30, 0.20), ("normal", 90, 0.20),
    ("low", 0, 0.05), ("high", 0, 0.15), ("critical", 0, 0.25), ("critical", 30, 0.50),
])
def test_an_open_complaint_weighs_by_priority_and_grows_with_age_to_twice_at_30_days(
        priority: str, age_days: float, risk: float) -> None:
    judged = service.risk(_state((0, opened(priority))), day(age_days).timestamp())
    assert judged.risk == pytest.approx(risk)
    [part] = judged.parts
    assert (part.reason, part.ticket_id, part.age_days, part.priority) == ("open_complaint", str(TICKET), age_days,
                                                                           priority)


def test_a_subjective_cause_a_reopen_and_an_unanswered_complaint_add_up_as_independent_reasons() -> None:
    ticket = str(TICKET)
    state = _state((0, opened()), (1, service.TicketFact("TicketNoteAdded", ticket, responsibility="ours")),
                   (0.5, service.TicketFact("TicketSlaBreached", ticket, "complaint", clock="first_response",
                                            due_at=day(0.5).timestamp(), found_at=day(0.6).timestamp())))
    judged = service.risk(state, day(1).timestamp())
    assert [p.reason for p in judged.parts] == ["open_complaint", "subjective_cause", "unanswered"]
    weight = 0.10 * (1 + 1 / 30)
    assert judged.risk == pytest.approx(1 - (1 - weight) * (1 - 0.15) * (1 - 0.10))
    # resolved, then reopened: open again, and weighing half as much more; no longer unanswered
    service.apply(state, day(2).timestamp(), "r", service.TicketFact("TicketResolved", ticket, "complaint"))
    assert service.risk(state, day(2).timestamp()).risk == 0.0
    service.apply(state, day(3).timestamp(), "o", service.TicketFact("TicketReopened", ticket))
    judged = service.risk(state, day(3).timestamp())
    assert [p.reason for p in judged.parts] == ["open_complaint", "subjective_cause"]
    assert judged.parts[0].reopened == 1
    assert judged.parts[0].risk == pytest.approx(0.10 * (1 + 3 / 30) * 1.5)


def test_low_satisfaction_counts_for_180_days_and_the_latest_score_wins() -> None:
    state = _state((0, service.TicketFact("FeedbackReceived", "f1", "feedback", score=2)))
    assert service.risk(state, day(180).timestamp()).risk == pytest.approx(0.15)
    assert service.risk(state, day(181).timestamp()).risk == 0.0
    service.apply(state, day(10).timestamp(), "s", service.TicketFact("TicketSatisfactionRecorded", "t", score=1))
    [part] = service.risk(state, day(10).timestamp()).parts
    assert (part.reason, part.score, part.risk) == ("low_satisfaction", 1, 0.30)
    service.apply(state, day(20).timestamp(), "s2", service.TicketFact("TicketSatisfactionRecorded", "t", score=4))
    assert service.risk(state, day(20).timestamp()).risk == 0.0
    # an older score arriving late changes nothing
    service.apply(state, day(5).timestamp(), "s0", service.TicketFact("TicketSatisfactionRecorded", "t", score=1))
    assert service.risk(state, day(20).timestamp()).risk == 0.0


def test_the_service_risk_stays_below_one_and_combines_with_the_model() -> None:
    state = _state(*[(0, opened("critical", f"t{i}")) for i in range(20)])
    assert 0.99 < service.risk(state, day(400).timestamp()).risk < 1.0
    assert service.combined(0.5, 0.2) == pytest.approx(0.6)
    assert service.combined(0.3, 0.0) == 0.3


def test_feedback_and_service_requests_are_no_complaints() -> None:
    state = _state((0, service.TicketFact("TicketResolved", "x", "service_request")),
                   (0, service.TicketFact("TicketResponded", "y")))
    assert state.empty()


def test_the_state_is_stored_and_read_back_whole() -> None:
    state = _state((0, opened("high")), (1, service.TicketFact("TicketNoteAdded", str(TICKET), responsibility="ours")),
                   (0.5, service.TicketFact("TicketSlaBreached", str(TICKET), "complaint", clock="first_response",
                                            due_at=day(0.5).timestamp(), found_at=day(0.6).timestamp())),
                   (2, service.TicketFact("TicketResponded", str(TICKET))),
                   (3, service.TicketFact("FeedbackReceived", "f", "feedback", score=2)))
    stored = json.loads(json.dumps(service.to_json(state)))
    assert service.from_json(stored) == state


def test_only_the_newest_done_complaints_are_kept() -> None:
    facts: list[tuple[float, service.TicketFact]] = []
    for i in range(15):
        facts += [(i, opened(ticket=f"t{i:02}")), (i + 0.5, service.TicketFact("TicketResolved", f"t{i:02}"))]
    state = _state(*facts)
    assert sorted(state.complaints) == [f"t{i:02}" for i in range(5, 15)]


# --- folded with the profile -----------------------------------------------------------------------


def test_a_complaint_raises_the_churn_risk_while_open_and_a_resolution_brings_it_back() -> None:
    c = Customer()
    c.send(order(0), order(7), order(14))
    before = c.risk(day(20))
    assert before.service.risk == 0.0 and before.churn_risk == before.model_churn_risk
    c.send(complaint(20))
    during = c.risk(day(21))
    assert during.service.risk == pytest.approx(0.10 * (1 + 1 / 30))
    assert during.churn_risk == pytest.approx(1 - (1 - during.model_churn_risk) * (1 - during.service.risk))
    assert during.churn_risk > c.risk(day(21)).model_churn_risk
    assert c.risk(day(21.5)).service.risk > during.service.risk  # it grows while the complaint stays open
    c.send(resolved(22))
    after = c.risk(day(22))
    assert after.service.risk == 0.0 and after.churn_risk == after.model_churn_risk
    # the stored column is the combined risk as of the last event
    assert engine.summary(c.profile, domain.DEFAULT_POPULATION, ZONE)["churn_risk"] == after.churn_risk


def test_a_first_response_breach_raises_complaint_unanswered_and_the_answer_clears_it() -> None:
    c = Customer()
    c.send(order(0), complaint(10))
    raised = c.send(breach(10.5, 11))
    [alert] = [e for e in raised if isinstance(e, CustomerAlertRaised)]
    assert (alert.kind, alert.occurred_at, alert.alert_id) == (
        "complaint_unanswered", day(10.5), service.alert_id(str(CUSTOMER), str(TICKET)))
    assert alert.rule_version == domain.RULE_VERSION
    assert (alert.evidence.ticket_id, alert.evidence.due_at, alert.evidence.observed, alert.evidence.unit) == (
        TICKET, day(10.5), 12.0, "hours")
    assert len(alert.evidence.event_ids) == 2  # the breach and the complaint filed
    assert engine.summary(c.profile, domain.DEFAULT_POPULATION, ZONE)["open_alerts"] == 1
    assert "unanswered" in [p.reason for p in c.risk(day(11)).service.parts]
    cleared = [e for e in c.send(responded(12)) if isinstance(e, CustomerAlertCleared)]
    assert [(e.kind, e.reason, e.occurred_at, e.evidence.observed) for e in cleared] == [
        ("complaint_unanswered", "responded", day(12), 36.0)]
    assert engine.summary(c.profile, domain.DEFAULT_POPULATION, ZONE)["open_alerts"] == 0
    # the resolution clock's breach, another complaint's, a later answer: no alert
    assert not [e for e in c.send(breach(13, 14, clock="resolution"), responded(15), resolved(16))
                if isinstance(e, (CustomerAlertRaised, CustomerAlertCleared))]


def test_a_resolution_clears_an_unanswered_complaint_too() -> None:
    c = Customer()
    c.send(order(0), complaint(10), breach(10.5, 11))
    [e] = [e for e in c.send(resolved(11.5)) if isinstance(e, CustomerAlertCleared)]
    assert (e.reason, e.occurred_at) == ("resolved", day(11.5))


def test_a_breach_that_arrives_after_later_events_changes_the_same_as_in_time_order() -> None:
    """The sweep publishes the breach (occurred_at = the due time) after what followed the due
    time: live and in a replay (time order) the state and the alerts are the same."""
    events = [order(0), complaint(10), breach(10.5, 11.5), note(11, "ours"), responded(12)]
    in_time = Customer()
    for event in events:
        in_time.send(event)
    late = Customer()
    for event in [events[0], events[1], events[3], events[2], events[4]]:
        late.send(event)
    assert pf.to_json(late.profile) == pf.to_json(in_time.profile)

    def alerts(c: Customer) -> list[tuple[str, Any, Any]]:
        return sorted((type(e).__name__, e.occurred_at, e.alert_id) for e in c.published
                      if isinstance(e, (CustomerAlertRaised, CustomerAlertCleared)))

    assert alerts(late) == alerts(in_time) and len(alerts(late)) == 2

    # answered before the news of the breach arrived: raised at the due time, cleared at the answer
    early = Customer()
    for event in [events[0], events[1], events[3], events[4], events[2]]:
        early.send(event)
    assert alerts(early) == alerts(in_time)
    assert pf.to_json(early.profile)["service"] == pf.to_json(in_time.profile)["service"]


def test_a_replay_fold_equals_the_live_fold_of_the_same_ticket_events() -> None:
    c = Customer()
    events: list[Event] = [order(0), order(7), complaint(8, "high"), breach(8.5, 9), responded(9.5),
                           note(10, "ours"), resolved(12),
                           TicketReopened(customer_id=CUSTOMER, occurred_at=day(20), ticket_id=TICKET, by="li",
                                          reason="leaks again"),
                           TicketStatusChanged(customer_id=CUSTOMER, occurred_at=day(21), ticket_id=TICKET,
                                               status="closed", previous_status="open", by="li"),
                           FeedbackReceived(customer_id=CUSTOMER, occurred_at=day(22), ticket_id=uuid.uuid4(),
                                            channel="web", subject="meh", satisfaction=2),
                           TicketSatisfactionRecorded(customer_id=CUSTOMER, occurred_at=day(23), ticket_id=TICKET,
                                                      score=3, by="li"), order(30)]
    for event in events:
        c.send(event)
    replayed = fold.Fold(zone=ZONE, refit_days=28)
    replayed.run(engine.in_time_order(c.facts))
    profile = replayed.profiles[str(CUSTOMER)]
    assert pf.to_json(profile) == pf.to_json(c.profile)
    assert engine.alert_rows(replayed.transitions) == engine.alert_rows(c.published)


def test_tickets_of_a_customer_who_never_bought_announce_no_stage_or_segment() -> None:
    c = Customer()
    out = c.send(complaint(1), breach(1.5, 2))
    assert not [e for e in out if isinstance(e, (LifecycleStageChanged, SegmentChanged))]
    assert [e.kind for e in out if isinstance(e, CustomerAlertRaised)] == ["complaint_unanswered"]
    judged = c.risk(day(2))
    assert judged.segment == "prospect" and judged.churn_risk == 1.0  # no purchase: the risk is already whole
    assert judged.service.risk > 0
