"""At start: fill ``customers.search`` for customers registered before the column existed.

Pinyin cannot be computed in SQL (PostgreSQL has no pinyin table), so migration 0004 adds the
column empty and this fills it, a batch per transaction, then ends. Until then a search still finds
those customers by their name (``list_customers`` matches a NULL ``search`` on the name).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.contacts.store import customers as store
from shared.backoff import Backoff
from shared.db import database_unavailable, describe

log = logging.getLogger(__name__)
BATCH = 500


async def backfill_search(app: FastAPI) -> None:
    runtime = app.state.runtime
    backoff = Backoff(first=0.5, cap=30.0)
    filled = 0
    while True:
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                done = await store.backfill_search(conn, BATCH)
        except Exception as exc:
            if not database_unavailable(exc):  # a bug: say so; searches still match names
                log.exception("contacts: search backfill stopped")
                return
            log.warning("contacts: search backfill waits, database unavailable (%s)", describe(exc))
            await backoff.wait()
            continue
        backoff.reset()
        filled += done
        if done < BATCH:
            break
    if filled:
        log.info("contacts: searchable text computed for %d customers registered before it existed", filled)
