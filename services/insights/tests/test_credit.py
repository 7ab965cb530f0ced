"""The credit rule (services/insights/credit.py, docs/credit.md) on hand-made payment histories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.insights import credit
from shared.events import (
    CreditStandingChanged,
    Event,
    Instalment,
    OrderCancelled,
    PaymentAllocation,
    PaymentOverdue,
    PaymentRecorded,
    ReceivableScheduled,
)

CUSTOMER = uuid.UUID("00000000-0000-0000-0000-00000000c0de")
START = datetime(2026, 1, 5, 10, tzinfo=UTC)
DAY = timedelta(days=1)


class Book:
    """A customer's orders on account and payments, as kehu.orders tells them, folded as they come."""

    def __init__(self) -> None:
        self.history = credit.History()
        self.events: list[tuple[uuid.UUID, Event]] = []
        self.revisions: dict[uuid.UUID, int] = {}

    def add(self, event: ReceivableScheduled | PaymentRecorded | PaymentOverdue | OrderCancelled) -> uuid.UUID:
        event_id = uuid.uuid4()
        self.events.append((event_id, event))
        self.history = credit.fold(self.history, event_id, event)
        return event_id

    def order(self, amount: str, placed: datetime, days: int = 30, paid: str = "0") -> uuid.UUID:
        order_id = uuid.uuid4()
        self.schedule(order_id, amount, placed + days * DAY, placed, paid)
        return order_id

    def schedule(self, order_id: uuid.UUID, amount: str, due_at: datetime, at: datetime, paid: str = "0") -> uuid.UUID:
        self.revisions[order_id] = self.revisions.get(order_id, 0) + 1
        return self.add(ReceivableScheduled(
            customer_id=CUSTOMER, occurred_at=at, order_id=order_id, revision=self.revisions[order_id],
            instalments=[Instalment(no=1, due_at=due_at, amount=Decimal(amount), paid=Decimal(paid))]))

    def pay(self, order_id: uuid.UUID, amount: str, at: datetime) -> uuid.UUID:
        due_at = self.history.schedules[order_id].instalments[0].due_at
        return self.add(PaymentRecorded(
            customer_id=CUSTOMER, occurred_at=at, payment_id=uuid.uuid4(), method="bank_transfer",
            amount=Decimal(amount), unallocated=Decimal(0), recorded_by="test",
            allocations=[PaymentAllocation(order_id=order_id, instalment_no=1, amount=Decimal(amount), due_at=due_at)]))

    def judge(self, as_of: datetime) -> credit.Judgement:
        return credit.judge(self.history, as_of)


def paying(late_days: int, orders: int = 4, amount: str = "100.00") -> Book:
    """Orders 30 days apart, each due 30 days after it was placed and paid ``late_days`` after that."""
    book = Book()
    for n in range(orders):
        placed = START + n * 30 * DAY
        order_id = book.order(amount, placed)
        book.pay(order_id, amount, placed + (30 + late_days) * DAY)
    return book


AFTER_ALL = START + 250 * DAY


def test_no_history_is_b() -> None:
    judged = credit.judge(credit.History(), AFTER_ALL)
    assert (judged.tier, judged.reason) == ("B", "no_history")
    assert judged.evidence.instalments_due == 0 and judged.evidence.share_on_time is None
    assert judged.review_at is None


def test_always_on_time_is_a() -> None:
    judged = paying(late_days=0).judge(AFTER_ALL)
    assert (judged.tier, judged.reason) == ("A", "on_time")
    assert judged.evidence.instalments_due == 4
    assert judged.evidence.share_on_time == 1.0
    assert judged.evidence.outstanding == judged.evidence.overdue == Decimal("0.00")
    assert judged.review_at == START + (30 + credit.WINDOW_DAYS + 1) * DAY  # the oldest leaves the window


def test_paying_within_the_grace_days_is_on_time() -> None:
    assert paying(late_days=credit.GRACE_DAYS).judge(AFTER_ALL).tier == "A"


def test_two_on_time_instalments_are_not_enough_history_for_a() -> None:
    judged = paying(late_days=0, orders=2).judge(AFTER_ALL)
    assert (judged.tier, judged.reason) == ("B", "little_history")


def test_always_40_days_late_is_c() -> None:
    judged = paying(late_days=40).judge(AFTER_ALL)
    assert (judged.tier, judged.reason) == ("C", "often_late")
    assert judged.evidence.share_on_time == 0.0
    assert judged.evidence.average_days_late == 40.0
    assert judged.evidence.overdue == Decimal("0.00")


def test_an_open_overdue_instalment_counts_as_late_but_not_in_the_average() -> None:
    book = paying(late_days=10)
    book.order("100.00", START + 150 * DAY)
    due = START + 180 * DAY
    judged = book.judge(due + 20 * DAY)
    assert judged.evidence.instalments_due == 5 and judged.evidence.share_on_time == 0.0
    assert judged.evidence.average_days_late == 10.0
    assert judged.evidence.longest_overdue_days == 20
    assert judged.review_at == due + 31 * DAY


def test_often_a_little_late_on_average_more_than_15_days_is_c() -> None:
    book = paying(late_days=0, orders=9)
    order_id = book.order("100.00", START + 300 * DAY)
    book.pay(order_id, "100.00", START + (330 + 20) * DAY)  # 1 of 10 late: 90% on time, but 20 days late
    judged = book.judge(START + 360 * DAY)
    assert (judged.tier, judged.reason) == ("C", "pays_late")
    assert judged.evidence.share_on_time == 0.9


def test_one_large_unpaid_invoice_becomes_d() -> None:
    book = paying(late_days=0)  # a good payer of small amounts
    big = START + 150 * DAY
    book.order("5000.00", big)
    due = big + 30 * DAY
    assert book.judge(due + 20 * DAY).tier == "B"  # overdue but not for long: B, not A any more
    judged = book.judge(due + 31 * DAY)
    assert (judged.tier, judged.reason) == ("D", "large_overdue")  # most of all it ever owed
    judged = book.judge(due + 61 * DAY)
    assert (judged.tier, judged.reason) == ("D", "long_overdue")
    assert judged.evidence.overdue == judged.evidence.outstanding == Decimal("5000.00")
    assert judged.evidence.longest_overdue_days == 61


def test_a_small_overdue_invoice_is_c_after_30_days_and_d_after_60() -> None:
    book = paying(late_days=0, amount="1000.00")
    placed = START + 150 * DAY
    book.order("50.00", placed)
    schedule_id = book.events[-1][0]
    due = placed + 30 * DAY
    judged = book.judge(due + 31 * DAY)
    assert (judged.tier, judged.reason) == ("C", "overdue")
    assert schedule_id in judged.evidence.event_ids
    assert judged.review_at == due + 61 * DAY  # when it would go beyond 60 days
    assert book.judge(due + 60 * DAY).tier == "C"
    judged = book.judge(due + 61 * DAY)
    assert (judged.tier, judged.reason) == ("D", "long_overdue")
    # D while it stays unpaid: only a paid one leaving the window is left to look at
    assert judged.review_at == START + (30 + credit.WINDOW_DAYS + 1) * DAY


def test_a_payment_lifts_d_back() -> None:
    book = paying(late_days=0)
    order_id = book.order("5000.00", START + 150 * DAY)
    due = START + 180 * DAY
    assert book.judge(due + 70 * DAY).tier == "D"
    payment_id = book.pay(order_id, "5000.00", due + 70 * DAY)
    judged = book.judge(due + 70 * DAY)
    assert (judged.tier, judged.reason) == ("C", "pays_late")  # out of D; paid 70 days late, watched
    assert payment_id in judged.evidence.event_ids
    assert judged.evidence.overdue == Decimal("0.00")
    assert judged.evidence.average_days_late == 70.0
    later = due + (70 + credit.WINDOW_DAYS) * DAY
    for n in range(3):  # a year on, paying in time: the late payment is forgiven
        placed = later - (40 + 60 * n) * DAY
        book.pay(book.order("100.00", placed), "100.00", placed + 30 * DAY)
    judged = book.judge(later)
    assert (judged.tier, judged.reason) == ("A", "on_time")
    assert judged.evidence.instalments_due == 3


def test_a_payment_lifts_d_to_b_when_lateness_was_short() -> None:
    book = paying(late_days=0)
    order_id = book.order("5000.00", START + 150 * DAY)
    due = START + 180 * DAY
    assert book.judge(due + 61 * DAY).tier == "D"
    book.pay(order_id, "5000.00", due + 12 * DAY)  # a payment recorded late: it was paid 12 days late
    judged = book.judge(due + 61 * DAY)
    assert (judged.tier, judged.reason) == ("B", "normal")


def test_a_part_payment_keeps_the_rest_overdue() -> None:
    book = Book()
    order_id = book.order("300.00", START)
    book.pay(order_id, "100.00", START + 31 * DAY)
    judged = book.judge(START + 100 * DAY)
    assert judged.evidence.outstanding == judged.evidence.overdue == Decimal("200.00")
    assert judged.tier == "D"


def test_a_cancelled_order_owes_nothing() -> None:
    book = Book()
    order_id = book.order("300.00", START)
    book.add(OrderCancelled(customer_id=CUSTOMER, occurred_at=START + DAY, order_id=order_id, previous_status="placed",
                            total=Decimal("300.00"), reason="changed mind", cancelled_by="test"))
    judged = book.judge(START + 200 * DAY)
    assert (judged.tier, judged.reason) == ("B", "no_history")
    assert judged.evidence.outstanding == Decimal("0.00")


def test_the_newest_revision_of_a_schedule_wins_whatever_order_they_come_in() -> None:
    book = Book()
    order_id = uuid.uuid4()
    due = START + 30 * DAY
    first = ReceivableScheduled(customer_id=CUSTOMER, occurred_at=START, order_id=order_id, revision=1,
                                instalments=[Instalment(no=1, due_at=due, amount=Decimal(900), paid=Decimal(0))])
    returned = ReceivableScheduled(customer_id=CUSTOMER, occurred_at=START + DAY, order_id=order_id, revision=2,
                                   instalments=[Instalment(no=1, due_at=due, amount=Decimal(100), paid=Decimal(0))])
    book.add(returned)
    book.add(first)  # late and old: ignored
    assert book.judge(START + 40 * DAY).evidence.outstanding == Decimal("100.00")


def test_paid_as_the_schedule_says_without_the_payment_event_counts_from_the_schedule_time() -> None:
    book = Book()
    order_id = book.order("100.00", START)
    book.schedule(order_id, "100.00", START + 30 * DAY, START + 45 * DAY, paid="100.00")  # a credit note, say
    judged = book.judge(START + 100 * DAY)
    assert judged.evidence.outstanding == Decimal("0.00")
    assert judged.evidence.average_days_late == 15.0


def test_a_redelivered_or_repeated_event_changes_nothing() -> None:
    book = paying(late_days=5)
    order_id = book.order("100.00", START + 200 * DAY)
    book.add(PaymentOverdue(customer_id=CUSTOMER, occurred_at=START + 230 * DAY, order_id=order_id, instalment_no=1,
                            due_at=START + 230 * DAY, amount_due=Decimal(100), as_of=START + 231 * DAY))
    before = book.history
    judged = book.judge(AFTER_ALL)
    for event_id, event in list(book.events):
        assert credit.fold(book.history, event_id, event) == before  # the same event again
        assert credit.fold(book.history, uuid.uuid4(), event) == before  # the same fact under another id
    assert credit.judge(book.history, AFTER_ALL) == judged


def test_an_instalment_paid_early_counts_once_its_due_date_passed() -> None:
    book = Book()
    for n in range(3):
        order_id = book.order("100.00", START + n * DAY)
        book.pay(order_id, "100.00", START + n * DAY)
    assert book.judge(START + 10 * DAY).evidence.instalments_due == 0
    assert book.judge(START + 10 * DAY).review_at == START + 31 * DAY
    assert book.judge(START + 33 * DAY).tier == "A"


def test_a_change_is_published_only_when_the_tier_changes() -> None:
    book = paying(late_days=0)
    a = book.judge(AFTER_ALL)
    first = credit.change(CUSTOMER, None, a, AFTER_ALL)
    assert isinstance(first, CreditStandingChanged)
    assert (first.previous_tier, first.tier, first.reason) == (None, "A", "on_time")
    assert first.rule_version == credit.RULE_VERSION and first.evidence.event_ids
    recorded = credit.next_standing(None, a, AFTER_ALL)
    later = AFTER_ALL + 10 * DAY
    assert credit.change(CUSTOMER, recorded, book.judge(later), later) is None
    assert credit.next_standing(recorded, book.judge(later), later) == credit.Standing("A", AFTER_ALL, later)


def test_a_first_standing_of_b_is_recorded_not_published() -> None:
    judged = credit.judge(credit.History(), AFTER_ALL)
    assert credit.change(CUSTOMER, None, judged, AFTER_ALL) is None
    assert credit.next_standing(None, judged, AFTER_ALL) == credit.Standing("B", AFTER_ALL, AFTER_ALL)
