"""Sales reports' rules: which orders count, how net follows, which period an order falls in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.orders.domain import reports as domain
from shared.errors import Invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def _named(problem: Invalid) -> str:
    return next(e.field for e in problem.errors or [])


def test_a_cancelled_order_is_no_sale_but_a_returned_one_is() -> None:
    assert not domain.counts("cancelled")
    for status in ("pending_approval", "placed", "confirmed", "fulfilled", "completed", "returned"):
        assert domain.counts(status), status


def test_net_is_gross_less_discounts_less_returns() -> None:
    # two orders: 100.00 before a 10.00 discount, 50.00 of which 20.00 came back
    got = domain.figures(2, 1, Decimal("150.00"), Decimal("10.00"), Decimal("20.00"))
    assert got["net"] == Decimal("120.00")
    # an order returned in full keeps nothing
    assert domain.figures(1, 1, Decimal("30.00"), Decimal("0.00"), Decimal("30.00"))["net"] == Decimal("0.00")


def test_a_sunday_evening_in_utc_is_monday_in_shanghai() -> None:
    moment = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)  # Sunday 16:30 UTC = Monday 00:30 in Shanghai
    assert domain.bucket_of(moment, "day", SHANGHAI) == date(2026, 11, 30)
    assert domain.bucket_of(moment, "week", SHANGHAI) == date(2026, 11, 30)
    assert domain.bucket_of(moment, "day", LONDON) == date(2026, 11, 29)
    assert domain.bucket_of(moment, "week", LONDON) == date(2026, 11, 23)


def test_the_last_evening_of_a_month_in_new_york_is_the_next_month_in_shanghai() -> None:
    moment = datetime(2026, 10, 31, 20, 0, tzinfo=NEW_YORK)
    assert domain.bucket_of(moment, "month", NEW_YORK) == date(2026, 10, 1)
    assert domain.bucket_of(moment, "month", SHANGHAI) == date(2026, 11, 1)
    assert domain.bucket_of(moment, "month", ZoneInfo("UTC")) == date(2026, 11, 1)


def test_days_follow_the_clock_change() -> None:
    # London goes back an hour on 2026-10-25: that day has 25 hours, all of them the same day
    start = datetime(2026, 10, 25, 0, 0, tzinfo=LONDON).astimezone(UTC)  # elapsed time, not wall-clock time
    assert domain.bucket_of(start + timedelta(hours=24, minutes=30), "day", LONDON) == date(2026, 10, 25)
    assert domain.bucket_of(start + timedelta(hours=25, minutes=1), "day", LONDON) == date(2026, 10, 26)


def test_buckets_cover_the_range_partial_periods_included() -> None:
    since = datetime(2026, 11, 4, tzinfo=SHANGHAI)  # a Wednesday
    until = datetime(2026, 11, 17, tzinfo=SHANGHAI)  # a Tuesday, not included
    assert domain.buckets(since, until, "week", SHANGHAI) == [date(2026, 11, 2), date(2026, 11, 9),
                                                              date(2026, 11, 16)]
    assert len(domain.buckets(since, until, "day", SHANGHAI)) == 13
    assert domain.buckets(datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2027, 2, 1, tzinfo=SHANGHAI), "month",
                          SHANGHAI) == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    for period in ("day", "week", "month"):
        assert domain.period_count(since, until + timedelta(days=400), period, SHANGHAI) == len(
            domain.buckets(since, until + timedelta(days=400), period, SHANGHAI))


def test_periods_without_sales_are_listed_with_zeros() -> None:
    since, until = datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2026, 11, 4, tzinfo=SHANGHAI)
    sold = domain.SalesRow(key="2026-11-02", **domain.figures(
        1, 1, Decimal("9.00"), Decimal("0.00"), Decimal("0.00")))
    rows = domain.period_rows({"2026-11-02": sold}, since, until, "day", SHANGHAI)
    assert [(r.key, r.net) for r in rows] == [("2026-11-01", 0), ("2026-11-02", Decimal("9.00")), ("2026-11-03", 0)]


def test_rows_by_net_then_key() -> None:
    def row(key: str, net: str) -> domain.SalesRow:
        return domain.SalesRow(key=key, **domain.figures(1, 1, Decimal(net), Decimal(0), Decimal(0)))

    assert [r.key for r in domain.ranked([row("b", "5.00"), row("a", "5.00"), row("c", "7.00")])] == ["c", "a", "b"]


def test_the_range_must_run_forwards_and_not_too_far() -> None:
    as_of = datetime(2026, 12, 1, tzinfo=SHANGHAI)
    start, end = domain.report_range(None, None, as_of=as_of, by="channel", period="day", zone=SHANGHAI)
    assert (start, end) == (as_of - timedelta(days=30), as_of)
    with pytest.raises(Invalid) as bad:
        domain.report_range(as_of, as_of, as_of=as_of, by="channel", period="day", zone=SHANGHAI)
    assert _named(bad.value) == "query.from"
    with pytest.raises(Invalid) as bad:
        domain.report_range(as_of - timedelta(days=4000), as_of, as_of=as_of, by="channel", period="day", zone=SHANGHAI)
    assert _named(bad.value) == "query.to"
    with pytest.raises(Invalid) as bad:  # two years of days are too many rows; of weeks they are not
        domain.report_range(as_of - timedelta(days=730), as_of, as_of=as_of, by="period", period="day", zone=SHANGHAI)
    assert _named(bad.value) == "query.period"
    domain.report_range(as_of - timedelta(days=730), as_of, as_of=as_of, by="period", period="week", zone=SHANGHAI)


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(Invalid) as bad:
        domain.zone_of("Mars/Olympus")
    assert _named(bad.value) == "query.tz"
