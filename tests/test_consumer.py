"""The shared consumer on the real broker and database: poison isolation and the reset guard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from kehu.embedded import EmbeddedBroker
from shared.consumer import Consumer, Delivery
from shared.db import create_pool, prepare_database
from shared.events import CustomerRegistered, envelope_for
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.conftest import eventually

pytestmark = pytest.mark.database

POISON_NAME = "makes the projection fail"


@pytest.fixture
async def pool(pg_url: str, fresh_databases: Callable[[str], str], tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_seen.sql").write_text(
        "CREATE TABLE seen (event_id uuid PRIMARY KEY, name text NOT NULL);")
    url = await prepare_database(pg_url, fresh_databases("consumer"), tmp_path / "migrations")
    settings = Settings()
    created = await create_pool(url, size=2, acquire_timeout_s=settings.db_acquire_timeout_s,
                                command_timeout_s=settings.db_command_timeout_s)
    yield created
    await created.close()


async def apply(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        assert isinstance(delivery.event, CustomerRegistered)
        if delivery.event.name == POISON_NAME:
            raise ValueError("this event cannot be projected")
        await conn.execute("INSERT INTO seen VALUES ($1, $2)", delivery.envelope.id, delivery.event.name)


async def publish(bootstrap: str, names: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for name in names:
            event = CustomerRegistered(customer_id=uuid.uuid4(), occurred_at="2026-01-01T00:00:00Z", name=name)
            key, value, headers = envelope_for(event).to_record()
            await producer.send("kehu.contacts", value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def _count(pool: asyncpg.Pool, query: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(query))


async def test_an_event_the_projection_cannot_apply_is_dead_lettered_alone(
    broker: EmbeddedBroker, pool: asyncpg.Pool
) -> None:
    await ensure_topics(broker.bootstrap, ["kehu.contacts", "kehu.contacts.dlq.probe"], 1)
    # One partition, one batch: the poison sits between good events of the same transaction.
    await publish(broker.bootstrap, ["a", "b", POISON_NAME, "c", "d"])
    consumer = Consumer(name="probe", topics=("kehu.contacts",), pool=pool, bootstrap=broker.bootstrap, apply=apply)
    consumer.start()
    try:
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 4), timeout=20)
        await publish(broker.bootstrap, ["e"])  # and the partition moves on
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 5), timeout=20)
    finally:
        await consumer.stop()
    async with pool.acquire() as conn:
        names = sorted(r["name"] for r in await conn.fetch("SELECT name FROM seen"))
        letters = await conn.fetch("SELECT error FROM dead_letters")
    assert names == ["a", "b", "c", "d", "e"]
    assert [r["error"] for r in letters] == ["projection failed: this event cannot be projected"]


async def test_after_a_broker_restart_a_running_consumer_reads_the_new_topic_from_the_start(
    broker: EmbeddedBroker, pool: asyncpg.Pool
) -> None:
    await ensure_topics(broker.bootstrap, ["kehu.contacts"], 1)
    await publish(broker.bootstrap, [f"before {i}" for i in range(20)])
    consumer = Consumer(name="probe", topics=("kehu.contacts",), pool=pool, bootstrap=broker.bootstrap, apply=apply)
    consumer.start()
    try:
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 20), timeout=20)
        broker.stop()
        broker.start()  # empty: its offsets begin again at 0, below the consumer's position 20
        await ensure_topics(broker.bootstrap, ["kehu.contacts"], 1)
        await publish(broker.bootstrap, [f"after {i}" for i in range(3)])
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 23), timeout=30)
    finally:
        await consumer.stop()
    assert await _count(pool, "SELECT count(*) FROM inbox WHERE consumer = 'probe'") == 23


async def _count_is(pool: asyncpg.Pool, query: str, n: int) -> bool:
    return await _count(pool, query) >= n


def _fetch_wait(consumer: Consumer) -> int | None:
    running = consumer._consumer
    return None if running is None or running._fetcher is None else int(running._fetcher._fetch_max_wait_ms)


async def test_an_idle_consumer_fetches_with_its_idle_wait_and_goes_back_with_the_next_record(
    broker: EmbeddedBroker, pool: asyncpg.Pool
) -> None:
    await ensure_topics(broker.bootstrap, ["kehu.contacts"], 1)
    await publish(broker.bootstrap, ["first"])
    consumer = Consumer(name="probe", topics=("kehu.contacts",), pool=pool, bootstrap=broker.bootstrap, apply=apply,
                        fetch_max_wait_ms=10, idle_fetch_wait_ms=300)
    consumer.start()
    try:
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 1), timeout=20)
        # A second without a record: the consumer stops asking the broker 100 times a second.
        await eventually(lambda: _async(_fetch_wait(consumer) == 300), timeout=10)
        await publish(broker.bootstrap, ["second"])
        await eventually(lambda: _count_is(pool, "SELECT count(*) FROM seen", 2), timeout=20)
        assert _fetch_wait(consumer) == 10  # busy again: short fetches, fast delivery
    finally:
        await consumer.stop()


async def _async(value: bool) -> bool:
    return value


def test_an_idle_wait_not_longer_than_the_fetch_wait_is_ignored() -> None:
    consumer = Consumer(name="probe", topics=("kehu.contacts",), pool=None,  # type: ignore[arg-type]
                        bootstrap="unused:9092", apply=apply, fetch_max_wait_ms=500, idle_fetch_wait_ms=250)
    assert consumer.idle_fetch_wait_ms is None
