"""All SQL of credit standing (queries in ``sql/credit.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from services.insights import credit
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent / "sql" / "credit.sql")
_LOCK = 0x6B656875_C7ED17  # the credit consumer and sweep, one at a time


async def lock(conn: asyncpg.Connection) -> None:
    await conn.execute(Q["lock_credit"], _LOCK)


async def histories(conn: asyncpg.Connection, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, credit.History]:
    """What the consumer kept of each customer (an empty history for one it has nothing of)."""
    ids = list(customer_ids)
    schedules: dict[uuid.UUID, dict[uuid.UUID, credit.Schedule]] = {c: {} for c in ids}
    payments: dict[uuid.UUID, dict[uuid.UUID, credit.Payment]] = {c: {} for c in ids}
    notices: dict[uuid.UUID, dict[tuple[uuid.UUID, int], uuid.UUID]] = {c: {} for c in ids}
    for r in await conn.fetch(Q["schedules_of"], ids):
        schedules[r["customer_id"]][r["order_id"]] = credit.Schedule(
            r["order_id"], r["revision"], r["occurred_at"], r["event_id"],
            tuple(credit.Due(i["no"], datetime.fromisoformat(i["due_at"]), Decimal(i["amount"]), Decimal(i["paid"]))
                  for i in r["instalments"]),
            r["cancelled_by"])
    for r in await conn.fetch(Q["payments_of"], ids):
        payments[r["customer_id"]][r["payment_id"]] = credit.Payment(
            r["payment_id"], r["occurred_at"], r["event_id"],
            tuple(credit.Allocation(uuid.UUID(a["order_id"]), a["no"], Decimal(a["amount"])) for a in r["allocations"]))
    for r in await conn.fetch(Q["overdue_notices_of"], ids):
        notices[r["customer_id"]][r["order_id"], r["instalment_no"]] = r["event_id"]
    return {c: credit.History(schedules[c], payments[c], notices[c]) for c in ids}


async def save_history(conn: asyncpg.Connection, customer_id: uuid.UUID, before: credit.History,
                       after: credit.History) -> None:
    """Write what ``after`` holds beyond ``before`` (the consumer folded events into it)."""
    schedules = [s for k, s in after.schedules.items() if before.schedules.get(k) != s]
    if schedules:
        await conn.executemany(Q["save_schedule"], [
            (s.order_id, customer_id, s.revision, s.at, s.event_id,
             [{"no": d.no, "due_at": d.due_at.isoformat(), "amount": str(d.amount), "paid": str(d.paid)}
              for d in s.instalments], s.cancelled_by)
            for s in schedules])
    payments = [p for k, p in after.payments.items() if k not in before.payments]
    if payments:
        await conn.executemany(Q["save_payment"], [
            (p.payment_id, customer_id, p.at, p.event_id,
             [{"order_id": str(a.order_id), "no": a.no, "amount": str(a.amount)} for a in p.allocations])
            for p in payments])
    notices = [(k, e) for k, e in after.overdue.items() if k not in before.overdue]
    if notices:
        await conn.executemany(Q["save_overdue_notice"], [(o, n, customer_id, e) for (o, n), e in notices])


async def standings(conn: asyncpg.Connection, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    return {r["customer_id"]: r for r in await conn.fetch(Q["standings_of"], list(customer_ids))}


def standing_of(row: asyncpg.Record | None) -> credit.Standing | None:
    return credit.Standing(row["tier"], row["since"], row["as_of"]) if row is not None else None


async def save_standings(conn: asyncpg.Connection,
                         rows: Sequence[tuple[uuid.UUID, credit.Standing, credit.Judgement]]) -> None:
    if rows:
        await conn.executemany(Q["save_standing"], [
            (cid, s.tier, j.reason, evidence_json(j.evidence), credit.RULE_VERSION, s.since, s.as_of, j.review_at)
            for cid, s, j in rows])


def evidence_json(evidence: Any) -> dict[str, Any]:
    return dict(evidence.model_dump(mode="json"))


async def customers_to_review(conn: asyncpg.Connection, as_of: datetime, limit: int) -> list[uuid.UUID]:
    return [r["customer_id"] for r in await conn.fetch(Q["customers_to_review"], as_of, limit)]


async def standing_page(conn: asyncpg.Connection, *, tier: str | None, after: uuid.UUID | None, limit: int,
                        owner_filter: str | None) -> list[asyncpg.Record]:
    return list(await conn.fetch(Q["standing_page"], tier, after, limit, owner_filter))


async def standing_counts(conn: asyncpg.Connection, *, owner_filter: str | None) -> dict[str, int]:
    return {r["tier"]: r["n"] for r in await conn.fetch(Q["standing_counts"], owner_filter)}
