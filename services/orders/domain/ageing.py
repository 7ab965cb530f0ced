"""Ageing of what is owed (docs/architecture.md §14.2): each open instalment's unpaid part falls in
a bucket by its days past due as of ``as_of``. A day begun counts: due at 10:00, seen at 10:01 the
same day is 1 day past due; exactly at its due time it is still current. ``sql/ageing.sql`` says
the same in SQL (``bucket_sql``); tests hold both to the boundaries.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from shared.events import Money

Bucket = Literal["current", "days_1_30", "days_31_60", "days_61_90", "over_90"]
BUCKETS: tuple[Bucket, ...] = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")


def days_past_due(due_at: datetime, as_of: datetime) -> int:
    """Whole days begun since the due date; 0 when not yet past it."""
    seconds = (as_of - due_at).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def bucket(due_at: datetime, as_of: datetime) -> Bucket:
    days = days_past_due(due_at, as_of)
    if days == 0:
        return "current"
    if days <= 30:
        return "days_1_30"
    if days <= 60:
        return "days_31_60"
    if days <= 90:
        return "days_61_90"
    return "over_90"


class Buckets(BaseModel):
    """Unpaid money by days past due: not yet due, 1-30, 31-60, 61-90, over 90 days."""

    current: Money = Decimal("0.00")
    days_1_30: Money = Decimal("0.00")
    days_31_60: Money = Decimal("0.00")
    days_61_90: Money = Decimal("0.00")
    over_90: Money = Decimal("0.00")
    total: Money = Decimal("0.00")


def buckets_of(open_parts: list[tuple[datetime, Decimal]], as_of: datetime) -> Buckets:
    """Ageing of (due_at, unpaid) pairs, as the SQL does it (tests compare the two)."""
    sums = dict.fromkeys(BUCKETS, Decimal("0.00"))
    for due_at, unpaid in open_parts:
        sums[bucket(due_at, as_of)] += unpaid
    return Buckets(**sums, total=sum(sums.values(), Decimal("0.00")))
