"""Category rules: every allowed and forbidden change, loss kinds, what an order does, report arithmetic."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.contacts.domain.categories import (
    ALLOWED,
    CATEGORIES,
    CATEGORY_NOT_ALLOWED,
    FIRST_ORDER_REASON,
    LOSS_REASONS,
    ORDERED_AGAIN_REASON,
    BeforeLastChange,
    CategoryChange,
    CategoryNotAllowed,
    CategoryState,
    ChangedInFuture,
    MergedCustomer,
    change_by_order,
    change_category,
    days_since,
    is_win_back,
    loss_kind_of,
    reachable_by,
    share,
    win_back_rates,
)
from shared.errors import Invalid
from shared.events import OrderLine, OrderPlaced

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CID = uuid.UUID("0190a0a0-0000-7000-8000-000000000001")

EXPECTED_ALLOWED = {
    ("potential", "prospective"), ("potential", "current"), ("potential", "lost"),
    ("prospective", "current"), ("prospective", "lost"),
    ("current", "lost"),
    ("lost", "prospective"),
}


def _state(category: str, changed_at: datetime | None = None, merged_into: uuid.UUID | None = None) -> CategoryState:
    return CategoryState(customer_id=CID, category=category, category_changed_at=changed_at,  # type: ignore[arg-type]
                         merged_into=merged_into)


def _ask(category: str, **fields: object) -> CategoryChange:
    if category == "lost":
        fields.setdefault("loss_reason", "price")
    return CategoryChange.model_validate({"category": category, "reason": "talked on the phone", **fields})


def _order(at: datetime, order_id: uuid.UUID | None = None) -> OrderPlaced:
    return OrderPlaced(customer_id=CID, occurred_at=at, order_id=order_id or uuid.uuid4(), channel="store",
                       currency="CNY", total=Decimal("9.50"),
                       lines=[OrderLine(sku="A1", quantity=Decimal(1), unit_price=Decimal("9.50"),
                                        amount=Decimal("9.50"))])


def test_the_table_is_exactly_the_documented_one() -> None:
    assert {(a, b) for a, tos in ALLOWED.items() for b in tos} == EXPECTED_ALLOWED


@pytest.mark.parametrize(("current", "wanted"), sorted(EXPECTED_ALLOWED))
def test_an_allowed_change_gives_the_new_columns_and_the_event(current: str, wanted: str) -> None:
    change = change_category(_state(current, NOW - timedelta(days=3)), _ask(wanted), changed_by="wang.li", now=NOW)

    assert change is not None
    assert change.category == wanted and change.changed_at == NOW
    assert change.event.previous_category == current and change.event.category == wanted
    assert change.event.changed_by == "wang.li" and change.event.reason == "talked on the phone"
    assert change.event.automatic is False and change.event.order_id is None
    if wanted == "lost":
        assert (change.loss_reason, change.loss_kind) == ("price", "subjective")
        assert (change.event.loss_reason, change.event.loss_kind) == ("price", "subjective")
    else:
        assert change.loss_reason is None and change.loss_kind is None


FORBIDDEN = sorted((a, b) for a, b in itertools.permutations(CATEGORIES, 2) if (a, b) not in EXPECTED_ALLOWED)


def test_every_other_change_is_forbidden() -> None:
    assert FORBIDDEN == sorted([("current", "potential"), ("current", "prospective"), ("lost", "current"),
                                ("lost", "potential"), ("prospective", "potential")])


@pytest.mark.parametrize(("current", "wanted"), FORBIDDEN)
def test_a_forbidden_change_is_a_409_saying_why_and_what_is_allowed(current: str, wanted: str) -> None:
    with pytest.raises(CategoryNotAllowed) as refused:
        change_category(_state(current), _ask(wanted), changed_by="wang.li", now=NOW)

    error = refused.value
    assert error.status == 409
    assert error.extra["code"] == CATEGORY_NOT_ALLOWED
    assert error.extra["allowed"] == list(ALLOWED[current])  # type: ignore[index]
    assert f"is {current} and cannot become {wanted}" in error.detail
    assert f"From {current} a customer can become {' or '.join(ALLOWED[current])}" in error.detail  # type: ignore[index]


def test_a_demotion_is_explained() -> None:
    with pytest.raises(CategoryNotAllowed, match="never demoted"):
        change_category(_state("current"), _ask("prospective"), changed_by="x", now=NOW)


@pytest.mark.parametrize("category", CATEGORIES)
def test_the_same_category_again_is_no_change(category: str) -> None:
    assert change_category(_state(category), _ask(category), changed_by="x", now=NOW) is None


def test_lost_needs_a_loss_reason_naming_the_field() -> None:
    ask = CategoryChange(category="lost", reason="gone")
    with pytest.raises(Invalid) as refused:
        change_category(_state("current"), ask, changed_by="x", now=NOW)
    assert refused.value.status == 422
    assert refused.value.errors and refused.value.errors[0].field == "loss_reason"


def test_a_loss_reason_is_refused_for_another_category() -> None:
    ask = CategoryChange(category="prospective", reason="talking", loss_reason="price")
    with pytest.raises(Invalid, match="only for category lost"):
        change_category(_state("potential"), ask, changed_by="x", now=NOW)


def test_a_reason_is_required() -> None:
    with pytest.raises(ValueError, match="reason"):
        CategoryChange.model_validate({"category": "prospective", "reason": "  "})


def test_unknown_category_and_loss_reason_are_refused() -> None:
    with pytest.raises(ValueError, match="category"):
        CategoryChange.model_validate({"category": "vip", "reason": "r"})
    with pytest.raises(ValueError, match="loss_reason"):
        CategoryChange.model_validate({"category": "lost", "reason": "r", "loss_reason": "weather"})


@pytest.mark.parametrize(("reason", "kind"), [
    ("moved_away", "objective"), ("closed_down", "objective"), ("price", "subjective"), ("service", "subjective"),
    ("quality", "subjective"), ("competitor", "subjective"), ("other", "subjective"),
])
def test_loss_kinds(reason: str, kind: str) -> None:
    assert loss_kind_of(reason) == kind  # type: ignore[arg-type]
    change = change_category(_state("current"), _ask("lost", loss_reason=reason), changed_by="x", now=NOW)
    assert change is not None and change.loss_kind == kind


def test_every_loss_reason_has_a_kind() -> None:
    assert all(loss_kind_of(r) in ("objective", "subjective") for r in LOSS_REASONS)


def test_as_of_places_the_change_in_business_time() -> None:
    when = NOW - timedelta(days=2)
    change = change_category(_state("potential", NOW - timedelta(days=10)), _ask("prospective", as_of=when),
                             changed_by="x", now=NOW)
    assert change is not None and change.changed_at == when and change.event.occurred_at == when


def test_as_of_in_the_future_is_refused() -> None:
    with pytest.raises(ChangedInFuture):
        change_category(_state("potential"), _ask("prospective", as_of=NOW + timedelta(hours=1)), changed_by="x", now=NOW)


def test_as_of_before_the_last_change_is_refused() -> None:
    with pytest.raises(BeforeLastChange) as refused:
        change_category(_state("potential", NOW - timedelta(days=1)),
                        _ask("prospective", as_of=NOW - timedelta(days=2)), changed_by="x", now=NOW)
    assert refused.value.errors and refused.value.errors[0].field == "as_of"


def test_a_merged_customer_is_not_changed() -> None:
    survivor = uuid.uuid4()
    with pytest.raises(MergedCustomer, match=str(survivor)):
        change_category(_state("potential", merged_into=survivor), _ask("prospective"), changed_by="x", now=NOW)


# --- what an order does -------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["potential", "prospective"])
def test_a_first_order_makes_a_lead_current_automatically(category: str) -> None:
    order_id = uuid.uuid4()
    change = change_by_order(_state(category, NOW - timedelta(days=5)), _order(NOW - timedelta(days=1), order_id))

    assert change is not None and change.category == "current"
    assert change.changed_at == NOW - timedelta(days=1)
    event = change.event
    assert (event.automatic, event.order_id, event.changed_by, event.reason) == (True, order_id, "kehu",
                                                                                FIRST_ORDER_REASON)
    assert event.previous_category == category


def test_an_order_does_nothing_to_a_current_customer() -> None:
    assert change_by_order(_state("current"), _order(NOW)) is None


def test_a_lost_customer_who_orders_again_is_won_back() -> None:
    change = change_by_order(_state("lost", NOW - timedelta(days=30)), _order(NOW))
    assert change is not None and change.category == "current"
    assert change.event.reason == ORDERED_AGAIN_REASON
    assert change.loss_reason is None and change.loss_kind is None  # the loss is over
    assert is_win_back("lost", "current") and is_win_back("lost", "prospective")
    assert not is_win_back("potential", "current")


def test_an_order_from_before_the_loss_does_not_win_back() -> None:
    assert change_by_order(_state("lost", NOW), _order(NOW - timedelta(days=3))) is None


def test_an_old_order_makes_a_lead_current_at_the_last_change_so_history_stays_in_order() -> None:
    change = change_by_order(_state("prospective", NOW), _order(NOW - timedelta(days=3)))
    assert change is not None and change.changed_at == NOW


def test_an_order_of_a_merged_record_changes_nothing() -> None:
    assert change_by_order(_state("potential", merged_into=uuid.uuid4()), _order(NOW)) is None


# --- report arithmetic --------------------------------------------------------------------------


def test_days_since_counts_whole_days_and_never_below_zero() -> None:
    assert days_since(NOW - timedelta(days=3, hours=23), NOW) == 3
    assert days_since(NOW + timedelta(days=1), NOW) == 0


def test_share_of_nothing_is_none_not_zero() -> None:
    assert share(0, 0) is None
    assert share(1, 3) == 0.3333
    assert share(2, 2) == 1.0


def test_win_back_rates_list_every_reason_in_order_with_its_kind() -> None:
    rows = win_back_rates({"price": (4, 1), "moved_away": (2, 0)})
    assert [r.loss_reason for r in rows] == list(LOSS_REASONS)
    price = next(r for r in rows if r.loss_reason == "price")
    assert (price.lost, price.won_back, price.share, price.loss_kind) == (4, 1, 0.25, "subjective")
    quality = next(r for r in rows if r.loss_reason == "quality")
    assert (quality.lost, quality.share) == (0, None)


def test_reachable_by_puts_the_phone_first_and_counts_the_record_s_own_phone_and_email() -> None:
    assert reachable_by(["email", "wechat_openid"], None, None) == ["wechat_openid", "email"]
    assert reachable_by([], "+8613800138000", "a@b.cn") == ["phone", "email"]
    assert reachable_by([], None, None) == []
