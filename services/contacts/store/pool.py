"""SQL of owners and the pool (queries in ``sql/pool.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.contacts.domain.pool import Holding, OwnershipFacts, PoolReturn, PoolRules, RuleLimits
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "pool.sql")


async def holding_for_update(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Holding | None:
    """The customer's ownership, locked; None for no customer (or one merged into another)."""
    row = await conn.fetchrow(Q["holding_for_update"], customer_id)
    if row is None or row["merged_into"] is not None:
        return None
    return Holding(row["id"], row["category"], row["owner"], row["previous_owner"], row["reclaim_after"])


async def owner_of(conn: asyncpg.Connection, customer_id: uuid.UUID, *,
                   merged_too: bool = False) -> tuple[bool, str | None]:
    """(whether the customer exists, and is not merged unless ``merged_too``; their owner)."""
    row = await conn.fetchrow(Q["owner_of"], customer_id)
    return (row is not None and (merged_too or row["merged_into"] is None)), (row["owner"] if row else None)


async def lock_owner(conn: asyncpg.Connection, owner: str) -> None:
    """Until the transaction ends, one claim at a time per owner (the limit counts their holdings)."""
    await conn.execute(Q["lock_owner"], owner)


async def held_in_category(conn: asyncpg.Connection, owner: str, category: str) -> int:
    return int(await conn.fetchval(Q["held_in_category"], owner, category))


async def set_owner(conn: asyncpg.Connection, customer_id: uuid.UUID, owner: str, at: datetime) -> None:
    await conn.execute(Q["set_owner"], customer_id, owner, at)


async def release_to_pool(conn: asyncpg.Connection, customer_id: uuid.UUID, at: datetime,
                          reclaim_after: datetime | None) -> None:
    await conn.execute(Q["release_to_pool"], customer_id, at, reclaim_after)


async def record_owner_change(
    conn: asyncpg.Connection, customer_id: uuid.UUID, *, at: datetime, previous_owner: str | None,
    owner: str | None, how: str, by: str, reason: str | None = None, rule: str | None = None,
) -> None:
    await conn.execute(Q["record_owner_change"], customer_id, at, previous_owner, owner, how, by, reason, rule)


async def hand_over(
    conn: asyncpg.Connection, *, from_owner: str, to_owner: str, at: datetime, categories: Sequence[str] | None,
    by: str, handover_id: uuid.UUID, reason: str,
) -> list[uuid.UUID]:
    """Move every customer of ``from_owner`` in one statement; the ids moved."""
    rows = await conn.fetch(Q["hand_over"], from_owner, to_owner, at, list(categories) if categories else None,
                            by, handover_id, reason)
    return [r["id"] for r in rows]


async def owners(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [{"owner": r["owner"], "customers": r["customers"]} for r in await conn.fetch(Q["owners"])]


async def owner_history(conn: asyncpg.Connection, customer_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["owner_history"], customer_id, limit)]


async def pool_page(
    conn: asyncpg.Connection, *, after: uuid.UUID | None, category: str | None, q: str | None,
    phone_tail: str | None, limit: int,
) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["pool_page"], after, category, q, phone_tail, limit)]


async def pool_rules(conn: asyncpg.Connection) -> list[PoolRules]:
    return [PoolRules(**dict(r)) for r in await conn.fetch(Q["pool_rules"])]


async def pool_rule(conn: asyncpg.Connection, category: str) -> PoolRules | None:
    row = await conn.fetchrow(Q["pool_rule"], category)
    return PoolRules(**dict(row)) if row else None


async def put_pool_rule(conn: asyncpg.Connection, category: str, limits: RuleLimits, *, at: datetime,
                        by: str) -> PoolRules:
    row = await conn.fetchrow(Q["put_pool_rule"], category, limits.no_follow_up_days, limits.no_order_days,
                              limits.max_per_owner, limits.reclaim_days, at, by)
    return PoolRules(**dict(row))


async def pool_candidates(conn: asyncpg.Connection, rule: PoolRules, as_of: datetime) -> list[OwnershipFacts]:
    """The owned customers of the rule's category whose clock may have run out (the domain decides)."""
    rows = await conn.fetch(Q["pool_candidates"], rule.category, rule.no_follow_up_days, rule.no_order_days, as_of)
    return [OwnershipFacts(r["id"], r["category"], r["owner"], r["created_at"], r["owner_since"],
                           r["last_follow_up_at"], r["last_order_at"]) for r in rows]


async def return_to_pool(conn: asyncpg.Connection, returns: Sequence[PoolReturn], *, as_of: datetime,
                         by: str) -> set[uuid.UUID]:
    """Return customers in one statement, each only if its owner is unchanged; the ids returned."""
    if not returns:
        return set()
    rows = await conn.fetch(Q["return_to_pool"], [r.customer_id for r in returns], [r.previous_owner for r in returns],
                            [r.reclaim_after for r in returns], [r.rule for r in returns], as_of, by)
    return {r["id"] for r in rows}
