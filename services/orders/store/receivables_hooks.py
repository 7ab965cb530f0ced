"""What placing, cancelling and returning an order change in what it owes (§14.2).

Called inside the write's transaction of those routes; each returns the events to publish with
it (ReceivableScheduled, full state and revision + 1, for every order whose instalments changed).
``order`` is the order's row or model: anything with ``id`` and ``customer_id`` (as attributes or
keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.orders import accounts
from services.orders.domain import allocation
from services.orders.domain.receivables import first_schedule, scheduled
from services.orders.store import payments as store
from services.orders.store.receivables import terms_of
from shared.events import Event, Instalment, new_id
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "payments.sql")


def _get(order: Any, name: str) -> Any:
    return order[name] if isinstance(order, Mapping | asyncpg.Record) else getattr(order, name)


async def _locked_instalments(conn: asyncpg.Connection, customer_id: uuid.UUID,
                              order_id: uuid.UUID) -> list[Instalment]:
    """The order's instalments, read under the customer's lock (``payments.lock_customer``)."""
    await conn.execute(Q["lock_customer"], customer_id)
    return [Instalment(**dict(r)) for r in await conn.fetch(Q["instalments_of_order"], order_id)]


async def order_placed(conn: asyncpg.Connection, order: Any, *, paid_with: str | None, status: str,
                       now: datetime) -> list[Event]:
    """An order placed (not paid at once, not waiting for approval) by a customer with terms owes its
    total: the first schedule. A customer without terms pays at once: nothing is owed."""
    customer_id: uuid.UUID = _get(order, "customer_id")
    total: Decimal = _get(order, "total")
    if paid_with is not None or status != "placed" or total <= 0:
        return []
    terms = await terms_of(conn, customer_id)
    if terms is None:
        return []
    await store.lock_customer(conn, customer_id)
    order_id: uuid.UUID = _get(order, "id")
    occurred_at: datetime = _get(order, "occurred_at")
    instalments = first_schedule(total, occurred_at, terms)
    revision = await store.write_schedule(conn, order_id, instalments)
    await store.insert_ledger(conn, line_id=new_id(), customer_id=customer_id, kind="order", order_id=order_id,
                              ref=_get(order, "external_ref") or "", amount=total, occurred_at=occurred_at)
    return [scheduled(customer_id, order_id, revision, instalments, now),
            *await accounts.settle_credit(conn, customer_id, now)]


async def order_approved(conn: asyncpg.Connection, order: Any, now: datetime) -> list[Event]:
    """An order that waited for approval (``pending_approval``, owing nothing) approved by a
    manager: it now owes as if placed on account (due ``payment_days`` after it was placed). ``order``
    also needs ``total``, ``occurred_at`` and ``external_ref``; a paid-at-once order never waits."""
    return await order_placed(conn, order, paid_with=None, status="placed", now=now)


async def order_cancelled(conn: asyncpg.Connection, order: Any, now: datetime) -> list[Event]:
    """A cancelled order owes nothing; what was paid on it becomes credit on the account."""
    customer_id: uuid.UUID = _get(order, "customer_id")
    order_id: uuid.UUID = _get(order, "id")
    instalments = await _locked_instalments(conn, customer_id, order_id)
    if not instalments:
        return []
    await store.add_credit(conn, customer_id, allocation.paid(instalments))
    revision = await store.write_schedule(conn, order_id, [])
    await store.insert_ledger(conn, line_id=new_id(), customer_id=customer_id, kind="cancellation",
                              order_id=order_id, ref="", amount=-allocation.owed(instalments), occurred_at=now)
    return [scheduled(customer_id, order_id, revision, [], now), *await accounts.settle_credit(conn, customer_id, now)]


async def order_returned(conn: asyncpg.Connection, order: Any, amount: Decimal, now: datetime) -> list[Event]:
    """A return of ``amount``: what the order owes falls by it, latest instalments first; money paid
    beyond the new amounts becomes credit on the account."""
    customer_id: uuid.UUID = _get(order, "customer_id")
    order_id: uuid.UUID = _get(order, "id")
    instalments = await _locked_instalments(conn, customer_id, order_id)
    if not instalments or amount <= 0:
        return []
    kept, credit = allocation.reduced(instalments, amount)
    await store.add_credit(conn, customer_id, credit)
    revision = await store.write_schedule(conn, order_id, kept)
    await store.insert_ledger(conn, line_id=new_id(), customer_id=customer_id, kind="return", order_id=order_id,
                              ref="", amount=allocation.owed(kept) - allocation.owed(instalments), occurred_at=now)
    return [scheduled(customer_id, order_id, revision, kept, now), *await accounts.settle_credit(conn, customer_id, now)]
