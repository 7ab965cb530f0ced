"""HTTP routes of an order's life after it was placed: the next status, cancellation, returns.
Parse, check the scope, call the domain (domain/lifecycle.py), store, publish via the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.orders.domain import lifecycle as domain
from services.orders.domain.orders import Order
from services.orders.store import lifecycle as store
from services.orders.store import orders as orders_store
from services.orders.store import receivables_hooks
from shared.auth import Principal
from shared.customers import SCOPED_ANSWERS, ensure_may_see
from shared.errors import NotFound
from shared.events import Money, OrderStatus, ReturnedLine, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, require
from shared.outbox import append
from shared.writes import write_once

router = APIRouter(tags=["orders"])


class HistoryEntry(BaseModel):
    kind: Literal["status", "cancelled", "returned"]
    previous_status: OrderStatus
    status: OrderStatus
    changed_by: str
    note: str = Field(description="The step's note, the cancellation's or the return's reason.")
    return_id: uuid.UUID | None = None
    amount: Money | None = Field(None, description="A return's money given back.")
    changed_at: datetime


class ReturnRecord(BaseModel):
    id: uuid.UUID
    amount: Money
    whole: bool
    reason: str
    returned_by: str
    returned_at: datetime
    lines: list[ReturnedLine]


class OrderDetail(Order):
    allowed_next: list[str] = Field(description="What may happen next: the next status, `cancelled`, `returned`.")
    history: list[HistoryEntry] = Field(description="Status steps, cancellation and returns, oldest first.")
    returns: list[ReturnRecord]


async def detail(conn: asyncpg.Connection, order: Order) -> dict[str, Any]:
    """The order as GET /orders/{id} shows it."""
    return OrderDetail(
        **order.model_dump(), allowed_next=domain.allowed_actions(order.status),
        history=[HistoryEntry(**h) for h in await store.history_of(conn, order.id)],
        returns=[ReturnRecord(**r) for r in await store.returns_of(conn, order.id)],
    ).model_dump(mode="json")


CHANGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such order"},
    409: {"model": Problem, "description": "not allowed from the order's status (`allowed` lists what is)"},
    **SCOPED_ANSWERS,
}


async def _reread(conn: asyncpg.Connection, order_id: uuid.UUID) -> Order:
    order = await orders_store.order_by_id(conn, order_id)
    assert order is not None  # locked by this transaction
    return order


async def _change(request: Request, principal: Principal, idempotency_key: str | None, order_id: uuid.UUID,
                  apply: Callable[[asyncpg.Connection, Order, datetime], Awaitable[None]]) -> Response:
    """Check the order is the principal's to see, then ``apply`` under its lock; answer its detail."""
    async with request.app.state.runtime.pool.acquire() as conn:
        found = await orders_store.order_by_id(conn, order_id)
    if found is None:
        raise NotFound(f"no order {order_id}")
    await ensure_may_see(request, principal, found.customer_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        order = await store.order_for_update(conn, order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        await apply(conn, order, datetime.now(UTC))
        return Reply(200, await detail(conn, await _reread(conn, order_id)))

    return await write_once(request, principal, idempotency_key, write)


@router.post("/orders/{order_id:uuid}/status", response_model=OrderDetail, summary="Move an order to its next status",
             description="placed → confirmed → fulfilled → completed, one step at a time; anything else is a 409 "
             "listing what is `allowed`. The status it already has changes nothing. Publishes `OrderStatusChanged`.",
             responses=CHANGE_ANSWERS)
async def change_status(order_id: uuid.UUID, body: domain.StatusChange, request: Request,
                        idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("orders:write")) -> Response:
    async def apply(conn: asyncpg.Connection, order: Order, now: datetime) -> None:
        event = domain.change_status(order, body, by=principal.name, now=now)
        if event is None:
            return
        await store.set_status(conn, order.id, event.status)
        await store.add_history(conn, order.id, kind="status", previous=order.status, status=event.status,
                                by=principal.name, note=body.note, at=now)
        await append(conn, event)

    return await _change(request, principal, idempotency_key, order_id, apply)


@router.post("/orders/{order_id:uuid}/cancel", response_model=OrderDetail, summary="Cancel an order",
             description="From pending_approval, placed or confirmed (later, goods come back by a return: 409). "
             "Cancelling a cancelled order changes nothing. The order no longer owes anything. Publishes "
             "`OrderCancelled`.", responses=CHANGE_ANSWERS)
async def cancel_order(order_id: uuid.UUID, body: domain.Cancellation, request: Request,
                       idempotency_key: IdempotencyKeyHeader = None,
                       principal: Principal = require("orders:write")) -> Response:
    async def apply(conn: asyncpg.Connection, order: Order, now: datetime) -> None:
        event = domain.cancel(order, body, by=principal.name, now=now)
        if event is None:
            return
        await store.set_status(conn, order.id, "cancelled")
        await store.add_history(conn, order.id, kind="cancelled", previous=order.status, status="cancelled",
                                by=principal.name, note=body.reason, at=now)
        await append(conn, event)
        # Receivables (§14.2): what the order owed is void; what was paid on it becomes account credit.
        for follow_up in await receivables_hooks.order_cancelled(conn, await _reread(conn, order.id), now):
            await append(conn, follow_up)

    return await _change(request, principal, idempotency_key, order_id, apply)


@router.post("/orders/{order_id:uuid}/returns", response_model=OrderDetail, summary="Goods of an order came back",
             description="Some lines (`lines: [{line_no, quantity}]`) or everything left (`whole: true`), with a "
             "reason. Money back per line: its net amount (less its share of the order's discount) × quantity "
             "returned / quantity, rounded to cents; the last unit gives back the rest. More than is left is a 422 "
             "naming `lines[i].quantity`. When nothing is left the order is `returned`. Publishes `OrderReturned`.",
             responses={**CHANGE_ANSWERS, 422: {"model": Problem, "description": "a line unknown or more than is left"}})
async def return_goods(order_id: uuid.UUID, body: domain.ReturnRequest, request: Request,
                       idempotency_key: IdempotencyKeyHeader = None,
                       principal: Principal = require("orders:write")) -> Response:
    async def apply(conn: asyncpg.Connection, order: Order, now: datetime) -> None:
        outcome = domain.return_goods(order, body, return_id=new_id(), by=principal.name, now=now)
        event = outcome.event
        await store.insert_return(conn, event, outcome.status)
        await store.add_history(conn, order.id, kind="returned", previous=order.status, status=outcome.status,
                                by=principal.name, note=body.reason, at=now, return_id=event.return_id,
                                amount=event.amount)
        await append(conn, event)
        # Receivables (§14.2): the order owes `amount` less, latest instalments first.
        after = await _reread(conn, order.id)
        for follow_up in await receivables_hooks.order_returned(conn, after, Decimal(event.amount), now):
            await append(conn, follow_up)

    return await _change(request, principal, idempotency_key, order_id, apply)
