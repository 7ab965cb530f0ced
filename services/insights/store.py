"""All SQL of insights (queries in ``sql/``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import asyncpg

from shared.consumer import Delivery
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "timeline.sql")


async def add_to_timeline(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    if not deliveries:
        return
    await conn.execute(
        Q["insert_timeline"],
        [d.envelope.id for d in deliveries],
        [d.event.customer_id for d in deliveries],
        [type(d.event).__name__ for d in deliveries],
        [d.envelope.type for d in deliveries],
        [d.envelope.source for d in deliveries],
        [d.event.occurred_at for d in deliveries],
        [d.envelope.time for d in deliveries],
        [d.event.model_dump(mode="json") for d in deliveries],
    )


async def timeline_page(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    event_type: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    after_time, after_id = after if after else (None, None)
    return list(await conn.fetch(Q["timeline_page"], customer_id, after_time, after_id, event_type, limit))
