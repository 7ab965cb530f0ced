"""SQL of contact persons (queries in ``sql/contact_persons.sql``). Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Literal

import asyncpg

from services.contacts.domain.contact_persons import ContactLink
from services.contacts.domain.customers import Customer
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "contact_persons.sql")


async def customers_for_share(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    """The customers among ``ids``, locked against changes of their kind until the transaction ends."""
    return {r["id"]: Customer(**dict(r)) for r in await conn.fetch(Q["customers_for_share"], ids)}


async def add_link(conn: asyncpg.Connection, company_id: uuid.UUID, person_id: uuid.UUID, role: str,
                   title: str | None, *, by: str, at: datetime) -> Literal["added", "retitled", "unchanged"]:
    inserted = await conn.fetchval(Q["add_link"], company_id, person_id, role, title, at, by)
    if inserted is None:
        return "unchanged"
    return "added" if inserted else "retitled"


async def remove_link(conn: asyncpg.Connection, company_id: uuid.UUID, person_id: uuid.UUID, role: str) -> bool:
    return await conn.fetchval(Q["remove_link"], company_id, person_id, role) is not None


async def link(conn: asyncpg.Connection, company_id: uuid.UUID, person_id: uuid.UUID, role: str) -> ContactLink:
    return ContactLink(**dict(await conn.fetchrow(Q["link"], company_id, person_id, role)))


async def links_of(conn: asyncpg.Connection, customer: Customer) -> list[ContactLink]:
    if customer.kind == "company":
        rows = await conn.fetch(Q["links_of_company"], customer.id)
    else:
        rows = await conn.fetch(Q["links_of_person"], customer.id)
    return [ContactLink(**dict(r)) for r in rows]
