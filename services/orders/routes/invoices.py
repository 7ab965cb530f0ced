"""HTTP routes of invoices: issue one for an order, list, read, set its fapiao number (§14.2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.orders.domain import allocation
from services.orders.store import invoices as store
from services.orders.store import payments
from shared.auth import Principal
from shared.customers import SCOPED_ANSWERS, ensure_may_see
from shared.errors import Conflict, Invalid, NotFound
from shared.events import InvoiceIssued, Money, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import scope_of
from shared.writes import write_once

router = APIRouter(tags=["receivables"])


class NewInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    official_number: str | None = Field(None, min_length=1, max_length=64,
                                        description="The fapiao number (发票号码), if already known.")
    amount: Money | None = Field(None, description="Default: what the order owes, or its total when it owes nothing.")


class InvoicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    official_number: str | None = Field(min_length=1, max_length=64, description="The fapiao number; null clears it.")


class Invoice(BaseModel):
    id: uuid.UUID
    number: str = Field(description="kehu's number, INV-<year>-<sequence>.")
    order_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    official_number: str | None
    issued_at: datetime
    issued_by: str


class InvoicePage(BaseModel):
    items: list[Invoice]


def _answer(row: dict[str, object]) -> dict[str, object]:
    return Invoice.model_validate(row).model_dump(mode="json")


@router.post("/orders/{order_id:uuid}/invoices", status_code=201, response_model=Invoice, summary="Issue an invoice",
             description="Numbered by kehu (INV-<year>-<sequence>); publishes InvoiceIssued. An invoice is no money "
             "owed: it is listed on the customer's statement.",
             responses={404: {"model": Problem}, 409: {"model": Problem, "description": "the order is cancelled"},
                        422: {"model": Problem, "description": "amount above the order's total"}, **SCOPED_ANSWERS})
async def issue_invoice(order_id: uuid.UUID, body: NewInvoice, request: Request,
                        idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("orders:write")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        head = await payments.order_head(conn, order_id)
    if head is None:
        raise NotFound(f"no order {order_id}")
    await ensure_may_see(request, principal, head.customer_id)

    async def write(conn: asyncpg.Connection) -> Reply:
        order = await payments.order_head(conn, order_id)
        assert order is not None
        if order.status == "cancelled":
            raise Conflict(f"order {order_id} is cancelled: it is invoiced no more")
        owed = allocation.owed(await payments.instalments_of_order(conn, order_id))
        amount = body.amount if body.amount is not None else (owed or order.total)
        if amount > order.total:
            raise Invalid.field("amount", f"{amount} is more than the order's total {order.total}")
        now = datetime.now(UTC)
        invoice_id = new_id()
        number = await store.next_number(conn, now.year)
        await store.insert_invoice(conn, invoice_id=invoice_id, number=number, order_id=order_id,
                                   customer_id=order.customer_id, amount=amount,
                                   official_number=body.official_number, issued_at=now, issued_by=principal.name)
        await payments.insert_ledger(conn, line_id=invoice_id, customer_id=order.customer_id, kind="invoice",
                                     order_id=order_id, ref=number, amount=Decimal("0.00"), occurred_at=now)
        await append(conn, InvoiceIssued(customer_id=order.customer_id, occurred_at=now, invoice_id=invoice_id,
                                         order_id=order_id, number=number, official_number=body.official_number,
                                         amount=amount))
        row = await store.invoice_by_id(conn, invoice_id)
        assert row is not None
        return Reply(201, _answer(row), {"Location": f"/invoices/{invoice_id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.get("/invoices", response_model=InvoicePage, summary="Invoices, newest first", responses=SCOPED_ANSWERS)
async def list_invoices(request: Request, customer_id: uuid.UUID | None = None, order_id: uuid.UUID | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100,
                        principal: Principal = require("orders:read")) -> Response:
    if customer_id is not None:
        await ensure_may_see(request, principal, customer_id)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.list_invoices(conn, customer_id=customer_id, order_id=order_id, limit=limit,
                                         owner_filter=scope_of(principal).owner_filter)
    return json_response(200, {"items": [_answer(r) for r in rows]})


@router.get("/invoices/{invoice_id:uuid}", response_model=Invoice, summary="One invoice",
            responses={404: {"model": Problem}, **SCOPED_ANSWERS})
async def get_invoice(invoice_id: uuid.UUID, request: Request, principal: Principal = require("orders:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await store.invoice_by_id(conn, invoice_id)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    await ensure_may_see(request, principal, row["customer_id"])
    return json_response(200, _answer(row))


@router.patch("/invoices/{invoice_id:uuid}", response_model=Invoice, summary="Set an invoice's fapiao number",
              responses={404: {"model": Problem}, 422: {"model": Problem}, **SCOPED_ANSWERS})
async def patch_invoice(invoice_id: uuid.UUID, body: InvoicePatch, request: Request,
                        idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("orders:write")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        found = await store.invoice_by_id(conn, invoice_id)
    if found is None:
        raise NotFound(f"no invoice {invoice_id}")
    await ensure_may_see(request, principal, found["customer_id"])

    async def write(conn: asyncpg.Connection) -> Reply:
        row = await store.set_official_number(conn, invoice_id, body.official_number)
        assert row is not None
        return Reply(200, _answer(row))

    return await write_once(request, principal, idempotency_key, write)
