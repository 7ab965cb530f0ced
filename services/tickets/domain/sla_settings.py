"""What a valid SLA policy and shop calendar are (``PUT /sla-policies``, ``PUT /calendar``). No I/O.

A policy gives a kind and priority its first-response and resolution times in business minutes
(null: no such clock); a resolution is never promised sooner than the first answer. The calendar
is the opening hours per ISO weekday ("1" Monday … "7" Sunday) in the shop's zone, and the days
that differ: a holiday (no hours) or a make-up working day 调休 (hours on a weekend day). Every
wrong value is a 422 naming its field: ``policies[2].resolution_min``, ``weekly.3[0]``,
``days[1].hours[0]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.tickets.domain import sla
from shared.errors import FieldProblem, Invalid
from shared.events import TicketPriority

MAX_POLICY_MIN = 100_000  # ~185 working days of 9 hours: longer is a typing mistake, not a promise
WEEKDAYS = tuple(str(d) for d in range(1, 8))
PRIORITY_ORDER = ("critical", "high", "normal", "low")


class PolicyRow(BaseModel):
    """One policy: the business minutes a (kind, priority) is promised; null means no clock."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["complaint", "feedback", "service_request"]
    priority: TicketPriority
    first_response_min: int | None = Field(
        ge=1, le=MAX_POLICY_MIN, description="Business minutes to the first answer; null: no first-response clock.")
    resolution_min: int | None = Field(
        ge=1, le=MAX_POLICY_MIN, description="Business minutes to the resolution; null: no resolution clock. "
        "Never shorter than first_response_min.")

    @field_validator("resolution_min")
    @classmethod
    def _not_before_first_response(cls, value: int | None, info: ValidationInfo) -> int | None:
        first = info.data.get("first_response_min")
        if value is not None and first is not None and value < first:
            raise ValueError(f"{value} minutes is shorter than first_response_min {first}: "
                             "a resolution cannot be promised before the first answer")
        return value


class PoliciesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[PolicyRow] = Field(
        min_length=1, max_length=12,
        description="The rows to set (the whole set or some of them); rows not given keep their times.")


class Policy(PolicyRow):
    updated_at: datetime
    updated_by: str


class Policies(BaseModel):
    policies: list[Policy] = Field(description="Every (kind, priority), complaints first, critical first.")


def check_policies(rows: Sequence[PolicyRow]) -> None:
    """A (kind, priority) given twice in one request is ambiguous: 422 naming the second."""
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        key = (row.kind, row.priority)
        if key in seen:
            raise Invalid.field(f"policies[{i}]", f"{row.kind}/{row.priority} is also policies[{seen[key]}]")
        seen[key] = i


def policy_order(kind: str, priority: str) -> tuple[int, int]:
    return (("complaint", "service_request", "feedback").index(kind), PRIORITY_ORDER.index(priority))


# --- the calendar --------------------------------------------------------------------------------

HHMM = Annotated[str, Field(max_length=5, json_schema_extra={"pattern": "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"})]
Interval = Annotated[list[HHMM], Field(min_length=2, max_length=2, description='[opens, closes], like ["09:00", "18:00"].')]
Intervals = list[Interval]
MIN_WEEKLY_MINUTES = 120  # a shop open less than two hours a week could keep no promise


class CalendarDay(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    day: date
    hours: Intervals = Field(
        max_length=12, description='That day\'s opening hours, like [["09:00", "18:00"]]; [] for a holiday.')
    name: str = Field("", max_length=100, description="春节, 国庆节调休 …")


class CalendarIn(BaseModel):
    """What ``PUT /calendar`` sets: ``weekly`` and ``days`` each replace what was there when given."""

    model_config = ConfigDict(extra="forbid")

    zone: str | None = Field(None, description="Read-only (``KEHU_TIMEZONE``): accepted when it is that zone, "
                             "so what GET answers can be sent back.")
    weekly: dict[str, Intervals] | None = Field(
        None, description='Opening hours per ISO weekday "1" (Monday) … "7" (Sunday), like {"1": [["09:00", '
        '"12:00"], ["13:00", "18:00"]]}; a weekday left out or [] is closed. "24:00" closes at midnight.')
    days: list[CalendarDay] | None = Field(
        None, max_length=2000, description="Every day that differs from the week (holidays, make-up working "
        "days); replaces the list there was.")


class CalendarOut(BaseModel):
    zone: str
    weekly: dict[str, Intervals]
    days: list[CalendarDay]
    updated_at: datetime
    updated_by: str


def hours_of(raw: Sequence[Sequence[str]], field: str) -> tuple[sla.Hours, list[FieldProblem]]:
    """Parse intervals, each problem naming its interval: ``weekly.3[1]`` (an overlap names the later)."""
    problems: list[FieldProblem] = []
    good: list[tuple[int, list[str]]] = []
    for i, pair in enumerate(raw):
        try:
            sla.parse_hours([list(pair)])
        except ValueError as exc:
            problems.append(FieldProblem(f"{field}[{i}]", str(exc), "invalid_hours"))
        else:
            good.append((i, list(pair)))
    if problems:
        return (), problems
    ordered = sorted(good, key=lambda g: sla.parse_hours([g[1]]))
    for (_, a), (j, b) in pairwise(ordered):
        try:
            sla.parse_hours([a, b])
        except ValueError as exc:
            problems.append(FieldProblem(f"{field}[{j}]", str(exc), "overlapping_hours"))
    return (sla.parse_hours([list(p) for p in raw]) if not problems else ()), problems


Week = dict[int, sla.Hours]
Days = dict[date, tuple[sla.Hours, str]]


def check_calendar(body: CalendarIn, zone: str) -> tuple[Week | None, Days | None]:
    """The weekly hours and the exception days to store (None: keep what is there), or a 422 naming
    every wrong field."""
    problems: list[FieldProblem] = []
    if body.zone is not None and body.zone != zone:
        problems.append(FieldProblem("zone", f"read-only: the shop's zone is {zone} (KEHU_TIMEZONE)", "read_only"))
    weekly: Week | None = None
    if body.weekly is not None:
        weekly = {}
        for key, raw in body.weekly.items():
            if key not in WEEKDAYS:
                problems.append(FieldProblem(f"weekly.{key}", "not an ISO weekday: \"1\" (Monday) to \"7\" (Sunday)",
                                             "not_a_weekday"))
                continue
            hours, wrong = hours_of(raw, f"weekly.{key}")
            problems += wrong
            weekly[int(key)] = hours
        if not problems and _minutes(weekly.values()) < MIN_WEEKLY_MINUTES:
            problems.append(FieldProblem("weekly", f"open {_minutes(weekly.values())} minutes a week: at least "
                                         f"{MIN_WEEKLY_MINUTES} (no promised time could pass)", "always_closed"))
    days: Days | None = None
    if body.days is not None:
        days = {}
        first: dict[date, int] = {}
        for i, d in enumerate(body.days):
            if d.day in first:
                problems.append(FieldProblem(f"days[{i}].day", f"{d.day} is also days[{first[d.day]}]", "duplicate"))
                continue
            first[d.day] = i
            hours, wrong = hours_of(d.hours, f"days[{i}].hours")
            problems += wrong
            days[d.day] = (hours, d.name)
    if problems:
        raise Invalid.fields(problems)
    return weekly, days


def _minutes(weeks: Iterable[sla.Hours]) -> int:
    def of(t: time) -> int:
        return 24 * 60 if t == sla.END_OF_DAY else t.hour * 60 + t.minute

    return sum(of(b) - of(a) for hours in weeks for a, b in hours)


def weekly_json(weekly: Mapping[int, sla.Hours]) -> dict[str, Intervals]:
    """Every weekday "1" … "7", closed ones as []."""
    return {str(d): sla.format_hours(weekly.get(d, ())) for d in range(1, 8)}
