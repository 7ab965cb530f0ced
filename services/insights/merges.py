"""Merged customers in insights: one timeline and one profile for the survivor, split back on undo.

On ``CustomersMerged`` the merged customer's events move to the survivor's timeline (noted per
merge), the survivor's profile is folded again from the combined timeline and the merged one's
profile is dropped; events that still arrive for the merged id (in flight, or from a till that
cached it) land on the survivor. On ``CustomerMergeUndone`` exactly the noted events go back and
both profiles are folded again from their own timelines. Alerts are not re-derived here: those
raised stay as they were (their ids are per customer), and a refold announces nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from pathlib import Path

import asyncpg

from services.insights import domain, engine, ledger, store
from services.insights import profile as pf
from shared.consumer import Delivery
from shared.events import CustomerMergeUndone, CustomersMerged
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "merges.sql")


async def apply(conn: asyncpg.Connection, deliveries: Sequence[Delivery], new: set[uuid.UUID]) -> set[uuid.UUID]:
    """Re-key the timeline for the merges and undos among ``deliveries`` (``new``: the events just
    added), and move events just added for merged ids to their survivors. Returns the customers
    whose profile must be folded again; the merged customers' profiles are dropped."""
    refold: set[uuid.UUID] = set()
    for delivery in deliveries:
        event = delivery.event
        if delivery.envelope.id not in new:
            continue
        if isinstance(event, CustomersMerged):
            if await conn.fetchval(Q["merge_customers"], event.merge_id, event.merged_id, event.customer_id):
                await conn.execute(Q["delete_profile"], event.merged_id)
                refold.discard(event.merged_id)
                refold.add(event.customer_id)
        elif isinstance(event, CustomerMergeUndone):
            row = await conn.fetchrow(Q["undo_merge"], event.merge_id)
            if row is not None:
                refold |= {row["merged_id"], row["survivor_id"]}
    if new:
        await conn.execute(Q["adopt_events"], list(new))
    return refold


async def survivors(conn: asyncpg.Connection) -> dict[str, str]:
    """Merged id → survivor, for the merges in force (few: merges are rare)."""
    return {str(r["merged_id"]): str(r["survivor_id"]) for r in await conn.fetch(Q["survivors"])}


def rekeyed(facts: Iterable[engine.Fact], survivor_of: dict[str, str]) -> list[engine.Fact]:
    """Facts of merged customers as the survivor's; a merged customer's registration is dropped
    (the survivor keeps its own)."""
    out: list[engine.Fact] = []
    for fact in facts:
        survivor = survivor_of.get(fact.customer_id)
        if survivor is None:
            out.append(fact)
        elif fact.kind != "registered":
            out.append(dataclasses.replace(fact, customer_id=survivor))
    return out


async def refold(conn: asyncpg.Connection, customer_id: uuid.UUID, *, until: float | None,
                 population: domain.Population, zone: tzinfo, currency: str) -> None:
    """Fold one customer's profile again from their whole timeline (their own registration, every
    order on it, whoever it was placed for, and the orders' cancels and returns), up to ``until``;
    announces nothing."""
    me = str(customer_id)
    facts: list[engine.Fact] = []
    for row in await conn.fetch(Q["timeline_facts"], customer_id):
        fact = engine.fact_of_data(str(row["event_id"]), row["event_type"], row["data"], currency)
        if fact is None or (fact.kind == "registered" and fact.customer_id != me):
            continue
        facts.append(dataclasses.replace(fact, customer_id=me))
    facts = ledger.resolve(facts, ledger.Ledger())  # already in time order (the query's)
    await conn.execute(Q["delete_profile"], customer_id)
    if not facts:
        return
    profiles: dict[str, pf.Profile] = {}
    end = until if until is not None else facts[-1].at
    engine.apply_facts(profiles, engine.in_time_order(facts), max(end, facts[-1].at), population, zone,
                       announce=False)
    await store.save_profiles(conn, [engine.summary(p, population, zone) for p in profiles.values()])
