"""HTTP routes of tickets: parse, check the customer, call the domain, store, publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.tickets.domain import sla
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
from shared.errors import FieldProblem, Invalid, NotFound
from shared.events import TicketCategory, new_id
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
        stored = await store.insert_ticket(conn, row)
        # A customer merged in contacts (a till may cache the old id): the ticket is the survivor's.
        # The event still names the id it was placed for: insights notes it with the merge likewise.
        if await store.MERGES.adopt(conn, row["id"], row["customer_id"]) is not None:
            adopted = await store.ticket_row(conn, row["id"])
            assert adopted is not None  # inserted just now, in this transaction
            stored = adopted
        (event_id,) = await append(conn, event)
        await store.add_activity(conn, row["id"], at=now, by=principal.name, action="opened",
                                 detail={"assignee": row["assignee"], "queue": row["queue"]}, event_id=event_id)
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


_STATUSES: tuple[str, ...] = get_args(domain.Status)
_ONE_STATUS = "|".join(_STATUSES)
_STATUS_PATTERN = f"^(?:{_ONE_STATUS})(?:,(?:{_ONE_STATUS}))*$"


@router.get(
    "/tickets",
    response_model=TicketPage,
    summary="Tickets: a worklist by handler, status and promised time",
    description="A worklist of open complaints, longest waiting first: `?kind=complaint&status=open&order=oldest`; "
    "my tickets about to run out: `?mine=true&breaching_within=2h&order=due`. Filters combine (and). "
    "`breaching_within` and `breached` look at the running clock (`due_at`: the first response until "
    "someone answered, then the resolution) at `as_of`: `breaching_within=2h` the clocks not run out yet "
    "due within 2 business hours of the shop calendar, `breached=true` those run out, both together "
    "either; `breached=false` leaves the run-out ones out. The cursor continues in the order asked for. "
    "A salesperson sees the tickets of their own customers and of the pool's (service staff see all); "
    "another owner's `customer_id` is a 403 naming the owner.",
    responses={422: {"model": Problem}, **SCOPED_ANSWERS},
)
async def list_tickets(
    request: Request,
    customer_id: uuid.UUID | None = None,
    kind: domain.Kind | None = None,
    status: Annotated[str | None, Query(
        max_length=200, description="One status or several, comma-separated: `open,waiting_on_customer`.",
        json_schema_extra={"pattern": _STATUS_PATTERN})] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=200, description="Handled by this person.")] = None,
    queue: Annotated[str | None, Query(min_length=1, max_length=64, description="Waiting in this team queue.")] = None,
    mine: Annotated[bool | None, Query(
        description="`true`: handled by the person signed in (their owner id, else their sign-in name; an API "
        "token: its name); "
        "with `assignee`, both must hold.")] = None,
    category: TicketCategory | None = None,
    breaching_within: Annotated[str | None, Query(
        max_length=40, description="A running clock not run out at `as_of` but due within this much business "
        "time: `2h`, `30m`, `1h30m`, `1d` (working days: from Friday 15:00, `1d` is Monday 15:00), or ISO 8601 "
        "`PT2H`, `P1DT4H`.", json_schema_extra={"pattern": sla.SPAN_PATTERN})] = None,
    breached: Annotated[bool | None, Query(
        description="`true`: a running clock ran out at `as_of`; `false`: none did.")] = None,
    as_of: AsOf = None,
    order: Annotated[Literal["oldest", "newest", "due"], Query(
        description="`oldest` (the default, as before this parameter existed): in the order recorded; "
        "`newest`: the latest first; `due`: the soonest due first, tickets without a running clock last.")] = "oldest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(
        max_length=100, description="`next_cursor` of the page before (with the same order): "
        "`<due time in µs since 1970, empty for none>~<ticket id>`; `oldest` and `newest` also take a ticket id.")
    ] = None,
    principal: Principal = require("tickets:read"),
) -> Response:
    if customer_id is not None:
        await ensure_may_see(request, principal, customer_id)
    seen_at = as_of or datetime.now(UTC)
    statuses = _statuses(status)
    # Tickets are assigned to owner ids (the customer's owner, as contacts keeps it), else to a sign-in name.
    me = (principal.owner or principal.name) if mine else None
    span = None
    if breaching_within is not None:
        try:
            span = sla.parse_span(breaching_within)
        except ValueError as exc:
            raise Invalid.field("query.breaching_within", str(exc)) from None
    after, after_due = _cursor(cursor, order)
    async with request.app.state.runtime.pool.acquire() as conn:
        calendar = await sla_store.calendar(conn, request.app.state.runtime.settings.timezone)
        due_by = _deadline(span, seen_at, calendar) if span is not None else seen_at if breached else None
        not_breached_at = seen_at if breached is False or (span is not None and breached is None) else None
        rows = await store.list_ticket_rows(
            conn, after=after, customer_id=customer_id, kind=kind, status=statuses, limit=limit,
            newest_first=order == "newest", owner_filter=scope_of(principal).owner_filter, assignee=assignee, me=me,
            queue=queue, category=category, due_by=due_by, not_breached_at=not_breached_at, by_due=order == "due",
            after_due=after_due)
    items = [domain.ticket_of(r, seen_at, calendar) for r in rows]
    next_cursor = None
    if len(items) == limit:
        last = items[-1]
        next_cursor = str(last.id) if order != "due" else f"{_micros(last.due_at)}~{last.id}"
    # (oldest, newest: a ticket id, as before `order=due`; any order takes `<µs>~<id>`.)
    return json_response(200, {"items": [t.model_dump(mode="json") for t in items], "next_cursor": next_cursor})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _deadline(span: sla.Span, as_of: datetime, calendar: sla.Calendar) -> datetime:
    """``breaching_within``'s end; a span the calendar cannot reach (decades ahead) reaches every clock."""
    try:
        return span.after(as_of, calendar)
    except sla.ClosedCalendar:
        return datetime.max.replace(tzinfo=UTC)


def _statuses(text: str | None) -> list[str] | None:
    """``open,waiting_on_customer`` → the statuses asked for; one that is not one is a 422 naming ``status``."""
    if text is None:
        return None
    given = [s.strip() for s in text.split(",")]
    wrong = [s for s in given if s not in _STATUSES]
    if wrong:
        raise Invalid.fields([FieldProblem("query.status", f"{wrong[0]!r} is not a status: one or several of "
                                           f"{', '.join(_STATUSES)}, comma-separated", "enum")])
    return list(dict.fromkeys(given))


def _micros(at: datetime | None) -> str:
    return "" if at is None else str((at - _EPOCH) // timedelta(microseconds=1))


def _cursor(text: str | None, order: str) -> tuple[uuid.UUID | None, datetime | None]:
    """``<due µs since 1970, empty for none>~<ticket id>``, as ``next_cursor`` of ``order=due`` gives it;
    ``oldest`` and ``newest`` page by the id alone and take a bare id too (their ``next_cursor``)."""
    if text is None:
        return None, None
    due_text, tilde, id_text = text.rpartition("~")
    try:
        ticket_id = uuid.UUID(id_text)
        if (order == "due" and not tilde) or (due_text and not (due_text.isascii() and due_text.isdigit())):
            raise ValueError
        return ticket_id, _EPOCH + timedelta(microseconds=int(due_text)) if due_text else None
    except (ValueError, OverflowError):
        raise Invalid.field("query.cursor", "not a next_cursor of this order (give the same order as the page "
                            "before)") from None
