"""Kafka subscribers of insights: every event about a customer lands on their timeline."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.insights import store
from shared.consumer import Delivery
from shared.runtime import ConsumerSpec


async def project(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    await store.add_to_timeline(conn, deliveries)


CONSUMERS = [
    ConsumerSpec(name="insights", topics=("kehu.contacts", "kehu.orders", "kehu.tickets"), apply=project),
]
