"""SQL of credit terms and receivables (queries in ``sql/receivables.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.orders.domain.receivables import CreditTerms
from shared.events import Instalment
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "receivables.sql")


async def terms_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> CreditTerms | None:
    row = await conn.fetchrow(Q["terms_of"], customer_id)
    return None if row is None else CreditTerms(**dict(row))


async def outstanding(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Decimal:
    """What the customer owes on account, due or not."""
    return Decimal(await conn.fetchval(Q["outstanding"], customer_id))


async def replace_instalments(conn: asyncpg.Connection, order_id: uuid.UUID, instalments: Sequence[Instalment]) -> int:
    """The order's instalments become ``instalments``; returns its new receivable revision."""
    revision = await conn.fetchval(
        Q["replace_instalments"], order_id, [i.no for i in instalments], [i.due_at for i in instalments],
        [i.amount for i in instalments], [i.paid for i in instalments])
    return int(revision)
