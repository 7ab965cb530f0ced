"""Credit terms enforced at order time, on the real database and broker: terms set by a manager, orders
on account within and over the limit, approval mode and the manager's decision, the replica of credit
tiers fed by kehu.insights, overrides audited, and two concurrent orders near the limit."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.auth import add_token
from shared.events import CreditEvidence, CreditStandingChanged, CreditTier, envelope_for
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
async def cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("credit")
    async with own_cluster(pg_url, home) as running:
        running.tokens["manager"] = add_token(home / "tokens.json", name="test-manager", role="manager")
        await asyncio.sleep(1.2)  # the services re-read the tokens file within a second
        yield running


async def _terms(cluster: Cluster, customer_id: str, limit: str | None, when_exceeded: str = "refuse",
                 role: str = "manager", days: int = 30) -> httpx.Response:
    body = {"payment_days": days, "credit_limit": limit, "when_exceeded": when_exceeded, "reason": "trusted shop"}
    return await cluster.http.put(f"{cluster.urls['orders']}/customers/{customer_id}/credit-terms", json=body,
                                  headers=cluster.headers(role))


async def _order(cluster: Cluster, customer_id: str, price: str, role: str = "sales", **extra: Any) -> httpx.Response:
    body = {"customer_id": customer_id, "channel": "store",
            "lines": [{"sku": "RICE", "quantity": "1", "unit_price": price}], **extra}
    return await cluster.post("orders", "/orders", body, role=role)


async def _credit(cluster: Cluster, customer_id: str) -> dict[str, Any]:
    response = await cluster.get("orders", f"/customers/{customer_id}/credit")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _events(cluster: Cluster, event_type: str, order_id: str) -> list[dict[str, Any]]:
    rows = await cluster.sql("orders", "SELECT data FROM outbox WHERE event_type = $1 AND data->>'order_id' = $2 "
                             "ORDER BY id", f"kehu.orders.{event_type}.v1", order_id)
    return [json.loads(r["data"]) for r in rows]


async def _standing(cluster: Cluster, customer_id: str, tier: CreditTier, occurred_at: datetime,
                    event_id: uuid.UUID | None = None) -> uuid.UUID:
    """A CreditStandingChanged on kehu.insights, as insights' relay would publish it."""
    event = CreditStandingChanged(
        customer_id=uuid.UUID(customer_id), occurred_at=occurred_at, previous_tier=None, tier=tier,
        reason="long_overdue" if tier == "D" else "normal", rule_version="test",
        evidence=CreditEvidence(instalments_due=3, share_on_time=0.33, average_days_late=45.0,
                                outstanding=Decimal("800.00"), overdue=Decimal("800.00"), longest_overdue_days=95))
    producer = AIOKafkaProducer(bootstrap_servers=cluster.broker.bootstrap, linger_ms=5)
    await producer.start()
    try:
        envelope = envelope_for(event, event_id=event_id)
        key, value, headers = envelope.to_record()
        await producer.send_and_wait("kehu.insights", value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    return envelope.id


async def test_a_manager_sets_terms_once_and_the_credit_shows_them(cluster: Cluster) -> None:
    customer = await cluster.customer("信用客户")
    assert (await _terms(cluster, customer, "1000", role="sales")).status_code == 403
    first = await _terms(cluster, customer, "1000")
    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    again = await _terms(cluster, customer, "1000.00")
    assert again.json()["changed"] is False
    assert [h["reason"] for h in again.json()["history"]] == ["trusted shop"]
    assert await _credit(cluster, customer) == {
        "customer_id": customer, "tier": None, "reason": None, "evidence": None,
        "terms": {"payment_days": 30, "credit_limit": "1000.00", "when_exceeded": "refuse"},
        "outstanding": "0.00", "available": "1000.00"}
    events = await cluster.sql("orders", "SELECT data FROM outbox WHERE event_type = 'kehu.orders.CreditTermsSet.v1' "
                               "AND subject = $1", customer)
    assert [(json.loads(e["data"])["credit_limit"], json.loads(e["data"])["set_by"]) for e in events] == [
        ("1000.00", "test-manager")]
    unknown = await cluster.get("orders", f"/customers/{uuid.uuid4()}/credit")
    assert unknown.status_code == 404


async def test_orders_on_account_owe_within_the_limit_and_one_over_it_is_refused_with_the_facts(
        cluster: Cluster) -> None:
    customer = await cluster.customer("赊账客户")
    await _terms(cluster, customer, "100")
    placed = await _order(cluster, customer, "70.00")
    assert placed.status_code == 201, placed.text
    assert placed.json().get("status", "placed") == "placed"
    credit = await _credit(cluster, customer)
    assert (credit["outstanding"], credit["available"]) == ("70.00", "30.00")
    [schedule] = await _events(cluster, "ReceivableScheduled", placed.json()["id"])
    assert [(i["amount"], i["paid"]) for i in schedule["instalments"]] == [("70.00", "0.00")]
    due = datetime.fromisoformat(schedule["instalments"][0]["due_at"])
    assert due - datetime.fromisoformat(placed.json()["occurred_at"]) == timedelta(days=30)

    refused = await _order(cluster, customer, "30.01")
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert (problem["code"], problem["why"], problem["tier"], problem["outstanding"], problem["limit"],
            problem["total"]) == ("credit_refused", "over_limit", None, "70.00", "100.00", "30.01")
    assert "100.00" in problem["detail"]
    orders = (await cluster.get("orders", "/orders", customer_id=customer)).json()["items"]
    assert len(orders) == 1

    paid = await _order(cluster, customer, "500.00", paid_with="cash")
    assert paid.status_code == 201, paid.text
    assert (await _credit(cluster, customer))["outstanding"] == "70.00"


async def test_a_customer_without_terms_is_never_checked(cluster: Cluster) -> None:
    customer = await cluster.customer("现付客户")
    placed = await _order(cluster, customer, "99999.00")
    assert placed.status_code == 201, placed.text
    assert (await _credit(cluster, customer))["outstanding"] == "0.00"


async def test_in_approval_mode_an_order_waits_then_a_manager_approves_it_and_it_is_owed(cluster: Cluster) -> None:
    customer = await cluster.customer("待审批客户")
    await _terms(cluster, customer, "50", when_exceeded="approval")
    waiting = await _order(cluster, customer, "80.00")
    assert waiting.status_code == 201, waiting.text
    order_id = waiting.json()["id"]
    assert waiting.json()["status"] == "pending_approval"
    [placed_event] = await _events(cluster, "OrderPlaced", order_id)
    assert placed_event["status"] == "pending_approval"
    assert (await _credit(cluster, customer))["outstanding"] == "0.00"
    queue = (await cluster.get("orders", "/approvals")).json()["items"]
    mine = [a for a in queue if a["order_id"] == order_id]
    assert [(a["why"], a["outstanding"], a["credit_limit"], a["total"]) for a in mine] == [
        ("over_limit", "0.00", "50.00", "80.00")]

    url = f"{cluster.urls['orders']}/orders/{order_id}/approval"
    decision = {"approved": True, "reason": "pays on Friday"}
    assert (await cluster.http.post(url, json=decision, headers=cluster.headers("sales"))).status_code == 403
    approved = await cluster.http.post(url, json=decision, headers=cluster.headers("manager"))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved"]) == ("placed", True)
    assert (await _credit(cluster, customer))["outstanding"] == "80.00"
    assert len(await _events(cluster, "ReceivableScheduled", order_id)) == 1
    [decided] = await _events(cluster, "OrderApprovalDecided", order_id)
    assert (decided["approved"], decided["reason"], decided["decided_by"]) == (True, "pays on Friday", "test-manager")
    again = await cluster.http.post(url, json={"approved": False, "reason": "changed my mind"},
                                    headers=cluster.headers("manager"))
    assert (again.status_code, again.json()["approved"]) == (200, True)
    assert len(await _events(cluster, "ReceivableScheduled", order_id)) == 1
    assert order_id not in [a["order_id"] for a in (await cluster.get("orders", "/approvals")).json()["items"]]

    plain = await _order(cluster, customer, "1.00", paid_with="wechat_pay")
    not_pending = await cluster.http.post(f"{cluster.urls['orders']}/orders/{plain.json()['id']}/approval",
                                          json=decision, headers=cluster.headers("manager"))
    assert (not_pending.status_code, not_pending.json()["code"]) == (409, "not_pending")


async def test_a_refused_approval_cancels_the_order(cluster: Cluster) -> None:
    customer = await cluster.customer("被拒客户")
    await _terms(cluster, customer, "10", when_exceeded="approval")
    order_id = (await _order(cluster, customer, "20.00")).json()["id"]
    refused = await cluster.http.post(f"{cluster.urls['orders']}/orders/{order_id}/approval",
                                      json={"approved": False, "reason": "owes too much"},
                                      headers=cluster.headers("manager"))
    assert (refused.status_code, refused.json()["status"]) == (200, "cancelled")
    [cancelled] = await _events(cluster, "OrderCancelled", order_id)
    assert (cancelled["reason"], cancelled["previous_status"]) == ("owes too much", "pending_approval")
    assert (await _credit(cluster, customer))["outstanding"] == "0.00"


async def test_a_customer_put_on_hold_by_insights_is_refused_until_a_later_change_lifts_it(cluster: Cluster) -> None:
    customer = await cluster.customer("停货客户")
    await _terms(cluster, customer, None)
    now = datetime.now(UTC)
    await _standing(cluster, customer, "D", now)

    async def tier() -> str | None:
        return (await _credit(cluster, customer))["tier"]

    assert await eventually(tier, timeout=30) == "D"
    credit = await _credit(cluster, customer)
    assert (credit["reason"], credit["evidence"]["longest_overdue_days"], credit["available"]) == (
        "long_overdue", 95, None)
    refused = await _order(cluster, customer, "5.00")
    assert refused.status_code == 409, refused.text
    assert (refused.json()["why"], refused.json()["tier"]) == ("on_hold", "D")
    assert (await _order(cluster, customer, "5.00", paid_with="alipay")).status_code == 201

    await _standing(cluster, customer, "A", now - timedelta(days=1))  # older: never overwrites the newer D
    await _standing(cluster, customer, "B", now + timedelta(seconds=1))
    assert await eventually(lambda: _is(tier, "B"), timeout=30)
    assert (await _order(cluster, customer, "5.00")).status_code == 201


async def _is(read: Any, wanted: str) -> bool:
    return bool(await read() == wanted)


async def test_a_manager_overrides_a_refusal_and_it_is_audited(cluster: Cluster) -> None:
    customer = await cluster.customer("特批客户")
    await _terms(cluster, customer, "10")
    override = {"reason": "old friend, pays cash tomorrow"}
    forbidden = await _order(cluster, customer, "50.00", credit_override=override)
    assert forbidden.status_code == 403, forbidden.text
    placed = await _order(cluster, customer, "50.00", role="manager", credit_override=override)
    assert (placed.status_code, placed.json().get("status", "placed")) == (201, "placed")
    order_id = placed.json()["id"]
    [decided] = await _events(cluster, "OrderApprovalDecided", order_id)
    assert (decided["approved"], decided["reason"]) == (True, "old friend, pays cash tomorrow")
    [audit] = await cluster.sql("orders", "SELECT why, outstanding, credit_limit, override, decided_by, reason "
                                "FROM credit_decisions WHERE order_id = $1", uuid.UUID(order_id))
    assert dict(audit) == {"why": "over_limit", "outstanding": Decimal("0.00"), "credit_limit": Decimal("10.00"),
                           "override": True, "decided_by": "test-manager", "reason": "old friend, pays cash tomorrow"}
    assert (await _credit(cluster, customer))["outstanding"] == "50.00"


async def test_two_concurrent_orders_near_the_limit_cannot_both_pass(cluster: Cluster) -> None:
    customer = await cluster.customer("并发客户")
    await _terms(cluster, customer, "100")
    answers = await asyncio.gather(*(_order(cluster, customer, "60.00") for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert (await _credit(cluster, customer))["outstanding"] == "60.00"


async def test_the_tier_replica_keeps_the_newer_event_and_on_a_tie_the_larger_id(cluster: Cluster) -> None:
    customer = await cluster.customer("同时两条")
    at = datetime.now(UTC)
    larger, smaller = uuid.UUID("ffffffff-0000-7000-8000-000000000000"), uuid.UUID("00000000-0000-7000-8000-000000000001")

    async def consumed(event_id: uuid.UUID) -> bool:
        return bool(await cluster.sql("orders", "SELECT 1 FROM inbox WHERE consumer = 'orders-credit' AND "
                                      "event_id = $1", event_id))

    await _standing(cluster, customer, "C", at, event_id=larger)
    await eventually(lambda: consumed(larger), timeout=30)
    await _standing(cluster, customer, "A", at, event_id=smaller)  # the same moment, a smaller id: older
    await eventually(lambda: consumed(smaller), timeout=30)
    await _standing(cluster, customer, "C", at, event_id=larger)  # delivered again: nothing changes
    [row] = await cluster.sql("orders", "SELECT tier, event_id FROM credit_standing WHERE customer_id = $1",
                              uuid.UUID(customer))
    assert (row["tier"], row["event_id"]) == ("C", larger)
