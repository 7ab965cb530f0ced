"""Pool rules (公海) as pure functions of the facts and an as_of: returns, claims, releases, registration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.contacts.domain.customers import NewCustomer
from services.contacts.domain.pool import (
    ClaimRefused,
    Handover,
    Holding,
    OwnershipFacts,
    RuleLimits,
    check_assign,
    check_claim,
    check_release,
    claimer_of,
    due_for_pool,
    owner_for_registration,
    returned_event,
)
from shared.errors import Conflict, Forbidden

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CID = uuid.UUID("01900000-0000-7000-8000-000000000001")


def facts(*, owner_since: datetime | None = T0, follow_up: datetime | None = None, order: datetime | None = None,
          category: str = "potential") -> OwnershipFacts:
    return OwnershipFacts(CID, category, "wang", created_at=T0 - 100 * DAY, owner_since=owner_since,  # type: ignore[arg-type]
                          last_follow_up_at=follow_up, last_order_at=order)


FOLLOW_30 = {"potential": RuleLimits(no_follow_up_days=30, reclaim_days=7)}
ORDER_60 = {"potential": RuleLimits(no_order_days=60)}


# --- returns to the pool ---------------------------------------------------------------------


def test_no_follow_up_allows_n_whole_days_and_returns_on_day_n_plus_one() -> None:
    assert due_for_pool([facts()], FOLLOW_30, T0 + 30 * DAY) == []
    assert due_for_pool([facts()], FOLLOW_30, T0 + 31 * DAY - timedelta(seconds=1)) == []
    [ret] = due_for_pool([facts()], FOLLOW_30, T0 + 31 * DAY)
    assert (ret.rule, ret.days_without, ret.limit_days, ret.previous_owner) == ("no_follow_up", 31, 30, "wang")
    assert ret.since == T0
    assert ret.reclaim_after == T0 + 31 * DAY + 7 * DAY


def test_a_follow_up_restarts_the_clock_from_the_follow_up() -> None:
    followed = facts(follow_up=T0 + 10 * DAY)
    assert due_for_pool([followed], FOLLOW_30, T0 + 40 * DAY) == []
    [ret] = due_for_pool([followed], FOLLOW_30, T0 + 41 * DAY)
    assert ret.since == T0 + 10 * DAY and ret.days_without == 31


def test_owner_since_resets_the_clock_for_a_new_owner_even_after_an_old_follow_up() -> None:
    # The last follow-up was long ago (by the previous owner); the new owner gets the full 30 days.
    handed = facts(owner_since=T0 + 50 * DAY, follow_up=T0)
    assert due_for_pool([handed], FOLLOW_30, T0 + 80 * DAY) == []
    [ret] = due_for_pool([handed], FOLLOW_30, T0 + 81 * DAY)
    assert ret.since == T0 + 50 * DAY


def test_no_order_rule_at_its_boundary() -> None:
    ordered = facts(order=T0 + 5 * DAY)
    assert due_for_pool([ordered], ORDER_60, T0 + 65 * DAY) == []
    [ret] = due_for_pool([ordered], ORDER_60, T0 + 66 * DAY)
    assert (ret.rule, ret.days_without, ret.limit_days) == ("no_order", 61, 60)
    assert ret.reclaim_after is None  # no reclaim_days: the previous owner may claim back at once


def test_a_customer_registered_before_owner_since_existed_counts_from_registration() -> None:
    old = facts(owner_since=None)  # created_at = T0 - 100 days
    [ret] = due_for_pool([old], FOLLOW_30, T0)
    assert ret.since == T0 - 100 * DAY and ret.days_without == 100


def test_the_follow_up_rule_is_reported_before_the_order_rule_and_once() -> None:
    both = {"potential": RuleLimits(no_follow_up_days=30, no_order_days=30)}
    returned = due_for_pool([facts()], both, T0 + 40 * DAY)
    assert [r.rule for r in returned] == ["no_follow_up"]
    only_order_due = facts(follow_up=T0 + 20 * DAY)
    assert [r.rule for r in due_for_pool([only_order_due], both, T0 + 40 * DAY)] == ["no_order"]


def test_no_rule_for_a_category_returns_nobody() -> None:
    assert due_for_pool([facts(category="current")], FOLLOW_30, T0 + 1000 * DAY) == []
    assert due_for_pool([facts()], {"potential": RuleLimits(max_per_owner=5)}, T0 + 1000 * DAY) == []


def test_the_return_event_carries_its_evidence() -> None:
    [ret] = due_for_pool([facts()], FOLLOW_30, T0 + 31 * DAY)
    event = returned_event(ret, as_of=T0 + 31 * DAY, returned_by="pool sweeper")
    assert (event.rule, event.days_without, event.limit_days, event.previous_owner) == ("no_follow_up", 31, 30, "wang")
    assert event.reclaim_after == T0 + 38 * DAY and event.occurred_at == T0 + 31 * DAY


def test_rule_limits_must_be_positive_or_null() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        RuleLimits(no_follow_up_days=0)
    with pytest.raises(ValueError):
        RuleLimits.model_validate({"max_per_owner": 3, "unknown": 1})
    assert RuleLimits(max_per_owner=None).max_per_owner is None


# --- claims ----------------------------------------------------------------------------------


def pooled(**kw: object) -> Holding:
    return Holding(CID, "potential", None, **kw)  # type: ignore[arg-type]


def test_a_pool_customer_can_be_claimed() -> None:
    check_claim(pooled(), "wang", held=0, rule=None, as_of=T0)


def test_a_claim_of_an_owned_customer_names_the_owner() -> None:
    with pytest.raises(ClaimRefused, match="li looks after them") as refused:
        check_claim(Holding(CID, "potential", "li"), "wang", held=0, rule=None, as_of=T0)
    assert refused.value.status == 409 and refused.value.extra["code"] == "not_in_pool"
    with pytest.raises(ClaimRefused, match="already yours"):
        check_claim(Holding(CID, "potential", "wang"), "wang", held=0, rule=None, as_of=T0)


def test_max_per_owner_counts_the_claimers_customers_of_the_category() -> None:
    rule = RuleLimits(max_per_owner=3)
    check_claim(pooled(), "wang", held=2, rule=rule, as_of=T0)
    with pytest.raises(ClaimRefused, match=r"you already hold 3 potential customers; .* at most 3") as refused:
        check_claim(pooled(), "wang", held=3, rule=rule, as_of=T0)
    assert refused.value.extra["limit"] == 3 and refused.value.extra["held"] == 3


def test_the_previous_owner_may_not_reclaim_before_reclaim_after() -> None:
    locked = pooled(previous_owner="wang", reclaim_after=T0 + 7 * DAY)
    with pytest.raises(ClaimRefused, match="from 2026-01-08") as refused:
        check_claim(locked, "wang", held=0, rule=None, as_of=T0 + 7 * DAY - timedelta(seconds=1))
    assert refused.value.extra["code"] == "reclaim_lock"
    check_claim(locked, "wang", held=0, rule=None, as_of=T0 + 7 * DAY)  # the boundary: allowed
    check_claim(locked, "li", held=0, rule=None, as_of=T0)  # anyone else at once


def test_claiming_needs_an_owner_id() -> None:
    with pytest.raises(Forbidden, match="needs an owner id"):
        claimer_of(None)
    assert claimer_of("wang") == "wang"


# --- releases, assignments, handovers --------------------------------------------------------


def test_only_the_owner_or_a_manager_releases() -> None:
    owned = Holding(CID, "potential", "wang")
    assert check_release(owned, actor_owner="wang", may_assign=False) == "wang"
    assert check_release(owned, actor_owner=None, may_assign=True) == "wang"
    with pytest.raises(Forbidden, match="only wang"):
        check_release(owned, actor_owner="li", may_assign=False)
    with pytest.raises(Conflict, match="already in the pool"):
        check_release(pooled(), actor_owner="wang", may_assign=True)


def test_assigning_to_the_current_owner_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="already looked after by wang"):
        check_assign(Holding(CID, "potential", "wang"), "wang")
    check_assign(pooled(), "wang")


def test_a_handover_to_the_same_owner_is_a_conflict_naming_the_field() -> None:
    with pytest.raises(Conflict) as refused:
        Handover(from_owner="wang", to_owner="wang", reason="left").checked()
    assert refused.value.errors and refused.value.errors[0].field == "to_owner"


# --- registration ----------------------------------------------------------------------------


def test_a_salesperson_registers_for_themselves_by_default_and_never_for_another() -> None:
    mine = owner_for_registration(NewCustomer(name="张三"), scoped_owner="wang", scoped=True)
    assert mine.owner == "wang"
    with pytest.raises(Forbidden, match="not for li"):
        owner_for_registration(NewCustomer(name="张三", owner="li"), scoped_owner="wang", scoped=True)
    managed = owner_for_registration(NewCustomer(name="张三", owner="li"), scoped_owner=None, scoped=False)
    assert managed.owner == "li"
    assert owner_for_registration(NewCustomer(name="张三"), scoped_owner=None, scoped=False).owner is None
