"""The timeline's pure rules: the reader's language and one human line per event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.insights.wording import CHANNELS_ZH, Lang, preferred_language, summarize
from services.orders.domain import NewOrder, place
from shared.events import EVENT_TYPES

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

# --- Accept-Language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR", "en"),
        ("en;q=0.5, zh;q=0.8", "zh"),
        ("zh;q=0.8, en;q=0.5", "zh"),
        ("en, zh", "en"),  # equal quality: the first wins
        (None, "en"),
        ("", "en"),
        ("zh;q=0", "en"),  # q=0 means "not acceptable"
        ("zh;q=0, en;q=0.1", "en"),
        ("de-DE, zh-Hans;q=0.5", "zh"),  # the best of *our* languages
        ("ZH-cn", "zh"),
        ("*", "en"),
        ("zh;q=nonsense, en;q=0.2", "en"),  # an unreadable weight counts as 0
    ],
)
def test_preferred_language_picks_the_best_of_en_and_zh(header: str | None, lang: str) -> None:
    assert preferred_language(header) == lang


# --- summaries: sample data of every event type, as published -------------------------------

CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000003")


def _order_data(**fields: Any) -> dict[str, Any]:
    new = NewOrder.model_validate({
        "customer_id": CUSTOMER, "channel": "store", "currency": "CNY",
        "lines": [{"sku": "TEA-1", "quantity": "2", "unit_price": "9.50"},
                  {"sku": "CUP-7", "quantity": "1", "unit_price": "12.00"}],
        **fields,
    })
    _, event = place(new, order_id=uuid.uuid4(), now=NOW, accepted=("CNY",))
    return event.model_dump(mode="json")


SAMPLES: dict[str, dict[str, Any]] = {
    "CustomerRegistered": {"customer_id": str(CUSTOMER), "name": "王芳", "channel": "wechat"},
    "OrderPlaced": _order_data(),
    "ComplaintFiled": {"channel": "phone", "severity": "critical", "subject": "Kettle leaks"},
    "FeedbackReceived": {"channel": "web", "satisfaction": 4, "subject": "Fast delivery"},
    "ServiceRequested": {"channel": "visit", "subject": "Install the water filter"},
    "CustomerProfileUpdated": {"changed_by": "wang.li", "revision": 3, "changes": [
        {"field": "name", "old": "王芳", "new": "王芳芳"}, {"field": "lead_source", "old": None, "new": "fair"}]},
    "ContactPersonAdded": {"person_id": str(CUSTOMER), "role": "purchaser", "title": "采购经理", "added_by": "wang.li"},
    "ContactPersonRemoved": {"person_id": str(CUSTOMER), "role": "payer", "removed_by": "boss"},
}

EXPECTED: dict[tuple[str, Lang], str] = {
    ("CustomerRegistered", "en"): "Registered as a customer: 王芳 (via wechat)",
    ("CustomerRegistered", "zh"): "登记为客户：王芳（渠道：微信）",
    ("OrderPlaced", "en"): "Ordered 3 items (TEA-1 ×2, CUP-7 ×1) for CNY 31.00 at store",
    ("OrderPlaced", "zh"): "在门店下单 3 件（TEA-1 ×2, CUP-7 ×1），金额 CNY 31.00",
    ("ComplaintFiled", "en"): "Complaint by phone (critical): Kettle leaks",
    ("ComplaintFiled", "zh"): "电话投诉（紧急）：Kettle leaks",
    ("FeedbackReceived", "en"): "Feedback by web (4/5): Fast delivery",
    ("FeedbackReceived", "zh"): "网店反馈（满意度 4/5）：Fast delivery",
    ("ServiceRequested", "en"): "Service request by visit: Install the water filter",
    ("ServiceRequested", "zh"): "拜访服务请求：Install the water filter",
    ("CustomerProfileUpdated", "en"): "wang.li changed name, lead source",
    ("CustomerProfileUpdated", "zh"): "wang.li 修改了资料：名称、客户来源",
    ("ContactPersonAdded", "en"): "wang.li added a contact person: purchaser (采购经理)",
    ("ContactPersonAdded", "zh"): "wang.li 添加了联系人：采购（采购经理）",
    ("ContactPersonRemoved", "en"): "boss removed a contact person: payer",
    ("ContactPersonRemoved", "zh"): "boss 移除了联系人：付款人",
}


def test_every_event_type_has_a_sample_and_expected_summaries() -> None:
    # insights' own conclusions are not on the timeline; every event it consumes is
    names = {cls.__name__ for cls in EVENT_TYPES.values() if cls.service != "insights"}
    assert set(SAMPLES) == names
    assert {name for name, _ in EXPECTED} == names


@pytest.mark.parametrize(("event_type", "lang"), sorted(EXPECTED))
def test_every_event_type_is_summarized_in_english_and_chinese(event_type: str, lang: Lang) -> None:
    assert summarize(event_type, SAMPLES[event_type], lang) == EXPECTED[(event_type, lang)]


def test_order_summary_names_skus_quantities_total_and_channel() -> None:
    en = summarize("OrderPlaced", SAMPLES["OrderPlaced"], "en")
    zh = summarize("OrderPlaced", SAMPLES["OrderPlaced"], "zh")
    for text in (en, zh):
        assert "TEA-1 ×2" in text
        assert "CUP-7 ×1" in text
        assert "CNY 31.00" in text
    assert "store" in en
    assert "门店" in zh and "store" not in zh


def test_order_summary_shows_three_lines_then_an_ellipsis() -> None:
    data = _order_data(lines=[{"sku": f"SKU-{i}", "quantity": "1", "unit_price": "1.00"} for i in range(5)])
    text = summarize("OrderPlaced", data, "en")
    assert "SKU-0 ×1, SKU-1 ×1, SKU-2 ×1, …" in text
    assert "SKU-3" not in text
    assert text.startswith("Ordered 5 items")


def test_order_of_a_single_item_is_singular() -> None:
    data = _order_data(lines=[{"sku": "PEN", "quantity": "1", "unit_price": "3.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 1 item (PEN ×1) for CNY 3.00 at store"


def test_fractional_quantities_are_added_exactly() -> None:
    data = _order_data(lines=[{"sku": "RICE", "quantity": "0.5", "unit_price": "8.00"},
                              {"sku": "OIL", "quantity": "0.25", "unit_price": "40.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 0.75 items (RICE ×0.5, OIL ×0.25) for CNY 14.00 at store"


def test_padded_fractional_quantities_are_shown_without_trailing_zeros() -> None:
    data = _order_data(lines=[{"sku": "RICE", "quantity": "2.000", "unit_price": "8.00"},
                              {"sku": "OIL", "quantity": "1.500", "unit_price": "40.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 3.5 items (RICE ×2, OIL ×1.5) for CNY 76.00 at store"


@pytest.mark.parametrize(("channel", "chinese"), sorted(CHANNELS_ZH.items()))
def test_known_channels_are_translated_to_chinese(channel: str, chinese: str) -> None:
    text = summarize("ServiceRequested", {"channel": channel, "subject": "s"}, "zh")
    assert text == f"{chinese}服务请求：s"


def test_unknown_channel_is_shown_as_is_in_chinese() -> None:
    assert summarize("ComplaintFiled", {"channel": "livestream", "subject": "s"}, "zh") == "livestream投诉（一般）：s"


def test_complaint_severity_defaults_to_normal_in_both_languages() -> None:
    data = {"channel": "store", "subject": "Rude staff"}
    assert summarize("ComplaintFiled", data, "en") == "Complaint by store (normal): Rude staff"
    assert summarize("ComplaintFiled", data, "zh") == "门店投诉（一般）：Rude staff"


def test_feedback_without_a_score_shows_no_score() -> None:
    data = {"channel": "email", "subject": "Thanks", "satisfaction": None}
    assert summarize("FeedbackReceived", data, "en") == "Feedback by email: Thanks"
    assert summarize("FeedbackReceived", data, "zh") == "邮件反馈：Thanks"


def test_registration_without_a_channel_says_no_channel() -> None:
    data = {"name": "Acme Ltd", "channel": None}
    assert summarize("CustomerRegistered", data, "en") == "Registered as a customer: Acme Ltd"
    assert summarize("CustomerRegistered", data, "zh") == "登记为客户：Acme Ltd"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_unknown_event_type_falls_back_to_its_name(lang: Lang) -> None:
    assert summarize("OrderCancelled", {"channel": "store", "total": "1.00"}, lang) == "OrderCancelled"


def test_order_total_is_shown_as_published_not_recomputed() -> None:
    data = _order_data()
    assert Decimal(data["total"]) == Decimal("31.00")
    assert summarize("OrderPlaced", {**data, "total": "30.00"}, "en").endswith("for CNY 30.00 at store")
