"""Receivables rules without I/O: allocation oldest due first, the overpayment rule, instalment
plans, what returns leave owed, ageing buckets at their boundaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.orders.domain import ageing, allocation
from services.orders.domain.allocation import OpenInstalment, PlannedInstalment
from shared.errors import Invalid
from shared.events import Instalment

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
A, B = uuid.UUID(int=1), uuid.UUID(int=2)


def _open(order: uuid.UUID, no: int, days: int, amount: str, paid: str = "0") -> OpenInstalment:
    return OpenInstalment(order_id=order, no=no, due_at=T0 + timedelta(days=days), amount=Decimal(amount),
                          paid=Decimal(paid))


def _inst(no: int, days: int, amount: str, paid: str = "0") -> Instalment:
    return Instalment(no=no, due_at=T0 + timedelta(days=days), amount=Decimal(amount), paid=Decimal(paid))


def test_money_pays_the_oldest_due_first_and_the_rest_is_left_over() -> None:
    due = [_open(B, 1, 30, "100.00"), _open(A, 1, 10, "50.00", paid="20.00"), _open(A, 2, 40, "50.00")]
    allocations, rest = allocation.allocate(Decimal("150.00"), due)
    assert [(a.order_id, a.instalment_no, a.amount) for a in allocations] == [
        (A, 1, Decimal("30.00")), (B, 1, Decimal("100.00")), (A, 2, Decimal("20.00"))]
    assert rest == Decimal("0.00")
    everything, left = allocation.allocate(Decimal("200.00"), due)
    assert sum(a.amount for a in everything) == Decimal("180.00") and left == Decimal("20.00")


def test_a_named_order_is_paid_before_older_instalments_of_others() -> None:
    due = [_open(A, 1, 10, "50.00"), _open(B, 1, 30, "100.00")]
    allocations, rest = allocation.allocate(Decimal("120.00"), due, order_first=B)
    assert [(a.order_id, a.amount) for a in allocations] == [(B, Decimal("100.00")), (A, Decimal("20.00"))]
    assert rest == 0


def test_more_than_owed_needs_the_overpayment_flag() -> None:
    allocation.refuse_overpayment(Decimal("100.00"), Decimal("100.00"), False)
    allocation.refuse_overpayment(Decimal("100.01"), Decimal("100.00"), True)
    with pytest.raises(Invalid) as refused:
        allocation.refuse_overpayment(Decimal("100.01"), Decimal("100.00"), False)
    assert [e.field for e in refused.value.errors or []] == ["amount"]


def test_a_plan_must_add_up_to_what_is_owed_and_keeps_paid_money_earliest_first() -> None:
    current = [_inst(1, 30, "300.00", paid="150.00")]
    with pytest.raises(Invalid) as refused:
        allocation.plan([PlannedInstalment(T0, Decimal("100.00"))], current)
    assert [e.field for e in refused.value.errors or []] == ["instalments"]
    fresh = allocation.plan([PlannedInstalment(T0 + timedelta(days=60), Decimal("200.00")),
                             PlannedInstalment(T0 + timedelta(days=30), Decimal("100.00"))], current)
    assert [(i.no, i.amount, i.paid) for i in fresh] == [
        (1, Decimal("100.00"), Decimal("100.00")), (2, Decimal("200.00"), Decimal("50.00"))]


def test_a_return_reduces_the_latest_instalments_first_and_frees_paid_money_as_credit() -> None:
    current = [_inst(1, 30, "100.00", paid="100.00"), _inst(2, 60, "100.00", paid="30.00")]
    kept, credit = allocation.reduced(current, Decimal("80.00"))
    assert [(i.no, i.amount, i.paid) for i in kept] == [
        (1, Decimal("100.00"), Decimal("100.00")), (2, Decimal("20.00"), Decimal("20.00"))]
    assert credit == Decimal("10.00")
    kept, credit = allocation.reduced(current, Decimal("150.00"))
    assert [(i.no, i.amount, i.paid) for i in kept] == [(1, Decimal("50.00"), Decimal("50.00"))]
    assert credit == Decimal("80.00")
    kept, credit = allocation.reduced(current, Decimal("500.00"))
    assert kept == [] and credit == Decimal("130.00")


@pytest.mark.parametrize(("days", "bucket"), [
    (0, "current"), (1, "days_1_30"), (30, "days_1_30"), (31, "days_31_60"), (60, "days_31_60"),
    (61, "days_61_90"), (90, "days_61_90"), (91, "over_90")])
def test_ageing_buckets_at_their_boundaries(days: int, bucket: str) -> None:
    assert ageing.bucket(T0, T0 + timedelta(days=days)) == bucket


def test_a_day_begun_counts_and_not_yet_due_is_current() -> None:
    assert ageing.bucket(T0, T0 - timedelta(days=5)) == "current"
    assert ageing.bucket(T0, T0 + timedelta(minutes=1)) == "days_1_30"
    assert ageing.bucket(T0, T0 + timedelta(days=30, seconds=1)) == "days_31_60"
    aged = ageing.buckets_of([(T0, Decimal("10.00")), (T0 - timedelta(days=100), Decimal("5.00"))], T0)
    assert (aged.current, aged.over_90, aged.total) == (Decimal("10.00"), Decimal("5.00"), Decimal("15.00"))
