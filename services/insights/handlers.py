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

from services.insights import domain, engine, replay, store
from services.insights import profile as pf
from shared.consumer import Delivery
from shared.events import Event
from shared.outbox import append
from shared.runtime import ConsumerSpec
from shared.settings import Settings

log = logging.getLogger(__name__)
SWEEP_CHUNK = 2_000  # customers one sweep transaction moves


class Projector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # datetime.UTC itself for UTC: profile.local_day has a fast path for it.
        self.zone: tzinfo = UTC if settings.timezone in ("UTC", "Etc/UTC") else ZoneInfo(settings.timezone)
        self.currency = settings.currencies[0]  # the shop currency: insights keeps value in it only
        self.refit_days = settings.insights_refit_days
        self.clock = settings.insights_clock
        self.sweep_s = settings.insights_sweep_s
        self.publish_days = settings.insights_publish_days
        self.watermark: float | None = None
        self._population: domain.Population = domain.DEFAULT_POPULATION
        self.last_batch_at = 0.0
        self.more_due = False  # the last sweep left due customers for the next chunk

    # --- the consumer ---------------------------------------------------------------------

    async def project(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        self.last_batch_at = time.monotonic()
        # The clock lock first: a replay swapping tables holds it, and must not wait on our rows.
        await store.lock_clock(conn)
        new = await store.add_to_timeline(conn, deliveries)
        facts = engine.in_time_order(
            f for d in deliveries
            if d.envelope.id in new and (f := engine.fact_of(d.envelope.id, d.event, self.currency)) is not None
        )
        if facts:
            await self.advance(conn, facts, until=engine.last_purchase_at(facts), wall=False)

    # --- the clock ------------------------------------------------------------------------

    async def population(self, conn: asyncpg.Connection) -> domain.Population:
        version = await store.current_model_version(conn)
        if version != self._population.version:
            row = await store.current_model(conn)
            if row is not None:
                as_of = row["as_of"].timestamp() if row["as_of"] else None
                self._population = engine.population_from_json(row["version"], as_of, row["model"], row["cuts"],
                                                               row["customers"])
        return self._population

    async def advance(self, conn: asyncpg.Connection, facts: Sequence[engine.Fact], *, until: float | None,
                      wall: bool) -> int:
        """Apply facts and move the clock to ``until``; returns how many events were published.

        The event-time watermark moves with events only; the wall clock (live sweeps) moves
        ``swept_to``. Refit boundaries are crossed by whichever clock is ahead.
        """
        watermark, swept_to = await store.lock_clock(conn)
        old_wm = watermark.timestamp() if watermark else None
        old_swept = swept_to.timestamp() if swept_to else None
        known = [t for t in (old_wm, old_swept) if t is not None]
        old_clock = max(known) if known else None
        if until is None:  # registrations only (see engine.last_purchase_at): the clock stays
            until = old_clock if old_clock is not None else facts[0].at
        # The clock that moves never goes back; the other one stays where it was.
        new_wm: float | None
        new_swept: float | None
        if wall:
            new_wm, new_swept = old_wm, max(until, old_swept if old_swept is not None else until)
            target = new_swept
        else:
            new_wm, new_swept = max(until, old_wm if old_wm is not None else until), old_swept
            target = new_wm
        clock = max(t for t in (new_wm, new_swept) if t is not None)
        population = await self.population(conn)
        self.watermark = new_wm
        self.more_due = False
        published = 0
        rest = list(facts)
        # Before the first event there is no clock: time starts at the first event.
        start = old_clock if old_clock is not None else (facts[0].at if facts else None)
        for boundary in engine.boundaries_between(start, clock, self.refit_days, cap=wall):
            part = [f for f in rest if f.at <= boundary]
            rest = rest[len(part):]
            published += await self._run(conn, part, boundary, population, limit=SWEEP_CHUNK if wall else None)
            population = await self.refit(conn, boundary, population) or population
        # A sweep takes the earliest-due customers a chunk at a time (the first sweep after an
        # import of years of history moves every customer across years: one short transaction each).
        published += await self._run(conn, rest, target, population, limit=SWEEP_CHUNK if wall else None)
        await store.set_clock(conn, pf.to_datetime(new_wm) if new_wm is not None else None,
                              pf.to_datetime(new_swept) if new_swept is not None else None)
        return published

    async def _run(self, conn: asyncpg.Connection, facts: Sequence[engine.Fact], until: float,
                   population: domain.Population, *, limit: int | None = None) -> int:
        ids = {uuid.UUID(f.customer_id) for f in facts}
        due = await store.due_customers(conn, pf.to_datetime(until), limit)
        self.more_due = self.more_due or (limit is not None and len(due) == limit)
        ids.update(due)
        if not ids:
            return 0
        stored = await store.load_profiles(conn, list(ids))
        profiles = {cid: pf.from_json(cid, state) for cid, state in stored.items()}
        events = engine.apply_facts(profiles, facts, until, population, self.zone)
        await store.save_profiles(conn, [engine.summary(p, population, self.zone) for p in profiles.values()])
        raised, cleared = engine.alert_rows(events)
        await store.record_alerts(conn, raised, cleared)
        fresh = self._fresh(events)
        if fresh:
            await append(conn, *fresh)
        return len(fresh)

    async def refit(self, conn: asyncpg.Connection, as_of: float, warm: domain.Population | None) -> domain.Population | None:
        """Fit the population on every customer as of ``as_of`` and put it in force (caller holds the clock)."""
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
        population = await self.population(conn)
        if not engine.grown(population, *await store.buyer_counts(conn)):
            return None
        rows = await self._fit_rows(conn)
        return await self.refit_on(conn, rows, now, population)

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

    async def replay(self, conn: asyncpg.Connection, authorization: str, *, refit: bool = False) -> replay.Replayed:
        await store.lock_clock(conn)
        result = await replay.rebuild(conn, self.settings, authorization, self.zone, refit=refit)
        self._population = domain.DEFAULT_POPULATION  # versions restart: reload what the rebuild fitted
        return result

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
                await projector.refit_if_grown(conn, time.time())
            while True:
                async with runtime.pool.acquire() as conn, conn.transaction():
                    published = await projector.advance(conn, [], until=time.time(), wall=True)
                if published:
                    await runtime.outbox_written()
                if not projector.more_due:
                    break
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("insights: sweep failed (%s); next try in %.0fs", exc, projector.sweep_s)
        except Exception:  # a bug must not stop the clock for good: log it and try again
            log.exception("insights: sweep failed; next try in %.0fs", projector.sweep_s)


def consumers(projector: Projector) -> list[ConsumerSpec]:
    return [ConsumerSpec(name="insights", topics=("kehu.contacts", "kehu.orders", "kehu.tickets"),
                         apply=projector.project)]
