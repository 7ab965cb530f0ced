"""All SQL of contacts (queries in ``sql/customers.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
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
        customer.category, customer.lead_source, customer.channel, customer.created_at,
    )
    return inserted is not None


async def customer_by_id(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Customer | None:
    row = await conn.fetchrow(Q["customer_by_id"], customer_id)
    return Customer(**dict(row)) if row else None


async def customer_by_external_ref(conn: asyncpg.Connection, external_ref: str) -> Customer | None:
    row = await conn.fetchrow(Q["customer_by_external_ref"], external_ref)
    return Customer(**dict(row)) if row else None


async def list_customers(
    conn: asyncpg.Connection, *, after: uuid.UUID | None, external_ref: str | None, phone: str | None, limit: int
) -> list[Customer]:
    rows = await conn.fetch(Q["list_customers"], after, external_ref, phone, limit)
    return [Customer(**dict(r)) for r in rows]
