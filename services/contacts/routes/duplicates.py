"""Likely duplicates: the warning on registration and the scan of the whole base (GET /duplicates)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.contacts import duplicate_keys
from services.contacts.domain import duplicates as domain
from services.contacts.domain.customers import Customer
from services.contacts.store import duplicates as store
from shared.auth import Principal
from shared.errors import Invalid
from shared.events import new_id
from shared.http import Problem, json_response, require

router = APIRouter(tags=["duplicates"])
DEFAULT_MAX_AGE_S = 600


class LikelyDuplicate(BaseModel):
    """A customer who is probably the same as the one registered (the ``duplicates`` of POST /customers)."""

    customer_id: uuid.UUID
    name: str
    score: int
    reasons: list[domain.Reason]


async def likely_duplicates(conn: asyncpg.Connection, customer: Customer) -> list[dict[str, Any]]:
    """The likely duplicates of a customer just registered, best first, as the 201 body lists them.

    Computes the new customer's keys too (in the caller's transaction) so later registrations and
    scans find it. A few index lookups: registration stays fast."""
    await store.set_keys(conn, [(customer.id, customer.name, customer.phone)])
    found = await store.records(conn, [customer.id])
    me = found.get(customer.id) or domain.Record(customer.id, customer.name, customer.phone, customer.email)
    others = await store.records(conn, await store.candidates_of(conn, me))
    scored = domain.best_first((me.id, other.id, domain.score(me, other)) for other in others.values())
    return [LikelyDuplicate(customer_id=other_id, name=others[other_id].name, score=s.score,
                            reasons=s.reasons).model_dump(mode="json")
            for _, other_id, s in scored if domain.likely(s)]


class PairMember(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    owner: str | None
    category: str
    created_at: datetime


class DuplicatePair(BaseModel):
    score: int
    reasons: list[domain.Reason]
    customers: list[PairMember] = Field(description="The two customers, the earlier registered first.")


class ScanSummary(BaseModel):
    id: uuid.UUID
    ran_at: datetime
    seconds: float = Field(description="How long the scan took.")
    customers: int = Field(description="Customers scanned (merged ones left out).")
    pairs: int = Field(description="Likely pairs found.")


class DuplicatePage(BaseModel):
    scan: ScanSummary
    items: list[DuplicatePair]
    next_cursor: str | None


async def run_scan(pool: asyncpg.Pool) -> store.Scan:
    """Scan the whole base: refresh stale keys, find candidate pairs by blocking keys, score them,
    store the likely ones best first."""
    started = datetime.now(UTC)
    await duplicate_keys.refresh_all(pool)
    async with pool.acquire() as conn:
        # One snapshot for pairs and records: a merge committing meanwhile does not mix states.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            customers = await store.live_customers(conn)
            pairs = await store.candidate_pairs(conn)
            found = await store.records(conn, {i for pair in pairs for i in pair})
        scored = domain.best_first(
            (a, b, s) for a, b in pairs if a in found and b in found
            and domain.likely(s := domain.score(found[a], found[b]), 1))
        scan = store.Scan(id=new_id(), started_at=started, ran_at=datetime.now(UTC), customers=customers,
                          pairs=len(scored))
        async with conn.transaction():
            await store.save_scan(conn, scan, scored)
    return scan


def _member(row: dict[str, Any], which: str) -> PairMember:
    return PairMember(**{f: row[f"{which}_{f}"] for f in PairMember.model_fields})


@router.get(
    "/duplicates",
    response_model=DuplicatePage,
    summary="Likely duplicate customers across the whole base, best first",
    description="Pairs of customers that are probably one, with a score (0-100) and the reasons: the same "
    "phone, email or identity (also a phone typed under another kind), or a similar name (case, blanks, "
    "full-width letters and company suffixes such as 有限公司 or Co., Ltd. ignored, or the same pinyin) with "
    "the same phone prefix (first 7 digits) or the same company. The result of the last scan is reused while "
    "younger than `max_age_s`; `rescan=true` scans now. Pairs with a customer merged since are left out. "
    "For managers (`customers:merge`).",
    responses={422: {"model": Problem, "description": "a malformed or expired cursor"}},
)
async def list_duplicates(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=80, description="next_cursor of the previous page.")] = None,
    min_score: Annotated[int, Query(ge=1, le=100)] = domain.MIN_SCORE,
    rescan: Annotated[bool, Query(description="Scan now instead of reusing the last scan.")] = False,
    max_age_s: Annotated[int, Query(ge=0, le=86_400, description="Reuse a scan at most this old.")] = DEFAULT_MAX_AGE_S,
    _: Principal = require("customers:merge"),
) -> Response:
    pool = request.app.state.runtime.pool
    after_rank = 0
    scan: store.Scan | None
    if cursor:
        scan_id, after_rank = _read_cursor(cursor)
        async with pool.acquire() as conn:
            scan = await store.scan_by_id(conn, scan_id)
        if scan is None:
            raise Invalid.field("query.cursor", "the scan of this cursor was replaced by a newer one; start again")
    else:
        async with pool.acquire() as conn:
            scan = await store.latest_scan(conn)
        if rescan or scan is None or scan.ran_at < datetime.now(UTC) - timedelta(seconds=max_age_s):
            scan = await run_scan(pool)
    async with pool.acquire() as conn:
        rows = await store.pairs_page(conn, scan.id, after_rank=after_rank, min_score=min_score, limit=limit)
    items = [DuplicatePair(score=r["score"], reasons=r["reasons"], customers=[_member(r, "first"), _member(r, "second")])
             for r in rows]
    page = DuplicatePage(
        scan=ScanSummary(id=scan.id, ran_at=scan.ran_at, customers=scan.customers, pairs=scan.pairs,
                         seconds=round((scan.ran_at - scan.started_at).total_seconds(), 3)),
        items=items, next_cursor=f"{scan.id}:{rows[-1]['rank']}" if len(rows) == limit else None)
    return json_response(200, page.model_dump(mode="json"))


def _read_cursor(cursor: str) -> tuple[uuid.UUID, int]:
    try:
        scan_id, rank = cursor.split(":")
        return uuid.UUID(scan_id), int(rank)
    except ValueError:
        raise Invalid.field("query.cursor", "not a cursor this list gave") from None


