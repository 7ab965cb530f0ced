"""Order rules: what a valid order is, how its money adds up, what placing it says.

Money is ``Decimal`` end to end: a line's amount is quantity × unit price rounded half-up to
cents, less the line's discount; the total is the sum of the amounts less the order's discount.
A line may name a SKU that is in no catalogue (small shops sell ad-hoc items) and then gives its
unit price; a line naming an active product of the catalogue may omit it (``domain/catalogue.py``).

A line may also state its amount, for totals that were fixed before the unit price (an imported
order history knows "2 CDs for 29.33": the unit price 14.67 is that total divided and rounded).
The stated amount may differ from quantity × unit price only by the rounding of the unit price:
at most half a cent per unit of quantity (``amount_fits``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from services.orders.domain.catalogue import Product, price_line
from services.orders.domain.credit import CreditOverride
from shared.batches import ItemProblem, take_all
from shared.currencies import refusal
from shared.customer_ref import CustomerByIdentity
from shared.errors import FieldProblem, InFuture, Invalid
from shared.events import (
    BusinessTime,
    Channel,
    Money,
    OrderLine,
    OrderPlaced,
    OrderStatus,
    PaymentMethod,
    Quantity,
)

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
# Business time may be in the past (orders keyed in later, imports) but not in the future,
# beyond a little clock skew between the till and the server.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class NewOrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(min_length=1, max_length=64, description="Article code; need not be in a catalogue.")
    quantity: Quantity
    unit_price: Money | None = Field(
        None, description="Required unless the sku is an active product of the catalogue (its list price is taken).")
    discount: Money = Field(Decimal("0.00"), description="Taken off this line: at most quantity × unit_price.")
    amount: Money | None = Field(
        None,
        description="The line's amount when it was fixed before the unit price (an imported total). It may "
        "differ from quantity × unit_price only by the rounding of the unit price: at most half a cent per "
        "unit of quantity. Default: quantity × unit_price rounded half up to cents.",
    )

    @field_validator("amount")
    @classmethod
    def _amount_fits(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        quantity, unit_price = info.data.get("quantity"), info.data.get("unit_price")
        if value is None or quantity is None or unit_price is None:
            return value  # an invalid quantity or price is reported on its own field
        if not amount_fits(quantity, unit_price, value):
            raise PydanticCustomError(
                "amount_mismatch",
                "{amount} is not quantity × unit_price ({exact}) up to the rounding of the unit price "
                "(at most {tolerance})",
                {"amount": str(value), "exact": str(quantity * unit_price),
                 "tolerance": str(rounding_tolerance(quantity))},
            )
        return value

    def gross_amount(self, unit_price: Decimal) -> Decimal:
        """The stated amount, else quantity × unit price rounded to cents (before the line's discount)."""
        return self.amount if self.amount is not None else line_amount(self.quantity, unit_price)


MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14,2)


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: uuid.UUID | None = Field(None, description="kehu's id of the customer; or give `customer`.")
    customer: CustomerByIdentity | None = Field(
        None, description="Instead of `customer_id`: the customer as any identity (a phone, a membership card, a "
        "WeChat id), resolved through contacts and, with `register_if_unknown`, registered as a potential customer. "
        "The order stores and publishes the resolved id.")
    channel: Channel
    lines: list[NewOrderLine] = Field(min_length=1, max_length=500)
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code, one of the shop's currencies (KEHU_CURRENCIES). Default: the shop's first.",
    )
    occurred_at: BusinessTime | None = Field(None, description="When it was sold (default: now).")
    external_ref: str | None = Field(None, min_length=1, max_length=100, description="The shop's order number; unique.")
    paid_with: PaymentMethod | None = Field(
        None, description="Paid at once by this method (a till sale): the order owes nothing and is never refused "
        "for credit. Absent: on account when the customer has credit terms (checked against them), else paid at once.")
    discount: Money = Field(Decimal("0.00"), description="Taken off the whole order: at most the lines' amounts.")
    credit_override: CreditOverride | None = Field(
        None, description="A manager places the order although the credit check would refuse it or send it for "
        "approval, with a reason (audited; `credit:manage` only, else 403).")

    @model_validator(mode="after")
    def _amounts_fit(self) -> NewOrder:
        total = Decimal(0)
        for index, line in enumerate(self.lines):
            if line.unit_price is None:
                continue  # priced from the catalogue when placed (and checked there)
            amount = line.gross_amount(line.unit_price)
            if amount > MAX_AMOUNT:
                raise PydanticCustomError(
                    "amount_too_large", "line {index}: quantity × unit_price exceeds {limit}",
                    {"index": index, "limit": str(MAX_AMOUNT)})
            total += amount
        if total > MAX_AMOUNT:
            raise PydanticCustomError("amount_too_large", "the order total exceeds {limit}", {"limit": str(MAX_AMOUNT)})
        return self


MAX_BATCH = 1000


class NewBatchOrder(NewOrder):
    """An order sent in a batch. Its external_ref is required: it is what makes a retried batch harmless."""

    external_ref: str = Field(
        min_length=1, max_length=100,
        description="The shop's order number; unique. Required in a batch: an order whose number is "
        "already known is not placed again.",
    )


class NewOrderBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    orders: list[NewBatchOrder] = Field(min_length=1, max_length=MAX_BATCH)


def _plain(value: Decimal) -> Decimal:
    """A quantity spelled as everywhere: 2.000 → 2, 1.500 → 1.5."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


class OrderLineView(OrderLine):
    """A line as the order shows it: with its number and what came back of it."""

    line_no: int
    returned_quantity: Annotated[Decimal, AfterValidator(_plain)] = Field(
        Decimal("0"), ge=0, description="How much of the line came back.")
    returned_amount: Money = Field(Decimal("0.00"), description="The money given back for it.")


class Order(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    currency: str
    lines: list[OrderLineView]
    total: Money
    occurred_at: datetime
    recorded_at: datetime
    external_ref: str | None
    status: OrderStatus = "placed"
    discount: Money = Decimal("0.00")
    paid_with: PaymentMethod | None = None
    returned_total: Money = Field(Decimal("0.00"), description="The money given back by returns.")


class OrderInFuture(InFuture):
    field_name = "occurred_at"


class CurrencyRefused(Invalid):
    """The shop does not take this currency (amounts in different currencies are never added up): 422
    naming ``currency``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldProblem("currency", message)])


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


def rounding_tolerance(quantity: Decimal) -> Decimal:
    """How far a stated amount may be from quantity × unit price: half a cent per unit."""
    return HALF_CENT * quantity


def amount_fits(quantity: Decimal, unit_price: Decimal, amount: Decimal) -> bool:
    """True when ``amount`` is quantity × unit price up to the rounding of a unit price to cents."""
    return abs(amount - quantity * unit_price) <= rounding_tolerance(quantity)


def unit_price_for(amount: Decimal, quantity: Decimal) -> Decimal:
    """The unit price that a known line amount implies: amount / quantity, rounded half up to cents.

    Always fits: |amount - quantity × price| = quantity × |amount / quantity - price| ≤ quantity × ½ cent.
    """
    return (amount / quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def order_currency(given: str | None, accepted: Sequence[str]) -> str:
    """The order's currency: the one given if the shop takes it; none given, the shop's first."""
    if given is None:
        return accepted[0]
    refused = refusal(given, accepted)
    if refused:
        raise CurrencyRefused(refused)
    return given


def priced_lines(new: NewOrder, products: Mapping[str, Product]) -> list[OrderLine]:
    """The order's lines priced (given prices, else list prices), with categories and discounts checked."""
    lines, problems = [], []
    for index, ln in enumerate(new.lines):
        priced = price_line(index, ln.sku, ln.unit_price, products)
        if ln.amount is not None and not amount_fits(ln.quantity, priced.unit_price, ln.amount):
            problems.append(FieldProblem(f"lines[{index}].amount", f"{ln.amount} is not quantity × unit_price "
                                         f"({ln.quantity * priced.unit_price}) up to the rounding of the unit price"))
            continue
        gross = ln.gross_amount(priced.unit_price)
        if gross > MAX_AMOUNT:
            problems.append(FieldProblem(f"lines[{index}].quantity", f"quantity × unit_price exceeds {MAX_AMOUNT}"))
            continue
        if ln.discount > gross:
            problems.append(FieldProblem(f"lines[{index}].discount",
                                         f"{ln.discount} is more than the line's amount {gross}"))
            continue
        lines.append(OrderLine(sku=ln.sku, quantity=ln.quantity, unit_price=priced.unit_price,
                               amount=gross - ln.discount, discount=ln.discount, category=priced.category))
    if problems:
        raise Invalid.fields(problems)
    subtotal = sum((ln.amount for ln in lines), Decimal("0.00"))
    if subtotal > MAX_AMOUNT:
        raise Invalid.field("lines", f"the order total exceeds {MAX_AMOUNT}")
    if new.discount > subtotal:
        raise Invalid.field("discount", f"{new.discount} is more than the lines' amounts {subtotal}")
    return lines


def place(
    new: NewOrder, *, order_id: uuid.UUID, now: datetime, accepted: Sequence[str],
    products: Mapping[str, Product] | None = None,
) -> tuple[Order, OrderPlaced]:
    """``accepted``: the shop's currencies, its default first. ``products``: the catalogue's products
    the lines name (a line without unit price needs its product active)."""
    if new.customer_id is None:  # the API resolves `customer` to an id before placing
        raise Invalid.field("customer_id", "required (or the customer as an identity in `customer`)")
    customer_id = new.customer_id
    occurred_at = new.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise OrderInFuture(occurred_at)
    currency = order_currency(new.currency, accepted)
    lines = priced_lines(new, products or {})
    discount = new.discount.quantize(CENT)
    total = (sum((ln.amount for ln in lines), Decimal("0.00")) - discount).quantize(CENT)
    order = Order(
        id=order_id, customer_id=customer_id, channel=new.channel, currency=currency,
        lines=[OrderLineView(line_no=no, **ln.model_dump()) for no, ln in enumerate(lines, start=1)],
        total=total, occurred_at=occurred_at, recorded_at=now, external_ref=new.external_ref,
        discount=discount, paid_with=new.paid_with,
    )
    event = OrderPlaced(
        customer_id=customer_id, occurred_at=occurred_at, order_id=order_id, channel=new.channel,
        currency=currency, lines=lines, total=total, external_ref=new.external_ref, discount=discount,
    )
    return order, event


# --- batches --------------------------------------------------------------------------------


def place_batch(
    batch: NewOrderBatch, *, new_id: Callable[[], uuid.UUID], now: datetime, accepted: Sequence[str],
    products: Mapping[str, Product] | None = None,
) -> tuple[list[tuple[Order, OrderPlaced]], list[ItemProblem]]:
    """Every order of the batch placed (as ``place`` would), or the problems that refuse the batch."""
    return take_all(batch.orders, [o.external_ref for o in batch.orders],
                    lambda new: place(new, order_id=new_id(), now=now, accepted=accepted, products=products))


def skus_named(orders: Sequence[NewOrder]) -> set[str]:
    """The skus of the lines, to look up in the catalogue."""
    return {ln.sku for o in orders for ln in o.lines}
