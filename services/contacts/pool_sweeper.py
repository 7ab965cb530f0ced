"""The pool sweeper: customers whose category's rule has run out go back to the pool.

``sweep_once`` is one pass at an ``as_of`` (``POST /pool/sweep`` and the loop share it): per
category with a rule, one query narrows the candidates, ``domain.pool.due_for_pool`` decides, one
statement returns them with their history rows, and their events go to the outbox in one insert.
``sweep_forever`` runs it every ``KEHU_POOL_SWEEP_S`` on the wall clock.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import FastAPI

from services.contacts.domain import pool as domain
from services.contacts.store import pool as store
from shared.outbox import append
from shared.sweeps import sweep_every

SWEEPER = "pool sweeper"
# Returns written per statement: the first sweep after a rule is set may return tens of thousands,
# and one statement must stay well inside KEHU_DB_COMMAND_TIMEOUT_S (50,000 in one UPDATE took 11 s
# on a loaded 2-core machine).
CHUNK = 5_000


async def sweep_once(conn: asyncpg.Connection, as_of: datetime, by: str) -> list[domain.PoolReturn]:
    """Return every customer due at ``as_of``; who was returned. A second pass at the same
    ``as_of`` finds them in the pool and returns nobody."""
    returned: list[domain.PoolReturn] = []
    for rule in await store.pool_rules(conn):
        if rule.no_follow_up_days is None and rule.no_order_days is None:
            continue
        due = domain.due_for_pool(await store.pool_candidates(conn, rule, as_of), {rule.category: rule}, as_of)
        for start in range(0, len(due), CHUNK):
            chunk = due[start:start + CHUNK]
            done = await store.return_to_pool(conn, chunk, as_of=as_of, by=by)
            kept = [r for r in chunk if r.customer_id in done]  # a claim or handover in between wins
            if kept:
                await append(conn, *(domain.returned_event(r, as_of=as_of, returned_by=by) for r in kept))
            returned += kept
    return returned


async def sweep_forever(app: FastAPI) -> None:
    async def by_the_sweeper(conn: asyncpg.Connection, as_of: datetime) -> list[domain.PoolReturn]:
        return await sweep_once(conn, as_of, SWEEPER)

    await sweep_every(app, app.state.runtime.settings.pool_sweep_s, by_the_sweeper, what="contacts: pool sweep",
                      found="contacts: %d customers returned to the pool")
