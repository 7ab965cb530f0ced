"""SQL of the shop calendar and the SLA policies (``sql/sla.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from services.tickets.domain import sla
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "sla.sql")


async def calendar(conn: asyncpg.Connection, zone: str) -> sla.Calendar:
    """The shop calendar in the shop's zone (``KEHU_TIMEZONE``)."""
    row = await conn.fetchrow(Q["calendar"])
    assert row is not None  # migration 0004 inserts the one row
    weekly = _json(row["weekly"])
    days = {date.fromisoformat(day): sla.parse_hours(hours) for day, hours in _json(row["days"])}
    return sla.Calendar(ZoneInfo(zone), {int(d): sla.parse_hours(h) for d, h in weekly.items()}, days)


async def policy(conn: asyncpg.Connection, kind: str, priority: str) -> sla.Policy:
    row = await conn.fetchrow(Q["policy"], kind, priority)
    if row is None:
        return sla.Policy(None, None)
    return sla.Policy(row["first_response_min"], row["resolution_min"])


def _json(value: object) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def policies(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["policies"]))


async def put_policies(conn: asyncpg.Connection, rows: Sequence[Mapping[str, Any]], *, at: datetime,
                       by: str) -> None:
    await conn.execute(Q["put_policies"], [r["kind"] for r in rows], [r["priority"] for r in rows],
                       [r["first_response_min"] for r in rows], [r["resolution_min"] for r in rows], at, by)


async def calendar_settings(conn: asyncpg.Connection, *, lock: bool = False) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """The calendar row (weekly, updated_at, updated_by), locked against other writers if asked,
    and the days that differ from the week."""
    row = await conn.fetchrow(Q["lock_calendar" if lock else "calendar_settings"])
    assert row is not None  # migration 0004 inserts the one row
    return row, list(await conn.fetch(Q["calendar_days"]))


async def set_calendar(conn: asyncpg.Connection, weekly: Mapping[int, sla.Hours] | None,
                       days: Mapping[date, tuple[sla.Hours, str]] | None, *, at: datetime, by: str) -> None:
    """Replace the weekly hours and/or the exception days (None: keep them); who and when either way."""
    week = None if weekly is None else orjson.dumps(
        {str(d): sla.format_hours(weekly.get(d, ())) for d in range(1, 8)}).decode()
    await conn.execute(Q["set_calendar"], week, at, by)
    if days is not None:
        await conn.execute(Q["clear_days"])
        ordered = sorted(days.items())
        await conn.execute(Q["insert_days"], [d for d, _ in ordered],
                           [orjson.dumps(sla.format_hours(h)).decode() for _, (h, _) in ordered],
                           [name for _, (_, name) in ordered])


async def breach(conn: asyncpg.Connection, clock: str, as_of: datetime, limit: int,
                 since: datetime | None = None) -> list[asyncpg.Record]:
    """Mark up to ``limit`` clocks of this kind due at or before ``as_of`` (and at or after ``since``,
    where the pass got to) as breached; returns them."""
    name = "breach_first_responses" if clock == "first_response" else "breach_resolutions"
    return list(await conn.fetch(Q[name], as_of, limit, since))


async def breach_activity(conn: asyncpg.Connection, breaches: Sequence[tuple[uuid.UUID, datetime, str, uuid.UUID]],
                          as_of: datetime) -> None:
    """The history line of each breach: (ticket id, due time, clock, event id)."""
    await conn.execute(Q["breach_activity"], [b[0] for b in breaches], [b[1] for b in breaches],
                       [b[2] for b in breaches], [b[3] for b in breaches], as_of)
