"""The SQL of ticket reports (queries in ``sql/reports.sql``): counted in the database, a few passes."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import asyncpg

from services.tickets.domain import reports as domain
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "reports.sql")


async def volume(conn: asyncpg.Connection, since: datetime, until: datetime,
                 owner_filter: str | None) -> list[tuple[str, str, int]]:
    return [(r["dimension"], r["key"], r["n"]) for r in await conn.fetch(Q["volume"], since, until, owner_filter)]


async def durations(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                    ) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per clock (first_response, resolution): (raised, stopped) of each stop in the period."""
    found: dict[str, list[tuple[datetime, datetime]]] = {"first_response": [], "resolution": []}
    for r in await conn.fetch(Q["durations"], since, until, owner_filter):
        found[r["clock"]].append((r["occurred_at"], r["stopped_at"]))
    return found


async def sla_outcomes(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                       as_of: datetime) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(Q["sla_outcomes"], since, until, owner_filter, as_of)
    return {(r["clock"], r["outcome"]): r["n"] for r in rows}


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


async def complaints_of(conn: asyncpg.Connection, since: datetime, until: datetime, owner_filter: str | None,
                        categories: list[str]) -> list[domain.Complaint]:
    if not categories:
        return []
    rows = await conn.fetch(Q["complaints_of_categories"], since, until, owner_filter, categories)
    return [domain.Complaint(**dict(r)) for r in rows]
