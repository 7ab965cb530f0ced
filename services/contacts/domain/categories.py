"""Customer categories: which change is allowed from where, what a loss reason means, and what a
first order does. No I/O: the store persists, the routes and the orders consumer translate.

The transitions (docs/categories.md):

============  ======================================  =========================================
from          to, by a person                         why
============  ======================================  =========================================
potential     prospective, current, lost              a lead warms up; a first order can come at
                                                      any time; a lead can be gone
prospective   current, lost                           an order (or a signed deal); gone
current       lost                                    a customer who stopped buying, with a reason
lost          prospective                             win-back: talking again
============  ======================================  =========================================

Everything else is refused (409) with the rule and what is allowed from here: a customer is never
demoted (current → prospective, prospective → potential), and a lost customer comes back through
prospective, or through an order.

An order (``OrderPlaced`` on ``kehu.orders``) makes a potential, prospective or lost customer
current automatically (changed by ``kehu``, with the order's id). A lost customer who orders again
is won back: the change says "ordered again" and counts in the win-back rate like lost → prospective.

Loss kinds: moved away and closed down are *objective* (nothing a shop can do); price, service,
quality and competitor are *subjective* (worth a win-back). ``other`` counts as subjective: unless
the cause is known to be beyond the shop's reach, a call is worth trying, so the customer stays on
the win-back list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import MAX_CLOCK_SKEW
from shared.edge import NON_BLANK
from shared.errors import Conflict, FieldProblem, InFuture, Invalid
from shared.events import BusinessTime, CustomerCategory, CustomerCategoryChanged, LossKind, LossReason, OrderPlaced

CATEGORIES: tuple[CustomerCategory, ...] = get_args(CustomerCategory)
LOSS_REASONS: tuple[LossReason, ...] = get_args(LossReason)

ALLOWED: dict[CustomerCategory, tuple[CustomerCategory, ...]] = {
    "potential": ("prospective", "current", "lost"),
    "prospective": ("current", "lost"),
    "current": ("lost",),
    "lost": ("prospective",),
}
"""What a person may change a category to, from each category."""

BY_ORDER: frozenset[CustomerCategory] = frozenset({"potential", "prospective", "lost"})
"""The categories an order turns into current (a current customer stays current)."""

LOSS_KINDS: dict[LossReason, LossKind] = {
    "moved_away": "objective",
    "closed_down": "objective",
    "price": "subjective",
    "service": "subjective",
    "quality": "subjective",
    "competitor": "subjective",
    "other": "subjective",  # not known to be beyond reach: worth a win-back call
}

AUTOMATIC_ACTOR = "kehu"
FIRST_ORDER_REASON = "first order"
ORDERED_AGAIN_REASON = "ordered again"

CATEGORY_NOT_ALLOWED = "category_not_allowed"
"""The problem ``code`` of a 409 for a forbidden change."""


def allowed_next(category: CustomerCategory) -> tuple[CustomerCategory, ...]:
    """The categories a person may change a customer of ``category`` to."""
    return ALLOWED[category]


def loss_kind_of(reason: LossReason) -> LossKind:
    return LOSS_KINDS[reason]


def is_win_back(previous: CustomerCategory, category: CustomerCategory) -> bool:
    """A lost customer who became prospective or current again."""
    return previous == "lost" and category in ("prospective", "current")


class CategoryChange(BaseModel):
    """``POST /customers/{id}/category``: what a person asks for."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: CustomerCategory = Field(description="The new category.")
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK, description="Why, in the words of who changes it.")
    loss_reason: LossReason | None = Field(
        None, description="Why the customer was lost: required when `category` is `lost`, refused otherwise. "
        "moved_away and closed_down are objective; price, service, quality, competitor and other subjective.")
    as_of: BusinessTime | None = Field(
        None, description="Business time of the change, if before now (recorded late). Default: now.")


@dataclass(frozen=True)
class CategoryState:
    """What the category rules need to know of a customer."""

    customer_id: uuid.UUID
    category: CustomerCategory
    category_changed_at: datetime | None
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True)
class Change:
    """A category change decided: the customer's new columns and the event saying so."""

    category: CustomerCategory
    loss_reason: LossReason | None
    loss_kind: LossKind | None
    changed_at: datetime
    event: CustomerCategoryChanged


class CategoryNotAllowed(Conflict):
    """409: the change is not in the table; say why and what is allowed from here."""

    def __init__(self, customer_id: uuid.UUID, current: CustomerCategory, wanted: CustomerCategory) -> None:
        allowed = allowed_next(current)
        why = _WHY.get((current, wanted), "that change is not one of the allowed steps")
        super().__init__(
            f"customer {customer_id} is {current} and cannot become {wanted}: {why}. "
            f"From {current} a customer can become {' or '.join(allowed)}.",
            code=CATEGORY_NOT_ALLOWED, category=current, requested=wanted, allowed=list(allowed),
        )


_WHY: dict[tuple[CustomerCategory, CustomerCategory], str] = {
    ("current", "prospective"): "a customer who has ordered is never demoted; mark them lost if they stopped buying",
    ("current", "potential"): "a customer who has ordered is never demoted; mark them lost if they stopped buying",
    ("prospective", "potential"): "a prospect is not demoted to a mere lead; mark them lost if the lead is gone",
    ("lost", "potential"): "a lost customer is won back through prospective (talking again) or an order",
    ("lost", "current"): "a lost customer becomes current again by ordering; by hand, start with prospective",
}


class MergedCustomer(Conflict):
    def __init__(self, customer_id: uuid.UUID, survivor: uuid.UUID) -> None:
        super().__init__(f"customer {customer_id} was merged into {survivor}: change the category of {survivor}",
                         code="customer_merged", merged_into=str(survivor))


class ChangedInFuture(InFuture):
    field_name = "as_of"


class BeforeLastChange(Invalid):
    def __init__(self, as_of: datetime, last: datetime) -> None:
        message = (f"as_of {as_of.isoformat()} is before the customer's last category change "
                   f"({last.isoformat()}); a change cannot be put before it")
        super().__init__(f"as_of: {message}", errors=[FieldProblem("as_of", message, "before_last_change")])


def change_category(
    state: CategoryState, request: CategoryChange, *, changed_by: str, now: datetime
) -> Change | None:
    """The change a person asked for, or None when the customer is already in that category (no-op)."""
    if state.merged_into is not None:
        raise MergedCustomer(state.customer_id, state.merged_into)
    if request.category == "lost" and request.loss_reason is None:
        message = "required when category is lost: " + ", ".join(LOSS_REASONS)
        raise Invalid(f"loss_reason: {message}", errors=[FieldProblem("loss_reason", message, "missing")])
    if request.category != "lost" and request.loss_reason is not None:
        raise Invalid.field("loss_reason", f"only for category lost, not {request.category}")
    if request.category == state.category:
        return None
    if request.category not in allowed_next(state.category):
        raise CategoryNotAllowed(state.customer_id, state.category, request.category)
    changed_at = request.as_of or now
    if changed_at > now + MAX_CLOCK_SKEW:
        raise ChangedInFuture(changed_at)
    if state.category_changed_at is not None and changed_at < state.category_changed_at:
        raise BeforeLastChange(changed_at, state.category_changed_at)
    loss_kind = loss_kind_of(request.loss_reason) if request.loss_reason else None
    event = CustomerCategoryChanged(
        customer_id=state.customer_id, occurred_at=changed_at, previous_category=state.category,
        category=request.category, reason=request.reason, loss_reason=request.loss_reason, loss_kind=loss_kind,
        changed_by=changed_by,
    )
    return Change(request.category, request.loss_reason, loss_kind, changed_at, event)


def change_by_order(state: CategoryState, order: OrderPlaced) -> Change | None:
    """What an order does to the category: potential, prospective or lost → current; else nothing.

    Business time of the change is the order's; an order older than the last category change
    (an imported history, a late till) still makes a lead current, at the time of that last change
    so the history stays in order, but does not bring back a customer lost after it.
    """
    if state.merged_into is not None or state.category not in BY_ORDER:
        return None
    changed_at = order.occurred_at
    if state.category_changed_at is not None and changed_at < state.category_changed_at:
        if state.category == "lost":
            return None
        changed_at = state.category_changed_at
    reason = ORDERED_AGAIN_REASON if state.category == "lost" else FIRST_ORDER_REASON
    event = CustomerCategoryChanged(
        customer_id=state.customer_id, occurred_at=changed_at, previous_category=state.category, category="current",
        reason=reason, changed_by=AUTOMATIC_ACTOR, automatic=True, order_id=order.order_id,
    )
    return Change("current", None, None, changed_at, event)


# --- reports: the arithmetic the SQL leaves to Python -----------------------------------------


def days_since(then: datetime, as_of: datetime) -> int:
    """Whole days from ``then`` to ``as_of`` (0 when ``then`` is later)."""
    return max((as_of - then).days, 0)


def share(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None for an empty whole (no rate, rather than 0 %)."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class WinBackRate:
    loss_reason: LossReason
    loss_kind: LossKind
    lost: int
    won_back: int
    share: float | None


def win_back_rates(counts: dict[str, tuple[int, int]]) -> list[WinBackRate]:
    """One row per loss reason, in the order of ``LOSS_REASONS`` (zeros where none was lost)."""
    rows = []
    for reason in LOSS_REASONS:
        lost, won = counts.get(reason, (0, 0))
        rows.append(WinBackRate(reason, loss_kind_of(reason), lost, won, share(won, lost)))
    return rows


PREFERRED_CHANNELS = ("phone", "wechat_unionid", "wechat_openid", "email")


def reachable_by(channels: list[str], phone: str | None, email: str | None) -> list[str]:
    """How a lost customer can be reached, best first: phone, WeChat, email."""
    have = set(channels) | ({"phone"} if phone else set()) | ({"email"} if email else set())
    return [c for c in PREFERRED_CHANNELS if c in have]
