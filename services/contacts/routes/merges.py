"""Merging duplicates: POST /customers/{a}/merge-into/{b}, undo within 30 days, the list of merges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.contacts.domain import merges as domain
from services.contacts.search import search_text
from services.contacts.store import duplicates as dup_store
from services.contacts.store import merges as store
from shared.auth import Principal
from shared.errors import NotFound
from shared.events import BusinessTime, CustomerMergeUndone, CustomersMerged, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["merges"])


class Moved(BaseModel):
    identities: int
    contact_persons: int
    follow_ups: int
    referrals: int
    competitors: int


class MergeResult(BaseModel):
    merge_id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    merged_at: datetime
    undo_until: datetime = Field(description="The merge can be undone until then (30 days).")
    filled: list[str] = Field(description="Fields of the survivor filled from the merged record.")
    moved: Moved


class MergeSummary(BaseModel):
    id: uuid.UUID
    survivor_id: uuid.UUID
    survivor_name: str
    merged_id: uuid.UUID
    merged_name: str
    merged_at: datetime
    merged_by: str
    undo_until: datetime
    undone_at: datetime | None
    undone_by: str | None


class MergePage(BaseModel):
    items: list[MergeSummary]
    next_cursor: datetime | None


MERGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such customer"},
    409: {"model": Problem, "description": "the same customer twice, or one already merged (`code` says which)"},
}


@router.post(
    "/customers/{merged_id:uuid}/merge-into/{survivor_id:uuid}",
    response_model=MergeResult,
    status_code=201,
    summary="Merge a duplicate customer into the one that stays",
    description="In one transaction: the merged customer's identities, contact persons (as company and as "
    "person), follow-ups, referrals (customers it referred) and competitors move to the survivor; the "
    "survivor's empty fields are filled from the merged record (its field history says so); the merged record "
    "stays, with `merged_into` set (GET answers it, lists and searches leave it out). Publishes "
    "`CustomersMerged`, on which orders, tickets and insights re-key to the survivor. Undo within 30 days: "
    "POST /merges/{merge_id}/undo.",
    responses=MERGE_ANSWERS,
)
async def merge_into(
    merged_id: uuid.UUID,
    survivor_id: uuid.UUID,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:merge"),
) -> Response:
    scope = scope_of(principal)

    async def write(conn: asyncpg.Connection) -> Reply:
        now = datetime.now(UTC)
        records = await store.lock_records(conn, [merged_id, survivor_id])
        merged, survivor = records.get(merged_id), records.get(survivor_id)
        domain.ensure_mergeable(merged, survivor, merged_id, survivor_id)
        assert merged is not None and survivor is not None  # ensure_mergeable raised otherwise
        ensure_covers(scope, merged_id, merged.get("owner"))
        ensure_covers(scope, survivor_id, survivor.get("owner"))
        changes = domain.filled(survivor, merged)
        new_survivor, new_merged = domain.merged_records(survivor, merged, changes)
        new_survivor["search"] = search_text(new_survivor["name"], new_survivor["phone"], new_survivor["external_ref"])
        state = domain.MergeState(survivor=survivor, merged=merged, revisions_after={
            str(survivor_id): new_survivor["revision"], str(merged_id): new_merged["revision"]})
        await store.write_record(conn, new_merged)  # first: it may give up the external_ref the survivor takes
        await store.write_record(conn, new_survivor)
        await dup_store.set_keys(conn, [(survivor_id, new_survivor["name"], new_survivor["phone"])])
        await store.move_everything(conn, merged_id, survivor_id, state)
        by = principal.name
        await store.insert_changes(conn, survivor_id, new_survivor["revision"], changes, by=by, at=now)
        await store.insert_changes(conn, merged_id, new_merged["revision"], domain.merged_changes(merged, new_merged),
                                   by=by, at=now)
        merge_id = new_id()
        await store.insert_merge(conn, merge_id, survivor_id, merged_id, at=now, by=by, state=state)
        await append(conn, CustomersMerged(customer_id=survivor_id, occurred_at=now, merged_id=merged_id,
                                           merge_id=merge_id, merged_by=by))
        result = MergeResult(
            merge_id=merge_id, survivor_id=survivor_id, merged_id=merged_id, merged_at=now,
            undo_until=domain.undo_until(now), filled=[c.field for c in changes],
            moved=Moved(identities=len(state.identities), contact_persons=len(state.contact_persons),
                        follow_ups=len(state.follow_ups), referrals=len(state.referrals),
                        competitors=len(state.competitors)))
        return Reply(201, result.model_dump(mode="json"), {"Location": f"/merges/{merge_id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.post(
    "/merges/{merge_id:uuid}/undo",
    response_model=MergeResult,
    summary="Undo a merge within 30 days, restoring both records exactly",
    description="Both records are written back as they were before the merge, column for column, and exactly "
    "the rows the merge moved go back (what was added to the survivor since stays). Publishes "
    "`CustomerMergeUndone`: orders, tickets and insights give the merged customer back what was theirs. "
    "409 when undone already, after 30 days (saying when that ended), or when a later change makes an exact "
    "restore impossible (either record changed since, an identity moved since: the answer names them). "
    "`as_of` (for tests and what-ifs) can only move the clock forward: an expired merge stays expired.",
    responses={404: {"model": Problem}, 409: {"model": Problem, "description": "cannot be undone (`code` says why)"}},
)
async def undo_merge(
    merge_id: uuid.UUID,
    request: Request,
    as_of: Annotated[BusinessTime | None, Query(description="Evaluate the 30 days at this time (not before now).")] = None,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:merge"),
) -> Response:
    scope = scope_of(principal)

    async def write(conn: asyncpg.Connection) -> Reply:
        now = datetime.now(UTC)
        merge = await store.merge_for_update(conn, merge_id)
        if merge is None:
            raise NotFound(f"no merge {merge_id}")
        survivor_id, merged_id = merge["survivor_id"], merge["merged_id"]
        records = await store.lock_records(conn, [merged_id, survivor_id])
        for cid in (merged_id, survivor_id):
            ensure_covers(scope, cid, records[cid].get("owner"))
        state = domain.MergeState.model_validate(merge["before"])
        domain.ensure_undoable(
            merge_id=merge_id, merged_at=merge["merged_at"], undone_at=merge["undone_at"],
            as_of=max(as_of or now, now), state=state,
            revisions_now=await store.revisions(conn, [merged_id, survivor_id]),
            identity_holders=await store.identity_holders(conn, state.identities))
        await store.move_everything_back(conn, merged_id, survivor_id, state)
        await store.write_record(conn, state.survivor)  # first: it gives back the external_ref it took
        await store.write_record(conn, state.merged)
        for cid in (survivor_id, merged_id):
            await store.delete_changes(conn, cid, state.revisions_after[str(cid)])
        await store.mark_undone(conn, merge_id, at=now, by=principal.name)
        await append(conn, CustomerMergeUndone(customer_id=survivor_id, occurred_at=now, merged_id=merged_id,
                                               merge_id=merge_id, undone_by=principal.name))
        result = MergeResult(
            merge_id=merge_id, survivor_id=survivor_id, merged_id=merged_id, merged_at=merge["merged_at"],
            undo_until=domain.undo_until(merge["merged_at"]), filled=[],
            moved=Moved(identities=len(state.identities), contact_persons=len(state.contact_persons),
                        follow_ups=len(state.follow_ups), referrals=len(state.referrals),
                        competitors=len(state.competitors)))
        return Reply(200, result.model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/merges",
    response_model=MergePage,
    summary="Merges, newest first (of one customer, survivor or merged, with customer_id)",
)
async def list_merges(
    request: Request,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[BusinessTime | None, Query(description="next_cursor of the previous page.")] = None,
    _: Principal = require("customers:merge"),
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.list_merges(conn, customer_id=customer_id, before=cursor, limit=limit)
    items = [MergeSummary(**r, undo_until=domain.undo_until(r["merged_at"])) for r in rows]
    page = MergePage(items=items, next_cursor=items[-1].merged_at if len(items) == limit else None)
    return json_response(200, page.model_dump(mode="json"))
