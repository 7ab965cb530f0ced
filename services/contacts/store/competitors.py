"""SQL of competitors (queries in ``sql/competitors.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import asyncpg

from services.contacts.domain.competitors import Competitor
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "competitors.sql")


async def competitors_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[Competitor]:
    return [Competitor(**dict(r)) for r in await conn.fetch(Q["competitors_of"], customer_id)]


async def note(conn: asyncpg.Connection, customer_id: uuid.UUID, competitor: str, text: str, *, by: str,
               at: datetime) -> Competitor:
    return Competitor(**dict(await conn.fetchrow(Q["note_competitor"], customer_id, competitor, text, at, by)))


async def forget(conn: asyncpg.Connection, customer_id: uuid.UUID, competitor: str) -> bool:
    return await conn.fetchval(Q["forget_competitor"], customer_id, competitor) is not None


async def report_rows(conn: asyncpg.Connection, owner_filter: str | None) -> list[Mapping[str, object]]:
    return [dict(r) for r in await conn.fetch(Q["competitor_report"], owner_filter)]
