"""HTTP routes of sales reports: parse and check the range, sum in the database, shape the rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.orders.domain import reports as domain
from services.orders.store import reports as store
from shared.auth import Principal
from shared.errors import Invalid
from shared.events import BusinessTime
from shared.http import Problem, json_response, require
from shared.scopes import scope_of

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/sales",
    response_model=domain.SalesReport,
    summary="Sales per channel, category, owner or period",
    description="Orders placed in [from, to) that were not cancelled, in one currency: how many, for how many "
    "customers, gross before discounts, discounts, money returned and net (what the shop kept). Periods are "
    "days, weeks (from Monday) or months of the shop's time zone (or `tz`). Readable with `orders:read`: roles "
    "with `reports:read` (manager, readonly) see the whole shop, a salesperson the orders of their own customers "
    "and of the pool's, as in `GET /orders`.",
    responses={422: {"model": Problem, "description": "from not before to, a range too long, too many periods, "
                                                      "an unknown time zone or currency (the field is named)"}},
)
async def sales_report(
    request: Request,
    since: Annotated[BusinessTime | None, Query(alias="from", description="From this time (default: 30 days "
                                                "before `to`).")] = None,
    until: Annotated[BusinessTime | None, Query(alias="to", description="Up to, not including, this time "
                                                "(default: as_of).")] = None,
    by: Annotated[domain.Grouping, Query(description="What a row is.")] = "period",
    period: Annotated[domain.Period, Query(description="With by=period: how long a period is.")] = "day",
    tz: Annotated[str | None, Query(min_length=1, max_length=64, description="IANA time zone of the periods "
                                    "(default: the shop's, KEHU_TIMEZONE).")] = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$", description="ISO "
                                          "4217, one the shop takes (default: the shop currency).")] = None,
    as_of: Annotated[BusinessTime | None, Query(description="Now, for the default range (default: now).")] = None,
    principal: Principal = require("orders:read"),
) -> Response:
    settings = request.app.state.runtime.settings
    zone_name = tz or settings.timezone
    zone = domain.zone_of(zone_name)
    money = currency or settings.currencies[0]
    if money not in settings.currencies:
        raise Invalid.field("query.currency", f"the shop takes {', '.join(settings.currencies)}")
    start, end = domain.report_range(since, until, as_of=as_of or datetime.now(UTC), by=by, period=period, zone=zone)
    async with request.app.state.runtime.pool.acquire() as conn:
        try:
            rows, totals = await store.sales(conn, since=start, until=end, currency=money, by=by, period=period,
                                             tz=zone_name, owner_filter=scope_of(principal).owner_filter)
        except asyncpg.InvalidParameterValueError:  # a zone Python knows and PostgreSQL does not
            raise Invalid.field("query.tz", f"{zone_name!r} is not a time zone the database knows") from None
    found = [domain.SalesRow(key=r["key"], **domain.figures(
        r["orders"], r["customers"], r["gross"], r["discounts"], r["returned"])) for r in rows]
    the_totals = domain.Figures(**domain.figures(
        totals["orders"], totals["customers"], totals["gross"], totals["discounts"], totals["returned"]))
    ordered = (domain.period_rows({r.key: r for r in found}, start, end, period, zone) if by == "period"
               else domain.ranked(found))
    order_discount = (the_totals.discounts - sum((r.discounts for r in found), Decimal("0.00"))
                      if by == "category" else Decimal("0.00"))
    report = domain.SalesReport(since=start, until=end, tz=zone_name, currency=money, by=by,
                                period=period if by == "period" else None, rows=ordered, totals=the_totals,
                                order_discount=order_discount)
    return json_response(200, report.model_dump(mode="json", by_alias=True))
