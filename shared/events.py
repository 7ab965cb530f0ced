"""Event contracts and their CloudEvents 1.0 envelope (Kafka binary content mode).

One pydantic class per event, named ``<Noun><PastVerb>``. Every event carries ``customer_id``
and ``occurred_at`` (business time). The record key is the customer id, so one customer's
events stay in order within a topic. Within a version only optional fields may be added; a
breaking change is a new class with ``version = N + 1``, published side by side.

Consumers ignore unknown fields (``extra="ignore"``) and dead-letter types they do not know,
unknown versions included, so nothing is silently dropped (docs/architecture.md §2).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _plain(value: Decimal) -> Decimal:
    """2.000 → 2, 1.500 → 1.5, 100 stays 100 (never 1E+2): one spelling of a quantity everywhere."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _float_as_text(value: object) -> object:
    """JSON numbers arrive as float: go through their shortest text, so 9.5 stays 9.5 exactly."""
    return str(value) if isinstance(value, float) else value


def _decimal_schema(*, whole: int, places: int, positive: bool, description: str) -> dict[str, Any]:
    """What a decimal field takes, as its JSON schema says it: a number or a decimal text of at most
    ``whole`` digits before the point and ``places`` after it (leading and trailing zeros aside,
    blanks around it ignored), at least 0, or above 0 when ``positive``. The same as pydantic's
    ``max_digits``/``decimal_places``/``ge``/``gt`` decide, so generated valid data is accepted."""
    step = f"0.{'0' * (places - 1)}1"
    largest = f"{'9' * whole}.{'9' * places}"
    fraction = f"[0-9]{{0,{places}}}0*"
    if positive:  # not all zeros: a non-zero whole part, or a zero one with a non-zero fraction
        nonzero_fraction = "|".join(f"{'0' * n}[1-9][0-9]{{0,{places - n - 1}}}" for n in range(places))
        text = rf"0*[1-9][0-9]{{0,{whole - 1}}}(\.{fraction})?|0*\.({nonzero_fraction})0*"
    else:
        text = rf"0*[0-9]{{1,{whole}}}(\.{fraction})?|0*\.[0-9]{{1,{places}}}0*"
    number: dict[str, Any] = {"type": "number", "maximum": float(largest), "multipleOf": float(step)}
    number["exclusiveMinimum" if positive else "minimum"] = 0
    return {"anyOf": [number, {"type": "string", "pattern": rf"^\s*\+?({text})\s*$"}],
            "description": description}


# One spelling of each number wherever it appears (a POST's answer, a GET, a batch, an event), fixed
# here when the value is taken in: money always with 2 decimals ("19.00"), a quantity without
# trailing zeros ("2", "1.5"), whatever the request or the database (numeric(12,3): 2.000) gave.
# Request models use the same types, so what a request may say is decided (and documented) here.
_MONEY_TEXT = 'Decimal amount, never a float: a decimal string ("9.50") or a JSON number; always 2 decimals.'
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2, description=_MONEY_TEXT),
    BeforeValidator(_float_as_text),
    WithJsonSchema(_decimal_schema(whole=12, places=2, positive=False, description=_MONEY_TEXT), mode="validation"),
    AfterValidator(_cents),
]
_QUANTITY_TEXT = 'How many: above 0, up to 3 decimals ("2", "1.5"); answered without trailing zeros.'
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=12, decimal_places=3, description=_QUANTITY_TEXT),
    BeforeValidator(_float_as_text),
    WithJsonSchema(_decimal_schema(whole=9, places=3, positive=True, description=_QUANTITY_TEXT), mode="validation"),
    AfterValidator(_plain),
]

# --- business time --------------------------------------------------------------------------

MAX_UTC_OFFSET = timedelta(hours=14)
FIRST_YEAR, LAST_YEAR = 1900, 2999
_RFC3339 = r"^{year}-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9](\.[0-9]+)?({offset})$"
_SHAPE = re.compile(_RFC3339.format(year="[0-9]{4}", offset="[Zz]|[+-][0-9][0-9]:[0-9][0-9]"))
BUSINESS_TIME_PATTERN = _RFC3339.format(year="(19|2[0-9])[0-9][0-9]",
                                        offset="[Zz]|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00")
"""What the OpenAPI documents say a business time is: ``_rfc3339`` and ``legal_business_time`` together."""


def _rfc3339(value: object) -> object:
    """Only RFC 3339 text (or a datetime, from Python): pydantic alone would also take a number of
    seconds, a space for the T, an offset without its colon, which the documents do not offer."""
    if isinstance(value, datetime) or (isinstance(value, str) and _SHAPE.fullmatch(value)):
        return value
    raise ValueError("not an RFC 3339 time with its UTC offset, e.g. 2026-11-24T09:00:00+08:00")


def legal_business_time(value: datetime) -> datetime:
    """A business time kehu can keep and compute with: its UTC offset within ±14:00 (the widest
    any place uses; PostgreSQL refuses offsets beyond ±15:59 and RFC 3339 allows up to ±23:59) and
    its year from 1900 to 2999 (a shop's history starts later; outside that a time is a typo, and
    near year 1 or 9999 a conversion to UTC overflows)."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"the UTC offset of {value.isoformat()} is beyond ±14:00")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{value.isoformat()} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


BusinessTime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(legal_business_time),
    Field(json_schema_extra={"pattern": BUSINESS_TIME_PATTERN}),
]
"""An RFC 3339 time with its offset, as every request takes business time: ``legal_business_time``."""

Channel = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Where it happened: store, phone, web, wechat, fair, visit, email, import, ...",
    ),
]


class Event(BaseModel):
    """Base of every event's data."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: ClassVar[str]
    version: ClassVar[int] = 1

    customer_id: uuid.UUID = Field(description="The customer the event is about (also the record key).")
    occurred_at: AwareDatetime = Field(description="Business time: when it happened (may be in the past).")

    @classmethod
    def ce_type(cls) -> str:
        return f"kehu.{cls.service}.{cls.__name__}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        return f"kehu.{cls.service}"

    def summary(self) -> str:
        """One human line for timelines (English; services translate by type where they can)."""
        return type(self).__name__


# --- contacts -------------------------------------------------------------------------------


class CustomerRegistered(Event):
    service: ClassVar[str] = "contacts"

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["person", "company"] = "person"
    phone: str | None = None
    email: str | None = None
    external_ref: str | None = Field(None, description="The shop's own reference for the customer.")
    category: Literal["potential", "prospective", "current", "lost"] = "potential"
    lead_source: str | None = None
    channel: str | None = None
    owner: str | None = Field(None, description="The staff member who looks after the customer.")
    lead_source_detail: str | None = Field(None, description="Free detail of the lead source (which fair, which ad).")
    referred_by: uuid.UUID | None = Field(None, description="The customer who referred this one.")
    tags: list[str] = Field(default_factory=list, description="The shop's own labels.")


# What contacts knows and says of customers beyond their registration (issue 11). The words of
# each Literal are the API's words too: contacts' request models use these types.
IdentityKind = Literal[
    "phone", "email", "wechat_openid", "wechat_unionid", "web_account", "membership_card", "fair_badge", "other"]
LeadSource = Literal["web", "fair", "referral", "relationship", "directory", "advertising", "walk_in", "other"]
ContactRole = Literal["decision_maker", "purchaser", "user", "payer"]
CustomerCategory = Literal["potential", "prospective", "current", "lost"]
LossReason = Literal["moved_away", "closed_down", "price", "service", "quality", "competitor", "other"]
LossKind = Literal["objective", "subjective"]
OwnerChange = Literal["assigned", "claimed", "handover", "merge", "merge_undone"]
PoolRule = Literal["no_follow_up", "no_order", "released", "over_limit", "owner_left"]
FollowUpOutcome = Literal["reached", "no_answer", "interested", "not_interested", "order_expected", "complaint", "other"]


class FieldChange(BaseModel):
    """One field of a customer record, before and after a change."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    field: str = Field(description="The field's name as the API spells it (name, email, tags, ...).")
    old: Any = Field(None, description="Its value before (JSON).")
    new: Any = Field(None, description="Its value after (JSON).")


class CustomerProfileUpdated(Event):
    """Fields of a customer's record changed (``PATCH /customers/{id}``): each with old and new value."""

    service: ClassVar[str] = "contacts"

    changes: list[FieldChange] = Field(min_length=1)
    revision: int = Field(ge=1, description="The record's revision after the change (its ETag).")
    changed_by: str = Field(min_length=1, max_length=200, description="Who changed it: a person or a token.")


class CustomerCategoryChanged(Event):
    service: ClassVar[str] = "contacts"

    previous_category: CustomerCategory
    category: CustomerCategory
    reason: str = Field(min_length=1, max_length=1000, description="Why, in the words of who changed it.")
    loss_reason: LossReason | None = Field(None, description="Why the customer was lost (category lost only).")
    loss_kind: LossKind | None = Field(
        None, description="objective (moved away, closed down: nothing to win back) or subjective (price, "
        "service, quality, competitor: worth a win-back).")
    changed_by: str = Field(min_length=1, max_length=200)
    automatic: bool = Field(False, description="True when kehu changed it by a rule (a first order makes current).")
    order_id: uuid.UUID | None = Field(None, description="The order that made the customer current, if one did.")


class CustomerOwnerAssigned(Event):
    service: ClassVar[str] = "contacts"

    owner: str = Field(min_length=1, max_length=64)
    previous_owner: str | None = None
    how: OwnerChange
    assigned_by: str = Field(min_length=1, max_length=200)
    handover_id: uuid.UUID | None = Field(None, description="The handover that moved this customer, if one did.")
    reason: str | None = Field(None, max_length=1000, description="Why, in the words of who assigned (or handed over).")


class CustomerReturnedToPool(Event):
    """A customer no longer has an owner: they sit in the public pool (公海) for anyone to claim."""

    service: ClassVar[str] = "contacts"

    previous_owner: str | None = None
    rule: PoolRule = Field(description="no_follow_up / no_order: a pool rule ran out; released: by hand.")
    days_without: int | None = Field(None, description="Days without a follow-up (or an order) at as_of.")
    limit_days: int | None = Field(None, description="The rule's limit for the customer's category.")
    reclaim_after: AwareDatetime | None = Field(None, description="Before this the previous owner cannot claim them back.")
    returned_by: str = Field(min_length=1, max_length=200, description="The sweeper, or who released them.")
    reason: str | None = Field(None, max_length=1000, description="Released by hand: why, in the words of who released.")


class ChannelIdentityLinked(Event):
    service: ClassVar[str] = "contacts"

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=200, description="Normalised: E.164 phone, lower-case email, ...")
    label: str | None = Field(None, max_length=100, description="For `other`: what the identity is (QQ, Douyin, ...).")
    linked_by: str = Field(min_length=1, max_length=200)


class ChannelIdentityUnlinked(Event):
    service: ClassVar[str] = "contacts"

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=200)
    unlinked_by: str = Field(min_length=1, max_length=200)


class ContactPersonAdded(Event):
    """A person became a contact person of a company (``customer_id``) in a role."""

    service: ClassVar[str] = "contacts"

    person_id: uuid.UUID
    role: ContactRole
    title: str | None = Field(None, max_length=100, description="Job title, as the company says it.")
    added_by: str = Field(min_length=1, max_length=200)


class ContactPersonRemoved(Event):
    service: ClassVar[str] = "contacts"

    person_id: uuid.UUID
    role: ContactRole
    removed_by: str = Field(min_length=1, max_length=200)


class FollowUpLogged(Event):
    """Someone followed a customer up (定人定时): who, when (``occurred_at``), how and what came of it."""

    service: ClassVar[str] = "contacts"

    follow_up_id: uuid.UUID
    by: str = Field(min_length=1, max_length=200, description="Who followed up.")
    channel: Channel
    note: str = Field("", max_length=4000)
    outcome: FollowUpOutcome
    next_due: date | None = Field(None, description="When the next follow-up is due (the shop's calendar day).")


class CustomersMerged(Event):
    """``merged_id`` was a duplicate of ``customer_id`` (the survivor): its identities, contact persons,
    follow-ups, referrals, orders, tickets and history now belong to the survivor."""

    service: ClassVar[str] = "contacts"

    merged_id: uuid.UUID
    merge_id: uuid.UUID
    merged_by: str = Field(min_length=1, max_length=200)


class CustomerMergeUndone(Event):
    """A merge taken back: ``merged_id`` exists again with what it had before the merge."""

    service: ClassVar[str] = "contacts"

    merged_id: uuid.UUID
    merge_id: uuid.UUID
    undone_by: str = Field(min_length=1, max_length=200)


# --- orders ---------------------------------------------------------------------------------


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    unit_price: Money
    amount: Money = Field(description="The line's amount: quantity × unit_price rounded to cents (half up), or "
                          "the amount stated by the seller (within the rounding of the unit price), less the "
                          "line's discount.")
    discount: Money = Field(Decimal("0.00"), description="Taken off this line (already out of its amount).")
    category: str | None = Field(None, max_length=64, description="The product category, from the catalogue.")


class OrderPlaced(Event):
    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    channel: Channel
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[OrderLine] = Field(min_length=1)
    total: Money = Field(description="What the customer pays: the lines' amounts less the order's discount.")
    external_ref: str | None = None
    discount: Money = Field(Decimal("0.00"), description="Taken off the whole order (already out of the total).")
    status: Literal["placed", "pending_approval"] = Field(
        "placed", description="pending_approval: over the customer's credit terms, waiting for a manager.")


OrderStatus = Literal["pending_approval", "placed", "confirmed", "fulfilled", "completed", "cancelled", "returned"]
PaymentMethod = Literal["cash", "wechat_pay", "alipay", "bank_transfer", "card", "credit_note", "other"]
CreditTier = Literal["A", "B", "C", "D"]


class OrderStatusChanged(Event):
    """An order moved along placed → confirmed → fulfilled → completed (cancel and return have their
    own events). ``occurred_at`` is when it moved."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    previous_status: OrderStatus
    status: OrderStatus
    changed_by: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=1000)


class OrderCancelled(Event):
    """The order is void: it is no purchase, and nothing is owed for it."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    previous_status: OrderStatus
    total: Money = Field(description="The order's total, no longer a purchase.")
    reason: str = Field(min_length=1, max_length=1000)
    cancelled_by: str = Field(min_length=1, max_length=200)


class ReturnedLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    line_no: int = Field(ge=1, description="The order line returned (1-based, as the order lists them).")
    sku: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    amount: Money = Field(description="The money given back for this line.")


class OrderReturned(Event):
    """Goods of an order came back (the whole order or some lines): the customer's value and basket
    fall by what came back. ``occurred_at`` is when they came back."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    return_id: uuid.UUID
    lines: list[ReturnedLine] = Field(min_length=1)
    amount: Money = Field(description="The money given back, all lines together.")
    whole: bool = Field(description="True when nothing of the order is left (the order's status is returned).")
    reason: str = Field(min_length=1, max_length=1000)
    returned_by: str = Field(min_length=1, max_length=200)


class Instalment(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    no: int = Field(ge=1)
    due_at: AwareDatetime
    amount: Money = Field(description="What is owed on this date.")
    paid: Money = Field(description="What of it has been paid (payments and credit notes allocated to it).")


class ReceivableScheduled(Event):
    """What an order owes and when, in full, after every change (placed, instalment plan set, return,
    cancel, payment allocated): the newest ``revision`` replaces every earlier one. An order paid at
    once owes nothing after it."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    revision: int = Field(ge=1)
    instalments: list[Instalment] = Field(description="Empty when the order owes nothing (cancelled).")


class PaymentAllocation(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    instalment_no: int = Field(ge=1)
    amount: Money
    due_at: AwareDatetime


class PaymentRecorded(Event):
    """Money received from a customer (or a credit note given), and what it paid. ``occurred_at`` is
    when it was received."""

    service: ClassVar[str] = "orders"

    payment_id: uuid.UUID
    method: PaymentMethod
    amount: Money
    allocations: list[PaymentAllocation] = Field(description="The instalments it paid, oldest due first.")
    unallocated: Money = Field(description="What is left on the customer's account (an accepted overpayment).")
    reference: str | None = Field(None, max_length=200, description="The bank's or WeChat Pay's reference.")
    recorded_by: str = Field(min_length=1, max_length=200)


class PaymentOverdue(Event):
    """An instalment's due date passed unpaid. Raised once per instalment by the sweeper;
    ``occurred_at`` is the due date, ``as_of`` when the sweeper saw it."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    instalment_no: int = Field(ge=1)
    due_at: AwareDatetime
    amount_due: Money = Field(description="What was still unpaid when it was seen.")
    as_of: AwareDatetime


class InvoiceIssued(Event):
    service: ClassVar[str] = "orders"

    invoice_id: uuid.UUID
    order_id: uuid.UUID
    number: str = Field(min_length=1, max_length=64, description="kehu's invoice number.")
    official_number: str | None = Field(None, max_length=64, description="The official number (fapiao 发票号码).")
    amount: Money


class CreditNoteIssued(Event):
    """Money credited to a customer's account, e.g. compensation for a resolved complaint."""

    service: ClassVar[str] = "orders"

    credit_note_id: uuid.UUID
    amount: Money
    reason: str = Field(min_length=1, max_length=1000)
    ticket_id: uuid.UUID | None = Field(None, description="The complaint it compensates, if one.")


class CreditTermsSet(Event):
    """A manager set a customer's terms: days to pay and a credit limit (none: no limit)."""

    service: ClassVar[str] = "orders"

    payment_days: int = Field(ge=0, le=365)
    credit_limit: Money | None
    when_exceeded: Literal["refuse", "approval"] = Field(
        description="refuse: an order over the limit is refused (409); approval: it waits for a manager.")
    set_by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class OrderApprovalDecided(Event):
    """A manager approved or refused an order that waited for approval (``pending_approval``), or
    overrode a refusal; audited with the reason."""

    service: ClassVar[str] = "orders"

    order_id: uuid.UUID
    approved: bool
    decided_by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


# --- tickets --------------------------------------------------------------------------------


TicketPriority = Literal["low", "normal", "high", "critical"]
TicketCategory = Literal["quality", "delivery", "billing", "attitude", "product_info", "after_sales", "other"]
Responsibility = Literal["ours", "customer", "third_party", "undetermined"]
Remedy = Literal["replace", "repair", "refund", "discount", "explanation", "other"]
ServiceType = Literal["warranty", "repair", "return", "question"]
TicketStatus = Literal["open", "waiting_on_customer", "resolved", "closed"]
SlaClock = Literal["first_response", "resolution"]


class _TicketOpened(Event):
    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    channel: Channel
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    priority: TicketPriority | None = Field(None, description="Sets the SLA policy (complaints: their severity).")
    category: TicketCategory | None = Field(None, description="What it is about, for reports and prevention.")
    order_id: uuid.UUID | None = Field(None, description="The order it concerns, if any.")
    assignee: str | None = Field(None, description="Who handles it (a person's id), if anyone yet.")
    queue: str | None = Field(None, description="The team queue it waits in when nobody is assigned.")


class ComplaintFiled(_TicketOpened):
    severity: Literal["low", "normal", "high", "critical"] = "normal"


class FeedbackReceived(_TicketOpened):
    satisfaction: int | None = Field(None, ge=1, le=5, description="1 (very unhappy) to 5 (delighted).")


class ServiceRequested(_TicketOpened):
    service_type: ServiceType | None = Field(None, description="warranty, repair, return or question.")


class PreventionAction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action_id: uuid.UUID
    action: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=200, description="Who does it (a person's id).")
    due_on: date


class TicketResolved(Event):
    """A ticket was resolved with an agreed remedy; a compensation becomes a credit note in orders."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    resolution: str = Field(min_length=1, max_length=2000)
    compensation: Money | None = Field(None, description="Money credited to the customer's account, if any.")
    resolved_by: str = Field(min_length=1, max_length=200)
    kind: Literal["complaint", "feedback", "service_request"] | None = None
    category: TicketCategory | None = None
    responsibility: Responsibility | None = Field(None, description="Whose fault it was (complaints: required).")
    apology_given: bool | None = None
    remedy: Remedy | None = Field(None, description="The remedy the customer accepted.")
    remedy_detail: str = Field("", max_length=2000)
    prevention: PreventionAction | None = Field(
        None, description="What is done so the same problem does not reach the next customer.")


class TicketAssigned(Event):
    """A ticket was given to a person (``assignee``) or a team queue; reassignment likewise."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    assignee: str | None
    queue: str | None = None
    previous_assignee: str | None = None
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class TicketEscalated(Event):
    """A ticket was escalated to a manager, who now handles it."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    to: str = Field(min_length=1, max_length=200)
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class TicketResponded(Event):
    """Someone answered the customer; the first answer stops the first-response clock."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    by: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=10_000)
    first: bool = Field(description="The ticket's first response.")


class TicketNoteAdded(Event):
    """An investigation note; it may also record the finding (responsibility, category)."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    by: str = Field(min_length=1, max_length=200)
    note: str = Field(min_length=1, max_length=10_000)
    responsibility: Responsibility | None = None
    category: TicketCategory | None = None


class TicketStatusChanged(Event):
    """Open ↔ waiting on the customer (the resolution clock pauses while waiting), or closed."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    status: TicketStatus
    previous_status: TicketStatus
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class TicketRemedyProposed(Event):
    """A remedy was put to the customer, who accepts or rejects it."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    remedy_id: uuid.UUID
    remedy: Remedy
    detail: str = Field("", max_length=2000)
    compensation: Money | None = None
    responsibility: Responsibility | None = None
    apology_given: bool | None = None
    by: str = Field(min_length=1, max_length=200)


class TicketRemedyAnswered(Event):
    """The customer's answer to a proposed remedy: a rejected one keeps the ticket open."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    remedy_id: uuid.UUID
    accepted: bool
    comment: str = Field("", max_length=2000)
    by: str = Field(min_length=1, max_length=200)


class TicketReopened(Event):
    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class TicketSlaBreached(Event):
    """A ticket's promised time ran out (``occurred_at`` is the due time), raised once per clock."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    clock: SlaClock
    kind: Literal["complaint", "feedback", "service_request"]
    priority: TicketPriority
    due_at: AwareDatetime
    assignee: str | None = None
    as_of: AwareDatetime = Field(description="The sweep's time that found it.")


class TicketSatisfactionRecorded(Event):
    """The customer's satisfaction with how a ticket was resolved, 1 (very unhappy) to 5."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)
    by: str = Field(min_length=1, max_length=200)


class PreventionActionCompleted(Event):
    """A prevention action agreed at a ticket's resolution was done."""

    service: ClassVar[str] = "tickets"

    ticket_id: uuid.UUID
    action_id: uuid.UUID
    category: TicketCategory | None = None
    by: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


# --- insights -------------------------------------------------------------------------------
# What insights concludes about a customer. Each carries the rule version and its evidence so a
# subscriber can show why, and a replay can be compared with what was published. ``occurred_at``
# is the business time the condition became true (for an overdue purchase: the day the gap
# passed the customer's own threshold), not the time insights noticed.

AlertKind = Literal["purchase_overdue", "quantity_drop", "value_drop", "churn_risk", "stage_decline",
                    "complaint_unanswered"]
LifecycleStage = Literal["exploration", "formation", "stability", "decline", "lost"]
Segment = Literal["prospect", "champions", "loyal", "potential", "at_risk", "hibernating", "lost"]


class AlertEvidence(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    baseline: float | None = Field(None, description="The customer's own usual value (gap in days, quantity, ...).")
    observed: float | None = Field(None, description="What was observed.")
    threshold: float | None = Field(None, description="The value the rule compares the observation with.")
    unit: str = Field("", description="days, quantity, amount or probability.")
    event_ids: list[uuid.UUID] = Field(default_factory=list, description="The events that triggered the rule.")
    ticket_id: uuid.UUID | None = Field(None, description="The ticket it is about (complaint_unanswered).")
    due_at: AwareDatetime | None = Field(None, description="When the ticket's first answer was due "
                                         "(complaint_unanswered; `observed` is then the hours late).")


class CustomerAlertRaised(Event):
    service: ClassVar[str] = "insights"

    alert_id: uuid.UUID
    kind: AlertKind
    rule_version: str
    evidence: AlertEvidence


class CustomerAlertCleared(Event):
    service: ClassVar[str] = "insights"

    alert_id: uuid.UUID
    kind: AlertKind
    rule_version: str
    reason: str = Field(description="Why it no longer holds, e.g. purchase, recovered, basket_recovered.")
    evidence: AlertEvidence


class LifecycleStageChanged(Event):
    service: ClassVar[str] = "insights"

    previous_stage: LifecycleStage | None
    stage: LifecycleStage
    reason: str = Field(description="Machine-readable reason code, e.g. overdue_gap, regular_rhythm.")
    rule_version: str
    evidence: AlertEvidence


class SegmentChanged(Event):
    service: ClassVar[str] = "insights"

    previous_segment: Segment | None
    segment: Segment
    recency_score: int = Field(ge=0, le=5)
    frequency_score: int = Field(ge=0, le=5)
    monetary_score: int = Field(ge=0, le=5)
    rule_version: str


class AlertAcknowledged(Event):
    """Someone of the shop took an alert in hand (a call, a visit) and said what they did. The alert
    stays open until its condition clears: acknowledged is not cleared. ``occurred_at`` is when it
    was acknowledged."""

    service: ClassVar[str] = "insights"

    alert_id: uuid.UUID
    kind: AlertKind
    note: str = Field(min_length=1, max_length=1000, description="What was done, in the words of who did it.")
    acknowledged_by: str = Field(min_length=1, max_length=200,
                                 description="Who acknowledged it: the name of the token or person.")


class CreditEvidence(BaseModel):
    """A customer's payment behaviour as insights read it from kehu.orders."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instalments_due: int = Field(ge=0, description="Instalments whose due date has passed.")
    share_on_time: float | None = Field(None, ge=0, le=1, description="Of those, the share paid in full by the due date.")
    average_days_late: float | None = Field(None, ge=0, description="Days past due of the late ones, on average.")
    outstanding: Money = Field(description="Unpaid, due or not.")
    overdue: Money = Field(description="Unpaid and past due.")
    longest_overdue_days: int = Field(ge=0, description="The oldest unpaid instalment's days past due.")
    event_ids: list[uuid.UUID] = Field(default_factory=list, description="The events that changed the tier.")


class CreditStandingChanged(Event):
    """A customer's credit tier changed: A good payer, B normal, C watch, D hold (docs/credit.md)."""

    service: ClassVar[str] = "insights"

    previous_tier: CreditTier | None
    tier: CreditTier
    reason: str = Field(description="Machine-readable reason code, e.g. long_overdue, always_on_time.")
    rule_version: str
    evidence: CreditEvidence


EVENT_TYPES: dict[str, type[Event]] = {
    cls.ce_type(): cls
    for cls in (
        CustomerRegistered, CustomerProfileUpdated, CustomerCategoryChanged, CustomerOwnerAssigned,
        CustomerReturnedToPool, ChannelIdentityLinked, ChannelIdentityUnlinked, ContactPersonAdded,
        ContactPersonRemoved, FollowUpLogged, CustomersMerged, CustomerMergeUndone,
        OrderPlaced, OrderStatusChanged, OrderCancelled, OrderReturned, ReceivableScheduled, PaymentRecorded,
        PaymentOverdue, InvoiceIssued, CreditNoteIssued, CreditTermsSet, OrderApprovalDecided,
        ComplaintFiled, FeedbackReceived, ServiceRequested, TicketResolved, TicketAssigned, TicketEscalated,
        TicketResponded, TicketNoteAdded, TicketStatusChanged, TicketRemedyProposed, TicketRemedyAnswered,
        TicketReopened, TicketSlaBreached, TicketSatisfactionRecorded, PreventionActionCompleted,
        CustomerAlertRaised, CustomerAlertCleared, LifecycleStageChanged, SegmentChanged, AlertAcknowledged,
        CreditStandingChanged,
    )
}
TOPICS = ("kehu.contacts", "kehu.orders", "kehu.tickets", "kehu.insights")


# --- envelope -------------------------------------------------------------------------------


class MalformedEvent(Exception):
    """A record that is not a valid kehu event: it goes to the dead-letter topic."""


@dataclass(frozen=True)
class Envelope:
    """A CloudEvent as kehu moves it: attributes plus the JSON data, still undecoded."""

    id: uuid.UUID
    type: str
    source: str
    subject: str
    time: datetime
    data: bytes
    traceparent: str | None = None

    def to_record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Kafka binary content mode: (key, value, headers)."""
        headers = [
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_id", str(self.id).encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        return self.subject.encode(), self.data, headers

    @classmethod
    def from_record(cls, value: bytes | None, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Envelope:
        attrs: dict[str, str] = {}
        try:
            for name, raw in headers:
                attrs[name] = raw.decode()
        except (UnicodeDecodeError, AttributeError) as exc:
            raise MalformedEvent(f"header is not UTF-8: {exc}") from exc
        if attrs.get("ce_specversion") != SPECVERSION:
            raise MalformedEvent(f"ce_specversion must be {SPECVERSION}, got {attrs.get('ce_specversion')!r}")
        missing = [h for h in ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time") if not attrs.get(h)]
        if missing:
            raise MalformedEvent(f"missing CloudEvents header(s): {', '.join(missing)}")
        if value is None:
            raise MalformedEvent("record has no value")
        try:
            event_id = uuid.UUID(attrs["ce_id"])
        except ValueError as exc:
            raise MalformedEvent(f"ce_id is not a UUID: {attrs['ce_id']!r}") from exc
        try:
            time = datetime.fromisoformat(attrs["ce_time"])
        except ValueError as exc:
            raise MalformedEvent(f"ce_time is not RFC 3339: {attrs['ce_time']!r}") from exc
        if time.tzinfo is None or "T" not in attrs["ce_time"]:
            raise MalformedEvent(f"ce_time is not RFC 3339 (date, time and offset): {attrs['ce_time']!r}")
        return cls(
            id=event_id,
            type=attrs["ce_type"],
            source=attrs["ce_source"],
            subject=attrs["ce_subject"],
            time=time,
            data=value,
            traceparent=attrs.get("traceparent"),
        )

    def decode(self) -> Event:
        """The typed event; raises MalformedEvent for unknown types and invalid data."""
        cls = EVENT_TYPES.get(self.type)
        if cls is None:
            raise MalformedEvent(f"unknown event type {self.type!r}")
        try:
            event = cls.model_validate_json(self.data)
        except ValidationError as exc:
            raise MalformedEvent(f"{self.type}: {_first_errors(exc)}") from exc
        if str(event.customer_id) != self.subject:
            raise MalformedEvent(f"ce_subject {self.subject!r} is not the event's customer_id")
        return event


def envelope_for(event: Event, *, event_id: uuid.UUID | None = None, recorded_at: datetime | None = None) -> Envelope:
    return Envelope(
        id=event_id or new_id(),
        type=event.ce_type(),
        source=f"/kehu/{event.service}",
        subject=str(event.customer_id),
        time=recorded_at or datetime.now(UTC),
        data=event_json(event),
    )


def event_json(event: Event) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(data)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def new_id() -> uuid.UUID:
    """A time-ordered UUID (version 7) for index locality."""
    return uuid7()


_uuid7_lock = threading.Lock()
_uuid7_last = (0, 0)  # (unix ms, the 74 bits after it) of the last id this process made


def _uuid7_forget() -> None:
    global _uuid7_last
    _uuid7_last = (0, 0)  # a forked child counts on its own: from fresh random bits, never the parent's


os.register_at_fork(after_in_child=_uuid7_forget)


def uuid7() -> uuid.UUID:
    """RFC 9562 version 7, strictly increasing within the process (its method 2): ids made in
    one millisecond count up from a random start, so events written together (an import's two
    orders at one time) keep the order they were made in, as the timeline's tie-break."""
    global _uuid7_last
    with _uuid7_lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _uuid7_last
        if ms > last_ms:
            rand = int.from_bytes(os.urandom(10), "big") >> 7  # 73 of the 74 bits: room to count up
        else:  # the same millisecond, or the clock went back
            ms, rand = last_ms, last_rand + 1
        _uuid7_last = (ms, rand)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
