"""HTTP routes of promised times: the SLA policies, the shop calendar and the breach sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.tickets.domain import sla
from services.tickets.domain import sla_settings as domain
from services.tickets.domain.tickets import MAX_CLOCK_SKEW
from services.tickets.sla_sweeper import sweep_once
from services.tickets.store import sla as store
from shared.auth import Principal
from shared.errors import FieldProblem, Invalid
from shared.events import SlaClock
from shared.http import AsOf, IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.writes import write_once

router = APIRouter(tags=["promised times"])
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": Problem}}


def _policies(rows: list[asyncpg.Record]) -> dict[str, object]:
    ordered = sorted(rows, key=lambda r: domain.policy_order(r["kind"], r["priority"]))
    return domain.Policies(policies=[domain.Policy(**dict(r)) for r in ordered]).model_dump(mode="json")


@router.get("/sla-policies", response_model=domain.Policies, summary="The promised times per kind and priority")
async def get_policies(request: Request, principal: Principal = require("tickets:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.policies(conn)
    return json_response(200, _policies(rows))


@router.put(
    "/sla-policies",
    response_model=domain.Policies,
    responses=INVALID,
    summary="Set promised times (some rows or all of them)",
    description="Business minutes of the shop calendar to the first answer and to the resolution, per kind and "
    "priority; null: no such clock. A resolution shorter than the first response is a 422 naming "
    "`policies[i].resolution_min`. Applies to clocks started after the change (tickets opened, reopened, "
    "resumed from waiting); the running ones keep their due times. Answers the whole set.",
)
async def put_policies(body: domain.PoliciesIn, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                       principal: Principal = require("tickets:manage")) -> Response:
    domain.check_policies(body.policies)

    async def write(conn: asyncpg.Connection) -> Reply:
        await store.put_policies(conn, [row.model_dump() for row in body.policies], at=datetime.now(UTC),
                                 by=principal.name)
        return Reply(200, _policies(await store.policies(conn)))

    return await write_once(request, principal, idempotency_key, write)


def _calendar(zone: str, row: asyncpg.Record, days: list[asyncpg.Record]) -> dict[str, object]:
    weekly = row["weekly"]
    return domain.CalendarOut(
        zone=zone,
        weekly=domain.weekly_json({int(d): sla.parse_hours(h) for d, h in weekly.items()}),
        days=[domain.CalendarDay(day=d["day"], hours=d["hours"], name=d["name"]) for d in days],
        updated_at=row["updated_at"], updated_by=row["updated_by"],
    ).model_dump(mode="json")


@router.get("/calendar", response_model=domain.CalendarOut, summary="The shop calendar the clocks count in")
async def get_calendar(request: Request, principal: Principal = require("tickets:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        row, days = await store.calendar_settings(conn)
    return json_response(200, _calendar(request.app.state.runtime.settings.timezone, row, days))


@router.put(
    "/calendar",
    response_model=domain.CalendarOut,
    responses=INVALID,
    summary="Set the opening hours and the days that differ (holidays, make-up working days 调休)",
    description="`weekly` (hours per ISO weekday \"1\" Monday … \"7\" Sunday) and `days` (every day that "
    "differs: `hours` [] for a holiday, hours on a make-up working day) each replace what was there when "
    "given. Times are HH:MM in the shop's zone (`zone`, read-only: KEHU_TIMEZONE), \"24:00\" closing at "
    "midnight. A wrong value is a 422 naming it: `weekly.3[0]`, `days[1].hours[0]`. Applies to clocks "
    "started after the change.",
)
async def put_calendar(body: domain.CalendarIn, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                       principal: Principal = require("tickets:manage")) -> Response:
    zone = request.app.state.runtime.settings.timezone
    weekly, days = domain.check_calendar(body, zone)

    async def write(conn: asyncpg.Connection) -> Reply:
        await store.calendar_settings(conn, lock=True)
        await store.set_calendar(conn, weekly, days, at=datetime.now(UTC), by=principal.name)
        row, stored_days = await store.calendar_settings(conn)
        return Reply(200, _calendar(zone, row, stored_days))

    return await write_once(request, principal, idempotency_key, write)


class Breach(BaseModel):
    ticket_id: uuid.UUID
    clock: SlaClock
    due_at: datetime


class SweepResult(BaseModel):
    as_of: datetime
    breached: list[Breach] = Field(description="The clocks this pass found run out; each only once ever.")


@router.post(
    "/admin/tickets/sla-sweep",
    response_model=SweepResult,
    responses=INVALID,
    summary="Raise TicketSlaBreached for every promised time run out at as_of (now by default)",
    description="What the background sweeper (every `KEHU_SLA_SWEEP_S`) does: each clock whose due time is at or "
    "before `as_of` is raised once (a second sweep raises nothing again; a reopened ticket's new resolution "
    "clock may breach in its turn). `as_of` may not be in the future.",
)
async def sweep(request: Request, as_of: AsOf = None, idempotency_key: IdempotencyKeyHeader = None,
                principal: Principal = require("tickets:manage")) -> Response:
    now = datetime.now(UTC)
    moment = as_of or now
    if moment > now + MAX_CLOCK_SKEW:
        raise Invalid("as_of is in the future: only time that has passed runs a promised time out",
                      errors=[FieldProblem("query.as_of", "in the future", "in_future")])

    async def write(conn: asyncpg.Connection) -> Reply:
        raised = await sweep_once(conn, moment)
        return Reply(200, SweepResult(as_of=moment, breached=[
            Breach(ticket_id=e.ticket_id, clock=e.clock, due_at=e.due_at) for e in raised]).model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)
