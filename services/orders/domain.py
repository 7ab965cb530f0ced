"""Order rules: what a valid order is, how its money adds up, what placing it says.

Money is ``Decimal`` end to end: a line's amount is quantity × unit price rounded half-up to
cents, the total is the sum of the amounts. A line may name a SKU that is in no catalogue (small
shops sell ad-hoc items), so the unit price is always given.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shared.events import Channel, OrderLine, OrderPlaced

CENT = Decimal("0.01")
# Business time may be in the past (orders keyed in later, imports) but not in the future,
# beyond a little clock skew between the till and the server.
MAX_CLOCK_SKEW = timedelta(minutes=5)

Price = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, description='Decimal string, e.g. "9.50".')]
Qty = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3, description="How many (up to 3 decimals).")]


class NewOrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64, description="Article code; need not be in a catalogue.")
    quantity: Qty
    unit_price: Price

    @field_validator("quantity", "unit_price", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # JSON numbers arrive as float; go through their shortest text so 9.5 stays 9.5 exactly.
        return str(value) if isinstance(value, float) else value


MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14,2)


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: uuid.UUID
    channel: Channel
    lines: list[NewOrderLine] = Field(min_length=1, max_length=500)
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    occurred_at: AwareDatetime | None = Field(None, description="When it was sold (default: now).")
    external_ref: str | None = Field(None, min_length=1, max_length=100, description="The shop's order number; unique.")

    @model_validator(mode="after")
    def _amounts_fit(self) -> NewOrder:
        total = Decimal(0)
        for index, line in enumerate(self.lines):
            amount = line_amount(line.quantity, line.unit_price)
            if amount > MAX_AMOUNT:
                raise PydanticCustomError(
                    "amount_too_large", "line {index}: quantity × unit_price exceeds {limit}",
                    {"index": index, "limit": str(MAX_AMOUNT)})
            total += amount
        if total > MAX_AMOUNT:
            raise PydanticCustomError("amount_too_large", "the order total exceeds {limit}", {"limit": str(MAX_AMOUNT)})
        return self


class Order(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    currency: str
    lines: list[OrderLine]
    total: Decimal
    occurred_at: datetime
    recorded_at: datetime
    external_ref: str | None


class OrderInFuture(ValueError):
    pass


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


def place(new: NewOrder, *, order_id: uuid.UUID, now: datetime) -> tuple[Order, OrderPlaced]:
    occurred_at = new.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise OrderInFuture(f"occurred_at {occurred_at.isoformat()} is in the future")
    lines = [
        OrderLine(sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price,
                  amount=line_amount(ln.quantity, ln.unit_price))
        for ln in new.lines
    ]
    total = sum((ln.amount for ln in lines), Decimal("0.00")).quantize(CENT)
    order = Order(
        id=order_id, customer_id=new.customer_id, channel=new.channel, currency=new.currency, lines=lines,
        total=total, occurred_at=occurred_at, recorded_at=now, external_ref=new.external_ref,
    )
    event = OrderPlaced(
        customer_id=new.customer_id, occurred_at=occurred_at, order_id=order_id, channel=new.channel,
        currency=new.currency, lines=lines, total=total, external_ref=new.external_ref,
    )
    return order, event
