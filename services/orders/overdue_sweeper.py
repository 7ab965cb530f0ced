"""The overdue sweeper: PaymentOverdue once per instalment whose due date passed unpaid (§14.2).

``sweep_once`` is one pass at an ``as_of`` (``POST /admin/receivables/sweep`` and the loop share
it); an instalment is marked (``overdue_raised_at``) as its event goes to the outbox, so a second
pass raises nothing again. ``sweep_forever`` runs it every ``KEHU_OVERDUE_SWEEP_S``.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import FastAPI

from services.orders.store import ageing as store
from shared.events import PaymentOverdue
from shared.outbox import append
from shared.sweeps import sweep_every

CHUNK = 5_000  # instalments per statement, well inside KEHU_DB_COMMAND_TIMEOUT_S


async def sweep_once(conn: asyncpg.Connection, as_of: datetime) -> list[PaymentOverdue]:
    raised: list[PaymentOverdue] = []
    while True:
        rows = await store.raise_overdue(conn, as_of, CHUNK)
        events = [PaymentOverdue(customer_id=r["customer_id"], occurred_at=r["due_at"], order_id=r["order_id"],
                                 instalment_no=r["no"], due_at=r["due_at"], amount_due=r["amount_due"], as_of=as_of)
                  for r in rows]
        if events:
            await append(conn, *events)
        raised += events
        if len(rows) < CHUNK:
            return raised


async def sweep_forever(app: FastAPI) -> None:
    await sweep_every(app, app.state.runtime.settings.overdue_sweep_s, sweep_once, what="orders: overdue sweep",
                      found="orders: %d instalments overdue")
