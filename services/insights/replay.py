"""Rebuild every insights table from the publishing services' retained outboxes, then swap.

The events are read from each service's ``GET /admin/outbox`` (their retained outbox rows: the
embedded broker keeps nothing across restarts, the outboxes keep everything), folded in memory
in business-time order by the same engine the live consumer uses, written into fresh tables with
COPY, and swapped in by renaming, all under the clock lock so no consumer batch interleaves.
Events the live consumer receives afterwards that the rebuild already holds are recognised by
their id on the timeline and change nothing. Nothing is published: the alerts and changes a
replay finds were published when they happened.
"""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import orjson
from pydantic import ValidationError

from services.insights import engine
from services.insights import profile as pf
from services.insights.store import PROFILE_COLUMNS
from shared.events import EVENT_TYPES, Event
from shared.settings import Settings, service_url

log = logging.getLogger(__name__)

SOURCES = ("contacts", "orders", "tickets")
TABLES = ("timeline", "customer_profile", "alerts", "population_model", "insights_clock")
CHUNK = 5_000  # facts folded between two clock moves, like a consumer batch
# The rebuilt tables' columns, written with COPY … CSV (binary COPY cannot use the pool's text
# codec for jsonb; CSV moves a CDNOW-sized history in about a second).
TIMELINE_COLUMNS = ("event_id", "customer_id", "event_type", "ce_type", "source", "occurred_at", "recorded_at", "data")
ALERT_COLUMNS = ("alert_id", "customer_id", "kind", "status", "raised_at", "cleared_at", "rule_version", "evidence",
                 "cleared_reason", "cleared_evidence")


def _csv_value(value: Any) -> Any:
    """None is written as nothing (NULL in CSV); every text written is non-empty (ids, names, JSON)."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def _copy(conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    await conn.copy_to_table(table, source=io.BytesIO(buffer.getvalue().encode()), columns=list(columns),
                             format="csv")


@dataclass
class Replayed:
    events: int = 0
    skipped: list[str] = field(default_factory=list)
    customers: int = 0
    alerts: int = 0
    refits: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


async def fetch_outboxes(settings: Settings, authorization: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(headers={"Authorization": authorization}, timeout=60) as client:
        for service in SOURCES:
            after = 0
            while True:
                response = await client.get(f"{service_url(settings, service)}/admin/outbox",
                                            params={"after": after, "limit": 20_000})
                response.raise_for_status()
                items = orjson.loads(response.content)["items"]
                if not items:
                    break
                rows.extend(items)
                after = items[-1]["id"]
    return rows


@dataclass
class Fold:
    """The live projector's algorithm over in-memory profiles."""

    zone: Any
    refit_days: int
    profiles: dict[str, pf.Profile] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    population: pf.Population = pf.DEFAULT_POPULATION
    models: list[tuple[pf.Population, int]] = field(default_factory=list)
    transitions: list[Event] = field(default_factory=list)
    watermark: float | None = None

    def run(self, facts: Sequence[engine.Fact]) -> None:
        for start in range(0, len(facts), CHUNK):
            chunk = facts[start:start + CHUNK]
            until = max(chunk[-1].at, self.watermark or chunk[-1].at)
            rest = list(chunk)
            origin = self.watermark if self.watermark is not None else chunk[0].at
            for boundary in engine.boundaries_between(origin, until, self.refit_days):
                part = [f for f in rest if f.at <= boundary]
                rest = rest[len(part):]
                self._apply(part, boundary)
                self._refit(boundary)
            self._apply(rest, until)
            self.watermark = until

    def _apply(self, facts: Sequence[engine.Fact], until: float) -> None:
        touched = {f.customer_id for f in facts}
        touched.update(cid for cid, due in self.due.items() if due <= until)
        if not touched:
            return
        subset = {cid: self.profiles[cid] for cid in touched if cid in self.profiles}
        self.transitions.extend(engine.apply_facts(subset, facts, until, self.population, self.zone))
        for cid, profile in subset.items():
            self.profiles[cid] = profile
            due = pf.due_at(profile, profile.evaluated_at, self.population, self.zone) \
                if profile.evaluated_at is not None else None
            if due is None:
                self.due.pop(cid, None)
            else:
                self.due[cid] = due

    def _refit(self, as_of: float) -> None:
        buying = sum(1 for p in self.profiles.values() if p.days)
        if not engine.should_refit(self.population, buying, as_of):
            return
        rows = [row for p in self.profiles.values() if (row := engine.fit_row(p)) is not None]
        version = self.population.version + 1
        fitted = engine.fit_population(rows, as_of, self.zone, version, self.population)
        if fitted is not None:
            self.population = fitted
            self.models.append((fitted, len(rows)))


def decode(rows: Sequence[dict[str, Any]], replayed: Replayed) -> tuple[list[tuple[Any, ...]], list[engine.Fact]]:
    """(timeline rows, facts) from outbox rows; rows that do not decode are skipped and counted.

    An outbox row's data is the publishing service's own ``model_dump`` of an event it validated,
    so known types are read as they are (a third of a replay's time went to validating them again);
    a row that does not read that way is validated, and skipped if it fails.
    """
    timeline: list[tuple[Any, ...]] = []
    facts: list[engine.Fact] = []
    for row in rows:
        cls = EVENT_TYPES.get(row["type"])
        if cls is None:
            replayed.skipped.append(f"{row['event_id']}: unknown event type {row['type']}")
            continue
        data = row["data"]
        try:
            customer_id = uuid.UUID(data["customer_id"])
            occurred_at = datetime.fromisoformat(data["occurred_at"])
            fact = engine.fact_of_data(row["event_id"], cls.__name__, data)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            try:
                event = cls.model_validate(data)
            except (ValueError, ValidationError) as exc:
                replayed.skipped.append(f"{row['event_id']}: {exc}")
                continue
            data = event.model_dump(mode="json")
            customer_id, occurred_at = event.customer_id, event.occurred_at
            fact = engine.fact_of(uuid.UUID(row["event_id"]), event)
        timeline.append((uuid.UUID(row["event_id"]), customer_id, cls.__name__, row["type"], row["source"],
                         occurred_at, datetime.fromisoformat(row["recorded_at"]), data))
        if fact is not None:
            facts.append(fact)
    return timeline, facts


async def rebuild(conn: asyncpg.Connection, settings: Settings, authorization: str, zone: Any) -> Replayed:
    """Run inside a transaction that holds the clock lock; the caller commits."""
    replayed = Replayed()
    started = time.perf_counter()
    rows = await fetch_outboxes(settings, authorization)
    replayed.seconds["read_outboxes"] = time.perf_counter() - started

    mark = time.perf_counter()
    timeline, facts = decode(rows, replayed)
    replayed.events = len(timeline)
    fold = Fold(zone=zone, refit_days=settings.insights_refit_days)
    fold.run(engine.in_time_order(facts))
    summaries = [engine.summary(p, fold.population, zone) for p in fold.profiles.values()]
    raised, cleared = engine.alert_rows(fold.transitions)
    replayed.customers, replayed.alerts, replayed.refits = len(summaries), len(raised), len(fold.models)
    replayed.seconds["fold"] = time.perf_counter() - mark

    mark = time.perf_counter()
    # A fresh suffix each time: the copied indexes keep the names they are created with.
    suffix = f"rebuild_{time.time_ns()}"
    for table in TABLES:
        await conn.execute(f"CREATE TABLE {table}_{suffix} (LIKE {table} INCLUDING ALL)")
    await _copy(conn, f"timeline_{suffix}", TIMELINE_COLUMNS, timeline)
    await _copy(conn, f"customer_profile_{suffix}", PROFILE_COLUMNS,
                [tuple(s[c] for c in PROFILE_COLUMNS) for s in summaries])
    clear_by_id = {c[0]: c for c in cleared}
    await _copy(conn, f"alerts_{suffix}", ALERT_COLUMNS, [
        (a[0], a[1], a[2], "cleared" if a[0] in clear_by_id else "open", a[3],
         clear_by_id[a[0]][1] if a[0] in clear_by_id else None, a[4], a[5],
         clear_by_id[a[0]][2] if a[0] in clear_by_id else None,
         clear_by_id[a[0]][3] if a[0] in clear_by_id else None)
        for a in raised])
    for population, customers in fold.models:
        model, cuts = engine.population_to_json(population)
        await conn.execute(
            f"INSERT INTO population_model_{suffix} (version, as_of, customers, model, cuts) VALUES ($1, $2, $3, $4, $5)",
            population.version, pf.to_datetime(population.as_of) if population.as_of is not None else None,
            customers, model, cuts)
    await conn.execute(f"INSERT INTO insights_clock_{suffix} (id, watermark, swept_to) VALUES (true, $1, NULL)",
                       pf.to_datetime(fold.watermark) if fold.watermark is not None else None)
    for table in TABLES:
        await conn.execute(f"DROP TABLE {table}")
        await conn.execute(f"ALTER TABLE {table}_{suffix} RENAME TO {table}")
    replayed.seconds["write_and_swap"] = time.perf_counter() - mark
    replayed.seconds["total"] = time.perf_counter() - started
    log.info("insights: replayed %d events of %d customers in %.1fs (%s)", replayed.events, replayed.customers,
             replayed.seconds["total"], {k: round(v, 2) for k, v in replayed.seconds.items()})
    return replayed
