"""HTTP route of ticket reports: parse the range, count in the database, medians and recurrences here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.tickets.domain import reports as domain
from services.tickets.store import reports as store
from services.tickets.store import sla as sla_store
from shared.auth import Principal
from shared.http import AsOf, Problem, json_response, require
from shared.scopes import scope_of

router = APIRouter(tags=["reports"])

_BOUND = "A day YYYY-MM-DD of the shop's time zone (KEHU_TIMEZONE) or an RFC 3339 time with its offset."


@router.get(
    "/reports/tickets",
    response_model=domain.TicketsReport,
    response_model_by_alias=True,
    summary="Ticket volume, response and resolution times, SLA compliance, repeat complainers, prevention",
    description="For the period [from, to) (cut at as_of): tickets raised per kind, channel and category; the "
    "median time to first response and to resolution (wall-clock and business minutes of the shop calendar) "
    "over the responses and resolutions made in it; the SLA clocks that ended in it, met or breached; customers "
    "with two complaints or more; prevention actions open, overdue and done, and the complaints of the same "
    "category that came after an action was done. Readable with `tickets:read`: a salesperson counts the "
    "tickets of their own customers and of the pool's, as in `GET /tickets`.",
    responses={422: {"model": Problem, "description": "from not before to, a range too long, a bound that is "
                                                      "neither a day nor a time (the field is named)"}},
)
async def tickets_report(
    request: Request,
    since: Annotated[str | None, Query(alias="from", max_length=40, pattern=domain.BOUND_PATTERN, description=_BOUND + " A day starts at its "
                                       "midnight. Default: 30 days before `to`.")] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40, pattern=domain.BOUND_PATTERN, description=_BOUND + " Not included; a day is "
                                       "included whole. Default: as_of.")] = None,
    as_of: AsOf = None,
    principal: Principal = require("tickets:read"),
) -> Response:
    zone_name = request.app.state.runtime.settings.timezone
    zone = ZoneInfo(zone_name)
    now = as_of or datetime.now(UTC)
    start, end = domain.report_range(domain.parse_bound(since, zone, "query.from", end=False),
                                     domain.parse_bound(until, zone, "query.to", end=True), as_of=now)
    async with request.app.state.runtime.pool.acquire() as conn:
        report = await compute_report(conn, start, end, now, zone_name, scope_of(principal).owner_filter)
    return json_response(200, report.model_dump(mode="json", by_alias=True))


async def compute_report(conn: asyncpg.Connection, start: datetime, end: datetime, now: datetime, zone_name: str,
                         owner_filter: str | None) -> domain.TicketsReport:
    """The report of [start, end) seen at ``now``, in one read-only snapshot (benchmarks call it too)."""
    known_end = min(end, now)  # nothing after as_of is known yet
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await store.use_memory(conn)
        calendar = await sla_store.calendar(conn, zone_name)
        volume = await store.volume(conn, start, known_end, owner_filter)
        earliest = await store.earliest_raised(conn, start, known_end, owner_filter)
        stops = (await store.duration_medians(conn, start, known_end, owner_filter,
                                              domain.BusinessClock.spanning(calendar, earliest, known_end))
                 if earliest is not None else {name: domain.durations(0, None, None)
                                               for name in ("first_response", "resolution")})
        outcomes = await store.sla_outcomes(conn, start, known_end, owner_filter, now)
        repeaters = await store.repeat_complainers(conn, start, known_end, owner_filter)
        counts = await store.prevention_counts(conn, start, known_end, owner_filter, now,
                                               now.astimezone(ZoneInfo(zone_name)).date())
        done = await store.done_actions(conn, known_end, owner_filter)
        times = await store.complaint_times(conn, start, known_end, owner_filter, sorted({a.category for a in done}))
        counted = domain.recurrence_counts(done, times, since=start, until=known_end)
        firsts = await store.first_complaints_after(conn, start, known_end, owner_filter,
                                                    sorted({(a.category, a.done_at) for a, n in counted if n}))
    return domain.TicketsReport(
        since=start, until=end, as_of=now, tz=zone_name, volume=domain.volume(volume),
        first_response_minutes=stops["first_response"], resolution_minutes=stops["resolution"],
        sla=domain.sla_figures(outcomes), repeat_complainers=repeaters,
        prevention=domain.Prevention(open=counts["open"], overdue=counts["overdue"], done=counts["done"],
                                     recurred=domain.recurred(counted, firsts)))
