"""Kafka client settings that fit both Apache Kafka and the embedded Tansu broker.

Measured on Tansu (docs/architecture.md §9): no idempotent producer or transactions, so delivery is
at-least-once and every consumer is idempotent; group joins need short session timeouts; the
default ``fetch_max_wait_ms=500`` adds ~250 ms per hop under load, so consumers fetch with a short wait
while records arrive and a long one when idle (``set_fetch_wait``, ``shared.consumer``).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import TOPICS

log = logging.getLogger(__name__)

# Which consumer group reads which topics. The dead-letter topic of a consumer on a topic is
# ``<topic>.dlq.<consumer>``. `kehu up` uses this to create topics and to wait for every group
# to catch up before it recycles the embedded broker.
CONSUMERS: dict[str, tuple[str, ...]] = {
    "orders": ("kehu.contacts",),
    "tickets": ("kehu.contacts",),
    "insights": ("kehu.contacts", "kehu.orders", "kehu.tickets"),
}


def dlq_topic(topic: str, consumer: str) -> str:
    return f"{topic}.dlq.{consumer}"


def all_topics() -> list[str]:
    dlqs = [dlq_topic(t, c) for c, topics in CONSUMERS.items() for t in topics]
    return [*TOPICS, *dlqs]


def make_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,  # Tansu refuses it; consumers de-duplicate by ce_id instead.
        linger_ms=2,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
    )


def make_consumer(bootstrap: str, *, group: str, topics: tuple[str, ...], fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        client_id=f"kehu-{group}",
        group_id=group,
        enable_auto_commit=False,  # offsets are committed after the database commit, by hand
        auto_offset_reset="earliest",  # "latest" relies on end offsets, which Tansu reports wrong
        isolation_level="read_uncommitted",
        fetch_max_wait_ms=fetch_max_wait_ms,
        session_timeout_ms=3000,
        heartbeat_interval_ms=300,
        retry_backoff_ms=100,
    )


def set_fetch_wait(consumer: AIOKafkaConsumer, fetch_max_wait_ms: int) -> None:
    """Change a running consumer's fetch wait; it applies from the next fetch request on.

    aiokafka has no public setter: its fetcher reads this attribute each time it builds a fetch
    request (aiokafka 0.14, pinned; ``tests/test_consumer.py`` fails if the attribute goes away).
    """
    fetcher = consumer._fetcher  # private: see the docstring
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        raise RuntimeError("this aiokafka's fetcher has no _fetch_max_wait_ms: the adaptive fetch wait needs updating")
    fetcher._fetch_max_wait_ms = fetch_max_wait_ms


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int) -> list[str]:
    """Create the topics that are missing; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kehu-admin", request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), 10)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()
