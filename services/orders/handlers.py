"""Kafka subscribers of orders: the replica of known customer ids, fed by ``kehu.contacts``, and the
replica of credit tiers, fed by ``kehu.insights``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.orders.store import credit
from services.orders.store.orders import MERGES
from shared.consumer import Delivery
from shared.customers import apply_contacts_events
from shared.runtime import ConsumerSpec


async def apply_contacts(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.contacts``: the replica of known customers, then merges (re-keying this service's rows)."""
    await apply_contacts_events(conn, deliveries)
    await MERGES.apply(conn, deliveries)



async def apply_insights(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.insights``: the replica of credit tiers (CreditStandingChanged; other events ignored)."""
    await credit.apply_standings(conn, deliveries)


CONSUMERS = [ConsumerSpec(name="orders", topics=("kehu.contacts",), apply=apply_contacts),
             ConsumerSpec(name="orders-credit", topics=("kehu.insights",), apply=apply_insights)]
