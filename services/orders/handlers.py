"""Kafka subscribers of orders: the replica of known customer ids, fed by ``kehu.contacts``; credit
notes for resolved tickets' compensation (``kehu.tickets``); the replica of credit tiers, fed by
``kehu.insights``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.orders.accounts import issue_credit_note
from services.orders.store import credit
from services.orders.store.orders import MERGES
from shared.consumer import Delivery
from shared.customers import apply_contacts_events
from shared.events import TicketResolved
from shared.outbox import append
from shared.runtime import ConsumerSpec


async def apply_contacts(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.contacts``: the replica of known customers, then merges (re-keying this service's rows)."""
    await apply_contacts_events(conn, deliveries)
    await MERGES.apply(conn, deliveries)


async def apply_tickets(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.tickets``: a TicketResolved with compensation becomes one credit note (unique per
    ticket: a second delivery writes nothing), allocated like a payment (§14.2)."""
    for d in deliveries:
        event = d.event
        if not isinstance(event, TicketResolved) or not event.compensation:
            continue
        issued = await issue_credit_note(
            conn, customer_id=event.customer_id, amount=event.compensation, reason=f"ticket: {event.resolution}"[:1000],
            ticket_id=event.ticket_id, by=event.resolved_by, now=datetime.now(UTC), occurred_at=event.occurred_at)
        if issued is not None:
            await append(conn, *issued[1])


async def apply_insights(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.insights``: the replica of credit tiers (CreditStandingChanged; other events ignored)."""
    await credit.apply_standings(conn, deliveries)


CONSUMERS = [ConsumerSpec(name="orders", topics=("kehu.contacts",), apply=apply_contacts),
             ConsumerSpec(name="orders-credit-notes", topics=("kehu.tickets",), apply=apply_tickets),
             ConsumerSpec(name="orders-credit", topics=("kehu.insights",), apply=apply_insights)]
