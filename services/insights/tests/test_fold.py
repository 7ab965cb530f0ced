"""The in-memory fold of a replay (``folding.Fold``) over a generated shop: 300 customers over eight
months, with refits every 28 days of business time.

What a replay promises: the state does not depend on how the history was cut into chunks (a
consumer's batches of a few events, the replay's chunks of thousands), because time is cut at
the same refit boundaries and every profile steps through the same due times.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from services.insights import domain, engine, replay
from services.insights import fold as folding
from services.insights import profile as pf
from shared.events import CustomerAlertRaised, Event

ZONE = UTC
REFIT_DAYS = 28
START = datetime(2023, 1, 2, tzinfo=UTC).timestamp()
KINDS = ("weekly", "monthly", "one_off", "weekly_stops", "monthly_stops", "halves")


@cache
def shop(customers: int = 300, seed: int = 7) -> tuple[tuple[engine.Fact, ...], dict[str, str]]:
    """Facts in time order and each customer's kind. Orders fall between 09:00 and 18:00 (never
    on a refit boundary, which is midnight UTC); regular gaps jitter by a day."""
    rng = random.Random(seed)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    facts: list[engine.Fact] = []
    kinds: dict[str, str] = {}
    for n in range(customers):
        customer, kind = new_id(), KINDS[n % len(KINDS)]
        kinds[customer] = kind
        first = rng.randrange(0, 90)
        facts.append(engine.Fact(START + first * pf.DAY_S + 8 * 3600, customer, new_id(), "registered",
                                 external_ref=f"card-{n}", owner="amy" if n % 2 else None))
        if kind == "one_off":
            days = [first]
        else:
            gap = 30 if kind.startswith("monthly") else 7
            end = first + rng.randrange(80, 140) if kind.endswith("stops") else 240
            days, day = [], first
            while day < end:
                days.append(day)
                day += gap + rng.choice((-1, 0, 0, 1))
        for i, day in enumerate(days):
            quantity = 2.0 if kind == "halves" and i >= len(days) // 2 else 4.0
            at = START + day * pf.DAY_S + rng.randrange(9 * 3600, 18 * 3600)
            facts.append(engine.Fact(at, customer, new_id(), "order", quantity=quantity, cents=int(quantity * 1_250)))
    return tuple(engine.in_time_order(facts)), kinds


@cache
def folded(chunk: int | None, announce: bool = False) -> folding.Fold:
    """The shop folded in one ``run`` (as ``rebuild`` does: chunk None) or ``chunk`` facts at a time;
    ``announce`` keeps the stage and segment changes a live consumer publishes."""
    facts, _ = shop()
    fold = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS, announce=announce)
    if chunk is None:
        fold.run(list(facts))
    else:
        for start in range(0, len(facts), chunk):
            fold.run(list(facts[start:start + chunk]))
    return fold


def by_customer(events: list[Event]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        out[str(e.customer_id)].append({"type": type(e).__name__, **e.model_dump(mode="json")})
    return dict(out)


def models(fold: folding.Fold) -> list[tuple[Any, ...]]:
    return [(p.version, p.as_of, customers, p.model.to_json(), p.recency_cuts, p.frequency_cuts, p.monetary_cuts)
            for p, customers in fold.models]


def assert_same_fold(a: folding.Fold, b: folding.Fold) -> None:
    assert models(a) == models(b)
    assert (a.population.version, a.watermark) == (b.population.version, b.watermark)
    assert a.profiles.keys() == b.profiles.keys()
    differing = [c for c in a.profiles if pf.to_json(a.profiles[c]) != pf.to_json(b.profiles[c])]
    assert differing == [], f"{len(differing)} of {len(a.profiles)} profiles differ"
    assert by_customer(a.transitions) == by_customer(b.transitions)
    assert len(a.transitions) == len(b.transitions)


def test_the_generated_shop_is_big_enough_to_refit_several_times() -> None:
    facts, kinds = shop()
    assert len(kinds) == 300 and len(facts) > 3_000
    fold = folded(7)
    assert len(fold.models) >= 3
    assert [p.version for p, _ in fold.models] == list(range(1, len(fold.models) + 1))
    assert all(p.as_of is not None and p.as_of % (REFIT_DAYS * pf.DAY_S) == 0 for p, _ in fold.models)


def test_consumer_sized_batches_of_any_size_fold_to_the_same_state() -> None:
    """Chunks of 7 facts and of 97: the same refits, profiles and transitions, stage and segment
    changes included (each chunk crosses at most a few refit boundaries)."""
    assert_same_fold(folded(7, True), folded(97, True))


def test_a_replay_that_announces_nothing_reaches_the_same_state_and_alerts() -> None:
    """A replay leaves the stage and segment events out (it publishes nothing); the profiles, their
    status and every alert event are those of the fold that announces."""
    quiet, loud = folded(None), folded(None, True)
    kinds = {type(e).__name__ for e in loud.transitions}
    assert {"LifecycleStageChanged", "SegmentChanged"} <= kinds
    assert {type(e).__name__ for e in quiet.transitions} == {"CustomerAlertRaised", "CustomerAlertCleared"}
    alerts_only = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS)
    alerts_only.transitions = [e for e in loud.transitions if type(e).__name__.startswith("CustomerAlert")]
    alerts_only.profiles, alerts_only.models = loud.profiles, loud.models
    alerts_only.population, alerts_only.watermark = loud.population, loud.watermark
    assert_same_fold(quiet, alerts_only)


def test_one_run_folds_to_the_same_state_as_chunks_of_seven() -> None:
    """``rebuild`` folds the whole history in one ``run`` (internal chunks of 5,000 facts); the live
    consumer saw it in small batches. The replay must reach the live state.

    (Found by this test: the first chunk refitted at no boundary and later ones at three at most,
    so one run refitted once where chunks of 7 refitted 5 times.)"""
    assert_same_fold(folded(None), folded(7))


def test_golden_stopping_regulars_are_overdue_and_steady_ones_are_not() -> None:
    fold = folded(7)
    _, kinds = shop()
    overdue: dict[str, CustomerAlertRaised] = {}
    for e in fold.transitions:
        if isinstance(e, CustomerAlertRaised) and e.kind == "purchase_overdue":
            overdue.setdefault(str(e.customer_id), e)

    stopped = [c for c, k in kinds.items() if k == "weekly_stops"]
    assert stopped
    for customer in stopped:
        profile = fold.profiles[customer]
        assert len(profile.days) >= domain.REGULAR_DAYS
        alert = overdue.get(customer)
        assert alert is not None, f"weekly regular {customer} stopped and was never overdue"
        last_day = pf.day_start(profile.days[-1].day, ZONE)
        baseline, threshold = alert.evidence.baseline, alert.evidence.threshold
        assert baseline is not None and 6.0 <= baseline <= 8.0  # weekly, give or take a day
        assert threshold is not None and 2 * baseline <= threshold <= 16.0
        assert alert.occurred_at.timestamp() == pytest.approx(last_day + threshold * pf.DAY_S, abs=1.0)
        assert [str(i) for i in alert.evidence.event_ids] == profile.days[-1].event_ids
        assert profile.status.stage in ("decline", "lost")

    for customer, kind in kinds.items():
        if kind in ("weekly", "one_off"):
            assert customer not in overdue, f"{kind} customer {customer} was overdue"
    # One-off buyers end in exploration or lost, never anything a repeat buyer reaches.
    assert {fold.profiles[c].status.stage for c, k in kinds.items() if k == "one_off"} <= {"exploration", "lost"}
    halved = [c for c, k in kinds.items() if k == "halves"]
    assert sum(1 for e in fold.transitions if isinstance(e, CustomerAlertRaised) and e.kind == "quantity_drop"
               and str(e.customer_id) in halved) >= len(halved) // 2


def _rows(b: bytes) -> list[list[str]]:
    return sorted(csv.reader(io.StringIO(b.decode())))


def test_the_refit_schedule_is_the_refits_of_the_whole_fold() -> None:
    facts, _ = shop()
    whole = folded(None)
    schedule = folding.refit_schedule(list(facts), ZONE, REFIT_DAYS)
    assert models(whole) == models(dataclasses.replace(whole, models=list(schedule.values())))
    assert len(schedule) == len(whole.models) >= 3


def test_customers_folded_in_parts_with_the_schedule_fold_as_among_all() -> None:
    """A worker folds its share of the customers with the schedule's population models: the same
    profiles and alerts as the fold of everyone (a part's facts can start after some refits and end
    before the last fact: ``since`` and ``until`` are the whole history's)."""
    facts, _ = shop()
    whole = folded(None)
    schedule = folding.refit_schedule(list(facts), ZONE, REFIT_DAYS)
    first_refit = min(schedule)
    late = {f.customer_id for f in facts if f.at > first_refit} - {f.customer_id for f in facts if f.at <= first_refit}
    parts = [[f for f in facts if (f.customer_id in late) == k] for k in (True, False)]
    folds = []
    for part in parts:
        fold = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS, schedule=schedule)
        fold.run(part, since=facts[0].at, until=engine.last_purchase_at(facts))
        folds.append(fold)
    assert late and parts[0][0].at > first_refit  # the late part starts after the first refit
    merged = {c: p for fold in folds for c, p in fold.profiles.items()}
    assert merged.keys() == whole.profiles.keys()
    assert [c for c in merged if pf.to_json(merged[c]) != pf.to_json(whole.profiles[c])] == []
    assert by_customer([e for fold in folds for e in fold.transitions]) == by_customer(whole.transitions)
    assert {fold.watermark for fold in folds} == {whole.watermark}


async def test_worker_processes_write_the_rows_of_the_fold_in_one_process() -> None:
    """``Workers``: two real processes, fed the refit decisions over their sockets as they are made."""
    facts, _ = shop()
    whole = folding.written(folded(None))
    workers = replay.Workers(2)
    try:
        workers.start(list(facts), ZONE, REFIT_DAYS, engine.last_purchase_at(list(facts)))
        folding.refit_schedule(list(facts), ZONE, REFIT_DAYS, decided=workers.decide)
        parts = [part async for part in workers.results()]
    finally:
        workers.stop()
    assert all(p.customers > 50 for p in parts)
    assert sum(p.customers for p in parts) == whole.customers and sum(p.alerts for p in parts) == whole.alerts
    assert sorted(r for p in parts for r in _rows(p.profiles_csv)) == _rows(whole.profiles_csv)
    assert sorted(r for p in parts for r in _rows(p.alerts_csv)) == _rows(whole.alerts_csv)


async def test_a_worker_that_fails_fails_the_replay() -> None:
    workers = replay.Workers(1)
    try:
        workers.pipes[0].send("not the work a worker expects")
        with pytest.raises(RuntimeError, match="replay worker failed"):
            [part async for part in workers.results()]
    finally:
        workers.stop()
    assert all(p.returncode is not None for p in workers.processes)


def test_a_fold_that_knows_the_fits_takes_them_and_reaches_the_same_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay reuses stored fits whose inputs (``fit_key``) it meets again: the same models and
    the same fold, without fitting."""
    facts, _ = shop()
    cold = folded(None)
    known = {p.fit_key: engine.population_to_json(p) for p, _ in cold.models if p.fit_key}
    assert len(known) == len(cold.models)

    def no_fitting(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fitted although the fit was known")

    monkeypatch.setattr(engine.population_fit, "fit_population", no_fitting)
    warm = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS, known_fits=known)
    warm.run(list(facts))
    assert_same_fold(warm, cold)
    assert [p.fit_key for p, _ in warm.models] == [p.fit_key for p, _ in cold.models]


def test_the_fit_key_changes_with_the_rows_the_time_and_the_starting_model() -> None:
    rows = [engine.FitRow(730_000 + i, 730_000 + 2 * i, 1 + i % 3, 1_000 * i, 500) for i in range(60)]
    base = engine.fit_key(rows, 1.0e9, ZONE, None)
    assert engine.fit_key(list(rows), 1.0e9, ZONE, None) == base
    assert engine.fit_key(rows, 1.0e9, ZONE, domain.DEFAULT_POPULATION) == base  # no warm start = the default
    assert engine.fit_key(rows[:-1], 1.0e9, ZONE, None) != base
    assert engine.fit_key([*rows[:-1], dataclasses.replace(rows[-1], cents=1)], 1.0e9, ZONE, None) != base
    assert engine.fit_key(rows, 1.0e9 + 86_400, ZONE, None) != base
    fitted = engine.fit_population(rows, 1.0e9, ZONE, 1, None)
    assert fitted is not None
    assert engine.fit_key(rows, 1.0e9, ZONE, fitted) != base


def test_the_base_has_grown_past_its_model_once_a_quarter_bigger_and_big_enough_to_fit() -> None:
    prior = domain.DEFAULT_POPULATION
    assert not engine.grown(prior, engine.MIN_FIT_CUSTOMERS - 1, 40)  # too few to fit
    assert not engine.grown(prior, 400, engine.MIN_FIT_REPEAT_BUYERS - 1)
    assert engine.grown(prior, engine.MIN_FIT_CUSTOMERS, engine.MIN_FIT_REPEAT_BUYERS)  # no fit yet
    fitted = dataclasses.replace(prior, version=3, as_of=1.0e9, customers=400)
    assert not engine.grown(fitted, 499, 200)
    assert engine.grown(fitted, 500, 200)


def test_time_alone_does_not_refit_but_a_purchase_after_the_model_does() -> None:
    day = pf.local_day(START, ZONE)
    fitted = dataclasses.replace(domain.DEFAULT_POPULATION, version=2, as_of=START, customers=400)
    a_year_on = START + 365 * pf.DAY_S
    assert engine.should_refit(domain.DEFAULT_POPULATION, 0, None, a_year_on, ZONE)  # no fit yet
    assert not engine.should_refit(fitted, 400, day - 1, a_year_on, ZONE)  # a year old, nobody bought since
    assert not engine.should_refit(fitted, 600, None, a_year_on, ZONE)
    assert engine.should_refit(fitted, 400, day + 3, a_year_on, ZONE)  # a year old, and new purchases
    assert not engine.should_refit(fitted, 400, day + 3, START + 28 * pf.DAY_S, ZONE)  # four weeks old, same base
    assert engine.should_refit(fitted, 500, day + 3, START + 28 * pf.DAY_S, ZONE)  # a quarter more buyers


def test_one_order_years_after_the_history_crosses_its_boundaries_without_refitting_each() -> None:
    facts, _ = shop()
    last = facts[-1]
    years_later = engine.Fact(last.at + 6 * 365 * pf.DAY_S, last.customer_id, str(uuid.uuid4()), "order",
                              quantity=1.0, cents=1_000)
    whole = folded(None)
    fold = folding.Fold(zone=ZONE, refit_days=REFIT_DAYS)
    fold.run([*facts, years_later])  # the clock jumps 78 refit boundaries
    # At most one refit on the last purchases of the history; none for the quiet years.
    assert len(whole.models) <= len(fold.models) <= len(whole.models) + 1
    assert models(fold)[:len(whole.models)] == models(whole)
    schedule = folding.refit_schedule([*facts, years_later], ZONE, REFIT_DAYS)
    assert models(fold) == models(dataclasses.replace(fold, models=list(schedule.values())))


def test_the_clock_that_moves_never_goes_back_and_the_other_stays() -> None:
    # events: the watermark moves (never back), the wall clock stays
    assert engine.moved_clock(100.0, 300.0, 200.0, first_at=150.0, wall=False) == engine.Clock(200.0, 300.0, 300.0,
                                                                                                300.0, 200.0)
    assert engine.moved_clock(250.0, None, 200.0, first_at=150.0, wall=False).watermark == 250.0
    # a sweep: the wall clock moves, the watermark stays
    assert engine.moved_clock(100.0, 300.0, 400.0, first_at=None, wall=True) == engine.Clock(100.0, 400.0, 300.0,
                                                                                              400.0, 400.0)
    # registrations only (no purchase): the clock stays; before any event, time starts at the first
    assert engine.moved_clock(100.0, None, None, first_at=50.0, wall=False).now == 100.0
    assert engine.moved_clock(None, None, None, first_at=50.0, wall=False) == engine.Clock(50.0, None, 50.0, 50.0, 50.0)
