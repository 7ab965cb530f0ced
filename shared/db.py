"""PostgreSQL plumbing: one database per service, a pool, numbered migrations.

Every service owns its database (``<prefix>_<service>``) on the configured server and creates it
when missing, so the embedded runtime, compose and a managed server all work the same way.
Migrations are numbered ``NNNN_name.sql`` files, append-only, applied in order under an advisory
lock (several replicas may start at once). The shared tables (outbox, inbox, idempotency keys,
dead letters, customer replica) come from ``shared/migrations`` in the namespace ``shared``.

Waits on the database are bounded (``Pool``): a database that restarts or hangs makes a request
fail within seconds with an error that ``database_unavailable`` recognises (the HTTP layer answers
503, relays and consumers retry), never a request that hangs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from shared.sql import load_queries

log = logging.getLogger(__name__)

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


# What a failure to reach the database looks like from asyncpg: refused or lost connections
# (OSError, class 08), a server going down or starting up, cancelled by an operator or out of
# connections (class 57, 53300), and our own time bounds (TimeoutError).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
# asyncpg's InterfaceError also means misuse; these messages mean the connection or pool is gone.
_GONE = ("connection is closed", "another operation is cancelling", "pool is closing", "pool is closed")

# A connection handed back must be reset (one round trip). One that cannot be within this time,
# or is still cancelling a statement on a hung server, is dropped rather than waited for.
RELEASE_TIMEOUT_S = 1.0


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached or did not answer in time (retry
    later), rather than a mistake in the statement. Also true for the error a rollback raises
    while unwinding from such a failure (found in the exception's context)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, UNAVAILABLE_ERRORS):
            return True
        if isinstance(seen, asyncpg.InterfaceError) and any(gone in str(seen) for gone in _GONE):
            return True
        if not isinstance(seen, asyncpg.InterfaceError):
            return False
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: BaseException) -> str:
    """A short operator-facing reason: ``TimeoutError`` has no message, a refused socket has one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Pool(asyncpg.Pool):
    """asyncpg's pool, with every wait bounded by default.

    ``acquire`` waits at most ``acquire_timeout_s`` for a connection (opening one included), each
    statement at most ``command_timeout`` (given at creation), and ``release`` gives a connection
    ``RELEASE_TIMEOUT_S`` to reset. A release that fails has already dropped the connection (the
    pool opens a new one when needed); it is logged, not raised, so a write that committed is not
    reported as failed because the connection could not be reused afterwards.
    """

    def __init__(self, *args: Any, acquire_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's)
        try:
            await super().release(connection, timeout=RELEASE_TIMEOUT_S if timeout is None else timeout)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("a database connection was dropped on release (%s)", describe(exc))


async def _keep_session(conn: asyncpg.Connection) -> None:
    """On release, asyncpg still rolls back a transaction left open (a cancelled request); this
    replaces only its reset query (unlock all, CLOSE ALL, UNLISTEN *, RESET ALL), one more round trip
    per request. Pooled connections carry no session state: session locks and LISTEN are taken on
    connections of their own (migrations, the outbox relay), cursors live in transactions, and no
    code SETs outside ``SET LOCAL``."""


async def create_pool(url: str, *, size: int, acquire_timeout_s: float, command_timeout_s: float | None) -> Pool:
    """The bounds come from the settings (``KEHU_DB_ACQUIRE_TIMEOUT_S``, ``KEHU_DB_COMMAND_TIMEOUT_S``)."""
    pool = Pool(
        url,
        min_size=1,
        max_size=size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout_s=acquire_timeout_s,
        command_timeout=command_timeout_s,
        timeout=acquire_timeout_s,  # connecting to a hung server
    )
    await pool  # opens min_size connections
    return pool


async def connect(url: str, *, connect_timeout_s: float = 60.0) -> asyncpg.Connection:
    """One connection outside the pool, without a statement bound (migrations, long jobs)."""
    conn = await asyncpg.connect(url, timeout=connect_timeout_s)
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
