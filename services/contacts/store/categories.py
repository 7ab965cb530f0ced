"""SQL of the category part (``sql/categories.sql``, ``sql/referrals.sql``, ``sql/acquisition.sql``).
Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.contacts.domain.categories import CategoryState, Change
from shared.sql import load_queries

Q = (load_queries(Path(__file__).parent.parent / "sql" / "categories.sql")
     | load_queries(Path(__file__).parent.parent / "sql" / "referrals.sql")
     | load_queries(Path(__file__).parent.parent / "sql" / "acquisition.sql"))


@dataclass(frozen=True)
class CustomerCategory:
    """A customer's category columns, and whose customer it is (for the scope check)."""

    state: CategoryState
    owner: str | None
    loss_reason: str | None
    loss_kind: str | None


def _category(row: asyncpg.Record) -> CustomerCategory:
    state = CategoryState(customer_id=row["id"], category=row["category"],
                          category_changed_at=row["category_changed_at"], merged_into=row["merged_into"])
    return CustomerCategory(state, row["owner"], row["loss_reason"], row["loss_kind"])


async def category_of(conn: asyncpg.Connection, customer_id: uuid.UUID, *, for_update: bool = False) -> CustomerCategory | None:
    row = await conn.fetchrow(Q["category_state_for_update" if for_update else "category_state"], customer_id)
    return _category(row) if row else None


async def categories_for_orders(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CustomerCategory]:
    rows = await conn.fetch(Q["category_states_for_orders"], sorted(set(ids)))
    return {r["id"]: _category(r) for r in rows}


async def apply_change(conn: asyncpg.Connection, customer_id: uuid.UUID, change: Change) -> None:
    """The customer's new category and its history row (the event goes to the outbox by the caller)."""
    event = change.event
    await conn.execute(Q["set_category"], customer_id, change.category, change.loss_reason, change.loss_kind,
                       change.changed_at)
    await conn.execute(Q["insert_category_change"], customer_id, change.changed_at, event.previous_category,
                       change.category, event.reason, change.loss_reason, change.loss_kind, event.changed_by,
                       event.automatic, event.order_id)


async def category_history(conn: asyncpg.Connection, customer_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["category_history"], customer_id, limit)]


async def record_order_times(
    conn: asyncpg.Connection, times: dict[uuid.UUID, tuple[datetime, datetime]]
) -> None:
    """``times``: each customer's earliest and latest order time of a batch."""
    ids = sorted(times)
    await conn.execute(Q["record_order_times"], ids, [times[i][0] for i in ids], [times[i][1] for i in ids])


async def win_back(
    conn: asyncpg.Connection, *, as_of: datetime, after: tuple[datetime, uuid.UUID] | None, owner: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    after_at, after_id = after if after else (None, None)
    rows = await conn.fetch(Q["win_back"], as_of, after_at, after_id, owner, limit)
    return [dict(r) for r in rows]


async def win_back_rates(
    conn: asyncpg.Connection, *, since: datetime, until: datetime, as_of: datetime, owner: str | None
) -> dict[str, tuple[int, int]]:
    """Per loss reason: (customers lost in the period, of them won back by as_of)."""
    rows = await conn.fetch(Q["win_back_rates"], since, until, as_of, owner)
    return {r["loss_reason"]: (r["lost"], r["won_back"]) for r in rows}


async def referral_chain(conn: asyncpg.Connection, customer_id: uuid.UUID, depth: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["referral_chain"], customer_id, depth)]


async def referred_customers(conn: asyncpg.Connection, customer_id: uuid.UUID, depth: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["referred_customers"], customer_id, depth)]


async def acquisition(
    conn: asyncpg.Connection, *, period: str, since: datetime, until: datetime, as_of: datetime, timezone: str,
    owner: str | None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(Q["acquisition"], period, since, until, as_of, timezone, owner)
    return [dict(r) for r in rows]
