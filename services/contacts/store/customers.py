"""All SQL of contacts (queries in ``sql/customers.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson

from services.contacts.domain.customers import Customer
from services.contacts.search import search_text
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "customers.sql")


async def insert_customer(conn: asyncpg.Connection, customer: Customer) -> bool:
    """False when the external_ref already belongs to another customer."""
    inserted = await conn.fetchval(
        Q["insert_customer"],
        customer.id, customer.name, customer.kind, customer.phone, customer.email, customer.external_ref,
        customer.category, customer.lead_source, customer.channel, customer.created_at, customer.owner,
        search_text(customer.name, customer.phone, customer.external_ref), customer.registered_at,
        customer.lead_source_detail, customer.tags, customer.address, customer.notes,
    )
    return inserted is not None


async def insert_customers(conn: asyncpg.Connection, customers: Sequence[Customer]) -> set[uuid.UUID]:
    """Insert customers in one statement; returns the ids inserted. A customer whose external_ref is
    already taken is skipped (see ``customer_ids_by_external_refs``)."""
    # In external_ref order: concurrent batches that share refs then wait on each other in the
    # same order instead of deadlocking.
    customers = sorted(customers, key=lambda c: c.external_ref or "")
    rows = await conn.fetch(
        Q["insert_customers"],
        [c.id for c in customers], [c.name for c in customers], [c.kind for c in customers],
        [c.phone for c in customers], [c.email for c in customers], [c.external_ref for c in customers],
        [c.category for c in customers], [c.lead_source for c in customers], [c.channel for c in customers],
        [c.created_at for c in customers], [c.owner for c in customers],
        [search_text(c.name, c.phone, c.external_ref) for c in customers], [c.registered_at for c in customers],
        [c.lead_source_detail for c in customers], [orjson.dumps(c.tags).decode() for c in customers],
        [c.address for c in customers], [c.notes for c in customers],
    )
    return {r["id"] for r in rows}


async def customer_ids_by_external_refs(
    conn: asyncpg.Connection, external_refs: Sequence[str]
) -> dict[str, uuid.UUID]:
    if not external_refs:
        return {}
    rows = await conn.fetch(Q["customer_ids_by_external_refs"], list(external_refs))
    return {r["external_ref"]: r["id"] for r in rows}


async def customer_by_id(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Customer | None:
    row = await conn.fetchrow(Q["customer_by_id"], customer_id)
    return Customer(**dict(row)) if row else None


async def customer_by_external_ref(conn: asyncpg.Connection, external_ref: str) -> Customer | None:
    row = await conn.fetchrow(Q["customer_by_external_ref"], external_ref)
    return Customer(**dict(row)) if row else None


@dataclass(frozen=True)
class CustomerFilter:
    """What ``GET /customers`` narrows the list by; None means any. ``q`` and ``phone_tail`` as
    ``search.query_pattern`` and ``search.phone_tail`` give them."""

    external_ref: str | None = None
    phone: str | None = None
    category: str | None = None
    owner: str | None = None
    q: str | None = None
    phone_tail: str | None = None
    lead_source: str | None = None
    tag: str | None = None
    q_grams: tuple[str, ...] = ()
    """The pieces of q and of its phone tail (``search.query_grams``): what the search index finds."""
    tail_grams: tuple[str, ...] = ()
    scope_owner: str | None = None  # a salesperson's: only their customers and the pool (Scope.owner_filter)

    def args(self) -> tuple[str | None, ...]:
        return self.external_ref, self.phone, self.category, self.owner, self.q, self.phone_tail


async def list_customers(
    conn: asyncpg.Connection,
    *,
    after: uuid.UUID | None,
    where: CustomerFilter,
    limit: int,
    ids: Sequence[uuid.UUID] | None = None,
) -> list[Customer]:
    if ids is not None:
        rows = await conn.fetch(Q["customers_by_ids"], list(ids), after, *where.args(), limit,
                                where.lead_source, where.tag, where.scope_owner)
    elif where.q is not None:  # through the search indexes (migration 0006)
        rows = await conn.fetch(Q["search_customers"], after, *where.args(), limit, where.lead_source, where.tag,
                                list(where.q_grams), list(where.tail_grams), where.scope_owner)
    else:
        rows = await conn.fetch(Q["list_customers"], after, *where.args(), limit, where.lead_source, where.tag,
                                where.scope_owner)
    return [Customer(**dict(r)) for r in rows]


async def backfill_search(conn: asyncpg.Connection, batch: int) -> int:
    """Fill ``search`` for up to ``batch`` customers registered before it existed; how many."""
    rows = await conn.fetch(Q["customers_without_search"], batch)
    if rows:
        await conn.execute(Q["set_search"], [r["id"] for r in rows],
                           [search_text(r["name"], r["phone"], r["external_ref"]) for r in rows])
    return len(rows)
