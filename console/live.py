"""Live pages: the console follows kehu's topics and tells every open page what changed.

The console keeps no copy of what it reads: it needs to know only *that* something changed for a
customer (an alert raised or acknowledged, a complaint filed) to have the page refetch the part
that shows it, through the services' APIs like any other read. So it reads the topics with no
consumer group, from their end, and commits nothing: every console replica sees every change,
and a restart loses nothing a page needs (pages also refresh their live parts every minute, which
covers a record missed while the broker was recycled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from console.web import Viewer, viewer
from shared.backoff import Backoff

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
TOPICS = ("kehu.insights", "kehu.tickets", "kehu.orders", "kehu.contacts")
HEARTBEAT_S = 15.0
QUEUE_SIZE = 256


@dataclass(frozen=True)
class Change:
    """One event, as much as a page needs to decide whether to refresh: its type and customer."""

    topic: str
    type: str
    customer_id: str | None

    def sse(self) -> str:
        data = json.dumps({"topic": self.topic, "type": self.type, "customer_id": self.customer_id})
        return f"event: change\ndata: {data}\n\n"


def change_of(topic: str, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Change | None:
    """``kehu.insights.CustomerAlertRaised.v1`` → ``CustomerAlertRaised``; records without a
    CloudEvents type are not kehu's and are ignored."""
    found = {k: v.decode("utf-8", "replace") for k, v in headers if k in ("ce_type", "ce_subject")}
    ce_type = found.get("ce_type")
    if not ce_type:
        return None
    parts = ce_type.split(".")
    name = parts[2] if len(parts) >= 4 else ce_type
    return Change(topic, name, found.get("ce_subject"))


class LiveFeed:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._subscribers: set[asyncio.Queue[Change]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        # Set when the process is asked to stop: open streams end at once, so the server's
        # graceful shutdown does not wait its whole timeout for pages that never hang up.
        self.closing = asyncio.Event()

    def end_streams_on_signals(self) -> None:
        """Chain a handler before the server's own for SIGTERM and SIGINT (uvicorn installs its
        handlers before the app starts)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue

            def handler(number: int, frame: FrameType | None, previous: Callable[..., Any] = previous) -> None:
                loop.call_soon_threadsafe(self.closing.set)
                previous(number, frame)

            signal.signal(signum, handler)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="console-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def publish(self, change: Change) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a page that stopped reading misses changes, not memory
                queue.put_nowait(change)

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            consumer = AIOKafkaConsumer(*TOPICS, bootstrap_servers=self.bootstrap, group_id=None,
                                        auto_offset_reset="latest", enable_auto_commit=False,
                                        fetch_max_wait_ms=100)
            try:
                await consumer.start()
                self.connected = True
                backoff.reset()
                async for record in consumer:
                    change = change_of(record.topic, record.headers)
                    if change is not None:
                        self.publish(change)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker restarts (a recycle) or is away: follow again
                log.warning("live feed lost the broker: %s: %s", type(exc).__name__, exc)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await backoff.wait()


@router.get("/live")
async def live(request: Request, who: Viewer = Depends(viewer)) -> StreamingResponse:
    """Server-sent events: ``change`` for each event on kehu's topics, a comment every 15 s."""
    feed: LiveFeed = request.app.state.live

    async def stream() -> AsyncIterator[str]:
        with feed.subscription() as queue:
            yield "retry: 3000\n\n"
            closing = asyncio.ensure_future(feed.closing.wait())
            getting: asyncio.Future[Change] | None = None
            try:
                while not await request.is_disconnected() and not feed.closing.is_set():
                    getting = getting or asyncio.ensure_future(queue.get())  # kept across heartbeats
                    waiters: set[asyncio.Future[Any]] = {getting, closing}
                    done, _ = await asyncio.wait(waiters, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
                    if getting in done:
                        yield getting.result().sse()
                        getting = None
                    elif not feed.closing.is_set():
                        yield ": still here\n\n"
            finally:  # the page went away or the process stops: leave no waiting task behind
                for waiting in (getting, closing):
                    if waiting is not None and not waiting.done():
                        waiting.cancel()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
