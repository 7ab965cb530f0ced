"""All SQL of orders (queries in ``sql/orders.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.orders.domain.orders import Order, OrderLineView
from shared.merges import MergeRekeying
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "orders.sql")
# Merged customers: their orders move to the survivor, and back on undo (shared/merges.py).
MERGES = MergeRekeying(load_queries(Path(__file__).parent.parent / "sql" / "merges.sql"))


async def insert_order(conn: asyncpg.Connection, order: Order) -> bool:
    """False when the order's external_ref is already taken (nothing is written)."""
    inserted = await conn.fetchval(
        Q["insert_order"], order.id, order.customer_id, order.channel, order.currency, order.total,
        order.occurred_at, order.recorded_at, order.external_ref,
        list(range(1, len(order.lines) + 1)),
        [ln.sku for ln in order.lines],
        [ln.quantity for ln in order.lines],
        [ln.unit_price for ln in order.lines],
        [ln.amount for ln in order.lines],
        [ln.discount for ln in order.lines],
        [ln.category for ln in order.lines],
        order.status, order.discount, order.paid_with,
    )
    return inserted is not None


async def insert_orders(conn: asyncpg.Connection, orders: Sequence[Order]) -> set[uuid.UUID]:
    """Insert orders with their lines in one statement; returns the ids inserted. An order whose
    external_ref is already taken is skipped (see ``order_ids_by_external_refs``)."""
    # In external_ref order: concurrent batches that share refs then wait on each other in the
    # same order instead of deadlocking.
    orders = sorted(orders, key=lambda o: o.external_ref or "")
    line_orders, line_nos, skus, quantities, prices, amounts, discounts, categories = [], [], [], [], [], [], [], []
    for order in orders:
        for line_no, ln in enumerate(order.lines, start=1):
            line_orders.append(order.id)
            line_nos.append(line_no)
            skus.append(ln.sku)
            quantities.append(ln.quantity)
            prices.append(ln.unit_price)
            amounts.append(ln.amount)
            discounts.append(ln.discount)
            categories.append(ln.category)
    rows = await conn.fetch(
        Q["insert_orders"],
        [o.id for o in orders], [o.customer_id for o in orders], [o.channel for o in orders],
        [o.currency for o in orders], [o.total for o in orders], [o.occurred_at for o in orders],
        [o.recorded_at for o in orders], [o.external_ref for o in orders],
        line_orders, line_nos, skus, quantities, prices, amounts,
        [o.discount for o in orders], [o.paid_with for o in orders], discounts, categories,
    )
    return {r["id"] for r in rows}


async def order_ids_by_external_refs(conn: asyncpg.Connection, external_refs: Sequence[str]) -> dict[str, uuid.UUID]:
    if not external_refs:
        return {}
    return {r["external_ref"]: r["id"] for r in await conn.fetch(Q["order_ids_by_external_refs"], list(external_refs))}


async def order_id_by_external_ref(conn: asyncpg.Connection, external_ref: str) -> uuid.UUID | None:
    value = await conn.fetchval(Q["order_id_by_external_ref"], external_ref)
    return value if value is None else uuid.UUID(str(value))


async def order_by_id(conn: asyncpg.Connection, order_id: uuid.UUID) -> Order | None:
    orders = await _with_lines(conn, await conn.fetch(Q["order_by_id"], order_id))
    return orders[0] if orders else None


async def list_orders(
    conn: asyncpg.Connection, *, after: uuid.UUID | None, customer_id: uuid.UUID | None, limit: int,
    owner_filter: str | None = None, status: str | None = None, newest_first: bool = False,
) -> list[Order]:
    """``owner_filter`` (``Scope.owner_filter``): only orders of this owner's customers and the pool's."""
    if newest_first:
        rows = await conn.fetch(Q["list_orders_newest"], after, customer_id, limit, owner_filter, status)
    else:
        rows = await conn.fetch(Q["list_orders"], after, customer_id, limit, owner_filter, status)
    return await _with_lines(conn, rows)


async def _with_lines(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Order]:
    if not rows:
        return []
    lines: dict[uuid.UUID, list[OrderLineView]] = defaultdict(list)
    for ln in await conn.fetch(Q["lines_of_orders"], [r["id"] for r in rows]):
        lines[ln["order_id"]].append(OrderLineView(**{k: v for k, v in dict(ln).items() if k != "order_id"}))
    return [Order(lines=lines[r["id"]], **dict(r)) for r in rows]
