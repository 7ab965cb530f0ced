"""Customer master data rules: what a valid new customer is and what registering one says.

No I/O here: the store persists, the API translates.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events import CustomerRegistered

_PHONE_NOISE = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NewCustomer(BaseModel):
    """A customer to register, as the shop knows them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="Person or company name, any script.")
    kind: Literal["person", "company"] = "person"
    phone: str | None = Field(None, description="Phone number; spaces, dashes and brackets are removed.")
    email: str | None = Field(None, max_length=254)
    external_ref: str | None = Field(
        None, min_length=1, max_length=100, description="The shop's own reference (card or ERP number); unique."
    )
    category: Literal["potential", "prospective", "current", "lost"] = "potential"
    lead_source: str | None = Field(None, max_length=64, description="web, fair, referral, network, ads, ...")
    channel: str | None = Field(None, max_length=32, description="Where the customer was first met.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        cleaned = _PHONE_NOISE.sub("", value)
        if not _PHONE.match(cleaned):
            raise ValueError("a phone number has 5 to 20 digits, optionally after a leading +")
        return cleaned

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value.lower()


class Customer(BaseModel):
    """A registered customer."""

    id: uuid.UUID
    name: str
    kind: Literal["person", "company"]
    phone: str | None
    email: str | None
    external_ref: str | None
    category: Literal["potential", "prospective", "current", "lost"]
    lead_source: str | None
    channel: str | None
    created_at: datetime


def register(new: NewCustomer, *, customer_id: uuid.UUID, now: datetime) -> tuple[Customer, CustomerRegistered]:
    customer = Customer(id=customer_id, created_at=now, **new.model_dump())
    event = CustomerRegistered(
        customer_id=customer_id,
        occurred_at=now,
        name=new.name,
        kind=new.kind,
        phone=new.phone,
        email=new.email,
        external_ref=new.external_ref,
        category=new.category,
        lead_source=new.lead_source,
        channel=new.channel,
    )
    return customer, event
