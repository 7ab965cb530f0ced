"""Blocking keys of the duplicate scan, kept up to date.

At start (like ``backfill.py``) the keys of customers registered before migration 0009, or by
paths that do not compute them (batches, imports, edits), are computed a batch per transaction;
a scan refreshes what became stale since, so it never misses a customer (``refresh_all``).
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI

from services.contacts.store import duplicates as store
from shared.backoff import Backoff
from shared.db import database_unavailable, describe

log = logging.getLogger(__name__)


async def refresh_all(pool: asyncpg.Pool) -> None:
    """Recompute every stale key, one batch per transaction (short locks on the rows)."""
    after = None
    while True:
        async with pool.acquire() as conn, conn.transaction():
            after = await store.refresh_keys(conn, after=after)
        if after is None:
            return


async def backfill_keys(app: FastAPI) -> None:
    backoff = Backoff(first=0.5, cap=30.0)
    while True:
        try:
            await refresh_all(app.state.runtime.pool)
        except Exception as exc:
            if not database_unavailable(exc):  # a bug: say so; a scan refreshes the keys itself
                log.exception("contacts: duplicate keys backfill stopped")
                return
            log.warning("contacts: duplicate keys backfill waits, database unavailable (%s)", describe(exc))
            await backoff.wait()
            continue
        return
