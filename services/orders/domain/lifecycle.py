"""An order's life after it was placed: status steps, cancellation, returns (docs/architecture.md §14.1).

pending_approval → placed → confirmed → fulfilled → completed, one step at a time. An order is
cancelled from pending_approval, placed or confirmed (later, goods come back by a return). Goods
come back from any placed order not cancelled (a till sale is placed and handed over at once);
when nothing is left the order is returned. Money back for a line is its share of the line's net
amount (the line's amount less its share of the order's discount): net × returned / quantity,
rounded half up to cents; the return of the last unit gives back what is left, so returns never
give back more or less than was paid.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.orders.domain.orders import CENT, Order
from shared.edge import NON_BLANK
from shared.errors import Conflict, FieldProblem, Invalid
from shared.events import (
    OrderCancelled,
    OrderReturned,
    OrderStatus,
    OrderStatusChanged,
    Quantity,
    ReturnedLine,
)

NEXT_STATUS: dict[str, OrderStatus] = {"placed": "confirmed", "confirmed": "fulfilled", "fulfilled": "completed"}
CANCELLABLE: frozenset[str] = frozenset({"pending_approval", "placed", "confirmed"})
RETURNABLE: frozenset[str] = frozenset({"placed", "confirmed", "fulfilled", "completed"})


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: OrderStatus = Field(description="The next status: placed → confirmed → fulfilled → completed.")
    note: str = Field("", max_length=1000)


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


class ReturnLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: int = Field(ge=1, le=500, description="The order line (1-based, as the order lists them).")
    quantity: Quantity


_WHOLE = "Everything still left of the order came back (instead of `lines`)."


class ReturnRequest(BaseModel):
    """Either ``lines`` or ``whole: true`` (exactly one of the two keys), with a reason."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"oneOf": [{"required": ["lines"]}, {"required": ["whole"]}]})

    lines: list[ReturnLineRequest] = Field(default_factory=list, min_length=1, max_length=500,
                                           description="What came back (instead of `whole`).")
    whole: Annotated[Literal[True] | None, WithJsonSchema({"const": True, "type": "boolean", "description": _WHOLE})] = None
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)

    @field_validator("whole", mode="before")
    @classmethod
    def _a_true_boolean(cls, value: object) -> object:
        if value is not None and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "whole: true or leave it out")
        return value

    @model_validator(mode="after")
    def _lines_or_whole(self) -> ReturnRequest:
        given = {"lines", "whole"} & self.model_fields_set
        if len(given) != 1 or ("whole" in given and self.whole is not True):
            raise PydanticCustomError("lines_or_whole", "give either lines or whole: true")
        return self


def allowed_steps(status: str) -> list[OrderStatus]:
    """What POST /orders/{id}/status may move an order to from ``status``."""
    return [NEXT_STATUS[status]] if status in NEXT_STATUS else []


def allowed_actions(status: str) -> list[str]:
    """Everything that may happen next: the next status, ``cancelled``, ``returned`` (a return)."""
    return [*allowed_steps(status), *(["cancelled"] if status in CANCELLABLE else []),
            *(["returned"] if status in RETURNABLE else [])]


def change_status(order: Order, change: StatusChange, *, by: str, now: datetime) -> OrderStatusChanged | None:
    """The step's event; None when the order already has the status (a repeated request)."""
    if change.status == order.status:
        return None
    allowed = allowed_steps(order.status)
    if change.status not in allowed:
        raise Conflict(f"an order {order.status} cannot become {change.status}; allowed: {', '.join(allowed) or 'none'}",
                       title="Status change not allowed", allowed=allowed, status_now=order.status)
    return OrderStatusChanged(customer_id=order.customer_id, occurred_at=now, order_id=order.id,
                              previous_status=order.status, status=change.status, changed_by=by, note=change.note)


def cancel(order: Order, cancellation: Cancellation, *, by: str, now: datetime) -> OrderCancelled | None:
    """The cancellation's event; None when the order is already cancelled (a repeated request)."""
    if order.status == "cancelled":
        return None
    if order.status not in CANCELLABLE:
        raise Conflict(f"an order {order.status} cannot be cancelled (goods handed over come back by a return)",
                       title="Cancellation not allowed", allowed=allowed_actions(order.status), status_now=order.status)
    return OrderCancelled(customer_id=order.customer_id, occurred_at=now, order_id=order.id,
                          previous_status=order.status, total=order.total, reason=cancellation.reason, cancelled_by=by)


def line_nets(amounts: Sequence[Decimal], discount: Decimal) -> list[Decimal]:
    """Each line's net: its amount less its share of the order's discount (shares proportional to the
    amounts, rounded by running totals so they add up to the discount exactly and none exceeds its line)."""
    subtotal = sum(amounts, Decimal(0))
    if discount == 0 or subtotal == 0:
        return list(amounts)
    nets, running, taken = [], Decimal(0), Decimal(0)
    for amount in amounts:
        running += amount
        upto = (discount * running / subtotal).quantize(CENT, rounding=ROUND_HALF_UP)
        nets.append(amount - (upto - taken))
        taken = upto
    return nets


def money_back(net: Decimal, quantity: Decimal, returned_before: Decimal, paid_back_before: Decimal,
               returning: Decimal) -> Decimal:
    """What returning ``returning`` of a line gives back: net × returning / quantity, rounded half up to
    cents; what is left of the net when nothing of the line remains."""
    if returned_before + returning >= quantity:
        return net - paid_back_before
    share = (net * returning / quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return min(share, net - paid_back_before)


@dataclass(frozen=True)
class ReturnOutcome:
    event: OrderReturned
    status: OrderStatus  # the order's status after the return


def return_goods(order: Order, request: ReturnRequest, *, return_id: uuid.UUID, by: str,
                 now: datetime) -> ReturnOutcome:
    """What comes back and the money given back, line by line (422 naming ``lines[i]`` fields)."""
    if order.status not in RETURNABLE:
        raise Conflict(f"nothing can come back of an order {order.status}", title="Return not allowed",
                       allowed=allowed_actions(order.status), status_now=order.status)
    by_no = {ln.line_no: ln for ln in order.lines}
    wanted = ([ReturnLineRequest(line_no=ln.line_no, quantity=ln.quantity - ln.returned_quantity)
               for ln in order.lines if ln.quantity > ln.returned_quantity]
              if request.whole else list(request.lines))
    problems, seen = [], set()
    for index, item in enumerate(wanted):
        line = by_no.get(item.line_no)
        if line is None or item.line_no in seen:
            why = "no such line in the order" if line is None else "named twice"
            problems.append(FieldProblem(f"lines[{index}].line_no", why))
        elif item.quantity > line.quantity - line.returned_quantity:
            problems.append(FieldProblem(f"lines[{index}].quantity", f"{item.quantity} is more than is left of the "
                                         f"line ({line.quantity - line.returned_quantity})"))
        seen.add(item.line_no)
    if problems:
        raise Invalid.fields(problems)
    nets = dict(zip(by_no, line_nets([ln.amount for ln in order.lines], order.discount), strict=True))
    returned = []
    for item in wanted:
        line = by_no[item.line_no]
        amount = money_back(nets[item.line_no], line.quantity, line.returned_quantity, line.returned_amount,
                            item.quantity)
        returned.append(ReturnedLine(line_no=item.line_no, sku=line.sku, quantity=item.quantity, amount=amount))
    coming = {r.line_no: r.quantity for r in returned}
    whole = all(ln.returned_quantity + coming.get(ln.line_no, Decimal(0)) >= ln.quantity for ln in order.lines)
    total = sum((r.amount for r in returned), Decimal("0.00"))
    event = OrderReturned(customer_id=order.customer_id, occurred_at=now, order_id=order.id, return_id=return_id,
                          lines=returned, amount=total, whole=whole, reason=request.reason, returned_by=by)
    return ReturnOutcome(event=event, status="returned" if whole else order.status)
