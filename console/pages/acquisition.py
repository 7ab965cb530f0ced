"""Acquisition report: new customers per lead source and period, how many became current, and the
median days to a first order; charts per source and per period, the numbers in a table below."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from console.charts import Bar, bars_svg
from console.i18n import Texts
from console.pages.common import now
from console.services import Missing, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PERIODS = ("month", "quarter", "year")


def by_source(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's rows summed per lead source over all periods, most new customers first."""
    totals: dict[str, dict[str, Any]] = {}
    for row in items:
        total = totals.setdefault(row["lead_source"], {"lead_source": row["lead_source"], "new_customers": 0,
                                                       "became_current": 0})
        total["new_customers"] += row["new_customers"]
        total["became_current"] += row["became_current"]
    for total in totals.values():
        total["conversion"] = total["became_current"] / total["new_customers"] if total["new_customers"] else None
    return sorted(totals.values(), key=lambda r: (-r["new_customers"], r["lead_source"]))


def by_period(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in items:
        counts[row["period"]] = counts.get(row["period"], 0) + row["new_customers"]
    return sorted(counts.items())


def period_label(period: str, kind: str) -> str:
    """2026-04-01 as the period it starts: 2026-04, 2026 Q2, 2026."""
    day = date.fromisoformat(period)
    if kind == "year":
        return str(day.year)
    if kind == "quarter":
        return f"{day.year} Q{(day.month - 1) // 3 + 1}"
    return f"{day:%Y-%m}"


def charts(items: list[dict[str, Any]], kind: str, t: Texts) -> dict[str, Any]:
    sources = by_source(items)
    source_label = lambda s: t.pgettext("lead_source", s)  # noqa: E731
    return {
        "new": bars_svg([Bar(source_label(s["lead_source"]), float(s["new_customers"]), t.number(s["new_customers"]))
                         for s in sources],
                        t.gettext("New customers per lead source"),
                        t.gettext("How many customers each lead source brought in the period shown."), "acq-new"),
        "conversion": bars_svg(
            [Bar(source_label(s["lead_source"]), float(s["conversion"] or 0), t.percent(s["conversion"]))
             for s in sources],
            t.gettext("Became current, per lead source"),
            t.gettext("The share of each source's new customers who placed a first order."), "acq-conversion"),
        "periods": bars_svg([Bar(period_label(p, kind), float(n), t.number(n)) for p, n in by_period(items)],
                            t.gettext("New customers per period"),
                            t.gettext("New customers of every lead source, per period."), "acq-periods"),
    }


@router.get("/reports/acquisition", response_class=HTMLResponse)
async def acquisition(
    request: Request,
    period: Annotated[Literal["month", "quarter", "year"], Query()] = "month",
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "customers:read")
    zone = ZoneInfo(request.app.state.settings.timezone)
    today = now().astimezone(zone).date()
    last = until or today
    first = since or date(last.year - 1, last.month, 1)
    params = {"period": period,
              "since": datetime.combine(first, time(), zone).isoformat(),
              "until": datetime.combine(last + timedelta(days=1), time(), zone).isoformat()}
    got = await parts(report=services(request).get("contacts", "/acquisition", who.person,
                                                   who.texts.accept_language, params=params))
    report = None if isinstance(got["report"], Missing) else got["report"]
    items = report["items"] if report else []
    return render(request, "acquisition.html", who, report=report, missing=got["report"] if report is None else None,
                  items=items, sources=by_source(items), charts=charts(items, period, who.texts) if items else None,
                  period=period, periods=PERIODS, since=first.isoformat(), until=last.isoformat(),
                  period_label=lambda p: period_label(p, period))
