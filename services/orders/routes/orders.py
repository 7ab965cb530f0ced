"""HTTP routes of orders: parse, check the customer, call the domain, store, publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.orders.domain import orders as domain
from services.orders.routes import credit
from services.orders.routes.lifecycle import OrderDetail, detail
from services.orders.store import catalogue as catalogue_store
from services.orders.store import orders as store
from shared.auth import Principal
from shared.batches import BatchResult, external_ref_taken, invalid_items
from shared.customers import (
    CHECKED_CUSTOMER_ANSWERS,
    SCOPED_ANSWERS,
    CustomerDirectory,
    check_customer_in_scope,
    customer_id_of,
    ensure_all_in_scope,
    ensure_may_see,
)
from shared.errors import FieldProblem, Invalid, NotFound
from shared.events import OrderStatus, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import insert_batch, write_once

router = APIRouter(tags=["orders"])

class OrderPage(BaseModel):
    items: list[domain.Order]
    next_cursor: str | None


@router.post(
    "/orders",
    status_code=201,
    response_model=domain.Order,
    summary="Place an order",
    description="An order not paid at once (`paid_with`) of a customer with credit terms is on account: it owes "
    "its total, unless the customer is on hold (tier D) or it takes what is owed above the limit; then it is a "
    "409 (`code: credit_refused`, with `tier`, `outstanding`, `limit`, `total`) or, when the terms say so, it is "
    "placed as `pending_approval`. A manager may override with `credit_override`.",
    responses={409: {"model": Problem, "description": "external_ref already used by another order, or credit "
                                                      "refused (`code: credit_refused`)"},
               **CHECKED_CUSTOMER_ANSWERS},
)
async def place_order(
    body: domain.NewOrder,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("orders:write"),
) -> Response:
    # Before the write's transaction, holding no connection while contacts is asked: a slow
    # contacts must not hold this service's connections (or an open transaction).
    customer_id = await customer_id_of(request, body, idempotency_key, service="orders")
    body = body.model_copy(update={"customer_id": customer_id, "customer": None})
    async with request.app.state.runtime.pool.acquire() as conn:
        products = await catalogue_store.products_by_skus(conn, domain.skus_named([body]))
    order, event = domain.place(body, order_id=new_id(), now=datetime.now(UTC),
                                accepted=request.app.state.runtime.settings.currencies, products=products)
    # A salesperson places orders only for their own customers and the pool's (403 naming the owner).
    await check_customer_in_scope(request, principal, order.customer_id)
    credit.check_override_allowed(body.credit_override, principal)  # credit (§14.5)

    async def write(conn: asyncpg.Connection) -> Reply:
        placed = order
        # --- credit (§14.5): judged first, the customer's terms row locked until commit ---
        decision = await credit.judge(conn, order, paid_with=body.paid_with, override=body.credit_override)
        # --- end credit ---
        if not await store.insert_order(conn, order):
            holder = await store.order_id_by_external_ref(conn, body.external_ref or "")
            raise external_ref_taken("order", body.external_ref, holder)
        # A customer merged in contacts (a till may cache the old id): the order is the survivor's.
        # The event still names the id it was placed for: insights notes it with the merge likewise.
        if survivor := await store.MERGES.adopt(conn, order.id, order.customer_id):
            placed = order.model_copy(update={"customer_id": survivor})
        # Credit (§14.5): pending_approval or placed; placed on account, it owes its total (its first
        # schedule, §14.2). Batches are history imports: they owe nothing and are not checked.
        status, events = await credit.settle(conn, placed, event, decision, paid_with=body.paid_with,
                                             override=body.credit_override, principal=principal,
                                             now=order.recorded_at)
        await append(conn, *events)
        answer = placed.model_copy(update={"status": status}).model_dump(mode="json")
        return Reply(201, answer, {"Location": f"/orders/{order.id}"})

    return await write_once(request, principal, idempotency_key, write)


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
        403: {"model": Problem, "description": "a salesperson's batch with customers of other owners (`code: "
                                               "out_of_scope`, each item named)"},
    },
)
async def place_orders(
    body: domain.NewOrderBatch,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("orders:write"),
) -> Response:
    resolved = [await customer_id_of(request, o, idempotency_key, service="orders", field=f"orders[{i}]")
                for i, o in enumerate(body.orders)]  # one contacts call per order named by an identity
    body = body.model_copy(update={"orders": [o.model_copy(update={"customer_id": c, "customer": None})
                                              for o, c in zip(body.orders, resolved, strict=True)]})
    async with request.app.state.runtime.pool.acquire() as conn:
        products = await catalogue_store.products_by_skus(conn, domain.skus_named(body.orders))
    placed, problems = domain.place_batch(body, new_id=new_id, now=datetime.now(UTC),
                                          accepted=request.app.state.runtime.settings.currencies, products=products)
    if problems:
        raise invalid_items("orders", problems)
    # Checked before the write's transaction, in autocommit: customers once registered stay
    # registered, and ids confirmed by contacts enter the replica at once instead of staying
    # locked (the contacts consumer inserting the same ids would wait) until the batch commits.
    directory: CustomerDirectory = request.app.state.directory
    unknown = await directory.ensure_all_known(request.app.state.runtime.pool, set(resolved))
    if unknown:
        raise Invalid(
            f"{len(unknown)} customer(s) of this batch are not registered in contacts", title="Unknown customer",
            errors=[FieldProblem(f"orders[{i}].customer_id", "no such customer in contacts")
                    for i, c in enumerate(resolved) if c in unknown],
        )
    await ensure_all_in_scope(request, principal, resolved, "orders[{}].customer_id")

    async def write(conn: asyncpg.Connection) -> Reply:
        return await insert_batch(conn, placed, insert=store.insert_orders, holders=store.order_ids_by_external_refs)

    return await write_once(request, principal, idempotency_key, write)


class Currencies(BaseModel):
    currencies: list[str] = Field(description="ISO 4217 codes of the currencies the shop takes (KEHU_CURRENCIES).")
    default: str = Field(description="The currency of an order that names none.")


@router.get("/currencies", response_model=Currencies, summary="The currencies the shop takes, its default first")
async def shop_currencies(request: Request, _: Principal = require("orders:read")) -> Response:
    accepted = request.app.state.runtime.settings.currencies
    return json_response(200, {"currencies": list(accepted), "default": accepted[0]})


@router.get("/orders/{order_id:uuid}", response_model=OrderDetail, summary="One order, with its history and returns",
            responses={404: {"model": Problem}, **SCOPED_ANSWERS})
async def get_order(order_id: uuid.UUID, request: Request, principal: Principal = require("orders:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        order = await store.order_by_id(conn, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    await ensure_may_see(request, principal, order.customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        return json_response(200, await detail(conn, order))


@router.get("/orders", response_model=OrderPage, summary="Orders, in the order they were recorded",
            description="A salesperson sees the orders of their own customers and of the pool's; asking for "
            "another owner's customer (`customer_id`) is a 403 naming the owner. `order=newest` lists the newest "
            "first; `status` only the orders of that status.", responses=SCOPED_ANSWERS)
async def list_orders(
    request: Request,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    status: OrderStatus | None = None,
    order: Literal["recorded", "newest"] = "recorded",
    principal: Principal = require("orders:read"),
) -> Response:
    if customer_id is not None:
        await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.list_orders(conn, after=cursor, customer_id=customer_id, limit=limit,
                                        owner_filter=scope_of(principal).owner_filter, status=status,
                                        newest_first=order == "newest")
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [o.model_dump(mode="json") for o in items], "next_cursor": next_cursor})
