"""Order rules: valid orders, money that adds up to the cent, what placing an order says."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.orders.domain.orders import (
    MAX_BATCH,
    CurrencyRefused,
    ItemProblem,
    NewOrder,
    NewOrderBatch,
    NewOrderLine,
    Order,
    OrderInFuture,
    amount_fits,
    line_amount,
    place,
    place_batch,
    unit_price_for,
)
from shared.batches import repeated_external_refs
from shared.events import OrderLine, OrderPlaced

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000001")
SHOP = ("CNY", "USD")  # the currencies the shop takes, its default first


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

    order, _ = place(new, order_id=uuid.uuid4(), now=NOW, accepted=SHOP)

    assert [ln.amount for ln in order.lines] == [Decimal("1.01"), Decimal("0.01"), Decimal("19.00")]
    assert order.total == Decimal("20.02")
    assert order.total.as_tuple().exponent == -2


def test_json_float_is_read_as_its_exact_decimal() -> None:
    body = json.dumps({"customer_id": str(CUSTOMER), "channel": "web",
                       "lines": [{"sku": "A", "quantity": 0.1, "unit_price": 9.5}]})

    new = NewOrder.model_validate_json(body)

    assert new.lines[0].unit_price == Decimal("9.5")
    assert str(new.lines[0].unit_price) == "9.50"  # money keeps 2 decimals, as everywhere
    assert str(new.lines[0].quantity) == "0.1"  # not 0.1000000000000000055511151231257827


def test_json_float_money_adds_up_exactly() -> None:
    body = json.dumps({"customer_id": str(CUSTOMER), "channel": "web",
                       "lines": [{"sku": "A", "quantity": 3, "unit_price": 0.1}, {"sku": "B", "quantity": 1, "unit_price": 0.2}]})

    order, _ = place(NewOrder.model_validate_json(body), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)

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
        _order({**_line(), "rebate": "1.00"}, note="hi")
    assert {"note", "lines.0.rebate"} <= _error_locs(exc)


def test_an_order_without_a_currency_is_in_the_shops_default() -> None:
    assert _order(_line()).currency is None
    order, event = place(_order(_line()), order_id=uuid.uuid4(), now=NOW, accepted=("USD", "CNY"))
    assert order.currency == event.currency == "USD"


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("XYZ", "'XYZ' is not an ISO 4217 currency code; this shop takes CNY, USD"),
        ("EUR", "EUR is not a currency of this shop; it takes CNY, USD (KEHU_CURRENCIES)"),
    ],
)
def test_a_currency_the_shop_does_not_take_is_refused_saying_which_it_takes(currency: str, message: str) -> None:
    with pytest.raises(CurrencyRefused, match=re.escape(message)):
        place(_order(_line(), currency=currency), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)


def test_a_batch_names_each_order_in_a_currency_the_shop_does_not_take() -> None:
    batch = _batch(_batch_order("A-1"), _batch_order("A-2", currency="XYZ"), _batch_order("A-3", currency="USD"))
    placed, problems = place_batch(batch, new_id=uuid.uuid4, now=NOW, accepted=("CNY",))
    assert placed == []
    assert [(p.index, p.field) for p in problems] == [(1, "currency"), (2, "currency")]
    assert "this shop takes CNY" in problems[0].message


# --- one spelling of each number --------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit_price", "spelled"),
    [("2", "9.5", ("2", "9.50", "19.00")), ("2.000", "9.50", ("2", "9.50", "19.00")),
     ("1.500", "4", ("1.5", "4.00", "6.00")), ("100", "0.1", ("100", "0.10", "10.00")),
     (2, 9.5, ("2", "9.50", "19.00"))],
)
def test_quantities_have_no_trailing_zeros_and_money_two_decimals_in_the_order_and_its_event(
    quantity: Any, unit_price: Any, spelled: tuple[str, str, str]
) -> None:
    order, event = place(_order(_line("A", quantity, unit_price)), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    for data in (order.model_dump(mode="json"), json.loads(event.model_dump_json())):
        line = data["lines"][0]
        assert (line["quantity"], line["unit_price"], line["amount"]) == spelled
        assert data["total"] == spelled[2]


def test_an_order_read_back_from_the_database_is_spelled_as_when_it_was_placed() -> None:
    placed, _ = place(_order(_line("A", "2", "9.50")), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    # numeric(12,3) and numeric(14,2) come back as Decimal("2.000"), Decimal("9.50")
    stored = {**placed.model_dump(), "total": Decimal("19.0"),
              "lines": [{"line_no": 1, "sku": "A", "quantity": Decimal("2.000"), "unit_price": Decimal("9.5"),
                         "amount": Decimal("19"), "discount": Decimal("0"), "returned_quantity": Decimal("0.000")}]}
    assert Order.model_validate(stored).model_dump(mode="json") == placed.model_dump(mode="json")


def test_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line(), occurred_at="2025-03-01T09:00:00")
    assert "occurred_at" in _error_locs(exc)


def test_sku_is_trimmed() -> None:
    assert NewOrderLine.model_validate(_line(sku="  TEA-1 ")).sku == "TEA-1"


# --- business time --------------------------------------------------------------------------


def test_occurred_at_defaults_to_now() -> None:
    order, event = place(_order(_line()), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.occurred_at == order.recorded_at == event.occurred_at == NOW


def test_occurred_at_in_the_past_is_kept() -> None:
    last_year = NOW - timedelta(days=365)

    order, event = place(_order(_line(), occurred_at=last_year), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)

    assert order.occurred_at == last_year
    assert event.occurred_at == last_year
    assert order.recorded_at == NOW


def test_occurred_at_a_minute_ahead_is_accepted_as_clock_skew() -> None:
    ahead = NOW + timedelta(minutes=1)
    order, _ = place(_order(_line(), occurred_at=ahead), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.occurred_at == ahead


@pytest.mark.parametrize("ahead", [timedelta(minutes=5, seconds=1), timedelta(hours=1), timedelta(days=30)])
def test_occurred_at_more_than_five_minutes_ahead_is_refused(ahead: timedelta) -> None:
    with pytest.raises(OrderInFuture, match="in the future"):
        place(_order(_line(), occurred_at=NOW + ahead), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)


def test_occurred_at_in_another_time_zone_is_compared_as_an_instant() -> None:
    beijing = datetime(2025, 3, 1, 17, 33, tzinfo=UTC).astimezone(SHANGHAI)
    # 17:33 UTC is 8 h 3 min after NOW: refused, whatever the offset it is written with.
    with pytest.raises(OrderInFuture):
        place(_order(_line(), occurred_at=beijing), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    # 17:33 Beijing time is 09:33 UTC: within the skew.
    local = datetime(2025, 3, 1, 17, 33, tzinfo=SHANGHAI)
    order, _ = place(_order(_line(), occurred_at=local), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.occurred_at == local


# --- the event ------------------------------------------------------------------------------


def test_order_placed_event_carries_the_same_lines_total_and_customer() -> None:
    order_id = uuid.uuid4()
    new = _order(_line("A", "0.335", "3.00"), _line("B", "2", "9.50"), channel="wechat", currency="USD",
                 external_ref="POS-0042")

    order, event = place(new, order_id=order_id, now=NOW, accepted=SHOP)

    assert isinstance(event, OrderPlaced)
    assert event.customer_id == order.customer_id == CUSTOMER
    assert event.order_id == order.id == order_id
    assert event.lines == [OrderLine(**ln.model_dump()) for ln in order.lines]
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.amount) for ln in event.lines] == [
        ("A", Decimal("0.335"), Decimal("3.00"), Decimal("1.01")),
        ("B", Decimal("2"), Decimal("9.50"), Decimal("19.00")),
    ]
    assert event.total == order.total == Decimal("20.01")
    assert (event.channel, event.currency, event.external_ref) == ("wechat", "USD", "POS-0042")
    assert event.ce_type() == "kehu.orders.OrderPlaced.v1"


def test_order_placed_event_json_keeps_money_as_decimal_strings() -> None:
    _, event = place(_order(_line("A", "2", "9.50")), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)

    data = event.model_dump(mode="json")

    assert data["total"] == "19.00"
    assert data["lines"][0] == {"sku": "A", "quantity": "2", "unit_price": "9.50", "amount": "19.00", "discount": "0.00",
                                "category": None}


# --- stated line amounts (imported totals) --------------------------------------------------


def _line_with_amount(quantity: str, unit_price: str, amount: str) -> dict[str, Any]:
    return {"sku": "CD", "quantity": quantity, "unit_price": unit_price, "amount": amount}


@pytest.mark.parametrize(
    ("quantity", "unit_price", "amount"),
    [
        ("2", "14.67", "29.33"),  # CDNOW: 2 CDs for 29.33; 14.665 rounded up
        ("2", "14.66", "29.33"),  # rounded down instead: also only rounding
        ("3", "3.33", "10.00"),
        ("1", "11.77", "11.77"),
        ("0.5", "0.02", "0.01"),  # half a unit: exactly
        ("7", "0", "0.00"),
    ],
)
def test_a_stated_amount_that_only_the_unit_price_rounding_explains_is_kept(quantity: str, unit_price: str, amount: str) -> None:
    order, event = place(_order(_line_with_amount(quantity, unit_price, amount)), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.lines[0].amount == event.lines[0].amount == Decimal(amount)
    assert order.total == event.total == Decimal(amount)
    assert order.lines[0].unit_price == Decimal(unit_price)


@pytest.mark.parametrize(
    ("quantity", "unit_price", "amount"),
    [
        ("2", "14.67", "29.32"),  # 2 cents off for 2 units
        ("2", "14.67", "30.00"),
        ("1", "11.77", "11.78"),  # one unit: no rounding room at all
        ("10", "1.00", "10.06"),
        ("3", "3.33", "9.97"),  # 9.99 - 0.02: more than 1.5 cents for 3 units
        ("3", "3.34", "10.00"),  # 10.02: 3.34 is not 10 / 3 rounded
        ("0.5", "0.03", "0.01"),  # 0.015: only a quarter cent of room for half a unit
    ],
)
def test_a_stated_amount_beyond_half_a_cent_per_unit_is_refused(quantity: str, unit_price: str, amount: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line_with_amount(quantity, unit_price, amount))
    assert _error_locs(exc) == {"lines.0.amount"}
    assert "rounding of the unit price" in str(exc.value)


def test_without_a_stated_amount_the_line_amount_is_computed_as_before() -> None:
    order, _ = place(_order(_line("A", "0.335", "3.00")), order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.lines[0].amount == Decimal("1.01")


def test_a_stated_amount_with_an_invalid_quantity_reports_only_the_quantity() -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line_with_amount("0", "14.67", "29.33"))
    assert _error_locs(exc) == {"lines.0.quantity"}


@pytest.mark.parametrize("amount", ["-0.01", "29.333", "abc"])
def test_a_stated_amount_must_be_money(amount: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _order(_line_with_amount("2", "14.67", amount))
    assert "lines.0.amount" in _error_locs(exc)


def test_the_total_adds_stated_and_computed_amounts() -> None:
    order, _ = place(_order(_line_with_amount("2", "14.67", "29.33"), _line("B", "2", "9.50")),
                     order_id=uuid.uuid4(), now=NOW, accepted=SHOP)
    assert order.total == Decimal("48.33")


@pytest.mark.parametrize(
    ("amount", "quantity", "unit_price"),
    [("29.33", "2", "14.67"), ("10.00", "3", "3.33"), ("0.00", "5", "0.00"), ("1286.01", "99", "12.99"),
     ("0.01", "2", "0.01"), ("5.00", "0.001", "5000.00")],
)
def test_unit_price_for_a_known_amount_is_the_quotient_rounded_half_up_and_always_fits(
    amount: str, quantity: str, unit_price: str
) -> None:
    price = unit_price_for(Decimal(amount), Decimal(quantity))
    assert price == Decimal(unit_price)
    assert amount_fits(Decimal(quantity), price, Decimal(amount))


# --- batches --------------------------------------------------------------------------------


def _batch(*orders: dict[str, Any]) -> NewOrderBatch:
    return NewOrderBatch.model_validate({"orders": list(orders)})


def _batch_order(ref: str | None, **fields: Any) -> dict[str, Any]:
    body = {"customer_id": str(CUSTOMER), "channel": "import", "lines": [_line()], **fields}
    return body if ref is None else {**body, "external_ref": ref}


def test_every_order_of_a_batch_needs_an_external_ref() -> None:
    with pytest.raises(ValidationError) as exc:
        _batch(_batch_order("A-1"), _batch_order(None))
    assert _error_locs(exc) == {"orders.1.external_ref"}


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_a_batch_has_1_to_1000_orders(size: int) -> None:
    with pytest.raises(ValidationError) as exc:
        _batch(*[_batch_order(f"A-{i}") for i in range(size)])
    assert _error_locs(exc) == {"orders"}


def test_placing_a_batch_places_each_order_with_its_own_id() -> None:
    ids = iter([uuid.UUID(int=1), uuid.UUID(int=2)])
    placed, problems = place_batch(_batch(_batch_order("A-1"), _batch_order("A-2")), new_id=lambda: next(ids), now=NOW, accepted=SHOP)
    assert problems == []
    assert [(o.id, o.external_ref, e.order_id) for o, e in placed] == [
        (uuid.UUID(int=1), "A-1", uuid.UUID(int=1)), (uuid.UUID(int=2), "A-2", uuid.UUID(int=2))]


def test_a_batch_with_a_repeated_external_ref_or_a_future_order_is_refused_naming_the_items() -> None:
    batch = _batch(_batch_order("A-1"), _batch_order("A-2"), _batch_order("A-1"),
                   _batch_order("A-3", occurred_at=NOW + timedelta(hours=1)), _batch_order("A-2"))
    placed, problems = place_batch(batch, new_id=uuid.uuid4, now=NOW, accepted=SHOP)
    assert placed == []
    assert problems == [
        ItemProblem(2, "external_ref", "also given for item 0 of this batch"),
        ItemProblem(3, "occurred_at", f"occurred_at {(NOW + timedelta(hours=1)).isoformat()} is in the future"),
        ItemProblem(4, "external_ref", "also given for item 1 of this batch"),
    ]


def test_repeated_external_refs_ignore_missing_refs() -> None:
    assert repeated_external_refs([None, "x", None, "y"]) == []
