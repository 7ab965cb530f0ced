"""The scaffolding of write routes: one idempotent transaction, events in the outbox, batch answers.

A route states what it writes (a ``write(conn) -> Reply``); this runs it the same way in every
service: under the request's ``Idempotency-Key``, in one transaction, waking the outbox relay
after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

import asyncpg
from fastapi import Request
from fastapi.responses import Response

from shared.auth import Principal
from shared.batches import batch_items
from shared.events import Event
from shared.http import Reply, idempotent
from shared.outbox import append


class Keyed(Protocol):
    """A record a batch writes: its id and the caller's own reference."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def external_ref(self) -> str | None: ...


K = TypeVar("K", bound=Keyed)


async def write_once(
    request: Request, principal: Principal, key: str | None, write: Callable[[asyncpg.Connection], Awaitable[Reply]]
) -> Response:
    """Run ``write`` in one transaction under ``key`` (``shared.http.idempotent``), then wake the relay."""
    runtime = request.app.state.runtime
    return await idempotent(runtime.pool, request, principal, key, write, runtime.outbox_written)


async def insert_batch(
    conn: asyncpg.Connection,
    taken: Sequence[tuple[K, Event]],
    *,
    insert: Callable[[asyncpg.Connection, Sequence[K]], Awaitable[set[uuid.UUID]]],
    holders: Callable[[asyncpg.Connection, Sequence[str]], Awaitable[Mapping[str, uuid.UUID]]],
) -> Reply:
    """Insert a batch's records and the events of those new, and answer item by item.

    ``insert`` skips a record whose external_ref is taken and returns the ids it inserted;
    ``holders`` says who has the refs of the skipped ones: a retried batch writes nothing again.
    """
    records = [record for record, _ in taken]
    inserted = await insert(conn, records)
    held = await holders(conn, [r.external_ref for r in records if r.id not in inserted and r.external_ref])
    events = [event for record, event in taken if record.id in inserted]
    if events:
        await append(conn, *events)
    return Reply(200, {"items": batch_items([(r.id, r.external_ref) for r in records], inserted, held)})
