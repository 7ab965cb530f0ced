"""HTTP routes of tickets: parse, check the customer, call the domain, store, publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.tickets.domain import tickets as domain
from services.tickets.domain.lifecycle import TicketDetail
from services.tickets.routes.lifecycle import detail
from services.tickets.store import sla as sla_store
from services.tickets.store import tickets as store
from shared.auth import Principal
from shared.customers import (
    CHECKED_CUSTOMER_ANSWERS,
    SCOPED_ANSWERS,
    check_customer_in_scope,
    customer_id_of,
    ensure_may_see,
)
from shared.errors import NotFound
from shared.events import new_id
from shared.http import AsOf, IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["tickets"])

class TicketPage(BaseModel):
    items: list[domain.Ticket]
    next_cursor: str | None


@router.post(
    "/tickets",
    status_code=201,
    response_model=domain.Ticket,
    summary="Log a complaint, feedback or service request",
    responses=CHECKED_CUSTOMER_ANSWERS,
)
async def open_ticket(
    body: domain.NewTicket,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("tickets:write"),
) -> Response:
    # Before the write's transaction, holding no connection while contacts is asked (as orders).
    customer_id = await customer_id_of(request, body, idempotency_key, service="tickets")
    body = body.model_copy(update={"customer_id": customer_id, "customer": None})
    # A salesperson files tickets only for their own customers and the pool's (403 naming the owner).
    await check_customer_in_scope(request, principal, customer_id)
    zone = request.app.state.runtime.settings.timezone

    async def write(conn: asyncpg.Connection) -> Reply:
        now = datetime.now(UTC)
        kind_priority = (body.kind, domain.priority_of(body))
        calendar = await sla_store.calendar(conn, zone)
        policy = await sla_store.policy(conn, *kind_priority)
        owner = await store.customer_owner(conn, customer_id) if customer_id else None
        row, event = domain.open_ticket(body, ticket_id=new_id(), now=now, policy=policy, calendar=calendar,
                                        owner=owner)
        await store.insert_ticket(conn, row)
        # A customer merged in contacts (a till may cache the old id): the ticket is the survivor's.
        # The event still names the id it was placed for: insights notes it with the merge likewise.
        await store.MERGES.adopt(conn, row["id"], row["customer_id"])
        (event_id,) = await append(conn, event)
        await store.add_activity(conn, row["id"], at=now, by=principal.name, action="opened",
                                 detail={"assignee": row["assignee"], "queue": row["queue"]}, event_id=event_id)
        stored = await store.ticket_row(conn, row["id"])
        assert stored is not None  # inserted just now, in this transaction
        opened = domain.ticket_of(stored, now, calendar)
        return Reply(201, opened.model_dump(mode="json"), {"Location": f"/tickets/{opened.id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.get("/tickets/{ticket_id:uuid}", response_model=TicketDetail, summary="One ticket, with its history",
            description="The ticket with its clock seen at `as_of`, what may happen next (`allowed_actions`), "
            "its `activity` (everything that happened, oldest first), the `remedies` put to the customer with "
            "their answers, its `prevention_actions` and the compensation orders credits for it (once).",
            responses={404: {"model": Problem}, **SCOPED_ANSWERS})
async def get_ticket(ticket_id: uuid.UUID, request: Request, as_of: AsOf = None,
                     principal: Principal = require("tickets:read")) -> Response:
    seen_at = as_of or datetime.now(UTC)
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await store.ticket_row(conn, ticket_id)
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    await ensure_may_see(request, principal, row["customer_id"])  # holding no connection (it may ask contacts)
    async with request.app.state.runtime.pool.acquire() as conn:
        calendar = await sla_store.calendar(conn, request.app.state.runtime.settings.timezone)
        shown = await detail(conn, row, seen_at, calendar)
    return json_response(200, shown)


@router.get(
    "/tickets",
    response_model=TicketPage,
    summary="Tickets, in the order they were recorded (oldest first, or newest first)",
    description="A worklist of open complaints, longest waiting first: `?kind=complaint&status=open&order=oldest`. "
    "The cursor continues in the order asked for. A salesperson sees the tickets of their own customers and "
    "of the pool's (service staff see all); another owner's `customer_id` is a 403 naming the owner.",
    responses=SCOPED_ANSWERS,
)
async def list_tickets(
    request: Request,
    customer_id: uuid.UUID | None = None,
    kind: domain.Kind | None = None,
    status: domain.Status | None = None,
    order: Annotated[Literal["oldest", "newest"], Query(
        description="`oldest` (the default, as before this parameter existed): in the order recorded; "
        "`newest`: the latest first.")] = "oldest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    principal: Principal = require("tickets:read"),
) -> Response:
    if customer_id is not None:
        await ensure_may_see(request, principal, customer_id)
    seen_at = datetime.now(UTC)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.list_ticket_rows(conn, after=cursor, customer_id=customer_id, kind=kind,
                                            status=status, limit=limit, newest_first=order == "newest",
                                            owner_filter=scope_of(principal).owner_filter)
        calendar = await sla_store.calendar(conn, request.app.state.runtime.settings.timezone)
    items = [domain.ticket_of(r, seen_at, calendar) for r in rows]
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [t.model_dump(mode="json") for t in items], "next_cursor": next_cursor})
