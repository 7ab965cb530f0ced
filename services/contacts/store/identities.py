"""SQL of channel identities (``sql/identities.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from services.contacts.domain.identities import Identity, NormalIdentity
from services.contacts.search import search_text
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "identities.sql")


@dataclass(frozen=True)
class Holder:
    """Who holds an identity, as much as a resolve may say."""

    id: uuid.UUID
    name: str
    owner: str | None
    category: str

    def answer(self) -> dict[str, str | None]:
        return {"customer_id": str(self.id), "name": self.name, "owner": self.owner, "category": self.category}


@dataclass(frozen=True)
class LinkTarget:
    """The fields of a customer that linking reads and may change (its row locked)."""

    id: uuid.UUID
    name: str
    owner: str | None
    category: str
    phone: str | None
    email: str | None
    external_ref: str | None


async def holder(conn: asyncpg.Connection, identity: NormalIdentity) -> Holder | None:
    row = await conn.fetchrow(Q["identity_holder"], identity.kind, identity.value)
    return Holder(**dict(row)) if row else None


async def insert_identity(
    conn: asyncpg.Connection, identity: NormalIdentity, customer_id: uuid.UUID, *, at: datetime, by: str
) -> bool:
    """False when the identity is held already (by anyone: the caller asks ``holder``)."""
    inserted = await conn.fetchval(
        Q["insert_identity"], identity.kind, identity.value, customer_id, identity.label, at, by)
    return inserted is not None


async def insert_free_identities(
    conn: asyncpg.Connection, linked: Sequence[tuple[NormalIdentity, uuid.UUID, datetime]], *, by: str
) -> None:
    """Link each identity (to its customer, linked at its time) not yet held; those held stay with their holder."""
    if not linked:
        return
    # In (kind, value) order: two batches sharing identities then wait on each other, never deadlock.
    ordered = sorted(linked, key=lambda row: (row[0].kind, row[0].value))
    await conn.execute(
        Q["insert_free_identities"], [i.kind for i, _, _ in ordered], [i.value for i, _, _ in ordered],
        [c for _, c, _ in ordered], [at for _, _, at in ordered], [by] * len(ordered))


async def identities_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[Identity]:
    return [Identity(**dict(r)) for r in await conn.fetch(Q["identities_of"], customer_id)]


async def delete_identity(conn: asyncpg.Connection, customer_id: uuid.UUID, identity: NormalIdentity) -> bool:
    return await conn.fetchrow(Q["delete_identity"], customer_id, identity.kind, identity.value) is not None


async def remaining_values(conn: asyncpg.Connection, customer_id: uuid.UUID, kind: str) -> list[str]:
    return [r["value"] for r in await conn.fetch(Q["remaining_values"], customer_id, kind)]


async def customer_for_update(conn: asyncpg.Connection, customer_id: uuid.UUID) -> LinkTarget | None:
    row = await conn.fetchrow(Q["customer_for_update"], customer_id)
    return LinkTarget(**dict(row)) if row else None


async def set_primary(conn: asyncpg.Connection, target: LinkTarget, *, phone: str | None, email: str | None) -> None:
    """Set the customer's primary phone and email (and the search text that holds the phone)."""
    await conn.execute(Q["set_primary"], target.id, phone, email, search_text(target.name, phone, target.external_ref))
