"""A customer's account (docs/architecture.md §14.2): money allocated to open instalments, the
credit left over, the ledger lines, and the events each change publishes. Callers hold the
transaction; every function here first takes the customer's lock (``payments.lock_customer``).

The rule for credit (money on the account that pays no instalment): it never waits beside open
instalments. After every change of a customer's receivables (an order on account, a cancel, a
return, a payment, a credit note) the credit pays their open instalments, oldest due first.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.orders.domain.allocation import ZERO, allocate
from services.orders.domain.receivables import scheduled
from services.orders.store import payments as store
from shared.events import CreditNoteIssued, Event, PaymentAllocation, PaymentMethod, PaymentRecorded, new_id


async def apply_allocations(conn: asyncpg.Connection, customer_id: uuid.UUID,
                            allocations: Sequence[PaymentAllocation], now: datetime) -> list[Event]:
    """Allocations written to their instalments; one ReceivableScheduled per order changed."""
    by_order: dict[uuid.UUID, list[PaymentAllocation]] = defaultdict(list)
    for a in allocations:
        by_order[a.order_id].append(a)
    events: list[Event] = []
    for order_id, allocs in by_order.items():
        revision = await store.add_paid(conn, order_id, allocs)
        events.append(scheduled(customer_id, order_id, revision, await store.instalments_of_order(conn, order_id), now))
    return events


async def settle_credit(conn: asyncpg.Connection, customer_id: uuid.UUID, now: datetime) -> list[Event]:
    """The customer's credit pays their open instalments, oldest due first."""
    credit = await store.credit_of(conn, customer_id)
    if credit <= ZERO:
        return []
    allocations, rest = allocate(credit, await store.open_instalments(conn, customer_id))
    if not allocations:
        return []
    await store.add_credit(conn, customer_id, rest - credit)
    return await apply_allocations(conn, customer_id, allocations, now)


async def receive(conn: asyncpg.Connection, *, customer_id: uuid.UUID, method: PaymentMethod, amount: Decimal,
                  received_at: datetime, reference: str | None, by: str, now: datetime,
                  order_first: uuid.UUID | None = None, credit_note_id: uuid.UUID | None = None,
                  payment_id: uuid.UUID | None = None) -> tuple[PaymentRecorded, list[Event]]:
    """Money received (or a credit note): allocated oldest due first (``order_first``'s instalments
    before any other), the rest kept as credit; PaymentRecorded and the schedules it changed."""
    await store.lock_customer(conn, customer_id)
    payment_id = payment_id or new_id()
    allocations, rest = allocate(amount, await store.open_instalments(conn, customer_id), order_first=order_first)
    changed = await apply_allocations(conn, customer_id, allocations, now)
    await store.add_credit(conn, customer_id, rest)
    await store.insert_payment(
        conn, payment_id=payment_id, customer_id=customer_id, method=method, amount=amount, unallocated=rest,
        received_at=received_at, reference=reference, recorded_by=by, recorded_at=now,
        credit_note_id=credit_note_id, allocations=allocations)
    await store.insert_ledger(
        conn, line_id=payment_id, customer_id=customer_id, kind="credit_note" if credit_note_id else "payment",
        order_id=order_first, ref=reference or "", amount=-amount, occurred_at=received_at)
    recorded = PaymentRecorded(
        customer_id=customer_id, occurred_at=received_at, payment_id=payment_id, method=method, amount=amount,
        allocations=allocations, unallocated=rest, reference=reference, recorded_by=by)
    return recorded, changed


async def issue_credit_note(conn: asyncpg.Connection, *, customer_id: uuid.UUID, amount: Decimal, reason: str,
                            ticket_id: uuid.UUID | None, by: str, now: datetime,
                            occurred_at: datetime | None = None) -> tuple[uuid.UUID, list[Event]] | None:
    """A credit note, allocated like a payment with method credit_note; None when the ticket already
    has one (a TicketResolved delivered again)."""
    credit_note_id = new_id()
    at = occurred_at or now
    await store.lock_customer(conn, customer_id)
    if not await store.insert_credit_note(conn, credit_note_id=credit_note_id, customer_id=customer_id, amount=amount,
                                          reason=reason, ticket_id=ticket_id, issued_at=at, issued_by=by):
        return None
    issued = CreditNoteIssued(customer_id=customer_id, occurred_at=at, credit_note_id=credit_note_id, amount=amount,
                              reason=reason, ticket_id=ticket_id)
    recorded, changed = await receive(conn, customer_id=customer_id, method="credit_note", amount=amount,
                                      received_at=at, reference=None, by=by, now=now,
                                      credit_note_id=credit_note_id, payment_id=credit_note_id)
    return credit_note_id, [issued, recorded, *changed]
