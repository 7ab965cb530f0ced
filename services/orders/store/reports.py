"""The SQL of sales reports (queries in ``sql/reports.sql``): sums in the database, one pass each."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import asyncpg

from services.orders.domain.reports import NOT_COUNTED, Grouping, Period
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "reports.sql")


async def sales(
    conn: asyncpg.Connection, *, since: datetime, until: datetime, currency: str, by: Grouping, period: Period,
    tz: str, owner_filter: str | None,
) -> tuple[list[asyncpg.Record], asyncpg.Record]:
    """The rows of the grouping (by=category: of the lines) and the totals of the orders."""
    common = (since, until, currency, owner_filter, list(NOT_COUNTED))
    found = await conn.fetch(Q["sales_by_order"], *common, "channel" if by == "category" else by, period, tz)
    totals = next(r for r in found if r["is_total"])
    if by == "category":
        return await conn.fetch(Q["sales_by_category"], *common), totals
    return [r for r in found if not r["is_total"]], totals
