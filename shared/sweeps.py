"""Time-driven passes that run in a service's background: one loop, whatever the pass.

Contacts returns customers to the pool, orders raises overdue payments, tickets raises SLA
breaches: each pass is ``sweep(conn, as_of)`` in one transaction, run every ``every`` seconds at
the wall clock's time. A database that is down is waited for (a warning, the next tick tries
again); any other failure is logged with its stack and the loop goes on. What a pass wrote to the
outbox is relayed at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sized
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI

from shared.db import database_unavailable, describe

log = logging.getLogger(__name__)

Sweep = Callable[[asyncpg.Connection, datetime], Awaitable[Sized]]


async def sweep_every(app: FastAPI, every: float, sweep: Sweep, *, what: str, found: str) -> None:
    """Run ``sweep`` every ``every`` seconds for ever. ``what`` names the pass in the log
    ("tickets: SLA sweep"); ``found`` says what a pass that found something did, with one ``%d``."""
    runtime = app.state.runtime
    while True:
        await asyncio.sleep(every)
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                done = await sweep(conn, datetime.now(UTC))
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("%s waits, database unavailable (%s)", what, describe(exc))
            else:
                log.exception("%s failed; next try in %.0fs", what, every)
            continue
        if done:
            log.info(found, len(done))
            await runtime.outbox_written()
