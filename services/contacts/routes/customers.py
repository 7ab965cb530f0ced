"""HTTP routes of contacts: parse, call the domain, store, map errors to status codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.contacts import search
from services.contacts.domain import customers as domain
from services.contacts.domain.customers import Category
from services.contacts.domain.pool import owner_for_registration
from services.contacts.domain.profile import ETAG_HEADER, etag
from services.contacts.routes import identities
from services.contacts.routes.duplicates import LikelyDuplicate, likely_duplicates
from services.contacts.store import customers as store
from shared.auth import Principal
from shared.batches import BatchResult, external_ref_taken, invalid_items
from shared.errors import Invalid, NotFound
from shared.events import new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import insert_batch, write_once

router = APIRouter(tags=["customers"])

class RegisteredCustomer(domain.Customer):
    duplicates: list[LikelyDuplicate] = Field(
        default_factory=list, description="Customers who are likely the same (a warning: the customer is "
        "registered anyway; merge them with POST /customers/{id}/merge-into/{survivor}).")


class CustomerPage(BaseModel):
    items: list[domain.Customer]
    next_cursor: str | None


@router.post(
    "/customers",
    status_code=201,
    response_model=RegisteredCustomer,
    summary="Register a customer",
    description="The phone and e-mail become the customer's channel identities (`/customers/{id}/identities`). "
    "An identity belongs to one customer at most: a phone or e-mail another customer holds refuses the "
    "registration with a 409 naming the holder (`holder`: id and name), so the caller can open that customer "
    "instead of creating a duplicate. Likely duplicates without a shared identity (a similar name) are only "
    "warned about.",
    responses={409: {"model": Problem, "description": "external_ref, phone or e-mail already belongs to another "
                                                      "customer (`holder`)"}},
)
async def register_customer(
    body: domain.NewCustomer,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    region = request.app.state.runtime.settings.phone_region
    scope = scope_of(principal)
    body = owner_for_registration(body, scoped_owner=scope.owner, scoped=not scope.everyone)

    async def write(conn: asyncpg.Connection) -> Reply:
        customer, event = domain.register(body, customer_id=new_id(), now=datetime.now(UTC), phone_region=region)
        if not await store.insert_customer(conn, customer):
            holder = await store.customer_by_external_ref(conn, body.external_ref or "")
            raise external_ref_taken("customer", body.external_ref, holder.id if holder else None)
        await identities.link_registered(conn, customer, by=principal.name)
        await append(conn, event)
        answer = customer.model_dump(mode="json") | {"duplicates": await likely_duplicates(conn, customer)}
        return Reply(201, answer, {"Location": f"/customers/{customer.id}"})

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
    scope = scope_of(principal)
    body = body.model_copy(update={"customers": [
        owner_for_registration(c, scoped_owner=scope.owner, scoped=not scope.everyone, field=f"customers[{i}].owner")
        for i, c in enumerate(body.customers)]})
    registered, problems = domain.register_batch(
        body, new_id=new_id, now=datetime.now(UTC), phone_region=request.app.state.runtime.settings.phone_region)
    if problems:
        raise invalid_items("customers", problems)

    async def write(conn: asyncpg.Connection) -> Reply:
        insert = identities.linking(store.insert_customers, by=principal.name)
        return await insert_batch(conn, registered, insert=insert,
                                  holders=store.customer_ids_by_external_refs)

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id:uuid}",
    response_model=domain.Customer,
    summary="One customer",
    description="A customer merged into another still answers (its old id may be cached by a till), with "
    "`merged_into` naming the survivor; lists and searches leave merged customers out.",
    responses={200: {"headers": ETAG_HEADER}, 404: {"model": Problem}, 403: {"model": Problem, "description": "another owner's customer"}},
)
async def get_customer(
    customer_id: uuid.UUID, request: Request, principal: Principal = require("customers:read")
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await store.customer_by_id(conn, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    ensure_covers(scope_of(principal), customer_id, customer.owner)
    # The ETag names the revision: PATCH takes it back as If-Match (routes/profile.py).
    return json_response(200, customer.model_dump(mode="json"), {"ETag": etag(customer.revision)})


@router.get(
    "/customers",
    response_model=CustomerPage,
    summary="Customers, in registration order; search and filters",
    description="Every filter narrows the list; they combine. `q` finds a customer by any part of the name "
    "(any script, any case: 张, 张伟, acme), the name's pinyin with or without spaces (zhangwei, zhang wei, "
    "every reading of a polyphonic character: 曾 zeng or ceng) or its initials (zw), the digits of the phone "
    "(a query of 4 or more digits, spaces and dashes allowed, also finds the numbers ending with them: 8000), "
    "or the external_ref (its start, or any part of it), or any part of any of their identities' values (a "
    "membership card, a WeChat id, an e-mail address). `identity=kind:value` finds the one holder of an identity. "
    "A salesperson sees their own customers and the pool.",
)
async def list_customers(
    request: Request,
    external_ref: str | None = None,
    phone: Annotated[str | None, Query(max_length=40, description="Any spelling of the number: "
                                       "+86 138-0013-8000 and 13800138000 find the same customers.")] = None,
    q: Annotated[str | None, Query(max_length=search.MAX_QUERY, description="Search text (see above).")] = None,
    category: Annotated[Category | None, Query(description="Only customers of this category.")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="Only customers this staff member looks after "
                                       "(exactly as registered).")] = None,
    identity: Annotated[str | None, Query(max_length=240, description="Only the customer holding this identity, "
                                          "as kind:value in any spelling (phone:138 0013 8000, "
                                          "membership_card:VIP0001).")] = None,
    source: Annotated[str | None, Query(max_length=64, description="Only customers of this lead source.")] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Only customers carrying this tag.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    ids: Annotated[
        list[uuid.UUID] | None,
        Query(alias="id", max_length=500, description="Only these customers (repeat the parameter); unknown ids are left out."),
    ] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    if phone:
        try:
            phone = domain.normalise_phone(phone, request.app.state.runtime.settings.phone_region)
        except domain.PhoneInvalid as exc:
            raise Invalid.field("query.phone", str(exc)) from exc
    pattern = search.query_pattern(q) if q else None
    tail = search.phone_tail(q) if pattern and q else None
    where = store.CustomerFilter(
        external_ref=external_ref, phone=phone, category=category, owner=owner,
        q=pattern or None, phone_tail=tail, lead_source=source, tag=tag,
        q_grams=tuple(search.query_grams(search.query_text(q or ""))), tail_grams=tuple(search.query_grams(tail)),
        scope_owner=scope_of(principal).owner_filter)
    async with request.app.state.runtime.pool.acquire() as conn:
        if identity is not None:
            ids = await identities.narrowed_to_holder(
                conn, identity, ids, phone_region=request.app.state.runtime.settings.phone_region)
        items = await store.list_customers(conn, after=cursor, where=where, limit=limit, ids=ids)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [c.model_dump(mode="json") for c in items], "next_cursor": next_cursor})
