"""What an order's cancellation or return does to what it owes (docs/architecture.md §14.2).

Called by the lifecycle routes inside the write's transaction; the events returned are published
with the change. These are placeholders: nothing owed changes (no order owes anything until the
receivables part schedules instalments, and that part provides the real hooks under the same
names, replacing this module and ``sql/receivables_hooks.sql``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.orders.domain.orders import Order
from shared.events import Event
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "receivables_hooks.sql")
log = logging.getLogger(__name__)


async def _warn_if_owed(conn: asyncpg.Connection, order: Order, what: str) -> None:
    unpaid = Decimal(await conn.fetchval(Q["unpaid_of_order"], order.id))
    if unpaid:
        log.warning("order %s %s while it owes %s: these placeholder hooks leave its instalments as they are",
                    order.id, what, unpaid)


async def order_cancelled(conn: asyncpg.Connection, order: Order, now: datetime) -> list[Event]:
    """The cancelled order owes nothing any more. Placeholder: no events."""
    del now
    await _warn_if_owed(conn, order, "was cancelled")
    return []


async def order_returned(conn: asyncpg.Connection, order: Order, amount: Decimal, now: datetime) -> list[Event]:
    """``amount`` came back: the order owes that much less. Placeholder: no events."""
    del now
    await _warn_if_owed(conn, order, f"had {amount} returned")
    return []
