"""HTTP routes of competitors: which competitors a customer also buys from, and the report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.contacts.domain import competitors as domain
from services.contacts.domain import profile
from services.contacts.domain.contact_persons import Merged
from services.contacts.domain.customers import Customer
from services.contacts.store import competitors as store
from services.contacts.store import customers as customers_store
from services.contacts.store import profile as profile_store
from shared.auth import Principal
from shared.errors import NotFound
from shared.events import CustomerProfileUpdated, FieldChange
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["competitors"])
CompetitorName = Annotated[str, Path(
    max_length=domain.MAX_NAME, pattern=domain.NAME_PATTERN,
    description="The competitor's name (URL-encoded; it may hold a `/`; blanks around it trimmed, inner blanks "
    "as one space).")]


async def _locked(conn: asyncpg.Connection, customer_id: uuid.UUID, principal: Principal) -> Customer:
    customer = await profile_store.customer_for_update(conn, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    ensure_covers(scope_of(principal), customer_id, customer.owner)
    if customer.merged_into is not None:
        raise Merged(customer)
    return customer


async def _record(conn: asyncpg.Connection, customer_id: uuid.UUID, change: FieldChange, by: str,
                  now: datetime) -> int:
    """A change of the competitors is a change of the record: next revision, history row, event."""
    revision = await profile_store.bump_revision(conn, customer_id)
    await profile_store.insert_changes(conn, customer_id, revision, [change], by=by, at=now)
    await append(conn, CustomerProfileUpdated(customer_id=customer_id, occurred_at=now, changes=[change],
                                              revision=revision, changed_by=by))
    return revision


@router.put(
    "/customers/{customer_id:uuid}/competitors/{name:path}",
    response_model=domain.Competitor,
    status_code=200,
    summary="Note that a customer also buys from a competitor (or change the note)",
    description="201 when the competitor is new for the customer, 200 otherwise. A change is a `competitors` "
    "row of the record's history (old → new: competitor → note), a new revision and a `CustomerProfileUpdated`; "
    "the same note again changes nothing. No If-Match: a note is added beside the others, not over them.",
    responses={201: {"model": domain.Competitor, "description": "A competitor new for this customer"},
               404: {"model": Problem}, 409: {"model": Problem, "description": "The customer was merged"}},
)
async def note_competitor(
    customer_id: uuid.UUID,
    name: CompetitorName,
    body: domain.CompetitorNote,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    competitor = domain.competitor_name(name)

    async def write(conn: asyncpg.Connection) -> Reply:
        await _locked(conn, customer_id, principal)
        listed = await store.competitors_of(conn, customer_id)
        before = {c.competitor: c.note for c in listed}
        change = domain.change(before, {**before, competitor: body.note})
        if change is None:
            same = next(c for c in listed if c.competitor == competitor)
            return Reply(200, same.model_dump(mode="json"))
        now = datetime.now(UTC)
        noted = await store.note(conn, customer_id, competitor, body.note, by=principal.name, at=now)
        revision = await _record(conn, customer_id, change, principal.name, now)
        return Reply(200 if competitor in before else 201, noted.model_dump(mode="json"),
                     {"ETag": profile.etag(revision)})

    return await write_once(request, principal, idempotency_key, write)


@router.delete(
    "/customers/{customer_id:uuid}/competitors/{name:path}",
    summary="The customer no longer buys from this competitor",
    description="Recorded as a `competitors` change (history, revision, event) when it was noted; "
    "otherwise harmless (`removed: false`).",
    responses={404: {"model": Problem}, 409: {"model": Problem, "description": "The customer was merged"}},
)
async def forget_competitor(
    customer_id: uuid.UUID,
    name: CompetitorName,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    competitor = domain.competitor_name(name)

    async def write(conn: asyncpg.Connection) -> Reply:
        await _locked(conn, customer_id, principal)
        before = {c.competitor: c.note for c in await store.competitors_of(conn, customer_id)}
        if not await store.forget(conn, customer_id, competitor):
            return Reply(200, {"removed": False})
        after = {k: v for k, v in before.items() if k != competitor}
        change = domain.change(before, after)
        if change is not None:
            await _record(conn, customer_id, change, principal.name, datetime.now(UTC))
        return Reply(200, {"removed": True})

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id:uuid}/competitors",
    response_model=domain.CompetitorList,
    summary="The competitors a customer also buys from",
    responses={404: {"model": Problem}},
)
async def competitors_of(customer_id: uuid.UUID, request: Request,
                         principal: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await customers_store.customer_by_id(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        listed = await store.competitors_of(conn, customer_id)
    return json_response(200, domain.CompetitorList(items=listed).model_dump(mode="json"))


@router.get(
    "/competitors",
    response_model=domain.CompetitorReport,
    summary="Per competitor: how many customers also buy from them, by category",
    description="Counts the customers you may see (a salesperson: their own and the pool).",
)
async def competitor_report(request: Request, principal: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.report_rows(conn, scope_of(principal).owner_filter)
    return json_response(200, domain.report(rows).model_dump(mode="json"))
