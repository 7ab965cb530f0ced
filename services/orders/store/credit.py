"""SQL of credit terms, the credit tier replica and credit decisions (``sql/credit.sql``). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.orders.domain.credit import CreditDecision, NewCreditTerms
from services.orders.domain.receivables import CreditTerms
from shared.consumer import Delivery
from shared.events import CreditStandingChanged
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "credit.sql")
HISTORY = 50


async def terms_for_update(conn: asyncpg.Connection, customer_id: uuid.UUID) -> CreditTerms | None:
    """The customer's terms, their row locked until the transaction ends (None: pays at once)."""
    row = await conn.fetchrow(Q["terms_for_update"], customer_id)
    return None if row is None else CreditTerms(**dict(row))


async def set_terms(conn: asyncpg.Connection, customer_id: uuid.UUID, new: NewCreditTerms, *, by: str,
                    now: datetime) -> None:
    await conn.execute(Q["upsert_terms"], customer_id, new.payment_days, new.credit_limit, new.when_exceeded, by,
                       new.reason, now)
    await conn.execute(Q["record_terms_history"], customer_id, new.payment_days, new.credit_limit,
                       new.when_exceeded, False, by, new.reason, now)


async def remove_terms(conn: asyncpg.Connection, customer_id: uuid.UUID, *, reason: str, by: str,
                       now: datetime) -> None:
    await conn.execute(Q["delete_terms"], customer_id)
    await conn.execute(Q["record_terms_history"], customer_id, None, None, None, True, by, reason, now)


async def terms_history(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["terms_history"], customer_id, HISTORY)]


async def standing_of(conn: asyncpg.Connection, customer_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q["standing_of"], customer_id)
    return None if row is None else dict(row)


async def is_known(conn: asyncpg.Connection, customer_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(Q["is_known"], customer_id))


async def apply_standings(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """CreditStandingChanged events into the replica; an older event never overwrites a newer one."""
    for d in deliveries:
        event = d.event
        if isinstance(event, CreditStandingChanged):
            await conn.execute(Q["apply_standing"], event.customer_id, event.tier, event.reason,
                               event.evidence.model_dump(mode="json"), event.occurred_at,
                               d.envelope.id)


async def wait_for_approval(conn: asyncpg.Connection, order_id: uuid.UUID) -> None:
    await conn.execute(Q["wait_for_approval"], order_id)


async def record_decision(conn: asyncpg.Connection, order_id: uuid.UUID, customer_id: uuid.UUID,
                          decision: CreditDecision, *, requested_by: str, now: datetime,
                          override_reason: str | None = None) -> None:
    """The credit facts of a stopped order; with ``override_reason`` a manager's override, decided at once."""
    override = override_reason is not None
    await conn.execute(
        Q["record_decision"], order_id, customer_id, decision.why, decision.tier, decision.outstanding,
        decision.credit_limit, decision.total, requested_by, now, override, True if override else None,
        requested_by if override else None, override_reason, now if override else None)


async def decision_for_update(conn: asyncpg.Connection, order_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(Q["decision_for_update"], order_id)
    return None if row is None else dict(row)


async def decide(conn: asyncpg.Connection, order_id: uuid.UUID, *, approved: bool, by: str, reason: str,
                 now: datetime) -> None:
    await conn.execute(Q["decide"], order_id, approved, by, reason, now)
    await conn.execute(Q["order_status"], order_id, "placed" if approved else "cancelled")


async def waiting(conn: asyncpg.Connection, *, limit: int, owner_filter: str | None) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(Q["waiting"], limit, owner_filter)]
