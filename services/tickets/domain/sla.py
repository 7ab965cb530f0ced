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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

Hours = tuple[tuple[time, time], ...]
MAX_DAYS = 3 * 366  # a calendar without any opening hours this far ahead is a mistake, not a wait
MAX_WALK_DAYS = 20 * 366  # no due time is further ahead: a promise that long is a calendar's mistake
NEAR_DAYS = 366  # business_seconds_between over more than MAX_DAYS: counted exactly at each end
END_OF_DAY = time.max  # "24:00" as a closing time: midnight at the end of the day


class ClosedCalendar(ValueError):
    """The calendar has no opening hours within MAX_DAYS: no business time can pass."""


@dataclass(frozen=True, slots=True)
class Calendar:
    zone: ZoneInfo
    weekly: Mapping[int, Hours]  # ISO weekday 1..7 → opening intervals, sorted, not overlapping
    days: Mapping[date, Hours]  # exceptions: () a holiday, else that day's hours
    # The opening intervals of each local day walked so far, in UTC (a calendar lives for one request).
    _walked: dict[date, list[tuple[datetime, datetime]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def hours_on(self, day: date) -> Hours:
        if day in self.days:
            return self.days[day]
        return self.weekly.get(day.isoweekday(), ())


def parse_hours(raw: list[list[str]] | list[tuple[str, str]]) -> Hours:
    """[["09:00", "12:00"], ["13:00", "18:00"]] → sorted intervals; raises ValueError saying why.
    "24:00" as a closing time means midnight at the end of the day."""
    intervals: list[tuple[time, time]] = []
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError("each interval is [opens, closes], like [\"09:00\", \"18:00\"]")
        opens, closes = _clock(pair[0]), _clock(pair[1])
        if opens == END_OF_DAY:
            raise ValueError("24:00 only closes a day: open at 00:00 the next day instead")
        if closes <= opens:
            raise ValueError(f"{pair[0]}-{pair[1]}: closes before it opens (an interval ends by 24:00)")
        intervals.append((opens, closes))
    intervals.sort()
    for (a_start, a_end), (b_start, b_end) in pairwise(intervals):
        if b_start < a_end:
            raise ValueError(f"{_hhmm(a_start)}-{_hhmm(a_end)} and {_hhmm(b_start)}-{_hhmm(b_end)} overlap")
    return tuple(intervals)


def _clock(text: object) -> time:
    """ "09:30" → 09:30; "24:00" → END_OF_DAY. Exactly HH:MM, 00:00 to 24:00."""
    if text == "24:00":
        return END_OF_DAY
    if isinstance(text, str) and len(text) == 5 and text[2] == ":" and (text[:2] + text[3:]).isascii() \
            and (text[:2] + text[3:]).isdigit() and int(text[:2]) < 24 and int(text[3:]) < 60:
        return time(int(text[:2]), int(text[3:]))
    raise ValueError(f"{text!r} is not a time of day like 09:00 (00:00 to 24:00)")


def _hhmm(t: time) -> str:
    return "24:00" if t == END_OF_DAY else t.strftime("%H:%M")


def format_hours(hours: Hours) -> list[list[str]]:
    return [[_hhmm(a), _hhmm(b)] for a, b in hours]


def _intervals_of_day(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The opening intervals of a local day as UTC instants, in order; empty on a closed day.

    A local time that does not exist (the hour skipped when clocks go forward) is read with the
    offset before the change, so 02:30 is 03:30 of the new offset: an interval that shrinks to
    nothing that way (02:00-03:00 on that night) is dropped, and one that would start before its
    predecessor ends starts when it ends (no instant counts twice). Every interval lasts as long as
    it really does: 00:00-24:00 is 23 hours on the night clocks go forward, 25 when they go back."""
    walked = cal._walked.get(day)
    if walked is not None:
        return walked
    out: list[tuple[datetime, datetime]] = []
    for opens, closes in cal.hours_on(day):
        a = datetime.combine(day, opens, cal.zone).astimezone(UTC)
        b = (datetime.combine(day + timedelta(days=1), time(0), cal.zone) if closes == END_OF_DAY
             else datetime.combine(day, closes, cal.zone)).astimezone(UTC)
        if out and a < out[-1][1]:  # after a skipped hour local times can map out of order
            a = out[-1][1]
        if b > a:
            out.append((a, b))
    cal._walked[day] = out
    return out


def _aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must carry its offset (an aware datetime)")
    return at


def add_business(start: datetime, seconds: float, cal: Calendar) -> datetime:
    """The instant ``seconds`` of business time after ``start`` (start itself may be outside hours:
    the clock then starts at the next opening). ``seconds`` 0 gives ``start`` unchanged."""
    _aware(start, "start")
    if seconds <= 0:
        return start
    left = timedelta(seconds=seconds)
    day = start.astimezone(cal.zone).date()
    now = start.astimezone(UTC)
    closed_days = 0  # in a row: a calendar closed this long ahead is a mistake, not a wait
    last = day + timedelta(days=MAX_WALK_DAYS)
    while closed_days < MAX_DAYS and day < last:
        intervals = _intervals_of_day(cal, day)
        closed_days = 0 if intervals else closed_days + 1
        for a, b in intervals:
            if b <= now:
                continue
            begin = max(a, now)
            span = b - begin
            if span >= left:  # due at the closing time itself when it fits exactly, not next morning
                return (begin + left).astimezone(start.tzinfo)
            left -= span
            now = b
        day += timedelta(days=1)
    if day >= last:
        raise ClosedCalendar(f"{seconds} business seconds after {start.isoformat()} is more than {MAX_WALK_DAYS} days "
                             "ahead in the shop calendar")
    raise ClosedCalendar(f"the shop calendar has no opening hours in the {MAX_DAYS} days after "
                         f"{day - timedelta(days=MAX_DAYS)}")


def business_seconds_between(start: datetime, end: datetime, cal: Calendar) -> float:
    """Business seconds from ``start`` to ``end``; negative when ``end`` is before ``start``.

    Exact over up to ``MAX_DAYS``. Over longer (a clock seen years after it ran out), the first and
    last year are counted exactly and the whole weeks between as ordinary weeks of the calendar,
    without their holidays and clock changes: the answer is "long overdue" either way, and a
    request never walks centuries day by day."""
    _aware(start, "start")
    _aware(end, "end")
    if end < start:
        return -business_seconds_between(end, start, cal)
    first, last = start.astimezone(cal.zone).date(), end.astimezone(cal.zone).date()
    if (last - first).days <= MAX_DAYS:
        return _walk(start, end, cal).total_seconds()
    head_end = first + timedelta(days=NEAR_DAYS)
    weeks = (last - timedelta(days=NEAR_DAYS) - head_end).days // 7
    tail_start = head_end + timedelta(weeks=weeks)
    head = _walk(start, datetime.combine(head_end, time(0), cal.zone), cal)
    tail = _walk(datetime.combine(tail_start, time(0), cal.zone), end, cal)
    return (head + weeks * _ordinary_week(cal) + tail).total_seconds()


def _walk(start: datetime, end: datetime, cal: Calendar) -> timedelta:
    total = timedelta(0)
    a_utc, b_utc = start.astimezone(UTC), end.astimezone(UTC)
    day, last = start.astimezone(cal.zone).date(), end.astimezone(cal.zone).date()
    while day <= last:
        for a, b in _intervals_of_day(cal, day):
            lo, hi = max(a, a_utc), min(b, b_utc)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def _ordinary_week(cal: Calendar) -> timedelta:
    """The opening hours of a week without holidays or clock changes."""
    def length(opens: time, closes: time) -> timedelta:
        end = timedelta(days=1) if closes == END_OF_DAY else timedelta(hours=closes.hour, minutes=closes.minute)
        return end - timedelta(hours=opens.hour, minutes=opens.minute)

    return sum((length(a, b) for d in range(1, 8) for a, b in cal.weekly.get(d, ())), timedelta(0))


def add_working_days(start: datetime, days: int, cal: Calendar) -> datetime:
    """The same local time of day ``days`` working days (days with opening hours) after ``start``'s
    day: from Friday 15:00, one working day is Monday 15:00 (Tuesday when Monday is a holiday)."""
    _aware(start, "start")
    if days <= 0:
        return start
    local = start.astimezone(cal.zone)
    day, counted, closed_days = local.date(), 0, 0
    while counted < days:
        day += timedelta(days=1)
        if cal.hours_on(day):
            counted, closed_days = counted + 1, 0
        else:
            closed_days += 1
            if closed_days >= MAX_DAYS:
                raise ClosedCalendar(f"the shop calendar has no opening hours in the {MAX_DAYS} days after {day}")
    return datetime.combine(day, local.time().replace(tzinfo=None), cal.zone).astimezone(start.tzinfo)


@dataclass(frozen=True, slots=True)
class Span:
    """An amount of business time a person asks about (``?breaching_within=``): whole working days,
    then business seconds."""

    days: int
    seconds: int

    def after(self, start: datetime, cal: Calendar) -> datetime:
        return add_business(add_working_days(start, self.days, cal), self.seconds, cal)


_D, _H, _M, _S = "([0-9]{1,3})[dD]", "([0-9]{1,4})[hH]", "([0-9]{1,6})[mM]", "([0-9]{1,8})[sS]"
_SHORT_SPAN = re.compile(f"(?:{_D})?(?:{_H})?(?:{_M})?(?:{_S})?", re.ASCII)
_ISO_SPAN = re.compile(f"[pP](?:{_D})?(?:[tT](?:{_H})?(?:{_M})?(?:{_S})?)?", re.ASCII)
_TIME = f"(?:{_H}(?:{_M})?(?:{_S})?|{_M}(?:{_S})?|{_S})".replace("([0-9]", "(?:[0-9]")
SPAN_PATTERN = (f"^(?:{_D}(?:{_H})?(?:{_M})?(?:{_S})?|{_H}(?:{_M})?(?:{_S})?|{_M}(?:{_S})?|{_S}"
                f"|[pP](?:{_D}(?:[tT]{_TIME})?|[tT]{_TIME}))$").replace("([0-9]", "(?:[0-9]")
"""What ``parse_span`` takes, as a JSON Schema pattern (the API documents it): at most 999 working
days, 9999 hours, 999999 minutes, 99999999 seconds."""


def parse_span(text: str) -> Span:
    """``2h``, ``30m``, ``1d``, ``1h30m``, or ISO 8601 ``PT2H``, ``P1DT4H``; h, m and s are business
    hours, minutes and seconds, d working days. Raises ValueError saying what is accepted."""
    text = text.strip()
    iso = text[:1] in ("P", "p")
    match = (_ISO_SPAN if iso else _SHORT_SPAN).fullmatch(text)
    if not text or match is None or not any(match.groups()) or (iso and text[-1:] in ("T", "t")):
        raise ValueError(f"{text!r} is not an amount of business time like 2h, 30m, 1d or PT2H "
                         "(at most 999d, 9999h, 999999m, 99999999s)")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return Span(days, hours * 3600 + minutes * 60 + seconds)


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
    """Waiting on the customer: the resolution clock stands still and keeps the business time it had
    left, in whole seconds as the row keeps them (rounded down; 0 once run out). The first-response
    clock does not pause: someone still owes the customer a first answer."""
    if clocks.paused_at is not None or clocks.resolution_due_at is None:
        return replace(clocks, paused_at=clocks.paused_at or at)
    left = max(math.floor(business_seconds_between(at, clocks.resolution_due_at, cal)), 0)
    return replace(clocks, paused_at=at, resolution_left_s=float(left), resolution_due_at=None)


def resume(clocks: Clocks, at: datetime, cal: Calendar) -> Clocks:
    """Back from waiting: the resolution clock runs again from ``at`` with exactly what it had left
    (a clock that had run out is due at ``at``; its breach, if already raised, is not raised again)."""
    if clocks.paused_at is None:
        return clocks
    due = add_business(at, clocks.resolution_left_s, cal) if clocks.resolution_left_s is not None else None
    return replace(clocks, paused_at=None, resolution_left_s=None, resolution_due_at=due)


def resolved(clocks: Clocks, at: datetime, cal: Calendar) -> Clocks:
    """Resolution stops both clocks. A resolution is the customer's first answer when nobody had
    answered before (a reopen then starts no first-response clock again). A clock paused at the
    resolution gets the due time it would have had from ``at``, so "resolved in time" stays
    ``resolved_at <= resolution_due_at`` for every ticket (a clock that had run out before the pause
    is given the pause as its due time: late, unless resolved at that very instant). ``running_due_at``
    is then None."""
    if clocks.paused_at is not None and clocks.resolution_left_s is not None and clocks.resolution_left_s <= 0:
        clocks = replace(clocks, resolution_due_at=clocks.paused_at, paused_at=None, resolution_left_s=None)
    clocks = resume(clocks, at, cal)
    return responded(clocks, at)


def reopened(clocks: Clocks, policy: Policy, at: datetime, cal: Calendar) -> Clocks:
    """A fresh resolution clock from the reopen, with the policy's full time (the caller also clears
    ``resolution_breached_at``, so the new run may breach again). The first-response clock is left
    as it was: answered by a response or the resolution (``resolved``); a ticket closed by hand
    that nobody ever answered still owes its first answer, by the due time it always had."""
    due = add_business(at, policy.resolution_min * 60, cal) if policy.resolution_min else None
    return replace(clocks, paused_at=None, resolution_left_s=None, resolution_due_at=due)


def running_due_at(clocks: Clocks, status: str) -> datetime | None:
    """The tickets row's ``due_at``: the running clock's due time while the ticket is open or
    waiting on the customer; None once resolved or closed."""
    return clocks.due_at if status in ("open", "waiting_on_customer") else None


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
