"""What customers owe: credit terms and instalments (docs/architecture.md §14.2)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from shared.events import Instalment, ReceivableScheduled


@dataclass(frozen=True)
class CreditTerms:
    """A customer's terms. Without terms a customer pays at once (their orders owe nothing)."""

    customer_id: uuid.UUID
    payment_days: int
    credit_limit: Decimal | None
    when_exceeded: Literal["refuse", "approval"]
    set_by: str
    reason: str
    set_at: datetime


def first_schedule(total: Decimal, placed_at: datetime, terms: CreditTerms) -> list[Instalment]:
    """An order on account owes its total in one instalment, due ``payment_days`` after it was placed."""
    return [Instalment(no=1, due_at=placed_at + timedelta(days=terms.payment_days), amount=total,
                       paid=Decimal("0.00"))]


def scheduled(customer_id: uuid.UUID, order_id: uuid.UUID, revision: int, instalments: Sequence[Instalment],
              now: datetime) -> ReceivableScheduled:
    """The event saying what the order owes now (the full schedule, ``revision`` of the order's)."""
    return ReceivableScheduled(customer_id=customer_id, occurred_at=now, order_id=order_id, revision=revision,
                               instalments=list(instalments))
