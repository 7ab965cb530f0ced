"""Ticket reports: what a period's tickets say about the service. No I/O.

For a period [from, to) (cut at ``as_of``: nothing later is known yet):

- **volume**: tickets raised in it (``occurred_at``), per kind, channel and category.
- **time to first response / to resolution**: over the first responses (resolutions) made in the
  period, the median time from when the customer raised the ticket, in wall-clock minutes and in
  business minutes of the shop calendar. A ticket resolved the moment it was filed (feedback that
  needs no answer) is no resolution work and is left out.
- **SLA compliance**: the clocks that ended in the period: met when stopped (first response,
  resolution) by their due time; breached when they ran out (counted at their due time, whether
  or not someone answered later). A clock still running at ``as_of`` is not counted.
- **repeat complainers**: customers with at least two complaints raised in the period.
- **prevention**: actions open and overdue at ``as_of``, done in the period, and for each action
  done before the period's end, the complaints of its category raised after it was done and in
  the period ("recurred"): listed when there are some, or when the action was done in the period.
"""

from __future__ import annotations

import re
import statistics
import uuid
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from services.tickets.domain import sla
from shared.errors import Invalid
from shared.events import BUSINESS_TIME_PATTERN, FIRST_YEAR, LAST_YEAR, TicketCategory, legal_business_time

KINDS = ("complaint", "feedback", "service_request")
CATEGORIES: tuple[TicketCategory, ...] = ("quality", "delivery", "billing", "attitude", "product_info",
                                          "after_sales", "other")
DEFAULT_SPAN = timedelta(days=30)
LONGEST = timedelta(days=3660)
REPEAT_AT_LEAST = 2
"""A repeat complainer has at least this many complaints in the period."""
MOST_REPEATERS = 200
"""The repeat complainers listed at most (the most complaints first)."""


# --- the answer ---------------------------------------------------------------------------------


class Volume(BaseModel):
    total: int = Field(description="Tickets raised in the period.")
    by_kind: dict[str, int] = Field(description="complaint, feedback, service_request → count (every kind, 0s too).")
    by_channel: dict[str, int] = Field(description="Channel → count (the channels that occur), largest first.")
    by_category: dict[str, int] = Field(description="Every category (quality … other) → count, 0s too.")


class Durations(BaseModel):
    count: int = Field(description="How many first responses (resolutions) the medians are over.")
    median: float | None = Field(description="Median wall-clock minutes since the customer raised it; null: none.")
    business_median: float | None = Field(description="Median business minutes (shop calendar); null: none.")


class Compliance(BaseModel):
    clocks: int = Field(description="Clocks that ended in the period: met + breached.")
    met: int
    breached: int
    compliance: float | None = Field(description="met / clocks (0 to 1); null when no clock ended.")


class SlaFigures(Compliance):
    by_clock: dict[str, Compliance] = Field(description="first_response and resolution apart.")


class RepeatComplainer(BaseModel):
    customer_id: uuid.UUID
    complaints: int = Field(description="Complaints raised in the period.")
    first_at: datetime
    last_at: datetime


class Recurrence(BaseModel):
    category: TicketCategory
    action_id: uuid.UUID
    ticket_id: uuid.UUID = Field(description="The ticket the prevention action came from.")
    action: str
    owner: str
    done_at: datetime
    recurrences: int = Field(description="Complaints of the category raised after it was done, in the period.")
    first_recurrence_at: datetime | None
    first_recurrence_ticket_id: uuid.UUID | None


class Prevention(BaseModel):
    open: int = Field(description="Actions not done at as_of.")
    overdue: int = Field(description="Of those, due before as_of's day (shop's zone).")
    done: int = Field(description="Actions done in the period.")
    recurred: list[Recurrence] = Field(description="Done actions whose category came back (most recurrences "
                                       "first), and those done in the period (0 recurrences: it held so far).")


class TicketsReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: datetime = Field(alias="from", description="From this time on...")
    until: datetime = Field(alias="to", description="...up to, not including, this time.")
    as_of: datetime
    tz: str = Field(description="The shop's time zone: dates given as from/to are its days.")
    volume: Volume
    first_response_minutes: Durations
    resolution_minutes: Durations
    sla: SlaFigures
    repeat_complainers: list[RepeatComplainer]
    prevention: Prevention


# --- the range ----------------------------------------------------------------------------------

DAY_PATTERN = r"(19|2[0-9])[0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
BOUND_PATTERN = f"^({DAY_PATTERN}|{BUSINESS_TIME_PATTERN[1:-1]})$"
"""What ``from`` and ``to`` take: a day of the shop's zone, or an RFC 3339 business time."""


def parse_bound(text: str | None, zone: ZoneInfo, field: str, *, end: bool) -> datetime | None:
    """``from``/``to`` as RFC 3339 (an instant) or a day YYYY-MM-DD of the shop's zone: a ``from``
    day starts at its midnight, a ``to`` day is included (up to the next midnight)."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        raise Invalid.field(field, f"{text!r} is not a day YYYY-MM-DD") from None
    if day is not None:
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise Invalid.field(field, f"{text} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
        moment = datetime.combine(day + timedelta(days=1) if end else day, time(0), zone)
        return moment.astimezone(UTC)
    if not re.fullmatch(BUSINESS_TIME_PATTERN, text):
        raise Invalid.field(field, "a day YYYY-MM-DD or an RFC 3339 time with its offset, "
                                   "e.g. 2026-11-24T09:00:00+08:00")
    try:
        return legal_business_time(datetime.fromisoformat(text.replace("z", "Z")))
    except ValueError as exc:
        raise Invalid.field(field, str(exc)) from None


def report_range(since: datetime | None, until: datetime | None, *, as_of: datetime) -> tuple[datetime, datetime]:
    """The range asked for (default: the 30 days to ``as_of``), or a 422 naming the field at fault."""
    end = until or as_of
    start = since or end - DEFAULT_SPAN
    if start >= end:
        raise Invalid.field("query.from" if since is not None else "query.to", "from must be before to")
    if end - start > LONGEST:
        raise Invalid.field("query.to", f"a report covers at most {LONGEST.days} days")
    return start, end


# --- durations ----------------------------------------------------------------------------------


class BusinessClock:
    """Business seconds between many pairs of instants in O(1) each after one walk over the days
    they span: an instant's position is the business time from the first day's midnight to it
    (opening intervals and their running sums kept as epoch seconds, as ``sla`` walks them)."""

    def __init__(self, cal: sla.Calendar, instants: Iterable[datetime]) -> None:
        days = [t.astimezone(cal.zone).date() for t in instants]
        self._cal = cal
        self._first = min(days) if days else date(2000, 1, 1)
        last = max(days) if days else self._first
        self._opening: list[list[tuple[float, float]]] = []
        self._before: list[float] = []  # business seconds from the first midnight to each day's
        total = 0.0
        day = self._first
        while day <= last:
            spans = [(a.timestamp(), b.timestamp()) for a, b in self._intervals(day)]
            self._opening.append(spans)
            self._before.append(total)
            total += sum(b - a for a, b in spans)
            day += timedelta(days=1)

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        zone = self._cal.zone
        found = []
        for opens, closes in self._cal.hours_on(day):
            a = datetime.combine(day, opens, zone)
            b = (datetime.combine(day + timedelta(days=1), time(0), zone) if closes == time.max
                 else datetime.combine(day, closes, zone))
            found.append((a, b))
        return found

    def position(self, moment: datetime) -> float:
        index = (moment.astimezone(self._cal.zone).date() - self._first).days
        if not 0 <= index < len(self._before):
            first_midnight = datetime.combine(self._first, time(0), self._cal.zone)
            return sla.business_seconds_between(first_midnight, moment, self._cal)
        at = moment.timestamp()
        seconds = self._before[index]
        for a, b in self._opening[index]:
            if at > a:
                seconds += min(at, b) - a
        return seconds

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return self.position(end) - self.position(start)


def durations(pairs: Sequence[tuple[datetime, datetime]], cal: sla.Calendar) -> Durations:
    """Medians over (raised, stopped) pairs, in wall-clock and in business minutes (one decimal)."""
    if not pairs:
        return Durations(count=0, median=None, business_median=None)
    clock = BusinessClock(cal, [t for pair in pairs for t in pair])
    wall = [(b - a).total_seconds() / 60 for a, b in pairs]
    business = [clock.seconds_between(a, b) / 60 for a, b in pairs]
    return Durations(count=len(pairs), median=round(statistics.median(wall), 1),
                     business_median=round(statistics.median(business), 1))


# --- SLA ----------------------------------------------------------------------------------------


def compliance(met: int, breached: int) -> Compliance:
    clocks = met + breached
    return Compliance(clocks=clocks, met=met, breached=breached,
                      compliance=round(met / clocks, 4) if clocks else None)


def sla_figures(counts: Mapping[tuple[str, str], int]) -> SlaFigures:
    """From {(clock, "met"|"breached"): n} (the SQL's rows) to the totals and per clock."""
    by_clock = {clock: compliance(counts.get((clock, "met"), 0), counts.get((clock, "breached"), 0))
                for clock in ("first_response", "resolution")}
    total = compliance(sum(c.met for c in by_clock.values()), sum(c.breached for c in by_clock.values()))
    return SlaFigures(**total.model_dump(), by_clock=by_clock)


# --- volume -------------------------------------------------------------------------------------


def volume(rows: Iterable[tuple[str, str, int]]) -> Volume:
    """From (dimension, key, count) rows: dimension kind | channel | category."""
    kinds: dict[str, int] = dict.fromkeys(KINDS, 0)
    categories: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    channels: dict[str, int] = {}
    targets = {"kind": kinds, "channel": channels, "category": categories}
    for dimension, key, n in rows:
        target = targets[dimension]
        target[key] = target.get(key, 0) + n
    return Volume(total=sum(kinds.values()), by_kind=kinds,
                  by_channel=dict(sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))),
                  by_category=categories)


# --- prevention ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DoneAction:
    action_id: uuid.UUID
    ticket_id: uuid.UUID
    category: TicketCategory
    action: str
    owner: str
    done_at: datetime


@dataclass(frozen=True, slots=True)
class Complaint:
    ticket_id: uuid.UUID
    category: str
    occurred_at: datetime


def recurrences(done: Iterable[DoneAction], complaints: Iterable[Complaint], *, since: datetime,
                until: datetime) -> list[Recurrence]:
    """For each action done before ``until``: the complaints of its category raised after it was
    done and within [since, until). Listed when some came back or when it was done in the period;
    the most recurrences first, then the latest done."""
    by_category: dict[str, list[Complaint]] = {}
    for c in sorted(complaints, key=lambda c: (c.occurred_at, str(c.ticket_id))):
        if since <= c.occurred_at < until:
            by_category.setdefault(c.category, []).append(c)
    times = {category: [c.occurred_at for c in same] for category, same in by_category.items()}
    found = []
    for a in done:
        if a.done_at >= until:
            continue
        same = by_category.get(a.category, [])
        after = same[bisect_right(times.get(a.category, []), a.done_at):]
        if not after and a.done_at < since:
            continue
        first = after[0] if after else None
        found.append(Recurrence(category=a.category, action_id=a.action_id, ticket_id=a.ticket_id, action=a.action,
                                owner=a.owner, done_at=a.done_at, recurrences=len(after),
                                first_recurrence_at=first.occurred_at if first else None,
                                first_recurrence_ticket_id=first.ticket_id if first else None))
    return sorted(found, key=lambda r: (-r.recurrences, -r.done_at.timestamp(), str(r.action_id)))
