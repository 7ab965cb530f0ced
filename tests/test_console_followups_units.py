"""The follow-up pages' view code without a server: what a posted form asks contacts for (the quick
picks in the shop's days), where the form goes back to, and the days overdue in words."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from console.i18n import Texts
from console.pages.followups import _back, days_late, follow_up_body, outcome_label, overdue_words, picks

SHANGHAI = ZoneInfo("Asia/Shanghai")
LATE_EVENING_UTC = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March in Shanghai
ZH, EN = Texts("zh-CN"), Texts("en")


def test_a_quick_pick_sent_without_the_script_counts_days_from_the_shops_today() -> None:
    body = follow_up_body({"channel": "visit", "outcome": "interested", "note": "带样品", "next_in": "7",
                           "next_due": "2026-03-05"}, SHANGHAI, LATE_EVENING_UTC)
    assert body == {"channel": "visit", "outcome": "interested", "note": "带样品", "next_due": "2026-03-10"}


def test_the_date_field_counts_when_no_pick_was_pressed_and_empty_means_nothing_planned() -> None:
    assert follow_up_body({"next_due": "2026-03-05"}, SHANGHAI, LATE_EVENING_UTC)["next_due"] == "2026-03-05"
    assert "next_due" not in follow_up_body({"next_due": ""}, SHANGHAI, LATE_EVENING_UTC)
    # a pick the page never offers is ignored, not turned into a date
    assert "next_due" not in follow_up_body({"next_in": "9999"}, SHANGHAI, LATE_EVENING_UTC)


def test_the_picks_offered_are_the_shops_days() -> None:
    assert picks(SHANGHAI, LATE_EVENING_UTC) == [(1, date(2026, 3, 4)), (7, date(2026, 3, 10)), (30, date(2026, 4, 2))]


def test_the_form_goes_back_only_to_the_due_list_or_the_customer() -> None:
    customer = uuid.uuid4()
    assert _back({"back": "/follow-ups?owner=wang"}, customer) == "/follow-ups?owner=wang"
    assert _back({"back": "https://evil.example/"}, customer) == f"/customers/{customer}"
    assert _back({"back": "//evil.example/follow-ups"}, customer) == f"/customers/{customer}"
    assert _back({}, customer) == f"/customers/{customer}"


def test_days_overdue_in_words_exact_in_both_languages() -> None:
    assert days_late("2026-02-28", SHANGHAI, LATE_EVENING_UTC) == 3
    assert overdue_words(ZH, 3) == "逾期 3 天" and overdue_words(EN, 1) == "overdue 1 day"
    assert overdue_words(ZH, 0) == "今天到期" and overdue_words(EN, 0) == "due today"
    assert overdue_words(ZH, -2) == "2 天后到期" and overdue_words(EN, -2) == "due in 2 days"
    assert outcome_label(ZH, "order_expected") == "预计下单" and outcome_label(EN, "no_answer") == "no answer"
