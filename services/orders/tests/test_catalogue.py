"""Catalogue pricing: list prices for lines without a price, categories on every catalogue line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.orders.domain.catalogue import Product
from services.orders.domain.orders import NewOrder, place
from shared.errors import Invalid

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TEA = Product(sku="TEA-1", name="Longjing 250g", category="tea", list_price=Decimal("88.00"), active=True,
              created_at=NOW, updated_at=NOW)
OLD = TEA.model_copy(update={"sku": "OLD-1", "active": False})
PRODUCTS = {p.sku: p for p in (TEA, OLD)}


def _place(*lines: dict[str, Any]) -> Any:
    new = NewOrder.model_validate({"customer_id": uuid.uuid4(), "channel": "store", "lines": list(lines)})
    return place(new, order_id=uuid.uuid4(), now=NOW, accepted=("CNY",), products=PRODUCTS)


def test_a_catalogue_line_without_a_price_takes_the_list_price_and_category() -> None:
    order, event = _place({"sku": "TEA-1", "quantity": "2"})
    assert (order.lines[0].unit_price, order.lines[0].amount, order.lines[0].category) == (
        Decimal("88.00"), Decimal("176.00"), "tea")
    assert event.lines[0].category == "tea"


def test_a_catalogue_line_with_its_own_price_keeps_it_and_gets_the_category() -> None:
    order, _ = _place({"sku": "TEA-1", "quantity": "1", "unit_price": "80.00"})
    assert (order.lines[0].unit_price, order.lines[0].category) == (Decimal("80.00"), "tea")


def test_an_ad_hoc_line_carries_its_own_price_and_no_category() -> None:
    order, _ = _place({"sku": "gift wrap", "quantity": "1", "unit_price": "3.00"})
    assert (order.lines[0].amount, order.lines[0].category) == (Decimal("3.00"), None)


@pytest.mark.parametrize("sku", ["OLD-1", "NOPE"])
def test_an_inactive_or_unknown_sku_without_a_price_is_refused_naming_the_price(sku: str) -> None:
    with pytest.raises(Invalid) as exc:
        _place({"sku": "TEA-1", "quantity": "1"}, {"sku": sku, "quantity": "1"})
    assert [p.field for p in exc.value.errors or []] == ["lines[1].unit_price"]
