"""Cancels, returns and approvals in the fold (``ledger.resolve``, ``profile.remove_purchase``,
``transitions.apply_undo``): a cancelled order is no purchase, a return lowers value and basket,
an order waiting for approval is a purchase once approved; the same whatever the batches."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime
from functools import cache

from services.insights import domain, engine, ledger
from services.insights import fold as folding
from services.insights import profile as pf
from services.insights.tests.test_fold import REFIT_DAYS, assert_same_fold, folded, models, shop
from shared.events import CustomerAlertCleared, CustomerAlertRaised, Event

ZONE = UTC
T0 = datetime(2025, 1, 6, 10, tzinfo=UTC).timestamp()
DAY = pf.DAY_S
CUSTOMER = "0195a1b2-0000-7000-8000-000000000001"


def ev(name: str) -> str:
    """An event id (a UUID, as evidence needs) that a test can name."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, name))


def _order(n: int, day: float, quantity: float = 4.0, cents: int = 5_000, *, pending: bool = False) -> engine.Fact:
    return engine.Fact(T0 + day * DAY, CUSTOMER, ev(f"placed-{n}"), "pending" if pending else "order",
                       quantity=quantity, cents=cents, order_id=f"order-{n}")


def _cancel(n: int, day: float) -> engine.Fact:
    return engine.Fact(T0 + day * DAY, CUSTOMER, ev(f"cancel-{n}"), "cancel", order_id=f"order-{n}")


def _return(n: int, day: float, quantity: float, cents: int, *, whole: bool = False) -> engine.Fact:
    return engine.Fact(T0 + day * DAY, CUSTOMER, ev(f"return-{n}"), "return", quantity=quantity, cents=cents,
                       order_id=f"order-{n}", whole=whole)


def _approved(n: int, day: float) -> engine.Fact:
    return engine.Fact(T0 + day * DAY, CUSTOMER, ev(f"approved-{n}"), "approved", order_id=f"order-{n}")


def _fold(facts: list[engine.Fact], until: float | None = None) -> tuple[pf.Profile, list[Event]]:
    profiles: dict[str, pf.Profile] = {}
    resolved = ledger.resolve(engine.in_time_order(facts), ledger.Ledger())
    events = engine.apply_facts(profiles, resolved, until if until is not None else resolved[-1].at,
                                domain.DEFAULT_POPULATION, ZONE)
    return profiles[CUSTOMER], events


# --- value, basket, rhythm --------------------------------------------------------------------


def test_a_cancelled_order_is_no_purchase_day_and_the_gaps_are_counted_again() -> None:
    weekly = [_order(n, 7 * n) for n in range(5)]
    kept, _ = _fold(weekly)
    cancelled, _ = _fold([*weekly, _cancel(2, 30)])
    assert [d.day - kept.days[0].day for d in kept.days] == [0, 7, 14, 21, 28]
    assert [d.day - cancelled.days[0].day for d in cancelled.days] == [0, 7, 21, 28]
    assert (cancelled.gaps, cancelled.gap_sum, cancelled.longest_gap) == (3, 28, 14)
    assert (cancelled.orders, cancelled.cents) == (4, 20_000)
    assert ev("placed-2") not in {i for d in cancelled.days for i in d.event_ids}


def test_a_cancel_of_one_of_two_orders_of_a_day_keeps_the_day() -> None:
    profile, _ = _fold([_order(1, 0), _order(2, 0.1, 2.0, 1_000), _cancel(2, 1)])
    assert len(profile.days) == 1
    day = profile.days[0]
    assert (day.orders, day.quantity, day.cents, day.event_ids) == (1, 4.0, 5_000, [ev("placed-1")])


def test_a_partial_return_lowers_quantity_and_amount_and_keeps_the_visit() -> None:
    profile, _ = _fold([_order(1, 0), _order(2, 7), _return(2, 9, 1.5, 1_200)])
    assert len(profile.days) == 2 and profile.orders == 2
    assert (profile.days[1].quantity, profile.days[1].cents) == (2.5, 3_800)
    assert profile.cents == 8_800
    assert profile.gaps == 1


def test_a_whole_return_takes_the_order_off_like_a_cancel() -> None:
    profile, _ = _fold([_order(1, 0), _order(2, 7), _return(2, 8, 1.0, 1_000), _return(3, 9, 9.0, 9_000),
                        _return(2, 10, 3.0, 4_000, whole=True)])
    assert [d.day for d in profile.days] == [pf.local_day(T0, ZONE)]
    assert profile.cents == 5_000 and profile.orders == 1 and profile.gaps == 0


def test_a_return_never_takes_off_more_than_the_day_holds() -> None:
    profile, _ = _fold([_order(1, 0), _return(1, 1, 10.0, 99_999)])
    assert (profile.days[0].quantity, profile.days[0].cents, profile.cents) == (0.0, 0, 0)
    assert len(profile.days) == 1  # a partial return, however large, keeps the visit


def test_the_basket_rules_see_the_returned_basket() -> None:
    steady = [_order(n, 7 * n, 4.0, 4_000) for n in range(8)]
    _, quiet = _fold(steady)
    assert not any(isinstance(e, CustomerAlertRaised) for e in quiet)
    # The last two purchases mostly came back: the basket dropped, from the day of the returns.
    profile, events = _fold([*steady, _return(6, 50, 3.0, 3_000), _return(7, 50, 3.0, 3_000)])
    raised = {e.kind: e for e in events if isinstance(e, CustomerAlertRaised)}
    assert {"quantity_drop", "value_drop"} <= raised.keys()
    assert raised["quantity_drop"].occurred_at.timestamp() == T0 + 50 * DAY
    assert domain.assess(profile, T0 + 50 * DAY, domain.DEFAULT_POPULATION, ZONE).recent_quantity == 1.0


def test_a_customer_whose_only_order_is_cancelled_is_a_prospect_again() -> None:
    profile, _ = _fold([_order(1, 0), _cancel(1, 0.5)])
    assert profile.days == [] and profile.cents == 0 and profile.last_purchase_at is None
    assert domain.assess(profile, T0 + DAY, domain.DEFAULT_POPULATION, ZONE).stage == "exploration"
    assert engine.summary(profile, domain.DEFAULT_POPULATION, ZONE)["purchase_days"] == 0


# --- alerts and stages --------------------------------------------------------------------------


def test_a_purchase_that_cleared_an_overdue_alert_raises_it_again_when_cancelled() -> None:
    weekly = [_order(n, 7 * n) for n in range(6)]
    late = _order(9, 35 + 30)  # a month after the last: overdue was raised, this clears it
    _, events = _fold([*weekly, late, _cancel(9, 35 + 31)])
    overdue = [e for e in events if getattr(e, "kind", None) == "purchase_overdue"]
    assert [type(e).__name__ for e in overdue] == ["CustomerAlertRaised", "CustomerAlertCleared",
                                                   "CustomerAlertRaised"]
    cleared = overdue[1]
    assert isinstance(cleared, CustomerAlertCleared) and cleared.reason == "purchase"
    again = overdue[2]
    assert isinstance(again, CustomerAlertRaised) and again.occurred_at.timestamp() == T0 + 66 * DAY
    assert [str(i) for i in again.evidence.event_ids] == [ev("placed-5")]  # the last real purchase


def test_an_order_waiting_for_approval_is_a_purchase_only_once_approved() -> None:
    waiting, _ = _fold([_order(1, 0), _order(2, 7, pending=True)], until=T0 + 8 * DAY)
    assert len(waiting.days) == 1 and waiting.orders == 1
    approved, _ = _fold([_order(1, 0), _order(2, 7, pending=True), _approved(2, 9)])
    assert [d.day - approved.days[0].day for d in approved.days] == [0, 7]  # the day it was placed
    assert approved.orders == 2 and approved.evaluated_at == T0 + 9 * DAY
    assert approved.days[-1].event_ids == [ev("placed-2")]  # the order, as evidence
    cancelled, _ = _fold([_order(1, 0), _order(2, 7, pending=True), _approved(2, 9), _cancel(2, 10)])
    assert len(cancelled.days) == 1 and cancelled.orders == 1
    refused, events = _fold([_order(1, 0), _order(2, 7, pending=True), _cancel(2, 9)])
    assert pf.to_json(refused)["days"] == pf.to_json(waiting)["days"]  # the refusal's cancel changes nothing
    assert not any(isinstance(e, CustomerAlertCleared) for e in events)


def test_resolve_ignores_what_does_not_apply() -> None:
    facts = [_order(1, 0), _cancel(1, 1), _cancel(1, 2), _return(1, 3, 1.0, 100), _cancel(7, 4),
             _approved(1, 5), _order(2, 6), _approved(2, 7)]
    resolved = ledger.resolve(facts, ledger.Ledger())
    assert [(f.kind, f.event_id) for f in resolved] == [("order", ev("placed-1")), ("cancel", ev("cancel-1")),
                                                        ("order", ev("placed-2"))]
    cancel = resolved[1]
    assert (cancel.placed_at, cancel.placed_event, cancel.quantity, cancel.cents, cancel.whole) == \
        (T0, ev("placed-1"), 4.0, 5_000, True)


def test_a_return_of_an_order_in_another_currency_comes_off_that_currency() -> None:
    order = dataclasses.replace(_order(1, 0), cents=0, other_currency="USD", other_cents=700)
    profile, _ = _fold([_order(0, -7), order, _return(1, 1, 1.0, 200)])
    assert profile.other_currencies == {"USD": [1, 500]} and profile.cents == 5_000
    profile, _ = _fold([_order(0, -7), order, _cancel(1, 1)])
    assert profile.other_currencies == {"USD": [0, 0]} and len(profile.days) == 1


# --- the same whatever the batches, and in a replay's parts ----------------------------------------


@cache
def shop_with_undos(seed: int = 11) -> tuple[engine.Fact, ...]:
    """The generated shop of ``test_fold``, its orders named, with about one order in five
    cancelled, returned in part or whole, or placed waiting for approval (approved or refused)."""
    rng = random.Random(seed)
    facts, _ = shop()
    out: list[engine.Fact] = []
    for fact in facts:
        if fact.kind != "order":
            out.append(fact)
            continue
        order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        roll = rng.random()
        pending = 0.9 <= roll < 0.95
        out.append(dataclasses.replace(fact, order_id=order_id, kind="pending" if pending else "order"))
        later = fact.at + rng.randrange(3_600, 5 * 86_400)

        undo = engine.Fact(later, fact.customer_id, "", "", order_id=order_id)
        if roll < 0.08:
            undo = dataclasses.replace(undo, kind="cancel")
        elif roll < 0.14:
            undo = dataclasses.replace(undo, kind="return", quantity=1.0, cents=1_250)
        elif roll < 0.17:
            undo = dataclasses.replace(undo, kind="return", quantity=fact.quantity, cents=fact.cents, whole=True)
        elif pending:
            undo = dataclasses.replace(undo, kind="approved" if roll < 0.93 else "cancel")
        if undo.kind:
            out.append(dataclasses.replace(undo, event_id=ev(f"{undo.kind}-{order_id}")))
    return tuple(engine.in_time_order(out))


@cache
def folded_with_undos(chunk: int | None) -> folding.Fold:
    """Resolved and folded at once (a replay: chunk None), or ``chunk`` facts at a time with the
    ledger carried from batch to batch (the live consumer, which finds it on the timeline)."""
    facts = list(shop_with_undos())
    fold = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS, announce=chunk is not None)
    if chunk is None:
        fold.run(ledger.resolve(facts, ledger.Ledger()))
        return fold
    known = ledger.Ledger()
    for start in range(0, len(facts), chunk):
        fold.run(ledger.resolve(facts[start:start + chunk], known))
    return fold


def test_the_shop_has_cancels_returns_and_approvals_that_change_profiles() -> None:
    resolved = ledger.resolve(list(shop_with_undos()), ledger.Ledger())
    kinds = {k: sum(1 for f in resolved if f.kind == k) for k in ("order", "cancel", "return")}
    assert kinds["cancel"] > 100 and kinds["return"] > 100
    assert sum(1 for f in resolved if f.kind == "order" and f.placed_at is not None) > 50  # approved later
    plain = {c: pf.to_json(p) for c, p in folded_with_undos(None).profiles.items()}
    assert plain != {c: pf.to_json(p) for c, p in folded(None).profiles.items()}


def test_with_cancels_and_returns_batches_of_any_size_fold_as_one_replay() -> None:
    quiet = folded_with_undos(None)
    for chunk in (7, 97):
        loud = folded_with_undos(chunk)
        alerts_only = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS)
        alerts_only.transitions = [e for e in loud.transitions if type(e).__name__.startswith("CustomerAlert")]
        alerts_only.profiles, alerts_only.models = loud.profiles, loud.models
        alerts_only.population, alerts_only.watermark = loud.population, loud.watermark
        assert_same_fold(quiet, alerts_only)


def test_the_refit_schedule_follows_cancels_returns_and_approvals() -> None:
    """The replay's workers take the population from ``refit_schedule``: it must see the buyers as
    the fold's profiles do (days gone, spend lowered, orders approved days after they were placed)."""
    facts = ledger.resolve(list(shop_with_undos()), ledger.Ledger())
    whole = folded_with_undos(None)
    schedule = folding.refit_schedule(facts, ZONE, REFIT_DAYS)
    assert len(schedule) >= 3
    assert models(whole) == models(dataclasses.replace(whole, models=list(schedule.values())))
    half = {f.customer_id for f in facts[::2]}
    parts = [[f for f in facts if (f.customer_id in half) == k] for k in (True, False)]
    merged: dict[str, pf.Profile] = {}
    for part in parts:
        fold = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS, schedule=schedule)
        fold.run(part, since=facts[0].at, until=engine.last_purchase_at(facts))
        merged.update(fold.profiles)
    assert [c for c in merged if pf.to_json(merged[c]) != pf.to_json(whole.profiles[c])] == []


def test_the_facts_of_an_orders_events_as_published_and_as_stored() -> None:
    from decimal import Decimal

    from shared.events import OrderApprovalDecided, OrderCancelled, OrderLine, OrderPlaced, OrderReturned, ReturnedLine

    customer, order, when = uuid.uuid4(), uuid.uuid4(), datetime(2025, 3, 1, 10, tzinfo=UTC)
    waiting = OrderPlaced(customer_id=customer, occurred_at=when, order_id=order, channel="phone", currency="CNY",
                          lines=[OrderLine(sku="a", quantity=Decimal(3), unit_price=Decimal("2.00"),
                                           amount=Decimal("6.00"))],
                          total=Decimal("5.50"), discount=Decimal("0.50"), status="pending_approval")
    returned = OrderReturned(customer_id=customer, occurred_at=when, order_id=order, return_id=uuid.uuid4(),
                             lines=[ReturnedLine(line_no=1, sku="a", quantity=Decimal("1.5"), amount=Decimal("2.75"))],
                             amount=Decimal("2.75"), whole=False, reason="r", returned_by="li")
    cancelled = OrderCancelled(customer_id=customer, occurred_at=when, order_id=order, previous_status="placed",
                               total=Decimal("5.50"), reason="r", cancelled_by="li")
    approval = OrderApprovalDecided(customer_id=customer, occurred_at=when, order_id=order, approved=True,
                                    decided_by="boss", reason="ok")
    refusal = approval.model_copy(update={"approved": False})
    expected = {"pending": (3.0, 550, False), "return": (1.5, 275, False), "cancel": (0.0, 0, False),
                "approved": (0.0, 0, False)}
    for event in (waiting, returned, cancelled, approval):
        event_id = uuid.uuid4()
        fact = engine.fact_of(event_id, event, "CNY")
        assert fact == engine.fact_of_data(str(event_id), type(event).__name__, event.model_dump(mode="json"), "CNY")
        assert fact is not None and fact.order_id == str(order)
        assert (fact.quantity, fact.cents, fact.whole) == expected[fact.kind]
    assert engine.fact_of(uuid.uuid4(), refusal, "CNY") is None  # a refusal is its cancel's business
