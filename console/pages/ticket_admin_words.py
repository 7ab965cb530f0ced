"""The ticket settings, prevention and report pages' words and shapes. Pure: no I/O, so the unit
tests (tests/test_console_ticket_admin_units.py) check what a page will say and send.

- Promised times (SLA policies) are business minutes in the tickets API; a person reads and types
  them as hours and minutes ("4小时30分", "4 h 30 min", "1.5h", "90m", "4" = four hours).
- Opening hours are typed as "09:00-12:00, 13:00-18:00" (empty: closed); the API takes
  ``[["09:00", "12:00"], ["13:00", "18:00"]]``.
- A refusal of the tickets service names the body's field (``days[2].hours``, ``3.resolution_min``):
  ``calendar_field`` and ``policy_field`` find the form's field it belongs to.
- Report figures: minutes in words, shares in percent, the API's counts as chart bars.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from console.charts import Bar
from console.i18n import Texts

KINDS = ("complaint", "service_request", "feedback")
PRIORITIES = ("critical", "high", "normal", "low")
CATEGORIES = ("quality", "delivery", "billing", "attitude", "product_info", "after_sales", "other")
WEEKDAYS = ("1", "2", "3", "4", "5", "6", "7")  # ISO: Monday … Sunday, as the API keys them
CLOCKS = ("first_response_min", "resolution_min")
DAY_KINDS = ("holiday", "workday")
BLANK_DAY_ROWS = 3  # empty rows under the calendar's days, to add some at once
MOST_MINUTES = 60 * 24 * 365  # a promised time longer than a year of business time is a typo


# --- words of the tickets API's codes (literal calls: the catalogue finds every one) -----------


def kind_label(t: Texts, kind: str) -> str:
    return {"complaint": t.pgettext("ticket", "complaint"), "feedback": t.pgettext("ticket", "feedback"),
            "service_request": t.pgettext("ticket", "service_request")}.get(kind, kind)


def priority_label(t: Texts, priority: str) -> str:
    return {"low": t.pgettext("severity", "low"), "normal": t.pgettext("severity", "normal"),
            "high": t.pgettext("severity", "high"), "critical": t.pgettext("severity", "critical")}.get(
        priority, priority)


def category_label(t: Texts, category: str | None) -> str:
    return {"quality": t.pgettext("ticket category", "quality"),
            "delivery": t.pgettext("ticket category", "delivery"),
            "billing": t.pgettext("ticket category", "billing"),
            "attitude": t.pgettext("ticket category", "attitude"),
            "product_info": t.pgettext("ticket category", "product_info"),
            "after_sales": t.pgettext("ticket category", "after_sales"),
            "other": t.pgettext("ticket category", "other")}.get(category or "", category or "—")


def weekday_label(t: Texts, day: str) -> str:
    return {"1": t.gettext("Monday"), "2": t.gettext("Tuesday"), "3": t.gettext("Wednesday"),
            "4": t.gettext("Thursday"), "5": t.gettext("Friday"), "6": t.gettext("Saturday"),
            "7": t.gettext("Sunday")}.get(day, day)


def day_kind_label(t: Texts, kind: str) -> str:
    return {"holiday": t.gettext("Holiday (closed)"), "workday": t.gettext("Make-up working day (调休)")}.get(kind, kind)


def clock_label(t: Texts, clock: str) -> str:
    return {"first_response_min": t.gettext("First response within"),
            "resolution_min": t.gettext("Resolution within")}.get(clock, clock)


# --- promised times: business minutes ⇄ hours and minutes ----------------------------------------

_HOURS = {"", "h", "hr", "hrs", "hour", "hours", "小时", "个小时", "时", "钟头", "个钟头"}
_MINUTES = {"m", "min", "mins", "minute", "minutes", "分", "分钟"}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z\u4e00-\u9fff]*)\s*")


def minutes_text(t: Texts, minutes: int | float | None) -> str:
    """120 → "2小时" / "2 h"; 270 → "4小时30分" / "4 h 30 min"; 45 → "45分" / "45 min"; None → ""."""
    if minutes is None:
        return ""
    hours, rest = divmod(round(float(minutes)), 60)
    if hours and rest:
        return t.pgettext("duration", "%(hours)s h %(minutes)s min", hours=hours, minutes=rest)
    if hours:
        return t.pgettext("duration", "%(hours)s h", hours=hours)
    return t.pgettext("duration", "%(minutes)s min", minutes=rest)


def long_minutes_text(t: Texts, minutes: int | float | None) -> str:
    """A report's median: "1天3小时" / "1 d 3 h" from a day on, else as ``minutes_text``; "—" for none."""
    if minutes is None:
        return "—"
    if float(minutes) < 1:
        return t.pgettext("duration", "under 1 min")
    days, rest = divmod(round(float(minutes)), 24 * 60)
    if days:
        return t.pgettext("duration", "%(days)s d %(hours)s h", days=days, hours=rest // 60)
    return minutes_text(t, rest)


def parse_minutes(text: str) -> int | None:
    """What a person typed for a promised time → business minutes; "" → None (no promise).

    "4", "4h" and "4小时" are four hours; "90m" and "90分钟" ninety minutes; "1h30m", "1h30",
    "1小时30分", "4 h 30 min" and "1.5h" an hour and a half or so. Raises ValueError for anything
    else, zero, or more than a year."""
    text = text.strip().lower()
    if not text:
        return None
    total = 0.0
    position = 0
    units: list[str] = []
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        number, unit = float(match.group(1)), match.group(2)
        if unit == "" and units == ["h"] and text[:position].rstrip()[-1:].isalpha():
            unit = "m"  # 1h30: the number after the hours is minutes (not "1 2": which is which?)
        if unit in _HOURS:
            units.append("h")
            total += number * 60
        elif unit in _MINUTES:
            units.append("m")
            total += number
        else:
            raise ValueError(f"{unit!r} is not hours or minutes")
        position = match.end()
    if position != len(text) or not units or units not in (["h"], ["m"], ["h", "m"]):
        raise ValueError(f"{text!r} is not a time like 4h, 1h30m or 45m")
    minutes = round(total)
    if minutes <= 0:
        raise ValueError("at least one minute")
    if minutes > MOST_MINUTES:
        raise ValueError("more than a year")
    return minutes


# --- opening hours -------------------------------------------------------------------------------

_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(?:-|–|—|~|～|至|到)\s*(\d{1,2})(?::(\d{2}))?$")
_CLOSED = {"", "closed", "休息", "关门", "不营业", "-", "—"}


def parse_hours(text: str) -> list[list[str]]:
    """ "09:00-12:00, 13:00-18:00" → [["09:00", "12:00"], ["13:00", "18:00"]]; "" or 休息 → [].
    Hours may be written 9 or 9:00; 24:00 closes at midnight. Raises ValueError saying what is wrong."""
    text = text.strip().replace("：", ":").replace("，", ",").replace("、", ",").replace("；", ",").replace(";", ",")
    if text.lower() in _CLOSED:
        return []
    intervals: list[list[str]] = []
    for piece in (p.strip() for p in re.split(r"[,\s]+(?=\d)", text)):
        piece = piece.strip(", ")
        if not piece:
            continue
        match = _RANGE.match(piece)
        if not match:
            raise ValueError(f"{piece!r} is not opening hours like 09:00-18:00")
        opens = _clock(match.group(1), match.group(2))
        closes = _clock(match.group(3), match.group(4))
        if closes <= opens:
            raise ValueError(f"{piece}: closes before it opens")
        intervals.append([opens, closes])
    intervals.sort()
    for (_, a_end), (b_start, _) in pairwise(intervals):
        if b_start < a_end:
            raise ValueError("the hours overlap")
    return intervals


def _clock(hours: str, minutes: str | None) -> str:
    h, m = int(hours), int(minutes or 0)
    if not (0 <= h <= 24 and 0 <= m <= 59) or (h == 24 and m):
        raise ValueError(f"{hours}:{minutes or '00'} is not a time of day")
    return f"{h:02d}:{m:02d}"


def hours_text(hours: Sequence[Sequence[str]] | None) -> str:
    """[["09:00", "18:00"]] → "09:00-18:00"; [] → "" (closed)."""
    return ", ".join(f"{a}-{b}" for a, b in (hours or []))


def business_minutes_of(hours: Sequence[Sequence[str]] | None) -> int:
    """How long a day with these hours is open, in minutes (a working day: 9 h = 540)."""
    total = 0
    for opens, closes in hours or []:
        oh, om = (int(x) for x in opens.split(":"))
        ch, cm = (int(x) for x in closes.split(":"))
        total += ch * 60 + cm - (oh * 60 + om)
    return total


# --- the forms: what was typed → the API's body, or the errors at their fields --------------------


@dataclass
class Parsed:
    """A form read: the body to send (None when the console itself refuses), what was typed (shown
    again on a refusal), errors by form field, and for a list body which form row each item is."""

    body: Any
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    rows: list[str] = field(default_factory=list)


def policy_field(kind: str, priority: str, clock: str) -> str:
    return f"p-{kind}-{priority}-{clock}"


def policies_form(form: Mapping[str, str], t: Texts) -> Parsed:
    """The policy table's inputs → ``[{kind, priority, first_response_min, resolution_min}]`` (every
    row: the whole set is saved at once)."""
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    body: list[dict[str, Any]] = []
    rows: list[str] = []
    for kind in KINDS:
        for priority in PRIORITIES:
            row: dict[str, Any] = {"kind": kind, "priority": priority}
            for clock in CLOCKS:
                name = policy_field(kind, priority, clock)
                typed[name] = form.get(name, "").strip()
                try:
                    row[clock] = parse_minutes(typed[name])
                except ValueError:
                    errors[name] = t.gettext("Not a time this field takes: hours and minutes like 4h, 1h30m or 45m "
                                             "(empty: no promise).")
            body.append(row)
            rows.append(f"{kind}-{priority}")
    return Parsed(body if not errors else None, typed, errors, rows)


def policy_error_field(path: str, rows: Sequence[str]) -> str | None:
    """The form field a refusal of ``PUT /sla-policies`` names: ``body.3.resolution_min``,
    ``policies[3].first_response_min`` or ``complaint.high.resolution_min``; None for the form as a whole."""
    parts = _path(path)
    clock = next((p for p in parts if p in CLOCKS), None)
    index = next((int(p) for p in parts if p.isdigit()), None)
    kind = next((p for p in parts if p in KINDS), None)
    priority = next((p for p in parts if p in PRIORITIES), None)
    if kind and priority:
        row = f"{kind}-{priority}"
    elif index is not None and 0 <= index < len(rows):
        row = rows[index]
    else:
        return None
    return f"p-{row}-{clock or CLOCKS[0]}"


def calendar_form(form: Mapping[str, str], t: Texts) -> Parsed:
    """The calendar's inputs → ``{weekly: {"1": [...], …}, days: [{day, hours, name}]}``.

    A day row with no date is left out (that is how a day is removed); a make-up working day
    without hours takes Monday's."""
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    weekly: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        name = f"weekly-{day}"
        typed[name] = form.get(name, "").strip()
        try:
            weekly[day] = parse_hours(typed[name])
        except ValueError:
            errors[name] = _hours_error(t)
    count = _row_count(form)
    typed["day_rows"] = str(count)
    typed["existing_rows"] = form.get("existing_rows", "0") if form.get("existing_rows", "").isdigit() else "0"
    days: list[dict[str, Any]] = []
    rows: list[str] = []
    seen: dict[str, int] = {}
    for i in range(count):
        keys = {part: f"day-{i}-{part}" for part in ("day", "kind", "hours", "name", "remove")}
        for key in keys.values():
            typed[key] = form.get(key, "").strip()
        if typed[keys["remove"]]:
            continue
        when, kind, hours_typed, label = (typed[keys[p]] for p in ("day", "kind", "hours", "name"))
        kind = kind if kind in DAY_KINDS else "holiday"
        typed[keys["kind"]] = kind
        if not when:
            if label or hours_typed:
                errors[keys["day"]] = t.gettext("Required.")
            continue
        try:
            date.fromisoformat(when)
        except ValueError:
            errors[keys["day"]] = t.gettext("Not a day like 2026-10-08.")
            continue
        if when in seen:
            errors[keys["day"]] = t.gettext("This day is already in the list above.")
            continue
        seen[when] = i
        hours: list[list[str]] = []
        if kind == "workday":
            try:
                hours = parse_hours(hours_typed) or weekly.get("1") or []
            except ValueError:
                errors[keys["hours"]] = _hours_error(t)
            if not hours and keys["hours"] not in errors:
                errors[keys["hours"]] = t.gettext("A working day needs its opening hours.")
        days.append({"day": when, "hours": hours, "name": label})
        rows.append(str(i))
    body = {"weekly": weekly, "days": days}
    return Parsed(body if not errors else None, typed, errors, rows)


def _hours_error(t: Texts) -> str:
    return t.gettext("Not opening hours this field takes: like 09:00-18:00, or 09:00-12:00, 13:00-18:00 (empty: "
                     "closed).")


def _row_count(form: Mapping[str, str]) -> int:
    indexes = [int(m.group(1)) for k in form if (m := re.fullmatch(r"day-(\d+)-day", k))]
    return min(max(indexes, default=-1) + 1, 400)


def calendar_error_field(path: str, rows: Sequence[str]) -> str | None:
    """The form field a refusal of ``PUT /calendar`` names: ``weekly.3``, ``body.weekly.3.0``,
    ``days[2].hours``; None for the form as a whole."""
    parts = _path(path)
    if len(parts) >= 2 and parts[0] == "weekly" and parts[1] in WEEKDAYS:
        return f"weekly-{parts[1]}"
    if len(parts) >= 2 and parts[0] == "days" and parts[1].isdigit() and int(parts[1]) < len(rows):
        part = parts[2] if len(parts) > 2 and parts[2] in ("day", "hours", "name") else "day"
        return f"day-{rows[int(parts[1])]}-{part}"
    return None


def refusal_words(path: str, problem: Mapping[str, Any], t: Texts) -> str | None:
    """The tickets service's refusals of the settings that the console words itself (None: the
    general wording, ``console.forms.worded``)."""
    code = problem.get("code")
    if code == "always_closed":
        return t.gettext("The shop would be closed on every weekday: no promised time could ever pass.")
    if code == "value_error" and path.endswith("resolution_min"):
        return t.gettext("Not shorter than the first response.")
    if code in ("invalid_hours", "overlapping_hours"):
        return _hours_error(t)
    if code == "duplicate":
        return t.gettext("This day is already in the list above.")
    return None


def _path(path: str) -> list[str]:
    """``body.days[2].hours`` → ["days", "2", "hours"]."""
    parts = [p for p in re.split(r"[.\[\]]+", path) if p]
    return parts[1:] if parts and parts[0] in ("body", "query") else parts


def calendar_shown(calendar: Mapping[str, Any]) -> dict[str, str]:
    """The form's values for the calendar as the API has it (the days in date order)."""
    shown = {f"weekly-{d}": hours_text((calendar.get("weekly") or {}).get(d)) for d in WEEKDAYS}
    days = sorted(calendar.get("days") or [], key=lambda d: str(d.get("day")))
    for i, day in enumerate(days):
        shown[f"day-{i}-day"] = str(day.get("day") or "")
        shown[f"day-{i}-kind"] = "workday" if day.get("hours") else "holiday"
        shown[f"day-{i}-hours"] = hours_text(day.get("hours"))
        shown[f"day-{i}-name"] = str(day.get("name") or "")
    shown["day_rows"] = shown["existing_rows"] = str(len(days))
    return shown


def policies_by_row(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``GET /sla-policies`` (a list, or ``{items: [...]}``) by "kind-priority"."""
    return {f"{p.get('kind')}-{p.get('priority')}": p for p in items}


def items_of(answer: Any) -> list[dict[str, Any]]:
    """A list answer, or a page ``{items: [...]}``."""
    if isinstance(answer, Mapping):
        found = answer.get("items") or answer.get("policies") or []
        return list(found)
    return list(answer or [])


# --- reports -------------------------------------------------------------------------------------


def counted(raw: Mapping[str, int] | Sequence[Mapping[str, Any]] | None) -> list[tuple[str, int]]:
    """``{"quality": 3, …}`` (or rows ``[{key, count}]``) → [(key, n)] largest first, ties by name."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        pairs = [(str(k), int(v)) for k, v in raw.items()]
    else:
        pairs = [(str(r.get("key")), int(r.get("count") or 0)) for r in raw]
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))


def volume_bars(pairs: Sequence[tuple[str, int]], label: Any, t: Texts, href: Any = None) -> list[Bar]:
    """One bar per key (zeros kept: a category nobody complained about is news too)."""
    return [Bar(label(t, key), float(n), t.number(n), href(key) if href else None) for key, n in pairs]


def share_text(t: Texts, share: float | None) -> str:
    """0.875 → "88%" (the SLA compliance); None → "—"."""
    return t.percent(share)


def channel_label(t: Texts, channel: str) -> str:
    return t.pgettext("channel", channel)


def overdue_days(due_on: str, today: date) -> int:
    """Whole days a prevention action is past its due day (0: due today or later)."""
    return max((today - date.fromisoformat(due_on[:10])).days, 0)


# --- Today: tickets about to breach --------------------------------------------------------------

SOON = "2h"  # GET /tickets?breaching_within= : two business hours
SOON_S = 2 * 3600


def at_risk(tickets: Iterable[Mapping[str, Any]], *, breached: bool) -> list[Mapping[str, Any]]:
    """The tickets whose running clock is past due (``breached``) or due within two business hours,
    the most urgent first. The API's filter does this; the page checks it too, so a list never
    shows what its heading does not say."""
    found = []
    seen: set[str] = set()
    for ticket in tickets:
        sla = ticket.get("sla") or {}
        left = sla.get("business_seconds_left")
        if not sla.get("clock") or sla.get("paused") or left is None or str(ticket.get("id")) in seen:
            continue
        late = bool(sla.get("breached")) or float(left) < 0
        if late != breached or (not breached and float(left) > SOON_S):
            continue
        seen.add(str(ticket.get("id")))
        found.append(ticket)
    return sorted(found, key=lambda k: (float((k.get("sla") or {}).get("business_seconds_left") or 0),
                                        str(k.get("occurred_at") or "")))


def clock_words(t: Texts, ticket: Mapping[str, Any]) -> str:
    """"超时 1小时20分" / "1 h 20 min overdue", "剩 45分" / "45 min left": business time."""
    sla = ticket.get("sla") or {}
    left = float(sla.get("business_seconds_left") or 0)
    time = minutes_text(t, max(abs(left) // 60, 1))
    if sla.get("breached") or left < 0:
        return t.pgettext("ticket admin", "%(time)s overdue", time=time)
    return t.pgettext("ticket admin", "%(time)s left", time=time)


def which_clock(t: Texts, clock: str | None) -> str:
    return {"first_response": t.pgettext("ticket admin", "first response due"),
            "resolution": t.pgettext("ticket admin", "resolution due")}.get(clock or "", "")


def queue_label(t: Texts, queue: str | None) -> str:
    """A team queue a ticket waits in (``service``: the service desk)."""
    return {"service": t.pgettext("ticket admin", "service desk")}.get(queue or "", queue or "")
