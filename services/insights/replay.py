"""Rebuild every insights table from the publishing services' retained outboxes, then swap.

The events are read from each service's ``GET /admin/outbox`` (their retained outbox rows: the
embedded broker keeps nothing across restarts, the outboxes keep everything), folded in memory
in business-time order by the same engine the live consumer uses, written into fresh tables with
COPY, and swapped in by renaming, all under the clock lock so no consumer batch interleaves.
Events the live consumer receives afterwards that the rebuild already holds are recognised by
their id on the timeline and change nothing. Nothing is published: the alerts and changes a
replay finds were published when they happened.

A long history is folded by worker processes (``Workers``, ``fold.fold_worker``), each over its
share of the customers, while this process fits the population model at each refit boundary
(``fold.refit_schedule``) and sends them the decisions; a stored fit of the very same inputs is
taken as it is (``engine.fit_key``) unless the caller asks to refit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast

import asyncpg
import httpx
import orjson
from pydantic import ValidationError

from services.insights import domain, engine, fold, ledger, store
from services.insights import profile as pf
from shared.events import EVENT_TYPES
from shared.settings import Settings, service_url

log = logging.getLogger(__name__)

SOURCES = ("contacts", "orders", "tickets")
# The rebuilt timeline's columns, as ``decode`` writes them (COPY … CSV).
TIMELINE_COLUMNS = ("event_id", "customer_id", "event_type", "ce_type", "source", "occurred_at", "recorded_at", "data")


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


OUTBOX_PAGE = 20_000  # rows per request: a page is decoded while the service reads the next


async def read_outboxes(settings: Settings, authorization: str,
                        page: Callable[[str, list[dict[str, Any]]], None]) -> None:
    """Every retained outbox row of every source, page by page: ``page(source, rows)`` hears each
    page as it arrives, in order per source, with the source's next page already asked for (the
    services read and send while this process decodes)."""
    async with httpx.AsyncClient(headers={"Authorization": authorization}, timeout=60) as client:

        async def get(service: str, after: int) -> list[dict[str, Any]]:
            response = await client.get(f"{service_url(settings, service)}/admin/outbox",
                                        params={"after": after, "limit": OUTBOX_PAGE})
            response.raise_for_status()
            return cast("list[dict[str, Any]]", orjson.loads(response.content)["items"])

        async def read(service: str) -> None:
            pending = asyncio.ensure_future(get(service, 0))
            try:
                while items := await pending:
                    pending = asyncio.ensure_future(get(service, items[-1]["id"]))
                    page(service, items)
            finally:
                pending.cancel()

        await asyncio.gather(*(read(s) for s in SOURCES))


def decode(rows: Sequence[dict[str, Any]], replayed: Replayed,
           shop_currency: str) -> tuple[list[str], list[engine.Fact]]:
    """(timeline rows as COPY CSV lines, facts) from outbox rows; rows that do not decode are
    skipped and counted.

    An outbox row's data is the publishing service's own ``model_dump`` of an event it validated,
    so known types are read as they are (a third of a replay's time went to validating them again):
    ids in canonical form and ISO times are checked and written as they came. A row that does not
    read that way is validated, and skipped if it fails. The lines are written here, not by the
    csv module: a quarter of the time.
    """
    timeline: list[str] = []
    facts: list[engine.Fact] = []
    names = {t: cls.__name__ for t, cls in EVENT_TYPES.items()}
    quoted: dict[tuple[str, str], str] = {}  # by (type, source): a handful
    for row in rows:
        name = names.get(row["type"])
        if name is None:
            replayed.skipped.append(f"{row['event_id']}: unknown event type {row['type']}")
            continue
        data = row["data"]
        try:
            event_id, customer_id = row["event_id"], data["customer_id"]
            occurred_at, recorded_at = data["occurred_at"], row["recorded_at"]
            if not (_CANONICAL_UUID.fullmatch(event_id) and _CANONICAL_UUID.fullmatch(customer_id)
                    and _ISO_TIME.match(occurred_at) and _ISO_TIME.match(recorded_at)):
                raise ValueError("not in the form a service writes")
            datetime.fromisoformat(occurred_at)
            datetime.fromisoformat(recorded_at)
            fact = engine.fact_of_data(event_id, name, data, shop_currency)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            try:
                event = EVENT_TYPES[row["type"]].model_validate(data)
                uid = uuid.UUID(str(row["event_id"]))
                recorded_at = datetime.fromisoformat(row["recorded_at"]).isoformat()
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                replayed.skipped.append(f"{row.get('event_id')}: {exc}")
                continue
            data = event.model_dump(mode="json")
            event_id, customer_id, occurred_at = str(uid), str(event.customer_id), event.occurred_at.isoformat()
            fact = engine.fact_of(uid, event, shop_currency)
        head = quoted.get((row["type"], row["source"]))
        if head is None:
            head = quoted[(row["type"], row["source"])] = \
                f"{_quoted(name)},{_quoted(row['type'])},{_quoted(row['source'])}"
        timeline.append(f"{event_id},{customer_id},{head},{occurred_at},{recorded_at},"
                        f"{_quoted(orjson.dumps(data).decode())}\n")
        if fact is not None:
            facts.append(fact)
    return timeline, facts


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


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

    def start(self, facts: Sequence[engine.Fact], zone: Any, refit_days: int, until: float | None) -> None:
        # As plain tuples: pickling 100,000 dataclass instances took most of a second.
        parts: list[list[tuple[Any, ...]]] = [[] for _ in self.pipes]
        for fact in facts:
            parts[zlib.crc32(fact.customer_id.encode()) % len(parts)].append(
                (fact.at, fact.customer_id, fact.event_id, fact.kind, fact.external_ref, fact.owner, fact.quantity,
                 fact.cents, fact.other_currency, fact.other_cents, fact.order_id, fact.placed_at,
                 fact.placed_event, fact.whole, fact.ticket))
        for pipe, part in zip(self.pipes, parts, strict=True):
            pipe.send((zone, refit_days, facts[0].at, until, part))

    def decide(self, boundary: float, planned: tuple[domain.Population, int] | None) -> None:
        for pipe in self.pipes:
            pipe.send((boundary, planned))

    async def results(self) -> AsyncIterator[fold.Written]:
        """Each worker's rows as soon as it has written them (one is copied while another folds)."""
        pending = {asyncio.ensure_future(asyncio.to_thread(pipe.recv)) for pipe in self.pipes}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    answer = task.result()
                    if isinstance(answer, BaseException):
                        raise answer
                    yield cast(fold.Written, answer)
        finally:
            for task in pending:  # its thread ends when ``stop`` closes the pipe
                task.cancel()

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.close()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """A replay makes millions of objects that all live to its end: the cyclic garbage collector
    would walk them again and again for nothing (a third of the fold's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


async def rebuild(conn: asyncpg.Connection, settings: Settings, authorization: str, zone: Any,
                  *, refit: bool = False) -> Replayed:
    """Run inside a transaction that holds the clock lock; the caller commits. ``refit``: fit every
    population model anew rather than reuse a stored fit of the same inputs (``engine.fit_key``)."""
    replayed = Replayed()
    started = time.perf_counter()
    history = _History(settings, replayed)
    with _without_cyclic_gc():
        try:
            await read_outboxes(settings, authorization, history.page)
            history.start_workers()
            replayed.seconds["read_and_decode"] = time.perf_counter() - started
            replayed.seconds["decode_during_read"] = history.decoding

            mark = time.perf_counter()
            facts, timeline_csv = history.in_time_order()
            replayed.seconds["order"] = time.perf_counter() - mark

            known = {} if refit else await store.known_fits(conn)
            await store.create_rebuild_tables(conn)
            parts, models, watermark = await _fold_and_copy(conn, history.workers, facts, timeline_csv, zone,
                                                            settings.insights_refit_days, known, replayed)

            mark = time.perf_counter()
            replayed.customers = sum(p.customers for p in parts)
            replayed.alerts = sum(p.alerts for p in parts)
            replayed.refits = len(models)
            replayed.reused_fits = sum(1 for population, _ in models if population.fit_key in known)
            await store.carry_acknowledgements(conn)
            await _swap_in(conn, models, watermark)
            replayed.seconds["swap"] = time.perf_counter() - mark
        finally:
            if history.workers is not None:
                history.workers.stop()
    replayed.seconds["total"] = time.perf_counter() - started
    log.info("insights: replayed %d events of %d customers in %.1fs with %d fold process(es) (%s)", replayed.events,
             replayed.customers, replayed.seconds["total"], replayed.processes,
             {k: round(v, 2) for k, v in replayed.seconds.items()})
    return replayed


class _History:
    """The outboxes as they are read: each page decoded as it arrives, kept per source (so what a
    replay reads does not depend on which service answered first), and the fold's worker
    processes started as soon as the history is known to be long.

    A page's rows are dropped once decoded and its timeline lines kept as one CSV chunk: holding
    them all made a replay's peak memory, and growing the heap that far cost the first replay in a
    process most of a second of page faults (benchmarks/RESULTS.md)."""

    def __init__(self, settings: Settings, replayed: Replayed) -> None:
        self.settings = settings
        self.replayed = replayed
        self.lines: dict[str, list[bytes]] = {source: [] for source in SOURCES}
        self.decoded: dict[str, list[engine.Fact]] = {source: [] for source in SOURCES}
        self.rows_read = 0
        self.decoding = 0.0  # seconds spent decoding
        self.workers: Workers | None = None

    def page(self, source: str, rows: list[dict[str, Any]]) -> None:
        self.rows_read += len(rows)
        self.start_workers()
        mark = time.perf_counter()
        timeline_lines, facts = decode(rows, self.replayed, self.settings.currencies[0])
        rows.clear()
        self.lines[source].append("".join(timeline_lines).encode())
        self.replayed.events += len(timeline_lines)
        self.decoded[source].extend(facts)
        self.decoding += time.perf_counter() - mark

    def start_workers(self) -> None:
        """As soon as the history is known to be long (its first pages): the workers import the
        engine (half a second) while this process reads and decodes."""
        count = worker_count(self.settings.insights_replay_workers, self.rows_read)
        if self.workers is None and count > 1:
            self.workers = Workers(count)
            self.replayed.processes = count

    def in_time_order(self) -> tuple[list[engine.Fact], list[bytes]]:
        """(every fact in business-time order, the timeline's CSV chunks); lets go of the rest."""
        # An order's cancels, returns and approval are resolved against the order in time order,
        # as the live consumer resolves them against the timeline (``ledger.resolve``).
        facts = ledger.resolve(engine.in_time_order(f for source in SOURCES for f in self.decoded[source]),
                               ledger.Ledger())
        self.decoded.clear()
        return facts, [chunk for source in SOURCES for chunk in self.lines[source]]


async def _fold_and_copy(conn: asyncpg.Connection, workers: Workers | None, facts: list[engine.Fact],
                         timeline_csv: list[bytes], zone: Any, refit_days: int,
                         known: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
                         replayed: Replayed) -> tuple[list[fold.Written], Models, float | None]:
    """Fold the history (in the workers, if started) and copy what it writes into the new tables."""

    async def copy_timeline() -> None:
        await store.copy_rebuilt(conn, "timeline", TIMELINE_COLUMNS, timeline_csv)

    async def copy_part(part: fold.Written) -> None:
        await store.copy_rebuilt(conn, "customer_profile", engine.PROFILE_COLUMNS, [part.profiles_csv])
        await store.copy_rebuilt(conn, "alerts", fold.ALERT_COLUMNS, [part.alerts_csv])

    if workers is not None and facts:
        return await _fold_in_workers(workers, facts, zone, refit_days, known, copy_timeline, copy_part, replayed)
    return await _fold_here(facts, zone, refit_days, known, copy_timeline, copy_part, replayed)


Models = list[tuple[domain.Population, int]]


async def _fold_in_workers(workers: Workers, facts: list[engine.Fact], zone: Any, refit_days: int,
                           known: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
                           copy_timeline: Callable[[], Awaitable[None]],
                           copy_part: Callable[[fold.Written], Awaitable[None]], replayed: Replayed,
                           ) -> tuple[list[fold.Written], Models, float | None]:
    mark = time.perf_counter()
    until = engine.last_purchase_at(facts)
    workers.start(facts, zone, refit_days, until)
    # The fits are what the workers wait for at each boundary: fitted here and now, in this
    # thread (in another, with the event loop copying the timeline beside it, they took a third
    # longer on two cores), while the workers fold behind them at a lower priority. The service
    # answers nothing else for those seconds (a replay holds the clock lock anyway).
    # Stages that overlap the workers' fold are reported as "…_during_fold", from its start.
    schedule = fold.refit_schedule(facts, zone, refit_days, workers.decide, known)
    replayed.seconds["refits_during_fold"] = time.perf_counter() - mark
    await copy_timeline()
    replayed.seconds["timeline_copy_during_fold"] = time.perf_counter() - mark
    parts = []
    async for part in workers.results():
        await copy_part(part)
        parts.append(part)
    replayed.seconds["fold_and_copy"] = time.perf_counter() - mark
    return parts, list(schedule.values()), until if until is not None else facts[0].at


async def _fold_here(facts: list[engine.Fact], zone: Any, refit_days: int,
                     known: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
                     copy_timeline: Callable[[], Awaitable[None]],
                     copy_part: Callable[[fold.Written], Awaitable[None]], replayed: Replayed,
                     ) -> tuple[list[fold.Written], Models, float | None]:
    mark = time.perf_counter()
    folded = fold.Fold(zone=zone, refit_days=refit_days, known_fits=known)
    folded.run(facts)
    parts = [fold.written(folded)]
    replayed.seconds["fold"] = time.perf_counter() - mark
    mark = time.perf_counter()
    await copy_timeline()
    await copy_part(parts[0])
    replayed.seconds["copy"] = time.perf_counter() - mark
    return parts, folded.models, folded.watermark


async def _swap_in(conn: asyncpg.Connection, models: Models, watermark: float | None) -> None:
    for population, customers in models:
        model, cuts = engine.population_to_json(population)
        await store.insert_rebuilt_model(
            conn, population.version, pf.to_datetime(population.as_of) if population.as_of is not None else None,
            customers, model, cuts, population.fit_key)
    await store.swap_in_rebuilt_tables(conn, pf.to_datetime(watermark) if watermark is not None else None)
