"""SQL of a ticket's life (queries in ``sql/lifecycle.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.tickets.domain.resolution import MUTABLE
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "lifecycle.sql")


async def ticket_for_update(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    """The ticket's row (all columns), locked until the transaction ends."""
    return await conn.fetchrow(Q["ticket_for_update"], ticket_id)


async def save_ticket(conn: asyncpg.Connection, row: Mapping[str, Any]) -> None:
    await conn.execute(Q["save_ticket"], row["id"], *(row[name] for name in MUTABLE))


async def pending_remedy(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> dict[str, Any] | None:
    """The proposal waiting for the customer's answer (its activity line's detail), if any."""
    row = await conn.fetchrow(Q["pending_remedy"], ticket_id)
    if row is None:
        return None
    return dict(row["proposal"] or {"remedy_id": str(row["id"])})


async def credited_compensation(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> Decimal | None:
    amount: Decimal | None = await conn.fetchval(Q["credited_compensation"], ticket_id)
    return amount


async def insert_remedy(conn: asyncpg.Connection, r: Mapping[str, Any]) -> None:
    await conn.execute(Q["insert_remedy"], r["id"], r["ticket_id"], r["remedy"], r["detail"], r["compensation"],
                       r["proposed_at"], r["proposed_by"], r["accepted"], r["answered_at"], r["answer_comment"])


async def answer_remedy(conn: asyncpg.Connection, r: Mapping[str, Any]) -> None:
    await conn.execute(Q["answer_remedy"], r["id"], r["accepted"], r["answered_at"], r["answer_comment"])


async def insert_prevention(conn: asyncpg.Connection, p: Mapping[str, Any]) -> None:
    await conn.execute(Q["insert_prevention"], p["id"], p["ticket_id"], p["category"], p["action"], p["owner"],
                       p["due_on"], p["created_at"])


async def activity_of(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["activity_of"], ticket_id))


async def remedies_of(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["remedies_of"], ticket_id))


async def prevention_of_ticket(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["prevention_of_ticket"], ticket_id))


async def prevention_action(conn: asyncpg.Connection, action_id: uuid.UUID) -> asyncpg.Record | None:
    """A prevention action with its ticket's ``customer_id``."""
    return await conn.fetchrow(Q["prevention_action"], action_id)


async def prevention_for_update(conn: asyncpg.Connection, action_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(Q["prevention_for_update"], action_id)


async def complete_prevention(conn: asyncpg.Connection, action_id: uuid.UUID, *, at: datetime, by: str,
                              note: str) -> None:
    await conn.execute(Q["complete_prevention"], action_id, at, by, note)


async def list_prevention(conn: asyncpg.Connection, *, status: str | None, owner: str | None,
                          due_before: date | None, limit: int, owner_filter: str | None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["list_prevention"], status, owner, due_before, limit, owner_filter))
