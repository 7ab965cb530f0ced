"""HTTP routes of what is owed and paid (§14.2): an order's receivable and instalment plan,
payments, credit notes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from services.orders import accounts
from services.orders.domain import allocation
from services.orders.domain.receivables import scheduled
from services.orders.store import payments as store
from shared.auth import Principal
from shared.customers import CHECKED_CUSTOMER_ANSWERS, SCOPED_ANSWERS, check_customer_in_scope, ensure_may_see
from shared.edge import NON_BLANK
from shared.errors import Conflict, FieldProblem, Invalid, NotFound
from shared.events import BusinessTime, Instalment, Money, PaymentAllocation, _decimal_schema
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["receivables"])
MAX_CLOCK_SKEW = timedelta(minutes=5)
_POSITIVE_TEXT = 'Decimal amount above 0, never a float: a decimal string ("9.50") or a JSON number; 2 decimals.'
# Money above 0, and its schema saying so (Money's says at least 0).
PositiveMoney = Annotated[Money, Field(gt=0), WithJsonSchema(
    _decimal_schema(whole=12, places=2, positive=True, description=_POSITIVE_TEXT), mode="validation")]
ReceivedMethod = Literal["cash", "wechat_pay", "alipay", "bank_transfer", "card", "other"]


class Receivable(BaseModel):
    order_id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    total: Money
    owed: Money = Field(description="What the order owes in all (its instalments' amounts).")
    paid: Money
    open: Money = Field(description="owed − paid.")
    revision: int
    instalments: list[Instalment]


def _receivable(head: store.OrderHead, instalments: list[Instalment]) -> dict[str, Any]:
    owed, paid = allocation.owed(instalments), allocation.paid(instalments)
    return Receivable(order_id=head.id, customer_id=head.customer_id, status=head.status, total=head.total,
                      owed=owed, paid=paid, open=owed - paid, revision=head.receivable_revision,
                      instalments=instalments).model_dump(mode="json")


async def _visible_order(request: Request, principal: Principal, order_id: uuid.UUID) -> store.OrderHead:
    async with request.app.state.runtime.pool.acquire() as conn:
        head = await store.order_head(conn, order_id)
    if head is None:
        raise NotFound(f"no order {order_id}")
    await ensure_may_see(request, principal, head.customer_id)
    return head


@router.get("/orders/{order_id:uuid}/receivable", response_model=Receivable, summary="What an order owes and when",
            responses={404: {"model": Problem}, **SCOPED_ANSWERS})
async def get_receivable(order_id: uuid.UUID, request: Request, principal: Principal = require("orders:read")) -> Response:
    head = await _visible_order(request, principal, order_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        instalments = await store.instalments_of_order(conn, order_id)
    return json_response(200, _receivable(head, instalments))


class PlannedInstalment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_at: BusinessTime
    amount: Money


class InstalmentPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instalments: list[PlannedInstalment] = Field(min_length=1, max_length=60)


@router.put("/orders/{order_id:uuid}/instalments", response_model=Receivable, summary="Set an instalment plan (回款计划)",
            description="Replaces the order's schedule: the amounts must add up to what the order owes (422 naming "
            "`instalments`); money already paid stays allocated, earliest due first. Publishes ReceivableScheduled.",
            responses={404: {"model": Problem}, 409: {"model": Problem, "description": "the order owes nothing"},
                       422: {"model": Problem}, **SCOPED_ANSWERS})
async def set_plan(order_id: uuid.UUID, body: InstalmentPlan, request: Request,
                   idempotency_key: IdempotencyKeyHeader = None,
                   principal: Principal = require("payments:write")) -> Response:
    head = await _visible_order(request, principal, order_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        await store.lock_customer(conn, head.customer_id)
        current = await store.instalments_of_order(conn, order_id)
        if not current:
            raise Conflict(f"order {order_id} owes nothing (paid at once, no credit terms, or cancelled): there "
                           "is nothing to plan")
        fresh = allocation.plan([allocation.PlannedInstalment(p.due_at, p.amount) for p in body.instalments], current)
        now = datetime.now(UTC)
        revision = await store.write_schedule(conn, order_id, fresh)
        await append(conn, scheduled(head.customer_id, order_id, revision, fresh, now))
        updated = await store.order_head(conn, order_id)
        assert updated is not None
        return Reply(200, _receivable(updated, fresh))

    return await write_once(request, principal, idempotency_key, write)


class NewPayment(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: uuid.UUID
    method: ReceivedMethod
    amount: PositiveMoney
    received_at: BusinessTime | None = Field(None, description="When it was received (default: now).")
    reference: str | None = Field(None, min_length=1, max_length=200)
    order_id: uuid.UUID | None = Field(None, description="Pay this order's instalments first.")
    overpayment: bool = Field(False, description="Accept more than the customer owes: the rest stays on the "
                              "account and pays their next instalments.")


class Payment(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    method: str
    amount: Money
    unallocated: Money
    received_at: datetime
    reference: str | None
    recorded_by: str
    credit_note_id: uuid.UUID | None
    allocations: list[PaymentAllocation]


class PaymentPage(BaseModel):
    items: list[Payment]


def _payment(row: dict[str, Any]) -> dict[str, Any]:
    return Payment.model_validate(row).model_dump(mode="json")


@router.post("/payments", status_code=201, response_model=Payment, summary="Record a payment",
             description="Allocated to the customer's open instalments oldest due first (the named order's first). "
             "More than the customer owes is a 422 naming `amount` unless `overpayment: true`. Publishes "
             "PaymentRecorded and a ReceivableScheduled per order paid.",
             responses={404: {"model": Problem, "description": "no such order (`order_id`)"},
                        **CHECKED_CUSTOMER_ANSWERS})
async def record_payment(body: NewPayment, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                         principal: Principal = require("payments:write")) -> Response:
    now = datetime.now(UTC)
    received_at = body.received_at or now
    if received_at > now + MAX_CLOCK_SKEW:
        raise Invalid.field("received_at", "in the future")
    await check_customer_in_scope(request, principal, body.customer_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        if body.order_id is not None:
            head = await store.order_head(conn, body.order_id)
            if head is None:
                raise NotFound(f"no order {body.order_id}", errors=[FieldProblem("order_id", "no such order")])
            if head.customer_id != body.customer_id:
                raise Invalid.field("order_id", "an order of another customer")
        await store.lock_customer(conn, body.customer_id)
        balance = sum((i.open for i in await store.open_instalments(conn, body.customer_id)), Decimal("0.00"))
        allocation.refuse_overpayment(body.amount, balance, body.overpayment)
        recorded, changed = await accounts.receive(
            conn, customer_id=body.customer_id, method=body.method, amount=body.amount, received_at=received_at,
            reference=body.reference, by=principal.name, now=now, order_first=body.order_id)
        await append(conn, recorded, *changed)
        answer = Payment(id=recorded.payment_id, customer_id=body.customer_id, method=body.method,
                         amount=body.amount, unallocated=recorded.unallocated, received_at=received_at,
                         reference=body.reference, recorded_by=principal.name, credit_note_id=None,
                         allocations=recorded.allocations)
        return Reply(201, answer.model_dump(mode="json"), {"Location": f"/payments?customer_id={body.customer_id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.get("/payments", response_model=PaymentPage, summary="Payments and credit notes, newest first",
            responses=SCOPED_ANSWERS)
async def list_payments(request: Request, customer_id: uuid.UUID | None = None, order_id: uuid.UUID | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100,
                        principal: Principal = require("orders:read")) -> Response:
    if customer_id is not None:
        await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.payments_of(conn, customer_id=customer_id, order_id=order_id, limit=limit,
                                       owner_filter=scope_of(principal).owner_filter)
    return json_response(200, {"items": [_payment(r) for r in rows]})


class NewCreditNote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: uuid.UUID
    amount: PositiveMoney
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


class CreditNote(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    reason: str


@router.post("/credit-notes", status_code=201, response_model=CreditNote, summary="Issue a credit note",
             description="Credits the customer's account: allocated like a payment (method credit_note) to their "
             "open instalments, the rest kept as credit. Publishes CreditNoteIssued and PaymentRecorded.",
             responses=CHECKED_CUSTOMER_ANSWERS)
async def issue_credit_note(body: NewCreditNote, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                            principal: Principal = require("credit:manage")) -> Response:
    await check_customer_in_scope(request, principal, body.customer_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        issued = await accounts.issue_credit_note(conn, customer_id=body.customer_id, amount=body.amount,
                                                  reason=body.reason, ticket_id=None, by=principal.name,
                                                  now=datetime.now(UTC))
        assert issued is not None  # only a ticket's second credit note is refused
        credit_note_id, events = issued
        await append(conn, *events)
        return Reply(201, CreditNote(id=credit_note_id, customer_id=body.customer_id, amount=body.amount,
                                     reason=body.reason).model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)
