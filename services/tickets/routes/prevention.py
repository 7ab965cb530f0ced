"""HTTP routes of prevention actions: what is done so the same problem does not reach the next
customer, agreed when a ticket was resolved; listed by owner and due date, and marked done."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.tickets.domain import lifecycle as domain
from services.tickets.store import lifecycle as store
from services.tickets.store import sla as sla_store
from services.tickets.store import tickets as tickets_store
from shared.auth import Principal
from shared.customers import SCOPED_ANSWERS, ensure_may_see
from shared.errors import Invalid, NotFound
from shared.http import AsOf, IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["tickets"])


class PreventionPage(BaseModel):
    items: list[domain.PreventionListItem]


@router.get(
    "/prevention-actions", response_model=PreventionPage, summary="Prevention actions, soonest due first",
    description="`status` open (not done) or done (default both), `owner`, `due_before` (a date: due before it); "
    "`overdue` is true for one not done whose due date is before today (the shop's date at `as_of`). Each with "
    "its ticket's subject, category, status and customer. A salesperson sees those of their own customers' "
    "tickets and the pool's.")
async def list_prevention_actions(
    request: Request,
    status: Literal["open", "done"] | None = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    due_before: Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                            json_schema_extra={"format": "date"}, description="A date (YYYY-MM-DD): only those due before it.")] = None,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    principal: Principal = require("tickets:read"),
) -> Response:
    seen_at = as_of or datetime.now(UTC)
    before = _day(due_before, "query.due_before") if due_before is not None else None
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.list_prevention(conn, status=status, owner=owner, due_before=before, limit=limit,
                                           owner_filter=scope_of(principal).owner_filter)
        calendar = await sla_store.calendar(conn, request.app.state.runtime.settings.timezone)
    today = domain.today_in(calendar, seen_at)
    items = [domain.PreventionListItem(**domain.prevention_view(r, today), customer_id=r["customer_id"],
                                       subject=r["subject"], ticket_category=r["ticket_category"],
                                       ticket_status=r["ticket_status"]).model_dump(mode="json") for r in rows]
    return json_response(200, {"items": items})


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid.field(field, f"{text!r} is not a day of the calendar (YYYY-MM-DD)") from None


@router.post(
    "/prevention-actions/{action_id:uuid}/done", response_model=domain.PreventionActionView,
    summary="A prevention action was done",
    description="Records who and when, with an optional `note`; publishes `PreventionActionCompleted` and a line "
    "in the ticket's history. One already done changes nothing.",
    responses={404: {"model": Problem, "description": "no such prevention action"}, **SCOPED_ANSWERS})
async def complete_prevention_action(action_id: uuid.UUID, body: domain.PreventionDone, request: Request,
                                     idempotency_key: IdempotencyKeyHeader = None,
                                     principal: Principal = require("tickets:write")) -> Response:
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        found = await store.prevention_action(conn, action_id)
    if found is None:
        raise NotFound(f"no prevention action {action_id}")
    await ensure_may_see(request, principal, found["customer_id"])

    async def write(conn: asyncpg.Connection) -> Reply:
        ticket = await store.ticket_for_update(conn, found["ticket_id"])  # the ticket's history is written too
        action = await store.prevention_for_update(conn, action_id)
        if ticket is None or action is None:
            raise NotFound(f"no prevention action {action_id}")
        now = datetime.now(UTC)
        event = domain.complete_prevention(action, ticket["customer_id"], body, by=principal.name, now=now)
        if event is not None:
            await store.complete_prevention(conn, action_id, at=now, by=principal.name, note=body.note)
            (event_id,) = await append(conn, event)
            await tickets_store.add_activity(conn, ticket["id"], at=now, by=principal.name, action="prevention_done",
                                             detail={"action_id": str(action_id), "action": action["action"],
                                                     "note": body.note}, event_id=event_id)
        calendar = await sla_store.calendar(conn, runtime.settings.timezone)
        done = await store.prevention_action(conn, action_id)
        assert done is not None  # locked by this transaction
        view = domain.PreventionActionView(**domain.prevention_view(done, domain.today_in(calendar, now)))
        return Reply(200, view.model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)
