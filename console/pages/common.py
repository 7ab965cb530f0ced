"""What several pages need: customers' names for ids, ages in days, alert kinds in words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from console import store
from console.i18n import Texts
from console.services import ServiceDown, ServiceRefused, Services
from console.web import Viewer

ALERT_KINDS = ("purchase_overdue", "quantity_drop", "value_drop", "churn_risk", "stage_decline", "complaint_unanswered")


def alert_kind_label(t: Texts, kind: str) -> str:
    return {
        "purchase_overdue": t.gettext("Regular overdue"),
        "quantity_drop": t.gettext("Quantity drop"),
        "value_drop": t.gettext("Value drop"),
        "churn_risk": t.gettext("Churn risk"),
        "stage_decline": t.gettext("Stage decline"),
        "complaint_unanswered": t.gettext("Complaint unanswered"),
    }.get(kind, kind)


def credit_reason(t: Texts, credit: dict[str, Any] | None) -> str:
    """The tier's evidence in one line: how they paid, what is overdue."""
    evidence = (credit or {}).get("evidence") or {}
    if not evidence:
        return ""
    if Decimal(str(evidence.get("overdue") or 0)) > 0:
        return t.gettext("%(overdue)s overdue, the oldest %(days)s days past due",
                         overdue=t.money(evidence.get("overdue")), days=evidence.get("longest_overdue_days", 0))
    if evidence.get("share_on_time") is not None and evidence.get("instalments_due"):
        return t.gettext("%(share)s of %(due)s instalments paid on time", share=t.percent(evidence["share_on_time"]),
                         due=evidence["instalments_due"])
    return t.gettext("nothing due yet")


def credit_refusal(t: Texts, problem: Mapping[str, Any]) -> str:
    """Why orders refused an order on credit, in the person's language (for the order form)."""
    if problem.get("why") == "on_hold":
        return t.gettext("Refused: the customer is on credit hold (tier D) and owes %(outstanding)s. Take payment "
                         "at once or ask a manager.", outstanding=t.money(problem.get("outstanding")))
    amounts = {"outstanding": t.money(problem.get("outstanding")), "total": t.money(problem.get("total")),
               "limit": t.money(problem.get("limit"))}
    if problem.get("tier"):
        return t.gettext("Refused: the customer owes %(outstanding)s and this order of %(total)s would exceed the "
                         "credit limit of %(limit)s (tier %(tier)s). Take payment at once or ask a manager.",
                         tier=problem["tier"], **amounts)
    return t.gettext("Refused: the customer owes %(outstanding)s and this order of %(total)s would exceed the credit "
                     "limit of %(limit)s. Take payment at once or ask a manager.", **amounts)


async def customer_names(services: Services, who: Viewer, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The customers contacts has for these ids (by id); an empty map when contacts is away, so a
    list still shows with ids instead of names."""
    wanted = sorted({i for i in ids if i})
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start:start + 200]
        try:
            page = await services.get("contacts", "/customers", who.person, who.texts.accept_language,
                                      params=[("id", i) for i in chunk] + [("limit", "500")])
        except (ServiceDown, ServiceRefused):
            return found
        found.update({c["id"]: c for c in page["items"]})
    return found


async def display_names(request: Request) -> dict[str, str]:
    """Sign-in name → how the console names the person: services record who acted by sign-in name."""
    async with request.app.state.pool.acquire() as conn:
        return {p.name: p.display_name for p in await store.people(conn)}


async def last_purchases(services: Services, who: Viewer, ids: Iterable[str]) -> dict[str, str | None]:
    """Each customer's last purchase now (insights' profiles): an alert's evidence is what held when
    it was raised, the page also says how things stand today."""
    wanted = sorted(set(ids))
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), 500):
        try:
            page = await services.get("insights", "/profiles", who.person, who.texts.accept_language,
                                      params=[("id", i) for i in wanted[start:start + 500]] + [("limit", "500")])
        except (ServiceDown, ServiceRefused):
            return found
        found.update({p["customer_id"]: p["last_purchase_at"] for p in page["items"]})
    return found


async def alerts_in_context(request: Request, who: Viewer, alerts: list[dict[str, Any]],
                            also: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """The names of the alerts' customers (and of the ``also`` ids), asked at once with their last
    purchases; each alert gets ``age_days`` and ``days_since_purchase`` in the shop's days."""
    api: Services = request.app.state.services
    ids = [a["customer_id"] for a in alerts]
    names, last_bought = await asyncio.gather(customer_names(api, who, [*ids, *also]), last_purchases(api, who, ids))
    zone = ZoneInfo(request.app.state.settings.timezone)
    moment = now()
    for alert in alerts:
        alert["age_days"] = days_between(alert["raised_at"], moment, zone)
        bought = last_bought.get(alert["customer_id"])
        alert["days_since_purchase"] = days_between(bought, moment, zone) if bought else None
    return names


def days_between(earlier: str | datetime, now: datetime, zone: ZoneInfo) -> int:
    """Whole calendar days in the shop's time zone ("逾期 12 天", not "2个月前")."""
    when = datetime.fromisoformat(earlier) if isinstance(earlier, str) else earlier
    return (now.astimezone(zone).date() - when.astimezone(zone).date()).days


def now() -> datetime:
    return datetime.now(UTC)
