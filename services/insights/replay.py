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

import asyncio
import csv
import gc
import io
import logging
import operator
import os
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, cast

import asyncpg
import httpx
import orjson
from pydantic import ValidationError

from services.insights import engine, store
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


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# How each type of value is written in COPY CSV (by exact type: one lookup per value, not a chain
# of isinstance checks). None is written as nothing (NULL); every text is non-empty (ids, JSON).
_CSV_TEXT: dict[type, Callable[[Any], Any]] = {
    type(None): lambda v: v, int: lambda v: v, float: lambda v: v, str: lambda v: v,
    bool: lambda v: "true" if v else "false", dict: _json_text, list: _json_text,
    datetime: datetime.isoformat, uuid.UUID: str, Decimal: str,
}


def _csv(rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    text = _CSV_TEXT
    writer.writerows([text[type(v)](v) for v in row] for row in rows)
    return buffer.getvalue().encode()


async def _copy(conn: asyncpg.Connection, table: str, columns: Sequence[str], data: bytes) -> None:
    await conn.copy_to_table(table, source=io.BytesIO(data), columns=list(columns), format="csv")


@dataclass
class Replayed:
    events: int = 0
    skipped: list[str] = field(default_factory=list)
    customers: int = 0
    alerts: int = 0
    refits: int = 0
    processes: int = 1  # the processes the customers were folded in
    reused_fits: int = 0  # population fits taken from the stored ones (same inputs), not fitted again
    seconds: dict[str, float] = field(default_factory=dict)


async def fetch_outboxes(settings: Settings, authorization: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(headers={"Authorization": authorization}, timeout=60) as client:

        async def read(service: str) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            after = 0
            while True:
                response = await client.get(f"{service_url(settings, service)}/admin/outbox",
                                            params={"after": after, "limit": 20_000})
                response.raise_for_status()
                items = orjson.loads(response.content)["items"]
                if not items:
                    return rows
                rows.extend(items)
                after = items[-1]["id"]

        # The services answer at the same time; their rows are kept in source order.
        return [row for rows in await asyncio.gather(*(read(s) for s in SOURCES)) for row in rows]


@dataclass
class Fold:
    """The live projector's algorithm over in-memory profiles.

    With a ``schedule`` (the refits of the whole history, from ``refit_schedule``) it takes the
    population model at each refit boundary from there instead of fitting one on its own profiles:
    so a part of the customers folds exactly as they fold among all of them (one customer's
    profile depends on the others only through the population model).
    """

    zone: Any
    refit_days: int
    profiles: dict[str, pf.Profile] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    population: pf.Population = pf.DEFAULT_POPULATION
    models: list[tuple[pf.Population, int]] = field(default_factory=list)
    transitions: list[Event] = field(default_factory=list)
    watermark: float | None = None
    announce: bool = False  # the alert events only: a replay publishes nothing (see ``pf.step``)
    schedule: dict[float, tuple[pf.Population, int]] | None = None
    known_fits: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] | None = None  # see engine.fit_population

    def run(self, facts: Sequence[engine.Fact], *, since: float | None = None, until: float | None = None) -> None:
        """Fold facts (in time order) and move the clock to ``until`` (default: the last fact);
        ``since`` is where a clock that has not moved yet starts (default: the first fact)."""
        chunks = [facts[start:start + CHUNK] for start in range(0, len(facts), CHUNK)]
        if until is not None and (not chunks or until > chunks[-1][-1].at):
            chunks.append([])  # no facts left, only the clock to move
        for n, chunk in enumerate(chunks):
            ends = [t for t in (self.watermark, chunk[-1].at if chunk else None) if t is not None]
            if until is not None and n == len(chunks) - 1:
                ends.append(until)
            end = max(ends)
            origin = self.watermark if self.watermark is not None else since if since is not None else \
                chunk[0].at if chunk else end
            rest = list(chunk)
            for boundary in engine.boundaries_between(origin, end, self.refit_days):
                part = [f for f in rest if f.at <= boundary]
                rest = rest[len(part):]
                self._apply(part, boundary)
                self._refit(boundary)
            self._apply(rest, end)
            self.watermark = end

    def _apply(self, facts: Sequence[engine.Fact], until: float) -> None:
        touched = {f.customer_id for f in facts}
        touched.update(cid for cid, due in self.due.items() if due <= until)
        if not touched:
            return
        subset = {cid: self.profiles[cid] for cid in touched if cid in self.profiles}
        self.transitions.extend(engine.apply_facts(subset, facts, until, self.population, self.zone,
                                                   announce=self.announce))
        for cid, profile in subset.items():
            self.profiles[cid] = profile
            due = pf.due_at(profile, profile.evaluated_at, self.population, self.zone) \
                if profile.evaluated_at is not None else None
            if due is None:
                self.due.pop(cid, None)
            else:
                self.due[cid] = due

    def _refit(self, as_of: float) -> None:
        if self.schedule is not None:
            planned = self.schedule.get(as_of)
            if planned is not None:
                self.population = planned[0]
                self.models.append(planned)
            return
        buying = sum(1 for p in self.profiles.values() if p.days)
        if not engine.should_refit(self.population, buying, as_of):
            return
        rows = [row for p in self.profiles.values() if (row := engine.fit_row(p)) is not None]
        version = self.population.version + 1
        fitted = engine.fit_population(rows, as_of, self.zone, version, self.population, self.known_fits)
        if fitted is not None:
            self.population = fitted
            self.models.append((fitted, len(rows)))


def refit_schedule(facts: Sequence[engine.Fact], zone: Any, refit_days: int,
                   decided: Callable[[float, tuple[pf.Population, int] | None], None] | None = None,
                   known: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] | None = None,
                   ) -> dict[float, tuple[pf.Population, int]]:
    """The refits a ``Fold`` of these facts (in time order, from a fresh start) makes: boundary ->
    (population, customers it was fitted on); ``decided`` hears of every boundary as soon as it is
    decided. A refit needs only each buyer's first and last purchase day, purchase days and spend
    so far, so this is a pass over the orders, not a fold."""
    schedule: dict[float, tuple[pf.Population, int]] = {}
    if not facts:
        return schedule
    # customer -> [first day, last day, purchase days, cents, first day's cents]: engine.FitRow's fields
    buyers: dict[str, list[int]] = {}
    population = pf.DEFAULT_POPULATION
    index = 0
    for boundary in engine.boundaries_between(facts[0].at, facts[-1].at, refit_days):
        while index < len(facts) and facts[index].at <= boundary:
            fact = facts[index]
            index += 1
            if fact.kind != "order":
                continue
            day = pf.local_day(fact.at, zone)
            row = buyers.get(fact.customer_id)
            if row is None:
                buyers[fact.customer_id] = [day, day, 1, fact.cents, fact.cents]
                continue
            if day > row[1]:
                row[1], row[2] = day, row[2] + 1
            elif day == row[0]:
                row[4] += fact.cents
            row[3] += fact.cents
        if engine.should_refit(population, len(buyers), boundary):
            rows = [engine.FitRow(*row) for row in buyers.values()]
            fitted = engine.fit_population(rows, boundary, zone, population.version + 1, population, known)
            if fitted is not None:
                population = fitted
                schedule[boundary] = (fitted, len(rows))
        if decided is not None:
            decided(boundary, schedule.get(boundary))
    return schedule


def decode(rows: Sequence[dict[str, Any]], replayed: Replayed) -> tuple[list[str], list[engine.Fact]]:
    """(timeline rows as COPY CSV lines, facts) from outbox rows; rows that do not decode are
    skipped and counted.

    An outbox row's data is the publishing service's own ``model_dump`` of an event it validated,
    so known types are read as they are (a third of a replay's time went to validating them again);
    a row that does not read that way is validated, and skipped if it fails. The lines are written
    here, from values just checked (ids, times), not by the csv module: a quarter of the time.
    """
    timeline: list[str] = []
    facts: list[engine.Fact] = []
    names = {t: cls.__name__ for t, cls in EVENT_TYPES.items()}
    for row in rows:
        name = names.get(row["type"])
        if name is None:
            replayed.skipped.append(f"{row['event_id']}: unknown event type {row['type']}")
            continue
        data = row["data"]
        try:
            event_id = uuid.UUID(row["event_id"])
            customer_id = uuid.UUID(data["customer_id"])
            occurred_at = datetime.fromisoformat(data["occurred_at"])
            recorded_at = datetime.fromisoformat(row["recorded_at"])
            fact = engine.fact_of_data(str(event_id), name, data)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            try:
                event = EVENT_TYPES[row["type"]].model_validate(data)
                event_id, recorded_at = uuid.UUID(row["event_id"]), datetime.fromisoformat(row["recorded_at"])
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                replayed.skipped.append(f"{row.get('event_id')}: {exc}")
                continue
            data = event.model_dump(mode="json")
            customer_id, occurred_at = event.customer_id, event.occurred_at
            fact = engine.fact_of(event_id, event)
        timeline.append(f"{event_id},{customer_id},{_quoted(name)},{_quoted(row['type'])},{_quoted(row['source'])},"
                        f"{occurred_at.isoformat()},{recorded_at.isoformat()},{_quoted(orjson.dumps(data).decode())}\n")
        if fact is not None:
            facts.append(fact)
    return timeline, facts


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@dataclass
class Written:
    """A fold's rows for the profile and alerts tables, as COPY CSV."""

    profiles_csv: bytes
    alerts_csv: bytes
    customers: int
    alerts: int


def written(fold: Fold) -> Written:
    summaries = [engine.summary(p, fold.population, fold.zone) for p in fold.profiles.values()]
    raised, cleared = engine.alert_rows(fold.transitions)
    clear_by_id = {c[0]: c for c in cleared}
    alerts = []
    for a in raised:
        c = clear_by_id.get(a[0])
        alerts.append((a[0], a[1], a[2], "open" if c is None else "cleared", a[3], c and c[1], a[4], a[5],
                       c and c[2], c and c[3]))
    columns = operator.itemgetter(*PROFILE_COLUMNS)
    return Written(_csv([columns(s) for s in summaries]), _csv(alerts),
                   len(summaries), len(raised))


# --- folding in worker processes ----------------------------------------------------------------
#
# Customers fold independently but for the population model, and a refit needs only each buyer's
# running totals (``refit_schedule``). So a long history is folded by worker processes, each over
# its share of the customers, while this process fits the population at each refit boundary and
# sends every boundary's decision down each worker's pipe in order; a worker that reaches a
# boundary waits for it. This process meanwhile writes the timeline.

POOL_MIN_FACTS = 20_000  # below this, starting processes (about a second) costs more than it saves
MAX_WORKERS = 4


def worker_count(setting: int, facts: int) -> int:
    if setting:
        return setting
    return min(os.cpu_count() or 1, MAX_WORKERS) if facts >= POOL_MIN_FACTS else 1


class _PipedSchedule:
    """``Fold.schedule`` read from the pipe: every boundary's decision arrives in order."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe

    def get(self, boundary: float) -> tuple[pf.Population, int] | None:
        sent, planned = self.pipe.recv()
        if sent != boundary:
            raise RuntimeError(f"replay worker at refit boundary {boundary} got the decision for {sent}")
        return cast("tuple[pf.Population, int] | None", planned)


def fold_worker(pipe: Connection) -> None:
    """A worker process: (zone, refit days, since, until, facts), then one decision per boundary;
    answers with its ``Written`` rows, or the error that stopped it."""
    gc.disable()  # see ``rebuild``; this process ends when its share is written
    try:
        try:
            zone, refit_days, since, until, rows = pipe.recv()
        except EOFError:  # stopped before it was given any work
            return
        fold = Fold(zone=zone, refit_days=refit_days, schedule=_PipedSchedule(pipe))  # type: ignore[arg-type]
        fold.run([engine.Fact(*row) for row in rows], since=since, until=until)
        pipe.send(written(fold))
    except BaseException as exc:  # reported to the parent, which fails the replay
        pipe.send(RuntimeError(f"replay worker failed: {exc!r}"))
    finally:
        pipe.close()


class Workers:
    """Worker processes (``python -m services.insights.fold_worker``, each with a socket to this
    process), started early: each imports the engine, about a second, while this one decodes.
    Always stopped. (Not ``multiprocessing``: its spawned children re-import the parent's main
    module, a server here, and forking a process that runs an event loop is unsafe.)"""

    def __init__(self, count: int) -> None:
        self.pipes: list[Connection] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        for _ in range(count):
            mine, theirs = socket.socketpair()
            with theirs:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "services.insights.fold_worker", str(theirs.fileno())],
                    pass_fds=[theirs.fileno()]))
            self.pipes.append(Connection(mine.detach()))

    def start(self, facts: Sequence[engine.Fact], zone: Any, refit_days: int) -> None:
        # As plain tuples: pickling 100,000 dataclass instances took most of a second.
        parts: list[list[tuple[Any, ...]]] = [[] for _ in self.pipes]
        for fact in facts:
            parts[zlib.crc32(fact.customer_id.encode()) % len(parts)].append(
                (fact.at, fact.customer_id, fact.event_id, fact.kind, fact.external_ref, fact.owner, fact.quantity,
                 fact.cents))
        for pipe, part in zip(self.pipes, parts, strict=True):
            pipe.send((zone, refit_days, facts[0].at, facts[-1].at, part))

    def decide(self, boundary: float, planned: tuple[pf.Population, int] | None) -> None:
        for pipe in self.pipes:
            pipe.send((boundary, planned))

    async def results(self) -> list[Written]:
        out = []
        for pipe in self.pipes:
            answer = await asyncio.to_thread(pipe.recv)
            if isinstance(answer, BaseException):
                raise answer
            out.append(cast(Written, answer))
        return out

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.close()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def rebuild(conn: asyncpg.Connection, settings: Settings, authorization: str, zone: Any) -> Replayed:
    """Run inside a transaction that holds the clock lock; the caller commits."""
    replayed = Replayed()
    started = time.perf_counter()
    # A replay makes millions of objects that all live to its end: the cyclic garbage collector
    # would walk them again and again for nothing (a third of the fold's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _read_and_rebuild(conn, settings, authorization, zone, replayed, started)
    finally:
        if collecting:
            gc.enable()


async def _read_and_rebuild(conn: asyncpg.Connection, settings: Settings, authorization: str, zone: Any,
                            replayed: Replayed, started: float) -> Replayed:
    rows = await fetch_outboxes(settings, authorization)
    replayed.seconds["read_outboxes"] = time.perf_counter() - started
    # Started before decoding, so they import the engine (about a second) while this process decodes.
    count = worker_count(settings.insights_replay_workers, len(rows))
    workers = Workers(count) if count > 1 else None
    replayed.processes = count if workers is not None else 1
    try:
        return await _rebuild(conn, settings, rows, zone, workers, replayed, started)
    finally:
        if workers is not None:
            workers.stop()


async def _rebuild(conn: asyncpg.Connection, settings: Settings, rows: Sequence[dict[str, Any]], zone: Any,
                   workers: Workers | None, replayed: Replayed, started: float) -> Replayed:
    mark = time.perf_counter()
    timeline, unordered = decode(rows, replayed)
    facts = engine.in_time_order(unordered)
    replayed.events = len(timeline)
    replayed.seconds["decode"] = time.perf_counter() - mark

    mark = time.perf_counter()
    refit_days = settings.insights_refit_days
    known = await store.known_fits(conn)
    if workers is not None and facts:
        workers.start(facts, zone, refit_days)
        schedule = refit_schedule(facts, zone, refit_days, decided=workers.decide, known=known)
        models = list(schedule.values())
        watermark: float | None = facts[-1].at
    else:
        fold = Fold(zone=zone, refit_days=refit_days, known_fits=known)
        fold.run(facts)
        parts = [written(fold)]
        models, watermark = fold.models, fold.watermark
    replayed.seconds["fold" if workers is None else "refits"] = time.perf_counter() - mark

    mark = time.perf_counter()
    # A fresh suffix each time: the copied indexes keep the names they are created with.
    suffix = f"rebuild_{time.time_ns()}"
    for table in TABLES:
        await conn.execute(f"CREATE TABLE {table}_{suffix} (LIKE {table} INCLUDING ALL)")
    await _copy(conn, f"timeline_{suffix}", TIMELINE_COLUMNS, "".join(timeline).encode())
    replayed.seconds["timeline"] = time.perf_counter() - mark
    if workers is not None and facts:
        mark = time.perf_counter()
        parts = await workers.results()
        replayed.seconds["fold"] = time.perf_counter() - mark

    mark = time.perf_counter()
    for part in parts:
        await _copy(conn, f"customer_profile_{suffix}", PROFILE_COLUMNS, part.profiles_csv)
        await _copy(conn, f"alerts_{suffix}", ALERT_COLUMNS, part.alerts_csv)
    replayed.customers = sum(p.customers for p in parts)
    replayed.alerts = sum(p.alerts for p in parts)
    replayed.refits = len(models)
    replayed.reused_fits = sum(1 for population, _ in models if population.fit_key in known)
    for population, customers in models:
        model, cuts = engine.population_to_json(population)
        await conn.execute(
            f"INSERT INTO population_model_{suffix} (version, as_of, customers, model, cuts, fit_key) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            population.version, pf.to_datetime(population.as_of) if population.as_of is not None else None,
            customers, model, cuts, population.fit_key)
    await conn.execute(f"INSERT INTO insights_clock_{suffix} (id, watermark, swept_to) VALUES (true, $1, NULL)",
                       pf.to_datetime(watermark) if watermark is not None else None)
    for table in TABLES:
        await conn.execute(f"DROP TABLE {table}")
        await conn.execute(f"ALTER TABLE {table}_{suffix} RENAME TO {table}")
    replayed.seconds["write_and_swap"] = time.perf_counter() - mark
    replayed.seconds["total"] = time.perf_counter() - started
    log.info("insights: replayed %d events of %d customers in %.1fs with %d fold process(es) (%s)", replayed.events,
             replayed.customers, replayed.seconds["total"], len(workers.pipes) if workers else 1,
             {k: round(v, 2) for k, v in replayed.seconds.items()})
    return replayed
