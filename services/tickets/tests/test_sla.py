"""Promised times counted in business hours (``services.tickets.domain.sla``): overnight, weekends,
holidays and make-up working days, "24:00", daylight saving, the clocks' pause, resume, resolution
and reopen, what a person sees of a clock, and add_business / business_seconds_between as inverses
(on random calendars in zones with clock changes, over the span they are exact: ``MAX_DAYS``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.tickets.domain import sla

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_SIX = sla.parse_hours([["09:00", "18:00"]])


def calendar(zone: ZoneInfo = SHANGHAI, weekly: dict[int, list[list[str]]] | None = None,
             days: dict[date, list[list[str]]] | None = None) -> sla.Calendar:
    """Monday to Friday 09:00-18:00 unless told otherwise."""
    week = weekly if weekly is not None else {d: [["09:00", "18:00"]] for d in range(1, 6)}
    return sla.Calendar(zone, {d: sla.parse_hours(h) for d, h in week.items()},
                        {d: sla.parse_hours(h) for d, h in (days or {}).items()})


def at(day: str, clock: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), zone)


SHOP = calendar()
HOURS = 3600

# 2026-12-04 is a Friday, 2026-12-07 a Monday.


# --- add_business ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "hours", "due"), [
    (("2026-12-07", "10:00"), 2, ("2026-12-07", "12:00")),  # within one day
    (("2026-12-07", "17:00"), 2, ("2026-12-08", "10:00")),  # overnight: one hour today, one tomorrow
    (("2026-12-04", "17:00"), 2, ("2026-12-07", "10:00")),  # over the weekend
    (("2026-12-07", "16:00"), 2, ("2026-12-07", "18:00")),  # fits exactly: due at closing, not next morning
    (("2026-12-07", "07:00"), 1, ("2026-12-07", "10:00")),  # before opening: counts from 09:00
    (("2026-12-07", "20:00"), 1, ("2026-12-08", "10:00")),  # after closing: counts from tomorrow 09:00
    (("2026-12-05", "12:00"), 1, ("2026-12-07", "10:00")),  # on a Saturday: from Monday
    (("2026-12-07", "09:00"), 9, ("2026-12-07", "18:00")),  # one working day
    (("2026-12-07", "09:00"), 45, ("2026-12-11", "18:00")),  # a working week
    (("2026-12-07", "10:00"), 45, ("2026-12-14", "10:00")),  # a working week, over a weekend
])
def test_add_business_counts_only_opening_hours(start: tuple[str, str], hours: float, due: tuple[str, str]) -> None:
    assert sla.add_business(at(*start), hours * HOURS, SHOP) == at(*due)


def test_a_complaint_filed_friday_at_five_with_two_business_hours_is_due_monday_at_ten() -> None:
    filed = at("2026-12-04", "17:00")
    due = sla.add_business(filed, 2 * HOURS, SHOP)
    assert due == at("2026-12-07", "10:00")
    assert due.astimezone(UTC) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert sla.business_seconds_between(filed, due, SHOP) == 2 * HOURS


def test_zero_or_less_is_the_start_itself_even_outside_hours() -> None:
    saturday = at("2026-12-05", "12:00")
    assert sla.add_business(saturday, 0, SHOP) == saturday
    assert sla.add_business(saturday, -5, SHOP) == saturday


def test_the_answer_keeps_the_start_s_offset() -> None:
    start = at("2026-12-07", "10:00").astimezone(UTC)
    due = sla.add_business(start, HOURS, SHOP)
    assert due.tzinfo is UTC and due == at("2026-12-07", "11:00")


def test_a_lunch_break_does_not_count() -> None:
    split = calendar(weekly={d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in range(1, 6)})
    assert sla.add_business(at("2026-12-07", "11:00"), 2 * HOURS, split) == at("2026-12-07", "14:00")
    assert sla.add_business(at("2026-12-07", "12:30"), 30 * 60, split) == at("2026-12-07", "13:30")
    assert sla.business_seconds_between(at("2026-12-07", "08:00"), at("2026-12-07", "20:00"), split) == 8 * HOURS


def test_hours_to_midnight_run_on_into_hours_from_midnight() -> None:
    late = calendar(weekly={d: [["00:00", "02:00"], ["18:00", "24:00"]] for d in range(1, 8)})
    assert sla.add_business(at("2026-12-07", "23:00"), 2 * HOURS, late) == at("2026-12-08", "01:00")
    assert sla.add_business(at("2026-12-07", "22:00"), 2 * HOURS, late) == at("2026-12-08", "00:00")
    assert sla.business_seconds_between(at("2026-12-07", "12:00"), at("2026-12-08", "12:00"), late) == 8 * HOURS


def test_always_open_is_plain_clock_time() -> None:
    always = calendar(ZoneInfo("UTC"), weekly={d: [["00:00", "24:00"]] for d in range(1, 8)})
    start = datetime(2026, 12, 7, 13, 17, 5, 123456, tzinfo=UTC)
    assert sla.add_business(start, 1620 * 60, always) == start + timedelta(minutes=1620)
    assert sla.business_seconds_between(start, start + timedelta(days=10), always) == 10 * 86_400


# --- holidays and make-up working days (调休) -----------------------------------------------------


def test_a_holiday_has_no_business_hours() -> None:
    monday_off = calendar(days={date(2026, 12, 7): []})
    assert sla.add_business(at("2026-12-04", "17:00"), 2 * HOURS, monday_off) == at("2026-12-08", "10:00")
    assert sla.business_seconds_between(at("2026-12-07", "00:00"), at("2026-12-08", "00:00"), monday_off) == 0


def test_spring_festival_week_off_and_its_make_up_saturday() -> None:
    # 2026: 春节 holidays Mon 16 Feb to Fri 20 Feb; Saturday 14 Feb is a make-up working day.
    spring = calendar(days={**{date(2026, 2, d): [] for d in range(16, 21)},
                            date(2026, 2, 14): [["09:00", "18:00"]]})
    # Filed Friday 13 Feb at 17:00: one hour that day, the second hour on the make-up Saturday.
    assert sla.add_business(at("2026-02-13", "17:00"), 2 * HOURS, spring) == at("2026-02-14", "10:00")
    # Filed Saturday at 17:00: one hour that day, then nothing until Monday 23 February.
    assert sla.add_business(at("2026-02-14", "17:00"), 2 * HOURS, spring) == at("2026-02-23", "10:00")
    assert sla.business_seconds_between(at("2026-02-14", "17:00"), at("2026-02-23", "10:00"), spring) == 2 * HOURS


def test_a_short_day_before_a_holiday() -> None:
    eve = calendar(days={date(2026, 12, 31): [["09:00", "12:00"]]})
    assert sla.add_business(at("2026-12-31", "11:00"), 2 * HOURS, eve) == at("2027-01-01", "10:00")


def test_a_long_promise_is_not_mistaken_for_a_closed_calendar() -> None:
    # 2000 working days is ~8 years ahead: only a run of closed days counts against MAX_DAYS.
    assert sla.add_business(at("2026-12-07", "09:00"), 2000 * 9 * HOURS, SHOP).year == 2034


def test_a_promise_further_than_twenty_years_is_an_error_not_a_walk_to_the_end_of_time() -> None:
    one_hour_a_week = calendar(weekly={1: [["09:00", "10:00"]]})
    with pytest.raises(sla.ClosedCalendar, match="days ahead"):
        sla.add_business(at("2026-12-07", "09:00"), 2000 * HOURS, one_hour_a_week)


def test_a_calendar_never_open_is_an_error_not_a_hang() -> None:
    with pytest.raises(sla.ClosedCalendar):
        sla.add_business(at("2026-12-07", "09:00"), 60, calendar(weekly={}))
    with pytest.raises(sla.ClosedCalendar):
        sla.add_working_days(at("2026-12-07", "09:00"), 1, calendar(weekly={}))


def test_a_time_without_its_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        sla.add_business(datetime(2026, 12, 7, 9), 60, SHOP)
    with pytest.raises(ValueError, match="offset"):
        sla.business_seconds_between(at("2026-12-07", "09:00"), datetime(2026, 12, 7, 10), SHOP)


# --- daylight saving (Europe/Berlin: 2026-03-29 forward, 2026-10-25 back) ---------------------------


def test_opening_hours_are_local_across_a_daylight_saving_weekend() -> None:
    shop = calendar(BERLIN)
    before = sla.add_business(at("2026-03-27", "17:00", BERLIN), 2 * HOURS, shop)
    assert before == at("2026-03-30", "10:00", BERLIN)
    assert before.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # CEST now: UTC+2
    back = sla.add_business(at("2026-10-23", "17:00", BERLIN), 2 * HOURS, shop)
    assert back.astimezone(UTC) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # CET again: UTC+1


def test_a_day_open_around_the_clock_is_23_or_25_hours_when_clocks_change() -> None:
    always = calendar(BERLIN, weekly={d: [["00:00", "24:00"]] for d in range(1, 8)})
    spring = sla.business_seconds_between(at("2026-03-29", "00:00", BERLIN), at("2026-03-30", "00:00", BERLIN), always)
    autumn = sla.business_seconds_between(at("2026-10-25", "00:00", BERLIN), at("2026-10-26", "00:00", BERLIN), always)
    assert (spring, autumn) == (23 * HOURS, 25 * HOURS)
    start = at("2026-03-28", "22:00", BERLIN)
    due = sla.add_business(start, 5 * HOURS, always)
    assert due.astimezone(UTC) == start.astimezone(UTC) + timedelta(hours=5)
    assert due.time() == time(4)  # five real hours: the wall clock skipped 02:00-03:00


def test_the_skipped_hour_is_never_counted_and_never_counted_twice() -> None:
    night = calendar(BERLIN, weekly={7: [["01:00", "02:30"], ["03:00", "04:00"]]})
    sunday = sla.business_seconds_between(at("2026-03-29", "00:00", BERLIN), at("2026-03-29", "12:00", BERLIN), night)
    # 01:00-02:00 CET is real; 02:00-02:30 does not exist; 03:00-04:00 CEST is real: two hours.
    assert sunday == 2 * HOURS
    skipped = calendar(BERLIN, weekly={7: [["02:00", "03:00"], ["09:00", "10:00"]]})
    assert sla.business_seconds_between(at("2026-03-29", "00:00", BERLIN), at("2026-03-30", "00:00", BERLIN),
                                        skipped) == HOURS


# --- business_seconds_between ---------------------------------------------------------------------


def test_business_seconds_between_over_nights_weekends_and_backwards() -> None:
    assert sla.business_seconds_between(at("2026-12-04", "17:00"), at("2026-12-07", "10:00"), SHOP) == 2 * HOURS
    assert sla.business_seconds_between(at("2026-12-07", "10:00"), at("2026-12-04", "17:00"), SHOP) == -2 * HOURS
    assert sla.business_seconds_between(at("2026-12-07", "19:00"), at("2026-12-08", "08:00"), SHOP) == 0
    assert sla.business_seconds_between(at("2026-12-07", "09:00"), at("2026-12-14", "09:00"), SHOP) == 45 * HOURS


# --- parse_hours and format_hours -----------------------------------------------------------------


def test_hours_parse_sorted_and_format_back_with_24_00() -> None:
    hours = sla.parse_hours([["13:00", "24:00"], ["00:00", "12:00"]])
    assert hours == ((time(0), time(12)), (time(13), sla.END_OF_DAY))
    assert sla.format_hours(hours) == [["00:00", "12:00"], ["13:00", "24:00"]]
    assert sla.parse_hours([]) == ()


@pytest.mark.parametrize(("raw", "says"), [
    ([["9:00", "18:00"]], "not a time of day"),
    ([["09:00", "25:00"]], "not a time of day"),
    ([["09:00", "12:60"]], "not a time of day"),
    ([["09.00", "18:00"]], "not a time of day"),
    ([["０９:00", "18:00"]], "not a time of day"),
    ([["24:00", "24:00"]], "only closes a day"),
    ([["18:00", "09:00"]], "closes before it opens"),
    ([["09:00", "09:00"]], "closes before it opens"),
    ([["09:00", "12:00"], ["11:00", "18:00"]], "overlap"),
    ([["09:00"]], "each interval is"),
    ([["09:00", "12:00", "18:00"]], "each interval is"),
])
def test_hours_that_are_not_hours_are_refused_saying_why(raw: list[list[str]], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        sla.parse_hours(raw)


def test_touching_intervals_are_fine() -> None:
    assert len(sla.parse_hours([["09:00", "12:00"], ["12:00", "18:00"]])) == 2


# --- breaching_within: working days and business time -----------------------------------------------


@pytest.mark.parametrize(("text", "days", "seconds"), [
    ("2h", 0, 7200), ("30m", 0, 1800), ("1d", 1, 0), ("1h30m", 0, 5400), ("45s", 0, 45), ("2H", 0, 7200),
    ("PT2H", 0, 7200), ("pt30m", 0, 1800), ("P1D", 1, 0), ("P1DT4H", 1, 14400), ("PT1H30M15S", 0, 5415),
    (" 2h ", 0, 7200),
])
def test_spans_short_or_iso_8601(text: str, days: int, seconds: int) -> None:
    assert sla.parse_span(text) == sla.Span(days, seconds)
    assert re.fullmatch(sla.SPAN_PATTERN, text.strip())


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "two hours", "-1h", "P", "PT", "P1DT", "P1M", "P1W", "P1Y",
                                  "2h-", "99999h", "1000d", "１h", "٣h"])
def test_spans_that_are_not_one_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="business time"):
        sla.parse_span(text)
    assert re.fullmatch(sla.SPAN_PATTERN, text) is None  # what the API documents says the same


def test_a_working_day_ahead_is_the_same_time_on_the_next_working_day() -> None:
    monday_off = calendar(days={date(2026, 12, 7): []})
    assert sla.add_working_days(at("2026-12-04", "15:00"), 1, SHOP) == at("2026-12-07", "15:00")
    assert sla.add_working_days(at("2026-12-04", "15:00"), 1, monday_off) == at("2026-12-08", "15:00")
    assert sla.add_working_days(at("2026-12-06", "10:00"), 1, SHOP) == at("2026-12-07", "10:00")  # from a Sunday
    assert sla.add_working_days(at("2026-12-07", "10:00"), 5, SHOP) == at("2026-12-14", "10:00")
    assert sla.add_working_days(at("2026-12-07", "10:00"), 0, SHOP) == at("2026-12-07", "10:00")
    # One working day of a 9-18 shop holds the same business time as nine business hours.
    start = at("2026-12-04", "15:00")
    assert sla.business_seconds_between(start, sla.add_working_days(start, 1, SHOP), SHOP) == 9 * HOURS
    assert sla.Span(1, 2 * HOURS).after(start, SHOP) == at("2026-12-07", "17:00")
    assert sla.parse_span("2h").after(at("2026-12-04", "17:00"), SHOP) == at("2026-12-07", "10:00")


# --- the clocks of a ticket -----------------------------------------------------------------------

COMPLAINT = sla.Policy(first_response_min=120, resolution_min=1080)  # 2 h to answer, 2 working days to resolve


def test_both_clocks_start_when_the_customer_raised_it() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-04", "17:00"), SHOP)
    assert clocks.first_response_due_at == at("2026-12-07", "10:00")
    assert clocks.resolution_due_at == at("2026-12-08", "17:00")  # 1 h Friday + 9 Monday + 8 Tuesday
    assert clocks.due_at == clocks.first_response_due_at
    assert sla.running_due_at(clocks, "open") == clocks.first_response_due_at


def test_no_policy_no_clock() -> None:
    clocks = sla.start(sla.Policy(None, None), at("2026-12-04", "17:00"), SHOP)
    assert clocks.due_at is None and clocks.first_response_due_at is None and clocks.resolution_due_at is None
    only_resolution = sla.start(sla.Policy(None, 60), at("2026-12-07", "10:00"), SHOP)
    assert only_resolution.due_at == at("2026-12-07", "11:00")


def test_the_first_response_stops_its_clock_and_the_resolution_clock_shows() -> None:
    clocks = sla.responded(sla.start(COMPLAINT, at("2026-12-04", "17:00"), SHOP), at("2026-12-07", "09:30"))
    assert clocks.first_response_at == at("2026-12-07", "09:30")
    assert clocks.due_at == at("2026-12-08", "17:00")
    again = sla.responded(clocks, at("2026-12-07", "11:00"))
    assert again.first_response_at == at("2026-12-07", "09:30")  # only the first counts


def test_waiting_on_the_customer_pauses_and_resumes_with_exactly_what_was_left() -> None:
    clocks = sla.responded(sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP), at("2026-12-07", "09:10"))
    assert clocks.resolution_due_at == at("2026-12-08", "18:00")
    paused = sla.pause(clocks, at("2026-12-07", "17:00"), SHOP)  # 10 business hours left
    assert paused.paused_at == at("2026-12-07", "17:00")
    assert paused.resolution_left_s == 10 * HOURS and paused.resolution_due_at is None
    assert paused.due_at is None and sla.running_due_at(paused, "waiting_on_customer") is None
    # A week later (the customer took their time), Monday 14 Dec at 11:00: 10 hours from then.
    resumed = sla.resume(paused, at("2026-12-14", "11:00"), SHOP)
    assert resumed.resolution_due_at == at("2026-12-15", "12:00")
    assert resumed.paused_at is None and resumed.resolution_left_s is None


def test_pausing_twice_or_resuming_a_running_clock_changes_nothing() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP)
    paused = sla.pause(clocks, at("2026-12-07", "10:00"), SHOP)
    assert sla.pause(paused, at("2026-12-07", "12:00"), SHOP) == paused
    assert sla.resume(clocks, at("2026-12-07", "12:00"), SHOP) == clocks


def test_left_time_is_whole_seconds_rounded_down_as_the_row_keeps_it() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-07", "09:00").replace(microsecond=700_000), SHOP)
    paused = sla.pause(clocks, at("2026-12-07", "10:00"), SHOP)
    assert paused.resolution_left_s == 17 * HOURS  # 17 h 0.7 s left: 17 h kept
    assert paused.resolution_left_s is not None and paused.resolution_left_s.is_integer()


def test_a_clock_paused_after_it_ran_out_keeps_zero_and_is_due_at_once_on_resume() -> None:
    clocks = sla.start(sla.Policy(None, 60), at("2026-12-07", "09:00"), SHOP)
    paused = sla.pause(clocks, at("2026-12-07", "15:00"), SHOP)
    assert paused.resolution_left_s == 0
    assert sla.view(paused, False, at("2026-12-07", "16:00"), SHOP).breached
    assert sla.resume(paused, at("2026-12-08", "10:00"), SHOP).resolution_due_at == at("2026-12-08", "10:00")


def test_pausing_without_a_resolution_clock_only_notes_since_when() -> None:
    clocks = sla.start(sla.Policy(60, None), at("2026-12-07", "09:00"), SHOP)
    paused = sla.pause(clocks, at("2026-12-07", "09:30"), SHOP)
    assert paused.paused_at == at("2026-12-07", "09:30") and paused.resolution_left_s is None
    assert paused.due_at == at("2026-12-07", "10:00")  # the first answer is still owed
    assert sla.resume(paused, at("2026-12-07", "09:45"), SHOP).resolution_due_at is None


def test_the_first_response_clock_runs_on_while_waiting_on_the_customer() -> None:
    paused = sla.pause(sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP), at("2026-12-07", "09:30"), SHOP)
    assert paused.due_at == at("2026-12-07", "11:00")
    view = sla.view(paused, False, at("2026-12-07", "10:00"), SHOP)
    assert (view.clock, view.business_seconds_left, view.paused) == ("first_response", HOURS, False)


def test_resolution_answers_a_first_response_nobody_gave_and_closes_a_paused_clock() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP)
    done = sla.resolved(clocks, at("2026-12-07", "10:00"), SHOP)
    assert done.first_response_at == at("2026-12-07", "10:00")
    assert sla.running_due_at(done, "resolved") is None
    answered = sla.responded(clocks, at("2026-12-07", "09:05"))
    paused = sla.pause(answered, at("2026-12-07", "10:00"), SHOP)  # 17 h left
    done = sla.resolved(paused, at("2026-12-08", "10:00"), SHOP)
    assert done.first_response_at == at("2026-12-07", "09:05")
    assert done.paused_at is None and done.resolution_due_at == at("2026-12-09", "18:00")  # in time


def test_a_clock_run_out_before_the_pause_stays_late_when_resolved() -> None:
    ran_out = sla.pause(sla.start(sla.Policy(None, 60), at("2026-12-07", "09:00"), SHOP), at("2026-12-07", "15:00"),
                        SHOP)
    done = sla.resolved(ran_out, at("2026-12-08", "10:00"), SHOP)
    assert done.resolution_due_at == at("2026-12-07", "15:00") < at("2026-12-08", "10:00")


def test_a_reopen_starts_a_fresh_resolution_clock_with_the_full_time() -> None:
    clocks = sla.resolved(sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP), at("2026-12-07", "10:00"), SHOP)
    again = sla.reopened(clocks, COMPLAINT, at("2026-12-10", "15:00"), SHOP)
    assert again.resolution_due_at == at("2026-12-14", "15:00")  # 18 business hours from Thursday 15:00
    assert again.first_response_at == at("2026-12-07", "10:00") and again.due_at == again.resolution_due_at
    paused = sla.pause(again, at("2026-12-11", "09:00"), SHOP)
    assert sla.reopened(paused, COMPLAINT, at("2026-12-11", "10:00"), SHOP).paused_at is None
    assert sla.reopened(clocks, sla.Policy(60, None), at("2026-12-10", "15:00"), SHOP).resolution_due_at is None


def test_a_ticket_closed_by_hand_unanswered_still_owes_its_first_answer_after_a_reopen() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP)
    again = sla.reopened(clocks, COMPLAINT, at("2026-12-10", "15:00"), SHOP)
    assert again.first_response_at is None and again.due_at == at("2026-12-07", "11:00")


# --- what a person sees -------------------------------------------------------------------------


def test_the_countdown_is_in_business_time_and_negative_once_breached() -> None:
    clocks = sla.start(COMPLAINT, at("2026-12-04", "17:00"), SHOP)
    saturday = sla.view(clocks, False, at("2026-12-05", "12:00"), SHOP)
    assert (saturday.clock, saturday.due_at, saturday.business_seconds_left) == (
        "first_response", at("2026-12-07", "10:00"), HOURS)
    assert not saturday.breached and not saturday.paused and saturday.as_of == at("2026-12-05", "12:00")
    due = sla.view(clocks, False, at("2026-12-07", "10:00"), SHOP)
    assert due.breached and due.business_seconds_left == 0
    late = sla.view(clocks, False, at("2026-12-07", "12:30"), SHOP)
    assert late.breached and late.business_seconds_left == -2.5 * HOURS


def test_the_countdown_of_a_paused_or_resolved_ticket() -> None:
    clocks = sla.responded(sla.start(COMPLAINT, at("2026-12-07", "09:00"), SHOP), at("2026-12-07", "09:10"))
    paused = sla.view(sla.pause(clocks, at("2026-12-07", "17:00"), SHOP), False, at("2026-12-09", "12:00"), SHOP)
    assert (paused.clock, paused.due_at, paused.business_seconds_left, paused.paused, paused.breached) == (
        "resolution", None, 10 * HOURS, True, False)
    done = sla.view(clocks, True, at("2026-12-09", "12:00"), SHOP)
    assert (done.clock, done.due_at, done.business_seconds_left, done.breached) == (None, None, None, False)
    none = sla.view(sla.start(sla.Policy(None, None), at("2026-12-07", "09:00"), SHOP), False,
                    at("2026-12-07", "10:00"), SHOP)
    assert none.clock is None and none.business_seconds_left is None


def test_a_countdown_long_after_the_due_time_is_quick() -> None:
    import time as clock

    clocks = sla.start(COMPLAINT, at("2024-01-02", "09:00"), SHOP)
    started = clock.perf_counter()
    for _ in range(200):  # a list page of long forgotten tickets, one calendar per request
        sla.view(clocks, False, at("2026-12-07", "10:00"), SHOP)
    assert clock.perf_counter() - started < 1.0


# --- add_business and business_seconds_between are inverses ---------------------------------------

ZONES = [ZoneInfo(z) for z in ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "America/Santiago", "UTC")]


@st.composite
def calendars(draw: st.DrawFn) -> sla.Calendar:
    def hours() -> st.SearchStrategy[list[list[str]]]:
        marks = st.lists(st.integers(0, 48), min_size=0, max_size=6, unique=True).map(sorted)
        return marks.map(lambda m: [[_half_hour(a), _half_hour(b)] for a, b in zip(m[::2], m[1::2], strict=False)])

    weekly = draw(st.dictionaries(st.integers(1, 7), hours(), min_size=1))
    if sum(_minutes(h) for h in weekly.values()) < 120:  # the least a calendar may open (PUT /calendar)
        weekly[draw(st.integers(1, 7))] = [["09:00", "18:00"]]
    days = draw(st.dictionaries(st.dates(date(2026, 1, 1), date(2027, 3, 1)), hours(), max_size=20))
    return calendar(draw(st.sampled_from(ZONES)), weekly, days)


def _minutes(hours: list[list[str]]) -> int:
    def of(text: str) -> int:
        return int(text[:2]) * 60 + int(text[3:])

    return sum(of(b) - of(a) for a, b in hours)


def _half_hour(mark: int) -> str:
    return "24:00" if mark == 48 else f"{mark // 2:02d}:{30 * (mark % 2):02d}"


instants = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), start=instants, seconds=st.integers(0, 60 * 86_400), micros=st.integers(0, 999_999))
def test_business_time_added_is_business_time_between(cal: sla.Calendar, start: datetime, seconds: int,
                                                      micros: int) -> None:
    amount = seconds + micros / 1_000_000
    due = sla.add_business(start, amount, cal)
    assert due >= start
    assume((due - start).days < sla.MAX_DAYS)  # beyond, whole weeks between are counted as ordinary ones
    assert sla.business_seconds_between(start, due, cal) == pytest.approx(amount, abs=1e-6)
    assert sla.business_seconds_between(due, start, cal) == pytest.approx(-amount, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), start=instants, gap=st.timedeltas(timedelta(0), timedelta(days=40)))
def test_adding_the_business_time_between_reaches_the_end_or_the_last_closing_before_it(
        cal: sla.Calendar, start: datetime, gap: timedelta) -> None:
    end = start + gap
    between = sla.business_seconds_between(start, end, cal)
    assert between >= 0
    reached = sla.add_business(start, between, cal)
    assert reached <= end  # the end itself, or (when the end is outside hours) the last closing before it
    assert sla.business_seconds_between(start, reached, cal) == pytest.approx(between, abs=1e-6)
    assert sla.business_seconds_between(reached, end, cal) == pytest.approx(0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), start=instants, a=st.integers(0, 20 * 86_400), b=st.integers(0, 20 * 86_400))
def test_more_business_time_is_never_due_sooner_and_adds_up(cal: sla.Calendar, start: datetime, a: int,
                                                            b: int) -> None:
    small, large = sorted((a, b))
    assert sla.add_business(start, small, cal) <= sla.add_business(start, large, cal)
    if small > 0:  # 0 keeps a start outside hours where it is
        assert sla.add_business(sla.add_business(start, small, cal), large, cal) == sla.add_business(
            start, small + large, cal)


def test_a_span_of_centuries_counts_whole_weeks_between_without_walking_every_day() -> None:
    import time as clock

    holiday = calendar(days={date(2026, 12, 7): []})
    started = clock.perf_counter()
    far = sla.business_seconds_between(at("2026-12-04", "17:00"), at("2999-12-06", "12:00"), holiday)
    assert clock.perf_counter() - started < 0.5
    assert sla.business_seconds_between(at("2999-12-06", "12:00"), at("2026-12-04", "17:00"), holiday) == -far
    # Exact at both ends (Monday 7 December 2026 is a holiday), 45 hours a week between.
    days = (date(2999, 12, 6) - date(2026, 12, 4)).days
    assert abs(far - days / 7 * 45 * HOURS) < 2 * 45 * HOURS
    # Just over the exact limit: the same as walking every day, for a calendar without exceptions.
    start, end = at("2026-01-05", "10:00"), at("2026-01-05", "10:00") + timedelta(days=sla.MAX_DAYS + 10)
    assert sla.business_seconds_between(start, end, SHOP) == sla._walk(start, end, SHOP).total_seconds()
