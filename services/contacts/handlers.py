"""Kafka subscribers of contacts: orders (``kehu.orders``) keep each customer's first and last order
time, and a first order makes a customer current (domain/categories.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import asyncpg

from services.contacts.domain.categories import change_by_order
from services.contacts.store import categories as store
from shared.consumer import Delivery
from shared.events import OrderPlaced
from shared.outbox import append
from shared.runtime import ConsumerSpec

log = logging.getLogger(__name__)


async def apply_orders_events(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """One batch of ``kehu.orders`` in the consumer's transaction (the inbox has dropped events seen
    before; the effect is idempotent anyway: times only widen, a current customer stays current)."""
    orders = sorted((d.event for d in deliveries if isinstance(d.event, OrderPlaced)), key=lambda o: o.occurred_at)
    if not orders:
        return
    known = await store.categories_for_orders(conn, [o.customer_id for o in orders])
    times: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for order in orders:
        customer = known.get(order.customer_id)
        if customer is None:  # an order of a customer this database never had: nothing to update
            log.warning("order %s of unknown customer %s skipped", order.order_id, order.customer_id)
            continue
        first, last = times.get(order.customer_id, (order.occurred_at, order.occurred_at))
        times[order.customer_id] = (min(first, order.occurred_at), max(last, order.occurred_at))
        change = change_by_order(customer.state, order)
        if change is None:
            continue
        await store.apply_change(conn, order.customer_id, change)
        await append(conn, change.event)
        known[order.customer_id] = replace(
            customer, state=replace(customer.state, category=change.category, category_changed_at=change.changed_at))
    if times:
        await store.record_order_times(conn, times)


CONSUMERS = [ConsumerSpec(name="contacts", topics=("kehu.orders",), apply=apply_orders_events)]
