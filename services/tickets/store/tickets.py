"""SQL of tickets themselves (queries in ``sql/tickets.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared.merges import MergeRekeying
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "tickets.sql")
# Merged customers: their tickets move to the survivor, and back on undo (shared/merges.py).
MERGES = MergeRekeying(load_queries(Path(__file__).parent.parent / "sql" / "merges.sql"))

INSERTED = ("id", "customer_id", "kind", "channel", "subject", "description", "severity", "priority", "category",
            "service_type", "order_id", "satisfaction", "status", "occurred_at", "recorded_at", "due_at", "assignee",
            "queue", "first_response_due_at", "resolution_due_at", "resolved_at")


async def insert_ticket(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    """The row as stored (its defaults filled in)."""
    stored: asyncpg.Record = await conn.fetchrow(Q["insert_ticket"], *(row[name] for name in INSERTED))
    return stored


async def add_activity(conn: asyncpg.Connection, ticket_id: uuid.UUID, *, at: datetime, by: str, action: str,
                       detail: dict[str, Any] | None = None, event_id: uuid.UUID | None = None) -> None:
    """One line of the ticket's history (the detail page); every write adds one."""
    await conn.execute(Q["insert_activity"], ticket_id, at, by, action, detail or {}, event_id)


async def ticket_row(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(Q["ticket_by_id"], ticket_id)


async def customer_owner(conn: asyncpg.Connection, customer_id: uuid.UUID) -> str | None:
    owner: str | None = await conn.fetchval(Q["customer_owner"], customer_id)
    return owner


async def list_ticket_rows(
    conn: asyncpg.Connection, *, after: uuid.UUID | None, customer_id: uuid.UUID | None,
    kind: str | None, status: str | Sequence[str] | None, limit: int, newest_first: bool = False,
    owner_filter: str | None = None, assignee: str | None = None, queue: str | None = None,
    category: str | None = None, due_by: datetime | None = None, not_breached_at: datetime | None = None,
    by_due: bool = False, after_due: datetime | None = None, me: str | None = None,
) -> list[asyncpg.Record]:
    """``owner_filter`` (``Scope.owner_filter``): only tickets of this owner's customers and the pool's.
    ``status``: one or several; ``assignee`` and ``me`` (mine=true) both hold when both given. ``due_by``: a running clock due at or before it; ``not_breached_at``:
    no running clock run out then. ``by_due``: the soonest due first, those without a clock last, the
    cursor being the last (``after_due``, ``after``) seen."""
    statuses = [status] if isinstance(status, str) else (list(status) if status is not None else None)
    name = "list_tickets_due" if by_due else "list_tickets_newest" if newest_first else "list_tickets"
    args: list[object] = [after, customer_id, kind, statuses, limit, owner_filter, assignee, queue, category, due_by,
                          not_breached_at, me]
    if by_due:
        args.append(after_due)
    return await conn.fetch(Q[name], *args)
