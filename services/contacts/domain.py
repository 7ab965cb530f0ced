"""Customer master data rules: what a valid new customer is and what registering one says.

No I/O here: the store persists, the API translates.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.batches import ItemProblem, take_all
from shared.errors import InFuture
from shared.events import CustomerRegistered

_PHONE_NOISE = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Business time may be in the past (an imported history) but not in the future, beyond a little
# clock skew between the client and the server.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_BATCH = 1000


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
    owner: str | None = Field(
        None, min_length=1, max_length=64, description="The staff member who looks after the customer (name or id)."
    )
    registered_at: AwareDatetime | None = Field(
        None,
        description="Business time: when the customer relationship began, if before now (an imported history "
        "gives the first purchase). It is the `occurred_at` of `CustomerRegistered`. Default: now.",
    )

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
    owner: str | None = None
    created_at: datetime


class NewCustomerBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customers: list[NewCustomer] = Field(min_length=1, max_length=MAX_BATCH)


class RegisteredInFuture(InFuture):
    field_name = "registered_at"


def register(new: NewCustomer, *, customer_id: uuid.UUID, now: datetime) -> tuple[Customer, CustomerRegistered]:
    occurred_at = new.registered_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise RegisteredInFuture(occurred_at)
    customer = Customer(id=customer_id, created_at=now, **new.model_dump(exclude={"registered_at"}))
    event = CustomerRegistered(
        customer_id=customer_id,
        occurred_at=occurred_at,
        name=new.name,
        kind=new.kind,
        phone=new.phone,
        email=new.email,
        external_ref=new.external_ref,
        category=new.category,
        lead_source=new.lead_source,
        channel=new.channel,
        owner=new.owner,
    )
    return customer, event


# --- batches --------------------------------------------------------------------------------


def register_batch(
    batch: NewCustomerBatch, *, new_id: Callable[[], uuid.UUID], now: datetime
) -> tuple[list[tuple[Customer, CustomerRegistered]], list[ItemProblem]]:
    """Every customer of the batch registered (as ``register`` would), or the problems that refuse the batch."""
    return take_all(batch.customers, [c.external_ref for c in batch.customers],
                    lambda new: register(new, customer_id=new_id(), now=now))
