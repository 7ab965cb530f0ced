"""Segments and lifecycle: customers and expected value per segment and per stage, as charts whose
bars open the customer list filtered to that segment or stage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from console.charts import Bar, bars_svg
from console.i18n import Texts
from console.services import Missing, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)


def charts_of(items: list[dict[str, Any]], key: str, t: Texts, ident: str) -> dict[str, Any]:
    """Two charts (customers, expected value in 90 days) of the rows of /segments or /stages."""
    label = lambda row: t.pgettext(key, row[key])  # noqa: E731
    href = lambda row: f"/customers?{key}={row[key]}"  # noqa: E731
    customers = [Bar(label(r), float(r["customers"]), t.number(r["customers"]), href(r)) for r in items]
    value = [Bar(label(r), float(r["expected_value_90d"]), t.money_short(r["expected_value_90d"]), href(r))
             for r in items]
    total = sum(r["customers"] for r in items)
    return {
        "customers": bars_svg(customers, t.gettext("Customers"),
                              t.ngettext("%(num)d customer in all.", "%(num)d customers in all.", total),
                              f"{ident}-customers"),
        "value": bars_svg(value, t.gettext("Expected value, 90 days"),
                          t.gettext("What the customers of each group are expected to spend in the next 90 days."),
                          f"{ident}-value"),
    }


@router.get("/segments", response_class=HTMLResponse)
async def segments(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "insights:read")
    api = services(request)
    lang = who.texts.accept_language
    got = await parts(segments=api.get("insights", "/segments", who.person, lang),
                      stages=api.get("insights", "/stages", who.person, lang))
    views: dict[str, Any] = {}
    for name, key in (("segments", "segment"), ("stages", "stage")):
        if isinstance(got[name], Missing):
            views[name] = {"missing": got[name]}
        else:
            items = got[name]["items"]
            views[name] = {"items": items, "key": key, **charts_of(items, key, who.texts, name)}
    return render(request, "segments.html", who, views=views, rule=None if isinstance(got["segments"], Missing)
                  else got["segments"].get("rule"))
