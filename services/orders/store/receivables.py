"""SQL of credit terms and receivables (queries in ``sql/receivables.sql``). Never commits."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.orders.domain.receivables import CreditTerms
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "receivables.sql")


async def terms_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> CreditTerms | None:
    row = await conn.fetchrow(Q["terms_of"], customer_id)
    return None if row is None else CreditTerms(**dict(row))


async def outstanding(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Decimal:
    """What the customer owes on account, due or not."""
    return Decimal(await conn.fetchval(Q["outstanding"], customer_id))
