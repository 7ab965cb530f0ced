"""Insights follows an order's life on the real broker and database: a cancelled order is no
purchase, a return lowers value and basket, an order waiting for approval is a purchase once
approved; and a replay from the outboxes rebuilds exactly what the live consumer made of them.

Orders are placed through the orders API. Their cancels, returns and approvals are written into
the orders outbox as the orders service writes them (``shared.outbox.append`` in a transaction),
and its relay publishes them: the endpoints that write them are another part of issue 12, and a
replay reads the outbox, so what it holds is what insights must rebuild from.

Insights runs on the event-time clock: time moves only with events, so the results fall on fixed
business dates (orders at 10:00 Shanghai time from Monday 2024-01-01).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.db import connect
from shared.events import (
    Event,
    OrderApprovalDecided,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderReturned,
    ReturnedLine,
)
from shared.outbox import append
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

DAY0 = datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n, hours=10)


@pytest.fixture(scope="module")
async def returns_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    # Replays fold in two worker processes, as a long history's would: the undos cross their pipes.
    async with own_cluster(pg_url, tmp_path_factory.mktemp("insights-returns"), insights_clock="events",
                           insights_publish_days=0, insights_replay_workers=2) as cluster:
        yield cluster


async def _publish(cluster: Cluster, *events: Event) -> None:
    """As the orders service publishes: into its outbox, in one transaction; its relay sends them."""
    conn = await connect(cluster.database_urls["orders"])
    try:
        async with conn.transaction():
            await append(conn, *events)
    finally:
        await conn.close()


async def _order(cluster: Cluster, customer: str, n: float, quantity: str = "2", price: str = "15.00") -> str:
    body = {"customer_id": customer, "channel": "store", "occurred_at": day(n).isoformat(),
            "lines": [{"sku": "TEA-1", "quantity": quantity, "unit_price": price}]}
    response = await cluster.post("orders", "/orders", body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _profile(cluster: Cluster, customer: str) -> dict[str, Any]:
    response = await cluster.get("insights", f"/customers/{customer}/insights")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _on_timeline(cluster: Cluster, customer: str, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    async def seen() -> list[dict[str, Any]] | None:
        items = [i for i in await cluster.timeline(customer) if i["type"] == event_type]
        return items if len(items) >= count else None

    return list(await eventually(seen, timeout=20))


async def _dump(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    return {
        "customer_profile": [dict(r) for r in await cluster.sql(
            "insights", "SELECT * FROM customer_profile ORDER BY customer_id")],
        "alerts": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM alerts ORDER BY alert_id")],
        "timeline": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM timeline ORDER BY event_id")],
        "population_model": [dict(r) for r in await cluster.sql(
            "insights", "SELECT version, as_of, customers, model, cuts, fit_key FROM population_model ORDER BY version")],
        "insights_clock": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM insights_clock")],
    }


async def test_cancels_returns_and_approvals_live_and_in_a_replay(returns_cluster: Cluster) -> None:
    cluster = returns_cluster
    customer = await cluster.customer("Returns and cancels")
    cid = uuid.UUID(customer)
    orders = [await _order(cluster, customer, n) for n in (0, 7, 14, 21, 28, 35)]
    body = await eventually(lambda: _orders_seen(cluster, customer, 6), timeout=20)
    assert body["frequency"] == {"purchase_days": 6, "orders": 6}
    assert body["monetary"]["total"] == "180.00"

    # The order of day 21 is cancelled on day 36, after the orders of days 28 and 35; the order of
    # day 35 is returned in part on day 37 (one of its two items).
    await _publish(cluster, OrderCancelled(
        customer_id=cid, occurred_at=day(36), order_id=uuid.UUID(orders[3]), previous_status="placed",
        total=Decimal("30.00"), reason="changed mind", cancelled_by="li"))
    await _publish(cluster, OrderReturned(
        customer_id=cid, occurred_at=day(37), order_id=uuid.UUID(orders[5]), return_id=uuid.uuid4(),
        lines=[ReturnedLine(line_no=1, sku="TEA-1", quantity=Decimal(1), amount=Decimal("15.00"))],
        amount=Decimal("15.00"), whole=False, reason="leaks", returned_by="li"))
    await _on_timeline(cluster, customer, "OrderReturned")

    body = await eventually(lambda: _settled(cluster, customer, day(37)), timeout=20)
    assert body["frequency"] == {"purchase_days": 5, "orders": 5}  # the cancelled order is no purchase
    assert body["monetary"]["total"] == "135.00"  # 4 × 30 + (30 - 15 back)
    assert body["rhythm"]["longest_gap_days"] == 14  # days 0, 7, 14, 28, 35: the cancelled day is gone
    assert body["basket"]["recent_quantity"] == 1.5  # the last two purchase days: 2 and 2 - 1
    [row] = await cluster.sql("insights", "SELECT spent, purchase_days, state FROM customer_profile "
                                          "WHERE customer_id = $1", cid)
    assert (str(row["spent"]), row["purchase_days"]) == ("135.00", 5)
    assert [d[1] for d in json.loads(row["state"])["days"]] == [2.0, 2.0, 2.0, 2.0, 1.0]

    # An order waiting for approval (day 42) is no purchase until a manager approves it (day 43):
    # then it is one, on the day it was placed. Published one at a time: the approval is resolved
    # against the order already on the timeline.
    waiting = uuid.uuid4()
    await _publish(cluster, OrderPlaced(
        customer_id=cid, occurred_at=day(42), order_id=waiting, channel="phone", currency="CNY",
        lines=[OrderLine(sku="TEA-1", quantity=Decimal(4), unit_price=Decimal("15.00"), amount=Decimal("60.00"))],
        total=Decimal("60.00"), status="pending_approval"))
    await _on_timeline(cluster, customer, "OrderPlaced", 7)
    body = await eventually(lambda: _settled(cluster, customer, day(37)), timeout=20)
    assert body["frequency"] == {"purchase_days": 5, "orders": 5}
    await _publish(cluster, OrderApprovalDecided(
        customer_id=cid, occurred_at=day(43), order_id=waiting, approved=True, decided_by="boss",
        reason="known customer"))
    body = await eventually(lambda: _orders_seen(cluster, customer, 6), timeout=20)
    assert body["frequency"] == {"purchase_days": 6, "orders": 6}
    assert body["monetary"]["total"] == "195.00"
    assert body["as_of"] == day(43).isoformat()
    assert body["last_purchase_at"] == day(42).isoformat()  # the day it was placed

    # The timeline keeps them all, in words.
    response = await cluster.http.get(cluster.urls["insights"] + f"/customers/{customer}/timeline",
                                      headers=cluster.headers(**{"Accept-Language": "zh-CN"}))
    summaries = {i["type"]: i["summary"] for i in response.json()["items"]}
    assert summaries["OrderCancelled"] == f"li 取消了订单 #{orders[3][-8:]}（金额 30.00）：changed mind"
    assert summaries["OrderApprovalDecided"] == f"boss 批准了订单 #{str(waiting)[-8:]}：known customer"
    assert "退款 15.00" in summaries["OrderReturned"]

    # A replay from the outboxes rebuilds the very same tables.
    live = await _dump(cluster)
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("admin"),
                                       timeout=60)
    assert response.status_code == 200, response.text
    assert (response.json()["skipped"], response.json()["fold_processes"]) == ([], 2)
    replayed = await _dump(cluster)
    for table in live:
        assert replayed[table] == live[table], table


async def test_a_customer_whose_only_order_is_cancelled_is_no_buyer_and_a_replay_agrees(
        returns_cluster: Cluster) -> None:
    cluster = returns_cluster
    customer = await cluster.customer("Cancelled at once")
    order = await _order(cluster, customer, 50, quantity="1", price="99.00")
    await eventually(lambda: _orders_seen(cluster, customer, 1), timeout=20)
    await _publish(cluster, OrderCancelled(
        customer_id=uuid.UUID(customer), occurred_at=day(50.1), order_id=uuid.UUID(order),
        previous_status="placed", total=Decimal("99.00"), reason="wrong customer", cancelled_by="li"))
    await _on_timeline(cluster, customer, "OrderCancelled")

    async def no_buyer() -> list[Any] | None:
        rows = await cluster.sql("insights", "SELECT purchase_days, spent, segment, stage_reason FROM customer_profile "
                                             "WHERE customer_id = $1", uuid.UUID(customer))
        return rows if rows and rows[0]["purchase_days"] == 0 else None

    [row] = await eventually(no_buyer, timeout=20)
    assert (str(row["spent"]), row["segment"], row["stage_reason"]) == ("0.00", "prospect", "no_purchase")
    live = await _dump(cluster)
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("admin"),
                                       timeout=60)
    assert response.status_code == 200, response.text
    assert await _dump(cluster) == live


async def _orders_seen(cluster: Cluster, customer: str, n: int) -> dict[str, Any] | None:
    response = await cluster.get("insights", f"/customers/{customer}/insights")
    body = response.json() if response.status_code == 200 else None
    return body if body and body["frequency"]["orders"] == n else None


async def _settled(cluster: Cluster, customer: str, at: datetime) -> dict[str, Any] | None:
    body = await _profile(cluster, customer)
    return body if body["as_of"] == at.isoformat() else None


