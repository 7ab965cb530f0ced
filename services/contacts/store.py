"""All SQL of contacts (queries in ``sql/customers.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.contacts.domain import Customer
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "customers.sql")


async def insert_customer(conn: asyncpg.Connection, customer: Customer) -> bool:
    """False when the external_ref already belongs to another customer."""
    inserted = await conn.fetchval(
        Q["insert_customer"],
        customer.id, customer.name, customer.kind, customer.phone, customer.email, customer.external_ref,
        customer.category, customer.lead_source, customer.channel, customer.created_at, customer.owner,
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


async def list_customers(
    conn: asyncpg.Connection,
    *,
    after: uuid.UUID | None,
    external_ref: str | None,
    phone: str | None,
    limit: int,
    ids: Sequence[uuid.UUID] | None = None,
) -> list[Customer]:
    if ids is not None:
        rows = await conn.fetch(Q["customers_by_ids"], list(ids), after, external_ref, phone, limit)
    else:
        rows = await conn.fetch(Q["list_customers"], after, external_ref, phone, limit)
    return [Customer(**dict(r)) for r in rows]
