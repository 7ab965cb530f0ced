"""The console's own tables: people, sessions, failed sign-ins (``migrations/``, ``sql/``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from console.accounts import NewSession, Person
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "people.sql") | load_queries(Path(__file__).parent / "sql" / "sessions.sql")


def _person(row: asyncpg.Record) -> Person:
    return Person(id=row["id"], name=row["name"], display_name=row["display_name"], role=row["role"],
                  owner=row["owner"], locale=row["locale"], disabled=row["disabled"], created_at=row["created_at"])


async def insert_person(conn: asyncpg.Connection, person: Person, password_hash: str) -> bool:
    row = await conn.fetchval(Q["insert_person"], person.id, person.name, person.display_name, person.role,
                              person.owner, person.locale, password_hash, person.created_at)
    return row is not None


async def people(conn: asyncpg.Connection) -> list[Person]:
    return [_person(r) for r in await conn.fetch(Q["people"])]


async def count_people(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(Q["count_people"]))


async def person_by_name(conn: asyncpg.Connection, name: str) -> tuple[Person, str] | None:
    row = await conn.fetchrow(Q["person_by_name"], name)
    return (_person(row), row["password_hash"]) if row else None


async def set_password(conn: asyncpg.Connection, name: str, password_hash: str, now: datetime) -> bool:
    return await conn.fetchval(Q["set_password"], name, password_hash, now) is not None


async def set_disabled(conn: asyncpg.Connection, name: str, disabled: bool, now: datetime) -> bool:
    return await conn.fetchval(Q["set_disabled"], name, disabled, now) is not None


async def set_locale(conn: asyncpg.Connection, person_id: uuid.UUID, locale: str) -> None:
    await conn.execute(Q["set_locale"], person_id, locale)


async def recent_failures(conn: asyncpg.Connection, name: str, since: datetime) -> list[datetime]:
    return [r["failed_at"] for r in await conn.fetch(Q["recent_failures"], name, since)]


async def record_failure(conn: asyncpg.Connection, name: str, now: datetime) -> None:
    await conn.execute(Q["record_failure"], name, now)


async def clear_failures(conn: asyncpg.Connection, name: str, now: datetime) -> None:
    await conn.execute(Q["clear_failures"], name, now - timedelta(days=1))


async def insert_session(conn: asyncpg.Connection, session: NewSession, person_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(Q["insert_session"], session.token_sha256, person_id, session.csrf_token, now,
                       session.expires_at)


async def session_person(conn: asyncpg.Connection, token_sha256: str) -> tuple[Person, str, datetime, datetime] | None:
    row = await conn.fetchrow(Q["session_person"], token_sha256)
    if row is None:
        return None
    return _person(row), row["csrf_token"], row["seen_at"], row["expires_at"]


async def touch_session(conn: asyncpg.Connection, token_sha256: str, now: datetime) -> None:
    await conn.execute(Q["touch_session"], token_sha256, now)


async def delete_session(conn: asyncpg.Connection, token_sha256: str) -> None:
    await conn.execute(Q["delete_session"], token_sha256)


async def delete_expired_sessions(conn: asyncpg.Connection, now: datetime, idle: timedelta) -> None:
    await conn.execute(Q["delete_expired_sessions"], now, now - idle)
