"""Kafka subscribers and clock of insights: every event lands on the timeline and moves profiles.

One ``Projector`` per process. A consumer batch, a sweep of the wall clock and an on-demand refit
all go through ``advance``, under the lock of the ``insights_clock`` row, so they never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI

from services.insights import domain, engine, ledger, merges, replay, store
from services.insights import profile as pf
from shared.consumer import Delivery
from shared.db import database_unavailable, describe
from shared.events import Event
from shared.outbox import append
from shared.owners import latest_owner_facts
from shared.runtime import ConsumerSpec
from shared.settings import Settings

log = logging.getLogger(__name__)
SWEEP_CHUNK = 2_000  # customers one sweep transaction moves


class Projector:
    """Events and time into profiles, alerts and published conclusions, under the clock lock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # datetime.UTC itself for UTC: profile.local_day has a fast path for it.
        self.zone: tzinfo = UTC if settings.timezone in ("UTC", "Etc/UTC") else ZoneInfo(settings.timezone)
        self.currency = settings.currencies[0]  # the shop currency: insights keeps value in it only
        self.refit_days = settings.insights_refit_days
        self.clock = settings.insights_clock
        self.sweep_s = settings.insights_sweep_s
        self.publish_days = settings.insights_publish_days
        self.models = Models(self.zone)
        self.watermark: float | None = None
        self.last_batch_at = 0.0
        self.more_due = False  # the last sweep left due customers for the next chunk

    # --- the consumer ---------------------------------------------------------------------

    async def project(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        self.last_batch_at = time.monotonic()
        # The clock lock first: a replay swapping tables holds it, and must not wait on our rows.
        await store.lock_clock(conn)
        new = await store.add_to_timeline(conn, deliveries)
        # Who looks after each customer, for ownership scopes (redelivered facts change nothing).
        await store.record_owners(conn, latest_owner_facts((d.event, d.envelope.time) for d in deliveries))
        refold = await merges.apply(conn, deliveries, new)  # merged customers: one timeline (merges.py)
        read = engine.in_time_order(
            f for d in deliveries
            if d.envelope.id in new and (f := engine.fact_of(d.envelope.id, d.event, self.currency)) is not None)
        facts = merges.rekeyed(await self.resolved(conn, read, new), await merges.survivors(conn))
        if facts:
            await self.advance(conn, facts, until=engine.last_purchase_at(facts), wall=False)
        if refold:
            await self.refold(conn, refold)

    async def resolved(self, conn: asyncpg.Connection, facts: list[engine.Fact],
                       new: set[uuid.UUID]) -> list[engine.Fact]:
        """``ledger.resolve`` of a batch's facts (in time order), against what the timeline already
        holds of their orders: the same as a replay resolving the whole history in time order."""
        later = {f.order_id for f in facts if f.order_id is not None and f.kind not in ("order", "pending")}
        known = ledger.Ledger()
        if later:
            earlier = [f for r in await store.order_events(conn, sorted(later), list(new))
                       if (f := engine.fact_of_data(str(r["event_id"]), r["event_type"], r["data"],
                                                    self.currency)) is not None]
            ledger.resolve(earlier, known)
        return ledger.resolve(facts, known)

    async def refold(self, conn: asyncpg.Connection, customer_ids: set[uuid.UUID]) -> None:
        """Fold these customers' profiles again from their timelines, up to the clock (merges, undos)."""
        clock = [t for t in await store.lock_clock(conn) if t is not None]
        population = await self.models.current(conn)
        for customer_id in sorted(customer_ids):
            await merges.refold(conn, customer_id, until=max(clock).timestamp() if clock else None,
                                population=population, zone=self.zone, currency=self.currency)

    # --- the clock ------------------------------------------------------------------------

    async def advance(self, conn: asyncpg.Connection, facts: Sequence[engine.Fact], *, until: float | None,
                      wall: bool) -> int:
        """Apply facts and move the clock to ``until``; returns how many events were published.

        The event-time watermark moves with events only; the wall clock (live sweeps) moves
        ``swept_to``. Refit boundaries are crossed by whichever clock is ahead: everything up to a
        boundary is applied, the model refitted, and the rest follows with the new model.
        """
        watermark, swept_to = await store.lock_clock(conn)
        clock = engine.moved_clock(_seconds(watermark), _seconds(swept_to), until,
                                   first_at=facts[0].at if facts else None, wall=wall)
        population = await self.models.current(conn)
        self.watermark = clock.watermark
        self.more_due = False
        # A sweep takes the earliest-due customers a chunk at a time (the first sweep after an
        # import of years of history moves every customer across years: one short transaction each).
        limit = SWEEP_CHUNK if wall else None
        published = 0
        rest = list(facts)
        for boundary in engine.boundaries_between(clock.start, clock.now, self.refit_days, cap=wall):
            part, rest = engine.split_at(rest, boundary)
            published += await self._run(conn, part, boundary, population, limit=limit)
            population = await self.models.refit(conn, boundary, population) or population
        published += await self._run(conn, rest, clock.target, population, limit=limit)
        await store.set_clock(conn, _datetime(clock.watermark), _datetime(clock.swept_to))
        return published

    async def _run(self, conn: asyncpg.Connection, facts: Sequence[engine.Fact], until: float,
                   population: domain.Population, *, limit: int | None = None) -> int:
        """Apply facts to their customers and step them, and every customer due by ``until``, to
        ``until``; store the profiles and alerts and publish what is news."""
        profiles = await self._load(conn, facts, until, limit)
        if not profiles and not facts:
            return 0
        events = engine.apply_facts(profiles, facts, until, population, self.zone)
        await store.save_profiles(conn, [engine.summary(p, population, self.zone) for p in profiles.values()])
        await store.record_alerts(conn, *engine.alert_rows(events))
        fresh = self._fresh(events)
        if fresh:
            await append(conn, *fresh)
        return len(fresh)

    async def _load(self, conn: asyncpg.Connection, facts: Sequence[engine.Fact], until: float,
                    limit: int | None) -> dict[str, pf.Profile]:
        """The stored profiles of the facts' customers and of those due by ``until`` (at most
        ``limit`` of these; ``more_due`` says whether some are left)."""
        ids = {uuid.UUID(f.customer_id) for f in facts}
        due = await store.due_customers(conn, pf.to_datetime(until), limit)
        self.more_due = self.more_due or (limit is not None and len(due) == limit)
        ids.update(due)
        if not ids:
            return {}
        stored = await store.load_profiles(conn, list(ids))
        return {cid: pf.from_json(cid, state) for cid, state in stored.items()}

    def _fresh(self, events: Sequence[Event]) -> list[Event]:
        """The conclusions subscribers should hear of: an import of last year's sales records its
        alerts (alerts table, profiles) but does not announce them as news."""
        if not self.publish_days:
            return list(events)
        now = time.time() if self.clock == "wall" else (self.watermark or time.time())
        oldest = now - self.publish_days * pf.DAY_S
        return [e for e in events if e.occurred_at.timestamp() >= oldest]

    def now(self, watermark: datetime | None) -> float:
        """What "now" is for reads: the wall clock live, the watermark when only events move time."""
        if self.clock == "wall" or watermark is None:
            return time.time()
        return watermark.timestamp()

    # --- the population model and the replay ------------------------------------------------

    async def population(self, conn: asyncpg.Connection) -> domain.Population:
        return await self.models.current(conn)

    async def refit_on(self, conn: asyncpg.Connection, rows: list[engine.FitRow], as_of: float,
                       warm: domain.Population | None = None) -> domain.Population | None:
        return await self.models.refit_on(conn, rows, as_of, warm)

    async def replay(self, conn: asyncpg.Connection, authorization: str, *, refit: bool = False) -> replay.Replayed:
        await store.lock_clock_for_replay(conn)
        result = await replay.rebuild(conn, self.settings, authorization, self.zone, refit=refit)
        await store.owners_from_timeline(conn)  # customer_owners is not rebuilt: catch up from the new timeline
        self.models.forget()  # versions restart: reload what the rebuild fitted
        return result


class Models:
    """The population model in force (cached by version) and its refits; callers hold the clock."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._population: domain.Population = domain.DEFAULT_POPULATION

    def forget(self) -> None:
        self._population = domain.DEFAULT_POPULATION

    async def current(self, conn: asyncpg.Connection) -> domain.Population:
        version = await store.current_model_version(conn)
        if version != self._population.version:
            row = await store.current_model(conn)
            if row is not None:
                self._population = engine.population_from_json(row["version"], _seconds(row["as_of"]), row["model"],
                                                               row["cuts"], row["customers"])
        return self._population

    async def refit(self, conn: asyncpg.Connection, as_of: float,
                    warm: domain.Population | None) -> domain.Population | None:
        """At a refit boundary: fit the population on every customer as of ``as_of`` and put it in
        force, if ``engine.should_refit`` says so."""
        rows = await self._fit_rows(conn)
        latest = max((r.last_day for r in rows), default=None)
        if warm is not None and not engine.should_refit(warm, len(rows), latest, as_of, self.zone):
            return None
        return await self.refit_on(conn, rows, as_of, warm)

    async def refit_if_grown(self, conn: asyncpg.Connection, now: float) -> domain.Population | None:
        """Live (wall clock): refit as of now once the base outgrew the model in force.

        Boundaries are crossed by the clock that is ahead, and live that is the wall clock: a
        history imported into a running kehu arrives behind it and crosses none, so without this
        its customers would be scored by the prior model until the next boundary, weeks later."""
        await store.lock_clock(conn)
        population = await self.current(conn)
        if not engine.grown(population, *await store.buyer_counts(conn)):
            return None
        return await self.refit_on(conn, await self._fit_rows(conn), now, population)

    @staticmethod
    async def _fit_rows(conn: asyncpg.Connection) -> list[engine.FitRow]:
        return [engine.FitRow(r["first_day"], r["last_day"], r["purchase_days"], r["cents"], r["first_day_cents"])
                for r in await store.fit_rows(conn)]

    async def refit_on(self, conn: asyncpg.Connection, rows: list[engine.FitRow], as_of: float,
                       warm: domain.Population | None = None) -> domain.Population | None:
        version = await store.current_model_version(conn) + 1
        started = time.perf_counter()
        population = await asyncio.to_thread(engine.fit_population, rows, as_of, self.zone, version, warm)
        if population is None:
            return None
        model, cuts = engine.population_to_json(population)
        await store.insert_model(conn, version, pf.to_datetime(as_of), len(rows), model, cuts, population.fit_key)
        self._population = population
        log.info("insights: population model v%d fitted on %d customers as of %s in %.2fs", version, len(rows),
                 pf.to_datetime(as_of).date(), time.perf_counter() - started)
        return population


def _seconds(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _datetime(at: float | None) -> datetime | None:
    return pf.to_datetime(at) if at is not None else None


async def sweep_forever(app: FastAPI) -> None:
    """Live only: move the wall clock for customers whose rules are due (an overdue alert needs
    no new event). Waits while the consumer is busy, so an import is folded in event time first."""
    projector: Projector = app.state.projector
    runtime = app.state.runtime
    if projector.clock != "wall":
        return
    log.info("insights: sweeping due customers every %.0fs on the wall clock", projector.sweep_s)
    while True:
        await asyncio.sleep(projector.sweep_s)
        if time.monotonic() - projector.last_batch_at < projector.sweep_s:
            continue
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                await projector.models.refit_if_grown(conn, time.time())
            while True:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    published = await projector.advance(conn, [], until=time.time(), wall=True)
                if published:
                    await runtime.outbox_written()
                if not projector.more_due:
                    break
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("insights: sweep failed, database unavailable (%s); next try in %.0fs",
                            describe(exc), projector.sweep_s)
            else:  # a bug must not stop the clock for good: log it and try again
                log.exception("insights: sweep failed; next try in %.0fs", projector.sweep_s)


def consumers(projector: Projector) -> list[ConsumerSpec]:
    return [ConsumerSpec(name="insights", topics=("kehu.contacts", "kehu.orders", "kehu.tickets"),
                         apply=projector.project)]
