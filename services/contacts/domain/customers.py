"""Customer master data rules: what a valid new customer is and what registering one says.

No I/O here: the store persists, the API translates.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.batches import ItemProblem, take_all
from shared.errors import FieldProblem, InFuture, Invalid
from shared.events import BusinessTime, CustomerRegistered, LeadSource

# An address as far as a shop can tell: something@domain.tld, no blanks (or NUL) inside; blanks
# around it are dropped and an empty text means none. The OpenAPI document gives the same pattern.
EMAIL_PATTERN = r"^\s*([^@\s\u0000]+@[^@\s\u0000]+\.[^@\s\u0000]+)?\s*$"
_EMAIL = re.compile(EMAIL_PATTERN)
# Business time may be in the past (an imported history) but not in the future, beyond a little
# clock skew between the client and the server.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_BATCH = 1000
Category = Literal["potential", "prospective", "current", "lost"]


class NewCustomer(BaseModel):
    """A customer to register, as the shop knows them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="Person or company name, any script.")
    kind: Literal["person", "company"] = "person"
    phone: str | None = Field(
        None, max_length=40,
        description="Phone number as people write it (+86 138-0013-8000, 138 0013 8000, 008613800138000); "
        "stored and published in E.164 (+8613800138000). Without a country code, the shop's region "
        "(KEHU_PHONE_REGION, default CN).",
    )
    email: Annotated[str, Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})] | None = Field(
        None, description="An address (lower-cased when stored); empty means none.")
    external_ref: str | None = Field(
        None, min_length=1, max_length=100, description="The shop's own reference (card or ERP number); unique."
    )
    category: Category = "potential"
    lead_source: LeadSource | None = Field(None, description="Where the lead came from.")
    channel: str | None = Field(None, max_length=32, description="Where the customer was first met.")
    owner: str | None = Field(
        None, min_length=1, max_length=64, description="The staff member who looks after the customer (name or id)."
    )
    # What an imported customer list also says (kehu import customers); all optional.
    lead_source_detail: str | None = Field(None, max_length=200, description="Which fair, which ad, ...")
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=20, description="Up to 20 labels of the shop's own.")
    address: str | None = Field(None, max_length=500, description="Postal or visiting address, free text.")
    notes: str | None = Field(None, max_length=4000, description="Free notes about the customer.")
    registered_at: BusinessTime | None = Field(
        None,
        description="Business time: when the customer relationship began, if before now (an imported history "
        "gives the first purchase). It is the `occurred_at` of `CustomerRegistered`. Default: now.",
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return value or None  # normalised by `register`, which knows the shop's region

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
    category: Category
    lead_source: str | None
    channel: str | None
    owner: str | None = None
    created_at: datetime
    revision: int = Field(1, description="The record's revision: its ETag, for If-Match on PATCH.")
    lead_source_detail: str | None = None
    referred_by: uuid.UUID | None = None
    tags: list[str] = Field(default_factory=list)
    address: str | None = None
    notes: str | None = None
    loss_reason: str | None = None
    loss_kind: Literal["objective", "subjective"] | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_follow_up_at: datetime | None = None
    next_follow_up_due: date | None = None
    owner_since: datetime | None = None
    merged_into: uuid.UUID | None = Field(None, description="Set when this record was merged into another.")
    # Business time the relationship began (the acquisition report's time); stored, not answered.
    registered_at: datetime | None = Field(None, exclude=True)


class NewCustomerBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customers: list[NewCustomer] = Field(min_length=1, max_length=MAX_BATCH)


class RegisteredInFuture(InFuture):
    field_name = "registered_at"


class PhoneInvalid(Invalid):
    """Not a phone number, or not a valid one (422 naming ``phone``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldProblem("phone", message, "phone_invalid")])


def normalise_phone(text: str, region: str) -> str:
    """One form of a phone number, E.164 (``+8613800138000``), however it was written: with or
    without the country code (``region``'s when missing), spaces, dashes, brackets or a 00 prefix.
    So one person is one number, and a search by any spelling finds them."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneInvalid(f"{text!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        where = "" if text.lstrip().startswith(("+", "00")) else f" (read as a number in {region})"
        raise PhoneInvalid(f"{text!r} is not a valid phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def register(
    new: NewCustomer, *, customer_id: uuid.UUID, now: datetime, phone_region: str
) -> tuple[Customer, CustomerRegistered]:
    """``phone_region``: the region of phone numbers written without a country code."""
    occurred_at = new.registered_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise RegisteredInFuture(occurred_at)
    phone = normalise_phone(new.phone, phone_region) if new.phone else None
    # owner_since: the owner's clock (pool rules) starts when the record is made, not at an imported past
    customer = Customer(id=customer_id, created_at=now, registered_at=occurred_at, owner_since=now if new.owner else None,
                        **new.model_dump(exclude={"registered_at"}) | {"phone": phone})
    event = CustomerRegistered(
        customer_id=customer_id,
        occurred_at=occurred_at,
        name=new.name,
        kind=new.kind,
        phone=phone,
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
    batch: NewCustomerBatch, *, new_id: Callable[[], uuid.UUID], now: datetime, phone_region: str
) -> tuple[list[tuple[Customer, CustomerRegistered]], list[ItemProblem]]:
    """Every customer of the batch registered (as ``register`` would), or the problems that refuse the batch."""
    return take_all(batch.customers, [c.external_ref for c in batch.customers],
                    lambda new: register(new, customer_id=new_id(), now=now, phone_region=phone_region))
