"""PostgreSQL plumbing: one database per service, a pool, numbered migrations.

Every service owns its database (``<prefix>_<service>``) on the configured server and creates it
when missing, so the embedded runtime, compose and a managed server all work the same way.
Migrations are numbered ``NNNN_name.sql`` files, append-only, applied in order under an advisory
lock (several replicas may start at once). The shared tables (outbox, inbox, idempotency keys,
dead letters, customer replica) come from ``shared/migrations`` in the namespace ``shared``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from shared.sql import load_queries

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x6B656875  # "kehu"
Q = load_queries(Path(__file__).parent / "sql" / "db.sql")


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str


def database_url(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server that ``server_url`` points at (query kept)."""
    if not _DB_NAME.match(database):
        raise ValueError(f"invalid database name {database!r}")
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def ensure_database(server_url: str, database: str) -> None:
    """Create ``database`` if it does not exist (safe when several processes race)."""
    if not _DB_NAME.match(database):
        raise ValueError(f"invalid database name {database!r}")
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        exists = await conn.fetchval(Q["database_exists"], database)
        if not exists:
            try:
                # An identifier cannot be a bind parameter: PostgreSQL quotes it into the statement.
                await conn.execute(await conn.fetchval(Q["create_database_statement"], database))
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def create_pool(url: str, *, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=size, init=_init_connection)
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


def read_migrations(namespace: str, directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} is not named NNNN_name.sql")
        found.append(Migration(namespace, int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations in {directory} must be numbered 0001, 0002, ... without gaps")
    return found


async def migrate(conn: asyncpg.Connection, sources: Iterable[tuple[str, Path]]) -> list[str]:
    """Apply every migration not yet applied; returns the names applied now."""
    applied_now: list[str] = []
    await conn.execute(Q["lock_migrations"], _MIGRATION_LOCK)
    try:
        await conn.execute(Q["create_schema_migrations"])
        done = {(r["namespace"], r["version"]) for r in await conn.fetch(Q["applied_migrations"])}
        for namespace, directory in sources:
            for migration in read_migrations(namespace, directory):
                if (migration.namespace, migration.version) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        Q["record_migration"],
                        migration.namespace,
                        migration.version,
                        migration.name,
                    )
                applied_now.append(f"{migration.namespace}/{migration.version:04d}_{migration.name}")
    finally:
        await conn.execute(Q["unlock_migrations"], _MIGRATION_LOCK)
    return applied_now


async def prepare_database(server_url: str, database: str, service_migrations: Path) -> str:
    """Create the service's database if needed and bring its schema up to date; returns its URL."""
    await ensure_database(server_url, database)
    url = database_url(server_url, database)
    conn = await connect(url)
    try:
        await migrate(conn, [("shared", SHARED_MIGRATIONS), ("service", service_migrations)])
    finally:
        await conn.close()
    return url
