"""Kafka subscribers of tickets: the replica of known customer ids, fed by ``kehu.contacts``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.tickets.store.tickets import MERGES
from shared.consumer import Delivery
from shared.customers import apply_contacts_events
from shared.runtime import ConsumerSpec


async def apply_contacts(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """``kehu.contacts``: the replica of known customers, then merges (re-keying this service's rows)."""
    await apply_contacts_events(conn, deliveries)
    await MERGES.apply(conn, deliveries)



CONSUMERS = [ConsumerSpec(name="tickets", topics=("kehu.contacts",), apply=apply_contacts)]
