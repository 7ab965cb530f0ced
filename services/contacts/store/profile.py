"""SQL of editing a record and of its history (queries in ``sql/profile.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from services.contacts.domain.customers import Customer
from services.contacts.domain.profile import MAX_REFERRAL_DEPTH
from services.contacts.search import search_text
from shared.events import FieldChange
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "profile.sql")
EXTERNAL_REF_UNIQUE = "customers_external_ref_key"


async def customer_for_update(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Customer | None:
    """The record, locked for the rest of the transaction."""
    row = await conn.fetchrow(Q["customer_for_update"], customer_id)
    return Customer(**dict(row)) if row else None


async def update_profile(conn: asyncpg.Connection, customer: Customer) -> Customer | None:
    """Write the editable fields and revision of ``customer``; None when its external_ref was taken
    meanwhile (by a registration committed after the caller looked)."""
    try:
        row = await conn.fetchrow(
            Q["update_profile"], customer.id, customer.name, customer.kind, customer.email, customer.address,
            customer.notes, customer.tags, customer.lead_source, customer.lead_source_detail, customer.referred_by,
            customer.external_ref, customer.revision, search_text(customer.name, customer.phone, customer.external_ref),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == EXTERNAL_REF_UNIQUE:
            return None
        raise
    return Customer(**dict(row))


async def bump_revision(conn: asyncpg.Connection, customer_id: uuid.UUID) -> int:
    revision: int = await conn.fetchval(Q["bump_revision"], customer_id)
    return revision


async def insert_changes(conn: asyncpg.Connection, customer_id: uuid.UUID, revision: int,
                         changes: Sequence[FieldChange], *, by: str, at: datetime) -> None:
    await conn.execute(Q["insert_changes"], customer_id, revision, [c.field for c in changes],
                       [_json(c.old) for c in changes], [_json(c.new) for c in changes], by, at)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def lock_referrals(conn: asyncpg.Connection) -> None:
    """Wait for any other referral change in flight, and hold the others off until the caller
    commits: a referral chain read afterwards stays true. Taken before any customer row is
    locked, so two referral changes never hold each other's rows."""
    await conn.execute(Q["lock_referrals"])


async def referral_chain(conn: asyncpg.Connection, referrer_id: uuid.UUID) -> list[uuid.UUID]:
    """The referrer, who referred it, and so on up (nearest first); see ``lock_referrals``."""
    return [r["id"] for r in await conn.fetch(Q["referral_chain"], referrer_id, MAX_REFERRAL_DEPTH)]


async def contact_links_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(Q["contact_links_of"], customer_id)
    return count


async def history(conn: asyncpg.Connection, customer_id: uuid.UUID, *, before: int | None,
                  limit: int) -> list[Mapping[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["history"], customer_id, before, limit)]


async def first_old_values(conn: asyncpg.Connection, customer_id: uuid.UUID) -> dict[str, Any]:
    return {r["field"]: r["old_value"] for r in await conn.fetch(Q["first_old_values"], customer_id)}
