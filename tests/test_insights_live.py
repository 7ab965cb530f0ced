"""Insights on the wall clock (how it runs live): time alone raises an alert."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kehu.importer import ImportOptions, run_import
from tests.conftest import Cluster, eventually

SHOP_ZONE = ZoneInfo("Asia/Shanghai")  # the default KEHU_TIMEZONE

pytestmark = pytest.mark.database


async def stopped_regular(cluster: Cluster, name: str, last: datetime) -> str:
    """Six weekly orders, the last one on ``last``; registered as of the first."""
    customer = await cluster.customer(name, registered_at=(last - timedelta(weeks=5)).isoformat())
    for week in range(6):
        body = {"customer_id": customer, "channel": "store",
                "occurred_at": (last - timedelta(weeks=5 - week) + timedelta(hours=10)).isoformat(),
                "lines": [{"sku": "TEA-1", "quantity": "2", "unit_price": "9.50"}]}
        assert (await cluster.post("orders", "/orders", body)).status_code == 201
    return customer


async def test_a_sweep_moves_many_customers_a_chunk_at_a_time(cluster: Cluster,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from services.insights import handlers

    monkeypatch.setattr(handlers, "SWEEP_CHUNK", 1)
    last = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=40)
    customers = [await stopped_regular(cluster, f"Stopped {i}", last) for i in range(3)]

    async def all_overdue() -> bool:
        response = await cluster.get("insights", "/alerts", kind="purchase_overdue")
        return {a["customer_id"] for a in response.json()["items"]} >= set(customers)

    await eventually(all_overdue, timeout=20)


async def test_a_regular_who_simply_stops_is_overdue_without_any_new_event(cluster: Cluster) -> None:
    """Weekly orders that ended 30 days ago: no event arrives after the last one, yet the sweeper
    raises purchase_overdue at the business time the gap passed twice the rhythm (14 days)."""
    today = datetime.now(SHOP_ZONE).replace(hour=0, minute=0, second=0, microsecond=0)  # the shop's midnight
    last = today - timedelta(days=30)
    # Registered as of the first order, so no event of this customer is later than the last order:
    # the event-time watermark stays 30 days back, and only the wall clock can raise the alert.
    customer = await cluster.customer("Stopped regular", registered_at=(last - timedelta(weeks=5)).isoformat())
    for week in range(6):
        body = {"customer_id": customer, "channel": "store", "occurred_at": (last - timedelta(weeks=5 - week,
                                                                                               hours=-10)).isoformat(),
                "lines": [{"sku": "TEA-1", "quantity": "2", "unit_price": "9.50"}]}
        assert (await cluster.post("orders", "/orders", body)).status_code == 201

    async def overdue() -> list[dict[str, object]]:
        response = await cluster.get("insights", "/alerts", customer_id=customer, kind="purchase_overdue")
        return list(response.json()["items"])

    alerts = await eventually(overdue, timeout=20)
    clock = await cluster.sql("insights", "SELECT watermark, swept_to FROM insights_clock")
    assert clock[0]["watermark"] < last + timedelta(days=1) < today <= clock[0]["swept_to"]
    assert alerts[0]["status"] == "open"
    assert datetime.fromisoformat(str(alerts[0]["raised_at"])) == last + timedelta(days=14, milliseconds=1)
    assert alerts[0]["evidence"]["baseline"] == 7
    body = (await cluster.get("insights", f"/customers/{customer}/insights")).json()
    assert body["lifecycle"]["stage"] == "decline" and body["recency_days"] >= 30


async def test_a_history_imported_into_a_running_kehu_is_scored_by_a_model_fitted_on_it(
        cluster: Cluster, tmp_path: Path) -> None:
    """kehu is already running (the sweeper has moved the clock to now) when the shop imports last
    year's sales: they arrive behind the clock and cross no refit boundary, yet the sweeper fits
    the population model on them as of now, without waiting weeks for the next boundary."""
    async def swept() -> bool:
        clock = await cluster.sql("insights", "SELECT swept_to FROM insights_clock")
        return bool(clock and clock[0]["swept_to"] is not None)

    await eventually(swept, timeout=20)
    assert (await cluster.get("insights", "/model")).json()["version"] == 0  # the prior

    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=300)
    rows = []
    for n in range(80):
        gap = (7, 14, 30, 0)[n % 4]
        days = [n % 60] if gap == 0 else list(range(n % 60, n % 60 + 200, gap))
        rows += [(start + timedelta(days=d), f"imp-{n:02d}") for d in days]
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_ref", "occurred_at", "quantity", "amount"])
        writer.writerows([ref, when.isoformat(), 1, "20.00"] for when, ref in sorted(rows))
    report = await run_import(ImportOptions(path=path, contacts_url=cluster.urls["contacts"],
                                            orders_url=cluster.urls["orders"], token=cluster.tokens["sales"]),
                              out=io.StringIO(), err=io.StringIO())
    assert report.exit_code == 0 and report.orders_created == len(rows)

    async def fitted() -> dict[str, Any] | None:
        body = (await cluster.get("insights", "/model")).json()
        return body if body["version"] >= 1 and body["model"]["customers"] == 80 else None

    model = await eventually(fitted, timeout=30)
    as_of = datetime.fromisoformat(model["as_of"])
    assert datetime.now(UTC) - timedelta(minutes=2) < as_of <= datetime.now(UTC)
    exported = (await cluster.get("insights", "/export/insights.csv")).text.splitlines()
    assert len(exported) == 81


async def test_recency_counts_the_shops_calendar_days(cluster: Cluster) -> None:
    """An order placed now was bought today (``recency_days`` 0), at any hour of the shop's day; one
    of yesterday evening in the shop's time zone was bought 1 day ago, whatever the UTC date."""
    customer = await cluster.customer("Bought today")
    placed = datetime.now(SHOP_ZONE)
    assert (await cluster.order(customer)).status_code == 201

    async def bought() -> dict[str, Any] | None:
        response = await cluster.get("insights", f"/customers/{customer}/insights")
        return response.json() if response.status_code == 200 and response.json()["frequency"]["orders"] else None

    body = await eventually(bought, timeout=15)
    assert body["recency_days"] == (datetime.now(SHOP_ZONE).date() - placed.date()).days  # 0 unless midnight passed

    yesterday_evening = (placed - timedelta(days=1)).replace(hour=21, minute=0, second=0, microsecond=0)
    other = await cluster.customer("Bought yesterday evening", registered_at=yesterday_evening.isoformat())
    order = {"customer_id": other, "channel": "store", "occurred_at": yesterday_evening.isoformat(),
             "lines": [{"sku": "TEA-1", "quantity": "1", "unit_price": "9.50"}]}
    assert (await cluster.post("orders", "/orders", order)).status_code == 201

    async def seen() -> dict[str, Any] | None:
        response = await cluster.get("insights", f"/customers/{other}/insights")
        return response.json() if response.status_code == 200 and response.json()["frequency"]["orders"] else None

    body = await eventually(seen, timeout=15)
    assert body["recency_days"] == (datetime.now(SHOP_ZONE).date() - yesterday_evening.date()).days  # 1
