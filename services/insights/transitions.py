"""What a customer's profile publishes as events and time move it. Pure, no I/O.

Between events only time moves, and every rule that time can change has a known crossing time
(the gap passes the customer's own overdue threshold on a given day; the recency score drops at a
given day; the churn check points follow a fixed schedule after the last purchase). ``due_at`` is
the next such time and ``advance`` steps through them in order, so the alerts, stage and segment
changes land at the same business times whether the clock that moved is the wall clock of a live
sweeper, the event-time watermark of an import, or a replay.
"""

from __future__ import annotations

import bisect
import uuid
from datetime import tzinfo
from typing import Any

from services.insights import model as population_model
from services.insights import service as sv
from services.insights.domain import (
    CHURN_CHECKS_DAYS,
    CHURN_CLEAR,
    CHURN_RAISE,
    REGULAR_DAYS,
    RULE_VERSION,
    Assessment,
    Population,
    assess,
    lifecycle_stage,
    lost_after_days,
    model_inputs,
    rhythm,
    score,
    segment_of,
)
from services.insights.profile import (
    DAY_S,
    OpenAlert,
    Profile,
    add_purchase,
    built,
    day_start,
    remove_purchase,
    to_datetime,
)
from shared.events import (
    AlertEvidence,
    CustomerAlertCleared,
    CustomerAlertRaised,
    Event,
    LifecycleStageChanged,
    SegmentChanged,
)

ALERT_NAMESPACE = uuid.UUID("5b0f3c4e-7a61-4d59-9b1e-6b6568750001")


def due_at(profile: Profile, after: float, population: Population, zone: tzinfo) -> float | None:
    """The first time after ``after`` at which time alone may change what ``assess`` says."""
    dues = profile.dues
    if dues is None or dues[0] != population.version:
        if not profile.days:
            return None
        dues = profile.dues = (population.version, _due_times(profile, population, zone))
    times = dues[1]
    index = bisect.bisect_right(times, after)
    return times[index] if index < len(times) else None


def _due_times(profile: Profile, population: Population, zone: tzinfo) -> tuple[float, ...]:
    start = day_start(profile.days[-1].day, zone)
    beat = rhythm(profile)
    offsets: list[float] = list(population.recency_cuts)
    offsets.append(lost_after_days(profile, beat))
    open_alerts = profile.status.alerts
    if beat and len(profile.days) >= REGULAR_DAYS and "purchase_overdue" not in open_alerts:
        offsets.append(beat.overdue_after)
    if beat is not None and "churn_risk" not in open_alerts:
        guard = max(beat.typical, beat.longest)
        offsets.extend(c for c in CHURN_CHECKS_DAYS if c > guard)
        offsets.append(guard + 0.5)
    # A crossing is evaluated a hair after the threshold, where the strict comparison holds.
    return tuple(sorted({start + o * DAY_S + 0.001 for o in offsets}))


SAME, SEGMENT_ONLY, CHANGED = 0, 1, 2


def _time_change(profile: Profile, as_of: float, population: Population, zone: tzinfo) -> tuple[int, int, int]:
    """What a step at ``as_of`` would publish when only time moved since the last step: SAME
    (nothing), SEGMENT_ONLY (the recency score crossed a cut point, nothing else), or CHANGED
    (take the full step); with the recency and frequency scores. Conservative: unsure is CHANGED."""
    status = profile.status
    days = profile.days
    if not days or status.segment is None or status.stage is None:
        return CHANGED, 0, 0
    recency = max((as_of - day_start(days[-1].day, zone)) / DAY_S, 0.0)
    n_days = len(days)
    r = score(recency, population.recency_cuts, lower_is_better=True)
    f = score(float(n_days), population.frequency_cuts)
    beat = rhythm(profile)
    regular = n_days >= REGULAR_DAYS
    alerts = status.alerts
    overdue = bool(regular and beat and recency > beat.overdue_after)
    if overdue != ("purchase_overdue" in alerts):
        return CHANGED, r, f
    stage, _ = lifecycle_stage(n_days, lost=recency > lost_after_days(profile, beat), overdue=overdue,
                               basket_drop="quantity_drop" in alerts or "value_drop" in alerts)
    if stage != status.stage:
        return CHANGED, r, f
    churn_open = "churn_risk" in alerts
    past_guard = beat is not None and recency > max(beat.typical, beat.longest)
    if past_guard:
        x, t_x, T = model_inputs(profile, as_of, zone)
        risk = population_model.churn_risk(population.model, x, t_x, T)
        holds = risk >= (CHURN_CLEAR if churn_open else CHURN_RAISE)
        if holds != churn_open:
            return CHANGED, r, f
    elif churn_open:
        return CHANGED, r, f
    return (SAME if segment_of(r, f) == status.segment else SEGMENT_ONLY), r, f


# --- transitions ----------------------------------------------------------------------------


def step(profile: Profile, as_of: float, population: Population, zone: tzinfo,
         trigger_ids: list[str] | None = None, *, scores: bool = False,
         announce: bool = True) -> tuple[Assessment, list[Event]]:
    """Assess at ``as_of`` and return the events that publish what changed since the last step.

    ``announce=False`` (a replay, which publishes nothing) returns only the alert events, the
    alerts table's rows; stage and segment changes still move the status, unannounced.
    """
    assessment = assess(profile, as_of, population, zone, scores=scores)
    status = profile.status
    changes = (assessment.stage != status.stage or assessment.segment != status.segment
               or assessment.conditions.keys() != status.alerts.keys())
    if not changes:
        status.stage_reason = assessment.stage_reason
        profile.evaluated_at = as_of
        return assessment, []
    if ("purchase_overdue" in status.alerts) != ("purchase_overdue" in assessment.conditions) or \
            ("churn_risk" in status.alerts) != ("churn_risk" in assessment.conditions):
        profile.dues = None  # the due times depend on whether these two are open
    customer = _uuid_of(profile)
    when = to_datetime(as_of)
    events: list[Event] = []
    for kind, open_alert in list(status.alerts.items()):
        if kind not in assessment.conditions:
            reason = _clear_reason(kind, assessment)
            ids = [uuid.UUID(i) for i in (trigger_ids or [])]
            events.append(built(CustomerAlertCleared,
                customer_id=customer, occurred_at=when, alert_id=uuid.UUID(open_alert.alert_id), kind=kind,
                rule_version=RULE_VERSION, reason=reason, evidence=_stored_evidence(open_alert.evidence, ids),
            ))
            del status.alerts[kind]
    for kind, condition in assessment.conditions.items():
        if kind in status.alerts:
            continue
        alert_id = uuid.uuid5(ALERT_NAMESPACE, f"{profile.customer_id}/{kind}/{as_of:.3f}")
        status.alerts[kind] = OpenAlert(str(alert_id), as_of, condition.evidence.as_json())
        events.append(built(CustomerAlertRaised,
            customer_id=customer, occurred_at=when, alert_id=alert_id, kind=kind,
            rule_version=RULE_VERSION, evidence=condition.evidence.model(),
        ))
    if assessment.stage != status.stage and announce:
        events.append(built(LifecycleStageChanged,
            customer_id=customer, occurred_at=when, previous_stage=status.stage,
            stage=assessment.stage, reason=assessment.stage_reason,
            rule_version=RULE_VERSION, evidence=assessment.stage_evidence.model(),
        ))
    if assessment.stage != status.stage:
        status.stage, status.stage_since = assessment.stage, as_of
    status.stage_reason = assessment.stage_reason
    if assessment.segment != status.segment:
        if announce:
            events.append(_segment_changed(profile, as_of, assessment.recency_score, assessment.frequency_score,
                                           population, assessment.segment))
        else:
            status.segment = assessment.segment
    profile.evaluated_at = as_of
    return assessment, events


def _stored_evidence(stored: dict[str, Any], event_ids: list[uuid.UUID]) -> AlertEvidence:
    """The evidence an open alert was raised with (``Evidence.as_json``, as stored), with the ids
    of the events that cleared it when there are any."""

    def number(key: str) -> float | None:
        value = stored.get(key)
        return None if value is None else float(value)

    return built(AlertEvidence, baseline=number("baseline"), observed=number("observed"),
                 threshold=number("threshold"), unit=str(stored.get("unit", "")),
                 event_ids=event_ids or [uuid.UUID(str(i)) for i in stored.get("event_ids", [])],
                 ticket_id=None, due_at=None)


def _uuid_of(profile: Profile) -> uuid.UUID:
    if profile.customer_uuid is None:
        profile.customer_uuid = uuid.UUID(profile.customer_id)
    return profile.customer_uuid


def _segment_changed(profile: Profile, as_of: float, r: int, f: int, population: Population,
                     segment: str | None = None) -> Event:
    """``segment``: when it is not the scores' (a customer whose only order was cancelled is a
    prospect again)."""
    segment = segment or segment_of(r, f)
    event = built(SegmentChanged,
        customer_id=_uuid_of(profile), occurred_at=to_datetime(as_of),
        previous_segment=profile.status.segment, segment=segment,
        recency_score=r, frequency_score=f, monetary_score=score(float(profile.cents), population.monetary_cuts),
        rule_version=RULE_VERSION,
    )
    profile.status.segment = segment
    return event


def _clear_reason(kind: str, assessment: Assessment) -> str:
    if kind in ("purchase_overdue", "churn_risk", "stage_decline") and assessment.elapsed_days is not None \
            and assessment.elapsed_days < 1.0:
        return "purchase"
    if kind in ("quantity_drop", "value_drop"):
        return "basket_recovered"
    return "recovered"


def advance(profile: Profile, until: float, population: Population, zone: tzinfo,
            *, inclusive: bool = True, announce: bool = True) -> list[Event]:
    """Step through every due time up to ``until`` (a sweep, or the moment before a new event)."""
    events: list[Event] = []
    after = profile.evaluated_at if profile.evaluated_at is not None else until
    while True:
        if due_at(profile, after, population, zone) is None:
            return events
        assert profile.dues is not None  # filled by due_at
        times = profile.dues[1]
        # Walk the due times in order; only a full step can change them (it opens or closes alerts).
        for index in range(bisect.bisect_right(times, after), len(times)):
            due = times[index]
            if due > until or (not inclusive and due >= until):
                return events
            change, r, f = _time_change(profile, due, population, zone)
            after = due
            if change == SAME:
                profile.evaluated_at = due
            elif change == SEGMENT_ONLY:
                if announce:
                    events.append(_segment_changed(profile, due, r, f, population))
                else:
                    profile.status.segment = segment_of(r, f)
                profile.evaluated_at = due
            else:
                events.extend(step(profile, due, population, zone, announce=announce)[1])
                break
        else:
            return events


def apply_order(profile: Profile, *, at: float, event_id: str, quantity: float, cents: int,
                population: Population, zone: tzinfo, announce: bool = True,
                other: tuple[str, int] | None = None, placed_at: float | None = None) -> list[Event]:
    """A purchase at ``at`` (``placed_at``: an order approved at ``at``, a purchase of the day it was
    placed from then on)."""
    events = advance(profile, at, population, zone, inclusive=False, announce=announce) \
        if profile.evaluated_at is not None else []
    add_purchase(profile, at=placed_at if placed_at is not None else at, event_id=event_id, quantity=quantity,
                 cents=cents, zone=zone, other=other)
    as_of = max(at, profile.evaluated_at or at)
    events.extend(step(profile, as_of, population, zone, trigger_ids=[event_id], announce=announce)[1])
    return events


def apply_undo(profile: Profile, *, at: float, event_id: str, placed_at: float, placed_event: str | None,
               quantity: float, cents: int, whole: bool, population: Population, zone: tzinfo,
               announce: bool = True, other: tuple[str, int] | None = None) -> list[Event]:
    """A cancel or return at ``at`` of an order placed at ``placed_at``: the profile is stepped to
    ``at`` as it stood, the order taken off (``profile.remove_purchase``), and the rules judged again
    at ``at``. So what the order raised or cleared is undone from ``at`` on (an alert it cleared
    may be raised again, one it raised cleared); what was published before ``at`` stays published."""
    events = advance(profile, at, population, zone, inclusive=False, announce=announce) \
        if profile.evaluated_at is not None else []
    remove_purchase(profile, placed_at=placed_at, placed_event=placed_event, quantity=quantity, cents=cents,
                    whole=whole, zone=zone, other=other)
    as_of = max(at, profile.evaluated_at or at)
    events.extend(step(profile, as_of, population, zone, trigger_ids=[event_id], announce=announce)[1])
    return events


def apply_ticket(profile: Profile, *, at: float, event_id: str, ticket: sv.TicketFact, population: Population,
                 zone: tzinfo, announce: bool = True) -> list[Event]:
    """A ticket event at ``at``: the profile is stepped to ``at``, the service state takes the fact
    in (``service.apply``), and a complaint's ``complaint_unanswered`` alert is raised or cleared
    at its own business times (the due time; the answer or resolution), whatever the order the
    sweep's news and the answers arrive in. A customer who never bought and has no stage yet is
    not judged (a ticket announces no segment): only their clock moves."""
    events = advance(profile, at, population, zone, inclusive=False, announce=announce) \
        if profile.evaluated_at is not None else []
    for change in sv.apply(profile.service, at, event_id, ticket):
        events.append(_ticket_alert(profile, change))
    as_of = max(at, profile.evaluated_at or at)
    if profile.days or profile.status.stage is not None:
        events.extend(step(profile, as_of, population, zone, trigger_ids=[event_id], announce=announce)[1])
    else:
        profile.evaluated_at = as_of
    return events


def _ticket_alert(profile: Profile, change: sv.AlertChange) -> Event:
    complaint = change.complaint
    assert complaint.due_at is not None  # an alert is raised at the due time
    customer = _uuid_of(profile)
    alert_id = sv.alert_id(profile.customer_id, complaint.ticket_id)
    due = to_datetime(complaint.due_at)
    if change.raised:
        ids = [i for i in (complaint.breach_event, complaint.opened_event) if i]
        return built(CustomerAlertRaised,
            customer_id=customer, occurred_at=to_datetime(change.at), alert_id=alert_id, kind=sv.ALERT_KIND,
            rule_version=RULE_VERSION, evidence=built(AlertEvidence,
                baseline=None, observed=complaint.late_hours, threshold=None, unit="hours",
                event_ids=[uuid.UUID(i) for i in ids], ticket_id=uuid.UUID(complaint.ticket_id), due_at=due))
    late = round(max(change.at - complaint.due_at, 0.0) / sv.HOUR_S, 2)
    return built(CustomerAlertCleared,
        customer_id=customer, occurred_at=to_datetime(change.at), alert_id=alert_id, kind=sv.ALERT_KIND,
        rule_version=RULE_VERSION, reason=change.reason, evidence=built(AlertEvidence,
            baseline=None, observed=late, threshold=None, unit="hours",
            event_ids=[uuid.UUID(change.event_id)] if change.event_id else [],
            ticket_id=uuid.UUID(complaint.ticket_id), due_at=due))
