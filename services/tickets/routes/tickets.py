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
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
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
    ticket, event = domain.open_ticket(body, ticket_id=new_id(), now=datetime.now(UTC))
    # A salesperson files tickets only for their own customers and the pool's (403 naming the owner).
    await check_customer_in_scope(request, principal, ticket.customer_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        opened = ticket
        await store.insert_ticket(conn, ticket)
        # A customer merged in contacts (a till may cache the old id): the ticket is the survivor's.
        # The event still names the id it was placed for: insights notes it with the merge likewise.
        if survivor := await store.MERGES.adopt(conn, ticket.id, ticket.customer_id):
            opened = ticket.model_copy(update={"customer_id": survivor})
        await append(conn, event)
        return Reply(201, opened.model_dump(mode="json"), {"Location": f"/tickets/{ticket.id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.get("/tickets/{ticket_id:uuid}", response_model=domain.Ticket, summary="One ticket",
            responses={404: {"model": Problem}, **SCOPED_ANSWERS})
async def get_ticket(ticket_id: uuid.UUID, request: Request, principal: Principal = require("tickets:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        ticket = await store.ticket_by_id(conn, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    await ensure_may_see(request, principal, ticket.customer_id)
    return json_response(200, ticket.model_dump(mode="json"))


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
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.list_tickets(conn, after=cursor, customer_id=customer_id, kind=kind,
                                         status=status, limit=limit, newest_first=order == "newest",
                                         owner_filter=scope_of(principal).owner_filter)
    next_cursor = str(items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [t.model_dump(mode="json") for t in items], "next_cursor": next_cursor})
