"""SQL of invoices (``sql/invoices.sql``). Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "invoices.sql")


async def next_number(conn: asyncpg.Connection, year: int) -> str:
    """kehu's next invoice number, e.g. INV-2026-000123 (one sequence for the shop)."""
    return f"INV-{year}-{int(await conn.fetchval(Q['next_number'])):06d}"


async def insert_invoice(conn: asyncpg.Connection, *, invoice_id: uuid.UUID, number: str, order_id: uuid.UUID,
                         customer_id: uuid.UUID, amount: Decimal, official_number: str | None,
                         issued_at: datetime, issued_by: str) -> None:
    await conn.execute(Q["insert_invoice"], invoice_id, number, order_id, customer_id, amount, official_number,
                       issued_at, issued_by)


async def invoice_by_id(conn: asyncpg.Connection, invoice_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q["invoice_by_id"], invoice_id)
    return None if row is None else dict(row)


async def list_invoices(conn: asyncpg.Connection, *, customer_id: uuid.UUID | None, order_id: uuid.UUID | None,
                        limit: int, owner_filter: str | None) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["list_invoices"], customer_id, order_id, limit, owner_filter)]


async def set_official_number(conn: asyncpg.Connection, invoice_id: uuid.UUID,
                              official_number: str | None) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q["set_official_number"], invoice_id, official_number)
    return None if row is None else dict(row)
