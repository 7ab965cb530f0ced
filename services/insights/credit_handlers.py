"""The credit consumer ("insights-credit", on kehu.orders) and the credit sweep.

Both hold the credit lock (``credit_store.lock``), fold events into each customer's history
(``credit.fold``), judge the customer as of a time that never moves back for a customer (the
later of the time asked and the time of the last judgement), record the standing and publish
``CreditStandingChanged`` through the outbox when the tier changed. Redelivered events stop at the
consumer's inbox; an event seen again under another id (an older revision, the same payment)
changes no history, and the same history judged at the same time gives the same tier: no event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI

from services.insights import credit, credit_store
from shared.consumer import Delivery
from shared.db import database_unavailable, describe
from shared.outbox import append
from shared.runtime import ConsumerSpec
from shared.settings import Settings

log = logging.getLogger(__name__)
SWEEP_CHUNK = 500  # customers one sweep transaction judges


@dataclass(frozen=True)
class Swept:
    judged: int
    published: int
    more: bool  # customers were left for the next chunk


class CreditJudge:
    """Events and time into credit standings (one per process)."""

    def __init__(self, settings: Settings) -> None:
        self.clock = settings.insights_clock
        self.sweep_s = settings.insights_sweep_s

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def apply(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        """A consumer batch: the events of kehu.orders that concern credit, folded and judged."""
        relevant = [d for d in deliveries if isinstance(d.event, credit.CREDIT_EVENTS)]
        if not relevant:
            return
        await credit_store.lock(conn)
        customers = sorted({d.event.customer_id for d in relevant})
        before = await credit_store.histories(conn, customers)
        after = dict(before)
        latest: dict[uuid.UUID, datetime] = {}
        for d in relevant:
            cid = d.event.customer_id
            after[cid] = credit.fold(after[cid], d.envelope.id, d.event)
            latest[cid] = max(latest.get(cid, d.event.occurred_at), d.event.occurred_at)
        for cid in customers:
            await credit_store.save_history(conn, cid, before[cid], after[cid])
        # Live, the wall clock; with the events clock (imports, tests), the newest event's time.
        wall = self.now() if self.clock == "wall" else None
        await self.judge(conn, {cid: wall or latest[cid] for cid in customers}, after)

    async def judge(self, conn: asyncpg.Connection, as_of: dict[uuid.UUID, datetime],
                    known: dict[uuid.UUID, credit.History] | None = None) -> int:
        """Judge these customers (as of at least their last judgement), record their standings and
        publish the changes of tier; returns how many were published. The caller holds the lock."""
        histories = dict(known or {})
        missing = [cid for cid in as_of if cid not in histories]
        if missing:
            histories.update(await credit_store.histories(conn, missing))
        recorded = await credit_store.standings(conn, as_of)
        rows = []
        events = []
        for cid, asked in sorted(as_of.items()):
            previous = credit_store.standing_of(recorded.get(cid))
            at = max(asked, previous.as_of) if previous is not None else asked
            judged = credit.judge(histories[cid], at)
            if (event := credit.change(cid, previous, judged, at)) is not None:
                events.append(event)
            rows.append((cid, credit.next_standing(previous, judged, at), judged))
        await credit_store.save_standings(conn, rows)
        if events:
            await append(conn, *events)
        return len(events)

    async def sweep(self, conn: asyncpg.Connection, as_of: datetime, limit: int = SWEEP_CHUNK) -> Swept:
        """One chunk of the customers whose judgement time alone may have changed by ``as_of``."""
        await credit_store.lock(conn)
        due = await credit_store.customers_to_review(conn, as_of, limit)
        published = await self.judge(conn, dict.fromkeys(due, as_of)) if due else 0
        return Swept(len(due), published, len(due) == limit)


async def sweep_all(app: FastAPI, as_of: datetime) -> tuple[int, int]:
    """Sweep every due customer as of ``as_of``, a chunk per transaction; (judged, published)."""
    judge: CreditJudge = app.state.credit
    runtime = app.state.runtime
    judged = published = 0
    while True:
        async with runtime.pool.acquire() as conn, conn.transaction():
            swept = await judge.sweep(conn, as_of)
        judged += swept.judged
        published += swept.published
        if swept.published:
            await runtime.outbox_written()
        if not swept.more:
            return judged, published


async def sweep_forever(app: FastAPI) -> None:
    """Live only (the wall clock): overdue grows without events, so customers with instalments
    open are judged again when their ``review_at`` comes, every ``KEHU_INSIGHTS_SWEEP_S``."""
    judge: CreditJudge = app.state.credit
    if judge.clock != "wall":
        return
    while True:
        await asyncio.sleep(judge.sweep_s)
        try:
            await sweep_all(app, judge.now())
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("insights: credit sweep failed, database unavailable (%s); next try in %.0fs",
                            describe(exc), judge.sweep_s)
            else:  # a bug must not stop the sweep for good: log it and try again
                log.exception("insights: credit sweep failed; next try in %.0fs", judge.sweep_s)


def consumers(judge: CreditJudge) -> list[ConsumerSpec]:
    return [ConsumerSpec(name="insights-credit", topics=("kehu.orders",), apply=judge.apply)]
