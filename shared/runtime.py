"""What every service process runs besides its routes: pool, outbox relay, consumers, probes.

A service's ``app.py`` says what it publishes and consumes; ``ServiceRuntime`` starts and stops
those parts in the right order (SIGTERM: stop fetching, finish the batch in hand, commit, exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from aiokafka import AIOKafkaClient
from fastapi import APIRouter, FastAPI, Query, Request, Response

from shared.auth import TokenStore
from shared.consumer import Apply, Consumer
from shared.customers import CustomerDirectory
from shared.db import Pool, connect, create_pool, database_unavailable, describe, prepare_database
from shared.http import create_service_app, json_response, require, standard_router
from shared.identity import TrustedKey
from shared.kafka import all_topics, ensure_topics
from shared.outbox import OutboxRelay
from shared.settings import Settings, contacts_url, identity_public_key_path, tokens_path
from shared.sql import load_queries

log = logging.getLogger(__name__)
Q = load_queries(Path(__file__).parent / "sql" / "outbox.sql") | load_queries(Path(__file__).parent / "sql" / "db.sql")
__version__ = "0.1.0"


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[str, ...]
    apply: Apply


class BrokerProbe:
    """Keeps one metadata connection to the broker and says whether it answers."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.ok = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broker-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap, client_id="kehu-probe", request_timeout_ms=2000)
            try:
                await client.bootstrap()
                while True:
                    self.ok = bool(await asyncio.wait_for(client.fetch_all_metadata(), 3))
                    await asyncio.sleep(2)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.ok = False
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()


@dataclass
class ServiceRuntime:
    service: str
    settings: Settings
    pool: Pool
    database_url: str
    tokens: TokenStore
    identity: TrustedKey
    probe: BrokerProbe
    relay: OutboxRelay | None = None
    consumers: list[Consumer] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        service: str,
        settings: Settings,
        migrations: Path,
        *,
        publishes: bool,
        consumers: Sequence[ConsumerSpec] = (),
        database: str | None = None,
    ) -> ServiceRuntime:
        server_url = settings.database_url
        bootstrap = settings.kafka_bootstrap
        if not server_url or not bootstrap:
            raise RuntimeError("set KEHU_DATABASE_URL and KEHU_KAFKA_BOOTSTRAP, or start kehu with `make up`")
        url = await prepare_database(server_url, database or f"kehu_{service}", migrations)
        pool = await create_pool(url, size=settings.db_pool_size, acquire_timeout_s=settings.db_acquire_timeout_s,
                                 command_timeout_s=settings.db_command_timeout_s)
        tokens = TokenStore.load(tokens_path(settings))
        identity = TrustedKey(identity_public_key_path(settings))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ensure_topics(bootstrap, all_topics(), settings.topic_partitions), 5)
        runtime = cls(service, settings, pool, url, tokens, identity, BrokerProbe(bootstrap))
        runtime.probe.start()
        if publishes:
            runtime.relay = OutboxRelay(
                service=service, database_url=url, pool=pool, bootstrap=bootstrap,
                partitions=settings.topic_partitions, batch=settings.outbox_batch,
                poll_s=settings.outbox_poll_s, retention_days=settings.outbox_retention_days,
            )
            runtime.relay.start()
        for spec in consumers:
            consumer = Consumer(
                name=spec.name, topics=spec.topics, pool=pool, bootstrap=bootstrap, apply=spec.apply,
                fetch_max_wait_ms=settings.fetch_max_wait_ms, idle_fetch_wait_ms=settings.idle_fetch_wait_ms,
                max_records=settings.consumer_max_records,
                after_commit=runtime.outbox_written if publishes else None,
            )
            consumer.start()
            runtime.consumers.append(consumer)
        return runtime

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.probe.stop()
        await self.pool.close()

    async def outbox_written(self) -> None:
        """Call after a transaction that appended to the outbox has committed."""
        if self.relay is None:
            return
        if self.relay.is_leader:
            self.relay.wake()
        else:  # the active relay is another replica's: wake it through PostgreSQL
            try:
                await self.pool.execute(Q["wake_relays"])
            except Exception as exc:  # the write committed: its relay finds the rows at its next poll
                if not database_unavailable(exc):
                    raise
                log.warning("could not wake the outbox relay (%s)", describe(exc))

    @asynccontextmanager
    async def long_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of its own, without the pool's statement bound: for an operator's long job
        (a replay streams the whole history through one COPY)."""
        conn = await connect(self.database_url, connect_timeout_s=self.settings.db_acquire_timeout_s)
        try:
            yield conn
        finally:
            await conn.close()

    async def readiness(self, timeout_s: float = 1.0) -> dict[str, str]:
        """What is down, said within about ``timeout_s`` even when the database hangs."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self._ping_database(timeout_s), timeout_s)
            checks["database"] = "ok"
        except TimeoutError:
            checks["database"] = f"down: no answer within {timeout_s:g}s"
        except Exception as exc:
            checks["database"] = f"down: {describe(exc)}"
        checks["broker"] = "ok" if self.probe.ok else f"down: no answer from {self.probe.bootstrap}"
        return checks

    async def _ping_database(self, timeout_s: float) -> None:
        async with self.pool.acquire(timeout=timeout_s) as conn:
            await conn.fetchval(Q["ping"], timeout=timeout_s)


async def readiness(request: Request) -> dict[str, str]:
    runtime: ServiceRuntime = request.app.state.runtime
    return await runtime.readiness()




def admin_router() -> APIRouter:
    """Operations `kehu up` uses to recycle the embedded broker without losing an event."""
    router = APIRouter(prefix="/admin", tags=["operations"])

    @router.post("/relay/pause", summary="Stop publishing the outbox; returns acknowledged high watermarks")
    async def pause(request: Request, _: object = require("admin")) -> object:
        relay = request.app.state.runtime.relay
        if relay is None:
            return json_response(200, {"paused": False, "high_watermarks": {}})
        return json_response(200, {"paused": True, "high_watermarks": await relay.pause()})

    @router.post("/consumers/rewind", summary="Re-read every partition from the beginning (broker replaced)")
    async def rewind(request: Request, _: object = require("admin")) -> object:
        consumers = request.app.state.runtime.consumers
        for consumer in consumers:
            await consumer.rewind()
        return json_response(200, {"rewound": [c.name for c in consumers]})

    @router.get("/outbox", summary="Retained outbox rows in publication order (the source of a replay)")
    async def outbox(
        request: Request,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Rows after this outbox id.")] = 0,
        limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
        _: object = require("admin"),
    ) -> object:
        async with request.app.state.runtime.pool.acquire() as conn:
            rows = await conn.fetch(Q["retained_page"], after, limit)
        # data::text is the event's JSON as stored: sent through unparsed, as one JSON document.
        body = b'{"items":[' + b",".join(
            b'{"id":%d,"event_id":"%s","type":"%s","source":"%s","recorded_at":"%s","data":%s}' % (
                r["id"], str(r["event_id"]).encode(), r["event_type"].encode(), r["source"].encode(),
                r["recorded_at"].isoformat().encode(), r["data"].encode())
            for r in rows
        ) + b"]}"
        return Response(body, media_type="application/json")

    @router.post("/relay/resume", summary="Publish the outbox again (say whether the broker was replaced)")
    async def resume(request: Request, broker_replaced: bool = False, _: object = require("admin")) -> object:
        relay = request.app.state.runtime.relay
        if relay is not None:
            relay.resume(broker_replaced=broker_replaced)
        return json_response(200, {"paused": False})

    return router


def service_app(
    *,
    service: str,
    title: str,
    description: str,
    settings: Settings,
    migrations: Path,
    routers: Sequence[APIRouter],
    publishes: bool,
    consumers: Sequence[ConsumerSpec] = (),
    checks_customers: bool = False,
    database: str | None = None,
    background: Sequence[Callable[[FastAPI], Coroutine[Any, Any, None]]] = (),
) -> FastAPI:
    """A service's FastAPI app with its runtime started and stopped by the lifespan.

    ``checks_customers`` gives the app a ``CustomerDirectory`` (``app.state.directory``) for
    services that must refuse customer ids contacts never registered. ``background`` loops (a
    sweeper, say) run beside the routes once the runtime is up and are cancelled before it stops.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await ServiceRuntime.start(
            service, settings, migrations, publishes=publishes, consumers=consumers, database=database
        )
        directory = CustomerDirectory(contacts_url(settings), settings.service_token) if checks_customers else None
        app.state.runtime = runtime
        app.state.tokens = runtime.tokens
        app.state.identity = runtime.identity
        app.state.directory = directory
        tasks = [asyncio.create_task(loop(app), name=getattr(loop, "__name__", "background")) for loop in background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await runtime.stop()
            if directory is not None:
                await directory.close()

    app = create_service_app(
        title=title, description=description, version=__version__, lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
    )
    for router in routers:
        app.include_router(router)
    app.include_router(standard_router(readiness))
    app.include_router(admin_router())
    return app
