"""A credit standing in words (services/insights/credit_wording.py): every reason the rule gives,
judged from hand-made payment histories, says its evidence in one line in Chinese and English."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, get_args

import pytest

from services.insights import credit
from services.insights.credit_wording import explain_credit
from services.insights.tests.test_credit import AFTER_ALL, DAY, START, Book, paying


def _d_long() -> tuple[Book, datetime]:
    book = paying(late_days=0, amount="1000.00")
    book.order("600.00", START + 150 * DAY)
    return book, START + (180 + 75) * DAY  # due 75 days ago, unpaid


def _d_large() -> tuple[Book, datetime]:
    book = paying(late_days=0)
    book.order("5000.00", START + 150 * DAY)
    return book, START + (180 + 31) * DAY


def _c_overdue() -> tuple[Book, datetime]:
    book = paying(late_days=0, amount="1000.00")
    book.order("50.00", START + 150 * DAY)
    return book, START + (180 + 31) * DAY


def _c_often_late() -> tuple[Book, datetime]:
    return paying(late_days=40), AFTER_ALL


def _c_pays_late() -> tuple[Book, datetime]:
    book = paying(late_days=0, orders=9)
    order_id = book.order("100.00", START + 300 * DAY)
    book.pay(order_id, "100.00", START + (330 + 20) * DAY)
    return book, START + 360 * DAY


def _a() -> tuple[Book, datetime]:
    return paying(late_days=0), AFTER_ALL


def _b_none() -> tuple[Book, datetime]:
    return Book(), AFTER_ALL


def _b_little() -> tuple[Book, datetime]:
    book = paying(late_days=0, orders=1)
    book.order("80.00", START + 20 * DAY)
    return book, START + 60 * DAY  # one paid on time, one 10 days overdue


def _b_normal() -> tuple[Book, datetime]:
    book = paying(late_days=0, orders=4)
    order_id = book.order("100.00", START + 120 * DAY)
    book.pay(order_id, "100.00", START + (150 + 10) * DAY)
    return book, AFTER_ALL  # 4 of 5 on time, one 10 days late


CASES: list[tuple[str, Any, str, str]] = [
    ("long_overdue", _d_long, "最久逾期 75 天，逾期 ¥600.00，按时付款 80%",
     "75 days overdue at most, ¥600.00 overdue, 80% paid on time"),
    ("large_overdue", _d_large, "最久逾期 31 天，逾期 ¥5,000.00，占已到期应付的一半以上，按时付款 80%",
     "31 days overdue at most, ¥5,000.00 overdue, half or more of all that fell due, 80% paid on time"),
    ("overdue", _c_overdue, "最久逾期 31 天，逾期 ¥50.00，按时付款 80%",
     "31 days overdue at most, ¥50.00 overdue, 80% paid on time"),
    ("often_late", _c_often_late, "按时付款 0%，4 笔已到期，平均迟付 40 天",
     "0% paid on time, 4 instalments due, paid 40 days late on average"),
    ("pays_late", _c_pays_late, "平均迟付 20 天，按时付款 90%，10 笔已到期",
     "Paid 20 days late on average, 90% paid on time, 10 instalments due"),
    ("on_time", _a, "按时付款 100%，4 笔已到期", "100% paid on time, 4 instalments due"),
    ("no_history", _b_none, "尚无赊账记录", "Nothing bought on account yet"),
    ("little_history", _b_little, "记录尚少：仅 2 笔已到期，最久逾期 10 天，逾期 ¥80.00",
     "Little history: only 2 instalments due, 10 days overdue at most, ¥80.00 overdue"),
    ("normal", _b_normal, "按时付款 80%，5 笔已到期", "80% paid on time, 5 instalments due"),
]


@pytest.mark.parametrize(("reason", "history", "zh", "en"), CASES, ids=[c[0] for c in CASES])
def test_every_reason_of_the_rule_in_words(reason: str, history: Any, zh: str, en: str) -> None:
    book, as_of = history()
    judged = credit.judge(book.history, as_of)
    assert judged.reason == reason
    evidence = judged.evidence.model_dump(mode="json")  # as the API and the store keep it
    assert explain_credit(reason, evidence, "zh") == zh
    assert explain_credit(reason, evidence, "en") == en


def test_the_cases_cover_every_reason_the_rule_can_give() -> None:
    assert sorted(c[0] for c in CASES) == sorted(get_args(credit.Reason))


def test_the_brief_example_and_a_single_day() -> None:
    evidence = {"instalments_due": 4, "share_on_time": 0.5, "average_days_late": 12.5, "outstanding": "900.00",
                "overdue": "600.00", "longest_overdue_days": 75, "event_ids": []}
    assert explain_credit("long_overdue", evidence, "zh") == "最久逾期 75 天，逾期 ¥600.00，按时付款 50%"
    assert explain_credit("long_overdue", evidence, "en") == "75 days overdue at most, ¥600.00 overdue, 50% paid on time"
    one = {**evidence, "longest_overdue_days": 1, "share_on_time": None, "overdue": Decimal("3")}
    assert explain_credit("overdue", one, "en") == "1 day overdue at most, ¥3.00 overdue"
    assert explain_credit("pays_late", evidence, "en").startswith("Paid 12.5 days late on average")


def test_an_unknown_reason_is_given_as_it_is() -> None:
    assert explain_credit("new_rule", {}, "zh") == "new_rule"
