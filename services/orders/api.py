"""HTTP routes of orders: parse, check the customer, call the domain, store, publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.orders import domain, store
from shared.auth import Principal
from shared.batches import batch_items, invalid_items
from shared.customers import CustomerDirectory
from shared.events import new_id
from shared.http import IdempotencyKeyHeader, Problem, ProblemError, Reply, idempotent, json_response, require
from shared.outbox import append

router = APIRouter(tags=["orders"])

class OrderPage(BaseModel):
    items: list[domain.Order]
    next_cursor: str | None


class BatchItem(BaseModel):
    index: int = Field(description="Position of the order in the request.")
    id: uuid.UUID = Field(description="The order's id: the new one, or the one that already had this external_ref.")
    external_ref: str
    created: bool = Field(description="False when an order with this external_ref already existed (nothing written).")


class BatchResult(BaseModel):
    items: list[BatchItem]


@router.post(
    "/orders",
    status_code=201,
    response_model=domain.Order,
    summary="Place an order",
    responses={
        409: {"model": Problem, "description": "external_ref already used by another order"},
        422: {"model": Problem, "description": "invalid fields, or a customer contacts never registered"},
        503: {"model": Problem, "description": "contacts unreachable and the customer not yet known here"},
    },
)
async def place_order(
    body: domain.NewOrder,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("orders:write"),
) -> Response:
    directory: CustomerDirectory = request.app.state.directory

    async def write(conn: asyncpg.Connection) -> Reply:
        await directory.ensure_known(conn, body.customer_id)
        try:
            order, event = domain.place(body, order_id=new_id(), now=datetime.now(UTC))
        except domain.OrderInFuture as exc:
            raise ProblemError(422, "Invalid request", str(exc),
                               errors=[{"field": "occurred_at", "message": str(exc)}]) from exc
        if not await store.insert_order(conn, order):
            holder = await store.order_id_by_external_ref(conn, body.external_ref or "")
            raise ProblemError(409, "external_ref taken",
                               f"external_ref {body.external_ref!r} already belongs to order {holder}",
                               holder=str(holder))
        await append(conn, event)
        return Reply(201, order.model_dump(mode="json"), {"Location": f"/orders/{order.id}"})

    runtime = request.app.state.runtime
    return await idempotent(runtime.pool, request, principal, idempotency_key, write, runtime.outbox_written)


@router.post(
    "/orders/batch",
    response_model=BatchResult,
    summary="Place up to 1000 orders at once (imports)",
    description="All or nothing, in one transaction. Every order needs an `external_ref`; an order whose "
    "`external_ref` already exists is not placed again and is reported with `created: false` and the existing "
    "id, so a retried batch is harmless. Each order placed publishes an `OrderPlaced`, as a single POST does.",
    responses={
        422: {"model": Problem, "description": "invalid items (named `orders[3].lines[0].quantity`), or customers "
                                               "contacts never registered (`orders[3].customer_id`)"},
        503: {"model": Problem, "description": "contacts unreachable and some customer not yet known here"},
    },
)
async def place_orders(
    body: domain.NewOrderBatch,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("orders:write"),
) -> Response:
    directory: CustomerDirectory = request.app.state.directory
    runtime = request.app.state.runtime
    placed, problems = domain.place_batch(body, new_id=new_id, now=datetime.now(UTC))
    if problems:
        raise invalid_items("orders", problems)
    # Checked before the write's transaction, in autocommit: customers once registered stay
    # registered, and ids confirmed by contacts enter the replica at once instead of staying
    # locked (the contacts consumer inserting the same ids would wait) until the batch commits.
    async with runtime.pool.acquire() as conn:
        unknown = await directory.ensure_all_known(conn, {o.customer_id for o in body.orders})
    if unknown:
        raise ProblemError(
            422, "Unknown customer", f"{len(unknown)} customer(s) of this batch are not registered in contacts",
            errors=[{"field": f"orders[{i}].customer_id", "message": "no such customer in contacts"}
                    for i, o in enumerate(body.orders) if o.customer_id in unknown],
        )

    async def write(conn: asyncpg.Connection) -> Reply:
        orders = [order for order, _ in placed]
        inserted = await store.insert_orders(conn, orders)
        holders = await store.order_ids_by_external_refs(
            conn, [o.external_ref for o in orders if o.id not in inserted and o.external_ref])
        events = [event for order, event in placed if order.id in inserted]
        if events:
            await append(conn, *events)
        items = batch_items([(o.id, o.external_ref) for o in orders], inserted, holders)
        return Reply(200, {"items": items})

    return await idempotent(runtime.pool, request, principal, idempotency_key, write, runtime.outbox_written)


@router.get("/orders/{order_id:uuid}", response_model=domain.Order, summary="One order", responses={404: {"model": Problem}})
async def get_order(order_id: uuid.UUID, request: Request, _: Principal = require("orders:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        order = await store.order_by_id(conn, order_id)
    if order is None:
        raise ProblemError(404, "Not found", f"no order {order_id}")
    return json_response(200, order.model_dump(mode="json"))


@router.get("/orders", response_model=OrderPage, summary="Orders, in the order they were recorded")
async def list_orders(
    request: Request,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    _: Principal = require("orders:read"),
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.list_orders(conn, after=cursor, customer_id=customer_id, limit=limit)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [o.model_dump(mode="json") for o in items], "next_cursor": next_cursor})
