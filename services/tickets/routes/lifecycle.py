"""HTTP routes of handling a ticket: assignment, escalation, responses, notes, status. Parse, check
the scope, lock the ticket, call the domain (domain/lifecycle.py), store, publish via the outbox.
Also what every write of a ticket shares (``change``) and the ticket's detail (``detail``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.tickets.domain import lifecycle as domain
from services.tickets.domain import sla
from services.tickets.domain.resolution import Change, allowed_actions
from services.tickets.domain.tickets import ticket_of
from services.tickets.store import lifecycle as store
from services.tickets.store import sla as sla_store
from services.tickets.store import tickets as tickets_store
from shared.auth import Principal
from shared.customers import SCOPED_ANSWERS, ensure_may_see
from shared.errors import NotFound
from shared.http import IdempotencyKeyHeader, Problem, Reply, require
from shared.outbox import append
from shared.writes import write_once

router = APIRouter(tags=["tickets"])

CHANGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such ticket"},
    409: {"model": Problem, "description": "not allowed in the ticket's status (`status_now`; `allowed` lists "
                                           "what is)"},
    422: {"model": Problem, "description": "a field is wrong (`errors[].field` names it)"},
    **SCOPED_ANSWERS,
}

Decide = Callable[[asyncpg.Connection, asyncpg.Record, datetime, sla.Calendar], Awaitable[Change | None]]


async def detail(conn: asyncpg.Connection, row: Mapping[str, Any], as_of: datetime,
                 calendar: sla.Calendar) -> dict[str, Any]:
    """The ticket as GET /tickets/{id} shows it: with its history, remedies and prevention actions."""
    ticket = ticket_of(row, as_of, calendar)
    pending = await store.pending_remedy(conn, row["id"]) is not None
    today = domain.today_in(calendar, as_of)
    return domain.TicketDetail(
        **ticket.model_dump(), allowed_actions=allowed_actions(row["status"], pending),
        compensation_credited=await store.credited_compensation(conn, row["id"]),
        activity=[domain.ActivityEntry(**dict(a)) for a in await store.activity_of(conn, row["id"])],
        remedies=[domain.RemedyView(**dict(r)) for r in await store.remedies_of(conn, row["id"])],
        prevention_actions=[domain.PreventionActionView(**domain.prevention_view(p, today))
                            for p in await store.prevention_of_ticket(conn, row["id"])],
    ).model_dump(mode="json")


async def record(conn: asyncpg.Connection, change: Change, *, by: str) -> None:
    """Save a write's outcome: the row, its events (outbox), one activity line, remedies, prevention."""
    await store.save_ticket(conn, change.row)
    event_ids = await append(conn, *change.events)
    main = change.events[change.activity_event]
    await tickets_store.add_activity(conn, change.row["id"], at=main.occurred_at, by=by, action=change.action,
                                     detail=change.detail, event_id=event_ids[change.activity_event])
    if change.new_remedy is not None:
        await store.insert_remedy(conn, change.new_remedy)
    if change.answered_remedy is not None:
        await store.answer_remedy(conn, change.answered_remedy)
    if change.new_prevention is not None:
        await store.insert_prevention(conn, change.new_prevention)


async def change(request: Request, principal: Principal, idempotency_key: str | None, ticket_id: uuid.UUID,
                 decide: Decide) -> Response:
    """404 for an unknown ticket, 403 outside a salesperson's scope; then, under the ticket's lock,
    ``decide`` the change (None: nothing to do), record it, and answer the ticket's detail."""
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        found = await tickets_store.ticket_row(conn, ticket_id)
    if found is None:
        raise NotFound(f"no ticket {ticket_id}")
    await ensure_may_see(request, principal, found["customer_id"])

    async def write(conn: asyncpg.Connection) -> Reply:
        row = await store.ticket_for_update(conn, ticket_id)
        if row is None:
            raise NotFound(f"no ticket {ticket_id}")
        now = datetime.now(UTC)
        calendar = await sla_store.calendar(conn, runtime.settings.timezone)
        outcome = await decide(conn, row, now, calendar)
        if outcome is not None:
            await record(conn, outcome, by=principal.name)
        stored = await tickets_store.ticket_row(conn, ticket_id)
        assert stored is not None  # locked by this transaction
        return Reply(200, await detail(conn, stored, now, calendar))

    return await write_once(request, principal, idempotency_key, write)


@router.post("/tickets/{ticket_id:uuid}/assign", response_model=domain.TicketDetail,
             summary="Give a ticket to a person or a team queue",
             description="Exactly one of `assignee` (a person's id) and `queue`; both or neither is a 422 naming "
             "`assignee`. Where it already is changes nothing. Publishes `TicketAssigned`.", responses=CHANGE_ANSWERS)
async def assign(ticket_id: uuid.UUID, body: domain.Assignment, request: Request,
                 idempotency_key: IdempotencyKeyHeader = None,
                 principal: Principal = require("tickets:write")) -> Response:
    async def decide(_: asyncpg.Connection, row: asyncpg.Record, now: datetime, __: sla.Calendar) -> Change | None:
        return domain.assign(row, body, by=principal.name, now=now)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post("/tickets/{ticket_id:uuid}/escalate", response_model=domain.TicketDetail,
             summary="Escalate a ticket to a manager, who takes it over",
             description="`to` (a person's id) becomes the assignee; `escalated_to`/`escalated_at` are set. "
             "Publishes `TicketEscalated`.", responses=CHANGE_ANSWERS)
async def escalate(ticket_id: uuid.UUID, body: domain.Escalation, request: Request,
                   idempotency_key: IdempotencyKeyHeader = None,
                   principal: Principal = require("tickets:write")) -> Response:
    async def decide(_: asyncpg.Connection, row: asyncpg.Record, now: datetime, __: sla.Calendar) -> Change | None:
        return domain.escalate(row, body, by=principal.name, now=now)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post("/tickets/{ticket_id:uuid}/responses", response_model=domain.TicketDetail,
             summary="Record an answer given to the customer",
             description="The first stops the first-response clock (`TicketResponded` with `first: true`, once). "
             "`occurred_at` (default now) may be earlier (a call made before it was logged), not before the ticket "
             "nor in the future (422 naming `occurred_at`).", responses=CHANGE_ANSWERS)
async def respond(ticket_id: uuid.UUID, body: domain.CustomerResponse, request: Request,
                  idempotency_key: IdempotencyKeyHeader = None,
                  principal: Principal = require("tickets:write")) -> Response:
    async def decide(_: asyncpg.Connection, row: asyncpg.Record, now: datetime, __: sla.Calendar) -> Change | None:
        return domain.respond(row, body, by=principal.name, now=now)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post("/tickets/{ticket_id:uuid}/notes", response_model=domain.TicketDetail,
             summary="Add an investigation note (in any status)",
             description="It may record the finding: `responsibility`, `category` (set on the ticket). "
             "Publishes `TicketNoteAdded`.", responses=CHANGE_ANSWERS)
async def add_note(ticket_id: uuid.UUID, body: domain.Note, request: Request,
                   idempotency_key: IdempotencyKeyHeader = None,
                   principal: Principal = require("tickets:write")) -> Response:
    async def decide(_: asyncpg.Connection, row: asyncpg.Record, now: datetime, __: sla.Calendar) -> Change | None:
        return domain.note(row, body, by=principal.name, now=now)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post("/tickets/{ticket_id:uuid}/status", response_model=domain.TicketDetail,
             summary="Wait on the customer, take it up again, or close it by hand",
             description="open → waiting_on_customer pauses the resolution clock (it keeps the business time left); "
             "waiting_on_customer → open resumes it with exactly that (not while a proposed remedy waits for its "
             "answer: POST remedy-answer); closed from open or waiting (a `reason` is required: 422; a remedy still "
             "waiting for its answer is withdrawn) or resolved. "
             "The status it has changes nothing; reopening is POST reopen. Publishes `TicketStatusChanged`.",
             responses=CHANGE_ANSWERS)
async def change_status(ticket_id: uuid.UUID, body: domain.StatusChange, request: Request,
                        idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("tickets:write")) -> Response:
    async def decide(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime,
                     calendar: sla.Calendar) -> Change | None:
        pending = await store.pending_remedy(conn, row["id"])
        return domain.change_status(row, body, by=principal.name, now=now, cal=calendar,
                                    pending_remedy=uuid.UUID(str(pending["remedy_id"])) if pending else None)

    return await change(request, principal, idempotency_key, ticket_id, decide)
