"""Order rules: valid orders, money that adds up to the cent, what placing an order says."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.orders.domain import NewOrder, NewOrderLine, OrderInFuture, line_amount, place
from shared.events import OrderPlaced

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000001")


def _order(*lines: dict[str, Any], **fields: Any) -> NewOrder:
    return NewOrder.model_validate({"customer_id": CUSTOMER, "channel": "store", "lines": list(lines), **fields})


def _line(sku: str = "TEA-1", quantity: Any = "1", unit_price: Any = "9.50") -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": unit_price}


def _error_locs(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit_price", "amount"),
    [
        ("3", "0.335", "1.01"),  # 1.005 rounds half up, not to even
        ("0.5", "0.01", "0.01"),  # 0.005 rounds up to a cent
        ("0.5", "0.03", "0.02"),  # 0.015 → 0.02
        ("2", "9.50", "19.00"),
        ("1.333", "3.00", "4.00"),  # 3.999 → 4.00
        ("0.001", "0.49", "0.00"),  # 0.00049 → 0.00
        ("7", "0", "0.00"),  # free items are allowed
    ],
)
def test_line_amount_is_quantity_times_price_rounded_half_up_to_cents(quantity: str, unit_price: str, amount: str) -> None:
    result = line_amount(Decimal(quantity), Decimal(unit_price))
    assert result == Decimal(amount)
    assert result.as_tuple().exponent == -2


def test_placed_order_total_is_the_sum_of_rounded_line_amounts() -> None:
    new = _order(_line("A", "0.335", "3.00"), _line("B", "0.5", "0.01"), _line("C", "2", "9.50"))

    order, _ = place(new, order_id=uuid.uuid4(), now=NOW)

    assert [ln.amount for ln in order.lines] == [Decimal("1.01"), Decimal("0.01"), Decimal("19.00")]
    assert order.total == Decimal("20.02")
    assert order.total.as_tuple().exponent == -2


def test_json_float_is_read_as_its_exact_decimal() -> None:
    body = json.dumps({"customer_id": str(CUSTOMER), "channel": "web",
                       "lines": [{"sku": "A", "quantity": 0.1, "unit_price": 9.5}]})

    new = NewOrder.model_validate_json(body)

    assert new.lines[0].unit_price == Decimal("9.5")
    assert str(new.lines[0].unit_price) == "9.5"
    assert str(new.lines[0].quantity) == "0.1"  # not 0.1000000000000000055511151231257827


def test_json_float_money_adds_up_exactly() -> None:
    body = json.dumps({"customer_id": str(CUSTOMER), "channel": "web",
                       "lines": [{"sku": "A", "quantity": 3, "unit_price": 0.1}, {"sku": "B", "quantity": 1, "unit_price": 0.2}]})

    order, _ = place(NewOrder.model_validate_json(body), order_id=uuid.uuid4(), now=NOW)

    assert order.total == Decimal("0.50")


@pytest.mark.parametrize("quantity", ["0", "-1", 0, -0.5])
def test_zero_or_negative_quantity_is_refused(quantity: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(quantity=quantity))
    assert "lines.0.quantity" in _error_locs(exc)


def test_quantity_with_more_than_three_decimals_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(quantity="1.0001"))
    assert "lines.0.quantity" in _error_locs(exc)


@pytest.mark.parametrize("unit_price", ["1.005", 1.005, "0.001"])
def test_price_with_more_than_two_decimals_is_refused(unit_price: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(unit_price=unit_price))
    assert "lines.0.unit_price" in _error_locs(exc)


def test_negative_price_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(unit_price="-0.01"))
    assert "lines.0.unit_price" in _error_locs(exc)


def test_line_amount_too_large_for_money_is_refused_as_invalid_input() -> None:
    with pytest.raises(ValidationError):
        _order(_line(quantity="999999999.999", unit_price="999999999999.99"))


# --- shape ------------------------------------------------------------------------------------


def test_order_needs_at_least_one_line() -> None:
    with pytest.raises(ValidationError) as exc:
        _order()
    assert "lines" in _error_locs(exc)


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "Store"), ("channel", ""), ("currency", "cny"), ("currency", "YUAN"), ("customer_id", "42")],
)
def test_invalid_order_fields_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(), **{field: value})
    assert field in _error_locs(exc)


def test_unknown_fields_are_refused_on_orders_and_lines() -> None:
    with pytest.raises(ValidationError) as exc:
        _order({**_line(), "discount": "1.00"}, note="hi")
    assert {"note", "lines.0.discount"} <= _error_locs(exc)


def test_currency_defaults_to_cny() -> None:
    assert _order(_line()).currency == "CNY"


def test_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(), occurred_at="2025-03-01T09:00:00")
    assert "occurred_at" in _error_locs(exc)


def test_sku_is_trimmed() -> None:
    assert NewOrderLine.model_validate(_line(sku="  TEA-1 ")).sku == "TEA-1"


# --- business time --------------------------------------------------------------------------


def test_occurred_at_defaults_to_now() -> None:
    order, event = place(_order(_line()), order_id=uuid.uuid4(), now=NOW)
    assert order.occurred_at == order.recorded_at == event.occurred_at == NOW


def test_occurred_at_in_the_past_is_kept() -> None:
    last_year = NOW - timedelta(days=365)

    order, event = place(_order(_line(), occurred_at=last_year), order_id=uuid.uuid4(), now=NOW)

    assert order.occurred_at == last_year
    assert event.occurred_at == last_year
    assert order.recorded_at == NOW


def test_occurred_at_a_minute_ahead_is_accepted_as_clock_skew() -> None:
    ahead = NOW + timedelta(minutes=1)
    order, _ = place(_order(_line(), occurred_at=ahead), order_id=uuid.uuid4(), now=NOW)
    assert order.occurred_at == ahead


@pytest.mark.parametrize("ahead", [timedelta(minutes=5, seconds=1), timedelta(hours=1), timedelta(days=30)])
def test_occurred_at_more_than_five_minutes_ahead_is_refused(ahead: timedelta) -> None:
    with pytest.raises(OrderInFuture, match="in the future"):
        place(_order(_line(), occurred_at=NOW + ahead), order_id=uuid.uuid4(), now=NOW)


def test_occurred_at_in_another_time_zone_is_compared_as_an_instant() -> None:
    beijing = datetime(2025, 3, 1, 17, 33, tzinfo=UTC).astimezone(SHANGHAI)
    # 17:33 UTC is 8 h 3 min after NOW: refused, whatever the offset it is written with.
    with pytest.raises(OrderInFuture):
        place(_order(_line(), occurred_at=beijing), order_id=uuid.uuid4(), now=NOW)
    # 17:33 Beijing time is 09:33 UTC: within the skew.
    local = datetime(2025, 3, 1, 17, 33, tzinfo=SHANGHAI)
    order, _ = place(_order(_line(), occurred_at=local), order_id=uuid.uuid4(), now=NOW)
    assert order.occurred_at == local


# --- the event ------------------------------------------------------------------------------


def test_order_placed_event_carries_the_same_lines_total_and_customer() -> None:
    order_id = uuid.uuid4()
    new = _order(_line("A", "0.335", "3.00"), _line("B", "2", "9.50"), channel="wechat", currency="USD",
                 external_ref="POS-0042")

    order, event = place(new, order_id=order_id, now=NOW)

    assert isinstance(event, OrderPlaced)
    assert event.customer_id == order.customer_id == CUSTOMER
    assert event.order_id == order.id == order_id
    assert event.lines == order.lines
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.amount) for ln in event.lines] == [
        ("A", Decimal("0.335"), Decimal("3.00"), Decimal("1.01")),
        ("B", Decimal("2"), Decimal("9.50"), Decimal("19.00")),
    ]
    assert event.total == order.total == Decimal("20.01")
    assert (event.channel, event.currency, event.external_ref) == ("wechat", "USD", "POS-0042")
    assert event.ce_type() == "kehu.orders.OrderPlaced.v1"


def test_order_placed_event_json_keeps_money_as_decimal_strings() -> None:
    _, event = place(_order(_line("A", "2", "9.50")), order_id=uuid.uuid4(), now=NOW)

    data = event.model_dump(mode="json")

    assert data["total"] == "19.00"
    assert data["lines"][0] == {"sku": "A", "quantity": "2", "unit_price": "9.50", "amount": "19.00"}
