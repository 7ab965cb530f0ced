"""The per-customer rules of insights on hand-made histories: pure, no broker, no database.

Every history starts on Monday 2025-01-06 (UTC); purchases are at 10:00 unless said otherwise.
Times the rules choose are checked against the customer's last purchase *day* (its local midnight),
from which the rules count: "overdue after 14 days" means 14 days after that midnight.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import BaseModel

from services.insights import domain, engine, transitions
from services.insights import model as population_model
from services.insights import profile as pf
from shared.events import (
    AlertEvidence,
    CustomerAlertCleared,
    CustomerAlertRaised,
    Event,
    LifecycleStageChanged,
    SegmentChanged,
)

ZONE = UTC
DAY = pf.DAY_S
HOUR = 3600.0
T0 = datetime(2025, 1, 6, tzinfo=UTC).timestamp()  # a Monday, midnight


def at(day: float, hour: float = 10.0) -> float:
    """Epoch seconds of ``hour`` o'clock on day ``day`` of the history."""
    return T0 + day * DAY + hour * HOUR


class Buyer:
    """One customer's profile and every event its rules published, in order."""

    def __init__(self, population: domain.Population = domain.DEFAULT_POPULATION, seed: int = 1) -> None:
        self.profile = pf.Profile(customer_id=str(uuid.UUID(int=seed, version=4)))
        self.population = population
        self.events: list[Event] = []
        self.ids: list[str] = []
        self._next = seed * 10_000

    def buy(self, day: float, *, quantity: float = 2.0, cents: int = 1_000, hour: float = 10.0,
            event_id: str | None = None, other: tuple[str, int] | None = None) -> list[Event]:
        self._next += 1
        event_id = event_id or str(uuid.UUID(int=self._next, version=4))
        self.ids.append(event_id)
        new = transitions.apply_order(self.profile, at=at(day, hour), event_id=event_id, quantity=quantity, cents=cents,
                             population=self.population, zone=ZONE, other=other)
        self.events += new
        return new

    def wait(self, until_day: float, hour: float = 0.0) -> list[Event]:
        new = transitions.advance(self.profile, at(until_day, hour), self.population, ZONE)
        self.events += new
        return new

    @property
    def last_day_start(self) -> float:
        return pf.day_start(self.profile.days[-1].day, ZONE)


def raised(events: Sequence[Event], kind: str | None = None) -> list[CustomerAlertRaised]:
    return [e for e in events if isinstance(e, CustomerAlertRaised) and kind in (None, e.kind)]


def cleared(events: Sequence[Event], kind: str | None = None) -> list[CustomerAlertCleared]:
    return [e for e in events if isinstance(e, CustomerAlertCleared) and kind in (None, e.kind)]


def stages(events: Sequence[Event]) -> list[tuple[str | None, str, str]]:
    return [(e.previous_stage, e.stage, e.reason) for e in events if isinstance(e, LifecycleStageChanged)]


def days_after(moment: datetime, start: float) -> float:
    return (moment.timestamp() - start) / DAY


def weekly(buyer: Buyer, weeks: int, **order: float) -> None:
    for k in range(weeks):
        buyer.buy(7 * k, **order)  # type: ignore[arg-type]


# --- (1) a weekly regular who stops -------------------------------------------------------------


def test_a_weekly_regular_who_stops_is_overdue_after_14_days_then_declines_then_is_lost() -> None:
    buyer = Buyer()
    weekly(buyer, 10)
    assert stages(buyer.events)[-1] == ("formation", "stability", "regular_rhythm")
    assert domain.rhythm(buyer.profile) is not None and domain.rhythm(buyer.profile).typical == 7.0  # type: ignore[union-attr]
    start = buyer.last_day_start

    # Not yet at 14 days: the threshold is strict.
    assert "purchase_overdue" not in domain.assess(buyer.profile, start + 14 * DAY - 1.0, buyer.population, ZONE).conditions
    events = buyer.wait(63 + 200)

    [overdue] = raised(events, "purchase_overdue")
    assert days_after(overdue.occurred_at, start) == pytest.approx(14.0, abs=1e-6)
    assert overdue.occurred_at.timestamp() > start + 14 * DAY
    assert overdue.rule_version == domain.RULE_VERSION
    evidence = overdue.evidence
    assert (evidence.baseline, evidence.threshold, evidence.unit) == (7.0, 14.0, "days")
    assert evidence.observed == pytest.approx(14.0, abs=1e-3)
    assert [str(i) for i in evidence.event_ids] == [buyer.ids[-1]]

    assert stages(events) == [("stability", "decline", "overdue_gap"), ("decline", "lost", "long_absence")]
    decline, lost = (e for e in events if isinstance(e, LifecycleStageChanged))
    assert decline.occurred_at == overdue.occurred_at
    assert decline.evidence == overdue.evidence
    # Lost after three overdue thresholds, but never before 90 days: max(3 × 14, 90).
    assert days_after(lost.occurred_at, start) == pytest.approx(90.0, abs=1e-6)
    assert lost.evidence.threshold == 90.0
    assert [e.kind for e in raised(events)].count("purchase_overdue") == 1  # raised once, stays open
    assert "purchase_overdue" in buyer.profile.status.alerts


def test_a_purchase_clears_the_overdue_alert_at_the_purchase_and_the_stage_returns_to_stability() -> None:
    buyer = Buyer()
    weekly(buyer, 10)
    buyer.wait(63 + 20)
    [overdue] = raised(buyer.events, "purchase_overdue")
    assert buyer.profile.status.stage == "decline"

    events = buyer.buy(63 + 21, hour=15.5)

    [clear] = cleared(events, "purchase_overdue")
    assert clear.reason == "purchase"
    assert clear.alert_id == overdue.alert_id
    assert clear.occurred_at.timestamp() == at(63 + 21, 15.5)
    assert [str(i) for i in clear.evidence.event_ids] == [buyer.ids[-1]]  # the purchase that cleared it
    assert stages(events) == [("decline", "stability", "regular_rhythm")]
    assert "purchase_overdue" not in buyer.profile.status.alerts
    assert not raised(events)


@pytest.mark.parametrize("weeks", [4, 6, 8, 9, 12])
def test_a_new_weekly_regular_has_a_typical_gap_of_7_and_is_overdue_after_14_days(weeks: int) -> None:
    """A regular is anyone with 4+ purchase days; their usual gap must be 7 from the start.

    (Found by this test: the recent gaps used to pair each day with itself up to RHYTHM_WINDOW
    purchase days, so ``typical`` was 0 and the alert came at 1.2 × the longest gap, 8.4 days.)
    """
    buyer = Buyer()
    weekly(buyer, weeks)
    beat = domain.rhythm(buyer.profile)
    assert beat is not None
    assert beat.typical == 7.0
    assert beat.overdue_after == 14.0
    [overdue] = raised(buyer.wait(7 * weeks + 30), "purchase_overdue")
    assert days_after(overdue.occurred_at, buyer.last_day_start) == pytest.approx(14.0, abs=1e-6)
    assert overdue.evidence.baseline == 7.0


def test_several_orders_on_one_day_are_one_purchase_day() -> None:
    buyer = Buyer()
    for k in range(10):
        buyer.buy(7 * k, hour=9, quantity=1, cents=500)
        buyer.buy(7 * k, hour=17, quantity=1, cents=500)
    profile = buyer.profile
    assert len(profile.days) == 10 and profile.orders == 20 and profile.cents == 10_000
    assert [d.orders for d in profile.days] == [2] * 10
    assert profile.days[-1].event_ids == sorted(buyer.ids[-2:])
    assert domain.rhythm(profile).typical == 7.0  # type: ignore[union-attr]
    assert not raised(buyer.events)


# --- (2) baskets ---------------------------------------------------------------------------------

USUAL_QUANTITY, USUAL_CENTS = 10.0, 5_000


def _basket(kind: str, share: float) -> dict[str, float]:
    """An order at ``share`` of the usual basket in the measure the alert kind watches."""
    if kind == "quantity_drop":
        return {"quantity": USUAL_QUANTITY * share, "cents": USUAL_CENTS}
    return {"quantity": USUAL_QUANTITY, "cents": round(USUAL_CENTS * share)}


@pytest.mark.parametrize(("kind", "unit", "baseline", "observed", "threshold"), [
    ("quantity_drop", "quantity", 10.0, 5.0, 6.0),
    ("value_drop", "amount", 50.0, 25.0, 30.0),  # money in the shop's currency, not cents
])
def test_halved_baskets_raise_a_drop_at_the_second_halved_purchase(
        kind: str, unit: str, baseline: float, observed: float, threshold: float) -> None:
    buyer = Buyer()
    weekly(buyer, 10, **_basket(kind, 1.0))

    first = buyer.buy(70, **_basket(kind, 0.5))  # type: ignore[arg-type]
    assert not raised(first)  # (10 + 5) / 2 = 7.5 of a usual 10: not below 60 %
    second = buyer.buy(77, **_basket(kind, 0.5))  # type: ignore[arg-type]

    [drop] = raised(second, kind)
    assert drop.occurred_at.timestamp() == at(77)
    assert (drop.evidence.baseline, drop.evidence.observed, drop.evidence.threshold, drop.evidence.unit) == (
        baseline, observed, threshold, unit)
    assert [str(i) for i in drop.evidence.event_ids] == buyer.ids[-2:]
    other = "value_drop" if kind == "quantity_drop" else "quantity_drop"
    assert not raised(buyer.events, other)
    assert stages(second) == [("stability", "decline", "basket_drop")]
    assert raised(second, "stage_decline")


@pytest.mark.parametrize("kind", ["quantity_drop", "value_drop"])
@pytest.mark.parametrize(("recovered_to", "clears"), [(0.7, False), (0.8, True), (1.0, True)])
def test_a_drop_clears_only_once_baskets_are_back_above_80_percent(kind: str, recovered_to: float,
                                                                   clears: bool) -> None:
    buyer = Buyer()
    weekly(buyer, 10, **_basket(kind, 1.0))
    buyer.buy(70, **_basket(kind, 0.5))  # type: ignore[arg-type]
    buyer.buy(77, **_basket(kind, 0.5))  # type: ignore[arg-type]
    [drop] = raised(buyer.events, kind)

    # 70 % would not raise a new alert (above 60 %) but does not clear an open one (below 80 %).
    first = buyer.buy(84, **_basket(kind, recovered_to))  # type: ignore[arg-type]
    assert not cleared(first, kind)
    second = buyer.buy(91, **_basket(kind, recovered_to))  # type: ignore[arg-type]

    if not clears:
        assert not cleared(second, kind)
        assert kind in buyer.profile.status.alerts
        assert buyer.profile.status.stage == "decline"
        return
    [clear] = cleared(second, kind)
    assert clear.alert_id == drop.alert_id
    assert clear.reason == "basket_recovered"
    assert clear.occurred_at.timestamp() == at(91)
    assert stages(second) == [("decline", "stability", "regular_rhythm")]
    assert buyer.profile.status.alerts == {}


# --- (3) a one-off buyer -------------------------------------------------------------------------


def test_a_one_off_buyer_stays_in_exploration_gets_no_alert_and_is_lost_after_a_year() -> None:
    buyer = Buyer()
    buyer.buy(0)
    start = buyer.last_day_start
    buyer.wait(3 * 365)

    assert not raised(buyer.events)
    assert stages(buyer.events) == [(None, "exploration", "first_purchase"), ("exploration", "lost", "long_absence")]
    lost = next(e for e in buyer.events if isinstance(e, LifecycleStageChanged) and e.stage == "lost")
    assert days_after(lost.occurred_at, start) == pytest.approx(365.0, abs=1e-6)
    # The model is pessimistic about them by then; the rules still do not alert a one-off buyer.
    late = domain.assess(buyer.profile, at(3 * 365), buyer.population, ZONE)
    assert late.churn_risk >= domain.CHURN_RAISE
    assert late.conditions == {}
    assert late.overdue_after_days is None


# --- (4) a seasonal buyer ------------------------------------------------------------------------


def test_a_seasonal_buyer_alerts_in_the_first_off_season_but_not_once_two_seasons_were_seen() -> None:
    """Eight weekly purchases every November for three years (2022-2024)."""
    customer = pf.Profile(customer_id=str(uuid.UUID(int=77, version=4)))
    population = domain.DEFAULT_POPULATION
    off_seasons: list[list[Event]] = []
    for n, year in enumerate((2022, 2023, 2024)):
        first = datetime(year, 11, 1, 10, tzinfo=UTC)
        for k in range(8):
            transitions.apply_order(customer, at=(first + timedelta(weeks=k)).timestamp(), event_id=str(uuid.UUID(int=n * 8 + k + 1)),
                           quantity=3, cents=4_500, population=population, zone=ZONE)
        next_season = datetime(year + 1, 11, 1, tzinfo=UTC).timestamp()
        off_seasons.append(transitions.advance(customer, next_season - 1.0, population, ZONE))

    assert raised(off_seasons[0], "purchase_overdue")  # only one season known: looks like a regular who left
    assert raised(off_seasons[2]) == []  # the customer came back after ~316 days twice: that is their rhythm
    assert stages(off_seasons[2]) == []
    assert customer.status.stage == "stability"
    beat = domain.rhythm(customer)
    assert beat is not None and beat.typical == 7.0 and beat.longest >= 316


# --- (5) churn risk ------------------------------------------------------------------------------


def test_churn_risk_is_raised_for_a_repeat_buyer_only_once_away_longer_than_their_longest_gap() -> None:
    """A heavy buyer (every 2 days) who once paused 60 days: the model is worried long before that,
    the rule waits until they are away longer than any gap they came back from."""
    buyer = Buyer()
    purchase_days = [2 * k for k in range(20)]
    purchase_days += [purchase_days[-1] + 60 + 2 * k for k in range(20)]
    for day in purchase_days:
        buyer.buy(day)
    beat = domain.rhythm(buyer.profile)
    assert beat is not None and beat.longest == 60.0
    start = buyer.last_day_start

    just_before = domain.assess(buyer.profile, start + 59.9 * DAY, buyer.population, ZONE)
    assert just_before.churn_risk >= domain.CHURN_RAISE
    assert "churn_risk" not in just_before.conditions

    events = buyer.wait(purchase_days[-1] + 200)
    [churn] = raised(events, "churn_risk")
    away = days_after(churn.occurred_at, start)
    assert 60.0 < away < 62.0  # checked right after the guard, not at the next power-of-two check
    assert churn.evidence.observed is not None and churn.evidence.observed >= domain.CHURN_RAISE
    assert (churn.evidence.threshold, churn.evidence.unit) == (domain.CHURN_RAISE, "probability")
    assert [str(i) for i in churn.evidence.event_ids] == [buyer.ids[-1]]


def test_churn_risk_is_never_raised_for_a_one_off_buyer() -> None:
    buyer = Buyer()
    buyer.buy(0)
    events = buyer.wait(5 * 365)
    assert not raised(events, "churn_risk")


def test_a_repeat_buyer_comes_back_and_the_churn_alert_clears_with_reason_purchase() -> None:
    buyer = Buyer()
    buyer.buy(0)
    buyer.buy(30)
    buyer.wait(30 + 500)
    [churn] = raised(buyer.events, "churn_risk")
    assert days_after(churn.occurred_at, pf.day_start(buyer.profile.days[-1].day, ZONE)) > 30.0
    events = buyer.buy(30 + 501)
    [clear] = cleared(events, "churn_risk")
    assert (clear.alert_id, clear.reason) == (churn.alert_id, "purchase")


# --- (6) determinism -----------------------------------------------------------------------------


def _story(buyer: Buyer, sweep_every: float | None, end_day: float) -> None:
    """A weekly regular whose baskets halve, who stops, comes back, then leaves for good; swept by
    a clock every ``sweep_every`` days between purchases (None: only the purchases move time)."""
    plan: list[tuple[float, float]] = [(7 * k, 10.0) for k in range(10)]
    plan += [(70, 5.0), (77, 5.0), (84, 9.0), (91, 9.0)]
    plan += [(91 + 40, 10.0)] + [(131 + 7 * k, 10.0) for k in range(1, 8)]
    clock = 0.0
    for day, quantity in plan:
        if sweep_every is not None:
            while clock + sweep_every < day:
                clock += sweep_every
                buyer.wait(clock, hour=1.234)
        buyer.buy(day, quantity=quantity, cents=int(quantity * 250))
        clock = day
    if sweep_every is None:
        buyer.wait(end_day)
        return
    while clock + sweep_every < end_day:
        clock += sweep_every
        buyer.wait(clock, hour=1.234)
    buyer.wait(end_day)


def _published(events: Sequence[Event]) -> list[dict[str, object]]:
    return [{"type": type(e).__name__, **e.model_dump(mode="json")} for e in events]


@pytest.mark.parametrize("sweep_every", [0.5, 1.0, 3.3, 29.0])
def test_one_jump_and_many_small_sweeps_publish_the_same_events_and_reach_the_same_state(sweep_every: float) -> None:
    jump, swept = Buyer(seed=5), Buyer(seed=5)
    _story(jump, None, 600)
    _story(swept, sweep_every, 600)

    assert [type(e).__name__ for e in jump.events] == [type(e).__name__ for e in swept.events]
    assert [e.occurred_at for e in jump.events] == [e.occurred_at for e in swept.events]
    assert _published(jump.events) == _published(swept.events)
    assert pf.to_json(jump.profile) == pf.to_json(swept.profile)
    # The story has every kind of change in it.
    kinds = {getattr(e, "kind", type(e).__name__) for e in jump.events}
    assert {"purchase_overdue", "quantity_drop", "value_drop", "stage_decline", "churn_risk",
            "LifecycleStageChanged", "SegmentChanged"} <= kinds


def _fold_state(profile: pf.Profile) -> dict[str, object]:
    """What a profile folds from its orders (the rules' memory of past conclusions left out)."""
    state = pf.to_json(profile)
    return {k: v for k, v in state.items() if k not in ("status", "evaluated_at")}


def _order_id(day: int, hour: float) -> str:
    return str(uuid.UUID(int=(day + 100) * 100 + int(hour), version=4))


@pytest.mark.parametrize("late_day", [21, -7, 35])
def test_an_order_arriving_late_is_folded_where_it_belongs_and_the_gaps_are_recounted(late_day: int) -> None:
    """``late_day`` 21 fills a missed week, -7 is before the first purchase, 35 lands on a day
    already known (a second order that day)."""
    purchase_days = [0, 7, 14, 28, 35, 42, 49, 56]
    ordered, late = Buyer(seed=9), Buyer(seed=9)
    for day, hour in sorted([(d, 10.0) for d in purchase_days] + [(late_day, 12.0)]):
        ordered.buy(day, hour=hour, event_id=_order_id(day, hour))
    for day in purchase_days:
        late.buy(day, event_id=_order_id(day, 10.0))
    events = late.buy(late_day, hour=12, event_id=_order_id(late_day, 12.0))

    profile = late.profile
    assert [d.day for d in profile.days] == sorted({d.day for d in profile.days})
    assert _fold_state(profile) == _fold_state(ordered.profile)
    assert domain.rhythm(profile) == domain.rhythm(ordered.profile)
    gaps = [b.day - a.day for a, b in zip(profile.days, profile.days[1:], strict=False)]
    assert (profile.gaps, profile.gap_sum, profile.gap_sq_sum, profile.longest_gap) == (
        len(gaps), sum(gaps), sum(g * g for g in gaps), max(gaps))
    assert profile.first_purchase_at == (at(late_day, 12) if late_day < 0 else at(0))
    assert profile.last_purchase_at == at(56)
    # The late order moved nothing back in time: the profile's clock stays where it was.
    assert profile.evaluated_at == at(56)
    assert all(e.occurred_at.timestamp() == at(56) for e in events)


def test_a_late_order_on_an_old_day_leaves_the_same_state_as_in_order() -> None:
    """A late order landing on a purchase day older than the last EVENT_IDS_KEPT (10) days is
    folded like one in time order: same days, and no ids kept on old days (found by this test:
    add_purchase used to return before trimming)."""
    purchase_days = [7 * k for k in range(14)]
    ordered, late = Buyer(seed=3), Buyer(seed=3)
    for day in purchase_days:
        ordered.buy(day)
        if day == 14:
            ordered.buy(14, hour=12)
    for day in purchase_days:
        late.buy(day)
    late.buy(14, hour=12)
    late_days, ordered_days = pf.to_json(late.profile)["days"], pf.to_json(ordered.profile)["days"]
    assert [d[:4] for d in late_days] == [d[:4] for d in ordered_days]  # (the ids differ by construction)
    assert all(not d[4] for d in late_days[:-pf.EVENT_IDS_KEPT])  # old days keep no ids, late or not


def test_to_json_from_json_round_trips_through_json_text() -> None:
    buyer = Buyer()
    weekly(buyer, 10, quantity=10, cents=5_000)
    buyer.buy(70, quantity=4, cents=2_000)
    buyer.buy(77, quantity=4, cents=2_000)
    buyer.wait(77 + 20)
    assert set(buyer.profile.status.alerts) == {"quantity_drop", "value_drop", "purchase_overdue", "stage_decline"}
    text = json.dumps(pf.to_json(buyer.profile))
    back = pf.from_json(buyer.profile.customer_id, json.loads(text))

    assert pf.to_json(back) == pf.to_json(buyer.profile)
    when = at(300)
    assert domain.assess(back, when, buyer.population, ZONE) == domain.assess(buyer.profile, when, buyer.population, ZONE)
    assert transitions.due_at(back, at(100), buyer.population, ZONE) == transitions.due_at(buyer.profile, at(100), buyer.population, ZONE)
    assert _published(transitions.advance(back, when, buyer.population, ZONE)) == \
        _published(transitions.advance(buyer.profile, when, buyer.population, ZONE))


def test_as_of_view_drops_purchase_days_after_the_date_and_leaves_the_profile_alone() -> None:
    buyer = Buyer()
    for k in range(10):
        buyer.buy(7 * k, quantity=1 + k, cents=100 * (k + 1))
    before = pf.to_json(buyer.profile)

    view = pf.as_of_view(buyer.profile, at(30, 23), ZONE)  # days 0, 7, 14, 21, 28

    assert [d.day - buyer.profile.days[0].day for d in view.days] == [0, 7, 14, 21, 28]
    assert view.orders == 5 and view.cents == 100 + 200 + 300 + 400 + 500
    assert (view.gaps, view.gap_sum, view.longest_gap) == (4, 28, 7)
    assert view.last_purchase_at == at(28, 0)
    assert view.evaluated_at == at(30, 23)
    assert domain.assess(view, at(30, 23), buyer.population, ZONE).purchase_days == 5
    assert pf.to_json(buyer.profile) == before
    # A purchase on the cut-off day itself is kept; a time after the last purchase changes nothing.
    assert len(pf.as_of_view(buyer.profile, at(28, 0), ZONE).days) == 5
    assert pf.as_of_view(buyer.profile, at(100), ZONE) is buyer.profile


def test_a_step_with_nothing_new_publishes_nothing() -> None:
    buyer = Buyer()
    weekly(buyer, 10)
    when = buyer.profile.evaluated_at
    assert when is not None
    _, events = transitions.step(buyer.profile, when, buyer.population, ZONE)
    assert events == []


def test_segment_changes_follow_the_recency_cut_points() -> None:
    """Default cut points 30/90/180/365 days: a champion (frequency 5) is loyal at recency 3 and
    at risk below; a recency score change that keeps the segment publishes nothing."""
    buyer = Buyer()
    weekly(buyer, 10)
    assert buyer.profile.status.segment == "champions"
    start = buyer.last_day_start
    events = [e for e in buyer.wait(63 + 400) if isinstance(e, SegmentChanged)]
    assert [(round(days_after(e.occurred_at, start), 3), e.previous_segment, e.segment, e.recency_score,
             e.frequency_score) for e in events] == [(90.0, "champions", "loyal", 3, 5), (180.0, "loyal", "at_risk", 2, 5)]


# --- engine: refit boundaries and the population fit -----------------------------------------------

PERIOD = 28 * DAY


@pytest.mark.parametrize(("after", "until", "expected"), [
    (None, 100 * PERIOD, []),  # nothing before the first event
    (10 * PERIOD + 5.0, 10 * PERIOD + 9.0, []),
    (10 * PERIOD + 5.0, 11 * PERIOD, [11]),  # the boundary at ``until`` itself is crossed
    (11 * PERIOD, 12 * PERIOD - 1.0, []),  # the one at ``after`` was crossed before
    (10 * PERIOD + 5.0, 12 * PERIOD + 1.0, [11, 12]),
    (10 * PERIOD, 30 * PERIOD, list(range(11, 31))),  # event time crosses every one, in order
])
def test_boundaries_between(after: float | None, until: float, expected: list[int]) -> None:
    assert engine.boundaries_between(after, until, 28) == [k * PERIOD for k in expected]


def test_a_wall_clock_jump_refits_at_the_last_few_boundaries_only() -> None:
    jump = engine.boundaries_between(10 * PERIOD, 30 * PERIOD, 28, cap=True)
    assert jump == [k * PERIOD for k in range(31 - engine.MAX_REFITS_PER_STEP, 31)]
    assert engine.boundaries_between(10 * PERIOD + 5.0, 12 * PERIOD, 28, cap=True) == [11 * PERIOD, 12 * PERIOD]


def test_boundaries_are_counted_from_the_epoch_in_whole_refit_periods() -> None:
    after = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    found = engine.boundaries_between(after, after + 20 * DAY, 7)
    assert len(found) in (2, 3)
    assert all(b % (7 * DAY) == 0 and after < b <= after + 20 * DAY for b in found)


def _rows(n: int, seed: int = 3) -> list[engine.FitRow]:
    """``n`` customers of a shop open 400 days, as the model sees them: each buys at their own rate
    (Gamma across customers) for their own lifetime (exponential), at least a day apart."""
    rng = np.random.default_rng(seed)
    base = pf.local_day(T0, ZONE)
    rows = []
    for _ in range(n):
        first = base + int(rng.integers(0, 200))
        rate, life = rng.gamma(0.8, 1 / 25), rng.exponential(120)
        days = [first]
        while (day := days[-1] + max(1, round(rng.exponential(1 / rate)))) <= min(first + life, base + 400):
            days.append(day)
        cents = [int(rng.integers(500, 5_000)) for _ in days]
        rows.append(engine.FitRow(first, days[-1], len(days), sum(cents), cents[0]))
    return rows


def _one_off(row: engine.FitRow) -> engine.FitRow:
    return engine.FitRow(row.first_day, row.first_day, 1, row.first_day_cents, row.first_day_cents)


def test_fit_population_returns_none_on_thin_data() -> None:
    as_of = at(400)
    rows = _rows(200)
    assert sum(r.purchase_days > 1 for r in rows) > 50
    assert engine.fit_population(rows[:engine.MIN_FIT_CUSTOMERS - 1], as_of, ZONE, 1, None) is None
    assert engine.fit_population([_one_off(r) for r in rows], as_of, ZONE, 1, None) is None
    repeat = [i for i, r in enumerate(rows) if r.purchase_days > 1]
    few_came_back = [r if i in repeat[:engine.MIN_FIT_REPEAT_BUYERS - 1] else _one_off(r) for i, r in enumerate(rows)]
    assert engine.fit_population(few_came_back, as_of, ZONE, 1, None) is None
    enough = [r if i in repeat[:engine.MIN_FIT_REPEAT_BUYERS] else _one_off(r) for i, r in enumerate(rows)]
    assert engine.fit_population(enough, as_of, ZONE, 1, None) is not None


def test_fit_population_fits_the_model_and_monotone_cut_points() -> None:
    rows = _rows(150)
    as_of = at(400)
    population = engine.fit_population(rows, as_of, ZONE, 4, domain.DEFAULT_POPULATION)

    assert population is not None
    assert (population.version, population.as_of) == (4, as_of)
    assert population.model.kind == "pareto_nbd"
    assert population.model.customers == len(rows)
    assert population.model.params != population_model.DEFAULT_MODEL.params
    for cuts in (population.recency_cuts, population.frequency_cuts, population.monetary_cuts):
        assert len(cuts) == 4
        assert list(cuts) == sorted(cuts)
    last_days = [r.last_day for r in rows]
    as_of_day = (as_of - T0) / DAY + pf.local_day(T0, ZONE)
    assert as_of_day - max(last_days) <= population.recency_cuts[0] <= population.recency_cuts[-1] <= \
        as_of_day - min(last_days)
    assert 1 <= population.frequency_cuts[0] <= population.frequency_cuts[-1] <= max(r.purchase_days for r in rows)
    # What is stored reads back the same.
    model, stored_cuts = engine.population_to_json(population)
    back = engine.population_from_json(population.version, population.as_of, json.loads(json.dumps(model)),
                                       json.loads(json.dumps(stored_cuts)))
    assert (back.recency_cuts, back.frequency_cuts, back.monetary_cuts) == (
        population.recency_cuts, population.frequency_cuts, population.monetary_cuts)
    assert back.model == population.model


def test_events_built_without_validation_equal_validated_ones() -> None:
    """``pf.built`` skips pydantic's validation for speed; it must make the same objects."""
    customer, alert = uuid.uuid4(), uuid.uuid4()
    when = datetime(2026, 3, 1, tzinfo=UTC)
    evidence = dict(baseline=7.0, observed=15.0, threshold=14.0, unit="days", event_ids=[uuid.uuid4()],
                    ticket_id=None, due_at=None)
    late = dict(baseline=None, observed=2.5, threshold=None, unit="hours", event_ids=[uuid.uuid4()],
                ticket_id=uuid.uuid4(), due_at=when)
    cases: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (AlertEvidence, evidence),
        (CustomerAlertRaised, dict(customer_id=customer, occurred_at=when, alert_id=alert, kind="purchase_overdue",
                                   rule_version="r", evidence=AlertEvidence(**evidence))),
        (LifecycleStageChanged, dict(customer_id=customer, occurred_at=when, previous_stage="stability",
                                     stage="decline", reason="overdue_gap", rule_version="r",
                                     evidence=AlertEvidence(**evidence))),
        (SegmentChanged, dict(customer_id=customer, occurred_at=when, previous_segment=None, segment="potential",
                              recency_score=5, frequency_score=1, monetary_score=3, rule_version="r")),
        (CustomerAlertCleared, dict(customer_id=customer, occurred_at=when, alert_id=alert, kind="quantity_drop",
                                    rule_version="r", reason="basket_recovered", evidence=AlertEvidence(**evidence))),
        (AlertEvidence, late),
        (CustomerAlertRaised, dict(customer_id=customer, occurred_at=when, alert_id=alert, kind="complaint_unanswered",
                                   rule_version="r", evidence=AlertEvidence(**late))),
    ]
    stored = {"baseline": 7, "observed": 15.0, "threshold": None, "unit": "days", "event_ids": [str(uuid.uuid4())]}
    assert transitions._stored_evidence(stored, []) == AlertEvidence(**stored)
    assert transitions._stored_evidence(stored, []).model_dump(mode="json") == AlertEvidence(**stored).model_dump(mode="json")
    cleared_by = [uuid.uuid4()]
    assert transitions._stored_evidence(stored, cleared_by) == AlertEvidence(**{**stored, "event_ids": cleared_by})
    for cls, fields in cases:
        fast, validated = pf.built(cls, **fields), cls(**fields)
        assert fast == validated
        assert fast.model_dump(mode="json") == validated.model_dump(mode="json")
        assert set(cls.model_fields) == set(fields)  # every field given: built() fills no defaults


def test_a_fact_read_from_stored_data_equals_the_fact_of_the_validated_event() -> None:
    from decimal import Decimal

    from shared.events import CustomerRegistered, OrderLine, OrderPlaced

    customer, when = uuid.uuid4(), datetime(1997, 3, 1, 10, tzinfo=UTC)
    events = [
        CustomerRegistered(customer_id=customer, occurred_at=when, name="x", external_ref="00042", owner="li-na"),
        OrderPlaced(customer_id=customer, occurred_at=when, order_id=uuid.uuid4(), channel="import", currency="USD",
                    lines=[OrderLine(sku="a", quantity=Decimal("0.335"), unit_price=Decimal("3.00"), amount=Decimal("1.01")),
                           OrderLine(sku="b", quantity=Decimal("2"), unit_price=Decimal("14.67"), amount=Decimal("29.33"))],
                    total=Decimal("30.34")),
    ]
    for event in events:
        event_id = uuid.uuid4()
        stored = engine.fact_of_data(str(event_id), type(event).__name__, event.model_dump(mode="json"), "CNY")
        assert stored == engine.fact_of(event_id, event, "CNY")
        assert engine.fact_of_data(str(event_id), type(event).__name__, event.model_dump(mode="json"), "USD") \
            == engine.fact_of(event_id, event, "USD")


def test_evidence_written_out_equals_pydantic_json() -> None:
    """``engine.evidence_json`` is what the alerts table stores; it must stay pydantic's JSON."""
    for evidence in (AlertEvidence(baseline=7.0, observed=15.25, threshold=14.0, unit="days",
                                   event_ids=[uuid.uuid4(), uuid.uuid4()]),
                     AlertEvidence(observed=0.75, unit="probability"), AlertEvidence(),
                     AlertEvidence(observed=2.5, unit="hours", event_ids=[uuid.uuid4()], ticket_id=uuid.uuid4(),
                                   due_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
                     AlertEvidence(due_at=datetime(2025, 3, 1, 9, 30, 0, 123, tzinfo=timezone(timedelta(hours=8))))):
        assert engine.evidence_json(evidence) == evidence.model_dump(mode="json")
    assert set(AlertEvidence.model_fields) == {"baseline", "observed", "threshold", "unit", "event_ids", "ticket_id",
                                               "due_at"}


def test_an_order_in_another_currency_is_a_purchase_but_its_amount_is_never_added() -> None:
    """A weekly regular paying 10.00 in the shop currency, then two weeks paid in USD: two more
    purchase days (no overdue alert), no value drop from days with no shop-currency amount, the
    spent and monetary figures in the shop currency only, the USD kept apart, and all of it
    surviving the stored form."""
    buyer = Buyer()
    for week in range(6):
        buyer.buy(7 * week)
    buyer.buy(42, cents=0, other=("USD", 1_200))
    buyer.buy(49, cents=0, other=("USD", 350))
    buyer.buy(49, cents=500)
    profile = buyer.profile
    assert (len(profile.days), profile.orders, profile.cents) == (8, 9, 6_500)
    assert profile.other_currencies == {"USD": [2, 1_550]}
    a = domain.assess(profile, at(50), buyer.population, ZONE)
    assert "value_drop" not in a.conditions and "purchase_overdue" not in a.conditions
    assert a.usual_cents == 1_000 and a.recent_cents == 750  # days 35 and 49: the USD-only day 42 is left out
    again = pf.from_json(profile.customer_id, json.loads(json.dumps(pf.to_json(profile))))
    assert (again.other_currencies, [d.unpriced for d in again.days]) == ({"USD": [2, 1_550]}, [0] * 6 + [1, 1])
    assert pf.to_json(again) == pf.to_json(profile)


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("local_time", ["00:00:30", "07:59:50", "08:00:30", "12:00:00", "23:59:50"])
def test_a_purchase_20_seconds_ago_was_today(local_time: str) -> None:
    """``recency_days`` counts the shop's calendar days (0 = today), not time since a UTC midnight."""
    now = datetime.fromisoformat(f"2026-12-07T{local_time}").replace(tzinfo=SHANGHAI).timestamp()
    profile = pf.Profile(customer_id=str(uuid.uuid4()))
    transitions.apply_order(profile, at=now - 20, event_id=str(uuid.uuid4()), quantity=1.0, cents=100,
                   population=domain.DEFAULT_POPULATION, zone=SHANGHAI)
    assert domain.assess(profile, now, domain.DEFAULT_POPULATION, SHANGHAI).recency_days == 0


@pytest.mark.parametrize("now_local", ["2026-12-07T00:10:00", "2026-12-07T07:00:00", "2026-12-07T09:00:00",
                                       "2026-12-07T23:00:00"])
def test_a_purchase_yesterday_evening_in_shanghai_was_one_day_ago_whatever_the_utc_date(now_local: str) -> None:
    """Bought at 21:00 on the 6th in Shanghai (13:00 UTC on the 6th): on the 7th in Shanghai it was
    yesterday, whether the UTC date is still the 6th (00:10, 07:00) or already the 7th (09:00)."""
    bought = datetime(2026, 12, 6, 21, tzinfo=SHANGHAI).timestamp()
    now = datetime.fromisoformat(now_local).replace(tzinfo=SHANGHAI).timestamp()
    profile = pf.Profile(customer_id=str(uuid.uuid4()))
    transitions.apply_order(profile, at=bought, event_id=str(uuid.uuid4()), quantity=1.0, cents=100,
                   population=domain.DEFAULT_POPULATION, zone=SHANGHAI)
    a = domain.assess(profile, now, domain.DEFAULT_POPULATION, SHANGHAI)
    assert a.recency_days == 1
    assert a.elapsed_days == pytest.approx((now - datetime(2026, 12, 6, tzinfo=SHANGHAI).timestamp()) / DAY)
