"""HTTP routes of ageing, customer statements and the overdue sweep (§14.2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.orders.domain.ageing import Buckets
from services.orders.overdue_sweeper import sweep_once
from services.orders.store import ageing as store
from services.orders.store import payments
from shared.auth import Principal
from shared.customers import SCOPED_ANSWERS, ensure_may_see
from shared.errors import FieldProblem, Invalid
from shared.events import BusinessTime, Money
from shared.http import AsOf, IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["receivables"])
MAX_CLOCK_SKEW = timedelta(minutes=5)
STATEMENT_LINES = 2000
EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
class CustomerAgeing(Buckets):
    customer_id: uuid.UUID


class Ageing(BaseModel):
    as_of: datetime
    totals: Buckets = Field(description="The shop's (a salesperson's: their customers' and the pool's).")
    customers: list[CustomerAgeing] = Field(description="Customers with open instalments, in id order.")
    next_cursor: str | None


@router.get("/receivables/ageing", response_model=Ageing, summary="What is owed by days past due",
            description="Open instalments' unpaid money in buckets (current: not yet due, 1-30, 31-60, 61-90, over "
            "90 days past due as of `as_of`; a day begun counts) for the shop and per customer. A salesperson "
            "sees their customers and the pool's; `owner` narrows a manager's view to one owner's.",
            responses={403: {"model": Problem}})
async def ageing(request: Request, as_of: AsOf = None, owner: Annotated[str | None, Query(max_length=200)] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: uuid.UUID | None = None,
                 principal: Principal = require("orders:read")) -> Response:
    moment = as_of or datetime.now(UTC)
    owner_filter = scope_of(principal).owner_filter or owner
    async with request.app.state.runtime.pool.acquire() as conn:
        totals = await store.totals(conn, moment, owner_filter)
        rows = await store.per_customer(conn, moment, owner_filter=owner_filter, after=cursor, limit=limit)
    customers = [CustomerAgeing(customer_id=c, **b.model_dump()) for c, b in rows]
    next_cursor = str(rows[-1][0]) if len(rows) == limit else None
    return json_response(200, Ageing(as_of=moment, totals=totals, customers=customers,
                                     next_cursor=next_cursor).model_dump(mode="json"))


class StatementLine(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    kind: str = Field(description="order, cancellation, return, invoice, payment or credit_note.")
    order_id: uuid.UUID | None
    ref: str
    amount: str = Field(description="Signed: + owed more, − owed less (an invoice: 0).")
    balance: str = Field(description="The running balance after this line.")


class Statement(BaseModel):
    customer_id: uuid.UUID
    start: datetime | None = Field(alias="from")
    to: datetime
    as_of: datetime
    opening_balance: str = Field(description="What the customer owed less their credit before `from` (signed).")
    lines: list[StatementLine]
    closing_balance: str
    credit: Money = Field(description="Money on the account paying no instalment (now).")
    ageing: Buckets


@router.get("/customers/{customer_id:uuid}/statement", response_model=Statement, summary="A customer's statement",
            description="Opening balance before `from`, every line (orders on account, returns, cancellations, "
            "invoices, payments, credit notes) up to `to` with the running balance, the closing balance, and the "
            "customer's ageing as of `as_of`.",
            responses={422: {"model": Problem}, **SCOPED_ANSWERS})
async def statement(customer_id: uuid.UUID, request: Request,
                    start: Annotated[BusinessTime | None, Query(alias="from")] = None,
                    to: Annotated[BusinessTime | None, Query()] = None, as_of: AsOf = None,
                    principal: Principal = require("orders:read")) -> Response:
    now = datetime.now(UTC)
    end, moment = to or now, as_of or now
    if start is not None and start > end:
        raise Invalid("from is after to", errors=[FieldProblem("query.from", "after `to`")])
    await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        opening = await payments.ledger_before(conn, customer_id, start or EPOCH)
        rows = await payments.ledger_between(conn, customer_id, start or EPOCH, end, STATEMENT_LINES)
        credit = await payments.credit_of(conn, customer_id)
        aged = await store.per_customer(conn, moment, owner_filter=None, after=None, limit=1,
                                        customer_id=customer_id)
    balance = opening
    lines: list[dict[str, Any]] = []
    for r in rows:
        balance += r["amount"]
        lines.append({**dict(r), "amount": str(r["amount"]), "balance": str(balance)})
    body = Statement.model_validate({
        "customer_id": customer_id, "from": start, "to": end, "as_of": moment, "opening_balance": str(opening),
        "lines": lines, "closing_balance": str(balance), "credit": credit,
        "ageing": aged[0][1] if aged else Buckets()})
    return json_response(200, body.model_dump(mode="json", by_alias=True))


class OverdueRaised(BaseModel):
    customer_id: uuid.UUID
    order_id: uuid.UUID
    instalment_no: int
    due_at: datetime
    amount_due: Money


class SweepResult(BaseModel):
    as_of: datetime
    raised: list[OverdueRaised]


@router.post("/admin/receivables/sweep", response_model=SweepResult, responses={422: {"model": Problem}},
             summary="Raise PaymentOverdue for every instalment past due unpaid at as_of (now by default)",
             description="What the background sweeper (every `KEHU_OVERDUE_SWEEP_S`) does. Each instalment is raised "
             "once: a second sweep raises nothing again. `as_of` may not be in the future.")
async def sweep(request: Request, as_of: AsOf = None, idempotency_key: IdempotencyKeyHeader = None,
                principal: Principal = require("credit:manage")) -> Response:
    now = datetime.now(UTC)
    moment = as_of or now
    if moment > now + MAX_CLOCK_SKEW:
        raise Invalid("as_of is in the future: only time that has passed makes a payment overdue",
                      errors=[FieldProblem("query.as_of", "in the future", "in_future")])

    async def write(conn: asyncpg.Connection) -> Reply:
        raised = await sweep_once(conn, moment)
        return Reply(200, SweepResult(as_of=moment, raised=[OverdueRaised(
            customer_id=e.customer_id, order_id=e.order_id, instalment_no=e.instalment_no, due_at=e.due_at,
            amount_due=e.amount_due) for e in raised]).model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)
