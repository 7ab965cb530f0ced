"""HTTP routes of credit: a customer's terms and standing, the approval queue and a manager's
decision; and the credit check ``place_order`` runs inside its write (docs/architecture.md §14.5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.orders.domain import credit as domain
from services.orders.domain.orders import Order
from services.orders.domain.receivables import CreditTerms
from services.orders.store import credit as store
from services.orders.store import orders as orders_store
from services.orders.store import receivables, receivables_hooks
from shared.auth import Principal
from shared.customers import CHECKED_CUSTOMER_ANSWERS, SCOPED_ANSWERS, check_customer_in_scope, ensure_may_see
from shared.errors import Forbidden, Invalid, NotFound
from shared.events import CreditTier, Event, Money, OrderPlaced
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["credit"])
MANAGE = "credit:manage"


class TermsView(BaseModel):
    payment_days: int
    credit_limit: Money | None
    when_exceeded: domain.WhenExceeded


class Credit(BaseModel):
    """A customer's credit as orders decides with it: insights' tier (replica), terms, what is owed."""

    customer_id: uuid.UUID
    tier: CreditTier | None = Field(description="A good payer, B normal, C watch, D hold; null: not judged yet.")
    reason: str | None = Field(description="Why insights gave the tier (a reason code such as `long_overdue`).")
    evidence: dict[str, Any] | None = Field(description="The payment behaviour behind the tier.")
    terms: TermsView | None = Field(description="null: the customer pays at once (nothing on account).")
    outstanding: Money = Field(description="Owed on account, due or not.")
    available: Money | None = Field(description="credit_limit − outstanding (never below 0); null without a limit.")


class TermsChange(BaseModel):
    payment_days: int | None
    credit_limit: Money | None
    when_exceeded: domain.WhenExceeded | None
    removed: bool
    set_by: str
    reason: str
    set_at: datetime


class TermsWithHistory(BaseModel):
    customer_id: uuid.UUID
    terms: TermsView | None
    changed: bool | None = Field(None, description="On a change: false when the customer already had these terms.")
    history: list[TermsChange] = Field(description="Changes of the terms, newest first (at most 50).")


class Approval(BaseModel):
    """An order the credit check stopped, with the facts it was judged on, and the decision if taken."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    why: domain.Why
    tier: CreditTier | None
    outstanding: Money
    credit_limit: Money | None
    total: Money
    requested_by: str
    requested_at: datetime
    override: bool
    approved: bool | None
    decided_by: str | None
    reason: str | None
    decided_at: datetime | None


class WaitingOrder(BaseModel):
    order_id: uuid.UUID
    customer_id: uuid.UUID
    why: domain.Why
    tier: CreditTier | None
    outstanding: Money
    credit_limit: Money | None
    total: Money
    currency: str
    channel: str
    occurred_at: datetime
    requested_by: str
    requested_at: datetime


class Approvals(BaseModel):
    items: list[WaitingOrder] = Field(description="Orders waiting for a manager, oldest first.")


def _terms_view(terms: CreditTerms | None) -> dict[str, Any] | None:
    if terms is None:
        return None
    return TermsView(payment_days=terms.payment_days, credit_limit=terms.credit_limit,
                     when_exceeded=terms.when_exceeded).model_dump(mode="json")


@router.get("/customers/{customer_id:uuid}/credit", response_model=Credit,
            summary="A customer's credit: tier, terms, what they owe and may still buy on account",
            responses={404: {"model": Problem, "description": "a customer orders has never heard of"},
                       **SCOPED_ANSWERS})
async def get_credit(customer_id: uuid.UUID, request: Request, principal: Principal = require("orders:read")) -> Response:
    await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        if not await store.is_known(conn, customer_id):
            raise NotFound(f"no customer {customer_id} known to orders")
        terms = await receivables.terms_of(conn, customer_id)
        standing = await store.standing_of(conn, customer_id)
        owed = await receivables.outstanding(conn, customer_id)
    limit = terms.credit_limit if terms else None
    return json_response(200, Credit(
        customer_id=customer_id, tier=standing["tier"] if standing else None,
        reason=standing["reason"] if standing else None, evidence=standing["evidence"] if standing else None,
        terms=_terms_view(terms), outstanding=owed, available=domain.available(limit, owed),
    ).model_dump(mode="json"))


async def _terms_reply(conn: asyncpg.Connection, customer_id: uuid.UUID, changed: bool | None) -> dict[str, Any]:
    terms = await receivables.terms_of(conn, customer_id)
    history = await store.terms_history(conn, customer_id)
    return TermsWithHistory(customer_id=customer_id, terms=_terms_view(terms), changed=changed,
                            history=[TermsChange(**h) for h in history]).model_dump(mode="json")


@router.get("/customers/{customer_id:uuid}/credit-terms", response_model=TermsWithHistory,
            summary="A customer's terms and their history", responses=SCOPED_ANSWERS)
async def get_terms(customer_id: uuid.UUID, request: Request, principal: Principal = require("orders:read")) -> Response:
    await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        return json_response(200, await _terms_reply(conn, customer_id, None))


@router.put(
    "/customers/{customer_id:uuid}/credit-terms",
    response_model=TermsWithHistory,
    summary="Set a customer's credit terms, with a reason",
    description="From then on an order not paid at once is on account: it owes its total, due `payment_days` "
    "later, and is refused (409) or waits for a manager (`when_exceeded`) when the customer is on hold (tier D) or "
    "it would take what is owed above `credit_limit`. The same terms again change nothing (`changed: false`). "
    "To stop buying on account, set `credit_limit` 0: every order not paid at once is then refused. Publishes "
    "`CreditTermsSet`.",
    responses={**CHECKED_CUSTOMER_ANSWERS, 404: {"model": Problem, "description": "a customer contacts never "
                                                                                   "registered"}},
)
async def set_terms(
    customer_id: uuid.UUID,
    body: domain.NewCreditTerms,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require(MANAGE),
) -> Response:
    try:
        await check_customer_in_scope(request, principal, customer_id)
    except Invalid as unknown:  # the customer is the path's: an unknown one is not found
        raise NotFound(unknown.detail) from unknown

    async def write(conn: asyncpg.Connection) -> Reply:
        current = await store.terms_for_update(conn, customer_id)
        if domain.same_terms(current, body):
            return Reply(200, await _terms_reply(conn, customer_id, False))
        now = datetime.now(UTC)
        await store.set_terms(conn, customer_id, body, by=principal.name, now=now)
        await append(conn, domain.terms_set(customer_id, body, by=principal.name, now=now))
        return Reply(200, await _terms_reply(conn, customer_id, True))

    return await write_once(request, principal, idempotency_key, write)


# --- the check at order time --------------------------------------------------------------------


def check_override_allowed(override: domain.CreditOverride | None, principal: Principal) -> None:
    """Only a manager overrides the credit check (403 otherwise, even when the order would pass)."""
    if override is not None and not principal.may(MANAGE):
        raise Forbidden(f"role {principal.role!r} lacks the permission {MANAGE!r} to override the credit check",
                        missing_permission=MANAGE)


async def judge(conn: asyncpg.Connection, order: Order, *, paid_with: str | None,
                override: domain.CreditOverride | None) -> domain.CreditDecision:
    """The credit decision on an order, in the write's transaction, the customer's terms row locked (a
    concurrent order of the customer waits, then sees this one's instalments). Raises ``CreditRefused``."""
    terms = await store.terms_for_update(conn, order.customer_id)
    if terms is None or paid_with is not None:
        return domain.decide(terms=terms, paid_at_once=paid_with is not None, tier=None,
                             outstanding=Decimal("0.00"), total=order.total)
    standing = await store.standing_of(conn, order.customer_id)
    decision = domain.decide(terms=terms, paid_at_once=False, tier=standing["tier"] if standing else None,
                             outstanding=await receivables.outstanding(conn, order.customer_id), total=order.total)
    if decision.outcome == "refused" and override is None:
        raise domain.CreditRefused(decision)
    return decision


async def settle(conn: asyncpg.Connection, order: Order, event: OrderPlaced, decision: domain.CreditDecision, *,
                 paid_with: str | None, override: domain.CreditOverride | None, principal: Principal,
                 now: datetime) -> tuple[str, list[Event]]:
    """After the order is written (placed, with how it was paid): its status, and the events to publish
    (OrderPlaced with that status first). On account it owes its total at once; stopped, it waits (or a manager's override places it)."""
    events: list[Event] = []
    status = "placed"
    if decision.stopped and override is None:
        status = "pending_approval"
        await store.record_decision(conn, order.id, order.customer_id, decision, requested_by=principal.name, now=now)
    elif decision.stopped and override is not None:
        await store.record_decision(conn, order.id, order.customer_id, decision, requested_by=principal.name, now=now,
                                    override_reason=override.reason)
        events.append(domain.override_event(customer_id=order.customer_id, order_id=order.id, override=override,
                                            by=principal.name, now=now))
    if status == "pending_approval":
        await store.wait_for_approval(conn, order.id)
    events.extend(await receivables_hooks.order_placed(conn, order, paid_with=paid_with, status=status, now=now))
    return status, [event.model_copy(update={"status": status}), *events]


# --- approvals ------------------------------------------------------------------------------------


def _approval(row: dict[str, Any]) -> dict[str, Any]:
    return Approval(**{k: row[k] for k in Approval.model_fields}).model_dump(mode="json")


@router.get("/approvals", response_model=Approvals, summary="Orders waiting for a manager's credit approval",
            description="Oldest first, each with the credit facts it was stopped on. A salesperson sees those of "
            "their own customers and the pool's.")
async def list_approvals(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         principal: Principal = require("orders:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.waiting(conn, limit=limit, owner_filter=scope_of(principal).owner_filter)
    return json_response(200, Approvals(items=[WaitingOrder(**r) for r in rows]).model_dump(mode="json"))


@router.post(
    "/orders/{order_id:uuid}/approval",
    response_model=Approval,
    summary="Approve or refuse an order waiting for credit approval, with a reason",
    description="Approved, the order is placed and owes its total on account (`ReceivableScheduled`); refused, it "
    "is cancelled (`OrderCancelled`). Publishes `OrderApprovalDecided`. Deciding again answers the decision "
    "already taken; an order that never waited for approval is a 409.",
    responses={404: {"model": Problem}, 409: {"model": Problem, "description": "the order is not waiting for "
                                                                                "approval (`code: not_pending`)"}},
)
async def decide_approval(
    order_id: uuid.UUID,
    body: domain.ApprovalDecision,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require(MANAGE),
) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        row = await store.decision_for_update(conn, order_id)
        if row is None:
            raise NotFound(f"no order {order_id}")
        if row["why"] is None or row["override"]:
            raise domain.NotPending(order_id, row["status"])
        if row["decided_at"] is not None:
            return Reply(200, _approval(row))
        if row["status"] != "pending_approval":
            raise domain.NotPending(order_id, row["status"])
        now = datetime.now(UTC)
        await store.decide(conn, order_id, approved=body.approved, by=principal.name, reason=body.reason, now=now)
        decided, cancelled = domain.approval_events(customer_id=row["customer_id"], order_id=order_id,
                                                    total=row["total"], decision=body, by=principal.name, now=now)
        events: list[Event] = [decided]
        if cancelled is not None:
            events.append(cancelled)
        else:
            approved = await orders_store.order_by_id(conn, order_id)
            assert approved is not None  # locked above
            events.extend(await receivables_hooks.order_approved(conn, approved, now))
        await append(conn, *events)
        after = await store.decision_for_update(conn, order_id)
        assert after is not None
        return Reply(200, _approval(after))

    return await write_once(request, principal, idempotency_key, write)
