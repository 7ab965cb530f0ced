"""HTTP routes of the category part: change a category, the win-back list and rate, referrals and
the acquisition report. Parse, call the domain, store, answer (rules in domain/categories.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.contacts.domain import categories as domain
from services.contacts.store import categories as store
from shared.auth import Principal
from shared.errors import Invalid, NotFound
from shared.events import BusinessTime, CustomerCategory, LossKind, LossReason
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["categories"])
HISTORY = 100
REFERRAL_DEPTH = 50  # levels followed up and down; a longer chain is cut there


class CategoryChangeRecord(BaseModel):
    changed_at: datetime
    previous_category: CustomerCategory
    category: CustomerCategory
    reason: str
    loss_reason: LossReason | None = None
    loss_kind: LossKind | None = None
    changed_by: str
    automatic: bool
    order_id: uuid.UUID | None = None


class CategoryView(BaseModel):
    customer_id: uuid.UUID
    category: CustomerCategory
    loss_reason: LossReason | None = None
    loss_kind: LossKind | None = None
    category_changed_at: datetime | None = None
    changed: bool | None = Field(None, description="On a change: false when the customer already had the category.")
    allowed_next: list[CustomerCategory] = Field(description="What a person may change the category to from here.")
    history: list[CategoryChangeRecord] = Field(description="The changes so far, newest first (at most 100).")


async def _view(conn: asyncpg.Connection, customer: store.CustomerCategory, changed: bool | None) -> dict[str, Any]:
    history = await store.category_history(conn, customer.state.customer_id, HISTORY)
    return CategoryView(
        customer_id=customer.state.customer_id, category=customer.state.category,
        loss_reason=customer.loss_reason, loss_kind=customer.loss_kind,
        category_changed_at=customer.state.category_changed_at, changed=changed,
        allowed_next=list(domain.allowed_next(customer.state.category)),
        history=[CategoryChangeRecord(**h) for h in history],
    ).model_dump(mode="json")


@router.get("/customers/{customer_id:uuid}/category", response_model=CategoryView,
            summary="A customer's category, what it may change to, and its history",
            responses={403: {"model": Problem}, 404: {"model": Problem}})
async def get_category(customer_id: uuid.UUID, request: Request,
                       principal: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await store.category_of(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        return json_response(200, await _view(conn, customer, None))


@router.post(
    "/customers/{customer_id:uuid}/category",
    response_model=CategoryView,
    summary="Change a customer's category, with a reason",
    description="Allowed: potential → prospective, current or lost; prospective → current or lost; current → "
    "lost; lost → prospective (win-back). An order makes a customer current by itself. Anything else is a 409 "
    "naming what is allowed from the customer's category. The same category again changes nothing (200, "
    "`changed: false`). Publishes `CustomerCategoryChanged`.",
    responses={403: {"model": Problem}, 404: {"model": Problem},
               409: {"model": Problem, "description": "the change is not allowed from the customer's category"}},
)
async def change_category(
    customer_id: uuid.UUID,
    body: domain.CategoryChange,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        customer = await store.category_of(conn, customer_id, for_update=True)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        change = domain.change_category(customer.state, body, changed_by=principal.name, now=datetime.now(UTC))
        if change is None:
            return Reply(200, await _view(conn, customer, False))
        await store.apply_change(conn, customer_id, change)
        await append(conn, change.event)
        after = await store.category_of(conn, customer_id)
        assert after is not None
        return Reply(200, await _view(conn, after, True))

    return await write_once(request, principal, idempotency_key, write)


# --- win-back ---------------------------------------------------------------------------------


class WinBackItem(BaseModel):
    customer_id: uuid.UUID
    name: str
    owner: str | None
    loss_reason: LossReason
    loss_kind: LossKind
    lost_at: datetime
    days_lost: int = Field(description="Whole days from the loss to as_of.")
    reachable_by: list[str] = Field(description="Channels to reach them, best first: phone, wechat_unionid, "
                                    "wechat_openid, email.")


class WinBackPage(BaseModel):
    items: list[WinBackItem]
    next_cursor: str | None
    as_of: datetime


def _cursor(text: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not text:
        return None
    try:
        when, _, ident = text.partition("_")
        at, after = datetime.fromisoformat(when), uuid.UUID(ident)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise Invalid.field("query.cursor", "not a cursor this list gave")
    return at, after


def _as_of(value: datetime | None) -> datetime:
    return value if value is not None else datetime.now(UTC)


@router.get("/win-back", response_model=WinBackPage, summary="Lost customers worth winning back",
            description="Customers lost for a subjective reason (price, service, quality, competitor, other) "
            "who can still be reached (a phone, email or WeChat identity) and are not merged; most recently "
            "lost first. A salesperson sees their own customers and the pool.")
async def win_back(
    request: Request,
    as_of: Annotated[BusinessTime | None, Query(description="Lost by this time; days are counted to it. Default: now.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="next_cursor of the previous page.")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    moment = _as_of(as_of)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.win_back(conn, as_of=moment, after=_cursor(cursor),
                                    owner=scope_of(principal).owner_filter, limit=limit)
    items = [WinBackItem(
        customer_id=r["id"], name=r["name"], owner=r["owner"], loss_reason=r["loss_reason"], loss_kind=r["loss_kind"],
        lost_at=r["category_changed_at"], days_lost=domain.days_since(r["category_changed_at"], moment),
        reachable_by=domain.reachable_by(list(r["channels"]), r["phone"], r["email"])) for r in rows]
    last = rows[-1] if len(rows) == limit else None
    next_cursor = f"{last['category_changed_at'].isoformat()}_{last['id']}" if last else None
    return json_response(200, WinBackPage(items=items, next_cursor=next_cursor, as_of=moment).model_dump(mode="json"))


class WinBackRateRow(BaseModel):
    loss_reason: LossReason
    loss_kind: LossKind
    lost: int = Field(description="Customers lost for this reason in the period (each loss counts).")
    won_back: int = Field(description="Of them, how many became prospective or current again (by as_of).")
    share: float | None = Field(description="won_back / lost; null when none was lost.")


class WinBackRates(BaseModel):
    since: datetime
    until: datetime
    as_of: datetime
    items: list[WinBackRateRow]
    lost: int
    won_back: int
    share: float | None


@router.get("/win-back/rates", response_model=WinBackRates, summary="Win-back rate per loss reason",
            description="Losses in [since, until) per reason, and how many were won back (the customer's next "
            "category change was to prospective or current, by as_of). Default period: the last 365 days.")
async def win_back_rates(
    request: Request,
    since: Annotated[BusinessTime | None, Query(description="Start of the period (default: a year before until).")] = None,
    until: Annotated[BusinessTime | None, Query(description="End of the period, not included (default: as_of).")] = None,
    as_of: Annotated[BusinessTime | None, Query(description="Count what happened by this time (default: now).")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    moment = _as_of(as_of)
    end = until or moment
    start = since or end - timedelta(days=365)
    if start >= end:
        raise Invalid.field("query.since", "must be before until")
    async with request.app.state.runtime.pool.acquire() as conn:
        counts = await store.win_back_rates(conn, since=start, until=end, as_of=moment,
                                            owner=scope_of(principal).owner_filter)
    rows = domain.win_back_rates(counts)
    lost, won = sum(r.lost for r in rows), sum(r.won_back for r in rows)
    answer = WinBackRates(since=start, until=end, as_of=moment, lost=lost, won_back=won, share=domain.share(won, lost),
                          items=[WinBackRateRow(**r.__dict__) for r in rows])
    return json_response(200, answer.model_dump(mode="json"))


# --- referrals --------------------------------------------------------------------------------


class ReferralLink(BaseModel):
    customer_id: uuid.UUID
    name: str | None = Field(description="Null for a customer outside the salesperson's scope.")
    category: CustomerCategory | None
    depth: int = Field(description="0: the customer asked about; 1: who referred them; 2: who referred that one...")


class ReferredCustomer(BaseModel):
    customer_id: uuid.UUID
    name: str | None
    category: CustomerCategory | None
    registered_at: datetime
    referred: int = Field(description="How many customers this one referred in turn.")
    network: int = Field(description="All customers referred below this one, every level.")


class Referrals(BaseModel):
    customer_id: uuid.UUID
    chain: list[ReferralLink] = Field(description="The customer, then who referred them, up to the root.")
    cycle: bool = Field(description="True when the chain leads back to a customer already in it (cut there).")
    referred: list[ReferredCustomer] = Field(description="The customers they referred directly.")
    network: int = Field(description="All customers referred below them, every level.")


@router.get("/referrals/{customer_id:uuid}", response_model=Referrals, summary="Who referred a customer, and whom they referred",
            responses={403: {"model": Problem}, 404: {"model": Problem}})
async def referrals(customer_id: uuid.UUID, request: Request,
                    principal: Principal = require("customers:read")) -> Response:
    scope = scope_of(principal)
    async with request.app.state.runtime.pool.acquire() as conn:
        chain = await store.referral_chain(conn, customer_id, REFERRAL_DEPTH)
        if not chain:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope, customer_id, chain[0]["owner"])
        below = await store.referred_customers(conn, customer_id, REFERRAL_DEPTH)

    def seen(row: dict[str, Any], key: str) -> Any:  # others' customers: only that they exist
        return row[key] if scope.covers(row["owner"]) else None

    answer = Referrals(
        customer_id=customer_id, cycle=any(r["closes_cycle"] for r in chain),
        chain=[ReferralLink(customer_id=r["id"], name=seen(r, "name"), category=seen(r, "category"), depth=r["depth"])
               for r in chain],
        referred=[ReferredCustomer(customer_id=r["id"], name=seen(r, "name"), category=seen(r, "category"),
                                   registered_at=r["registered_at"], referred=r["referred"], network=r["network"])
                  for r in below],
        network=len(below) + sum(r["network"] for r in below),
    )
    return json_response(200, answer.model_dump(mode="json"))


# --- acquisition ------------------------------------------------------------------------------


class AcquisitionRow(BaseModel):
    lead_source: str = Field(description="web, fair, referral, ...; `unknown` when none was given.")
    period: date = Field(description="First day of the period (month, quarter or year) in the shop's time zone.")
    new_customers: int
    became_current: int = Field(description="Of them, how many had a first order by as_of.")
    conversion: float | None = Field(description="became_current / new_customers.")
    median_days_to_first_order: float | None = Field(description="Of those who ordered; one decimal.")


class Acquisition(BaseModel):
    period: Literal["month", "quarter", "year"]
    since: datetime
    until: datetime
    as_of: datetime
    items: list[AcquisitionRow]


@router.get("/acquisition", response_model=Acquisition, summary="New customers per lead source and period",
            description="Customers registered (business time) in [since, until), per lead source and month, quarter "
            "or year: how many, how many became current (first order by as_of), the share, and the median days "
            "to the first order. Default period: the last 12 months. A salesperson sees their own and the pool.")
async def acquisition(
    request: Request,
    period: Literal["month", "quarter", "year"] = "month",
    since: Annotated[BusinessTime | None, Query(description="Start of the period (default: a year before until).")] = None,
    until: Annotated[BusinessTime | None, Query(description="End of the period, not included (default: as_of).")] = None,
    as_of: Annotated[BusinessTime | None, Query(description="Count what happened by this time (default: now).")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    moment = _as_of(as_of)
    end = until or moment
    start = since or end - timedelta(days=365)
    if start >= end:
        raise Invalid.field("query.since", "must be before until")
    zone = request.app.state.runtime.settings.timezone
    ZoneInfo(zone)  # a bad KEHU_TIMEZONE fails here, not in SQL
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.acquisition(conn, period=period, since=start, until=end, as_of=moment, timezone=zone,
                                       owner=scope_of(principal).owner_filter)
    items = [AcquisitionRow(
        lead_source=r["lead_source"], period=r["period"], new_customers=r["new_customers"],
        became_current=r["became_current"], conversion=domain.share(r["became_current"], r["new_customers"]),
        median_days_to_first_order=None if r["median_days_to_first_order"] is None
        else round(float(r["median_days_to_first_order"]), 1)) for r in rows]
    answer = Acquisition(period=period, since=start, until=end, as_of=moment, items=items)
    return json_response(200, answer.model_dump(mode="json"))
