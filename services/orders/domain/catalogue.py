"""The catalogue (optional per shop): products with a list price and a category.

A line naming an active product may omit its unit price: the list price is taken, and the line
carries the product's category either way. A line naming an unknown or inactive product must
give its unit price (an ad-hoc line: small shops sell items that are in no catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.errors import FieldProblem, Invalid
from shared.events import Money

SKU_PATTERN = r"^[^\s/?#\x00]([^/?#\x00]*[^\s/?#\x00])?$"


class ProductChange(BaseModel):
    """What a PUT /products/{sku} states: the product as it should be."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(None, min_length=1, max_length=64, description="The product's category, if any.")
    list_price: Money
    active: StrictBool = Field(True, description="false: deactivated (no longer offered; old orders still name it).")


class Product(BaseModel):
    sku: str
    name: str
    category: str | None
    list_price: Money
    active: bool
    created_at: datetime
    updated_at: datetime


class PricedLine(BaseModel):
    """The catalogue's part of one order line: its unit price (given or the list price) and category."""

    unit_price: Money
    category: str | None


def price_line(index: int, sku: str, unit_price: Money | None, products: Mapping[str, Product]) -> PricedLine:
    """The line's unit price and category. Without a unit price the sku must be an active product
    (422 naming ``lines[index].unit_price``)."""
    product = products.get(sku)
    if unit_price is None:
        if product is None or not product.active:
            why = "no product with this sku in the catalogue" if product is None else "the product is inactive"
            raise Invalid.fields([FieldProblem(f"lines[{index}].unit_price",
                                               f"required: {why} ({sku!r}), so there is no list price",
                                               "no_list_price")])
        unit_price = product.list_price
    return PricedLine(unit_price=unit_price, category=product.category if product is not None else None)
