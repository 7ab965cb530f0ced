"""The ticket settings, prevention and report pages' words and shapes, without a server: promised
times typed and shown as hours and minutes, opening hours typed as text, the forms' bodies for the
tickets API and its refusals found at their fields, the report's bars, Today's tickets at risk."""

from __future__ import annotations

from datetime import date

import pytest

from console.i18n import Texts
from console.pages import ticket_admin_words as words
from console.pages.ticket_reports import charts, period_of

ZH = Texts("zh-CN")
EN = Texts("en")


# --- promised times -------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "minutes"), [
    ("4", 240), ("4h", 240), ("4 h", 240), ("4小时", 240), ("4 个小时", 240), ("90m", 90), ("90分钟", 90),
    ("45 min", 45), ("1h30m", 90), ("1h30", 90), ("1小时30分", 90), ("4 h 30 min", 270), ("1.5h", 90),
    ("27H", 1620), ("", None), ("  ", None),
])
def test_a_promised_time_is_typed_as_hours_and_minutes(typed: str, minutes: int | None) -> None:
    assert words.parse_minutes(typed) == minutes


@pytest.mark.parametrize("typed", ["0", "0h", "abc", "4 days", "30m 2h", "1 2", "4h 4h", "-3", "999999h", "4h30x"])
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        words.parse_minutes(typed)


@pytest.mark.parametrize(("minutes", "zh", "en"), [
    (240, "4小时", "4 h"), (270, "4小时30分", "4 h 30 min"), (45, "45分钟", "45 min"), (1620, "27小时", "27 h"),
    (None, "", ""),
])
def test_a_promised_time_reads_as_hours_and_minutes_and_reads_back_the_same(minutes: int | None, zh: str,
                                                                             en: str) -> None:
    assert words.minutes_text(ZH, minutes) == zh
    assert words.minutes_text(EN, minutes) == en
    assert words.parse_minutes(zh) == minutes  # saving what the page shows changes nothing
    assert words.parse_minutes(en) == minutes


def test_a_report_median_counts_days_from_a_day_on() -> None:
    assert words.long_minutes_text(ZH, 1500.4) == "1天1小时"
    assert words.long_minutes_text(EN, 1500) == "1 d 1 h"
    assert words.long_minutes_text(ZH, 75.6) == "1小时16分"
    assert words.long_minutes_text(ZH, None) == "—"
    assert words.long_minutes_text(ZH, 0.4) == "不到1分钟"


# --- opening hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "hours"), [
    ("09:00-18:00", [["09:00", "18:00"]]),
    ("9-18", [["09:00", "18:00"]]),
    ("13:00-18:00, 09:00-12:00", [["09:00", "12:00"], ["13:00", "18:00"]]),
    ("09:00-12:00，13:00～18:00", [["09:00", "12:00"], ["13:00", "18:00"]]),
    ("09:00至12:00 13:30到21:00", [["09:00", "12:00"], ["13:30", "21:00"]]),
    ("18:00-24:00", [["18:00", "24:00"]]),
    ("", []), ("休息", []), ("closed", []),
])
def test_opening_hours_are_typed_as_text(typed: str, hours: list[list[str]]) -> None:
    assert words.parse_hours(typed) == hours
    assert words.parse_hours(words.hours_text(hours)) == hours


@pytest.mark.parametrize("typed", ["18:00-09:00", "09:00-12:00, 11:00-14:00", "9am-5pm", "25:00-26:00",
                                   "09:60-10:00", "24:30-25:00", "09:00"])
def test_opening_hours_that_cannot_be_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        words.parse_hours(typed)


def test_a_day_of_nine_hours_is_540_business_minutes() -> None:
    assert words.business_minutes_of([["09:00", "12:00"], ["13:00", "19:00"]]) == 540
    assert words.business_minutes_of([]) == 0


# --- the policy form --------------------------------------------------------------------------------


def _policy_form(**typed: str) -> dict[str, str]:
    form = {words.policy_field(k, p, c): "" for k in words.KINDS for p in words.PRIORITIES for c in words.CLOCKS}
    form.update({k.replace("__", "-"): v for k, v in typed.items()})
    return form


def test_the_policy_form_sends_every_row_in_minutes() -> None:
    parsed = words.policies_form(_policy_form(**{"p-complaint-high-first_response_min": "2h",
                                                 "p-complaint-high-resolution_min": "2小时"}), ZH)
    assert parsed.errors == {}
    assert len(parsed.body) == 12
    high = next(r for r in parsed.body if r["kind"] == "complaint" and r["priority"] == "high")
    assert high == {"kind": "complaint", "priority": "high", "first_response_min": 120, "resolution_min": 120}
    assert parsed.body[0] == {"kind": "complaint", "priority": "critical", "first_response_min": None,
                              "resolution_min": None}
    assert parsed.rows[3] == "complaint-low"


def test_a_policy_the_console_cannot_read_is_refused_at_its_field_with_what_was_typed() -> None:
    parsed = words.policies_form(_policy_form(**{"p-feedback-low-resolution_min": "两小时",
                                                 "p-feedback-high-first_response_min": "9h"}), ZH)
    assert parsed.body is None
    assert list(parsed.errors) == ["p-feedback-low-resolution_min"]
    assert "4小时" in parsed.errors["p-feedback-low-resolution_min"]
    assert parsed.typed["p-feedback-low-resolution_min"] == "两小时"
    assert parsed.typed["p-feedback-high-first_response_min"] == "9h"


@pytest.mark.parametrize(("path", "field"), [
    ("body.3.resolution_min", "p-complaint-low-resolution_min"),
    ("body[4].first_response_min", "p-service_request-critical-first_response_min"),
    ("policies[11].resolution_min", "p-feedback-low-resolution_min"),
    ("complaint.high.first_response_min", "p-complaint-high-first_response_min"),
    ("body.2", "p-complaint-normal-first_response_min"),
    ("body.99.resolution_min", None),
    ("body", None),
])
def test_a_refusal_of_the_policies_finds_its_field(path: str, field: str | None) -> None:
    rows = words.policies_form(_policy_form(), ZH).rows
    assert words.policy_error_field(path, rows) == field


# --- the calendar form --------------------------------------------------------------------------------


def _calendar_form(days: list[tuple[str, str, str, str]], **weekly: str) -> dict[str, str]:
    form = {f"weekly-{d}": "09:00-18:00" if d in "12345" else "" for d in words.WEEKDAYS}
    form.update({f"weekly-{k[1:]}": v for k, v in weekly.items()})
    for i, (day, kind, hours, name) in enumerate(days):
        form.update({f"day-{i}-day": day, f"day-{i}-kind": kind, f"day-{i}-hours": hours, f"day-{i}-name": name})
    return form


def test_the_calendar_form_sends_the_week_and_the_days() -> None:
    form = _calendar_form([("2026-10-01", "holiday", "", "国庆节"), ("", "holiday", "", ""),
                           ("2026-10-11", "workday", "", "国庆调休"), ("2026-10-12", "workday", "10-16", "")],
                          d6="10:00-16:00")
    parsed = words.calendar_form(form, ZH)
    assert parsed.errors == {}
    assert parsed.body["weekly"]["1"] == [["09:00", "18:00"]]
    assert parsed.body["weekly"]["6"] == [["10:00", "16:00"]]
    assert parsed.body["weekly"]["7"] == []
    assert parsed.body["days"] == [
        {"day": "2026-10-01", "hours": [], "name": "国庆节"},
        {"day": "2026-10-11", "hours": [["09:00", "18:00"]], "name": "国庆调休"},  # Monday's hours
        {"day": "2026-10-12", "hours": [["10:00", "16:00"]], "name": ""},
    ]
    assert parsed.rows == ["0", "2", "3"]  # the body's days are these rows of the form


def test_a_removed_day_is_left_out() -> None:
    form = _calendar_form([("2026-10-01", "holiday", "", "国庆节"), ("2026-10-02", "holiday", "", "国庆节")])
    form["day-0-remove"] = "1"
    parsed = words.calendar_form(form, ZH)
    assert parsed.body["days"] == [{"day": "2026-10-02", "hours": [], "name": "国庆节"}]


def test_calendar_mistakes_are_said_at_their_fields_with_what_was_typed() -> None:
    form = _calendar_form([("2026-10-01", "holiday", "", "国庆节"), ("2026-10-01", "holiday", "", "again"),
                           ("", "holiday", "", "no date"), ("2026-13-01", "holiday", "", ""),
                           ("2026-10-11", "workday", "9-", "")], d3="18:00-09:00")
    parsed = words.calendar_form(form, ZH)
    assert parsed.body is None
    assert set(parsed.errors) == {"weekly-3", "day-1-day", "day-2-day", "day-3-day", "day-4-hours"}
    assert parsed.typed["weekly-3"] == "18:00-09:00"
    assert parsed.typed["day-4-hours"] == "9-"
    assert parsed.typed["day-2-name"] == "no date"


@pytest.mark.parametrize(("path", "field"), [
    ("body.weekly.3", "weekly-3"), ("weekly.7.0", "weekly-7"), ("body.days[1].hours", "day-2-hours"),
    ("days.0.name", "day-0-name"), ("days.0", "day-0-day"), ("days.5.day", None), ("body.zone", None),
])
def test_a_refusal_of_the_calendar_finds_its_field(path: str, field: str | None) -> None:
    assert words.calendar_error_field(path, ["0", "2"]) == field


def test_the_calendar_as_the_api_has_it_fills_the_form_by_date() -> None:
    shown = words.calendar_shown({"zone": "Asia/Shanghai", "weekly": {"1": [["09:00", "18:00"]], "7": []},
                                  "days": [{"day": "2026-10-11", "hours": [["09:00", "18:00"]], "name": "调休"},
                                           {"day": "2026-10-01", "hours": [], "name": "国庆节"}]})
    assert shown["weekly-1"] == "09:00-18:00"
    assert shown["weekly-7"] == ""
    assert (shown["day-0-day"], shown["day-0-kind"], shown["day-0-name"]) == ("2026-10-01", "holiday", "国庆节")
    assert (shown["day-1-kind"], shown["day-1-hours"]) == ("workday", "09:00-18:00")
    assert shown["existing_rows"] == "2"


def test_policies_come_as_a_list_or_a_page() -> None:
    rows = [{"kind": "complaint", "priority": "high", "first_response_min": 120, "resolution_min": 1080}]
    assert words.items_of(rows) == rows
    assert words.items_of({"items": rows}) == rows
    assert words.policies_by_row(rows)["complaint-high"]["resolution_min"] == 1080


# --- reports ------------------------------------------------------------------------------------------


def test_counts_become_bars_largest_first_with_words() -> None:
    pairs = words.counted({"quality": 2, "delivery": 5, "other": 0, "billing": 2})
    assert pairs == [("delivery", 5), ("billing", 2), ("quality", 2), ("other", 0)]
    bars = words.volume_bars(pairs, words.category_label, ZH)
    assert [(b.label, b.value, b.shown) for b in bars] == [("配送", 5.0, "5"), ("价格与账务", 2.0, "2"),
                                                           ("质量", 2.0, "2"), ("其他", 0.0, "0")]
    assert words.counted([{"key": "phone", "count": 3}]) == [("phone", 3)]
    assert words.counted(None) == []


def test_the_report_charts_say_what_they_show_in_the_persons_language() -> None:
    report = {"volume": {"total": 3, "by_kind": {"complaint": 2, "feedback": 1, "service_request": 0},
                         "by_channel": {"phone": 2, "wechat": 1}, "by_category": {"quality": 3}}}
    drawn = charts(report, ZH)
    assert "各类型工单数" in drawn["kind"] and "投诉" in drawn["kind"]
    assert "电话" in drawn["channel"]
    assert "质量" in drawn["category"]
    assert "Tickets per channel" in charts(report, EN)["channel"]


def test_the_report_period_is_whole_days_a_preset_or_the_last_30() -> None:
    today = date(2026, 12, 7)
    assert period_of(None, None, None, today) == (date(2026, 11, 8), today)
    assert period_of(None, None, 7, today) == (date(2026, 12, 1), today)
    assert period_of(date(2026, 11, 1), date(2026, 11, 30), None, today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_of(date(2000, 1, 1), date(2026, 11, 30), None, today)[0] == date(2016, 12, 3)  # ten years at most
    first, last = period_of(date(2026, 11, 30), date(2026, 11, 1), None, today)
    assert first > last  # the page says so at the field


def test_compliance_and_overdue_days() -> None:
    assert words.share_text(ZH, 0.875) == "88%"
    assert words.share_text(ZH, None) == "—"
    assert words.overdue_days("2026-12-01", date(2026, 12, 7)) == 6
    assert words.overdue_days("2026-12-09", date(2026, 12, 7)) == 0


def test_category_and_weekday_words() -> None:
    assert [words.category_label(ZH, c) for c in words.CATEGORIES] == [
        "质量", "配送", "价格与账务", "服务态度", "产品信息", "售后", "其他"]
    assert words.category_label(EN, "product_info") == "Product information"
    assert words.weekday_label(ZH, "7") == "星期日"
    assert words.day_kind_label(ZH, "workday") == "调休上班"


# --- Today ------------------------------------------------------------------------------------------


def _ticket(ident: str, left: float | None, *, breached: bool = False, paused: bool = False,
            clock: str | None = "first_response") -> dict[str, object]:
    return {"id": ident, "occurred_at": "2026-12-07T01:00:00+00:00",
            "sla": {"clock": clock, "business_seconds_left": left, "breached": breached, "paused": paused}}


def test_today_lists_the_breached_and_those_due_within_two_business_hours() -> None:
    tickets = [_ticket("a", 3600), _ticket("b", 9000), _ticket("c", -60, breached=True), _ticket("d", 600),
               _ticket("e", 300, paused=True), _ticket("f", None, clock=None), _ticket("a", 3600)]
    assert [t["id"] for t in words.at_risk(tickets, breached=False)] == ["d", "a"]
    assert [t["id"] for t in words.at_risk(tickets, breached=True)] == ["c"]


def test_the_clock_in_words() -> None:
    assert words.clock_words(ZH, _ticket("a", 4800)) == "剩 1小时20分"
    assert words.clock_words(ZH, _ticket("a", -7200, breached=True)) == "已超时 2小时"
    assert words.clock_words(EN, _ticket("a", 20)) == "1 min left"
    assert words.which_clock(ZH, "resolution") == "解决截止"
