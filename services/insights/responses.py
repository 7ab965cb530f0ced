"""What the insights routes answer, field by field, so the OpenAPI document says what comes back.

The routes build these answers as plain JSON (the amounts already decimal strings, the times
already RFC 3339) and declare them here; a test checks every answer against its model.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.events import AlertEvidence, AlertKind, LifecycleStage, Segment

Money = str  # a decimal string with two places, e.g. "9.50", in the shop's currency


class Frequency(BaseModel):
    purchase_days: int = Field(description="Days with a purchase (in the shop's time zone): one purchase occasion each.")
    orders: int = Field(description="Orders placed.")


class LeftOut(BaseModel):
    orders: int = Field(description="Orders in this currency.")
    amount: Money = Field(description="Their total, in this currency.")


class Monetary(BaseModel):
    total: Money | None = Field(description="Everything spent in the shop currency (the first of KEHU_CURRENCIES; "
                                "decimal string); null before the first purchase.")
    average_per_purchase_day: Money | None = Field(description="Total / purchase days; null before the first purchase.")
    other_currencies: dict[str, LeftOut] = Field(
        description="Orders in other currencies, by ISO 4217 code: purchases all the same, but their amounts are "
        "left out of every figure in the shop currency (amounts in different currencies are never added).")


class Rhythm(BaseModel):
    typical_gap_days: float | None = Field(description="The usual gap: median of the last 8 gaps between purchase days.")
    gap_spread_days: float | None = Field(description="Standard deviation of all gaps.")
    longest_gap_days: float | None = Field(description="The longest gap the customer came back from.")
    overdue_after_days: float | None = Field(description="The gap beyond which a regular is overdue.")
    next_purchase_expected_at: datetime | None = Field(description="Last purchase day plus the usual gap.")


class Basket(BaseModel):
    usual_quantity: float | None = Field(description="Median items per purchase day before the last two.")
    recent_quantity: float | None = Field(description="Average items of the last two purchase days.")
    usual_amount: Money | None = Field(description="Median spend per purchase day before the last two.")
    recent_amount: Money | None = Field(description="Average spend of the last two purchase days.")


class Rfm(BaseModel):
    recency: int = Field(description="1 (long ago) to 5 (recent), at the quintiles of the last population fit.")
    frequency: int = Field(description="1 (few purchase days) to 5 (many).")
    monetary: int = Field(description="1 (little spend) to 5 (much).")


class Lifecycle(BaseModel):
    stage: LifecycleStage
    reason: str = Field(description="Machine-readable reason code, e.g. regular_rhythm, overdue_gap, long_absence.")
    explanation: str = Field(description="The reason in words, in the language asked for.")
    evidence: AlertEvidence = Field(description="What the rule saw.")
    since: datetime | None = Field(description="Since when the customer is in this stage (null when not known).")


class OpenAlert(BaseModel):
    alert_id: uuid.UUID
    kind: AlertKind
    raised_at: datetime = Field(description="Business time at which the rule became true.")
    rule_version: str
    evidence: AlertEvidence
    explanation: str = Field(description="The evidence in words, in the language asked for.")


class OpenComplaint(BaseModel):
    ticket_id: uuid.UUID
    opened_at: datetime | None = Field(description="When it was filed (null when only later events were seen).")
    age_days: float | None = Field(description="Days open as of `as_of`.")
    priority: str = Field(description="low, normal, high or critical.")
    responsibility: str | None = Field(description="Whose fault, as last found: ours, customer, third_party, "
                                       "undetermined; null until found.")
    reopened: int = Field(description="Times it was reopened.")
    unanswered: bool = Field(description="Its first answer is overdue and still not given (complaint_unanswered).")
    first_response_due_at: datetime | None = Field(description="When the first answer was due, once breached.")


class LatestSatisfaction(BaseModel):
    score: int = Field(description="1 (very unhappy) to 5.")
    at: datetime
    event_id: uuid.UUID


class ServicePart(BaseModel):
    reason: Literal["open_complaint", "subjective_cause", "unanswered", "low_satisfaction"]
    risk: float = Field(description="What this part alone adds (the parts combine as 1 − Π(1 − part)).")
    ticket_id: uuid.UUID | None
    event_id: uuid.UUID | None = Field(description="The event it rests on (the complaint filed, the breach, the score).")
    since: datetime | None = Field(description="Opened, due or scored at.")
    age_days: float | None = Field(description="Days since then, as of `as_of`.")
    explanation: str = Field(description="The part in words, in the language asked for.")


class ServiceRisk(BaseModel):
    """How the customer is being served: the service part of the churn risk and what it rests on."""

    risk: float = Field(description="In [0, 1): 0 without open complaints or low satisfaction.")
    open_complaints: list[OpenComplaint] = Field(description="Complaints not resolved or closed, oldest first.")
    unresolved_subjective_causes: list[uuid.UUID] = Field(
        description="The open complaints whose responsibility is ours.")
    latest_satisfaction: LatestSatisfaction | None = Field(
        description="The latest satisfaction score (feedback or after a resolution), whatever its age.")
    evidence: list[ServicePart]
    rule: str


class CustomerInsights(BaseModel):
    """A customer's standing as of a time: rhythm, basket, value, stage, segment, open alerts."""

    customer_id: uuid.UUID
    external_ref: str | None = Field(description="The shop's own reference of the customer.")
    owner: str | None = Field(description="The staff member who looks after the customer.")
    as_of: datetime = Field(description="The time the answer is evaluated at.")
    rule_version: str = Field(description="Version of the rules that judged it.")
    model_version: int = Field(description="Version of the population model in force (0: the prior, before a fit).")
    recency_days: int | None = Field(description="The shop's calendar days (KEHU_TIMEZONE) since the last purchase "
                                     "day: 0 today, 1 yesterday; null before the first purchase.")
    frequency: Frequency
    monetary: Monetary
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    rhythm: Rhythm
    basket: Basket
    p_alive: float | None = Field(description="Probability the customer still buys (population model); null before a purchase.")
    expected_purchases_90d: float = Field(description="Expected purchase days in the next 90 days.")
    expected_value_90d: Money | None = Field(description="Expected spend in the next 90 days (decimal string).")
    churn_risk: float = Field(description="A ranking score in (0, 1], higher is riskier: 1 − (1 − model_churn_risk) "
                              "× (1 − service.risk).")
    model_churn_risk: float = Field(description="What the population model reads from the purchases: 0.5 for a new "
                                    "customer, 1 before a purchase.")
    service: ServiceRisk
    rfm: Rfm
    segment: Segment
    loyal: bool = Field(description="For the till: segment champions or loyal, and stage formation or stability.")
    lifecycle: Lifecycle
    open_alerts: list[OpenAlert] = Field(description="Alerts open as of `as_of`, oldest first.")


class AlertItem(BaseModel):
    alert_id: uuid.UUID
    customer_id: uuid.UUID
    external_ref: str | None = Field(description="The customer's reference in the shop.")
    owner: str | None = Field(description="The staff member who looks after the customer.")
    segment: Segment | None = Field(description="The customer's segment now.")
    stage: LifecycleStage | None = Field(description="The customer's lifecycle stage now.")
    kind: AlertKind
    status: Literal["open", "cleared"]
    raised_at: datetime = Field(description="Business time at which the rule became true.")
    cleared_at: datetime | None = Field(description="Business time at which it stopped holding.")
    rule_version: str
    evidence: AlertEvidence
    explanation: str = Field(description="The evidence in words, in the language asked for.")
    cleared_reason: str | None = Field(description="Why it no longer holds, e.g. purchase, recovered.")
    cleared_evidence: AlertEvidence | None = Field(description="What the rule saw when it cleared.")
    acknowledged_at: datetime | None = Field(description="When someone took the alert in hand (it stays open until "
                                             "its condition clears); null while nobody has.")
    acknowledged_by: str | None = Field(description="Who acknowledged it.")
    note: str | None = Field(description="What they said they did.")


class AlertPage(BaseModel):
    items: list[AlertItem]
    next_cursor: str | None


class SegmentItem(BaseModel):
    segment: Segment
    label: str = Field(description="The segment's name in the language asked for.")
    customers: int
    loyal: int = Field(description="Customers of the segment with the loyal flag.")
    open_alerts: int
    spent: Money = Field(description="Everything the segment's customers spent (decimal string).")
    expected_value_90d: Money = Field(description="Their expected spend in the next 90 days (decimal string).")
    mean_churn_risk: float | None


class Segments(BaseModel):
    items: list[SegmentItem]
    rule: str = Field(description="How the segments are drawn.")


class ProfileItem(BaseModel):
    """A customer's standing as last evaluated (when an event or the clock last moved it)."""

    customer_id: uuid.UUID
    external_ref: str | None = Field(description="The shop's own reference of the customer.")
    owner: str | None = Field(description="The staff member who looks after the customer.")
    segment: Segment
    stage: LifecycleStage
    loyal: bool
    churn_risk: float | None = Field(description="A ranking score in (0, 1), higher is riskier.")
    p_alive: float | None = Field(description="Probability the customer still buys; null before a purchase.")
    expected_value_90d: Money | None = Field(description="Expected spend in the next 90 days (decimal string).")
    spent: Money = Field(description="Everything spent in the shop currency (decimal string).")
    purchase_days: int = Field(description="Days with a purchase.")
    last_purchase_at: datetime | None
    open_alerts: int = Field(description="Alerts open now (acknowledged ones included).")


class ProfilePage(BaseModel):
    items: list[ProfileItem]
    next_cursor: str | None


class StageItem(BaseModel):
    stage: LifecycleStage
    label: str = Field(description="The stage's name in the language asked for.")
    customers: int
    loyal: int = Field(description="Customers in the stage with the loyal flag.")
    open_alerts: int
    spent: Money = Field(description="Everything the stage's customers spent (decimal string).")
    expected_value_90d: Money = Field(description="Their expected spend in the next 90 days (decimal string).")
    mean_churn_risk: float | None = Field(description="Null when the stage has no customer.")


class Stages(BaseModel):
    items: list[StageItem] = Field(description="Every lifecycle stage in order, those without customers included.")
    rule: str = Field(description="How the stages are drawn.")


class RfmCuts(BaseModel):
    recency_days: list[float] = Field(description="Recency cut points in days, best first.")
    frequency_days: list[float] = Field(description="Frequency cut points in purchase days.")
    monetary_cents: list[float] = Field(description="Monetary cut points in cents (none before a fit).")


class PopulationModel(BaseModel):
    """The population model in force and the RFM cut points of the same fit."""

    version: int = Field(description="0 is the prior, before any fit.")
    as_of: datetime | None = Field(description="The business time it was fitted as of.")
    model: dict[str, Any] = Field(description="The fitted parameters (Pareto/NBD purchases, Gamma-Gamma spend).")
    rfm_cuts: RfmCuts


class ReplayResult(BaseModel):
    """What a rebuild of the insights tables read, folded and wrote, and how long each stage took."""

    events: int = Field(description="Events folded.")
    customers: int
    alerts: int = Field(description="Alerts raised over the history.")
    refits: int = Field(description="Population models fitted.")
    reused_fits: int = Field(description="Population fits taken from stored fits of the same inputs.")
    fold_processes: int = Field(description="Processes the customers were folded in.")
    skipped: list[str] = Field(description="Rows that could not be read (up to 100), each with its reason.")
    seconds: dict[str, float] = Field(description="Seconds per stage (read_and_decode, fold, copy, swap, total, ...).")
    events_per_second: int
