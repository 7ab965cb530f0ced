"""Sales reports: what counts as a sale, how its money splits, which period it falls in. No I/O.

An order counts unless it was cancelled (a returned order counts, its returns taking its net to
what was kept). Per order: ``gross`` is before any discount (Σ quantity × unit price), ``discounts``
the line and order discounts, ``returned`` the money given back, and ``net = gross − discounts −
returned`` (= total − returned_total). Per category the same is read off the lines (a line's amount
less what was returned of it); discounts on a whole order belong to no category and are only in the
totals (``order_discount``).

Periods are calendar days, ISO weeks (from Monday) or months of the shop's time zone (or the one
asked for): an order placed at 16:30 UTC on a Sunday is on Monday 00:30 in Shanghai, so in that
Monday's day and week there, and in the Sunday's in London.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from shared.errors import Invalid
from shared.events import Money

Grouping = Literal["channel", "category", "owner", "period"]
Period = Literal["day", "week", "month"]

NOT_COUNTED = ("cancelled",)
"""Statuses whose orders are no sale: the SQL excludes exactly these."""
UNCATEGORISED = "uncategorised"
"""The key of lines without a category (by=category)."""
POOL = "pool"
"""The key of customers without an owner, the public pool (by=owner)."""
LONGEST = timedelta(days=3660)
"""The longest range one report covers: ten years."""
MOST_PERIODS = 400
"""The most periods one report lists (a year and a month of days, or weeks, or months)."""
DEFAULT_SPAN = timedelta(days=30)


def counts(status: str) -> bool:
    """Is an order of this status a sale?"""
    return status not in NOT_COUNTED


class Figures(BaseModel):
    orders: int = Field(description="Orders counted (not cancelled); by=category: orders with a line in it.")
    customers: int = Field(description="Distinct customers of those orders.")
    gross: Money = Field(description="Before discounts: Σ quantity × unit price.")
    discounts: Money = Field(description="Line and order discounts (by=category: line discounts only).")
    returned: Money = Field(description="Money given back by returns.")
    net: Money = Field(description="gross − discounts − returned: what the shop kept (total − returned_total).")


class SalesRow(Figures):
    key: str = Field(description="The channel, the category (`uncategorised`: none), the owner (`pool`: none) "
                                 "or the first day of the period (YYYY-MM-DD, in the report's time zone).")


class SalesReport(BaseModel):
    since: datetime = Field(alias="from", description="Orders placed from this time on...")
    until: datetime = Field(alias="to", description="...up to, not including, this time.")
    tz: str = Field(description="The time zone of the periods (IANA name).")
    currency: str = Field(description="Only orders in this currency are counted (ISO 4217).")
    by: Grouping
    period: Period | None = Field(description="With by=period: day, week (from Monday) or month.")
    rows: list[SalesRow] = Field(description="by=period: every period of the range in order, empty ones with "
                                 "zeros; else the largest net first.")
    totals: Figures = Field(description="Every order counted in the range, whatever the grouping.")
    order_discount: Money = Field(description="by=category: discounts on whole orders, in totals but in no row.")

    model_config = {"populate_by_name": True}


def figures(orders: int, customers: int, gross: Decimal, discounts: Decimal, returned: Decimal) -> dict[str, object]:
    """The fields of a row or of the totals; net follows from the rest."""
    return {"orders": orders, "customers": customers, "gross": gross, "discounts": discounts,
            "returned": returned, "net": gross - discounts - returned}


def zone_of(name: str, field: str = "query.tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid.field(field, f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None


def bucket_of(moment: datetime, period: Period, zone: ZoneInfo) -> date:
    """The first day of the period (in ``zone``) that ``moment`` falls in."""
    day = moment.astimezone(zone).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, period: Period) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def buckets(since: datetime, until: datetime, period: Period, zone: ZoneInfo) -> list[date]:
    """Every period the range [since, until) touches, in order."""
    last = bucket_of(until - timedelta(microseconds=1), period, zone)
    found: list[date] = []
    day = bucket_of(since, period, zone)
    while day <= last:
        found.append(day)
        day = next_bucket(day, period)
    return found


def period_count(since: datetime, until: datetime, period: Period, zone: ZoneInfo) -> int:
    """How many periods ``buckets`` would list, without listing them (a ten-year range of days)."""
    first, last = bucket_of(since, period, zone), bucket_of(until - timedelta(microseconds=1), period, zone)
    if period == "day":
        return (last - first).days + 1
    if period == "week":
        return (last - first).days // 7 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def report_range(
    since: datetime | None, until: datetime | None, *, as_of: datetime, by: Grouping, period: Period, zone: ZoneInfo,
) -> tuple[datetime, datetime]:
    """The range asked for (default: the 30 days to ``as_of``), or a 422 naming the field at fault."""
    end = until or as_of
    start = since or end - DEFAULT_SPAN
    if start >= end:
        raise Invalid.field("query.from" if since is not None else "query.to", "from must be before to")
    if end - start > LONGEST:
        raise Invalid.field("query.to", f"a report covers at most {LONGEST.days} days")
    if by == "period" and (n := period_count(start, end, period, zone)) > MOST_PERIODS:
        raise Invalid.field("query.period", f"{n} periods of a {period}; a report lists at most {MOST_PERIODS}: "
                            "choose a longer period or a shorter range")
    return start, end


def period_rows(found: dict[str, SalesRow], since: datetime, until: datetime, period: Period,
                zone: ZoneInfo) -> list[SalesRow]:
    """Every period of the range in order, those without a sale with zeros."""
    zero = figures(0, 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    return [found.get(day.isoformat()) or SalesRow(key=day.isoformat(), **zero)
            for day in buckets(since, until, period, zone)]


def ranked(rows: list[SalesRow]) -> list[SalesRow]:
    """Largest net first; equal nets by key, so the order is stable."""
    return sorted(rows, key=lambda r: (-r.net, r.key))
