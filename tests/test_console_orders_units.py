"""The order pages' own rules: the request an entry form makes, refusals worded for the person."""

from __future__ import annotations

import uuid

from console.i18n import Texts
from console.pages.orders import order_body, refusal_words
from console.services import ServiceRefused

ZH, EN = Texts("zh-CN"), Texts("en")
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000001")


def test_the_entry_form_sends_the_lines_filled_in_and_leaves_empty_prices_to_the_catalogue() -> None:
    body = order_body({"lines[0].sku": "TEA-1", "lines[0].quantity": "2", "lines[0].discount": "6",
                       "lines[2].sku": "礼盒", "lines[2].unit_price": "20", "discount": "10", "channel": "phone",
                       "paid_with": "wechat_pay"}, CUSTOMER)
    assert body == {"customer_id": str(CUSTOMER), "channel": "phone", "discount": "10", "paid_with": "wechat_pay",
                    "lines": [{"sku": "TEA-1", "quantity": "2", "discount": "6"},
                              {"sku": "礼盒", "quantity": "1", "unit_price": "20"}]}


def test_on_account_sends_no_payment_method() -> None:
    body = order_body({"lines[0].sku": "A", "paid_with": "on_account"}, CUSTOMER)
    assert "paid_with" not in body


def test_a_forbidden_step_says_what_the_status_allows() -> None:
    refused = ServiceRefused("orders", 409, {"detail": "x", "allowed": ["confirmed"], "status_now": "placed"})
    assert refusal_words(ZH, refused) == "订单当前为已下单，不能这样做。现在可以：已确认。"
    assert refusal_words(EN, refused) == "Not possible while the order is placed. Possible now: confirmed."


def test_a_credit_refusal_says_the_tier_what_is_owed_and_the_limit() -> None:
    refused = ServiceRefused("orders", 409, {"detail": "over the limit", "tier": "C", "outstanding": "900.00",
                                             "credit_limit": "1000.00"})
    words = refusal_words(EN, refused)
    assert words.startswith("Refused on credit: credit tier C, owes ")
    assert "900.00" in words and "1,000.00" in words
