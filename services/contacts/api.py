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
from shared.events import new_id
from shared.http import IdempotencyKeyHeader, Problem, ProblemError, Reply, idempotent, json_response, require
from shared.outbox import append

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
            raise ProblemError(
                409, "external_ref taken",
                f"external_ref {body.external_ref!r} already belongs to customer {holder.id if holder else '?'}",
                holder=str(holder.id) if holder else None,
            )
        await append(conn, event)
        return Reply(201, customer.model_dump(mode="json"), {"Location": f"/customers/{customer.id}"})

    runtime = request.app.state.runtime
    return await idempotent(runtime.pool, request, principal, idempotency_key, write, runtime.outbox_written)


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
        raise ProblemError(404, "Not found", f"no customer {customer_id}")
    return json_response(200, customer.model_dump(mode="json"))


@router.get("/customers", response_model=CustomerPage, summary="Customers, in registration order")
async def list_customers(
    request: Request,
    external_ref: str | None = None,
    phone: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    _: Principal = require("customers:read"),
) -> Response:
    if phone:
        phone = domain.NewCustomer(name="x", phone=phone).phone
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.list_customers(conn, after=cursor, external_ref=external_ref, phone=phone, limit=limit)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [c.model_dump(mode="json") for c in items], "next_cursor": next_cursor})
