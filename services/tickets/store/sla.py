"""SQL of the shop calendar and the SLA policies (``sql/sla.sql``). Never commits."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from services.tickets.domain import sla
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "sla.sql")


async def calendar(conn: asyncpg.Connection, zone: str) -> sla.Calendar:
    """The shop calendar in the shop's zone (``KEHU_TIMEZONE``)."""
    weekly_raw = await conn.fetchval(Q["calendar_week"])
    weekly = orjson.loads(weekly_raw) if isinstance(weekly_raw, str | bytes) else weekly_raw
    days = {r["day"]: sla.parse_hours(_json(r["hours"])) for r in await conn.fetch(Q["calendar_days"])}
    return sla.Calendar(ZoneInfo(zone), {int(d): sla.parse_hours(h) for d, h in weekly.items()}, days)


async def policy(conn: asyncpg.Connection, kind: str, priority: str) -> sla.Policy:
    row = await conn.fetchrow(Q["policy"], kind, priority)
    if row is None:
        return sla.Policy(None, None)
    return sla.Policy(row["first_response_min"], row["resolution_min"])


def _json(value: object) -> list[list[str]]:
    return orjson.loads(value) if isinstance(value, str | bytes) else value  # type: ignore[return-value]
