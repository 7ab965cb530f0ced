"""Sales report: net sales per period as bars, and per channel, category or owner as bars with the
numbers in a table below; a date range (whole days of the shop's time zone) and the grouping chosen
in a plain GET form, so a report is a link that can be shared."""

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
DEFAULT_DAYS = {"day": 30, "week": 84, "month": 365}
# The longest range the service reports on per period (400 periods, ten years), less a period
MOST_DAYS = {"day": 398, "week": 2790, "month": 3620}


def period_label(key: str, period: str, t: Texts) -> str:
    """2026-11-02 as the period it starts: the day, the week from that Monday, 2026-11."""
    if period == "month":
        return key[:7]
    if period == "week":
        return t.gettext("week of %(day)s", day=key)
    return key


def key_label(key: str, by: str, t: Texts, *, short: bool = False) -> str:
    """A row's key in words: the pool and lines without a category named, channels translated;
    ``short`` for a chart's label column."""
    if by == "owner" and key == "pool":
        return t.gettext("Pool") if short else t.gettext("Pool (no owner)")
    if by == "category" and key == "uncategorised":
        return t.gettext("Uncategorised")
    if by == "channel":
        return t.pgettext("channel", key)
    return key


def charts(per_period: dict[str, Any], grouped: dict[str, Any], by: str, t: Texts) -> dict[str, Any]:
    currency = per_period["currency"]
    period = per_period["period"]
    per_by = {
        "channel": t.gettext("Net sales per channel"),
        "category": t.gettext("Net sales per category"),
        "owner": t.gettext("Net sales per owner"),
    }[by]
    return {
        # a period's first day (a month without it) is short enough for the chart's label column
        "periods": bars_svg([Bar(r["key"][:7] if period == "month" else r["key"], float(r["net"]),
                                 t.money_short(r["net"], currency))
                             for r in per_period["rows"]],
                            t.gettext("Net sales per period"),
                            t.gettext("What the shop kept in each period: sales less discounts and returns, "
                                      "cancelled orders left out."), "sales-periods"),
        "grouped": bars_svg([Bar(key_label(r["key"], by, t, short=True), float(r["net"]), t.money_short(r["net"], currency))
                             for r in grouped["rows"]],
                            per_by, t.gettext("Net sales of each row of the table below."), "sales-grouped"),
    }


@router.get("/reports/sales", response_class=HTMLResponse)
async def sales(
    request: Request,
    by: Annotated[Literal["channel", "category", "owner"], Query()] = "channel",
    period: Annotated[Literal["day", "week", "month"], Query()] = "week",
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "orders:read")
    zone = ZoneInfo(request.app.state.settings.timezone)
    today = now().astimezone(zone).date()
    last = until or today
    first = since or last - timedelta(days=DEFAULT_DAYS[period] - 1)
    context: dict[str, Any] = {"by": by, "period": period, "since": first.isoformat(), "until": last.isoformat(),
                               "errors": {}, "missing": None, "report": None}
    if first > last:
        context["errors"] = {"since": who.texts.gettext("The first day must not be after the last.")}
        return render(request, "sales.html", who, status=422, **context, **_words(who.texts))
    # A range the service would refuse (too long, too many days) is shortened to what it takes.
    first = max(first, last - timedelta(days=MOST_DAYS[period]))
    context["since"] = first.isoformat()
    window = {"from": datetime.combine(first, time(), zone).isoformat(),
              "to": datetime.combine(last + timedelta(days=1), time(), zone).isoformat()}
    api = services(request)
    lang = who.texts.accept_language
    got = await parts(periods=api.get("orders", "/reports/sales", who.person, lang,
                                      params={**window, "by": "period", "period": period}),
                      grouped=api.get("orders", "/reports/sales", who.person, lang, params={**window, "by": by}))
    missing = next((m for m in got.values() if isinstance(m, Missing)), None)
    if missing is None:
        context.update(report=got["periods"], grouped=got["grouped"],
                       charts=charts(got["periods"], got["grouped"], by, who.texts))
    context["missing"] = missing
    return render(request, "sales.html", who, **_words(who.texts),
                  period_label=lambda k: period_label(k, period, who.texts),
                  key_label=lambda k: key_label(k, by, who.texts), **context)


def _words(t: Texts) -> dict[str, Any]:
    """The choices of the form and the headings of the grouping, in the page's language."""
    by = {"channel": t.pgettext("sales_report", "Channel"), "category": t.pgettext("sales_report", "Category"),
          "owner": t.pgettext("sales_report", "Owner")}
    periods = [("day", t.pgettext("sales_report", "Day")), ("week", t.pgettext("sales_report", "Week")),
               ("month", t.pgettext("sales_report", "Month"))]
    return {"period_options": periods, "by_options": list(by.items()), "by_words": by,
            "titles": {"channel": t.gettext("Per channel"), "category": t.gettext("Per category"),
                       "owner": t.gettext("Per owner")}}
