"""SQL of duplicates (``sql/duplicates.sql``): blocking keys, candidates, scans. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from services.contacts.domain import duplicates as dup
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "duplicates.sql")
KEY_BATCH = 2_000
RECORD_CHUNK = 5_000
CANDIDATE_LIMIT = 20


def _keys(rows: Sequence[tuple[uuid.UUID, str, str | None]]) -> list[list[Any]]:
    columns: list[list[Any]] = [[], [], [], [], []]
    for customer_id, name, phone in rows:
        for column, value in zip(columns, (customer_id, dup.name_key(name), dup.pinyin_key(name),
                                           dup.phone_prefix(phone), name + "\x1f" + (phone or "")), strict=True):
            column.append(value)
    return columns


async def set_keys(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, str, str | None]]) -> None:
    """Compute and store the blocking keys of these customers (id, name, phone)."""
    if rows:
        await conn.execute(Q["set_keys"], *_keys(rows))


async def refresh_keys(conn: asyncpg.Connection, *, after: uuid.UUID | None, batch: int = KEY_BATCH) -> uuid.UUID | None:
    """Recompute the keys of one batch of stale customers after ``after``; the last id done, or None at the end."""
    rows = await conn.fetch(Q["stale_keys"], after, batch)
    await set_keys(conn, [(r["id"], r["name"], r["phone"]) for r in rows])
    return rows[-1]["id"] if len(rows) == batch else None


def _record(row: asyncpg.Record) -> dup.Record:
    identities = frozenset(tuple(i.split(":", 1)) for i in row["identities"])
    return dup.Record(id=row["id"], name=row["name"], phone=row["phone"], email=row["email"],
                      identities=identities,
                      companies=frozenset(row["companies"]))


async def records(conn: asyncpg.Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dup.Record]:
    found: dict[uuid.UUID, dup.Record] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), RECORD_CHUNK):
        for row in await conn.fetch(Q["records"], ordered[start:start + RECORD_CHUNK]):
            found[row["id"]] = _record(row)
    return found


async def candidates_of(conn: asyncpg.Connection, record: dup.Record) -> list[uuid.UUID]:
    """Ids of customers sharing a blocking key with ``record`` (its keys computed here)."""
    values = sorted({v for _, v in record.identities} | {v for v in (record.phone, record.email) if v})
    digits = sorted({dup.identity_value_key(v) for v in values if v[-1:].isdigit()})
    rows = await conn.fetch(
        Q["candidates_of"], record.id, record.phone, record.email, dup.name_key(record.name),
        dup.pinyin_key(record.name), dup.phone_prefix(record.phone), values, digits, CANDIDATE_LIMIT)
    return [r["id"] for r in rows]


async def candidate_pairs(conn: asyncpg.Connection) -> list[tuple[uuid.UUID, uuid.UUID]]:
    return [(r["first_id"], r["second_id"]) for r in await conn.fetch(Q["candidate_pairs"])]


async def live_customers(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(Q["live_customers"]))


@dataclass(frozen=True)
class Scan:
    id: uuid.UUID
    started_at: datetime
    ran_at: datetime
    customers: int
    pairs: int


async def save_scan(conn: asyncpg.Connection, scan: Scan,
                    pairs: Sequence[tuple[uuid.UUID, uuid.UUID, dup.Score]]) -> None:
    await conn.execute(Q["insert_scan"], scan.id, scan.started_at, scan.ran_at, scan.customers, scan.pairs)
    await conn.execute(
        Q["insert_pairs"], scan.id, list(range(1, len(pairs) + 1)), [p[0] for p in pairs], [p[1] for p in pairs],
        [p[2].score for p in pairs],
        [orjson.dumps([r.model_dump() for r in p[2].reasons]).decode() for p in pairs])
    await conn.execute(Q["forget_old_scans"])


async def latest_scan(conn: asyncpg.Connection) -> Scan | None:
    row = await conn.fetchrow(Q["latest_scan"])
    return Scan(**dict(row)) if row else None


async def scan_by_id(conn: asyncpg.Connection, scan_id: uuid.UUID) -> Scan | None:
    row = await conn.fetchrow(Q["scan_by_id"], scan_id)
    return Scan(**dict(row)) if row else None


async def pairs_page(conn: asyncpg.Connection, scan_id: uuid.UUID, *, after_rank: int, min_score: int,
                     limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(Q["pairs_page"], scan_id, after_rank, min_score, limit)
    return [dict(r) for r in rows]
