"""The sales report page's words: periods and row keys as people read them, in both languages."""

from __future__ import annotations

from console.i18n import Texts
from console.pages.sales import charts, key_label, period_label

ZH, EN = Texts("zh-CN"), Texts("en")


def test_periods_are_named_by_their_first_day_or_month() -> None:
    assert period_label("2026-11-02", "week", ZH) == "2026-11-02 起的一周"
    assert period_label("2026-11-02", "week", EN) == "week of 2026-11-02"
    assert period_label("2026-11-01", "month", ZH) == "2026-11"
    assert period_label("2026-11-03", "day", EN) == "2026-11-03"


def test_the_pool_and_lines_without_a_category_are_named_and_channels_translated() -> None:
    assert key_label("pool", "owner", ZH) == "公海（无负责人）"
    assert key_label("pool", "owner", ZH, short=True) == "公海"
    assert key_label("wang", "owner", ZH) == "wang"
    assert key_label("uncategorised", "category", EN) == "Uncategorised"
    assert key_label("store", "channel", ZH) == "门店"
    assert key_label("pool", "channel", EN) == "pool"  # a channel may be called anything


def test_the_charts_draw_every_row_with_its_net() -> None:
    row = {"orders": 1, "customers": 1, "gross": "12.00", "discounts": "0.00", "returned": "2.00", "net": "10.00"}
    periods = {"currency": "CNY", "period": "month", "rows": [{**row, "key": "2026-11-01"}]}
    grouped = {"currency": "CNY", "rows": [{**row, "key": "store"}]}
    drawn = charts(periods, grouped, "channel", ZH)
    assert ">2026-11<" in drawn["periods"] and "¥10" in drawn["periods"]
    assert ">门店<" in drawn["grouped"] and "各渠道净销售额" in drawn["grouped"]
