"""Credit decisions at order time: who is checked, what refuses an order, what waits for a manager."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.orders.domain.credit import (
    ApprovalDecision,
    CreditRefused,
    NewCreditTerms,
    approval_events,
    available,
    decide,
    same_terms,
)
from services.orders.domain.orders import NewOrder
from services.orders.domain.receivables import CreditTerms
from shared.events import CreditTier

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CUSTOMER = uuid.UUID("01900000-0000-7000-8000-000000000001")


def terms(limit: str | None = "1000.00", when_exceeded: str = "refuse") -> CreditTerms:
    return CreditTerms(CUSTOMER, 30, None if limit is None else Decimal(limit), when_exceeded,  # type: ignore[arg-type]
                       "boss", "good customer", NOW)


def judged(*, with_terms: CreditTerms | None, tier: CreditTier | None = None, outstanding: str = "0.00",
           total: str = "100.00", paid_at_once: bool = False) -> str:
    return decide(terms=with_terms, paid_at_once=paid_at_once, tier=tier, outstanding=Decimal(outstanding),
                  total=Decimal(total)).outcome


def test_a_customer_on_hold_is_refused_whatever_the_limit() -> None:
    decision = decide(terms=terms(None), paid_at_once=False, tier="D", outstanding=Decimal(0), total=Decimal("1.00"))
    assert (decision.outcome, decision.why) == ("refused", "on_hold")


def test_an_order_that_takes_what_is_owed_above_the_limit_is_refused_and_one_up_to_it_placed() -> None:
    assert judged(with_terms=terms("1000.00"), tier="B", outstanding="900.00", total="100.01") == "refused"
    assert judged(with_terms=terms("1000.00"), tier="B", outstanding="900.00", total="100.00") == "placed"
    over = decide(terms=terms("1000.00"), paid_at_once=False, tier="C", outstanding=Decimal("900.00"),
                  total=Decimal("150.00"))
    assert (over.why, over.tier, over.outstanding, over.credit_limit) == ("over_limit", "C", Decimal("900.00"),
                                                                           Decimal("1000.00"))


def test_in_approval_mode_a_stopped_order_waits_for_a_manager() -> None:
    assert judged(with_terms=terms("100.00", "approval"), outstanding="50.00", total="60.00") == "pending_approval"
    assert judged(with_terms=terms(None, "approval"), tier="D") == "pending_approval"
    assert judged(with_terms=terms("100.00", "approval"), outstanding="0.00", total="60.00") == "placed"


def test_an_order_paid_at_once_is_never_refused() -> None:
    assert judged(with_terms=terms("0.00"), tier="D", outstanding="5000.00", paid_at_once=True) == "not_checked"


def test_a_customer_without_terms_is_never_checked() -> None:
    assert judged(with_terms=None, tier="D", outstanding="5000.00", total="99999.00") == "not_checked"


def test_no_limit_means_only_a_hold_refuses() -> None:
    assert judged(with_terms=terms(None), tier="C", outstanding="1000000.00", total="99999.00") == "placed"


def test_a_zero_limit_refuses_every_order_on_account() -> None:
    assert judged(with_terms=terms("0.00"), total="0.01") == "refused"


def test_the_refusal_names_tier_outstanding_limit_and_total() -> None:
    decision = decide(terms=terms("1000.00"), paid_at_once=False, tier="B", outstanding=Decimal("900.00"),
                      total=Decimal("150.00"))
    refused = CreditRefused(decision)
    assert refused.status == 409
    assert refused.extra == {"code": "credit_refused", "why": "over_limit", "tier": "B", "outstanding": "900.00",
                             "limit": "1000.00", "total": "150.00", "available": "100.00"}
    assert "1000.00" in refused.detail and "900.00" in refused.detail


def test_available_is_never_below_zero_and_none_without_a_limit() -> None:
    assert available(Decimal("100.00"), Decimal("250.00")) == Decimal("0.00")
    assert available(Decimal("100.00"), Decimal("25.00")) == Decimal("75.00")
    assert available(None, Decimal("25.00")) is None


def test_the_same_terms_again_change_nothing() -> None:
    new = NewCreditTerms(payment_days=30, credit_limit=Decimal("1000"), when_exceeded="refuse", reason="again")
    assert same_terms(terms("1000.00"), new)
    assert not same_terms(terms("999.00"), new)
    assert not same_terms(None, new)


def test_terms_need_a_reason_and_sane_days() -> None:
    with pytest.raises(ValidationError):
        NewCreditTerms(payment_days=30, credit_limit=None, reason="")
    with pytest.raises(ValidationError):
        NewCreditTerms(payment_days=400, credit_limit=None, reason="x")


def test_a_refused_approval_cancels_the_order_and_an_approved_one_does_not() -> None:
    order = uuid.uuid4()
    decided, cancelled = approval_events(customer_id=CUSTOMER, order_id=order, total=Decimal("10.00"),
                                         decision=ApprovalDecision(approved=False, reason="owes too much"),
                                         by="boss", now=NOW)
    assert not decided.approved and cancelled is not None
    assert (cancelled.previous_status, cancelled.reason) == ("pending_approval", "owes too much")
    decided, cancelled = approval_events(customer_id=CUSTOMER, order_id=order, total=Decimal("10.00"),
                                         decision=ApprovalDecision(approved=True, reason="pays next week"),
                                         by="boss", now=NOW)
    assert decided.approved and cancelled is None


def test_an_order_may_say_it_was_paid_at_once_and_carry_an_override() -> None:
    new = NewOrder.model_validate({"customer_id": str(CUSTOMER), "channel": "store", "paid_with": "wechat_pay",
                                   "credit_override": {"reason": "known for years"},
                                   "lines": [{"sku": "A", "quantity": "1", "unit_price": "1.00"}]})
    assert new.paid_with == "wechat_pay" and new.credit_override is not None
    with pytest.raises(ValidationError):
        NewOrder.model_validate({"customer_id": str(CUSTOMER), "channel": "store", "paid_with": "shells",
                                 "lines": [{"sku": "A", "quantity": "1", "unit_price": "1.00"}]})
