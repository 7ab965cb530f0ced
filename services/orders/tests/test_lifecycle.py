"""An order's life: status steps, cancellation, returns and the money they give back; discounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.orders.domain.lifecycle import (
    Cancellation,
    ReturnRequest,
    StatusChange,
    allowed_actions,
    cancel,
    change_status,
    line_nets,
    money_back,
    return_goods,
)
from services.orders.domain.orders import NewOrder, Order, place
from shared.errors import Conflict, Invalid

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000001")


def _placed(*lines: dict[str, Any], discount: str = "0", status: str = "placed") -> Order:
    new = NewOrder.model_validate({"customer_id": CUSTOMER, "channel": "store", "lines": list(lines),
                                   "discount": discount})
    order, _ = place(new, order_id=uuid.uuid4(), now=NOW, accepted=("CNY",))
    return order.model_copy(update={"status": status})


def _line(sku: str = "TEA", quantity: str = "1", unit_price: str = "10.00", discount: str = "0") -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": unit_price, "discount": discount}


# --- discounts ------------------------------------------------------------------------------


def test_line_and_order_discounts_come_off_the_amounts_and_the_total() -> None:
    order = _placed(_line("A", "2", "10.00", discount="1.50"), _line("B", "1", "5.00"), discount="3.00")

    assert [ln.amount for ln in order.lines] == [Decimal("18.50"), Decimal("5.00")]
    assert [ln.discount for ln in order.lines] == [Decimal("1.50"), Decimal("0")]
    assert order.discount == Decimal("3.00")
    assert order.total == Decimal("20.50")


def test_a_line_discount_beyond_the_line_is_refused_naming_it() -> None:
    with pytest.raises(Invalid) as exc:
        _placed(_line("A", "2", "10.00"), _line("B", "1", "5.00", discount="5.01"))
    assert [p.field for p in exc.value.errors or []] == ["lines[1].discount"]


def test_an_order_discount_beyond_the_lines_is_refused_naming_it() -> None:
    with pytest.raises(Invalid) as exc:
        _placed(_line("A", "1", "10.00", discount="2.00"), discount="8.01")
    assert [p.field for p in exc.value.errors or []] == ["discount"]


def test_a_discount_of_everything_makes_a_free_order() -> None:
    assert _placed(_line("A", "1", "10.00"), discount="10.00").total == Decimal("0.00")


# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("now_status", "to"), [("placed", "confirmed"), ("confirmed", "fulfilled"),
                                                ("fulfilled", "completed")])
def test_an_order_moves_one_step_at_a_time(now_status: str, to: str) -> None:
    event = change_status(_placed(_line(), status=now_status), StatusChange(status=to), by="li", now=NOW)
    assert event is not None
    assert (event.previous_status, event.status, event.changed_by) == (now_status, to, "li")


@pytest.mark.parametrize(("now_status", "to", "allowed"), [
    ("placed", "fulfilled", ["confirmed"]), ("confirmed", "placed", ["fulfilled"]),
    ("completed", "confirmed", []), ("placed", "cancelled", ["confirmed"]), ("cancelled", "confirmed", []),
    ("pending_approval", "confirmed", []),
])
def test_any_other_step_is_a_conflict_listing_what_is_allowed(now_status: str, to: str, allowed: list[str]) -> None:
    with pytest.raises(Conflict) as exc:
        change_status(_placed(_line(), status=now_status), StatusChange(status=to), by="li", now=NOW)
    assert exc.value.extra["allowed"] == allowed


def test_the_status_an_order_already_has_changes_nothing() -> None:
    assert change_status(_placed(_line(), status="confirmed"), StatusChange(status="confirmed"), by="li", now=NOW) is None


@pytest.mark.parametrize("status", ["pending_approval", "placed", "confirmed"])
def test_an_order_not_yet_handed_over_is_cancelled(status: str) -> None:
    order = _placed(_line("A", "2", "10.00"), status=status)
    event = cancel(order, Cancellation(reason="changed mind"), by="li", now=NOW)
    assert event is not None
    assert (event.previous_status, event.total, event.reason) == (status, Decimal("20.00"), "changed mind")


@pytest.mark.parametrize("status", ["fulfilled", "completed", "returned"])
def test_an_order_handed_over_is_not_cancelled(status: str) -> None:
    with pytest.raises(Conflict):
        cancel(_placed(_line(), status=status), Cancellation(reason="x"), by="li", now=NOW)


def test_cancelling_a_cancelled_order_again_changes_nothing() -> None:
    assert cancel(_placed(_line(), status="cancelled"), Cancellation(reason="x"), by="li", now=NOW) is None


def test_allowed_actions_name_the_next_status_cancel_and_return() -> None:
    assert allowed_actions("placed") == ["confirmed", "cancelled", "returned"]
    assert allowed_actions("fulfilled") == ["completed", "returned"]
    assert allowed_actions("cancelled") == []


# --- returns --------------------------------------------------------------------------------


def test_net_amounts_share_the_order_discount_and_add_up_to_the_total() -> None:
    nets = line_nets([Decimal("10.00"), Decimal("10.00"), Decimal("10.00")], Decimal("1.00"))
    assert nets == [Decimal("9.67"), Decimal("9.66"), Decimal("9.67")]
    assert sum(nets) == Decimal("29.00")


def test_without_an_order_discount_the_net_is_the_line_amount() -> None:
    assert line_nets([Decimal("3.33"), Decimal("0.01")], Decimal("0")) == [Decimal("3.33"), Decimal("0.01")]


def test_money_back_is_the_share_of_the_units_and_the_last_unit_takes_the_rest() -> None:
    net, quantity = Decimal("10.00"), Decimal("3")
    first = money_back(net, quantity, Decimal(0), Decimal(0), Decimal(1))
    second = money_back(net, quantity, Decimal(1), first, Decimal(1))
    last = money_back(net, quantity, Decimal(2), first + second, Decimal(1))
    assert (first, second, last) == (Decimal("3.33"), Decimal("3.33"), Decimal("3.34"))


def _return(order: Order, **body: Any) -> Any:
    return return_goods(order, ReturnRequest.model_validate({"reason": "broken", **body}), return_id=uuid.uuid4(),
                        by="li", now=NOW)


def test_a_partial_return_gives_back_the_line_share_and_keeps_the_status() -> None:
    order = _placed(_line("A", "3", "10.00"), _line("B", "1", "5.00"), status="fulfilled")
    outcome = _return(order, lines=[{"line_no": 1, "quantity": "1"}])
    assert outcome.status == "fulfilled"
    assert outcome.event.amount == Decimal("10.00")
    assert not outcome.event.whole
    assert [(ln.line_no, ln.sku, ln.quantity) for ln in outcome.event.lines] == [(1, "A", Decimal("1"))]


def test_a_whole_return_gives_back_what_is_left_and_returns_the_order() -> None:
    order = _placed(_line("A", "3", "10.00"), _line("B", "1", "5.00"), discount="3.50", status="completed")
    lines = [ln.model_copy(update={"returned_quantity": Decimal(1), "returned_amount": Decimal("9.00")})
             if ln.line_no == 1 else ln for ln in order.lines]
    outcome = _return(order.model_copy(update={"lines": lines, "returned_total": Decimal("9.00")}), whole=True)
    assert outcome.status == "returned" and outcome.event.whole
    assert outcome.event.amount + Decimal("9.00") == order.total  # everything paid comes back, not a cent more
    assert [ln.quantity for ln in outcome.event.lines] == [Decimal(2), Decimal(1)]


def test_returning_more_than_is_left_is_refused_naming_the_quantity() -> None:
    order = _placed(_line("A", "2", "10.00"), status="fulfilled")
    with pytest.raises(Invalid) as exc:
        _return(order, lines=[{"line_no": 1, "quantity": "2.001"}])
    assert [p.field for p in exc.value.errors or []] == ["lines[0].quantity"]


def test_an_unknown_or_repeated_line_is_refused_naming_it() -> None:
    order = _placed(_line("A", "2", "10.00"), status="fulfilled")
    with pytest.raises(Invalid) as exc:
        _return(order, lines=[{"line_no": 1, "quantity": "1"}, {"line_no": 2, "quantity": "1"},
                              {"line_no": 1, "quantity": "1"}])
    assert [p.field for p in exc.value.errors or []] == ["lines[1].line_no", "lines[2].line_no"]


@pytest.mark.parametrize("status", ["cancelled", "returned", "pending_approval"])
def test_nothing_comes_back_of_an_order_cancelled_returned_or_not_yet_approved(status: str) -> None:
    with pytest.raises(Conflict):
        _return(_placed(_line(), status=status), whole=True)


@pytest.mark.parametrize("body", [{}, {"whole": True, "lines": [{"line_no": 1, "quantity": "1"}]},
                                  {"whole": False}])
def test_a_return_names_lines_or_whole_not_both(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReturnRequest.model_validate({"reason": "x", **body})
