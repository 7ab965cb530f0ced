"""The fold of a whole history in memory, pure: what a replay computes, in this process or in
worker processes (``fold_worker``), each over its share of the customers.

``Fold`` runs the live projector's algorithm (``engine.apply_facts`` between the refit
boundaries) over in-memory profiles; ``refit_schedule`` finds the refits of a history from its
orders alone; ``written`` turns a fold into the COPY CSV rows of the profile and alerts tables.
"""

from __future__ import annotations

import csv
import gc
import io
import operator
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

import orjson

from services.insights import domain, engine, transitions
from services.insights import profile as pf
from services.insights.engine import PROFILE_COLUMNS
from shared.events import Event

CHUNK = 5_000  # facts folded between two clock moves, like a consumer batch
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


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    # Python's csv quotes a field with a line break only if the break is in the lineterminator: with
    # "\n" alone, a carriage return in a name went out unquoted and COPY refused the replay (500).
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    text = _CSV_TEXT
    writer.writerows([text[type(v)](v) for v in row] for row in rows)
    return buffer.getvalue().encode()


class Schedule(Protocol):
    """The refits of a history by boundary: a dict from ``refit_schedule``, or one read from a pipe."""

    def get(self, boundary: float, /) -> tuple[domain.Population, int] | None: ...


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
    population: domain.Population = domain.DEFAULT_POPULATION
    models: list[tuple[domain.Population, int]] = field(default_factory=list)
    transitions: list[Event] = field(default_factory=list)
    watermark: float | None = None
    announce: bool = False  # the alert events only: a replay publishes nothing (see ``transitions.step``)
    schedule: Schedule | None = None
    known_fits: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] | None = None  # see engine.fit_population

    def run(self, facts: Sequence[engine.Fact], *, since: float | None = None, until: float | None = None) -> None:
        """Fold facts (in time order) and move the clock to ``until`` (default: the last purchase,
        ``engine.last_purchase_at``); ``since`` is where a clock that has not moved yet starts
        (default: the first fact)."""
        chunks = [facts[start:start + CHUNK] for start in range(0, len(facts), CHUNK)]
        if until is not None and (not chunks or until > chunks[-1][-1].at):
            chunks.append([])  # no facts left, only the clock to move
        for n, chunk in enumerate(chunks):
            ends = [t for t in (self.watermark, engine.last_purchase_at(chunk)) if t is not None]
            if until is not None and n == len(chunks) - 1:
                ends.append(until)
            end = max(ends) if ends else chunk[0].at  # registrations only, before any purchase
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
            due = transitions.due_at(profile, profile.evaluated_at, self.population, self.zone) \
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
        buying = [p.days[-1].day for p in self.profiles.values() if p.days]
        if not engine.should_refit(self.population, len(buying), max(buying, default=None), as_of, self.zone):
            return
        rows = [row for p in self.profiles.values() if (row := engine.fit_row(p)) is not None]
        version = self.population.version + 1
        fitted = engine.fit_population(rows, as_of, self.zone, version, self.population, self.known_fits)
        if fitted is not None:
            self.population = fitted
            self.models.append((fitted, len(rows)))


def refit_schedule(facts: Sequence[engine.Fact], zone: Any, refit_days: int,
                   decided: Callable[[float, tuple[domain.Population, int] | None], None] | None = None,
                   known: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] | None = None,
                   ) -> dict[float, tuple[domain.Population, int]]:
    """The refits a ``Fold`` of these facts (in time order, from a fresh start) makes: boundary ->
    (population, customers it was fitted on); ``decided`` hears of every boundary as soon as it is
    decided. A refit needs only each buyer's first and last purchase day, purchase days and spend
    so far, so this is a pass over the orders (and their cancels and returns), not a fold."""
    schedule: dict[float, tuple[domain.Population, int]] = {}
    if not facts:
        return schedule
    buyers = _Buyers(zone)
    population = domain.DEFAULT_POPULATION
    index = 0
    for boundary in engine.boundaries_between(facts[0].at, facts[-1].at, refit_days):
        while index < len(facts) and facts[index].at <= boundary:
            fact = facts[index]
            index += 1
            if fact.kind == "order":
                buyers.bought(fact)
            elif fact.kind in engine.MOVES_CLOCK:
                buyers.undone(fact)
        latest = buyers.latest()
        if engine.should_refit(population, len(buyers.rows), latest, boundary, zone):
            rows = [engine.FitRow(*row) for row in buyers.rows.values()]
            fitted = engine.fit_population(rows, boundary, zone, population.version + 1, population, known)
            if fitted is not None:
                population = fitted
                schedule[boundary] = (fitted, len(rows))
        if decided is not None:
            decided(boundary, schedule.get(boundary))
    return schedule


class _Buyers:
    """Each buyer's ``engine.FitRow`` fields as a ``Fold`` of the same facts has them in its profiles
    (``engine.fit_row``), kept up to date fact by fact; and their purchase days with the orders
    and cents of each, for the facts that do not simply add to the last day (an approval of an
    order placed days before; a cancel or return, ``profile.remove_purchase``)."""

    def __init__(self, zone: Any) -> None:
        self.zone = zone
        # customer -> [first day, last day, purchase days, cents, first day's cents]
        self.rows: dict[str, list[int]] = {}
        self.days: dict[str, dict[int, list[int]]] = {}  # customer -> day -> [orders, cents]
        self._latest: int | None = None  # the last purchase day of all buyers
        self._stale = False  # a day went: the latest is found again

    def bought(self, fact: engine.Fact) -> None:
        day = pf.local_day(fact.placed_at if fact.placed_at is not None else fact.at, self.zone)
        cents = fact.cents
        days = self.days.setdefault(fact.customer_id, {})
        entry = days.get(day)
        if entry is None:
            days[day] = [1, cents]
        else:
            entry[0] += 1
            entry[1] += cents
        if self._latest is None or day > self._latest:
            self._latest = day
        row = self.rows.get(fact.customer_id)
        if row is None or day < row[1]:
            self._recount(fact.customer_id)
            return
        if day > row[1]:  # the usual case: history in order
            row[1], row[2] = day, row[2] + 1
        elif day == row[0]:
            row[4] += cents
        row[3] += cents

    def undone(self, fact: engine.Fact) -> None:
        days = self.days.get(fact.customer_id)
        day = pf.local_day(fact.placed_at if fact.placed_at is not None else fact.at, self.zone)
        entry = days.get(day) if days is not None else None
        if days is None or entry is None:
            return
        entry[1] -= min(fact.cents, entry[1])
        if fact.whole:
            entry[0] -= 1
            if entry[0] <= 0:
                del days[day]
                self._stale = True
        self._recount(fact.customer_id)

    def _recount(self, customer_id: str) -> None:
        days = self.days[customer_id]
        if not days:
            self.rows.pop(customer_id, None)
            return
        ordered = sorted(days)
        self.rows[customer_id] = [ordered[0], ordered[-1], len(ordered), sum(v[1] for v in days.values()),
                                  days[ordered[0]][1]]

    def latest(self) -> int | None:
        if self._stale:
            self._latest = max((row[1] for row in self.rows.values()), default=None)
            self._stale = False
        return self._latest


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
    return Written(csv_bytes([columns(s) for s in summaries]), csv_bytes(alerts),
                   len(summaries), len(raised))



# --- in a worker process ----------------------------------------------------------------------

WORKER_NICENESS = 5


class _PipedSchedule:
    """``Fold.schedule`` read from the pipe: every boundary's decision arrives in order."""

    def __init__(self, pipe: Connection) -> None:
        self.pipe = pipe

    def get(self, boundary: float) -> tuple[domain.Population, int] | None:
        sent, planned = self.pipe.recv()
        if sent != boundary:
            raise RuntimeError(f"replay worker at refit boundary {boundary} got the decision for {sent}")
        return cast("tuple[domain.Population, int] | None", planned)


def fold_worker(pipe: Connection) -> None:
    """A worker process: (zone, refit days, since, until, facts), then one decision per boundary;
    answers with its ``Written`` rows, or the error that stopped it."""
    gc.disable()  # see ``rebuild``; this process ends when its share is written
    # Behind the replaying process, whose fits the workers wait for at every refit boundary.
    os.nice(WORKER_NICENESS)
    try:
        try:
            zone, refit_days, since, until, rows = pipe.recv()
        except EOFError:  # stopped before it was given any work
            return
        fold = Fold(zone=zone, refit_days=refit_days, schedule=_PipedSchedule(pipe))
        fold.run([engine.Fact(*row) for row in rows], since=since, until=until)
        pipe.send(written(fold))
    except BaseException as exc:  # reported to the parent, which fails the replay
        pipe.send(RuntimeError(f"replay worker failed: {exc!r}"))
    finally:
        pipe.close()


