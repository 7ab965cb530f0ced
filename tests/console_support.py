"""The console on a real cluster: the four services, a broker, the databases, and the console as a
real uvicorn server in this process; accounts for each role (password ``PASSWORD``).

Used by the console's HTTP tests and the browser tests (module-scoped: starting it takes seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from console.accounts import NewPerson, hash_password
from console.app import create_app
from console.people_api import add_person
from shared.db import database_url
from shared.identity import generate_keypair
from shared.settings import Settings, identity_key_path, identity_public_key_path
from tests.conftest import Cluster, eventually, free_port, own_cluster

PASSWORD = "correct horse battery"
PEOPLE = {
    "boss": ("admin", None, "老板"),
    "mgr": ("manager", None, "Manager Liu"),
    "wang": ("sales", "wang", "王芳"),
    "zhao": ("service", None, "赵客服"),
    "viewer": ("readonly", None, "只读"),
}


@dataclass
class ConsoleCluster:
    cluster: Cluster
    url: str
    settings: Settings
    database_url: str
    server: uvicorn.Server
    app: Any

    async def sign_in(self, name: str = "boss", password: str = PASSWORD, *, follow: bool = True) -> httpx.AsyncClient:
        """A browser-like client (cookies kept) signed in as ``name``."""
        client = httpx.AsyncClient(base_url=self.url, timeout=15, follow_redirects=follow)
        page = await client.get("/sign-in")
        response = await client.post("/sign-in", data={"name": name, "password": password, "csrf": csrf_of(page.text),
                                                       "next": "/"})
        assert response.status_code in (200, 303), (response.status_code, re.findall(r"class=\"problem\"[^>]*>([^<]*)", response.text))
        return client

    @contextlib.asynccontextmanager
    async def signed_in(self, name: str = "boss", *, follow: bool = True) -> AsyncIterator[httpx.AsyncClient]:
        client = await self.sign_in(name, follow=follow)
        try:
            yield client
        finally:
            await client.aclose()

    async def restore_people(self) -> None:
        """The accounts as the fixture made them (after a test that may change any, such as schemathesis)."""
        password_hash = hash_password(PASSWORD)
        await self.sql("UPDATE people SET password_hash = $1, disabled_at = NULL WHERE name = ANY($2::text[])",
                       password_hash, list(PEOPLE))

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def key_of(html: str, form_action: str) -> str:
    """The Idempotency-Key hidden in the form that posts to ``form_action``."""
    start = html.index(f'action="{form_action}"')
    found = re.search(r'name="idempotency_key" value="([^"]*)"', html[start:])
    assert found
    return found.group(1)


@contextlib.asynccontextmanager
async def console_cluster(pg_url: str, home: Path, **settings: Any) -> AsyncIterator[ConsoleCluster]:
    base = Settings(home=home)
    generate_keypair(identity_key_path(base), identity_public_key_path(base))
    async with own_cluster(pg_url, home, **settings) as cluster:
        config = Settings(
            home=home, database_url=pg_url, kafka_bootstrap=cluster.broker.bootstrap, tokens_file=home / "tokens.json",
            db_pool_size=4, **{f"{s}_url": url for s, url in cluster.urls.items()}, **settings,
        )
        database = f"t{uuid.uuid4().hex[:10]}_console"
        app = create_app(config, database=database)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None,
                                               access_log=False, timeout_graceful_shutdown=5))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        url = database_url(pg_url, database)
        try:
            await eventually(lambda: _started(server), timeout=30)
            conn = await asyncpg.connect(url)
            try:
                for name, (role, owner, shown) in PEOPLE.items():
                    await add_person(conn, NewPerson(name=name, role=role, owner=owner, display_name=shown,
                                                     password=PASSWORD), datetime.now(UTC))
            finally:
                await conn.close()
            yield ConsoleCluster(cluster, f"http://127.0.0.1:{port}", config, url, server, app)
        finally:
            server.should_exit = True
            await task
            admin = await asyncpg.connect(database_url(pg_url, "postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
