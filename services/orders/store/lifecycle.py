"""SQL of an order's life after it was placed (queries in ``sql/lifecycle.sql``). Never commits."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.orders.domain.orders import Order
from services.orders.store import orders as orders_store
from shared.events import OrderReturned
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "lifecycle.sql")


async def order_for_update(conn: asyncpg.Connection, order_id: uuid.UUID) -> Order | None:
    """The order, locked until the transaction ends."""
    if await conn.fetchval(Q["lock_order"], order_id) is None:
        return None
    return await orders_store.order_by_id(conn, order_id)


async def set_status(conn: asyncpg.Connection, order_id: uuid.UUID, status: str) -> None:
    await conn.execute(Q["set_status"], order_id, status)


async def add_history(conn: asyncpg.Connection, order_id: uuid.UUID, *, kind: str, previous: str, status: str,
                      by: str, note: str, at: datetime, return_id: uuid.UUID | None = None,
                      amount: Decimal | None = None) -> None:
    await conn.execute(Q["add_history"], order_id, kind, previous, status, by, note, return_id, amount, at)


async def insert_return(conn: asyncpg.Connection, event: OrderReturned, status: str) -> None:
    """The return, and what came back added to the order's lines and total; the order gets ``status``."""
    await conn.execute(
        Q["insert_return"], event.return_id, event.order_id, event.amount, event.whole, event.reason,
        event.returned_by, event.occurred_at,
        [ln.line_no for ln in event.lines], [ln.sku for ln in event.lines], [ln.quantity for ln in event.lines],
        [ln.amount for ln in event.lines], status)


async def history_of(conn: asyncpg.Connection, order_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["history_of"], order_id)]


async def returns_of(conn: asyncpg.Connection, order_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(Q["returns_of"], order_id)
    return [{**dict(r), "lines": json.loads(r["lines"]) if isinstance(r["lines"], str) else r["lines"]}
            for r in rows]
