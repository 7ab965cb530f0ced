"""The credit parts of the console without a server: the tier badge and the credit panel render for
a judged customer, show nothing when orders has never heard of them, and say which service is away
when orders does not answer; a refusal and the tier's evidence in words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from console.i18n import Texts
from console.pages.common import credit_reason, credit_refusal
from console.services import Missing
from console.web import templates

ZH, EN = Texts("zh-CN"), Texts("en")
CREDIT: dict[str, Any] = {"customer_id": "c1", "tier": "D", "reason": "long_overdue",
          "evidence": {"instalments_due": 3, "share_on_time": 0.5, "average_days_late": 40.0, "outstanding": "900.00",
                       "overdue": "600.00", "longest_overdue_days": 75, "event_ids": []},
          "terms": {"payment_days": 30, "credit_limit": "1000.00", "when_exceeded": "refuse"},
          "outstanding": "900.00", "available": "100.00"}


def _panel(got: dict[str, Any], t: Texts = ZH, manager: bool = True) -> str:
    missing = {k: v for k, v in got.items() if isinstance(v, Missing)}
    values = {
        "request": SimpleNamespace(query_params={}), "viewer": SimpleNamespace(may=lambda p: manager), "t": t,
        "_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext, "pgettext": t.pgettext, "csrf": "x",
        "new_key": lambda: "k", "zone": ZoneInfo("Asia/Shanghai"), "got": got, "forms": {},
        "customer": {"id": "c1"}, "missing_part": lambda name: missing.get(name),
        "credit_reason": credit_reason(t, got.get("credit") if isinstance(got.get("credit"), dict) else None),
    }
    return templates.get_template("credit_panel.html").render(values)


def test_the_panel_shows_tier_reason_owed_limit_available_and_terms() -> None:
    html = _panel({"credit": CREDIT, "credit_terms": {"history": []}})
    assert 'data-tier="D"' in html and "信用 D · 暂停赊账" in html
    assert "逾期 ¥600.00，最久逾期 75 天" in html
    assert "¥900.00" in html and "¥1,000.00" in html and "¥100.00" in html
    assert "30 天内付款" in html and 'action="/customers/c1/credit-terms"' in html


def test_a_clerk_sees_the_panel_without_the_terms_form() -> None:
    assert "credit-terms" not in _panel({"credit": CREDIT, "credit_terms": {"history": []}}, manager=False).split(
        'id="credit-terms"')[1]


def test_nothing_credit_related_for_a_customer_orders_never_heard_of() -> None:
    assert _panel({"credit": None}).strip() == ""


def test_orders_away_says_so_instead_of_the_panel() -> None:
    html = _panel({"credit": Missing("orders"), "credit_terms": Missing("orders")})
    assert 'class="unavailable"' in html and "data-tier" not in html


def test_the_badge_alone_shows_nothing_without_a_tier() -> None:
    badge = templates.get_template("_credit_badge.html")
    context = {"_": ZH.gettext}
    assert badge.render({**context, "credit": None}).strip() == ""
    assert badge.render({**context, "credit": {**CREDIT, "tier": None}}).strip() == ""
    assert "信用 A · 付款良好" in badge.render({**context, "credit": {**CREDIT, "tier": "A"}})


def test_a_refusal_in_words_names_what_is_owed_and_the_limit() -> None:
    over = {"code": "credit_refused", "why": "over_limit", "tier": "C", "outstanding": "900.00", "limit": "1000.00",
            "total": "150.00"}
    assert credit_refusal(EN, over) == ("Refused: the customer owes ¥900.00 and this order of ¥150.00 would exceed "
                                        "the credit limit of ¥1,000.00 (tier C). Take payment at once or ask a "
                                        "manager.")
    assert "已暂停赊账（信用 D 级）" in credit_refusal(ZH, {**over, "why": "on_hold", "tier": "D"})
    assert "信用等级" not in credit_refusal(ZH, {**over, "tier": None})


def test_evidence_in_words_when_nothing_is_overdue() -> None:
    on_time = {**CREDIT, "evidence": {**CREDIT["evidence"], "overdue": "0.00", "share_on_time": 1.0}}
    assert credit_reason(EN, on_time) == "100% of 3 instalments paid on time"
    assert credit_reason(EN, {**CREDIT, "evidence": None}) == ""
