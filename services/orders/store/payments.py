"""SQL of payments, credit notes, account credit and the ledger (``sql/payments.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.orders.domain.allocation import OpenInstalment
from shared.events import Instalment, PaymentAllocation
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "payments.sql")


@dataclass(frozen=True)
class OrderHead:
    id: uuid.UUID
    customer_id: uuid.UUID
    total: Decimal
    status: str
    receivable_revision: int


async def lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> None:
    await conn.execute(Q["lock_customer"], customer_id)


async def order_head(conn: asyncpg.Connection, order_id: uuid.UUID) -> OrderHead | None:
    row = await conn.fetchrow(Q["order_head"], order_id)
    return None if row is None else OrderHead(**dict(row))


async def instalments_of_order(conn: asyncpg.Connection, order_id: uuid.UUID) -> list[Instalment]:
    return [Instalment(**dict(r)) for r in await conn.fetch(Q["instalments_of_order"], order_id)]


async def open_instalments(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[OpenInstalment]:
    return [OpenInstalment(**dict(r)) for r in await conn.fetch(Q["open_instalments_of_customer"], customer_id)]


async def add_paid(conn: asyncpg.Connection, order_id: uuid.UUID, allocations: Sequence[PaymentAllocation]) -> int:
    """Allocations (all of ``order_id``) added to its instalments' paid; returns the new revision."""
    return int(await conn.fetchval(Q["add_paid"], order_id, [a.instalment_no for a in allocations],
                                   [a.amount for a in allocations]))


async def write_schedule(conn: asyncpg.Connection, order_id: uuid.UUID, instalments: Sequence[Instalment]) -> int:
    """The order's instalments become ``instalments`` (raised overdues kept); returns the new revision."""
    return int(await conn.fetchval(
        Q["write_schedule"], order_id, [i.no for i in instalments], [i.due_at for i in instalments],
        [i.amount for i in instalments], [i.paid for i in instalments]))


async def credit_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Decimal:
    return Decimal(await conn.fetchval(Q["credit_of"], customer_id))


async def add_credit(conn: asyncpg.Connection, customer_id: uuid.UUID, amount: Decimal) -> None:
    """``amount`` added to the customer's credit (negative: credit used)."""
    if amount > 0:
        await conn.execute(Q["add_credit"], customer_id, amount)
    elif amount < 0:
        await conn.execute(Q["use_credit"], customer_id, -amount)


async def insert_payment(conn: asyncpg.Connection, *, payment_id: uuid.UUID, customer_id: uuid.UUID, method: str,
                         amount: Decimal, unallocated: Decimal, received_at: datetime, reference: str | None,
                         recorded_by: str, recorded_at: datetime, credit_note_id: uuid.UUID | None,
                         allocations: Sequence[PaymentAllocation]) -> None:
    await conn.execute(Q["insert_payment"], payment_id, customer_id, method, amount, unallocated, received_at,
                       reference, recorded_by, recorded_at, credit_note_id)
    if allocations:
        await conn.execute(Q["insert_allocations"], payment_id, [a.order_id for a in allocations],
                           [a.instalment_no for a in allocations], [a.amount for a in allocations],
                           [a.due_at for a in allocations])


async def payments_of(conn: asyncpg.Connection, *, customer_id: uuid.UUID | None, order_id: uuid.UUID | None,
                      limit: int, owner_filter: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(Q["payments_of"], customer_id, order_id, limit, owner_filter)
    return [dict(r) for r in rows]  # allocations: decoded jsonb (amounts as numbers; the model takes them)


async def insert_credit_note(conn: asyncpg.Connection, *, credit_note_id: uuid.UUID, customer_id: uuid.UUID,
                             amount: Decimal, reason: str, ticket_id: uuid.UUID | None, issued_at: datetime,
                             issued_by: str) -> bool:
    """False when the ticket already has its credit note (nothing written)."""
    return await conn.fetchval(Q["insert_credit_note"], credit_note_id, customer_id, amount, reason, ticket_id,
                               issued_at, issued_by) is not None


async def insert_ledger(conn: asyncpg.Connection, *, line_id: uuid.UUID, customer_id: uuid.UUID, kind: str,
                        order_id: uuid.UUID | None, ref: str, amount: Decimal, occurred_at: datetime) -> None:
    await conn.execute(Q["insert_ledger"], line_id, customer_id, kind, order_id, ref, amount, occurred_at)


async def ledger_before(conn: asyncpg.Connection, customer_id: uuid.UUID, moment: datetime) -> Decimal:
    return Decimal(await conn.fetchval(Q["ledger_before"], customer_id, moment))


async def ledger_between(conn: asyncpg.Connection, customer_id: uuid.UUID, start: datetime, end: datetime,
                         limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["ledger_between"], customer_id, start, end, limit))
