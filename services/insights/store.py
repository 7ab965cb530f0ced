"""All SQL of insights (queries in ``sql/``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.insights.engine import PROFILE_COLUMNS
from shared.consumer import Delivery
from shared.events import AlertAcknowledged
from shared.owners import OwnerFact
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "timeline.sql")


async def add_to_timeline(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> set[uuid.UUID]:
    """Adds the events not yet on the timeline; returns their ids (the others were applied before,
    e.g. by a replay that read them from an outbox first)."""
    if not deliveries:
        return set()
    rows = await conn.fetch(
        Q["insert_timeline"],
        [d.envelope.id for d in deliveries],
        [d.event.customer_id for d in deliveries],
        [type(d.event).__name__ for d in deliveries],
        [d.envelope.type for d in deliveries],
        [d.envelope.source for d in deliveries],
        [d.event.occurred_at for d in deliveries],
        [d.envelope.time for d in deliveries],
        [d.event.model_dump(mode="json") for d in deliveries],
    )
    return {r["event_id"] for r in rows}


async def order_events(conn: asyncpg.Connection, order_ids: Sequence[str],
                       leaving_out: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """The timeline's events of these orders (OrderPlaced, OrderApprovalDecided, OrderCancelled, OrderReturned) but ``leaving_out``, in time order."""
    return list(await conn.fetch(Q["order_events"], list(order_ids), list(leaving_out)))


async def timeline_page(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    event_type: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    after_time, after_id = after if after else (None, None)
    return list(await conn.fetch(Q["timeline_page"], customer_id, after_time, after_id, event_type, limit))


# --- profiles, alerts, population model, clock ----------------------------------------------

Q.update(load_queries(Path(__file__).parent / "sql" / "profiles.sql"))


async def lock_clock_for_replay(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["lock_clock_for_replay"])


async def lock_clock(conn: asyncpg.Connection) -> tuple[datetime | None, datetime | None]:
    row = await conn.fetchrow(Q["lock_clock"])
    return row["watermark"], row["swept_to"]


async def set_clock(conn: asyncpg.Connection, watermark: datetime | None, swept_to: datetime | None) -> None:
    await conn.execute(Q["set_clock"], watermark, swept_to)


async def due_customers(conn: asyncpg.Connection, until: datetime, limit: int | None = None) -> list[uuid.UUID]:
    return [r["customer_id"] for r in await conn.fetch(Q["due_customers"], until, limit)]


async def load_profiles(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    return {str(r["customer_id"]): r["state"] for r in await conn.fetch(Q["load_profiles"], list(ids))}


async def save_profiles(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(Q["save_profiles"], *([r[c] for r in rows] for c in PROFILE_COLUMNS))


async def record_alerts(conn: asyncpg.Connection, raised: Sequence[tuple[Any, ...]],
                        cleared: Sequence[tuple[Any, ...]]) -> None:
    if raised:
        await conn.execute(Q["raise_alerts"], *(list(col) for col in zip(*raised, strict=True)))
    if cleared:
        await conn.execute(Q["clear_alerts"], *(list(col) for col in zip(*cleared, strict=True)))


async def fit_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["fit_rows"]))


async def current_model(conn: asyncpg.Connection) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(Q["current_model"])
    return row


async def current_model_version(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(Q["current_model_version"]))


async def insert_model(conn: asyncpg.Connection, version: int, as_of: datetime | None, customers: int,
                       model: dict[str, Any], cuts: dict[str, Any], fit_key: str | None) -> None:
    await conn.execute(Q["insert_model"], version, as_of, customers, model, cuts, fit_key)


async def buyer_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """(customers with a purchase, customers with purchases on two days or more)."""
    row = await conn.fetchrow(Q["buyer_counts"])
    return int(row["buying"]), int(row["repeat"])


async def known_fits(conn: asyncpg.Connection) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Stored fits by ``fit_key``: what a replay need not fit again."""
    return {r["fit_key"]: (r["model"], r["cuts"]) for r in await conn.fetch(Q["known_fits"])}


async def profile_by_id(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(Q["profile_by_id"], customer_id)
    return row


async def alerts_page(conn: asyncpg.Connection, *, kind: str | None, status: str | None, segment: str | None,
                      owner: str | None, customer_id: uuid.UUID | None, acknowledged: bool | None = None,
                      raised_before: datetime | None = None,
                      after: tuple[datetime, uuid.UUID] | None, limit: int,
                      owner_filter: str | None = None) -> list[asyncpg.Record]:
    """``owner_filter`` (``Scope.owner_filter``): only this owner's customers and the pool's."""
    after_time, after_id = after if after else (None, None)
    return list(await conn.fetch(Q["alerts_page"], kind, status, segment, owner, customer_id, acknowledged,
                                 raised_before, after_time, after_id, limit, owner_filter))


async def alert_by_id(conn: asyncpg.Connection, alert_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(Q["alert_by_id"], alert_id)
    return row


async def hold_clock_for_write(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["hold_clock_for_write"])


async def alert_to_acknowledge(conn: asyncpg.Connection, alert_id: uuid.UUID) -> asyncpg.Record | None:
    """The alert, locked until the transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(Q["alert_to_acknowledge"], alert_id)
    return row


async def acknowledge_alert(conn: asyncpg.Connection, event: AlertAcknowledged, event_id: uuid.UUID) -> None:
    """Mark the alert acknowledged and put the acknowledgement on the customer's timeline."""
    await conn.execute(Q["acknowledge_alert"], event.alert_id, event.occurred_at, event.acknowledged_by, event.note)
    await conn.execute(Q["insert_timeline"], [event_id], [event.customer_id], [type(event).__name__],
                       [event.ce_type()], [f"/kehu/{event.service}"], [event.occurred_at], [event.occurred_at],
                       [event.model_dump(mode="json")])


async def profiles_page(conn: asyncpg.Connection, *, segment: str | None, stage: str | None, owner: str | None,
                        has_open_alert: bool | None, ids: Sequence[uuid.UUID] | None, after: uuid.UUID | None,
                        limit: int, owner_filter: str | None = None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["profiles_page"], segment, stage, owner, has_open_alert,
                                 list(ids) if ids is not None else None, after, limit, owner_filter))


async def stages(conn: asyncpg.Connection, owner_filter: str | None = None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["stages"], owner_filter))


async def segments(conn: asyncpg.Connection, owner_filter: str | None = None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["segments"], owner_filter))


async def all_profiles(conn: asyncpg.Connection, after: uuid.UUID, limit: int,
                       owner_filter: str | None = None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["all_profiles"], after, limit, owner_filter))


async def clock(conn: asyncpg.Connection) -> tuple[datetime | None, datetime | None]:
    row = await conn.fetchrow(Q["clock"])
    return row["watermark"], row["swept_to"]


async def model_at(conn: asyncpg.Connection, as_of: datetime) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(Q["model_at"], as_of)
    return row


async def open_alerts_at(conn: asyncpg.Connection, ids: Sequence[uuid.UUID], as_of: datetime) -> dict[uuid.UUID, int]:
    return {r["customer_id"]: r["n"] for r in await conn.fetch(Q["open_alerts_at"], list(ids), as_of)}


async def all_states(conn: asyncpg.Connection) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    return [(r["customer_id"], r["state"]) for r in await conn.fetch(Q["all_states"])]


# --- owners, for ownership scopes (see sql/owners.sql) ------------------------------------------

Q.update(load_queries(Path(__file__).parent / "sql" / "owners.sql"))


async def record_owners(conn: asyncpg.Connection, facts: Sequence[OwnerFact]) -> None:
    if facts:
        await conn.execute(Q["record_owners"], [f.customer_id for f in facts], [f.owner for f in facts],
                           [f.at for f in facts])


async def owner_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> str | None:
    """The customer's owner today; None for the pool, and for a customer of whom no owner fact arrived."""
    owner: str | None = await conn.fetchval(Q["owner_of"], customer_id)
    return owner


async def owners_from_timeline(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["owners_from_timeline"])


# --- a replay's rebuild (see sql/replay.sql) --------------------------------------------------

Q.update(load_queries(Path(__file__).parent / "sql" / "replay.sql"))
REBUILD_SCHEMA = "insights_rebuild"


async def create_rebuild_tables(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["create_rebuild_tables"])


async def copy_rebuilt(conn: asyncpg.Connection, table: str, columns: Sequence[str], csv_chunks: Sequence[bytes]) -> None:
    """COPY … CSV into a rebuilt table (binary COPY cannot use the pool's text codec for jsonb; CSV
    moves a CDNOW-sized history in about a second)."""

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in csv_chunks:
            yield chunk

    await conn.copy_to_table(table, schema_name=REBUILD_SCHEMA, source=chunks(), columns=list(columns), format="csv")


async def insert_rebuilt_model(conn: asyncpg.Connection, version: int, as_of: datetime | None, customers: int,
                               model: dict[str, Any], cuts: dict[str, Any], fit_key: str | None) -> None:
    await conn.execute(Q["insert_rebuilt_model"], version, as_of, customers, model, cuts, fit_key)


async def carry_acknowledgements(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["carry_acknowledgements"])


async def swap_in_rebuilt_tables(conn: asyncpg.Connection, watermark: datetime | None) -> None:
    await conn.execute(Q["set_rebuilt_clock"], watermark)
    await conn.execute(Q["swap_in_rebuilt_tables"])
