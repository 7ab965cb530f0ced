"""工单报表: what a period's tickets say about the service, from ``GET /reports/tickets``: volume per
kind, channel and category as bars with their numbers; the median time to a first response and to
a resolution, in business time and on the clock; SLA compliance; customers who complained again
and again; prevention actions open and whether a category came back after its action was done.

The period is whole days of the shop's time zone, chosen in a plain GET form (or a 7/30/90-day
preset), so a report is a link that can be shared.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from console import store
from console.charts import bars_svg
from console.i18n import Texts
from console.pages import ticket_admin_words as words
from console.pages.common import customer_names, now
from console.services import Missing, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 30
PRESETS = (7, 30, 90)
MOST_DAYS = 3650  # the service reports on at most ten years


def charts(report: dict[str, Any], t: Texts) -> dict[str, Any]:
    """The three volume charts of a report (bars with the count written beside each)."""
    volume = report.get("volume") or {}
    return {
        "kind": bars_svg(words.volume_bars(words.counted(volume.get("by_kind")), words.kind_label, t),
                         t.gettext("Tickets per kind"), t.gettext("Tickets raised in the period, per kind."),
                         "tickets-kind"),
        "channel": bars_svg(words.volume_bars(words.counted(volume.get("by_channel")), words.channel_label, t),
                            t.gettext("Tickets per channel"),
                            t.gettext("Tickets raised in the period, per channel they came by."), "tickets-channel"),
        "category": bars_svg(words.volume_bars(words.counted(volume.get("by_category")), words.category_label, t),
                             t.gettext("Tickets per category"),
                             t.gettext("Tickets raised in the period, per what they were about."), "tickets-category"),
    }


def period_of(since: date | None, until: date | None, days: int | None, today: date) -> tuple[date, date]:
    """The days asked for: a preset of the last ``days`` (today included), else the range typed,
    else the last 30 days; at most ten years."""
    if days:
        return today - timedelta(days=days - 1), today
    last = until or today
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first <= last:
        first = max(first, last - timedelta(days=MOST_DAYS - 1))
    return first, last


@router.get("/reports/tickets", response_class=HTMLResponse)
async def ticket_report(
    request: Request,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    days: Annotated[int | None, Query(ge=1, le=MOST_DAYS)] = None,
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "tickets:read")
    t = who.texts
    zone = ZoneInfo(request.app.state.settings.timezone)
    today = now().astimezone(zone).date()
    first, last = period_of(since, until, days, today)
    context: dict[str, Any] = {"since": first.isoformat(), "until": last.isoformat(), "errors": {}, "missing": None,
                               "report": None, "presets": PRESETS, "days": days}
    if first > last:
        context["errors"] = {"since": t.gettext("The first day must not be after the last.")}
        return render(request, "ticket_reports.html", who, status=422, **context)
    got = await parts(report=services(request).get("tickets", "/reports/tickets", who.person, t.accept_language,
                                                   params={"from": first.isoformat(), "to": last.isoformat()}))
    if isinstance(got["report"], Missing):
        context["missing"] = got["report"]
        return render(request, "ticket_reports.html", who, **context)
    report: dict[str, Any] = got["report"]
    repeaters = report.get("repeat_complainers") or []
    recurred = (report.get("prevention") or {}).get("recurred") or []
    names = await customer_names(services(request), who, [str(r.get("customer_id")) for r in repeaters])
    async with request.app.state.pool.acquire() as conn:
        people = await store.people(conn)
    shown = {p.name: p.display_name for p in people}
    shown.update({p.owner: p.display_name for p in people if p.owner})
    volume = report.get("volume") or {}
    context.update(
        report=report, charts=charts(report, t), names=names, people=shown, repeaters=repeaters, recurred=recurred,
        total=volume.get("total", sum(n for _, n in words.counted(volume.get("by_kind")))),
        by_kind=words.counted(volume.get("by_kind")), by_channel=words.counted(volume.get("by_channel")),
        by_category=words.counted(volume.get("by_category")),
        kind_label=lambda k: words.kind_label(t, k), channel_label=lambda c: words.channel_label(t, c),
        category_label=lambda c: words.category_label(t, c),
        minutes=lambda m: words.long_minutes_text(t, m), share=lambda s: words.share_text(t, s),
    )
    return render(request, "ticket_reports.html", who, **context)
