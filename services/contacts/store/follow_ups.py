"""Follow-ups' SQL (``sql/follow_ups.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.contacts.domain.follow_ups import FollowUp, FollowUpState
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "follow_ups.sql")


@dataclass(frozen=True)
class Locked:
    """A customer locked for a follow-up: whose it is, and its follow-up columns."""

    owner: str | None
    merged_into: uuid.UUID | None
    state: FollowUpState


async def lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Locked | None:
    row = await conn.fetchrow(Q["follow_up_state_for_update"], customer_id)
    if row is None:
        return None
    return Locked(row["owner"], row["merged_into"], FollowUpState(row["last_follow_up_at"], row["next_follow_up_due"]))


async def insert_follow_up(conn: asyncpg.Connection, f: FollowUp) -> None:
    await conn.execute(Q["insert_follow_up"], f.id, f.customer_id, f.by, f.occurred_at, f.channel, f.note, f.outcome,
                       f.next_due, f.recorded_at)


async def set_state(conn: asyncpg.Connection, customer_id: uuid.UUID, state: FollowUpState) -> None:
    await conn.execute(Q["set_follow_up_state"], customer_id, state.last_follow_up_at, state.next_follow_up_due)


async def customer_owner(conn: asyncpg.Connection, customer_id: uuid.UUID) -> tuple[bool, str | None]:
    """(whether the customer exists, its owner)."""
    row = await conn.fetchrow(Q["customer_owner"], customer_id)
    return (row is not None, row["owner"] if row else None)


async def follow_ups_of(conn: asyncpg.Connection, customer_id: uuid.UUID, *,
                        after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[FollowUp]:
    when, last_id = after or (None, None)
    rows = await conn.fetch(Q["follow_ups_of_customer"], customer_id, when, last_id, limit)
    return [FollowUp(**dict(r)) for r in rows]


async def due(conn: asyncpg.Connection, *, by_day: date, owner: str | None,
              after: tuple[date, uuid.UUID] | None, limit: int) -> list[dict[str, Any]]:
    day, last_id = after or (None, None)
    rows = await conn.fetch(Q["due_follow_ups"], by_day, owner, day, last_id, limit)
    return [dict(r) for r in rows]
