"""Owner and public pool (公海): who answers for a customer, and when a customer goes back to the pool.

Every customer has an owner or sits in the pool (owner None). Pool rules are per category: back to
the pool after N days without a follow-up or M days without an order; an owner may hold at most K
customers of the category; a previous owner may not claim a returned customer back for D days.
``None`` is no limit, and no rule row is no rule at all: nothing returns and nothing is capped.

No I/O here: the store selects candidates, these functions decide (so SQL and rules agree, the
candidate query is only a narrowing: see ``sql/pool.sql``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import Category, NewCustomer
from shared.errors import Conflict, FieldProblem, Forbidden
from shared.events import CustomerOwnerAssigned, CustomerReturnedToPool, OwnerChange, PoolRule

CATEGORIES: tuple[Category, ...] = ("potential", "prospective", "current", "lost")
Days = Annotated[int, Field(gt=0, le=36500)]
Owner = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class RuleLimits(BaseModel):
    """A category's pool rule, as ``PUT /pool/rules/{category}`` takes it; null is no limit."""

    model_config = ConfigDict(extra="forbid")

    no_follow_up_days: Days | None = Field(
        None, description="Back to the pool after this many days without a follow-up (counted from the last "
        "follow-up, or from when the owner took the customer if later).")
    no_order_days: Days | None = Field(
        None, description="Back to the pool after this many days without an order (from the last order, or "
        "from when the owner took the customer if later).")
    max_per_owner: Days | None = Field(None, description="Most customers of this category one owner may hold.")
    reclaim_days: Days | None = Field(
        None, description="Days a previous owner must wait before claiming a returned customer back.")


class PoolRules(RuleLimits):
    """A category's rule as stored: the limits, who set them and when."""

    model_config = ConfigDict(extra="ignore")

    category: Category
    updated_at: datetime | None = None
    updated_by: str | None = None


# What the console suggests for a category without a rule; nothing is imposed until a manager
# saves a rule (a shop that never sets one never sees a customer taken away).
SUGGESTED: Mapping[Category, RuleLimits] = {
    "potential": RuleLimits(no_follow_up_days=30, max_per_owner=500, reclaim_days=30),
    "prospective": RuleLimits(no_follow_up_days=15, no_order_days=90, max_per_owner=200, reclaim_days=30),
    "current": RuleLimits(no_follow_up_days=60, no_order_days=180, reclaim_days=30),
    "lost": RuleLimits(no_follow_up_days=90, reclaim_days=30),
}


# --- returns to the pool ---------------------------------------------------------------------


@dataclass(frozen=True)
class OwnershipFacts:
    """What the pool rules read of a customer who has an owner."""

    customer_id: uuid.UUID
    category: Category
    owner: str
    created_at: datetime
    owner_since: datetime | None = None
    last_follow_up_at: datetime | None = None
    last_order_at: datetime | None = None


@dataclass(frozen=True)
class PoolReturn:
    """A customer due back in the pool, with the evidence: which rule, since when, how long."""

    customer_id: uuid.UUID
    previous_owner: str
    rule: PoolRule
    since: datetime
    days_without: int
    limit_days: int
    reclaim_after: datetime | None


def clock_start(event_at: datetime | None, facts: OwnershipFacts) -> datetime:
    """A rule's clock starts at the later of the last event (follow-up, order) and when the owner took
    the customer: a new owner gets the full period. Customers registered before owners had a start
    count from their registration."""
    held_from = facts.owner_since or facts.created_at
    return max(event_at, held_from) if event_at is not None else held_from


def days_between(since: datetime, as_of: datetime) -> int:
    """Whole days elapsed (a day and a half is one day)."""
    return (as_of - since) // timedelta(days=1)


def overdue(since: datetime, limit_days: int, as_of: datetime) -> bool:
    """A limit of N days allows N whole days; the customer returns once N+1 have passed
    ("no follow-up for 31 days, limit 30")."""
    return days_between(since, as_of) > limit_days


def reclaim_after(as_of: datetime, rule: RuleLimits | None) -> datetime | None:
    return as_of + timedelta(days=rule.reclaim_days) if rule and rule.reclaim_days else None


def due_for_pool(
    customers: Sequence[OwnershipFacts], rules: Mapping[str, RuleLimits], as_of: datetime
) -> list[PoolReturn]:
    """The customers whose category's rule has run out at ``as_of``: one return each, the
    follow-up rule before the order rule when both have."""
    returns: list[PoolReturn] = []
    for facts in customers:
        rule = rules.get(facts.category)
        if rule is None:
            continue
        checks: list[tuple[PoolRule, int | None, datetime | None]] = [
            ("no_follow_up", rule.no_follow_up_days, facts.last_follow_up_at),
            ("no_order", rule.no_order_days, facts.last_order_at),
        ]
        for name, limit, event_at in checks:
            if limit is None:
                continue
            since = clock_start(event_at, facts)
            if overdue(since, limit, as_of):
                returns.append(PoolReturn(facts.customer_id, facts.owner, name, since, days_between(since, as_of),
                                          limit, reclaim_after(as_of, rule)))
                break
    return returns


def returned_event(ret: PoolReturn, *, as_of: datetime, returned_by: str) -> CustomerReturnedToPool:
    return CustomerReturnedToPool(
        customer_id=ret.customer_id, occurred_at=as_of, previous_owner=ret.previous_owner, rule=ret.rule,
        days_without=ret.days_without, limit_days=ret.limit_days, reclaim_after=ret.reclaim_after,
        returned_by=returned_by)


def released_event(customer_id: uuid.UUID, *, previous_owner: str, at: datetime, reclaim_after: datetime | None,
                   by: str, reason: str) -> CustomerReturnedToPool:
    return CustomerReturnedToPool(customer_id=customer_id, occurred_at=at, previous_owner=previous_owner,
                                  rule="released", reclaim_after=reclaim_after, returned_by=by, reason=reason)


# --- claims, releases, assignments -----------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """A customer's ownership as it stands."""

    customer_id: uuid.UUID
    category: Category
    owner: str | None
    previous_owner: str | None = None
    reclaim_after: datetime | None = None


class ClaimRefused(Conflict):
    """409: why a salesperson may not take this customer from the pool (the rule, the holder)."""

    def __init__(self, detail: str, rule: str, **extra: Any) -> None:
        super().__init__(detail, title="Claim refused", code=rule, **extra)


def check_claim(holding: Holding, claimer: str, *, held: int, rule: RuleLimits | None, as_of: datetime) -> None:
    """Refuse a claim with the reason: not in the pool, the claimer at their limit, or the claimer
    the previous owner still within the reclaim period. ``held``: the claimer's customers of the
    customer's category."""
    if holding.owner == claimer:
        raise ClaimRefused(f"customer {holding.customer_id} is already yours", "already_owner", owner=claimer)
    if holding.owner is not None:
        raise ClaimRefused(f"customer {holding.customer_id} is not in the pool: {holding.owner} looks after them",
                           "not_in_pool", owner=holding.owner)
    if rule is not None and rule.max_per_owner is not None and held >= rule.max_per_owner:
        raise ClaimRefused(
            f"you already hold {held} {holding.category} customers; the pool rule allows at most "
            f"{rule.max_per_owner} per owner", "max_per_owner", limit=rule.max_per_owner, held=held)
    if holding.previous_owner == claimer and holding.reclaim_after is not None and as_of < holding.reclaim_after:
        raise ClaimRefused(
            f"customer {holding.customer_id} returned to the pool from you; you may claim them back from "
            f"{holding.reclaim_after.isoformat()}", "reclaim_lock", reclaim_after=holding.reclaim_after.isoformat())


def claimer_of(owner: str | None) -> str:
    """The owner id a claim gives the customer: the person's own."""
    if not owner:
        raise Forbidden("claiming a customer needs an owner id, and yours is not set: ask an admin to set it "
                        "(People), or ask a manager to assign the customer", code="no_owner_id")
    return owner


def check_release(holding: Holding, *, actor_owner: str | None, may_assign: bool) -> str:
    """The owner a release takes the customer from: only their owner or a manager releases."""
    if holding.owner is None:
        raise Conflict(f"customer {holding.customer_id} is already in the pool", code="in_pool")
    if not may_assign and actor_owner != holding.owner:
        raise Forbidden(f"only {holding.owner} (the owner) or a manager may release customer "
                        f"{holding.customer_id} to the pool", code="not_owner", owner=holding.owner)
    return holding.owner


def check_assign(holding: Holding, new_owner: str) -> None:
    if holding.owner == new_owner:
        raise Conflict(f"customer {holding.customer_id} is already looked after by {new_owner}",
                       code="already_owner", owner=new_owner)


def assigned_event(customer_id: uuid.UUID, *, owner: str, previous_owner: str | None, how: OwnerChange,
                   by: str, at: datetime, reason: str | None = None,
                   handover_id: uuid.UUID | None = None) -> CustomerOwnerAssigned:
    return CustomerOwnerAssigned(customer_id=customer_id, occurred_at=at, owner=owner, previous_owner=previous_owner,
                                 how=how, assigned_by=by, handover_id=handover_id, reason=reason)


# --- handover and registration ---------------------------------------------------------------


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason = Field(description="Why the customer goes back to the pool (kept in the history).")


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    owner: Owner = Field(description="The owner id of the staff member who will look after the customer.")
    reason: Reason


class Handover(BaseModel):
    """Every customer of one owner to another, in one transaction (someone leaves or changes team)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    from_owner: Owner
    to_owner: Owner
    reason: Reason
    categories: list[Category] | None = Field(
        None, min_length=1, description="Only customers of these categories; default all.")

    def checked(self) -> Handover:
        if self.from_owner == self.to_owner:  # well-formed, but there is nothing to do: a conflict, not a 422
            raise Conflict(f"to_owner is from_owner ({self.to_owner}): a handover moves customers to someone else",
                           code="same_owner", errors=[FieldProblem("to_owner", "the same as from_owner")])
        return self


def owner_for_registration(new: NewCustomer, *, scoped_owner: str | None, scoped: bool, field: str = "owner"
                           ) -> NewCustomer:
    """A salesperson registers customers for themselves: the owner defaults to them, and naming
    another owner is refused (a manager assigns). Others register for anyone, or for the pool."""
    if not scoped:
        return new
    if new.owner is not None and new.owner != scoped_owner:
        raise Forbidden(
            f"a salesperson registers customers for themselves ({scoped_owner or 'no owner id'}), not for "
            f"{new.owner}: leave the owner empty, or ask a manager to assign the customer", code="out_of_scope",
            field=field)
    return new if new.owner is not None else new.model_copy(update={"owner": scoped_owner})

