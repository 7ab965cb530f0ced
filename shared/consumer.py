"""Idempotent batch consumer: inbox, dead letters, broker-reset guard.

The delivery contract, chosen deliberately (docs/architecture.md §3.2-3.3):

* One database transaction per fetched batch: the inbox rows (``consumer, ce_id``) and the
  projection's changes commit together, so a redelivered event changes nothing.
* The offset is committed to Kafka only after that database commit (at-least-once). A crash in
  between redelivers the batch; the inbox makes the second delivery a no-op.
* A record that cannot be decoded or validated, or whose type this code does not know (an
  unknown version included), is a *poison* record: it is stored in ``dead_letters``, published to
  ``<topic>.dlq.<consumer>`` with the reason in the ``kehu_dlq_error`` header, counted, and the
  partition moves on. If the projection itself fails on one event, the batch is retried one event
  per transaction so only that event is dead-lettered.
* A *transient* failure (database unreachable) is retried with backoff, never dead-lettered, and
  the offset does not move.
* Broker reset guard: a restarted embedded broker begins its offsets at 0 again while a running
  consumer keeps its old position and gets no error (docs/architecture.md §9). When a fetch reports a high
  watermark below the next offset we expect, the consumer seeks to offset 0 of that partition
  (``seek``, not ``seek_to_beginning``: the latter waits on a ListOffsets round trip, which
  stalled for 30 s during the group rejoin that follows a restart); the inbox makes the re-read
  harmless. On Kafka with retention, offset 0 may be gone: ``auto_offset_reset="earliest"``
  then moves to the first offset kept.

This uses aiokafka directly rather than a FastStream subscriber: the guard needs the fetched high
watermark and per-partition seeks, and commits must name exactly the offsets the transaction
covered (FastStream's MANUAL ack commits every partition the consumer holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import trace

from shared.backoff import Backoff
from shared.db import UNAVAILABLE_ERRORS, describe
from shared.events import Envelope, Event, MalformedEvent
from shared.kafka import dlq_topic, make_consumer, make_producer, set_fetch_wait
from shared.sql import load_queries
from shared.telemetry import context_from_traceparent, instruments, tracer

log = logging.getLogger(__name__)

IDLE_AFTER_S = 1.0  # without a record for this long, a consumer fetches with its idle wait

# Retried with backoff, never dead-lettered: the database unreachable, restarting or too slow
# (shared.db's bounds raise TimeoutError), and conflicts that a second try resolves.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *UNAVAILABLE_ERRORS,
    asyncpg.InterfaceError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


@dataclass(frozen=True)
class Delivery:
    """One decoded event as a projection sees it."""

    envelope: Envelope
    event: Event
    topic: str
    partition: int
    offset: int


Apply = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class _DeadLetter:
    record: ConsumerRecord[bytes, bytes]
    error: str


Q = load_queries(Path(__file__).parent / "sql" / "consumer.sql")


class Consumer:
    """Reads ``topics`` as group ``name`` and applies events to the service's database."""

    def __init__(
        self,
        *,
        name: str,
        topics: tuple[str, ...],
        pool: asyncpg.Pool,
        bootstrap: str,
        apply: Apply,
        fetch_max_wait_ms: int = 10,
        idle_fetch_wait_ms: int | None = None,
        max_records: int = 500,
        after_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.topics = topics
        self.pool = pool
        self.bootstrap = bootstrap
        self.apply = apply
        self.fetch_max_wait_ms = fetch_max_wait_ms
        # The fetch wait once nothing has arrived for IDLE_AFTER_S (None: never changes). Tansu
        # answers a fetch at the end of its wait, so a short wait is what makes delivery fast under
        # load, and an idle consumer with it asks the broker 100 times a second: an idle `kehu up`
        # spent a quarter of a core on that, and a replay or an import lost it to them.
        self.idle_fetch_wait_ms = idle_fetch_wait_ms if (idle_fetch_wait_ms or 0) > fetch_max_wait_ms else None
        self.max_records = max_records
        # Called after a batch committed: a projection that appends to its own outbox wakes the relay.
        self.after_commit = after_commit
        self.broker_ok = False
        self._next: dict[TopicPartition, int] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self._rewind_requested = False
        self._rewound = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self, grace_s: float = 15.0) -> None:
        """Finish the batch in hand, commit it, leave the group.

        A consumer not connected (still connecting to an unreachable broker, or waiting to retry)
        holds no batch, so it is cancelled at once; one that does not finish within ``grace_s`` is
        cancelled too. Nothing is lost either way: uncommitted records are delivered again.
        """
        self._stopping = True
        if self._task is None:
            return
        if self._consumer is None:
            self._task.cancel()
        await stop_task(self._task, grace_s)

    async def rewind(self, timeout_s: float = 300.0) -> None:
        """Re-read every assigned partition from offset 0: the broker was replaced by an empty one.

        `kehu up` calls this after recycling the embedded broker and before the relays publish
        again, so no consumer can read on from its old position in the new, shorter topics.
        Records fetched before the rewind are dropped unprocessed (they are read again).
        """
        if self._consumer is None:
            return  # not connected: it will start from the committed offsets, i.e. the beginning
        self._rewound.clear()
        self._rewind_requested = True
        await asyncio.wait_for(self._rewound.wait(), timeout_s)

    # -- loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(first=0.2)
        while not self._stopping:
            consumer = make_consumer(
                self.bootstrap, group=self.name, topics=self.topics, fetch_max_wait_ms=self.fetch_max_wait_ms
            )
            try:
                await asyncio.wait_for(consumer.start(), 15)
            except (KafkaError, OSError, TimeoutError) as exc:
                self.broker_ok = False
                with contextlib.suppress(Exception):
                    await consumer.stop()
                log.warning("consumer %s cannot reach the broker (%s); retrying", self.name, type(exc).__name__)
                await backoff.wait()
                continue
            self._consumer = consumer
            self.broker_ok = True
            backoff.reset()
            try:
                await self._consume(consumer)
            except Exception:
                # Never die silently: whatever broke, the uncommitted batch is fetched again by
                # a fresh consumer, and the inbox makes that harmless.
                log.exception("consumer %s failed; restarting it", self.name)
                await asyncio.sleep(1.0)
            finally:
                self._consumer = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 10)
                await self._close_dlq_producer()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        loop = asyncio.get_running_loop()
        last_records = loop.time()
        idle = False
        while not self._stopping:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
            except KafkaError as exc:
                self.broker_ok = False
                log.warning("consumer %s fetch failed (%s)", self.name, type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            self.broker_ok = True
            if self._rewind_requested:
                for tp in consumer.assignment():
                    consumer.seek(tp, 0)
                self._next.clear()
                self._rewind_requested = False
                self._rewound.set()
                log.info("consumer %s re-reads its partitions from the beginning", self.name)
                continue
            await self._guard_broker_reset(consumer)
            records = [r for tp in sorted(batches, key=lambda t: (t.topic, t.partition)) for r in batches[tp]]
            if not records:
                if not idle and self.idle_fetch_wait_ms is not None and loop.time() - last_records >= IDLE_AFTER_S:
                    set_fetch_wait(consumer, self.idle_fetch_wait_ms)
                    idle = True
                continue
            last_records = loop.time()
            if idle:
                set_fetch_wait(consumer, self.fetch_max_wait_ms)
                idle = False
            await self.process(records)
            offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items() if recs}
            self._next.update(offsets)
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:
                # The group rebalanced (or the broker restarted): the batch will be redelivered
                # to whoever owns the partition now, and the inbox makes that a no-op.
                log.warning("consumer %s could not commit offsets (%s)", self.name, type(exc).__name__)

    async def _guard_broker_reset(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            expected = self._next.get(tp)
            high = consumer.highwater(tp)
            if expected is not None and high is not None:
                if high < expected:
                    log.warning(
                        "consumer %s: %s[%d] high watermark %d is below our position %d: the broker was reset; "
                        "re-reading the partition from the beginning",
                        self.name, tp.topic, tp.partition, high, expected,
                    )
                    consumer.seek(tp, 0)
                    self._next[tp] = 0
                    instruments().broker_resets.add(1, {"consumer": self.name, "topic": tp.topic})
                else:
                    instruments().consumer_lag.set(
                        high - expected, {"consumer": self.name, "topic": tp.topic, "partition": str(tp.partition)}
                    )

    # -- one batch -------------------------------------------------------------------------

    async def process(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply a batch of records exactly once to the database (retrying transient failures)."""
        deliveries: list[Delivery] = []
        dead: list[_DeadLetter] = []
        for record in records:
            try:
                envelope = Envelope.from_record(record.value, list(record.headers))
                event = envelope.decode()
            except MalformedEvent as exc:
                dead.append(_DeadLetter(record, str(exc)))
                continue
            deliveries.append(Delivery(envelope, event, record.topic, record.partition, record.offset))

        spans = [self._receive_span(d) for d in deliveries]
        links = [trace.Link(s.get_span_context()) for s in spans]
        with tracer().start_as_current_span(f"{self.name} process", kind=trace.SpanKind.CONSUMER, links=links) as batch:
            batch.set_attribute("messaging.batch.message_count", len(records))
            try:
                await self._retrying(lambda: self._apply_batch(deliveries, dead))
            except (_PoisonInBatch, _PoisonEvent):
                await self._apply_one_by_one(deliveries, dead)
        for span in spans:
            span.end()
        if dead:
            instruments().dead_letters.add(len(dead), {"consumer": self.name})
            await self._publish_dead_letters(dead)

    def _receive_span(self, delivery: Delivery) -> trace.Span:
        span = tracer().start_span(
            f"{delivery.topic} receive",
            context=context_from_traceparent(delivery.envelope.traceparent),
            kind=trace.SpanKind.CONSUMER,
        )
        span.set_attribute("messaging.consumer.group.name", self.name)
        span.set_attribute("messaging.message.id", str(delivery.envelope.id))
        return span

    async def _retrying(self, attempt: Callable[[], Awaitable[None]]) -> None:
        backoff = Backoff()
        while True:
            try:
                await attempt()
                return
            except TRANSIENT_ERRORS as exc:
                delay = backoff.delay()
                log.warning("consumer %s: database unavailable (%s); retrying in %.1fs", self.name, describe(exc), delay)
                await asyncio.sleep(delay)

    async def _apply_batch(self, deliveries: Sequence[Delivery], dead: Sequence[_DeadLetter]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self._record_in_inbox(conn, deliveries)
            if fresh:
                try:
                    async with conn.transaction():  # savepoint: a poison event must not lose the batch
                        await self.apply(conn, fresh)
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:
                    if len(deliveries) == 1:
                        raise _PoisonEvent(str(exc) or type(exc).__name__) from exc
                    raise _PoisonInBatch from exc
            await self._store_dead_letters(conn, dead)
        self._count(deliveries, fresh)
        if fresh and self.after_commit is not None:
            await self.after_commit()

    async def _apply_one_by_one(self, deliveries: Sequence[Delivery], dead: list[_DeadLetter]) -> None:
        for delivery in deliveries:
            try:
                await self._retrying(lambda d=delivery: self._apply_batch([d], []))  # type: ignore[misc]
            except _PoisonEvent as exc:
                log.error("consumer %s: event %s failed and goes to the dead-letter topic: %s",
                          self.name, delivery.envelope.id, exc)
                record = _record_of(delivery)
                dead.append(_DeadLetter(record, f"projection failed: {exc}"))
        if dead:
            await self._retrying(lambda: self._store_only_dead_letters(dead))

    async def _store_only_dead_letters(self, dead: Sequence[_DeadLetter]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self._store_dead_letters(conn, dead)

    async def _record_in_inbox(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> list[Delivery]:
        if not deliveries:
            return []
        # The same event twice in one batch: only its first copy can be new.
        unique = list({d.envelope.id: d for d in reversed(deliveries)}.values())[::-1]
        rows = await conn.fetch(
            Q["record_inbox"],
            self.name,
            [d.envelope.id for d in unique],
            [d.envelope.type for d in unique],
            [d.topic for d in unique],
            [d.partition for d in unique],
            [d.offset for d in unique],
        )
        new = {r["event_id"] for r in rows}
        return [d for d in unique if d.envelope.id in new]

    async def _store_dead_letters(self, conn: asyncpg.Connection, dead: Sequence[_DeadLetter]) -> None:
        if not dead:
            return
        await conn.execute(
            Q["store_dead_letters"],
            self.name,
            [d.record.topic for d in dead],
            [d.record.partition for d in dead],
            [d.record.offset for d in dead],
            [d.record.key for d in dead],
            [d.record.value for d in dead],
            [_headers_json(d.record.headers) for d in dead],
            [d.error for d in dead],
        )

    def _count(self, deliveries: Sequence[Delivery], fresh: Sequence[Delivery]) -> None:
        if fresh:
            instruments().events_processed.add(len(fresh), {"consumer": self.name})
        if len(deliveries) > len(fresh):
            instruments().events_duplicate.add(len(deliveries) - len(fresh), {"consumer": self.name})

    async def _publish_dead_letters(self, dead: Sequence[_DeadLetter]) -> None:
        """Best effort: the dead letters are already safe in the database."""
        try:
            if self._dlq_producer is None:
                producer = make_producer(self.bootstrap, client_id=f"kehu-{self.name}-dlq")
                await producer.start()
                self._dlq_producer = producer
            futures = []
            for d in dead:
                headers = [
                    *d.record.headers,
                    ("kehu_dlq_error", d.error.encode()),
                    ("kehu_dlq_consumer", self.name.encode()),
                    ("kehu_dlq_origin", f"{d.record.topic}/{d.record.partition}/{d.record.offset}".encode()),
                ]
                futures.append(
                    await self._dlq_producer.send(
                        dlq_topic(d.record.topic, self.name), value=d.record.value, key=d.record.key, headers=headers
                    )
                )
            await asyncio.gather(*futures)
        except (KafkaError, OSError) as exc:
            log.warning("consumer %s: dead letters kept in the database only (%s)", self.name, type(exc).__name__)
            await self._close_dlq_producer()
        for d in dead:
            log.error(
                "dead letter: %s", d.error,
                extra={"consumer": self.name, "topic": d.record.topic, "partition": d.record.partition,
                       "offset": d.record.offset},
            )

    async def _close_dlq_producer(self) -> None:
        if self._dlq_producer is not None:
            producer, self._dlq_producer = self._dlq_producer, None
            with contextlib.suppress(Exception):
                await producer.stop()


async def stop_task(task: asyncio.Task[None], grace_s: float) -> None:
    """Wait for a task that was asked to stop; cancel it if it does not within ``grace_s``."""
    done, _ = await asyncio.wait({task}, timeout=grace_s)
    if not done:
        log.warning("%s did not stop within %.0fs; cancelling it", task.get_name(), grace_s)
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class _PoisonInBatch(Exception):
    """The projection failed on some event of the batch: retry one by one to find it."""


class _PoisonEvent(Exception):
    """The projection failed on this one event for a reason that retrying will not fix."""


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> Any:
    return {name: value.decode(errors="replace") for name, value in headers}


def _record_of(delivery: Delivery) -> ConsumerRecord[bytes, bytes]:
    key, value, headers = delivery.envelope.to_record()
    return ConsumerRecord(
        topic=delivery.topic, partition=delivery.partition, offset=delivery.offset, timestamp=0,
        timestamp_type=0, key=key, value=value, checksum=None, serialized_key_size=len(key),
        serialized_value_size=len(value), headers=tuple(headers),
    )

