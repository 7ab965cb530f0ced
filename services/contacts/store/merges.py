"""SQL of merges (``sql/merges.sql``). Never commits: the route owns the one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from services.contacts.domain.merges import Change, MergeState, Row
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "merges.sql")


async def lock_records(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
    return {r["id"]: r["record"] for r in await conn.fetch(Q["lock_records"], list(ids))}


async def write_record(conn: asyncpg.Connection, record: Row) -> None:
    await conn.execute(Q["write_record"], uuid.UUID(str(record["id"])), record)


async def _rows(conn: asyncpg.Connection, query: str, *args: Any) -> list[Row]:
    return [r["row"] for r in await conn.fetch(Q[query], *args)]


async def move_everything(conn: asyncpg.Connection, merged_id: uuid.UUID, survivor_id: uuid.UUID,
                          state: MergeState) -> None:
    """Move what belongs to the merged customer to the survivor, noting every row in ``state``."""
    state.identities = await _rows(conn, "identities_of", merged_id)
    await conn.execute(Q["move_identities"], merged_id, survivor_id)
    state.contact_persons = await _rows(conn, "contact_persons_of", merged_id)
    state.contact_persons_added = await _rows(conn, "rebase_contact_persons", merged_id, survivor_id)
    await conn.execute(Q["delete_contact_persons_of"], merged_id)
    state.follow_ups = [r["id"] for r in await conn.fetch(Q["move_follow_ups"], merged_id, survivor_id)]
    state.referrals = [r["id"] for r in await conn.fetch(Q["move_referrals"], merged_id, survivor_id)]
    state.competitors = await _rows(conn, "competitors_of", merged_id)
    state.competitors_added = await _rows(conn, "rebase_competitors", merged_id, survivor_id)
    await conn.execute(Q["delete_competitors_of"], merged_id)


async def move_everything_back(conn: asyncpg.Connection, merged_id: uuid.UUID, survivor_id: uuid.UUID,
                               state: MergeState) -> None:
    """The reverse of ``move_everything``: exactly the rows it moved go back."""
    await conn.execute(Q["move_identities_back"], merged_id, [i["kind"] for i in state.identities],
                       [i["value"] for i in state.identities], survivor_id)
    await conn.execute(Q["delete_contact_person_rows"], state.contact_persons_added)
    await conn.execute(Q["insert_contact_person_rows"], state.contact_persons)
    await conn.execute(Q["move_follow_ups_back"], merged_id, state.follow_ups, survivor_id)
    await conn.execute(Q["move_referrals_back"], merged_id, state.referrals, survivor_id)
    await conn.execute(Q["delete_competitor_rows"], state.competitors_added)
    await conn.execute(Q["insert_competitor_rows"], state.competitors)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def insert_changes(conn: asyncpg.Connection, customer_id: uuid.UUID, revision: int, changes: Sequence[Change],
                         *, by: str, at: datetime) -> None:
    if changes:
        await conn.execute(Q["insert_changes"], customer_id, revision, by, at, [c.field for c in changes],
                           [_json(c.old) for c in changes], [_json(c.new) for c in changes])


async def delete_changes(conn: asyncpg.Connection, customer_id: uuid.UUID, revision: int) -> None:
    await conn.execute(Q["delete_changes"], customer_id, revision)


async def insert_merge(conn: asyncpg.Connection, merge_id: uuid.UUID, survivor_id: uuid.UUID, merged_id: uuid.UUID,
                       *, at: datetime, by: str, state: MergeState) -> None:
    await conn.execute(Q["insert_merge"], merge_id, survivor_id, merged_id, at, by, state.model_dump(mode="json"))


async def merge_for_update(conn: asyncpg.Connection, merge_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q["merge_for_update"], merge_id)
    return dict(row) if row else None


async def mark_undone(conn: asyncpg.Connection, merge_id: uuid.UUID, *, at: datetime, by: str) -> None:
    await conn.execute(Q["mark_undone"], merge_id, at, by)


async def revisions(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[str, int]:
    return {str(r["id"]): r["revision"] for r in await conn.fetch(Q["revisions"], list(ids))}


async def identity_holders(conn: asyncpg.Connection, identities: Sequence[Row]) -> dict[tuple[str, str], str | None]:
    rows = await conn.fetch(Q["identity_holders"], [i["kind"] for i in identities], [i["value"] for i in identities])
    return {(r["kind"], r["value"]): (str(r["customer_id"]) if r["customer_id"] else None) for r in rows}


async def list_merges(conn: asyncpg.Connection, *, customer_id: uuid.UUID | None, before: datetime | None,
                      limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["list_merges"], customer_id, before, limit)]
