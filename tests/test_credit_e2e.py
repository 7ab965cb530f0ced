"""End to end, on the real database and broker, every service in the loop: a customer on account
who stops paying is put on hold by insights from orders' own events, their next order on account
is refused with the reason, a payment at the till is still taken, and paying what is owed lifts
the hold so the next order on account goes through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import add_token
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
async def shop(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("credit-e2e")
    async with own_cluster(pg_url, home) as running:
        running.tokens["manager"] = add_token(home / "tokens.json", name="e2e-manager", role="manager")
        await asyncio.sleep(1.2)  # the services re-read the tokens file within a second
        yield running


async def _order(shop: Cluster, customer_id: str, price: str, **extra: Any) -> httpx.Response:
    body = {"customer_id": customer_id, "channel": "phone",
            "lines": [{"sku": "TEA-1", "quantity": "1", "unit_price": price}], **extra}
    return await shop.post("orders", "/orders", body, role="sales")


async def _tier(shop: Cluster, customer_id: str) -> str | None:
    response = await shop.get("orders", f"/customers/{customer_id}/credit")
    assert response.status_code == 200, response.text
    tier = response.json()["tier"]
    return None if tier is None else str(tier)


async def test_a_customer_who_stops_paying_is_held_refused_and_released_by_paying(shop: Cluster) -> None:
    customer = await shop.customer("拖欠的老王")
    terms = {"payment_days": 30, "credit_limit": "10000.00", "when_exceeded": "refuse", "reason": "老客户月结"}
    set_terms = await shop.http.put(f"{shop.urls['orders']}/customers/{customer}/credit-terms", json=terms,
                                    headers=shop.headers("manager"))
    assert set_terms.status_code == 200, set_terms.text

    # Bought on account 100 days ago: due 70 days ago, never paid.
    long_ago = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    unpaid = await _order(shop, customer, "500.00", occurred_at=long_ago)
    assert unpaid.status_code == 201, unpaid.text
    swept = await shop.post("orders", "/admin/receivables/sweep", None)
    assert swept.status_code == 200, swept.text

    async def held() -> bool:
        return await _tier(shop, customer) == "D"

    await eventually(held, timeout=30)
    standing = await shop.get("insights", f"/customers/{customer}/credit-standing")
    assert standing.json()["tier"] == "D" and standing.json()["evidence"]["longest_overdue_days"] >= 70

    refused = await _order(shop, customer, "80.00")
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["code"], problem["why"], problem["tier"], problem["outstanding"]) == (
        "credit_refused", "on_hold", "D", "500.00")
    till = await _order(shop, customer, "80.00", paid_with="wechat_pay")
    assert till.status_code == 201, till.text  # paid at once: nothing lent, never refused

    paid = await shop.post("orders", "/payments", {"customer_id": customer, "method": "bank_transfer",
                                                   "amount": "500.00", "reference": "回款"}, role="sales")
    assert paid.status_code == 201, paid.text

    async def released() -> bool:
        return await _tier(shop, customer) not in ("D", None)

    await eventually(released, timeout=30)
    again = await _order(shop, customer, "80.00")
    assert again.status_code == 201, again.text
    credit = (await shop.get("orders", f"/customers/{customer}/credit")).json()
    assert credit["outstanding"] == "80.00"
