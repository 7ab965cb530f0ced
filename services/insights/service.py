"""How a customer is being served: the state folded from their tickets, and the service risk it
adds to the churn risk. Pure, no I/O.

A customer's ``Service`` holds their complaints (open ones, and the last few done, so a reopen
finds what it reopens) and their latest satisfaction score. It is folded fact by fact
(``apply``), live and in a replay alike, and judged at any time by ``risk``: the churn risk shown
is 1 − (1 − model risk) × (1 − service risk) (``combined``). Why these numbers: docs/insights.md.

Every change is ordered by business time (the time and id of the event that made it), not by
arrival: an SLA breach is published by a sweep after the events that followed its due time, and
must change nothing but itself, so that the live consumer and a replay in time order agree.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

DAY_S = 86_400.0
HOUR_S = 3_600.0

# --- the rule (rule version: domain.RULE_VERSION) ------------------------------------------------
# Each open complaint, at filing, by priority: the chance it costs the customer on its own.
OPEN_COMPLAINT = {"low": 0.05, "normal": 0.10, "high": 0.15, "critical": 0.25}
# An open complaint weighs more as it ages: ×1 at filing, growing linearly to ×2 at 30 days open.
AGEING_DAYS, AGEING_MAX = 30.0, 2.0
# A complaint reopened (the remedy did not hold) weighs ×1.5 per reopen while open again, up to ×2.
REOPEN_FACTOR, REOPEN_MAX = 0.5, 2.0
# A subjective cause (responsibility ours) not yet resolved: the shop's own fault, still unrepaired.
SUBJECTIVE = 0.15
# A complaint whose first answer is overdue and still not given (the complaint_unanswered alert).
UNANSWERED = 0.10
# The latest satisfaction score within 180 days, when low: 1 very unhappy, 2 unhappy.
LOW_SATISFACTION = {1: 0.30, 2: 0.15}
SATISFACTION_DAYS = 180.0
# Each part is capped so that the service risk stays below 1 (a customer is never written off by
# complaints alone): 1 − Π(1 − part).
PART_MAX = 0.6
DONE_KEPT = 10  # complaints resolved or closed kept for a reopen (the newest)

ALERT_KIND = "complaint_unanswered"
ALERT_NAMESPACE = uuid.UUID("5b0f3c4e-7a61-4d59-9b1e-6b6568750002")
TICKET_EVENTS = frozenset((
    "ComplaintFiled", "FeedbackReceived", "TicketResponded", "TicketNoteAdded", "TicketStatusChanged",
    "TicketRemedyProposed", "TicketResolved", "TicketReopened", "TicketSlaBreached", "TicketSatisfactionRecorded",
))


@dataclass(frozen=True, slots=True)
class TicketFact:
    """What the service state needs from one ticket event (``engine.Fact.ticket``)."""

    event: str  # the event's type name
    ticket_id: str
    kind: str | None = None  # complaint, feedback, service_request (when the event says)
    priority: str | None = None
    responsibility: str | None = None
    status: str | None = None  # TicketStatusChanged: the new status
    score: int | None = None  # satisfaction 1-5
    clock: str | None = None  # TicketSlaBreached
    due_at: float | None = None  # TicketSlaBreached
    found_at: float | None = None  # TicketSlaBreached: the sweep's as_of


def ticket_fact(name: str, data: dict[str, Any], at_of: Any) -> TicketFact | None:
    """The ticket fact of an event's data (as published), or None when the state ignores it."""
    if name not in TICKET_EVENTS:
        return None
    ticket = str(data["ticket_id"])
    if name == "ComplaintFiled":
        return TicketFact(name, ticket, "complaint", priority=data.get("priority") or data.get("severity") or "normal",
                          responsibility=None)
    if name in ("FeedbackReceived", "TicketSatisfactionRecorded"):
        score = data.get("satisfaction") if name == "FeedbackReceived" else data.get("score")
        if score is None:
            return None
        return TicketFact(name, ticket, "feedback" if name == "FeedbackReceived" else None, score=int(score))
    if name == "TicketSlaBreached":
        return TicketFact(name, ticket, data.get("kind"), priority=data.get("priority"), clock=data.get("clock"),
                          due_at=at_of(data["due_at"]), found_at=at_of(data["as_of"]))
    return TicketFact(name, ticket, data.get("kind"), responsibility=data.get("responsibility"),
                      status=data.get("status"))


@dataclass(slots=True)
class Complaint:
    ticket_id: str
    priority: str = "normal"
    opened_at: float | None = None
    opened_event: str | None = None
    responsibility: str | None = None
    responsibility_at: tuple[float, str] | None = None  # the finding's (time, event id)
    done: bool = False  # resolved or closed
    status_at: tuple[float, str] | None = None  # (time, event id) of the event that set ``done``
    resolved: tuple[float, str] | None = None  # the first resolution (time, event id)
    answered: tuple[float, str] | None = None  # the first answer (TicketResponded)
    reopened: int = 0
    # the first-response breach: due time, hours late when found, the breach event
    due_at: float | None = None
    late_hours: float | None = None
    breach_event: str | None = None
    alert_cleared: tuple[float, str, str] | None = None  # (time, reason, event id) the alert cleared

    def alert_open(self) -> bool:
        return self.due_at is not None and self.alert_cleared is None


@dataclass(slots=True)
class Service:
    complaints: dict[str, Complaint] = field(default_factory=dict)
    satisfaction: tuple[float, int, str] | None = None  # the latest (time, score, event id)

    def open_alerts(self) -> list[Complaint]:
        return sorted((c for c in self.complaints.values() if c.alert_open()),
                      key=lambda c: (c.due_at or 0.0, c.ticket_id))

    def empty(self) -> bool:
        return not self.complaints and self.satisfaction is None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert of a complaint raised or cleared by a ticket fact, at its own business time."""

    raised: bool
    complaint: Complaint
    at: float
    reason: str = ""
    event_id: str = ""


def alert_id(customer_id: str, ticket_id: str) -> uuid.UUID:
    """One alert per complaint: the same id live and in a replay."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{customer_id}/{ALERT_KIND}/{ticket_id}")


def apply(service: Service, at: float, event_id: str, fact: TicketFact) -> list[AlertChange]:
    """Fold one ticket fact in; returns the alerts it raises or clears."""
    name = fact.event
    key = (at, event_id)
    if fact.score is not None:
        if service.satisfaction is None or key >= (service.satisfaction[0], service.satisfaction[2]):
            service.satisfaction = (at, fact.score, event_id)
        return []
    complaint = service.complaints.get(fact.ticket_id)
    if complaint is None:
        if fact.kind != "complaint":
            return []  # not a complaint (or one whose filing was never seen and the event does not say)
        complaint = service.complaints[fact.ticket_id] = Complaint(fact.ticket_id)
    changes: list[AlertChange] = []
    if name == "ComplaintFiled":
        complaint.priority = fact.priority or "normal"
        complaint.opened_at, complaint.opened_event = at, event_id
    if fact.responsibility is not None and _later(key, complaint.responsibility_at):
        complaint.responsibility, complaint.responsibility_at = fact.responsibility, key
    if name in ("TicketResolved", "TicketReopened", "TicketStatusChanged", "ComplaintFiled") \
            and _later(key, complaint.status_at):
        done = name == "TicketResolved" or (name == "TicketStatusChanged" and fact.status in ("resolved", "closed"))
        complaint.done, complaint.status_at = done, key
    if name == "TicketResolved" and (complaint.resolved is None or key < complaint.resolved):
        complaint.resolved = key
    elif name == "TicketReopened":
        complaint.reopened += 1
    elif name == "TicketResponded" and (complaint.answered is None or key < complaint.answered):
        complaint.answered = key
    if name in ("TicketResponded", "TicketResolved"):
        changes.extend(_clear(complaint, at, "responded" if name == "TicketResponded" else "resolved", event_id))
    elif name == "TicketSlaBreached" and fact.clock == "first_response" and complaint.due_at is None \
            and fact.due_at is not None:
        complaint.due_at, complaint.breach_event = fact.due_at, event_id
        complaint.late_hours = round(max((fact.found_at or fact.due_at) - fact.due_at, 0.0) / HOUR_S, 2)
        changes.append(AlertChange(True, complaint, fact.due_at))
        # Answered (or resolved) before the sweep's news arrived: the alert held from the due time to then.
        ends = [(t, "responded" if t is complaint.answered else "resolved") for t in (complaint.answered, complaint.resolved)
                if t is not None and t[0] > fact.due_at]
        if ends:
            (when, by), reason = min(ends)
            changes.extend(_clear(complaint, when, reason, by))
    _forget_old(service)
    return changes


def _later(key: tuple[float, str], than: tuple[float, str] | None) -> bool:
    return than is None or key >= than


def _clear(complaint: Complaint, at: float, reason: str, event_id: str) -> list[AlertChange]:
    if not complaint.alert_open():
        return []
    complaint.alert_cleared = (max(at, complaint.due_at or at), reason, event_id)
    return [AlertChange(False, complaint, complaint.alert_cleared[0], reason, event_id)]


def _forget_old(service: Service) -> None:
    done = [c for c in service.complaints.values() if c.done and not c.alert_open()]
    if len(done) <= DONE_KEPT:
        return
    done.sort(key=lambda c: (c.status_at or (0.0, ""), c.ticket_id))
    for complaint in done[:-DONE_KEPT]:
        del service.complaints[complaint.ticket_id]


# --- the service risk --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One reason the service risk is above zero, with what it rests on."""

    reason: str  # open_complaint, subjective_cause, unanswered, low_satisfaction
    risk: float
    ticket_id: str | None = None
    event_id: str | None = None
    since: float | None = None  # opened, due or scored at
    age_days: float | None = None
    priority: str | None = None
    responsibility: str | None = None
    reopened: int = 0
    score: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceRisk:
    risk: float
    parts: tuple[Part, ...]


NO_RISK = ServiceRisk(0.0, ())


def risk(service: Service, as_of: float) -> ServiceRisk:
    """The service risk at ``as_of``, in [0, 1), and its parts."""
    if service.empty():
        return NO_RISK
    parts: list[Part] = []
    for c in sorted(service.complaints.values(), key=lambda c: (c.opened_at or 0.0, c.ticket_id)):
        if c.done or (c.opened_at is not None and c.opened_at > as_of):
            continue  # (a complaint filed after as_of: a look back leaves it out; its end is not rewound)
        opened = c.opened_at if c.opened_at is not None else as_of
        age = max(as_of - opened, 0.0) / DAY_S
        weight = OPEN_COMPLAINT.get(c.priority, OPEN_COMPLAINT["normal"])
        weight *= 1.0 + min(age, AGEING_DAYS) / AGEING_DAYS * (AGEING_MAX - 1.0)
        weight *= min(1.0 + REOPEN_FACTOR * c.reopened, REOPEN_MAX)
        base = Part("open_complaint", min(weight, PART_MAX), ticket_id=c.ticket_id, event_id=c.opened_event,
                    since=c.opened_at, age_days=round(age, 2), priority=c.priority,
                    responsibility=c.responsibility, reopened=c.reopened)
        parts.append(base)
        if c.responsibility == "ours":
            parts.append(dataclasses.replace(base, reason="subjective_cause", risk=SUBJECTIVE))
        if c.alert_open() and c.due_at is not None and c.due_at <= as_of:
            parts.append(dataclasses.replace(base, reason="unanswered", risk=UNANSWERED, event_id=c.breach_event,
                                             since=c.due_at, age_days=round((as_of - c.due_at) / DAY_S, 2)))
    if service.satisfaction is not None:
        at, score, event_id = service.satisfaction
        age = (as_of - at) / DAY_S
        if score in LOW_SATISFACTION and 0.0 <= age <= SATISFACTION_DAYS:
            parts.append(Part("low_satisfaction", LOW_SATISFACTION[score], event_id=event_id, since=at,
                              age_days=round(age, 2), score=score))
    kept = 1.0
    for part in parts:
        kept *= 1.0 - part.risk
    return ServiceRisk(1.0 - kept, tuple(parts))


def combined(model_risk: float, service_risk: float) -> float:
    """The churn risk shown: the customer stays only if neither the model's reasons nor the
    service's take them (NaN stays NaN: a risk nobody asked for)."""
    if service_risk == 0.0:
        return model_risk  # exactly: a customer served without complaint reads as the model says
    return 1.0 - (1.0 - model_risk) * (1.0 - service_risk)


# --- stored form (inside the profile's JSON) -----------------------------------------------------


def to_json(service: Service) -> dict[str, Any]:
    return {
        "complaints": [[c.ticket_id, c.priority, c.opened_at, c.opened_event, c.responsibility,
                        _list(c.responsibility_at), c.done, _list(c.status_at), _list(c.resolved), _list(c.answered),
                        c.reopened,
                        c.due_at, c.late_hours, c.breach_event, list(c.alert_cleared) if c.alert_cleared else None]
                       for c in service.complaints.values()],
        "satisfaction": list(service.satisfaction) if service.satisfaction else None,
    }


def _list(key: tuple[float, str] | None) -> list[Any] | None:
    return list(key) if key is not None else None


def _key(value: list[Any] | None) -> tuple[float, str] | None:
    return (float(value[0]), str(value[1])) if value else None


def from_json(data: dict[str, Any] | None) -> Service:
    if not data:
        return Service()
    service = Service()
    for row in data.get("complaints", []):
        cleared = row[14]
        complaint = Complaint(row[0], row[1], row[2], row[3], row[4], _key(row[5]), bool(row[6]), _key(row[7]),
                              _key(row[8]), _key(row[9]), int(row[10]), row[11], row[12], row[13],
                              (float(cleared[0]), str(cleared[1]), str(cleared[2])) if cleared else None)
        service.complaints[complaint.ticket_id] = complaint
    sat = data.get("satisfaction")
    service.satisfaction = (float(sat[0]), int(sat[1]), str(sat[2])) if sat else None
    return service
