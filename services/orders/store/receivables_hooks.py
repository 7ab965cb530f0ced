"""What an order's cancellation or return does to what it owes (docs/architecture.md §14.2).

Called by the lifecycle routes inside the write's transaction; the events returned are published
with the change. These are placeholders (nothing owed changes): the receivables part provides the
real ones under the same names.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import asyncpg

from services.orders.domain.orders import Order
from shared.events import Event


async def order_cancelled(conn: asyncpg.Connection, order: Order, now: datetime) -> list[Event]:
    """The cancelled order owes nothing any more. Placeholder: no events."""
    del conn, order, now
    return []


async def order_returned(conn: asyncpg.Connection, order: Order, amount: Decimal, now: datetime) -> list[Event]:
    """``amount`` came back: the order owes that much less. Placeholder: no events."""
    del conn, order, amount, now
    return []
