"""Credit at order time (docs/architecture.md §14.5): a customer's terms, the credit decision on an
order, and a manager's approval. Pure rules: no I/O.

Only an order *on account* is checked: the customer has terms and the order was not paid at once
(``paid_with``). A customer without terms pays at once, so nothing is owed and nothing is judged;
a till sale paid at once is never refused. Batches (imports of history, ``POST /orders/batch``)
are not checked: they record what was already sold and delivered, so refusing them would only
lose history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.orders.domain.receivables import CreditTerms
from shared.edge import NON_BLANK
from shared.errors import Conflict
from shared.events import CreditTermsSet, CreditTier, Money, OrderApprovalDecided, OrderCancelled

WhenExceeded = Literal["refuse", "approval"]
Why = Literal["on_hold", "over_limit"]
Outcome = Literal["not_checked", "placed", "pending_approval", "refused"]
HOLD: CreditTier = "D"


class NewCreditTerms(BaseModel):
    """What a manager sets: days to pay, a limit (none: no limit), what happens above it, and why."""

    model_config = ConfigDict(extra="forbid")

    payment_days: int = Field(ge=0, le=365, description="Days after the order its instalment falls due.")
    credit_limit: Money | None = Field(description="The most the customer may owe on account; null: no limit.")
    when_exceeded: WhenExceeded = Field(
        "refuse", description="refuse: an order over the limit (or of a customer on hold) is a 409; approval: it "
        "waits for a manager as `pending_approval`.")
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK, description="Why the terms are set (kept in their history).")


class TermsRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK, description="Why the customer pays at once from now on.")


class CreditOverride(BaseModel):
    """A manager places an order the credit check would refuse (or send for approval), with a reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool = Field(description="true: the order is placed (and owes on account); false: it is cancelled.")
    reason: str = Field(min_length=1, max_length=1000, pattern=NON_BLANK)


@dataclass(frozen=True)
class CreditDecision:
    """What the credit check says of one order, with the facts it judged on."""

    outcome: Outcome
    why: Why | None
    tier: CreditTier | None
    outstanding: Decimal
    credit_limit: Decimal | None
    total: Decimal

    @property
    def stopped(self) -> bool:
        """The order cannot simply be placed: refused or waiting for a manager."""
        return self.outcome in ("refused", "pending_approval")


def decide(*, terms: CreditTerms | None, paid_at_once: bool, tier: CreditTier | None, outstanding: Decimal,
           total: Decimal) -> CreditDecision:
    """The credit decision on an order of ``total``: a customer on hold (tier D) or an order that
    takes what is owed above the limit is refused, or waits for approval when the terms say so."""
    limit = terms.credit_limit if terms is not None else None
    if terms is None or paid_at_once:
        return CreditDecision("not_checked", None, tier, outstanding, limit, total)
    why: Why | None = None
    if tier == HOLD:
        why = "on_hold"
    elif limit is not None and outstanding + total > limit:
        why = "over_limit"
    if why is None:
        return CreditDecision("placed", None, tier, outstanding, limit, total)
    outcome: Outcome = "pending_approval" if terms.when_exceeded == "approval" else "refused"
    return CreditDecision(outcome, why, tier, outstanding, limit, total)


def available(limit: Decimal | None, outstanding: Decimal) -> Decimal | None:
    """What may still be bought on account (never below 0); None without a limit."""
    return None if limit is None else max(limit - outstanding, Decimal("0.00"))


class CreditRefused(Conflict):
    """409 naming why (``on_hold``, ``over_limit``) with the facts: tier, outstanding, limit, total."""

    def __init__(self, decision: CreditDecision) -> None:
        limit = None if decision.credit_limit is None else str(decision.credit_limit)
        if decision.why == "on_hold":
            detail = (f"the customer is on credit hold (tier D) and owes {decision.outstanding}: an order on "
                      "account is refused; take payment at once or ask a manager")
        else:
            detail = (f"the customer owes {decision.outstanding}; this order of {decision.total} would take it "
                      f"above the credit limit of {limit}: take payment at once or ask a manager")
        super().__init__(detail, title="Credit refused", code="credit_refused", why=decision.why,
                         tier=decision.tier, outstanding=str(decision.outstanding), limit=limit,
                         total=str(decision.total),
                         available=None if decision.credit_limit is None
                         else str(available(decision.credit_limit, decision.outstanding)))


def terms_set(customer_id: uuid.UUID, new: NewCreditTerms, *, by: str, now: datetime) -> CreditTermsSet:
    return CreditTermsSet(customer_id=customer_id, occurred_at=now, payment_days=new.payment_days,
                          credit_limit=new.credit_limit, when_exceeded=new.when_exceeded, set_by=by,
                          reason=new.reason)


def same_terms(current: CreditTerms | None, new: NewCreditTerms) -> bool:
    """Setting the terms a customer already has changes nothing (no event, no history line)."""
    return (current is not None and current.payment_days == new.payment_days
            and current.credit_limit == new.credit_limit and current.when_exceeded == new.when_exceeded)


# --- approvals --------------------------------------------------------------------------------


class NotPending(Conflict):
    def __init__(self, order_id: uuid.UUID, status: str) -> None:
        super().__init__(f"order {order_id} is {status}, not waiting for approval", code="not_pending",
                         status_now=status, allowed=[])


def approval_events(*, customer_id: uuid.UUID, order_id: uuid.UUID, total: Decimal, decision: ApprovalDecision,
                    by: str, now: datetime) -> tuple[OrderApprovalDecided, OrderCancelled | None]:
    """A manager's decision; a refusal also cancels the order (it owed nothing yet)."""
    decided = OrderApprovalDecided(customer_id=customer_id, occurred_at=now, order_id=order_id,
                                   approved=decision.approved, decided_by=by, reason=decision.reason)
    if decision.approved:
        return decided, None
    return decided, OrderCancelled(customer_id=customer_id, occurred_at=now, order_id=order_id,
                                   previous_status="pending_approval", total=total, reason=decision.reason,
                                   cancelled_by=by)


def override_event(*, customer_id: uuid.UUID, order_id: uuid.UUID, override: CreditOverride, by: str,
                   now: datetime) -> OrderApprovalDecided:
    return OrderApprovalDecided(customer_id=customer_id, occurred_at=now, order_id=order_id, approved=True,
                                decided_by=by, reason=override.reason)
