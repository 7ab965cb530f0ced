"""HTTP routes of a ticket's resolution: a remedy put to the customer and their answer, reopening,
satisfaction. Parse, check the scope, lock the ticket, call the domain (domain/resolution.py),
store, publish via the outbox (routes/lifecycle.py ``change``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.tickets.domain import resolution as domain
from services.tickets.domain import sla
from services.tickets.domain.lifecycle import TicketDetail, today_in
from services.tickets.domain.resolution import Change
from services.tickets.routes.lifecycle import CHANGE_ANSWERS, change
from services.tickets.store import lifecycle as store
from services.tickets.store import sla as sla_store
from shared.auth import Principal
from shared.events import new_id
from shared.http import IdempotencyKeyHeader, require

router = APIRouter(tags=["tickets"])


@router.post(
    "/tickets/{ticket_id:uuid}/resolution", response_model=TicketDetail,
    summary="Put a remedy to the customer, with their answer",
    description="The finding (`responsibility`: required for complaints, 422 naming it; `apology_given`; "
    "`category`), the `remedy` and its `compensation` (Money; not with `explanation`: 422), the `resolution` "
    "summary (required, not blank) and an optional `prevention` {action, owner, due_on not before today: 422 "
    "naming `prevention.due_on`}. `customer_answer`: `accepted` resolves the ticket (TicketRemedyProposed, "
    "TicketRemedyAnswered, TicketResolved carrying all of it; the prevention action is created); `rejected` "
    "keeps it open (proposed + answered); `pending` puts it in waiting_on_customer, the resolution clock paused "
    "(proposed + TicketStatusChanged) until POST remedy-answer. The first remedy put to the customer is also "
    "their first response when none was recorded (TicketResponded). Orders credits ONE compensation per ticket, "
    "the first accepted: after a reopen a new compensation is kept on its remedy but not paid again "
    "(`compensation_credited` says what was). From open or waiting_on_customer, not while a remedy waits for "
    "its answer (409 with `allowed`).",
    responses=CHANGE_ANSWERS)
async def resolve(ticket_id: uuid.UUID, body: domain.ResolutionRequest, request: Request,
                  idempotency_key: IdempotencyKeyHeader = None,
                  principal: Principal = require("tickets:write")) -> Response:
    async def decide(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime,
                     calendar: sla.Calendar) -> Change | None:
        pending = await store.pending_remedy(conn, row["id"]) is not None
        return domain.propose(row, body, remedy_id=new_id(), action_id=new_id(), by=principal.name, now=now,
                              today=today_in(calendar, now), cal=calendar,
                              credited=await store.credited_compensation(conn, row["id"]), remedy_pending=pending)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post(
    "/tickets/{ticket_id:uuid}/remedy-answer", response_model=TicketDetail,
    summary="The customer's answer to the remedy waiting for it",
    description="`accepted: true` resolves the ticket with what was proposed (TicketRemedyAnswered, "
    "TicketResolved, the prevention action); `false` opens it again, the resolution clock running on with what it "
    "had left (TicketRemedyAnswered, TicketStatusChanged). 409 when no remedy waits for an answer.",
    responses=CHANGE_ANSWERS)
async def answer_remedy(ticket_id: uuid.UUID, body: domain.RemedyAnswer, request: Request,
                        idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("tickets:write")) -> Response:
    async def decide(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime,
                     calendar: sla.Calendar) -> Change | None:
        pending = await store.pending_remedy(conn, row["id"])
        proposal = domain.Proposal.from_detail(pending) if pending and "remedy" in pending else None
        return domain.answer(row, proposal, body, action_id=new_id(), by=principal.name, now=now, cal=calendar,
                             credited=await store.credited_compensation(conn, row["id"]))

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post(
    "/tickets/{ticket_id:uuid}/reopen", response_model=TicketDetail, summary="Reopen a resolved or closed ticket",
    description="→ open, `reopened_count` + 1, a fresh resolution clock with the policy's full time from now "
    "(it may breach again). Publishes `TicketReopened`.", responses=CHANGE_ANSWERS)
async def reopen(ticket_id: uuid.UUID, body: domain.Reopening, request: Request,
                 idempotency_key: IdempotencyKeyHeader = None,
                 principal: Principal = require("tickets:write")) -> Response:
    async def decide(conn: asyncpg.Connection, row: asyncpg.Record, now: datetime,
                     calendar: sla.Calendar) -> Change | None:
        policy = await sla_store.policy(conn, row["kind"], row["priority"])
        return domain.reopen(row, body, by=principal.name, now=now, policy=policy, cal=calendar)

    return await change(request, principal, idempotency_key, ticket_id, decide)


@router.post(
    "/tickets/{ticket_id:uuid}/satisfaction", response_model=TicketDetail,
    summary="The customer's satisfaction with a resolved ticket, which closes it",
    description="`score` 1 (very unhappy) to 5 (422 naming `score` outside), `comment`. Only a resolved ticket "
    "(409 otherwise). → closed; publishes `TicketSatisfactionRecorded`.", responses=CHANGE_ANSWERS)
async def record_satisfaction(ticket_id: uuid.UUID, body: domain.Satisfaction, request: Request,
                              idempotency_key: IdempotencyKeyHeader = None,
                              principal: Principal = require("tickets:write")) -> Response:
    async def decide(_: asyncpg.Connection, row: asyncpg.Record, now: datetime, __: sla.Calendar) -> Change | None:
        return domain.record_satisfaction(row, body, by=principal.name, now=now)

    return await change(request, principal, idempotency_key, ticket_id, decide)
