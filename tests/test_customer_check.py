"""A slow contacts must not hold the connections of orders or tickets.

Orders and tickets ask contacts over HTTP about a customer id their replica does not hold yet.
They ask before the write's transaction and hold no pool connection meanwhile, so requests
waiting on contacts leave the pool free and no transaction open.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kehu.embedded import EmbeddedBroker
from shared.db import database_url
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings
from tests.conftest import Cluster, eventually, free_port

pytestmark = pytest.mark.database

POOL_SIZE = 2
WAITING = POOL_SIZE + 1  # more requests wait on contacts than the pool has connections


class SlowContacts:
    """An HTTP server that answers `GET /customers/{id}` with 200, but only once released."""

    def __init__(self) -> None:
        self.port = free_port()
        self.asked: list[str] = []
        self.release = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> SlowContacts:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.asked.append(head.split(b" ", 2)[1].decode())
        await self.release.wait()
        body = b"{}"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


@pytest.fixture
async def slow_contacts() -> AsyncIterator[SlowContacts]:
    async with SlowContacts() as server:
        yield server


def _order(customer_id: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "channel": "store", "lines": [{"sku": "A1", "quantity": "1", "unit_price": "2.00"}]}


def _ticket(customer_id: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "kind": "complaint", "channel": "phone", "subject": "Late delivery"}


WRITES: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "orders": ("/orders", _order),
    "tickets": ("/tickets", _ticket),
}


@pytest.mark.parametrize("service", sorted(WRITES))
async def test_requests_waiting_on_a_slow_contacts_hold_no_connection_and_no_transaction(
    service: str, slow_contacts: SlowContacts, pg_url: str, broker: EmbeddedBroker, tokens: dict[str, str],
    tmp_path: Path, fresh_databases: Callable[[str], str],
) -> None:
    await ensure_topics(broker.bootstrap, all_topics(), 4)
    database = fresh_databases(service)
    cluster = Cluster(urls={service: f"http://127.0.0.1:{free_port()}"}, tokens=tokens,
                      database_urls={service: database_url(pg_url, database)}, broker=broker)
    settings = Settings(
        home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap, tokens_file=tmp_path / "tokens.json",
        service_token=tokens["readonly"], contacts_url=slow_contacts.url, db_pool_size=POOL_SIZE,
    )
    path, body = WRITES[service]
    customers = [str(uuid.uuid4()) for _ in range(WAITING)]
    try:
        await cluster.start(service, settings, database)
        writes = [asyncio.create_task(cluster.post(service, path, body(c))) for c in customers]

        # Every request reaches contacts at once: none waits for a pool connection another holds.
        await eventually(lambda: _count(slow_contacts.asked, WAITING))
        idle_in_transaction = await cluster.sql(
            service, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'",
            database)
        assert idle_in_transaction[0]["n"] == 0
        reads = await cluster.get(service, path)  # the pool still serves other requests
        assert reads.status_code == 200

        slow_contacts.release.set()
        answers = await asyncio.gather(*writes)
        assert [a.status_code for a in answers] == [201] * WAITING, [a.text for a in answers]
        replica = await cluster.sql(service, "SELECT customer_id::text AS id, source FROM known_customers")
        assert sorted((r["id"], r["source"]) for r in replica) == sorted((c, "lookup") for c in customers)
    finally:
        slow_contacts.release.set()
        await cluster.close()


async def _count(asked: list[str], n: int) -> bool:
    return len(asked) >= n
