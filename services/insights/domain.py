"""The rules of insights: what is concluded about a customer at a time. Pure, no I/O.

A customer's profile (``profile.py``) is judged by rules that are pure functions of the profile,
the population model in force and an ``as_of`` time (``assess``): rhythm, basket, value, lifecycle
stage, segment, and the conditions behind alerts. ``transitions.py`` turns what changed into
events, at the business times it became true.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
import uuid
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from services.insights import model as population_model
from services.insights import service as sv
from services.insights.profile import DAY_S, Profile, Rhythm, built, day_start, local_day
from shared.events import AlertEvidence

RULE_VERSION = "rules-2026.12-1"  # 2026.12: the service risk (service.py), complaint_unanswered
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
                     unit=self.unit, event_ids=[uuid.UUID(i) for i in self.event_ids], ticket_id=None, due_at=None)

    def as_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "observed": self.observed, "threshold": self.threshold,
                "unit": self.unit, "event_ids": list(self.event_ids), "ticket_id": None, "due_at": None}


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
    # ``churn_risk`` is 1 − (1 − model_churn_risk) × (1 − service.risk): the population model's
    # reading of the purchases, and how the customer is being served (``service.risk``)
    model_churn_risk: float = math.nan
    service: sv.ServiceRisk = sv.NO_RISK





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


def lost_after_days(profile: Profile, beat: Rhythm | None) -> float:
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


def model_inputs(profile: Profile, as_of: float, zone: tzinfo) -> tuple[int, float, float]:
    """(x, t_x, T) in days: repeat purchase days, last purchase day and now since the first."""
    first = profile.days[0].day
    x = len(profile.days) - 1
    t_x = float(profile.days[-1].day - first)
    T = max((as_of - day_start(first, zone)) / DAY_S, t_x)
    return x, t_x, T


def score(value: float, cuts: tuple[float, ...], *, lower_is_better: bool = False) -> int:
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
    if not profile.days:
        return _prospect(profile, as_of)
    recency = max((as_of - day_start(profile.days[-1].day, zone)) / DAY_S, 0.0)
    beat = rhythm(profile)
    n_days = len(profile.days)
    value = _value(profile, as_of, population, zone, recency, beat, scores=scores)
    quantity, amount = _basket(profile, "quantity"), _basket(profile, "cents")
    conditions = _conditions(profile, recency, beat, quantity, amount, value)

    lost_after = lost_after_days(profile, beat)
    stage, reason = lifecycle_stage(
        n_days, lost=recency > lost_after, overdue="purchase_overdue" in conditions,
        basket_drop="quantity_drop" in conditions or "value_drop" in conditions)
    last_ids = tuple(profile.days[-1].event_ids)
    stage_evidence = _stage_evidence(reason, conditions, beat, n_days, recency, lost_after, last_ids)
    if stage == "decline" or (stage == "lost" and "stage_decline" in profile.status.alerts):
        conditions["stage_decline"] = Condition("stage_decline", stage_evidence)

    r = score(recency, population.recency_cuts, lower_is_better=True)
    f = score(float(n_days), population.frequency_cuts)
    m = score(float(profile.cents), population.monetary_cuts)
    segment = segment_of(r, f)
    regular = n_days >= REGULAR_DAYS
    served = sv.risk(profile.service, as_of)
    return Assessment(
        as_of=as_of, purchase_days=n_days, recency_days=max(local_day(as_of, zone) - profile.days[-1].day, 0),
        elapsed_days=recency,
        typical_gap_days=beat.typical if beat else None, gap_spread_days=beat.spread if beat else None,
        longest_gap_days=beat.longest if beat else None, overdue_after_days=beat.overdue_after if beat and regular else None,
        usual_quantity=quantity[0] if quantity else None, usual_cents=amount[0] if amount else None,
        recent_quantity=quantity[1] if quantity else None, recent_cents=amount[1] if amount else None,
        p_alive=value.p_alive, expected_purchases_90d=value.expected, expected_value_90d=value.value,
        churn_risk=sv.combined(value.risk, served.risk), model_churn_risk=value.risk, service=served, recency_score=r, frequency_score=f, monetary_score=m, segment=segment, stage=stage,
        stage_reason=reason, stage_evidence=stage_evidence,
        loyal=segment in ("champions", "loyal") and stage in ("formation", "stability"), conditions=conditions,
    )


def _prospect(profile: Profile, as_of: float) -> Assessment:
    """A registered customer who has not bought yet."""
    since = profile.registered_at or as_of
    return Assessment(
        as_of=as_of, purchase_days=0, recency_days=None, elapsed_days=None, typical_gap_days=None,
        gap_spread_days=None, longest_gap_days=None, overdue_after_days=None, usual_quantity=None, usual_cents=None,
        recent_quantity=None, recent_cents=None, p_alive=None, expected_purchases_90d=0.0,
        expected_value_90d=0.0, churn_risk=1.0, recency_score=0, frequency_score=0, monetary_score=0,
        segment="prospect", stage="exploration", stage_reason="no_purchase",
        stage_evidence=Evidence(observed=(as_of - since) / DAY_S, unit="days"),
        loyal=False, conditions={}, model_churn_risk=1.0, service=sv.risk(profile.service, as_of),
    )


@dataclass(frozen=True, slots=True)
class _Value:
    """What the population model says of a customer (``assess``)."""

    p_alive: float | None
    expected: float  # purchase days in the next HORIZON_DAYS
    value: float  # spend in the next HORIZON_DAYS, in the shop currency
    risk: float  # churn risk; NaN when neither asked for nor watched
    churn_watch: bool  # a repeat buyer away longer than any gap they came back from
    model: population_model.PopulationModel
    x: int  # repeat purchase days
    t_x: float  # days from the first purchase day to the last

    def baseline_risk(self) -> float:
        """The churn risk on the last purchase day: the evidence's baseline."""
        return population_model.churn_risk(self.model, self.x, self.t_x, self.t_x)


def _value(profile: Profile, as_of: float, population: Population, zone: tzinfo, recency: float,
           beat: Rhythm | None, *, scores: bool) -> _Value:
    model = population.model
    x, t_x, T = model_inputs(profile, as_of, zone)
    # The model knows the population, not this customer's seasons: a repeat buyer is only
    # alerted once also away longer than any gap they came back from before.
    churn_watch = x >= 1 and beat is not None and recency > max(beat.typical, beat.longest)
    if not scores:
        risk = population_model.churn_risk(model, x, t_x, T) if churn_watch else math.nan
        return _Value(None, 0.0, 0.0, risk, churn_watch, model, x, t_x)
    first_value = profile.days[0].cents / 100.0
    # The spend model sees the days with an amount in the shop currency only.
    priced_repeats = sum(1 for d in profile.days[1:] if d.orders > d.unpriced) if profile.other_currencies else x
    repeat_mean = (profile.cents - profile.days[0].cents) / 100.0 / priced_repeats if priced_repeats else None
    p_alive, expected, value, risk = population_model.scores(model, x, t_x, T, HORIZON_DAYS, repeat_mean, first_value)
    return _Value(p_alive, expected, value, risk, churn_watch, model, x, t_x)


Basket = tuple[float, float, list[str]] | None


def _conditions(profile: Profile, recency: float, beat: Rhythm | None, quantity: Basket, amount: Basket,
                value: _Value) -> dict[str, Condition]:
    """The alert conditions that hold: overdue, basket drops (with hysteresis), churn risk."""
    conditions: dict[str, Condition] = {}
    last_ids = tuple(profile.days[-1].event_ids)
    if len(profile.days) >= REGULAR_DAYS and beat and recency > beat.overdue_after:
        conditions["purchase_overdue"] = Condition("purchase_overdue", Evidence(
            baseline=beat.typical, observed=round(recency, 3), threshold=round(beat.overdue_after, 3),
            unit="days", event_ids=last_ids))
    for kind, basket, unit, scale in (("quantity_drop", quantity, "quantity", 1.0), ("value_drop", amount, "amount", 100.0)):
        if basket is None or basket[0] <= 0:
            continue
        usual, recent, ids = basket
        line = (DROP_CLEAR if kind in profile.status.alerts else DROP_RAISE) * usual
        if recent < line:
            conditions[kind] = Condition(kind, Evidence(
                baseline=round(usual / scale, 3), observed=round(recent / scale, 3),
                threshold=round(DROP_RAISE * usual / scale, 3), unit=unit, event_ids=tuple(ids)))
    if value.churn_watch:
        line = CHURN_CLEAR if "churn_risk" in profile.status.alerts else CHURN_RAISE
        if value.risk >= line:
            conditions["churn_risk"] = Condition("churn_risk", Evidence(
                baseline=round(value.baseline_risk(), 4), observed=round(value.risk, 4),
                threshold=CHURN_RAISE, unit="probability", event_ids=last_ids))
    return conditions
