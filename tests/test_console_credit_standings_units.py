"""The credit page's view code without a server: which tab a query asks for, the tiers in words,
and the rows in the order a clerk works through them (the longest overdue first)."""

from __future__ import annotations

from typing import Any

from console.i18n import Texts
from console.pages.credit_standings import rows_of, tab_of, tier_label

ZH, EN = Texts("zh-CN"), Texts("en")


def _standing(customer_id: str, longest: int, overdue: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "tier": "D", "reason": "long_overdue", "explanation": "…",
            "since": "2026-12-07T01:00:00+00:00",
            "evidence": {"outstanding": "900.00", "overdue": overdue, "longest_overdue_days": longest}}


def test_the_tab_is_a_known_tier_or_the_holds() -> None:
    assert [tab_of(t) for t in ("D", "C", "A", "all")] == ["D", "C", "A", "all"]
    assert tab_of("") == "D" and tab_of("B") == "D" and tab_of("x") == "D"


def test_the_tiers_in_both_languages() -> None:
    assert [tier_label(ZH, t) for t in ("D", "C", "A", "B", "all")] == ["暂停赊账", "关注", "付款良好", "正常", "全部"]
    assert [tier_label(EN, t) for t in ("D", "C", "A", "B", "all")] == ["On hold", "Watch", "Good payer", "Normal", "All"]


def test_rows_longest_overdue_first_with_names_and_ids_when_contacts_is_away() -> None:
    items = [_standing("c1", 40, "50.00"), _standing("c2", 75, "600.00"), _standing("c3", 75, "900.00")]
    rows = rows_of(items, {"c1": {"name": "甲"}, "c2": {"name": "乙"}})
    assert [(r["customer_id"], r["name"], r["longest"]) for r in rows] == [("c3", "c3", 75), ("c2", "乙", 75),
                                                                             ("c1", "甲", 40)]
    assert rows[1]["overdue"] == "600.00" and rows[1]["outstanding"] == "900.00"
