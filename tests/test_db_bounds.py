"""The bounds on every database wait, and which driver errors mean "the database is down"."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from shared.backoff import Backoff
from shared.db import create_pool, database_unavailable, database_url


def test_backoff_doubles_up_to_its_cap_with_jitter_and_starts_again_after_a_success() -> None:
    backoff = Backoff(first=0.1, cap=1.0)
    delays = [backoff.delay() for _ in range(8)]
    for delay, ceiling in zip(delays, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.delay() <= 0.1


def _raised_while_unwinding(cause: BaseException, error: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException:
            raise error  # noqa: B904 (the implicit context is the point)
    except BaseException as exc:
        return exc


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    FileNotFoundError(2, "No such file or directory"),  # the Unix socket of a server restarting
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    # A rollback after a statement timed out, while asyncpg still cancels it:
    _raised_while_unwinding(TimeoutError(), asyncpg.InterfaceError(
        "cannot perform operation: another operation is in progress")),
])
def test_errors_that_mean_the_database_is_unavailable(exc: BaseException) -> None:
    assert database_unavailable(exc)


@pytest.mark.parametrize("exc", [
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding \"UTF8\": 0x00"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),  # a bug, not an outage
    _raised_while_unwinding(ValueError("bad"), asyncpg.InterfaceError("the server expects 2 arguments")),
    ValueError("no"),
])
def test_errors_that_are_mistakes_not_outages(exc: BaseException) -> None:
    assert not database_unavailable(exc)


@pytest.mark.database
async def test_a_pool_bounds_waiting_for_a_connection_and_a_statement_and_recovers(pg_url: str) -> None:
    pool = await create_pool(database_url(pg_url, "postgres"), size=1, acquire_timeout_s=0.5, command_timeout_s=0.5)
    try:
        async with pool.acquire() as held:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await pool.acquire()  # the only connection is taken
            assert time.monotonic() - started < 2
            assert await held.fetchval("SELECT 1") == 1

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3  # the statement, then at most a second to drop the connection
        assert await asyncio.wait_for(pool.fetchval("SELECT 2"), 5) == 2  # the pool works on
    finally:
        await pool.close()


@pytest.mark.database
async def test_a_connection_released_in_the_middle_of_a_transaction_comes_back_without_it(pg_url: str) -> None:
    # The pool skips asyncpg's session reset query (shared.db._keep_session); what a request may leave
    # behind, a transaction it did not finish (cancelled, or BEGIN by hand), is still rolled back.
    pool = await create_pool(database_url(pg_url, "postgres"), size=1, acquire_timeout_s=5, command_timeout_s=5)
    try:
        await pool.execute("CREATE TABLE IF NOT EXISTS kehu_reset_probe (n int)")
        await pool.execute("TRUNCATE kehu_reset_probe")
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO kehu_reset_probe VALUES (1)")
        async with pool.acquire() as again:  # size 1: the same connection
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT count(*) FROM kehu_reset_probe") == 0
        await pool.execute("DROP TABLE kehu_reset_probe")
    finally:
        await pool.close()
