"""Transactional outbox: append in the caller's transaction; a relay publishes to Kafka.

``append`` is the only way a service publishes: it inserts the event beside the change it
describes, in the same transaction, so an event exists if and only if the change committed.
``OutboxRelay`` (one per service process, one active per database thanks to an advisory lock)
publishes unsent rows in id order, waits for the broker's acknowledgements, then stamps
``sent_at``. A crash between the two publishes a row twice; consumers de-duplicate by ``ce_id``.

Order: rows are published in id order. Two transactions that commit out of id order can be
published out of order; for one customer that needs two concurrent writes about the same
customer, and every consumer orders by ``occurred_at`` rather than arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from opentelemetry import trace

from shared.consumer import stop_task
from shared.events import Envelope, Event, new_id
from shared.kafka import all_topics, ensure_topics, make_producer
from shared.sql import load_queries
from shared.telemetry import context_from_traceparent, current_traceparent, instruments, tracer

log = logging.getLogger(__name__)

Q = load_queries(Path(__file__).parent / "sql" / "outbox.sql")
_RELAY_LOCK = 0x6B656875_01  # one active relay per database


async def append(conn: asyncpg.Connection, *events: Event) -> list[uuid.UUID]:
    """Insert events into the outbox within the caller's transaction; returns their ce_ids."""
    ids = [new_id() for _ in events]
    traceparent = current_traceparent()
    await conn.execute(
        Q["append"],
        ids,
        [e.topic() for e in events],
        [e.ce_type() for e in events],
        [f"/kehu/{e.service}" for e in events],
        [str(e.customer_id) for e in events],
        [e.model_dump(mode="json") for e in events],
        [e.occurred_at for e in events],
        [traceparent] * len(events),
    )
    return ids


class OutboxRelay:
    """Publishes the outbox of one service database to Kafka."""

    def __init__(
        self,
        *,
        service: str,
        database_url: str,
        pool: asyncpg.Pool,
        bootstrap: str,
        partitions: int,
        batch: int = 500,
        poll_s: float = 1.0,
        retention_days: int = 0,
    ) -> None:
        self.service = service
        self.database_url = database_url
        self.pool = pool
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.batch = batch
        self.poll_s = poll_s
        self.retention_days = retention_days
        self.broker_ok = False
        self.is_leader = False
        # Highest offset the broker acknowledged per (topic, partition) since this relay started:
        # the true high watermark, which Tansu's end_offsets() does not report reliably.
        self.acked: dict[tuple[str, int], int] = {}
        self._wake = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._idle = asyncio.Event()
        self._stopping = False
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self, grace_s: float = 15.0) -> None:
        """Finish the round in hand; a relay stuck on an unreachable broker is cancelled after
        ``grace_s`` (its rows stay unsent and are published after the restart)."""
        self._stopping = True
        self._wake.set()
        self._resumed.set()
        if self._task is not None:
            await stop_task(self._task, grace_s)

    async def pause(self) -> dict[str, int]:
        """Stop publishing after the current round; returns the acknowledged high watermarks."""
        self._resumed.clear()
        self._wake.set()
        if self.is_leader:
            await self._idle.wait()
        return {f"{t}/{p}": off + 1 for (t, p), off in sorted(self.acked.items())}

    def resume(self, *, broker_replaced: bool = False) -> None:
        # A replaced broker starts its offsets again at 0. A kept one does not: clearing then
        # would make the next pause report only what was published since, and a recycle would
        # think consumers caught up that were not (seen: 921 orders lost to a lagging consumer).
        if broker_replaced:
            self.acked.clear()
        self._resumed.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    # -- loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._lead()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay lost its database connection (%s); retrying in %.1fs", exc, backoff)
                self.is_leader = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                # Never die silently: unsent rows stay unsent and are published after the restart.
                log.exception("outbox relay failed; restarting it")
                self.is_leader = False
                await asyncio.sleep(1.0)

    async def _lead(self) -> None:
        listener = await asyncpg.connect(self.database_url)
        try:
            while not await listener.fetchval(Q["try_relay_lock"], _RELAY_LOCK):
                if self._stopping:
                    return
                await asyncio.sleep(2.0)  # another replica's relay is active; stand by
            self.is_leader = True
            await listener.add_listener("kehu_outbox", self._on_notify)
            try:
                await self._publish_loop()
            finally:
                await self._close_producer()
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await listener.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Rows were committed: publish them now rather than at the next poll."""
        self._wake.set()

    async def _publish_loop(self) -> None:
        backoff = 0.1
        last_housekeeping = 0.0
        last_purge = 0.0
        while not self._stopping:
            if not self._resumed.is_set():
                self._idle.set()
                await self._resumed.wait()
                continue
            self._idle.clear()
            now = time.monotonic()
            if now - last_housekeeping > 1.0:
                last_housekeeping = now
                await self._report_backlog()
            if self.retention_days > 0 and now - last_purge > 3600:
                last_purge = now
                await self._purge()
            self._wake.clear()
            try:
                published = await self._publish_round()
                backoff = 0.1
            except (KafkaError, TimeoutError) as exc:
                self.broker_ok = False
                await self._close_producer()
                if isinstance(exc, UnknownTopicOrPartitionError):
                    with contextlib.suppress(KafkaError, OSError):
                        await ensure_topics(self.bootstrap, all_topics(), self.partitions)
                log.warning("outbox relay cannot publish (%s); retrying in %.1fs", type(exc).__name__, backoff)
                self._idle.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if published < self.batch:
                self._idle.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.bootstrap, client_id=f"kehu-{self.service}-relay")
            try:
                await asyncio.wait_for(producer.start(), 15)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def _publish_round(self) -> int:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["unsent"], self.batch)
        if not rows:
            return 0
        producer = await self._producer_ready()
        self.broker_ok = True
        futures = []
        for row in rows:
            parent = context_from_traceparent(row["traceparent"])
            with tracer().start_as_current_span(
                f"{row['topic']} publish", context=parent, kind=trace.SpanKind.PRODUCER
            ) as span:
                span.set_attribute("messaging.system", "kafka")
                span.set_attribute("messaging.destination.name", row["topic"])
                span.set_attribute("messaging.message.id", str(row["event_id"]))
                envelope = Envelope(
                    id=row["event_id"],
                    type=row["event_type"],
                    source=row["source"],
                    subject=row["subject"],
                    time=row["recorded_at"],
                    data=row["data"].encode(),  # jsonb's text form is JSON already
                    traceparent=current_traceparent(),
                )
                key, value, headers = envelope.to_record()
                futures.append(await producer.send(row["topic"], value=value, key=key, headers=headers))
        results = await asyncio.gather(*futures)
        for meta in results:
            tp = (meta.topic, meta.partition)
            if meta.offset > self.acked.get(tp, -1):
                self.acked[tp] = meta.offset
        async with self.pool.acquire() as conn:
            await conn.execute(Q["mark_sent"], [r["id"] for r in rows], datetime.now(UTC))
        instruments().outbox_published.add(len(rows), {"service": self.service})
        return len(rows)

    async def _report_backlog(self) -> None:
        async with self.pool.acquire() as conn:
            backlog = await conn.fetchval(Q["backlog"])
        instruments().outbox_backlog.set(backlog, {"service": self.service})

    async def _purge(self) -> None:
        async with self.pool.acquire() as conn:
            deleted = await conn.execute(Q["purge_sent"], self.retention_days)
        log.info("outbox retention: %s", deleted)
