"""Credit standing: how a customer pays, judged from kehu.orders, as tier A/B/C/D. Pure: no I/O.

The rule, its thresholds and their reasons are in docs/credit.md (``RULE_VERSION``). In short:
each instalment an order owes (the newest ``ReceivableScheduled`` of the order) is settled when
the payments allocated to it reach its amount; once its due date has passed it counts as paid on
time (settled at most ``GRACE_DAYS`` days after it) or late. From those, ``judge`` derives the
evidence (share on time, average days late, outstanding, overdue, longest overdue) and the tier.
``History`` is what the consumer keeps of a customer; ``fold`` adds one event to it and is
idempotent: an event seen again, or an older revision of a schedule, changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from shared.events import (
    CreditEvidence,
    CreditStandingChanged,
    CreditTier,
    Event,
    OrderCancelled,
    PaymentOverdue,
    PaymentRecorded,
    ReceivableScheduled,
)

RULE_VERSION = "credit-2026.12-1"
DAY = timedelta(days=1)
GRACE_DAYS = 3  # a bank transfer or a weekend: settled within 3 days after the due date is on time
MIN_HISTORY = 3  # instalments due before the share on time or the lateness says anything
A_SHARE_ON_TIME = 0.95
C_SHARE_ON_TIME = 0.70
C_AVERAGE_DAYS_LATE = 15.0
C_OVERDUE_DAYS = 30
D_OVERDUE_DAYS = 60
WINDOW_DAYS = 365  # paid instalments due longer ago than this are forgiven (not counted)
D_OVERDUE_SHARE = Decimal("0.5")  # of everything that fell due: half of it more than a month late
MAX_EVIDENCE_IDS = 20
DEFAULT_TIER: CreditTier = "B"  # no standing is B (orders reads a missing standing so too)

Reason = Literal["long_overdue", "large_overdue", "overdue", "often_late", "pays_late", "on_time",
                 "no_history", "little_history", "normal"]
CREDIT_EVENTS: tuple[type[Event], ...] = (ReceivableScheduled, PaymentRecorded, PaymentOverdue, OrderCancelled)


# --- what the consumer keeps of a customer ----------------------------------------------------


@dataclass(frozen=True)
class Due:
    """One instalment as the newest schedule of its order says."""

    no: int
    due_at: datetime
    amount: Decimal
    paid: Decimal


@dataclass(frozen=True)
class Schedule:
    order_id: uuid.UUID
    revision: int  # 0: only the order's cancel is known
    at: datetime
    event_id: uuid.UUID
    instalments: tuple[Due, ...] = ()
    cancelled_by: uuid.UUID | None = None


@dataclass(frozen=True)
class Allocation:
    order_id: uuid.UUID
    no: int
    amount: Decimal


@dataclass(frozen=True)
class Payment:
    payment_id: uuid.UUID
    at: datetime
    event_id: uuid.UUID
    allocations: tuple[Allocation, ...]


@dataclass(frozen=True)
class History:
    schedules: Mapping[uuid.UUID, Schedule] = field(default_factory=dict)
    payments: Mapping[uuid.UUID, Payment] = field(default_factory=dict)
    overdue: Mapping[tuple[uuid.UUID, int], uuid.UUID] = field(default_factory=dict)  # PaymentOverdue ids


def fold(history: History, event_id: uuid.UUID, event: Event) -> History:
    """The history with one more event of kehu.orders (other events leave it as it is)."""
    if isinstance(event, ReceivableScheduled):
        old = history.schedules.get(event.order_id)
        if old is not None and old.revision >= event.revision:
            return history  # the same revision again, or an older one: the newest wins
        new = Schedule(event.order_id, event.revision, event.occurred_at, event_id,
                       tuple(Due(i.no, i.due_at, i.amount, i.paid) for i in event.instalments),
                       old.cancelled_by if old else None)
        return replace(history, schedules={**history.schedules, event.order_id: new})
    if isinstance(event, OrderCancelled):
        old = history.schedules.get(event.order_id)
        if old is not None and old.cancelled_by is not None:
            return history
        new = replace(old, cancelled_by=event_id) if old else Schedule(
            event.order_id, 0, event.occurred_at, event_id, (), event_id)
        return replace(history, schedules={**history.schedules, event.order_id: new})
    if isinstance(event, PaymentRecorded):
        if event.payment_id in history.payments:
            return history
        payment = Payment(event.payment_id, event.occurred_at, event_id,
                          tuple(Allocation(a.order_id, a.instalment_no, a.amount) for a in event.allocations))
        return replace(history, payments={**history.payments, event.payment_id: payment})
    if isinstance(event, PaymentOverdue):
        key = (event.order_id, event.instalment_no)
        if key in history.overdue:
            return history
        return replace(history, overdue={**history.overdue, key: event_id})
    return history


# --- judging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One instalment as of ``as_of``."""

    due_at: datetime
    amount: Decimal
    paid: Decimal
    settled_at: datetime | None
    counted: bool  # its due date passed (within the window) and it is settled, or past the grace days unpaid
    days_late: int  # counted: days past due when settled (or as of now, unpaid)
    events: tuple[tuple[datetime, uuid.UUID], ...]  # the events behind it, with their times

    @property
    def unpaid(self) -> Decimal:
        return self.amount - self.paid

    @property
    def on_time(self) -> bool:
        return self.counted and self.settled_at is not None and self.days_late <= GRACE_DAYS


@dataclass(frozen=True)
class Judgement:
    tier: CreditTier
    reason: Reason
    evidence: CreditEvidence
    review_at: datetime | None  # when time alone may change the judgement next (None: never)


def days_past(due_at: datetime, at: datetime) -> int:
    """Whole days from the due time to ``at`` (negative before it): due 10:00, paid 10:00 the next
    day is 1 day late; paid the same day is 0."""
    return (at - due_at) // DAY


def instalments(history: History, as_of: datetime) -> list[Seen]:
    """Every instalment of the orders not cancelled, as of ``as_of``."""
    paid_to: dict[tuple[uuid.UUID, int], list[tuple[datetime, Decimal, uuid.UUID]]] = {}
    allocated: dict[tuple[uuid.UUID, int], Decimal] = {}
    for p in history.payments.values():
        for a in p.allocations:
            allocated[a.order_id, a.no] = allocated.get((a.order_id, a.no), Decimal(0)) + a.amount
            if p.at <= as_of:
                paid_to.setdefault((a.order_id, a.no), []).append((p.at, a.amount, p.event_id))
    seen: list[Seen] = []
    for s in history.schedules.values():
        if s.cancelled_by is not None:
            continue
        for due in s.instalments:
            if due.amount <= 0:
                continue
            key = (s.order_id, due.no)
            entries = list(paid_to.get(key, []))
            # Paid as the schedule says, beyond the payments seen (a credit note, say): paid then.
            extra = due.paid - allocated.get(key, Decimal(0))
            if extra > 0 and s.at <= as_of:
                entries.append((s.at, extra, s.event_id))
            entries.sort(key=lambda e: (e[0], e[2]))
            paid, settled_at = Decimal(0), None
            for at, amount, _ in entries:
                paid += amount
                if paid >= due.amount:
                    settled_at = at
                    break
            paid = min(paid, due.amount)
            events = [(s.at, s.event_id), *((at, eid) for at, _, eid in entries if eid != s.event_id)]
            if key in history.overdue:
                events.append((due.due_at, history.overdue[key]))
            if settled_at is not None:
                counted = 1 <= days_past(due.due_at, as_of) <= WINDOW_DAYS
                late = max(0, days_past(due.due_at, settled_at))
            else:
                late = days_past(due.due_at, as_of)
                counted = late > GRACE_DAYS
            seen.append(Seen(due.due_at, due.amount, paid, settled_at, counted, max(late, 0), tuple(events)))
    return seen


def judge(history: History, as_of: datetime) -> Judgement:
    """The customer's tier as of ``as_of``, the reason, the evidence and when to look again."""
    seen = instalments(history, as_of)
    counted = [i for i in seen if i.counted]
    late = [i for i in counted if not i.on_time]
    overdue = [i for i in seen if i.settled_at is None and days_past(i.due_at, as_of) >= 1]
    longest = max((days_past(i.due_at, as_of) for i in overdue), default=0)
    overdue_amount = sum((i.unpaid for i in overdue), Decimal(0))
    fell_due = sum((i.amount for i in seen if days_past(i.due_at, as_of) >= 1), Decimal(0))
    share = (len(counted) - len(late)) / len(counted) if counted else None
    paid_late = [i for i in late if i.settled_at is not None]  # the open ones: the overdue rules
    average = sum(i.days_late for i in paid_late) / len(paid_late) if paid_late else None
    enough = len(counted) >= MIN_HISTORY

    def beyond(days: int) -> list[Seen]:
        return [i for i in overdue if days_past(i.due_at, as_of) > days]

    tier: CreditTier
    reason: Reason
    behind: list[Seen]
    if longest > D_OVERDUE_DAYS:
        tier, reason, behind = "D", "long_overdue", beyond(D_OVERDUE_DAYS)
    elif longest > C_OVERDUE_DAYS and overdue_amount >= D_OVERDUE_SHARE * fell_due:
        tier, reason, behind = "D", "large_overdue", overdue
    elif longest > C_OVERDUE_DAYS:
        tier, reason, behind = "C", "overdue", beyond(C_OVERDUE_DAYS)
    elif enough and share is not None and share < C_SHARE_ON_TIME:
        tier, reason, behind = "C", "often_late", late
    elif enough and average is not None and average > C_AVERAGE_DAYS_LATE:
        tier, reason, behind = "C", "pays_late", late
    elif enough and share is not None and share >= A_SHARE_ON_TIME and longest <= GRACE_DAYS:
        tier, reason, behind = "A", "on_time", counted
    elif not seen:
        tier, reason, behind = "B", "no_history", []
    else:
        tier, reason, behind = "B", "normal" if enough else "little_history", counted + overdue
    evidence = CreditEvidence(
        instalments_due=len(counted),
        share_on_time=round(share, 4) if share is not None else None,
        average_days_late=round(average, 2) if average is not None else None,
        outstanding=sum((i.unpaid for i in seen), Decimal(0)),
        overdue=overdue_amount,
        longest_overdue_days=longest,
        event_ids=_newest_ids(behind),
    )
    return Judgement(tier, reason, evidence, review_at(seen, as_of))


def _newest_ids(behind: Iterable[Seen]) -> list[uuid.UUID]:
    events = sorted({e for i in behind for e in i.events}, key=lambda e: (e[0], e[1]), reverse=True)
    ids: list[uuid.UUID] = []
    for _, event_id in events:
        if event_id not in ids:
            ids.append(event_id)
    return ids[:MAX_EVIDENCE_IDS]


def review_at(seen: Iterable[Seen], as_of: datetime) -> datetime | None:
    """The next moment time alone may change the judgement: an instalment's due date passing
    (it counts, it is overdue), its grace days running out unpaid (it counts as late), its days
    overdue going beyond ``C_OVERDUE_DAYS`` and ``D_OVERDUE_DAYS``, and a paid one leaving the
    window. Nothing else in the rule moves with time alone."""
    moments: list[datetime] = []
    for i in seen:
        steps = ((1, WINDOW_DAYS + 1) if i.settled_at is not None
                 else (1, GRACE_DAYS + 1, C_OVERDUE_DAYS + 1, D_OVERDUE_DAYS + 1))
        moments.extend(m for days in steps if (m := i.due_at + days * DAY) > as_of)
    return min(moments, default=None)


# --- the recorded standing and its changes ----------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What insights recorded of a customer: the tier in force since ``since``, judged ``as_of``."""

    tier: CreditTier
    since: datetime
    as_of: datetime


def change(customer_id: uuid.UUID, recorded: Standing | None, judged: Judgement,
           as_of: datetime) -> CreditStandingChanged | None:
    """The event to publish when the judged tier differs from the recorded one (no standing
    recorded counts as ``DEFAULT_TIER``: a first B is recorded, not announced)."""
    previous = recorded.tier if recorded is not None else None
    if judged.tier == (previous or DEFAULT_TIER):
        return None
    return CreditStandingChanged(customer_id=customer_id, occurred_at=as_of, previous_tier=previous,
                                 tier=judged.tier, reason=judged.reason, rule_version=RULE_VERSION,
                                 evidence=judged.evidence)


def next_standing(recorded: Standing | None, judged: Judgement, as_of: datetime) -> Standing:
    if recorded is not None and recorded.tier == judged.tier:
        return Standing(recorded.tier, recorded.since, max(as_of, recorded.as_of))
    return Standing(judged.tier, as_of, as_of)
