"""The SQL of ticket reports (queries in ``sql/reports.sql``): counted in the database, a few passes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path

import asyncpg

from services.tickets.domain import reports as domain
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "reports.sql")


async def use_memory(conn: asyncpg.Connection) -> None:
    """Within the report's transaction: its sorts and aggregates in memory (work_mem)."""
    await conn.execute(Q["report_memory"])


async def volume(conn: asyncpg.Connection, since: datetime, until: datetime,
                 owner_filter: str | None) -> list[tuple[str, str, int]]:
    return [(r["dimension"], r["key"], r["n"]) for r in await conn.fetch(Q["volume"], since, until, owner_filter)]


async def earliest_raised(conn: asyncpg.Connection, since: datetime, until: datetime,
                          owner_filter: str | None) -> datetime | None:
    """When the earliest ticket answered or resolved in the period was raised (None: none was)."""
    earliest: datetime | None = await conn.fetchval(Q["earliest_raised"], since, until, owner_filter)
    return earliest


async def duration_medians(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                           clock: domain.BusinessClock) -> dict[str, domain.Durations]:
    """Per clock (first_response, resolution): the medians of the stops made in the period."""
    row = await conn.fetchrow(Q["duration_medians"], since, until, owner_filter, clock.starts, clock.ends,
                              clock.before)
    return {name: domain.durations(row[f"{name}_n"], row[f"{name}_median_s"], row[f"{name}_business_median_s"])
            for name in ("first_response", "resolution")}


async def sla_outcomes(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                       as_of: datetime) -> dict[tuple[str, str], int]:
    row = await conn.fetchrow(Q["sla_outcomes"], since, until, owner_filter, as_of)
    return {(clock, outcome): row[f"{clock}_{outcome}"]
            for clock in ("first_response", "resolution") for outcome in ("met", "breached")}


async def repeat_complainers(conn: asyncpg.Connection, since: datetime, until: datetime,
                             owner_filter: str | None) -> list[domain.RepeatComplainer]:
    rows = await conn.fetch(Q["repeat_complainers"], since, until, owner_filter, domain.REPEAT_AT_LEAST,
                            domain.MOST_REPEATERS)
    return [domain.RepeatComplainer(**dict(r)) for r in rows]


async def prevention_counts(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                            as_of: datetime, today: date) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(Q["prevention_counts"], since, until, owner_filter, as_of, today)
    return row


async def done_actions(conn: asyncpg.Connection, until: datetime, owner_filter: str | None) -> list[domain.DoneAction]:
    return [domain.DoneAction(**dict(r)) for r in await conn.fetch(Q["done_actions"], until, owner_filter)]


async def complaint_times(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                          categories: list[str]) -> dict[str, list[float]]:
    """Per category, when its complaints were raised in the period (epoch seconds, in order)."""
    if not categories:
        return {}
    rows = await conn.fetch(Q["complaint_times"], since, until, owner_filter, categories)
    return {r["category"]: list(r["times"]) for r in rows}


async def first_complaints_after(conn: asyncpg.Connection, since: datetime, until: datetime,
                                 owner_filter: str | None, moments: list[tuple[str, datetime]],
                                 ) -> dict[tuple[str, datetime], tuple[uuid.UUID, datetime]]:
    """(category, moment) → the first complaint of the category raised after it, in the period."""
    if not moments:
        return {}
    rows = await conn.fetch(Q["first_complaints_after"], since, until, owner_filter,
                            [c for c, _ in moments], [m for _, m in moments])
    return {(r["category"], r["after"]): (r["ticket_id"], r["occurred_at"]) for r in rows}
