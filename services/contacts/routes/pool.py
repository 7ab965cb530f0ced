"""HTTP routes of owners and the public pool (公海): claim, release, assign, handover, rules, sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.contacts import search
from services.contacts.domain import pool as domain
from services.contacts.domain.customers import MAX_CLOCK_SKEW, Category
from services.contacts.pool_sweeper import sweep_once
from services.contacts.store import pool as store
from shared.auth import Principal
from shared.errors import FieldProblem, Invalid, NotFound
from shared.events import BusinessTime, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["pool"])
HISTORY_LIMIT = 200
APPEND_CHUNK = 5_000  # outbox rows per insert: each statement well inside KEHU_DB_COMMAND_TIMEOUT_S


class Ownership(BaseModel):
    customer_id: uuid.UUID
    owner: str | None = Field(description="Who looks after the customer now; null: in the pool.")
    previous_owner: str | None
    owner_since: datetime = Field(description="Since when the owner (or the pool) holds the customer.")
    reclaim_after: datetime | None = Field(None, description="Before this the previous owner cannot claim back.")


class HandoverResult(BaseModel):
    handover_id: uuid.UUID
    from_owner: str
    to_owner: str
    moved: int = Field(description="How many customers moved.")


class OwnerCount(BaseModel):
    owner: str
    customers: int


class OwnerChangeRow(BaseModel):
    changed_at: datetime
    previous_owner: str | None
    owner: str | None
    how: str = Field(description="assigned, claimed, handover, or returned (to the pool: see `rule`).")
    changed_by: str
    handover_id: uuid.UUID | None
    reason: str | None
    rule: str | None = Field(description="For a return to the pool: no_follow_up, no_order, released.")


class PoolEntry(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    phone: str | None
    category: Category
    previous_owner: str | None
    in_pool_since: datetime
    days_in_pool: int
    reclaim_after: datetime | None
    last_order_at: datetime | None
    last_follow_up_at: datetime | None


class PoolPage(BaseModel):
    items: list[PoolEntry]
    next_cursor: str | None


class RulesAnswer(BaseModel):
    items: list[domain.PoolRules] = Field(description="The rules in force; a category without one has no rule.")
    suggested: dict[str, domain.RuleLimits] = Field(description="What the console proposes for a category: "
                                                    "not in force until saved.")


class Returned(BaseModel):
    customer_id: uuid.UUID
    previous_owner: str
    rule: str
    days_without: int
    limit_days: int
    reclaim_after: datetime | None


class SweepResult(BaseModel):
    as_of: datetime
    returned: list[Returned]


def _now() -> datetime:
    return datetime.now(UTC)


async def _holding(conn: asyncpg.Connection, customer_id: uuid.UUID) -> domain.Holding:
    holding = await store.holding_for_update(conn, customer_id)
    if holding is None:
        raise NotFound(f"no customer {customer_id}")
    return holding


def _ownership(customer_id: uuid.UUID, owner: str | None, previous: str | None, since: datetime,
               reclaim_after: datetime | None = None) -> Reply:
    return Reply(200, Ownership(customer_id=customer_id, owner=owner, previous_owner=previous, owner_since=since,
                                reclaim_after=reclaim_after).model_dump(mode="json"))


_ONE: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem}, 403: {"model": Problem, "description": "another owner's customer"},
    409: {"model": Problem, "description": "refused: the rule or the holder is named"}}


def _past(as_of: datetime | None, what: str) -> datetime:
    """``as_of`` (default now), refused when in the future: a time rule applies to time that has passed."""
    now = _now()
    moment = as_of or now
    if moment > now + MAX_CLOCK_SKEW:
        raise Invalid(f"as_of is in the future: {what}", errors=[FieldProblem("query.as_of", "in the future", "in_future")])
    return moment


@router.post("/customers/{customer_id:uuid}/claim", response_model=Ownership,
             responses={**_ONE, 422: {"model": Problem, "description": "`as_of` in the future"}},
             summary="Take a customer from the pool",
             description="The customer gets the caller's owner id. Refused (409, `code` names the rule) when the "
             "customer is not in the pool (the owner is named), the caller already holds the category's "
             "`max_per_owner`, or the caller is the previous owner within `reclaim_days` (until when is said). "
             "The claim is made as of `as_of` (now by default, not in the future): the reclaim period is judged "
             "then, and the owner is the caller's since then.")
async def claim(customer_id: uuid.UUID, request: Request,
                as_of: Annotated[BusinessTime | None, Query(description="RFC 3339; default now.")] = None,
                idempotency_key: IdempotencyKeyHeader = None,
                principal: Principal = require("customers:claim")) -> Response:
    claimer = domain.claimer_of(principal.owner)
    now = _past(as_of, "a claim is judged by the rules at a time that has passed")

    async def write(conn: asyncpg.Connection) -> Reply:
        await store.lock_owner(conn, claimer)  # two claims of one person count their holdings in turn
        holding = await _holding(conn, customer_id)
        rule = await store.pool_rule(conn, holding.category)
        held = await store.held_in_category(conn, claimer, holding.category) if rule and rule.max_per_owner else 0
        domain.check_claim(holding, claimer, held=held, rule=rule, as_of=now)
        ensure_covers(scope_of(principal), customer_id, holding.owner)
        await store.set_owner(conn, customer_id, claimer, now)
        await store.record_owner_change(conn, customer_id, at=now, previous_owner=None, owner=claimer,
                                        how="claimed", by=principal.name)
        await append(conn, domain.assigned_event(customer_id, owner=claimer, previous_owner=None, how="claimed",
                                                 by=principal.name, at=now))
        return _ownership(customer_id, claimer, None, now)

    return await write_once(request, principal, idempotency_key, write)


@router.post("/customers/{customer_id:uuid}/release", response_model=Ownership, responses=_ONE,
             summary="Put a customer back in the pool",
             description="By the owner or a manager; the previous owner may claim back after the category's "
             "`reclaim_days`. Publishes `CustomerReturnedToPool` (rule `released`).")
async def release(customer_id: uuid.UUID, body: domain.Release, request: Request,
                  idempotency_key: IdempotencyKeyHeader = None,
                  principal: Principal = require("customers:write")) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        now = _now()
        holding = await _holding(conn, customer_id)
        ensure_covers(scope_of(principal), customer_id, holding.owner)
        previous = domain.check_release(holding, actor_owner=principal.owner,
                                        may_assign=principal.may("customers:assign"))
        reclaim_after = domain.reclaim_after(now, await store.pool_rule(conn, holding.category))
        await store.release_to_pool(conn, customer_id, now, reclaim_after)
        await store.record_owner_change(conn, customer_id, at=now, previous_owner=previous, owner=None,
                                        how="returned", by=principal.name, reason=body.reason, rule="released")
        await append(conn, domain.released_event(customer_id, previous_owner=previous, at=now,
                                                 reclaim_after=reclaim_after, by=principal.name, reason=body.reason))
        return _ownership(customer_id, None, previous, now, reclaim_after)

    return await write_once(request, principal, idempotency_key, write)


@router.post("/customers/{customer_id:uuid}/assign", response_model=Ownership, responses=_ONE,
             summary="Give a customer to an owner (managers)",
             description="From the pool or from another owner; pool limits do not bind a manager's assignment.")
async def assign(customer_id: uuid.UUID, body: domain.Assignment, request: Request,
                 idempotency_key: IdempotencyKeyHeader = None,
                 principal: Principal = require("customers:assign")) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        now = _now()
        holding = await _holding(conn, customer_id)
        ensure_covers(scope_of(principal), customer_id, holding.owner)
        domain.check_assign(holding, body.owner)
        await store.set_owner(conn, customer_id, body.owner, now)
        await store.record_owner_change(conn, customer_id, at=now, previous_owner=holding.owner, owner=body.owner,
                                        how="assigned", by=principal.name, reason=body.reason)
        await append(conn, domain.assigned_event(customer_id, owner=body.owner, previous_owner=holding.owner,
                                                 how="assigned", by=principal.name, at=now, reason=body.reason))
        return _ownership(customer_id, body.owner, holding.owner, now)

    return await write_once(request, principal, idempotency_key, write)


@router.post("/handover", response_model=HandoverResult,
             responses={409: {"model": Problem, "description": "from_owner and to_owner are the same"}},
             summary="Move every customer of one owner to another (managers)",
             description="One transaction: each customer keeps a history row and publishes "
             "`CustomerOwnerAssigned` (how `handover`, with the `handover_id`). `categories` narrows it.")
async def handover(body: domain.Handover, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                   principal: Principal = require("customers:assign")) -> Response:
    body = body.checked()

    async def write(conn: asyncpg.Connection) -> Reply:
        now, handover_id = _now(), new_id()
        moved = await store.hand_over(conn, from_owner=body.from_owner, to_owner=body.to_owner, at=now,
                                      categories=body.categories, by=principal.name, handover_id=handover_id,
                                      reason=body.reason)
        for start in range(0, len(moved), APPEND_CHUNK):
            await append(conn, *(domain.assigned_event(
                cid, owner=body.to_owner, previous_owner=body.from_owner, how="handover", by=principal.name, at=now,
                reason=body.reason, handover_id=handover_id) for cid in moved[start:start + APPEND_CHUNK]))
        return Reply(200, HandoverResult(handover_id=handover_id, from_owner=body.from_owner, to_owner=body.to_owner,
                                         moved=len(moved)).model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)


@router.get("/owners", response_model=list[OwnerCount], summary="Owners and how many customers each holds")
async def owners(request: Request, _: Principal = require("customers:assign")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        return json_response(200, await store.owners(conn))


@router.get("/customers/{customer_id:uuid}/owner-history", response_model=list[OwnerChangeRow],
            responses={403: {"model": Problem}, 404: {"model": Problem}},
            summary="Who owned the customer when, newest first")
async def owner_history(customer_id: uuid.UUID, request: Request,
                        principal: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        # a merged record's history still reads (its 360 shows it, with the link to the survivor)
        found, owner = await store.owner_of(conn, customer_id, merged_too=True)
        if not found:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, owner)
        rows = await store.owner_history(conn, customer_id, HISTORY_LIMIT)
    return json_response(200, [OwnerChangeRow(**r).model_dump(mode="json") for r in rows])


@router.get("/pool", response_model=PoolPage, summary="The public pool (公海): customers without an owner")
async def pool(
    request: Request,
    category: Annotated[Category | None, Query(description="Only this category.")] = None,
    q: Annotated[str | None, Query(max_length=search.MAX_QUERY, description="As `GET /customers`' q.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: uuid.UUID | None = None,
    as_of: Annotated[BusinessTime | None, Query(description="Count days in the pool up to this time (RFC 3339).")]
    = None,
    _: Principal = require("customers:read"),
) -> Response:
    pattern = search.query_pattern(q) if q else None
    moment = as_of or _now()
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.pool_page(conn, after=cursor, category=category, q=pattern or None,
                                     phone_tail=search.phone_tail(q) if pattern and q else None, limit=limit)
    items = [PoolEntry(**r, days_in_pool=max(0, domain.days_between(r["in_pool_since"], moment))) for r in rows]
    return json_response(200, {"items": [i.model_dump(mode="json") for i in items],
                               "next_cursor": str(items[-1].id) if len(items) == limit else None})


@router.get("/pool/rules", response_model=RulesAnswer, summary="Pool rules per category, and suggestions")
async def rules(request: Request, _: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        found = await store.pool_rules(conn)
    return json_response(200, RulesAnswer(items=found, suggested=dict(domain.SUGGESTED)).model_dump(mode="json"))


@router.put("/pool/rules/{category}", response_model=domain.PoolRules, responses={422: {"model": Problem}},
            summary="Set a category's pool rule (null: no limit)")
async def put_rule(category: Category, body: domain.RuleLimits, request: Request,
                   idempotency_key: IdempotencyKeyHeader = None,
                   principal: Principal = require("pool:rules")) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        saved = await store.put_pool_rule(conn, category, body, at=_now(), by=principal.name)
        return Reply(200, saved.model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)


@router.post("/pool/sweep", response_model=SweepResult, responses={422: {"model": Problem}},
             summary="Return to the pool every customer whose rule has run out at as_of (now by default)",
             description="What the background sweeper (every `KEHU_POOL_SWEEP_S`) does. A second sweep at the "
             "same `as_of` returns nobody. `as_of` may not be in the future.")
async def sweep(request: Request,
                as_of: Annotated[BusinessTime | None, Query(description="RFC 3339; default now.")] = None,
                idempotency_key: IdempotencyKeyHeader = None,
                principal: Principal = require("customers:assign")) -> Response:
    moment = _past(as_of, "a sweep returns customers only for time that has passed")

    async def write(conn: asyncpg.Connection) -> Reply:
        returned = await sweep_once(conn, moment, principal.name)
        return Reply(200, SweepResult(as_of=moment, returned=[Returned(
            customer_id=r.customer_id, previous_owner=r.previous_owner, rule=r.rule, days_without=r.days_without,
            limit_days=r.limit_days, reclaim_after=r.reclaim_after) for r in returned]).model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)
