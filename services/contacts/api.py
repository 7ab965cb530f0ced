"""HTTP routes of contacts: parse, call the domain, store, map errors to status codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.contacts import domain, store
from shared.auth import Principal
from shared.batches import BatchResult, external_ref_taken, invalid_items
from shared.errors import NotFound
from shared.events import new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.writes import insert_batch, write_once

router = APIRouter(tags=["customers"])

class CustomerPage(BaseModel):
    items: list[domain.Customer]
    next_cursor: str | None


@router.post(
    "/customers",
    status_code=201,
    response_model=domain.Customer,
    summary="Register a customer",
    responses={409: {"model": Problem, "description": "external_ref already belongs to another customer"}},
)
async def register_customer(
    body: domain.NewCustomer,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        customer, event = domain.register(body, customer_id=new_id(), now=datetime.now(UTC))
        if not await store.insert_customer(conn, customer):
            holder = await store.customer_by_external_ref(conn, body.external_ref or "")
            raise external_ref_taken("customer", body.external_ref, holder.id if holder else None)
        await append(conn, event)
        return Reply(201, customer.model_dump(mode="json"), {"Location": f"/customers/{customer.id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.post(
    "/customers/batch",
    response_model=BatchResult,
    summary="Register up to 1000 customers at once (imports)",
    description="All or nothing, in one transaction. A customer whose `external_ref` already exists is not "
    "registered again: it is reported with `created: false` and the existing id, so a retried batch is harmless. "
    "Each customer registered publishes a `CustomerRegistered`, as a single POST does.",
    responses={422: {"model": Problem, "description": "invalid items, named `customers[3].email`"}},
)
async def register_customers(
    body: domain.NewCustomerBatch,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    registered, problems = domain.register_batch(body, new_id=new_id, now=datetime.now(UTC))
    if problems:
        raise invalid_items("customers", problems)

    async def write(conn: asyncpg.Connection) -> Reply:
        return await insert_batch(conn, registered, insert=store.insert_customers,
                                  holders=store.customer_ids_by_external_refs)

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id}",
    response_model=domain.Customer,
    summary="One customer",
    responses={404: {"model": Problem}},
)
async def get_customer(
    customer_id: uuid.UUID, request: Request, _: Principal = require("customers:read")
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await store.customer_by_id(conn, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return json_response(200, customer.model_dump(mode="json"))


@router.get("/customers", response_model=CustomerPage, summary="Customers, in registration order")
async def list_customers(
    request: Request,
    external_ref: str | None = None,
    phone: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    ids: Annotated[
        list[uuid.UUID] | None,
        Query(alias="id", max_length=500, description="Only these customers (repeat the parameter); unknown ids are left out."),
    ] = None,
    _: Principal = require("customers:read"),
) -> Response:
    if phone:
        phone = domain.NewCustomer(name="x", phone=phone).phone
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.list_customers(
            conn, after=cursor, external_ref=external_ref, phone=phone, limit=limit, ids=ids)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [c.model_dump(mode="json") for c in items], "next_cursor": next_cursor})
