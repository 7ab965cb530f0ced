"""Ticket reports, the pure parts: medians in wall-clock and business minutes, SLA compliance,
volume, the report's range, and whether a category came back after its prevention action."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.tickets.domain import reports, sla
from shared.errors import Invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE_TO_SIX = sla.parse_hours([["09:00", "18:00"]])
# Monday to Friday 09:00-18:00 in Shanghai; 2026-10-01 (a Thursday) a holiday.
CAL = sla.Calendar(SHANGHAI, {d: NINE_TO_SIX if d <= 5 else () for d in range(1, 8)}, {date(2026, 10, 1): ()})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_business_time_over_a_night_a_weekend_and_a_holiday() -> None:
    pairs = [
        (at("2026-09-28T10:00"), at("2026-09-28T10:30")),  # Monday: 30 min, 30 business
        (at("2026-09-28T17:00"), at("2026-09-29T10:00")),  # overnight: 17 h, 2 business hours
        (at("2026-09-30T17:30"), at("2026-10-02T09:30")),  # over the holiday: 40 h, 1 business hour
        (at("2026-10-02T17:00"), at("2026-10-05T09:15")),  # over the weekend: 64 h 15, 75 business minutes
        (at("2026-10-03T11:00"), at("2026-10-03T12:00")),  # a Saturday: 60 min, none in business hours
    ]
    clock = reports.BusinessClock.spanning(CAL, pairs[0][0], pairs[3][1])

    assert [clock.seconds_between(a, b) / 60 for a, b in pairs] == [30, 120, 60, 75, 0]


LONDON = sla.Calendar(ZoneInfo("Europe/London"), {d: sla.parse_hours([["00:30", "02:30"], ["09:00", "24:00"]])
                                                  for d in range(1, 8)}, {})


@pytest.mark.parametrize(("cal", "first"), [(CAL, "2026-09-25T08:00"), (LONDON, "2026-03-27T08:00"),
                                            (LONDON, "2026-10-23T08:00")], ids=["shanghai", "spring", "autumn"])
def test_the_business_clock_agrees_with_the_sla_arithmetic_for_every_pair(cal: sla.Calendar, first: str) -> None:
    start = datetime.fromisoformat(first).replace(tzinfo=cal.zone)  # London: over a daylight-saving change
    instants = [start + timedelta(hours=7 * i, minutes=13 * i) for i in range(40)]
    clock = reports.BusinessClock.spanning(cal, instants[0], instants[-1])
    for a, b in zip(instants, instants[5:], strict=False):
        assert clock.seconds_between(a, b) == pytest.approx(sla.business_seconds_between(a, b, cal))


def test_a_calendar_without_hours_counts_no_business_time() -> None:
    closed = sla.Calendar(SHANGHAI, {}, {})
    clock = reports.BusinessClock.spanning(closed, at("2026-09-28T10:00"), at("2026-10-28T10:00"))
    assert clock.seconds_between(at("2026-09-28T10:00"), at("2026-10-28T10:00")) == 0


def test_medians_are_minutes_with_one_decimal_and_none_without_stops() -> None:
    assert reports.durations(3, 615.0, 93.0) == reports.Durations(count=3, median=10.2, business_median=1.6)
    assert reports.durations(0, None, None) == reports.Durations(count=0, median=None, business_median=None)


def test_compliance_is_met_over_the_clocks_that_ended_per_clock_and_in_all() -> None:
    figures = reports.sla_figures({("first_response", "met"): 3, ("first_response", "breached"): 1,
                                   ("resolution", "breached"): 1})

    assert (figures.clocks, figures.met, figures.breached, figures.compliance) == (5, 3, 2, 0.6)
    assert figures.by_clock["first_response"].compliance == 0.75
    assert figures.by_clock["resolution"].compliance == 0.0
    assert reports.sla_figures({}).compliance is None  # nothing ended: no rate, not 0 % or 100 %


def test_volume_lists_every_kind_and_category_and_the_channels_largest_first() -> None:
    volume = reports.volume([("kind", "complaint", 3), ("kind", "feedback", 1), ("channel", "store", 1),
                             ("channel", "phone", 3), ("category", "quality", 2), ("category", "other", 2)])

    assert volume.total == 4
    assert volume.by_kind == {"complaint": 3, "feedback": 1, "service_request": 0}
    assert list(volume.by_channel.items()) == [("phone", 3), ("store", 1)]
    assert volume.by_category["quality"] == 2 and volume.by_category["delivery"] == 0
    assert list(volume.by_category) == list(reports.CATEGORIES)


def test_a_day_is_the_shops_day_and_a_to_day_is_included_whole() -> None:
    since = reports.parse_bound("2026-11-01", SHANGHAI, "query.from", end=False)
    until = reports.parse_bound("2026-11-30", SHANGHAI, "query.to", end=True)
    instant = reports.parse_bound("2026-11-02T10:00:00+08:00", SHANGHAI, "query.to", end=True)

    assert since == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert until == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert instant == datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    assert reports.parse_bound(None, SHANGHAI, "query.from", end=False) is None


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "2026-11-02T10:00:00", "2026-11-02 10:00:00+08:00"])
def test_a_bound_that_is_neither_a_day_nor_a_time_is_a_422_naming_it(text: str) -> None:
    with pytest.raises(Invalid) as raised:
        reports.parse_bound(text, SHANGHAI, "query.from", end=False)
    assert [e.field for e in raised.value.errors or []] == ["query.from"]


def test_the_range_defaults_to_the_30_days_to_as_of_and_must_run_forwards() -> None:
    as_of = datetime(2026, 12, 7, tzinfo=UTC)
    assert reports.report_range(None, None, as_of=as_of) == (as_of - timedelta(days=30), as_of)
    with pytest.raises(Invalid) as backwards:
        reports.report_range(as_of, as_of - timedelta(days=1), as_of=as_of)
    assert [e.field for e in backwards.value.errors or []] == ["query.from"]
    with pytest.raises(Invalid) as too_long:
        reports.report_range(as_of - timedelta(days=4000), as_of, as_of=as_of)
    assert [e.field for e in too_long.value.errors or []] == ["query.to"]


def _action(category: str, done_at: datetime) -> reports.DoneAction:
    return reports.DoneAction(action_id=uuid.uuid4(), ticket_id=uuid.uuid4(), category=category,  # type: ignore[arg-type]
                              action="Check the seals", owner="zhao", done_at=done_at)


def _complaint(category: str, occurred_at: datetime) -> tuple[str, datetime, uuid.UUID]:
    return category, occurred_at, uuid.uuid4()


def _recurrences(done: list[reports.DoneAction], complaints: list[tuple[str, datetime, uuid.UUID]], *,
                 since: datetime, until: datetime) -> list[reports.Recurrence]:
    """As the route does: the period's complaint times per category, then the first after each
    action (what the SQL of first_complaints_after finds)."""
    seen = sorted(c for c in complaints if since <= c[1] < until)
    times = {category: [at.timestamp() for k, at, _ in seen if k == category] for category, _, _ in seen}
    counted = reports.recurrence_counts(done, times, since=since, until=until)
    firsts: dict[tuple[str, datetime], tuple[uuid.UUID, datetime]] = {(a.category, a.done_at): next((i, at) for k, at, i in seen if k == a.category and at > a.done_at)
              for a, n in counted if n}
    return reports.recurred(counted, firsts)


def test_a_category_recurs_with_complaints_after_the_action_was_done_within_the_period() -> None:
    since, until = at("2026-11-01T00:00"), at("2026-12-01T00:00")
    seals = _action("quality", at("2026-11-10T12:00"))
    drivers = _action("delivery", at("2026-11-20T12:00"))  # done in the period, nothing since: it held
    old = _action("billing", at("2026-09-01T12:00"))  # done before, nothing in the period: not listed
    later = _action("quality", at("2026-12-02T12:00"))  # done after the period: not yet
    complaints = [
        _complaint("quality", at("2026-11-05T10:00")),  # before it was done: the reason, not a recurrence
        _complaint("quality", at("2026-11-12T10:00")),
        _complaint("quality", at("2026-11-25T10:00")),
        _complaint("delivery", at("2026-11-19T10:00")),
        _complaint("quality", at("2026-12-01T10:00")),  # after the period
    ]
    found = _recurrences([drivers, seals, old, later], complaints, since=since, until=until)

    assert [(r.action_id, r.recurrences, r.first_recurrence_at) for r in found] == [
        (seals.action_id, 2, at("2026-11-12T10:00")), (drivers.action_id, 0, None)]
    assert found[0].first_recurrence_ticket_id == complaints[1][2]


def test_an_action_done_before_the_period_is_listed_when_its_category_came_back_in_it() -> None:
    since, until = at("2026-11-01T00:00"), at("2026-12-01T00:00")
    old = _action("billing", at("2026-09-01T12:00"))
    back = _complaint("billing", at("2026-11-03T10:00"))
    before = _complaint("billing", at("2026-10-03T10:00"))  # after it was done, but before the period

    (found,) = _recurrences([old], [before, back], since=since, until=until)
    assert (found.recurrences, found.first_recurrence_ticket_id) == (1, back[2])


def test_two_actions_of_a_category_each_count_what_came_after_them() -> None:
    since, until = at("2026-11-01T00:00"), at("2026-12-01T00:00")
    first, second = _action("quality", at("2026-11-02T12:00")), _action("quality", at("2026-11-20T12:00"))
    complaints = [_complaint("quality", at("2026-11-10T10:00")), _complaint("quality", at("2026-11-21T10:00"))]

    found = _recurrences([first, second], complaints, since=since, until=until)
    assert [(r.action_id, r.recurrences) for r in found] == [(first.action_id, 2), (second.action_id, 1)]
