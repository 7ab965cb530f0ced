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
# (column, SQL type) of the rebuilt tables, written with INSERT … SELECT FROM unnest (the pool's
# jsonb codec is a text codec, which binary COPY cannot use)
TIMELINE_COLUMNS = (("event_id", "uuid"), ("customer_id", "uuid"), ("event_type", "text"), ("ce_type", "text"),
                    ("source", "text"), ("occurred_at", "timestamptz"), ("recorded_at", "timestamptz"),
                    ("data", "jsonb"))
PROFILE_TYPES = tuple(zip(PROFILE_COLUMNS, (
    "uuid", "jsonb", "text", "text", "timestamptz", "timestamptz", "int", "int", "int", "numeric", "numeric",
    "timestamptz", "text", "text", "timestamptz", "text", "bool", "float8", "float8", "float8", "numeric", "int",
    "int"), strict=True))
ALERT_COLUMNS = (("alert_id", "uuid"), ("customer_id", "uuid"), ("kind", "text"), ("status", "text"),
                 ("raised_at", "timestamptz"), ("cleared_at", "timestamptz"), ("rule_version", "text"),
                 ("evidence", "jsonb"), ("cleared_reason", "text"), ("cleared_evidence", "jsonb"))
INSERT_CHUNK = 10_000


async def _insert(conn: asyncpg.Connection, table: str, columns: Sequence[tuple[str, str]],
                  rows: Sequence[tuple[Any, ...]]) -> None:
    names = ", ".join(c for c, _ in columns)
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, start=1))
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        await conn.execute(sql, *([row[i] for row in chunk] for i in range(len(columns))))


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
    """(timeline rows, facts) from outbox rows; rows that do not decode are skipped and counted."""
    timeline: list[tuple[Any, ...]] = []
    facts: list[engine.Fact] = []
    for row in rows:
        cls = EVENT_TYPES.get(row["type"])
        try:
            if cls is None:
                raise ValueError(f"unknown event type {row['type']}")
            event = cls.model_validate(row["data"])
        except (ValueError, ValidationError) as exc:
            replayed.skipped.append(f"{row['event_id']}: {exc}")
            continue
        event_id = uuid.UUID(row["event_id"])
        timeline.append((event_id, event.customer_id, type(event).__name__, row["type"], row["source"],
                         event.occurred_at, datetime.fromisoformat(row["recorded_at"]),
                         event.model_dump(mode="json")))
        fact = engine.fact_of(event_id, event)
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
    await _insert(conn, f"timeline_{suffix}", TIMELINE_COLUMNS, timeline)
    await _insert(conn, f"customer_profile_{suffix}", PROFILE_TYPES,
                  [tuple(s[c] for c, _ in PROFILE_TYPES) for s in summaries])
    clear_by_id = {c[0]: c for c in cleared}
    await _insert(conn, f"alerts_{suffix}", ALERT_COLUMNS, [
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
