"""SQL of ageing and the overdue sweep (``sql/ageing.sql``). Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import asyncpg

from services.orders.domain.ageing import Buckets
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "ageing.sql")


async def totals(conn: asyncpg.Connection, as_of: datetime, owner_filter: str | None) -> Buckets:
    return Buckets(**dict(await conn.fetchrow(Q["ageing_totals"], as_of, owner_filter)))


async def per_customer(conn: asyncpg.Connection, as_of: datetime, *, owner_filter: str | None,
                       after: uuid.UUID | None, limit: int,
                       customer_id: uuid.UUID | None = None) -> list[tuple[uuid.UUID, Buckets]]:
    rows = await conn.fetch(Q["ageing_customers"], as_of, owner_filter, after, limit, customer_id)
    return [(r["customer_id"], Buckets(**{k: v for k, v in dict(r).items() if k != "customer_id"})) for r in rows]


async def raise_overdue(conn: asyncpg.Connection, as_of: datetime, limit: int) -> list[asyncpg.Record]:
    """Open instalments past due whose overdue was never raised, now marked raised at ``as_of``."""
    return list(await conn.fetch(Q["raise_overdue"], as_of, limit))
