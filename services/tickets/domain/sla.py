"""Promised times (SLA) counted in the shop's business hours. No I/O.

A shop calendar says when the shop is open: hours per ISO weekday in the shop's zone, and days
that differ (a holiday with no hours, a make-up working day 调休 with hours). A policy gives each
(kind, priority) a first-response time and a resolution time in business minutes. A ticket's two
clocks start when the customer raised it; the resolution clock pauses while the ticket waits on
the customer and resumes with exactly the business time it had left (docs/tickets.md).

Wall-clock instants are aware datetimes; the calendar is walked in local time one opening
interval at a time, so a daylight-saving change inside a shop's zone is counted as it happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

Hours = tuple[tuple[time, time], ...]
MAX_DAYS = 3 * 366  # a calendar without any opening hours this far ahead is a mistake, not a wait


class ClosedCalendar(ValueError):
    """The calendar has no opening hours within MAX_DAYS: no business time can pass."""


@dataclass(frozen=True, slots=True)
class Calendar:
    zone: ZoneInfo
    weekly: Mapping[int, Hours]  # ISO weekday 1..7 → opening intervals, sorted, not overlapping
    days: Mapping[date, Hours]  # exceptions: () a holiday, else that day's hours

    def hours_on(self, day: date) -> Hours:
        if day in self.days:
            return self.days[day]
        return self.weekly.get(day.isoweekday(), ())


def parse_hours(raw: list[list[str]] | list[tuple[str, str]]) -> Hours:
    """[["09:00", "12:00"], ["13:00", "18:00"]] → sorted intervals; raises ValueError saying why.
    "24:00" as a closing time means midnight at the end of the day."""
    intervals: list[tuple[time, time]] = []
    for pair in raw:
        if len(pair) != 2:
            raise ValueError("each interval is [opens, closes]")
        opens, closes = _clock(pair[0]), _clock(pair[1])
        if closes != time.max and closes <= opens:
            raise ValueError(f"{pair[0]}-{pair[1]}: closes before it opens")
        intervals.append((opens, closes))
    intervals.sort()
    for (_, a_end), (b_start, _) in pairwise(intervals):
        if b_start < a_end:
            raise ValueError("opening intervals overlap")
    return tuple(intervals)


def _clock(text: str) -> time:
    if text == "24:00":
        return time.max
    try:
        hh, mm = text.split(":")
        if len(hh) != 2 or len(mm) != 2:
            raise ValueError
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 09:00") from None


def format_hours(hours: Hours) -> list[list[str]]:
    return [[a.strftime("%H:%M"), "24:00" if b == time.max else b.strftime("%H:%M")] for a, b in hours]


def _intervals(cal: Calendar, start: datetime) -> list[tuple[datetime, datetime]]:
    """Opening intervals (UTC) of the local day ``start`` falls on; empty on a closed day."""
    return _intervals_of_day(cal, start.astimezone(cal.zone).date())


def _intervals_of_day(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    out = []
    for opens, closes in cal.hours_on(day):
        a = datetime.combine(day, opens, cal.zone)
        b = (datetime.combine(day + timedelta(days=1), time(0), cal.zone) if closes == time.max
             else datetime.combine(day, closes, cal.zone))
        out.append((a.astimezone(UTC), b.astimezone(UTC)))
    return out


def add_business(start: datetime, seconds: float, cal: Calendar) -> datetime:
    """The instant ``seconds`` of business time after ``start`` (start itself may be outside hours:
    the clock then starts at the next opening). ``seconds`` 0 gives ``start`` unchanged."""
    if seconds <= 0:
        return start
    left = float(seconds)
    day = start.astimezone(cal.zone).date()
    now = start.astimezone(UTC)
    for _ in range(MAX_DAYS):
        for a, b in _intervals_of_day(cal, day):
            if b <= now:
                continue
            begin = max(a, now)
            span = (b - begin).total_seconds()
            if span >= left:
                return (begin + timedelta(seconds=left)).astimezone(start.tzinfo)
            left -= span
            now = b
        day += timedelta(days=1)
    raise ClosedCalendar("the shop calendar has no opening hours ahead")


def business_seconds_between(start: datetime, end: datetime, cal: Calendar) -> float:
    """Business seconds from ``start`` to ``end``; negative when ``end`` is before ``start``."""
    if end < start:
        return -business_seconds_between(end, start, cal)
    total = 0.0
    a_utc, b_utc = start.astimezone(UTC), end.astimezone(UTC)
    day = start.astimezone(cal.zone).date()
    last = end.astimezone(cal.zone).date()
    while day <= last:
        for a, b in _intervals_of_day(cal, day):
            lo, hi = max(a, a_utc), min(b, b_utc)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


# --- the clocks of one ticket ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    first_response_min: int | None
    resolution_min: int | None


@dataclass(frozen=True, slots=True)
class Clocks:
    """A ticket's SLA state, as the tickets row keeps it (migration 0004)."""

    first_response_due_at: datetime | None
    first_response_at: datetime | None
    resolution_due_at: datetime | None
    paused_at: datetime | None
    resolution_left_s: float | None  # while paused

    @property
    def due_at(self) -> datetime | None:
        """The running clock's due time: the first response's until answered, then the resolution's."""
        if self.first_response_due_at is not None and self.first_response_at is None:
            return self.first_response_due_at
        if self.paused_at is not None:
            return None
        return self.resolution_due_at


def start(policy: Policy, opened_at: datetime, cal: Calendar) -> Clocks:
    return Clocks(
        first_response_due_at=(add_business(opened_at, policy.first_response_min * 60, cal)
                               if policy.first_response_min else None),
        first_response_at=None,
        resolution_due_at=add_business(opened_at, policy.resolution_min * 60, cal) if policy.resolution_min else None,
        paused_at=None, resolution_left_s=None)


def responded(clocks: Clocks, at: datetime) -> Clocks:
    """The first response stops the first-response clock; later ones change nothing."""
    return clocks if clocks.first_response_at is not None else replace(clocks, first_response_at=at)


def pause(clocks: Clocks, at: datetime, cal: Calendar) -> Clocks:
    """Waiting on the customer: the resolution clock keeps what it had left (0 once run out)."""
    if clocks.paused_at is not None or clocks.resolution_due_at is None:
        return replace(clocks, paused_at=clocks.paused_at or at)
    left = max(business_seconds_between(at, clocks.resolution_due_at, cal), 0.0)
    return replace(clocks, paused_at=at, resolution_left_s=left, resolution_due_at=None)


def resume(clocks: Clocks, at: datetime, cal: Calendar) -> Clocks:
    if clocks.paused_at is None:
        return clocks
    due = add_business(at, clocks.resolution_left_s, cal) if clocks.resolution_left_s is not None else None
    return replace(clocks, paused_at=None, resolution_left_s=None, resolution_due_at=due)


def reopened(clocks: Clocks, policy: Policy, at: datetime, cal: Calendar) -> Clocks:
    """A fresh resolution clock from the reopen, with the policy's full time."""
    due = add_business(at, policy.resolution_min * 60, cal) if policy.resolution_min else None
    return replace(clocks, paused_at=None, resolution_left_s=None, resolution_due_at=due)


@dataclass(frozen=True, slots=True)
class ClockView:
    """What a person sees of a ticket's running clock at ``as_of`` (the console's countdown)."""

    clock: str | None  # first_response | resolution | None
    due_at: datetime | None
    business_seconds_left: float | None  # negative once breached
    breached: bool
    paused: bool
    as_of: datetime


def view(clocks: Clocks, resolved: bool, as_of: datetime, cal: Calendar) -> ClockView:
    if resolved:
        return ClockView(None, None, None, False, False, as_of)
    if clocks.first_response_due_at is not None and clocks.first_response_at is None:
        clock, due = "first_response", clocks.first_response_due_at
    elif clocks.paused_at is not None:
        left = clocks.resolution_left_s
        return ClockView("resolution" if left is not None else None, None, left, left is not None and left <= 0,
                         True, as_of)
    elif clocks.resolution_due_at is not None:
        clock, due = "resolution", clocks.resolution_due_at
    else:
        return ClockView(None, None, None, False, False, as_of)
    left = business_seconds_between(as_of, due, cal)
    return ClockView(clock, due, left, due <= as_of, False, as_of)
