"""Each customer's profile: rhythm, basket, value, lifecycle stage, segment and alerts. Pure, no I/O.

The profile is folded from the customer's events one at a time (``apply_order``,
``apply_registered``) and judged by rules that are pure functions of the profile and an ``as_of``
time (``assess``). Between events only time moves, and every rule that time can change has a
known crossing time (the gap passes the customer's own overdue threshold on a given day; the
recency score drops at a given day; the churn check points follow a fixed schedule after the last
purchase). ``due_at`` is the next such time and ``advance`` steps through them in order, so the
alerts, stage and segment changes land at the same business times whether the clock that moved
is the wall clock of a live sweeper, the event-time watermark of an import, or a replay.

Times are epoch seconds (float) inside the profile; a purchase *day* is the calendar day in the
shop's time zone, because the rhythm of a shop's customers is counted in days and several
orders on one day are one purchase occasion (the convention of the BG/NBD and Pareto/NBD models).
Money is kept in integer cents.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, TypeVar

from pydantic import BaseModel

from services.insights import model as population_model
from shared.events import (
    AlertEvidence,
    CustomerAlertCleared,
    CustomerAlertRaised,
    Event,
    LifecycleStageChanged,
    SegmentChanged,
)

RULE_VERSION = "rules-2026.11-1"
DAY_S = 86_400.0
HORIZON_DAYS = 90.0

# A regular has bought on at least this many days: enough gaps (3) to know their rhythm.
REGULAR_DAYS = 4
# The customer's usual gap is the median of their latest gaps (robust to one odd gap).
RHYTHM_WINDOW = 8
# Overdue once the gap passes the largest of: twice the usual gap, the usual gap plus three
# spreads, and 1.2 × the longest gap they ever came back from (a seasonal buyer's off season).
OVERDUE_FACTOR, OVERDUE_SPREADS, LONGEST_GAP_FACTOR = 2.0, 3.0, 1.2
# Lost: a regular absent three overdue thresholds (and at least LOST_MIN_DAYS); anyone else
# after a year, or three times their longest gap if that is longer.
LOST_FACTOR, LOST_MIN_DAYS, LOST_DEFAULT_DAYS = 3.0, 90.0, 365.0
# Basket drop: the mean of the last two purchase days below 60% of the median of up to eight
# days before them; cleared once back above 80% (hysteresis: no flapping around one line).
BASKET_RECENT, BASKET_BASELINE, DROP_RAISE, DROP_CLEAR = 2, 8, 0.6, 0.8
# Churn risk of repeat buyers: raised at 0.7, cleared below 0.5. Checked at every event and at
# fixed points after the last purchase (7, 14, 28, ... days): a pure function of the history.
CHURN_RAISE, CHURN_CLEAR = 0.7, 0.5
CHURN_CHECKS_DAYS = tuple(7.0 * 2**k for k in range(9))  # up to 1,792 days
EVENT_IDS_KEPT = 10  # purchase days whose order ids are kept as evidence

ALERT_NAMESPACE = uuid.UUID("5b0f3c4e-7a61-4d59-9b1e-6b6568750001")


@dataclass(frozen=True, slots=True)
class Rhythm:
    typical: float
    spread: float
    longest: float
    overdue_after: float
    lost_after: float


@dataclass(slots=True)
class PurchaseDay:
    day: int  # proleptic ordinal of the local date
    quantity: float
    cents: int
    orders: int
    event_ids: list[str]
    unpriced: int = 0  # orders that day in another currency than the shop's (not in ``cents``)


@dataclass(slots=True)
class OpenAlert:
    alert_id: str
    raised_at: float
    evidence: dict[str, Any]


@dataclass(slots=True)
class Status:
    """What was last concluded, to publish only changes."""

    stage: str | None = None
    stage_reason: str | None = None
    stage_since: float | None = None
    segment: str | None = None
    alerts: dict[str, OpenAlert] = field(default_factory=dict)


@dataclass(slots=True)
class Profile:
    customer_id: str
    external_ref: str | None = None
    owner: str | None = None
    registered_at: float | None = None
    days: list[PurchaseDay] = field(default_factory=list)
    orders: int = 0
    cents: int = 0  # in the shop currency only
    # orders in other currencies: {code: [orders, cents]}, counted as purchases, never added to ``cents``
    other_currencies: dict[str, list[int]] = field(default_factory=dict)
    first_purchase_at: float | None = None
    last_purchase_at: float | None = None
    # gaps between purchase days, kept as running sums (exact: whole days)
    gaps: int = 0
    gap_sum: int = 0
    gap_sq_sum: int = 0
    longest_gap: int = 0
    evaluated_at: float | None = None
    status: Status = field(default_factory=Status)
    beat: Rhythm | None = field(default=None, repr=False, compare=False)  # cache of rhythm(), not stored
    baskets: dict[str, tuple[float, float, list[str]] | None] = field(default_factory=dict, repr=False, compare=False)
    # cache of the due times (``due_at``) under a population version; emptied when days or alerts change
    dues: tuple[int, tuple[float, ...]] | None = field(default=None, repr=False, compare=False)
    customer_uuid: uuid.UUID | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Population:
    """The fitted population model plus the RFM cut points of the same fit."""

    version: int
    as_of: float | None
    model: population_model.PopulationModel
    customers: int = 0  # buying customers it was fitted on
    recency_cuts: tuple[float, ...] = (30.0, 90.0, 180.0, 365.0)  # days, best first
    frequency_cuts: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # purchase days
    monetary_cuts: tuple[float, ...] = ()  # cents; none until a fit knows the shop's prices
    fit_key: str | None = None  # digest of what it was fitted on (``engine.fit_key``)


DEFAULT_POPULATION = Population(version=0, as_of=None, model=population_model.DEFAULT_MODEL)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a rule saw (a light twin of ``AlertEvidence``, which is built only for events)."""

    baseline: float | None = None
    observed: float | None = None
    threshold: float | None = None
    unit: str = ""
    event_ids: tuple[str, ...] = ()

    def model(self) -> AlertEvidence:
        return built(AlertEvidence, baseline=self.baseline, observed=self.observed, threshold=self.threshold,
                     unit=self.unit, event_ids=[uuid.UUID(i) for i in self.event_ids])

    def as_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "observed": self.observed, "threshold": self.threshold,
                "unit": self.unit, "event_ids": list(self.event_ids)}


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Assessment:
    as_of: float
    purchase_days: int
    recency_days: int | None  # whole shop-calendar days since the last purchase day: 0 today, 1 yesterday
    elapsed_days: float | None  # since the start of the last purchase day, continuous: what the rules count
    typical_gap_days: float | None
    gap_spread_days: float | None
    longest_gap_days: float | None
    overdue_after_days: float | None
    usual_quantity: float | None
    usual_cents: float | None
    recent_quantity: float | None
    recent_cents: float | None
    p_alive: float | None
    expected_purchases_90d: float
    expected_value_90d: float
    churn_risk: float
    recency_score: int
    frequency_score: int
    monetary_score: int
    segment: str
    stage: str
    stage_reason: str
    stage_evidence: Evidence
    loyal: bool
    conditions: dict[str, Condition]


# --- events, built without validation -------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def built(cls: type[M], **fields: Any) -> M:
    """An instance of a pydantic model from values computed and typed here, every field given.

    Validation is for what comes in; a fold of a long history builds hundreds of thousands of
    these, and pydantic's own ``model_construct`` (which also fills defaults) costs ~12 µs each
    against ~1 µs here. Pinned pydantic 2.x stores an instance's state in these four attributes;
    a test checks that ``built`` equals the validated constructor for every insights event.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


# --- time helpers ---------------------------------------------------------------------------


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def local_day(at: float, zone: tzinfo) -> int:
    if zone is UTC:
        return int(at // DAY_S) + _EPOCH_ORDINAL
    return datetime.fromtimestamp(at, zone).date().toordinal()


@functools.lru_cache(maxsize=65_536)
def day_start(day: int, zone: tzinfo) -> float:
    return datetime.combine(date.fromordinal(day), time(0), zone).timestamp()


def to_datetime(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


# --- folding events -------------------------------------------------------------------------


def apply_registered(profile: Profile, *, at: float, external_ref: str | None, owner: str | None) -> None:
    """Registration names the customer but concludes nothing: the first purchase starts the story.

    (So a registration that arrives after the first order, from another topic, changes nothing.)
    """
    profile.external_ref = external_ref or profile.external_ref
    profile.owner = owner or profile.owner
    if profile.registered_at is None or at < profile.registered_at:
        profile.registered_at = at


def add_purchase(profile: Profile, *, at: float, event_id: str, quantity: float, cents: int, zone: tzinfo,
                 other: tuple[str, int] | None = None) -> None:
    """Fold one order in: a new purchase day, or one more order on a day already known.

    ``other``: (currency, cents) of an order in another currency than the shop's (``cents`` is 0):
    a purchase all the same (rhythm, frequency), its amount kept apart, never added to the shop's.
    """
    unpriced = 0
    if other is not None:
        unpriced = 1
        kept = profile.other_currencies.setdefault(other[0], [0, 0])
        kept[0] += 1
        kept[1] += other[1]
    profile.beat = None
    profile.baskets.clear()
    profile.dues = None
    day = local_day(at, zone)
    profile.orders += 1
    profile.cents += cents
    if profile.first_purchase_at is None or at < profile.first_purchase_at:
        profile.first_purchase_at = at
    if profile.last_purchase_at is None or at > profile.last_purchase_at:
        profile.last_purchase_at = at
    days = profile.days
    if days and days[-1].day == day:
        _add_to_day(days[-1], quantity, cents, event_id, unpriced)
        return
    if not days or day > days[-1].day:  # the usual case: history arrives in order
        if days:
            _count_gap(profile, day - days[-1].day)
        days.append(PurchaseDay(day, quantity, cents, 1, [event_id], unpriced))
    else:  # a late event: insert it where it belongs and recount the gaps (rare)
        existing = next((d for d in days if d.day == day), None)
        if existing is not None:
            _add_to_day(existing, quantity, cents, event_id, unpriced)
        else:
            days.append(PurchaseDay(day, quantity, cents, 1, [event_id], unpriced))
            days.sort(key=lambda d: d.day)
            _recount_gaps(profile)
    for old in days[:-EVENT_IDS_KEPT]:
        old.event_ids.clear()


def _add_to_day(day: PurchaseDay, quantity: float, cents: int, event_id: str, unpriced: int) -> None:
    day.quantity += quantity
    day.cents += cents
    day.orders += 1
    day.unpriced += unpriced
    day.event_ids.append(event_id)
    day.event_ids.sort()


def _count_gap(profile: Profile, gap: int) -> None:
    profile.gaps += 1
    profile.gap_sum += gap
    profile.gap_sq_sum += gap * gap
    profile.longest_gap = max(profile.longest_gap, gap)


def _recount_gaps(profile: Profile) -> None:
    profile.gaps = profile.gap_sum = profile.gap_sq_sum = profile.longest_gap = 0
    for before, after in zip(profile.days, profile.days[1:], strict=False):
        _count_gap(profile, after.day - before.day)


# --- the rules ------------------------------------------------------------------------------


def rhythm(profile: Profile) -> Rhythm | None:
    """The customer's own rhythm (None before a second purchase day); cached until the next purchase."""
    if profile.gaps == 0:
        return None
    if profile.beat is None:
        profile.beat = _rhythm(profile)
    return profile.beat


def _rhythm(profile: Profile) -> Rhythm:
    days = profile.days
    window = days[-RHYTHM_WINDOW - 1:]
    recent = [b.day - a.day for a, b in itertools.pairwise(window)]
    typical = float(statistics.median(recent))
    mean = profile.gap_sum / profile.gaps
    spread = math.sqrt(max(profile.gap_sq_sum / profile.gaps - mean * mean, 0.0))
    longest = float(profile.longest_gap)
    overdue_after = max(OVERDUE_FACTOR * typical, typical + OVERDUE_SPREADS * spread, LONGEST_GAP_FACTOR * longest)
    if len(days) >= REGULAR_DAYS:
        lost_after = max(LOST_FACTOR * overdue_after, LOST_MIN_DAYS)
    else:
        lost_after = max(LOST_DEFAULT_DAYS, LOST_FACTOR * longest)
    return Rhythm(typical, spread, longest, overdue_after, lost_after)


def _lost_after(profile: Profile, beat: Rhythm | None) -> float:
    return beat.lost_after if beat else LOST_DEFAULT_DAYS


def _basket(profile: Profile, attr: str) -> tuple[float, float, list[str]] | None:
    """(usual, recent, evidence ids) of quantity or cents per purchase day, once there is a baseline."""
    if attr not in profile.baskets:
        profile.baskets[attr] = _basket_of(profile, attr)
    return profile.baskets[attr]


def _basket_of(profile: Profile, attr: str) -> tuple[float, float, list[str]] | None:
    days = profile.days
    if attr == "cents" and profile.other_currencies:  # a day paid only in another currency has no value here
        days = [d for d in days if d.orders > d.unpriced]
    if len(days) < BASKET_RECENT + 3:
        return None
    recent_days = days[-BASKET_RECENT:]
    baseline_days = days[-BASKET_RECENT - BASKET_BASELINE:-BASKET_RECENT]
    usual = float(statistics.median(getattr(d, attr) for d in baseline_days))
    recent = sum(getattr(d, attr) for d in recent_days) / BASKET_RECENT
    ids = [i for d in recent_days for i in d.event_ids]
    return usual, recent, ids


def _model_inputs(profile: Profile, as_of: float, zone: tzinfo) -> tuple[int, float, float]:
    """(x, t_x, T) in days: repeat purchase days, last purchase day and now since the first."""
    first = profile.days[0].day
    x = len(profile.days) - 1
    t_x = float(profile.days[-1].day - first)
    T = max((as_of - day_start(first, zone)) / DAY_S, t_x)
    return x, t_x, T


def _score(value: float, cuts: tuple[float, ...], *, lower_is_better: bool = False) -> int:
    """1-5 by how many (sorted) cut points the value is above; 3 without cut points."""
    if not cuts:
        return 3
    above = bisect.bisect_left(cuts, value)  # cut points strictly below the value
    return 5 - above if lower_is_better else 1 + above


def segment_of(recency: int, frequency: int) -> str:
    """RFM segment from the recency and frequency scores (1-5, 5 best); see the README's table."""
    if frequency >= 4:
        return "champions" if recency >= 4 else "loyal" if recency == 3 else "at_risk"
    if frequency == 3:
        return "loyal" if recency >= 3 else "at_risk"
    return "potential" if recency >= 3 else "hibernating" if recency == 2 else "lost"


def lifecycle_stage(purchase_days: int, *, lost: bool, overdue: bool, basket_drop: bool) -> tuple[str, str]:
    """(stage, reason): lost after a long absence; a regular in decline when overdue or buying
    less, else stable; formation from the second purchase day; exploration before."""
    regular = purchase_days >= REGULAR_DAYS
    if lost:
        return "lost", "long_absence"
    if regular and overdue:
        return "decline", "overdue_gap"
    if regular and basket_drop:
        return "decline", "basket_drop"
    if regular:
        return "stability", "regular_rhythm"
    if purchase_days >= 2:
        return "formation", "repeat_purchases"
    return "exploration", "first_purchase"


def _stage_evidence(reason: str, conditions: dict[str, Condition], beat: Rhythm | None, n_days: int,
                    recency: float, lost_after: float, last_ids: tuple[str, ...]) -> Evidence:
    """What the stage's reason rests on (``lifecycle_stage``), for its event and explanation."""
    if reason == "long_absence":
        return Evidence(baseline=beat.typical if beat else None, observed=round(recency, 3),
                        threshold=round(lost_after, 3), unit="days", event_ids=last_ids)
    if reason == "overdue_gap":
        return conditions["purchase_overdue"].evidence
    if reason == "basket_drop":
        return (conditions.get("quantity_drop") or conditions["value_drop"]).evidence
    if reason in ("regular_rhythm", "repeat_purchases"):
        return Evidence(baseline=beat.typical if beat else None, observed=float(n_days),
                        threshold=float(REGULAR_DAYS), unit="purchase_days")
    return Evidence(observed=1.0, threshold=2.0, unit="purchase_days", event_ids=last_ids)


def assess(profile: Profile, as_of: float, population: Population, zone: tzinfo, *, scores: bool = True) -> Assessment:
    """Everything insights concludes about a customer at ``as_of`` (at or after their last event).

    ``scores=False`` skips the model's expectations that no rule needs (the steps between events
    only need the churn risk of repeat buyers away longer than their longest gap; it is NaN for
    everyone else), which keeps a sweep of many customers cheap.
    """
    conditions: dict[str, Condition] = {}
    if not profile.days:
        since = profile.registered_at or as_of
        return Assessment(
            as_of=as_of, purchase_days=0, recency_days=None, elapsed_days=None, typical_gap_days=None, gap_spread_days=None,
            longest_gap_days=None, overdue_after_days=None, usual_quantity=None, usual_cents=None,
            recent_quantity=None, recent_cents=None, p_alive=None, expected_purchases_90d=0.0,
            expected_value_90d=0.0, churn_risk=1.0, recency_score=0, frequency_score=0, monetary_score=0,
            segment="prospect", stage="exploration", stage_reason="no_purchase",
            stage_evidence=Evidence(observed=(as_of - since) / DAY_S, unit="days"),
            loyal=False, conditions=conditions,
        )
    zone_last_start = day_start(profile.days[-1].day, zone)
    recency = max((as_of - zone_last_start) / DAY_S, 0.0)
    last_ids = tuple(profile.days[-1].event_ids)
    beat = rhythm(profile)
    n_days = len(profile.days)
    regular = n_days >= REGULAR_DAYS

    model = population.model
    x, t_x, T = _model_inputs(profile, as_of, zone)
    first_value = profile.days[0].cents / 100.0
    # The spend model sees the days with an amount in the shop currency only.
    priced_repeats = sum(1 for d in profile.days[1:] if d.orders > d.unpriced) if profile.other_currencies else x
    repeat_mean = (profile.cents - profile.days[0].cents) / 100.0 / priced_repeats if priced_repeats else None
    p_alive: float | None = None
    expected = value = 0.0
    # The model knows the population, not this customer's seasons: a repeat buyer is only
    # alerted once also away longer than any gap they came back from before.
    churn_watch = x >= 1 and beat is not None and recency > max(beat.typical, beat.longest)
    if scores:
        p_alive, expected, value, risk = population_model.scores(
            model, x, t_x, T, HORIZON_DAYS, repeat_mean, first_value)
    else:
        risk = population_model.churn_risk(model, x, t_x, T) if churn_watch else math.nan

    if regular and beat and recency > beat.overdue_after:
        conditions["purchase_overdue"] = Condition("purchase_overdue", Evidence(
            baseline=beat.typical, observed=round(recency, 3), threshold=round(beat.overdue_after, 3),
            unit="days", event_ids=last_ids))
    quantity = _basket(profile, "quantity")
    amount = _basket(profile, "cents")
    for kind, basket, unit, scale in (("quantity_drop", quantity, "quantity", 1.0), ("value_drop", amount, "amount", 100.0)):
        if basket is None or basket[0] <= 0:
            continue
        usual, recent, ids = basket
        was_open = kind in profile.status.alerts
        line = (DROP_CLEAR if was_open else DROP_RAISE) * usual
        if recent < line:
            conditions[kind] = Condition(kind, Evidence(
                baseline=round(usual / scale, 3), observed=round(recent / scale, 3),
                threshold=round(DROP_RAISE * usual / scale, 3), unit=unit,
                event_ids=tuple(ids)))
    if churn_watch:
        line = CHURN_CLEAR if "churn_risk" in profile.status.alerts else CHURN_RAISE
        if risk >= line:
            conditions["churn_risk"] = Condition("churn_risk", Evidence(
                baseline=round(population_model.churn_risk(model, x, t_x, t_x), 4), observed=round(risk, 4),
                threshold=CHURN_RAISE, unit="probability", event_ids=last_ids))

    lost_after = _lost_after(profile, beat)
    stage, reason = lifecycle_stage(
        n_days, lost=recency > lost_after, overdue="purchase_overdue" in conditions,
        basket_drop="quantity_drop" in conditions or "value_drop" in conditions)
    stage_evidence = _stage_evidence(reason, conditions, beat, n_days, recency, lost_after, last_ids)
    if stage == "decline" or (stage == "lost" and "stage_decline" in profile.status.alerts):
        conditions["stage_decline"] = Condition("stage_decline", stage_evidence)

    r = _score(recency, population.recency_cuts, lower_is_better=True)
    f = _score(float(n_days), population.frequency_cuts)
    m = _score(float(profile.cents), population.monetary_cuts)
    segment = segment_of(r, f)
    loyal = segment in ("champions", "loyal") and stage in ("formation", "stability")
    usual_q, recent_q = (quantity[0], quantity[1]) if quantity else (None, None)
    usual_c, recent_c = (amount[0], amount[1]) if amount else (None, None)
    return Assessment(
        as_of=as_of, purchase_days=n_days, recency_days=max(local_day(as_of, zone) - profile.days[-1].day, 0),
        elapsed_days=recency,
        typical_gap_days=beat.typical if beat else None, gap_spread_days=beat.spread if beat else None,
        longest_gap_days=beat.longest if beat else None, overdue_after_days=beat.overdue_after if beat and regular else None,
        usual_quantity=usual_q, usual_cents=usual_c, recent_quantity=recent_q, recent_cents=recent_c,
        p_alive=p_alive, expected_purchases_90d=expected, expected_value_90d=value, churn_risk=risk,
        recency_score=r, frequency_score=f, monetary_score=m, segment=segment, stage=stage,
        stage_reason=reason, stage_evidence=stage_evidence, loyal=loyal, conditions=conditions,
    )


def due_at(profile: Profile, after: float, population: Population, zone: tzinfo) -> float | None:
    """The first time after ``after`` at which time alone may change what ``assess`` says."""
    dues = profile.dues
    if dues is None or dues[0] != population.version:
        if not profile.days:
            return None
        dues = profile.dues = (population.version, _due_times(profile, population, zone))
    times = dues[1]
    index = bisect.bisect_right(times, after)
    return times[index] if index < len(times) else None


def _due_times(profile: Profile, population: Population, zone: tzinfo) -> tuple[float, ...]:
    start = day_start(profile.days[-1].day, zone)
    beat = rhythm(profile)
    offsets: list[float] = list(population.recency_cuts)
    offsets.append(_lost_after(profile, beat))
    open_alerts = profile.status.alerts
    if beat and len(profile.days) >= REGULAR_DAYS and "purchase_overdue" not in open_alerts:
        offsets.append(beat.overdue_after)
    if beat is not None and "churn_risk" not in open_alerts:
        guard = max(beat.typical, beat.longest)
        offsets.extend(c for c in CHURN_CHECKS_DAYS if c > guard)
        offsets.append(guard + 0.5)
    # A crossing is evaluated a hair after the threshold, where the strict comparison holds.
    return tuple(sorted({start + o * DAY_S + 0.001 for o in offsets}))


SAME, SEGMENT_ONLY, CHANGED = 0, 1, 2


def _time_change(profile: Profile, as_of: float, population: Population, zone: tzinfo) -> tuple[int, int, int]:
    """What a step at ``as_of`` would publish when only time moved since the last step: SAME
    (nothing), SEGMENT_ONLY (the recency score crossed a cut point, nothing else), or CHANGED
    (take the full step); with the recency and frequency scores. Conservative: unsure is CHANGED."""
    status = profile.status
    days = profile.days
    if not days or status.segment is None or status.stage is None:
        return CHANGED, 0, 0
    recency = max((as_of - day_start(days[-1].day, zone)) / DAY_S, 0.0)
    n_days = len(days)
    r = _score(recency, population.recency_cuts, lower_is_better=True)
    f = _score(float(n_days), population.frequency_cuts)
    beat = rhythm(profile)
    regular = n_days >= REGULAR_DAYS
    alerts = status.alerts
    overdue = bool(regular and beat and recency > beat.overdue_after)
    if overdue != ("purchase_overdue" in alerts):
        return CHANGED, r, f
    stage, _ = lifecycle_stage(n_days, lost=recency > _lost_after(profile, beat), overdue=overdue,
                               basket_drop="quantity_drop" in alerts or "value_drop" in alerts)
    if stage != status.stage:
        return CHANGED, r, f
    churn_open = "churn_risk" in alerts
    past_guard = beat is not None and recency > max(beat.typical, beat.longest)
    if past_guard:
        x, t_x, T = _model_inputs(profile, as_of, zone)
        risk = population_model.churn_risk(population.model, x, t_x, T)
        holds = risk >= (CHURN_CLEAR if churn_open else CHURN_RAISE)
        if holds != churn_open:
            return CHANGED, r, f
    elif churn_open:
        return CHANGED, r, f
    return (SAME if segment_of(r, f) == status.segment else SEGMENT_ONLY), r, f


# --- transitions ----------------------------------------------------------------------------


def step(profile: Profile, as_of: float, population: Population, zone: tzinfo,
         trigger_ids: list[str] | None = None, *, scores: bool = False,
         announce: bool = True) -> tuple[Assessment, list[Event]]:
    """Assess at ``as_of`` and return the events that publish what changed since the last step.

    ``announce=False`` (a replay, which publishes nothing) returns only the alert events, the
    alerts table's rows; stage and segment changes still move the status, unannounced.
    """
    assessment = assess(profile, as_of, population, zone, scores=scores)
    status = profile.status
    changes = (assessment.stage != status.stage or assessment.segment != status.segment
               or assessment.conditions.keys() != status.alerts.keys())
    if not changes:
        status.stage_reason = assessment.stage_reason
        profile.evaluated_at = as_of
        return assessment, []
    if ("purchase_overdue" in status.alerts) != ("purchase_overdue" in assessment.conditions) or \
            ("churn_risk" in status.alerts) != ("churn_risk" in assessment.conditions):
        profile.dues = None  # the due times depend on whether these two are open
    customer = _uuid_of(profile)
    when = to_datetime(as_of)
    events: list[Event] = []
    for kind, open_alert in list(status.alerts.items()):
        if kind not in assessment.conditions:
            reason = _clear_reason(kind, assessment)
            ids = [uuid.UUID(i) for i in (trigger_ids or [])]
            events.append(built(CustomerAlertCleared,
                customer_id=customer, occurred_at=when, alert_id=uuid.UUID(open_alert.alert_id), kind=kind,
                rule_version=RULE_VERSION, reason=reason, evidence=_stored_evidence(open_alert.evidence, ids),
            ))
            del status.alerts[kind]
    for kind, condition in assessment.conditions.items():
        if kind in status.alerts:
            continue
        alert_id = uuid.uuid5(ALERT_NAMESPACE, f"{profile.customer_id}/{kind}/{as_of:.3f}")
        status.alerts[kind] = OpenAlert(str(alert_id), as_of, condition.evidence.as_json())
        events.append(built(CustomerAlertRaised,
            customer_id=customer, occurred_at=when, alert_id=alert_id, kind=kind,
            rule_version=RULE_VERSION, evidence=condition.evidence.model(),
        ))
    if assessment.stage != status.stage and announce:
        events.append(built(LifecycleStageChanged,
            customer_id=customer, occurred_at=when, previous_stage=status.stage,
            stage=assessment.stage, reason=assessment.stage_reason,
            rule_version=RULE_VERSION, evidence=assessment.stage_evidence.model(),
        ))
    if assessment.stage != status.stage:
        status.stage, status.stage_since = assessment.stage, as_of
    status.stage_reason = assessment.stage_reason
    if assessment.segment != status.segment:
        if announce:
            events.append(_segment_changed(profile, as_of, assessment.recency_score, assessment.frequency_score,
                                           population))
        else:
            status.segment = assessment.segment
    profile.evaluated_at = as_of
    return assessment, events


def _stored_evidence(stored: dict[str, Any], event_ids: list[uuid.UUID]) -> AlertEvidence:
    """The evidence an open alert was raised with (``Evidence.as_json``, as stored), with the ids
    of the events that cleared it when there are any."""

    def number(key: str) -> float | None:
        value = stored.get(key)
        return None if value is None else float(value)

    return built(AlertEvidence, baseline=number("baseline"), observed=number("observed"),
                 threshold=number("threshold"), unit=str(stored.get("unit", "")),
                 event_ids=event_ids or [uuid.UUID(str(i)) for i in stored.get("event_ids", [])])


def _uuid_of(profile: Profile) -> uuid.UUID:
    if profile.customer_uuid is None:
        profile.customer_uuid = uuid.UUID(profile.customer_id)
    return profile.customer_uuid


def _segment_changed(profile: Profile, as_of: float, r: int, f: int, population: Population) -> Event:
    segment = segment_of(r, f)
    event = built(SegmentChanged,
        customer_id=_uuid_of(profile), occurred_at=to_datetime(as_of),
        previous_segment=profile.status.segment, segment=segment,
        recency_score=r, frequency_score=f, monetary_score=_score(float(profile.cents), population.monetary_cuts),
        rule_version=RULE_VERSION,
    )
    profile.status.segment = segment
    return event


def _clear_reason(kind: str, assessment: Assessment) -> str:
    if kind in ("purchase_overdue", "churn_risk", "stage_decline") and assessment.elapsed_days is not None \
            and assessment.elapsed_days < 1.0:
        return "purchase"
    if kind in ("quantity_drop", "value_drop"):
        return "basket_recovered"
    return "recovered"


def advance(profile: Profile, until: float, population: Population, zone: tzinfo,
            *, inclusive: bool = True, announce: bool = True) -> list[Event]:
    """Step through every due time up to ``until`` (a sweep, or the moment before a new event)."""
    events: list[Event] = []
    after = profile.evaluated_at if profile.evaluated_at is not None else until
    while True:
        if due_at(profile, after, population, zone) is None:
            return events
        assert profile.dues is not None  # filled by due_at
        times = profile.dues[1]
        # Walk the due times in order; only a full step can change them (it opens or closes alerts).
        for index in range(bisect.bisect_right(times, after), len(times)):
            due = times[index]
            if due > until or (not inclusive and due >= until):
                return events
            change, r, f = _time_change(profile, due, population, zone)
            after = due
            if change == SAME:
                profile.evaluated_at = due
            elif change == SEGMENT_ONLY:
                if announce:
                    events.append(_segment_changed(profile, due, r, f, population))
                else:
                    profile.status.segment = segment_of(r, f)
                profile.evaluated_at = due
            else:
                events.extend(step(profile, due, population, zone, announce=announce)[1])
                break
        else:
            return events


def apply_order(profile: Profile, *, at: float, event_id: str, quantity: float, cents: int,
                population: Population, zone: tzinfo, announce: bool = True,
                other: tuple[str, int] | None = None) -> list[Event]:
    events = advance(profile, at, population, zone, inclusive=False, announce=announce) \
        if profile.evaluated_at is not None else []
    add_purchase(profile, at=at, event_id=event_id, quantity=quantity, cents=cents, zone=zone, other=other)
    as_of = max(at, profile.evaluated_at or at)
    events.extend(step(profile, as_of, population, zone, trigger_ids=[event_id], announce=announce)[1])
    return events


# --- persistence shape (JSON) ---------------------------------------------------------------


def to_json(profile: Profile) -> dict[str, Any]:
    s = profile.status
    return {
        "v": 1,
        "external_ref": profile.external_ref, "owner": profile.owner, "registered_at": profile.registered_at,
        "days": [[d.day, d.quantity, d.cents, d.orders, d.event_ids, *([d.unpriced] if d.unpriced else [])]
                 for d in profile.days],
        "orders": profile.orders, "cents": profile.cents,
        **({"other_currencies": profile.other_currencies} if profile.other_currencies else {}),
        "first": profile.first_purchase_at, "last": profile.last_purchase_at,
        "gaps": [profile.gaps, profile.gap_sum, profile.gap_sq_sum, profile.longest_gap],
        "evaluated_at": profile.evaluated_at,
        "status": {
            "stage": s.stage, "stage_reason": s.stage_reason, "stage_since": s.stage_since, "segment": s.segment,
            "alerts": {k: [a.alert_id, a.raised_at, a.evidence] for k, a in s.alerts.items()},
        },
    }


def from_json(customer_id: str, data: dict[str, Any]) -> Profile:
    s = data["status"]
    gaps, gap_sum, gap_sq_sum, longest = data["gaps"]
    return Profile(
        customer_id=customer_id, external_ref=data["external_ref"], owner=data["owner"],
        registered_at=data["registered_at"],
        days=[PurchaseDay(d[0], d[1], d[2], d[3], list(d[4]), d[5] if len(d) > 5 else 0) for d in data["days"]],
        orders=data["orders"], cents=data["cents"],
        other_currencies={k: list(v) for k, v in data.get("other_currencies", {}).items()}, first_purchase_at=data["first"], last_purchase_at=data["last"],
        gaps=gaps, gap_sum=gap_sum, gap_sq_sum=gap_sq_sum, longest_gap=longest,
        evaluated_at=data["evaluated_at"],
        status=Status(
            stage=s["stage"], stage_reason=s["stage_reason"], stage_since=s["stage_since"], segment=s["segment"],
            alerts={k: OpenAlert(a[0], a[1], a[2]) for k, a in s["alerts"].items()},
        ),
    )


def as_of_view(profile: Profile, as_of: float, zone: tzinfo) -> Profile:
    """The profile as it stood at ``as_of``: purchase days after it are left out (for exports and
    refits at a past date). Alerts and stage history are not rewound; callers read those from the
    alerts table."""
    cutoff = local_day(as_of, zone)
    if not profile.days or profile.days[-1].day <= cutoff:
        return profile
    kept = [d for d in profile.days if d.day <= cutoff]
    view = Profile(customer_id=profile.customer_id, external_ref=profile.external_ref, owner=profile.owner,
                   registered_at=profile.registered_at, days=kept, orders=sum(d.orders for d in kept),
                   cents=sum(d.cents for d in kept), evaluated_at=as_of,
                   other_currencies=profile.other_currencies)  # not rewound: it only marks unpriced days
    if kept:
        view.first_purchase_at = day_start(kept[0].day, zone)
        view.last_purchase_at = day_start(kept[-1].day, zone)
    _recount_gaps(view)
    return view
