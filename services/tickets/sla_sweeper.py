"""The SLA sweeper: TicketSlaBreached once per clock run whose promised time ran out (docs/tickets.md).

``sweep_once`` is one pass at an ``as_of`` (``POST /admin/tickets/sla-sweep`` and the loop share
it). A first-response clock breaches when nobody answered the ticket (open or waiting on the
customer) by its due time; a resolution clock when the ticket is still open (not paused) at its
due time. Each breach is marked on the ticket (``*_breached_at``) as its event goes to the outbox,
with a line in the ticket's history, so a second pass raises nothing again; a reopen clears the
resolution mark, so the new clock may breach in its turn. The tickets' ``due_at`` is left as it is:
still the running clock's due time. ``sweep_forever`` runs a pass every ``KEHU_SLA_SWEEP_S``.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import FastAPI

from services.tickets.store import sla as store
from shared.events import SlaClock, TicketSlaBreached
from shared.outbox import append
from shared.sweeps import sweep_every

CHUNK = 5_000  # clocks per statement, well inside KEHU_DB_COMMAND_TIMEOUT_S
CLOCKS: tuple[SlaClock, ...] = ("first_response", "resolution")


async def sweep_once(conn: asyncpg.Connection, as_of: datetime, *, chunk: int = CHUNK) -> list[TicketSlaBreached]:
    """Raise and mark every clock due at or before ``as_of`` not raised yet; in the caller's transaction."""
    raised: list[TicketSlaBreached] = []
    for clock in CLOCKS:
        since = None  # the due time the previous chunk got to: a chunk never rescans what it marked
        while True:
            rows = await store.breach(conn, clock, as_of, chunk, since)
            events = [TicketSlaBreached(customer_id=r["customer_id"], occurred_at=r["due_at"], ticket_id=r["id"],
                                        clock=clock, kind=r["kind"], priority=r["priority"], due_at=r["due_at"],
                                        assignee=r["assignee"], as_of=as_of) for r in rows]
            if events:
                event_ids = await append(conn, *events)
                await store.breach_activity(conn, [(e.ticket_id, e.due_at, clock, event_id)
                                                   for e, event_id in zip(events, event_ids, strict=True)], as_of)
            raised += events
            if len(rows) < chunk:
                break
            since = max(r["due_at"] for r in rows)
    return raised


async def sweep_forever(app: FastAPI) -> None:
    await sweep_every(app, app.state.runtime.settings.sla_sweep_s, sweep_once, what="tickets: SLA sweep",
                      found="tickets: %d promised times ran out")
