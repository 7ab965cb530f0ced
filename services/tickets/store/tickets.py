"""All SQL of tickets (queries in ``sql/tickets.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from services.tickets.domain.tickets import Ticket
from shared.merges import MergeRekeying
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "tickets.sql")
# Merged customers: their tickets move to the survivor, and back on undo (shared/merges.py).
MERGES = MergeRekeying(load_queries(Path(__file__).parent.parent / "sql" / "merges.sql"))


async def insert_ticket(conn: asyncpg.Connection, t: Ticket) -> None:
    await conn.execute(
        Q["insert_ticket"], t.id, t.customer_id, t.kind, t.channel, t.subject, t.description, t.severity,
        t.satisfaction, t.status, t.occurred_at, t.recorded_at, t.due_at,
    )


async def ticket_by_id(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> Ticket | None:
    row = await conn.fetchrow(Q["ticket_by_id"], ticket_id)
    return Ticket(**dict(row)) if row else None


async def list_tickets(
    conn: asyncpg.Connection, *, after: uuid.UUID | None, customer_id: uuid.UUID | None,
    kind: str | None, status: str | None, limit: int, newest_first: bool = False, owner_filter: str | None = None,
) -> list[Ticket]:
    """``owner_filter`` (``Scope.owner_filter``): only tickets of this owner's customers and the pool's."""
    if newest_first:
        rows = await conn.fetch(Q["list_tickets_newest"], after, customer_id, kind, status, limit, owner_filter)
    else:
        rows = await conn.fetch(Q["list_tickets"], after, customer_id, kind, status, limit, owner_filter)
    return [Ticket(**dict(r)) for r in rows]
