"""What customers owe: credit terms and instalments (docs/architecture.md §14.2)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal


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
