"""How money meets what is owed (docs/architecture.md §14.2): payments and credit allocated to open
instalments oldest due first, instalment plans, and what cancels and returns leave owed.

Plain functions over ``Instalment`` lists; the store reads and writes them, the routes publish.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.errors import FieldProblem, Invalid
from shared.events import Instalment, PaymentAllocation

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class OpenInstalment:
    """An instalment with something still to pay, and the order it belongs to."""

    order_id: uuid.UUID
    no: int
    due_at: datetime
    amount: Decimal
    paid: Decimal

    @property
    def open(self) -> Decimal:
        return self.amount - self.paid


def allocate(amount: Decimal, open_instalments: Sequence[OpenInstalment], *,
             order_first: uuid.UUID | None = None) -> tuple[list[PaymentAllocation], Decimal]:
    """``amount`` allocated to the open instalments, the named order's first, then oldest due first
    (ties: order id, then instalment number); returns the allocations and what is left over."""
    ordered = sorted(open_instalments, key=lambda i: (i.order_id != order_first, i.due_at, i.order_id, i.no))
    left = amount
    allocations: list[PaymentAllocation] = []
    for inst in ordered:
        if left <= ZERO:
            break
        take = min(left, inst.open)
        if take <= ZERO:
            continue
        allocations.append(PaymentAllocation(order_id=inst.order_id, instalment_no=inst.no, amount=take,
                                             due_at=inst.due_at))
        left -= take
    return allocations, left


def refuse_overpayment(amount: Decimal, balance: Decimal, overpayment: bool) -> None:
    """More than the customer owes is taken only when the payer says so (``overpayment: true``)."""
    if amount > balance and not overpayment:
        raise Invalid.field("amount", f"{amount} is more than the customer owes ({balance}); send "
                            "`overpayment: true` to keep the rest on the customer's account")


def with_paid(instalments: Sequence[Instalment], allocations: Sequence[PaymentAllocation],
              order_id: uuid.UUID) -> list[Instalment]:
    """The order's instalments after ``allocations`` (those of other orders ignored)."""
    extra: dict[int, Decimal] = {}
    for a in allocations:
        if a.order_id == order_id:
            extra[a.instalment_no] = extra.get(a.instalment_no, ZERO) + a.amount
    return [i.model_copy(update={"paid": i.paid + extra.get(i.no, ZERO)}) for i in instalments]


def owed(instalments: Sequence[Instalment]) -> Decimal:
    return sum((i.amount for i in instalments), ZERO)


def paid(instalments: Sequence[Instalment]) -> Decimal:
    return sum((i.paid for i in instalments), ZERO)


def reduced(instalments: Sequence[Instalment], by: Decimal) -> tuple[list[Instalment], Decimal]:
    """What a return of ``by`` leaves owed: the latest instalments fall first; money paid beyond an
    instalment's new amount is returned as credit (second value). Instalments falling to nothing go."""
    left = by
    kept: list[Instalment] = []
    credit = ZERO
    for inst in sorted(instalments, key=lambda i: (i.due_at, i.no), reverse=True):
        cut = min(left, inst.amount)
        left -= cut
        amount = inst.amount - cut
        paid_now = min(inst.paid, amount)
        credit += inst.paid - paid_now
        if amount > ZERO:
            kept.append(inst.model_copy(update={"amount": amount, "paid": paid_now}))
    return sorted(kept, key=lambda i: i.no), credit


@dataclass(frozen=True)
class PlannedInstalment:
    due_at: datetime
    amount: Decimal


def plan(planned: Sequence[PlannedInstalment], current: Sequence[Instalment]) -> list[Instalment]:
    """An instalment plan (回款计划) replacing the order's schedule: its amounts must add up to what
    the order owes (422 naming ``instalments``); the money already paid stays allocated, to the
    earliest due first."""
    total = sum((p.amount for p in planned), ZERO)
    if total != owed(current):
        raise Invalid("the plan's amounts must add up to what the order owes", errors=[FieldProblem(
            "instalments", f"the amounts add up to {total}, the order owes {owed(current)}", "plan_sum")])
    left = paid(current)
    fresh: list[Instalment] = []
    for no, p in enumerate(sorted(planned, key=lambda p: p.due_at), start=1):
        take = min(left, p.amount)
        left -= take
        fresh.append(Instalment(no=no, due_at=p.due_at, amount=p.amount, paid=take))
    return fresh
