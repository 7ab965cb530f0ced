"""Credit standing (信用): the customers of each credit tier insights recorded — on hold (D), to
watch (C), good payers (A), or all — each with the reason in words and what they owe. A salesperson
sees their own customers and the pool's: insights scopes the list by the person's token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from console.i18n import Texts
from console.pages.common import customer_names
from console.services import Missing, ServiceDown, ServiceRefused, parts
from console.web import Viewer, render, require_page, services, viewer

router = APIRouter(include_in_schema=False)
PAGE = 200  # a small shop's holds fit one page; the list is in customer id order, so a page is sorted here
TABS = ("D", "C", "A", "all")
TIER_TAGS = {"D": "bad", "C": "warn", "A": "good", "B": ""}


def tab_of(tier: str) -> str:
    """The tab asked for (an unknown one is the holds: what the nav's count leads to)."""
    return tier if tier in TABS else "D"


def tier_label(t: Texts, tier: str) -> str:
    return {
        "D": t.pgettext("credit standing", "On hold"),
        "C": t.pgettext("credit standing", "Watch"),
        "A": t.pgettext("credit standing", "Good payer"),
        "B": t.pgettext("credit standing", "Normal"),
        "all": t.pgettext("credit standing", "All"),
    }.get(tier, tier)


def rows_of(items: list[dict[str, Any]], names: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows, the longest overdue first (then the most overdue, then by name)."""
    rows = []
    for item in items:
        evidence = item["evidence"]
        customer = names.get(item["customer_id"])
        rows.append({**item, "name": customer["name"] if customer else item["customer_id"],
                     "outstanding": evidence["outstanding"], "overdue": evidence["overdue"],
                     "longest": int(evidence["longest_overdue_days"])})
    rows.sort(key=lambda r: (-r["longest"], -float(r["overdue"]), r["name"]))
    return rows


@router.get("/credit", response_class=HTMLResponse)
async def credit_page(
    request: Request,
    tier: Annotated[str, Query(max_length=3)] = "D",
    cursor: Annotated[str, Query(max_length=64)] = "",
    who: Viewer = Depends(viewer),
) -> HTMLResponse:
    require_page(who, "insights:read")
    api = services(request)
    tab = tab_of(tier)
    params: list[tuple[str, str]] = [("limit", str(PAGE))]
    if tab != "all":
        params.append(("tier", tab))
    if cursor:
        params.append(("cursor", cursor))
    lang = who.texts.accept_language
    got = await parts(standings=api.get("insights", "/credit-standings", who.person, lang, params=params),
                      counts=api.get("insights", "/credit-standings/counts", who.person, lang))
    missing = got["standings"] if isinstance(got["standings"], Missing) else None
    items: list[dict[str, Any]] = [] if missing else got["standings"]["items"]
    counts: dict[str, int] = {} if isinstance(got["counts"], Missing) else got["counts"]["counts"]
    names = await customer_names(api, who, [i["customer_id"] for i in items])
    query = [("tier", tab)]
    return render(request, "credit.html", who, rows=rows_of(items, names), tab=tab, tabs=TABS, counts=counts,
                  total=sum(counts.values()), missing=missing, query=query, first_page=not cursor,
                  next_cursor=None if missing else got["standings"]["next_cursor"],
                  tier_label=lambda k: tier_label(who.texts, k), tier_tags=TIER_TAGS)


@router.get("/credit/on-hold", response_class=PlainTextResponse)
async def on_hold(request: Request, who: Viewer = Depends(viewer)) -> Response:
    """How many of the person's customers are on hold (D), for the nav's count: a number, or
    nothing when insights does not answer (the nav then shows no count)."""
    require_page(who, "insights:read")
    try:
        got = await services(request).get("insights", "/credit-standings/counts", who.person,
                                          who.texts.accept_language)
    except (ServiceDown, ServiceRefused):
        return PlainTextResponse("", headers={"Cache-Control": "no-store"})
    return PlainTextResponse(str(int(got["counts"].get("D", 0))), headers={"Cache-Control": "no-store"})
