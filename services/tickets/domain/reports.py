"""Ticket reports: what a period's tickets say about the service. No I/O.

For a period [from, to) (cut at ``as_of``: nothing later is known yet):

- **volume**: tickets raised in it (``occurred_at``), per kind, channel and category.
- **time to first response / to resolution**: over the first responses (resolutions) made in the
  period, the median time from when the customer raised the ticket, in wall-clock minutes and in
  business minutes of the shop calendar (counted in the database with ``BusinessClock``'s table).
  A ticket resolved the moment it was filed (feedback that needs no answer) is no resolution work
  and is left out.
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
    """Business time as a table the database can look up: the opening intervals of the days from
    ``first`` to ``last`` (the calendar's zone) in order, as epoch seconds ``starts``/``ends``, and
    ``before[j]``, the business seconds of the intervals before the j-th. An instant's *position*
    is the business time from the first day's midnight to it: with j the number of intervals
    started by then (``width_bucket`` in SQL, ``bisect_right`` here), ``before[j] + min(at,
    ends[j]) − starts[j]`` (0-based here, 1-based in SQL). The business time between two instants
    is the difference of their positions: one binary search each, whatever the span."""

    def __init__(self, cal: sla.Calendar, first: date, last: date) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.before: list[float] = []
        self._cal = cal
        total = 0.0
        day = first
        while day <= last:
            for opens, closes in cal.hours_on(day):
                a = datetime.combine(day, opens, cal.zone).timestamp()
                b = (datetime.combine(day + timedelta(days=1), time(0), cal.zone) if closes == time.max
                     else datetime.combine(day, closes, cal.zone)).timestamp()
                self.starts.append(a)
                self.ends.append(b)
                self.before.append(total)
                total += b - a
            day += timedelta(days=1)
        if not self.starts:  # no opening hours at all in the span: no business time passes
            self.starts, self.ends, self.before = [FAR_FUTURE], [FAR_FUTURE], [0.0]

    @classmethod
    def spanning(cls, cal: sla.Calendar, earliest: datetime, latest: datetime) -> BusinessClock:
        """The table over the days from ``earliest``'s to ``latest``'s (in the calendar's zone)."""
        return cls(cal, earliest.astimezone(cal.zone).date(), latest.astimezone(cal.zone).date())

    def position(self, at: float) -> float:
        j = bisect_right(self.starts, at)
        if j == 0:
            return 0.0
        return self.before[j - 1] + min(at, self.ends[j - 1]) - self.starts[j - 1]

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return self.position(end.timestamp()) - self.position(start.timestamp())


FAR_FUTURE = 32503680000.0  # 3000-01-01 in epoch seconds: later than any business time


def durations(count: int, median_s: float | None, business_median_s: float | None) -> Durations:
    """The medians the database found (seconds) in minutes, one decimal."""
    if not count:
        return Durations(count=0, median=None, business_median=None)
    return Durations(count=count, median=round(median_s / 60, 1) if median_s is not None else None,
                     business_median=round(business_median_s / 60, 1) if business_median_s is not None else None)


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


def recurrence_counts(done: Iterable[DoneAction], times: Mapping[str, Sequence[float]], *,
                      since: datetime, until: datetime) -> list[tuple[DoneAction, int]]:
    """For each action done before ``until``: how many complaints of its category were raised
    after it was done, from ``times`` (per category, the epoch seconds of the complaints raised in
    [since, until), in order). Kept when some came back or when it was done in the period."""
    found = []
    for a in done:
        if a.done_at >= until:
            continue
        same = times.get(a.category, ())
        n = len(same) - bisect_right(same, a.done_at.timestamp())
        if n or a.done_at >= since:
            found.append((a, n))
    return found


def recurred(counted: Iterable[tuple[DoneAction, int]],
             firsts: Mapping[tuple[str, datetime], tuple[uuid.UUID, datetime]]) -> list[Recurrence]:
    """The rows of ``prevention.recurred``: the most recurrences first, then the latest done.
    ``firsts``: (category, done_at) → the first complaint after it (ticket id, when raised)."""
    rows = []
    for a, n in counted:
        first = firsts.get((a.category, a.done_at)) if n else None
        rows.append(Recurrence(category=a.category, action_id=a.action_id, ticket_id=a.ticket_id, action=a.action,
                               owner=a.owner, done_at=a.done_at, recurrences=n,
                               first_recurrence_at=first[1] if first else None,
                               first_recurrence_ticket_id=first[0] if first else None))
    return sorted(rows, key=lambda r: (-r.recurrences, -r.done_at.timestamp(), str(r.action_id)))
