"""Credit standing end to end, on the real database and broker: orders' receivable and payment
events (put in the orders outbox, as orders' routes will, and published by its relay) move a
customer's tier in insights; the sweep moves it with time; each change of tier, and only a change,
is published as CreditStandingChanged through insights' outbox; the API answers the tier."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.db import connect
from shared.events import (
    Envelope,
    Event,
    Instalment,
    PaymentAllocation,
    PaymentRecorded,
    ReceivableScheduled,
    envelope_for,
)
from shared.identity import generate_keypair, load_private_key
from shared.outbox import append
from tests.conftest import Cluster, eventually, own_cluster
from tests.test_scopes import _known_everywhere, _out_of_scope, person

pytestmark = pytest.mark.database

DAY = timedelta(days=1)


async def _in_orders_outbox(cluster: Cluster, *events: Event) -> list[uuid.UUID]:
    conn = await connect(cluster.database_urls["orders"])
    try:
        async with conn.transaction():
            return await append(conn, *events)
    finally:
        await conn.close()


def _schedule(customer_id: uuid.UUID, order_id: uuid.UUID, amount: str, due_at: datetime, at: datetime,
              paid: str = "0", revision: int = 1) -> ReceivableScheduled:
    return ReceivableScheduled(customer_id=customer_id, occurred_at=at, order_id=order_id, revision=revision,
                               instalments=[Instalment(no=1, due_at=due_at, amount=Decimal(amount), paid=Decimal(paid))])


def _payment(customer_id: uuid.UUID, order_id: uuid.UUID, amount: str, due_at: datetime, at: datetime) -> PaymentRecorded:
    return PaymentRecorded(customer_id=customer_id, occurred_at=at, payment_id=uuid.uuid4(), method="bank_transfer",
                           amount=Decimal(amount), unallocated=Decimal(0), recorded_by="test",
                           allocations=[PaymentAllocation(order_id=order_id, instalment_no=1, amount=Decimal(amount),
                                                          due_at=due_at)])


async def _changes(cluster: Cluster, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await cluster.sql("insights", "SELECT data FROM outbox WHERE event_type = $1 AND subject = $2 ORDER BY id",
                             "kehu.insights.CreditStandingChanged.v1", str(customer_id))
    return [json.loads(r["data"]) for r in rows]  # this connection has no jsonb codec


async def _recorded(cluster: Cluster, customer_id: uuid.UUID) -> str | None:
    rows = await cluster.sql("insights", "SELECT tier FROM credit_standings WHERE customer_id = $1", customer_id)
    return str(rows[0]["tier"]) if rows else None


async def _consumed(cluster: Cluster, event_id: uuid.UUID) -> bool:
    return bool(await cluster.sql("insights", "SELECT 1 FROM inbox WHERE consumer = 'insights-credit' AND event_id = $1",
                                  event_id))


async def test_payments_and_time_move_the_tier_and_each_change_is_published_once(cluster: Cluster) -> None:
    customer_id = uuid.UUID(await cluster.customer("赊账的客户"))
    now = datetime.now(UTC)

    # Three orders on account, each paid on its due date: a good payer (A), announced as the first standing.
    paid = []
    for n in (100, 70, 40):
        order_id, due = uuid.uuid4(), now - n * DAY
        paid += [_schedule(customer_id, order_id, "200.00", due, due, paid="200.00", revision=2),
                 _payment(customer_id, order_id, "200.00", due, due)]
    await _in_orders_outbox(cluster, *paid)
    await eventually(lambda: _tier_is(cluster, customer_id, "A"), timeout=30)
    [first] = await _changes(cluster, customer_id)
    assert (first["previous_tier"], first["tier"], first["reason"]) == (None, "A", "on_time")
    assert first["evidence"]["instalments_due"] == 3 and first["rule_version"] == "credit-2026.12-1"

    # A large order, due 10 days ago and unpaid: no longer A (B), with that order's schedule as evidence.
    big, due = uuid.uuid4(), now - 10 * DAY
    big_schedule = _schedule(customer_id, big, "5000.00", due, due - 30 * DAY)
    [schedule_id] = await _in_orders_outbox(cluster, big_schedule)
    await eventually(lambda: _tier_is(cluster, customer_id, "B"), timeout=30)
    second = (await _changes(cluster, customer_id))[-1]
    assert (second["previous_tier"], second["tier"], second["reason"]) == ("A", "B", "normal")
    assert str(schedule_id) in second["evidence"]["event_ids"]
    assert second["evidence"]["overdue"] == "5000.00"

    # Time alone: 55 days later it is 65 days overdue: hold (D), on the sweep.
    later = now + 55 * DAY
    swept = await cluster.post("insights", f"/admin/credit/sweep?as_of={later.isoformat().replace('+', '%2B')}", None)
    assert swept.status_code == 200, swept.text
    assert swept.json()["published"] == 1
    third = (await _changes(cluster, customer_id))[-1]
    assert (third["previous_tier"], third["tier"], third["reason"]) == ("B", "D", "long_overdue")
    assert third["evidence"]["longest_overdue_days"] == 65
    again = await cluster.post("insights", f"/admin/credit/sweep?as_of={later.isoformat().replace('+', '%2B')}", None)
    assert again.json()["published"] == 0  # the same time again: nothing new

    answer = await cluster.get("insights", f"/customers/{customer_id}/credit-standing")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["tier"], body["reason"], body["recorded_tier"]) == ("D", "long_overdue", "D")
    assert datetime.fromisoformat(body["since"]) == datetime.fromisoformat(swept.json()["as_of"])
    assert body["evidence"]["overdue"] == "5000.00"
    holds = await cluster.get("insights", "/credit-standings", tier="D")
    assert str(customer_id) in [i["customer_id"] for i in holds.json()["items"]]
    assert str(customer_id) not in [i["customer_id"] for i in
                                    (await cluster.get("insights", "/credit-standings", tier="A")).json()["items"]]

    # The same schedule once more (another event id, the same fact): consumed, and nothing changes.
    [repeated] = await _in_orders_outbox(cluster, big_schedule)
    await eventually(lambda: _consumed(cluster, repeated), timeout=30)
    assert len(await _changes(cluster, customer_id)) == 3
    assert await _recorded(cluster, customer_id) == "D"
    # ... and the very same event delivered again (a relay's crash before it stamped it sent).
    duplicates = await _duplicates(cluster)
    await _redeliver(cluster, envelope_for(big_schedule, event_id=schedule_id))
    await eventually(lambda: _more_duplicates(cluster, duplicates), timeout=30)
    assert len(await _changes(cluster, customer_id)) == 3
    assert await _recorded(cluster, customer_id) == "D"

    # Paid at last (10 days late, recorded now): out of hold, with the payment as evidence.
    payment = _payment(customer_id, big, "5000.00", due, now)
    [payment_id] = await _in_orders_outbox(cluster, payment)
    await eventually(lambda: _tier_is(cluster, customer_id, "B"), timeout=30)
    fourth = (await _changes(cluster, customer_id))[-1]
    assert (fourth["previous_tier"], fourth["tier"]) == ("D", "B")
    assert str(payment_id) in fourth["evidence"]["event_ids"]
    assert fourth["evidence"]["outstanding"] == "0.00"


async def _redeliver(cluster: Cluster, envelope: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=cluster.broker.bootstrap)
    await producer.start()
    try:
        key, value, headers = envelope.to_record()
        await producer.send_and_wait("kehu.orders", value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _duplicates(cluster: Cluster) -> float:
    """How many redelivered events the credit consumer recognised (its inbox) and skipped."""
    text = (await cluster.http.get(cluster.urls["insights"] + "/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("kehu_events_duplicate_total{") and 'consumer="insights-credit"' in line)


async def _more_duplicates(cluster: Cluster, before: float) -> bool:
    return await _duplicates(cluster) > before


async def _tier_is(cluster: Cluster, customer_id: uuid.UUID, tier: str) -> bool:
    return await _recorded(cluster, customer_id) == tier


async def test_a_customer_without_instalments_is_b_and_an_unknown_one_404(cluster: Cluster) -> None:
    customer_id = await cluster.customer("现金客户")
    await eventually(lambda: _timeline_has(cluster, customer_id), timeout=30)
    answer = await cluster.get("insights", f"/customers/{customer_id}/credit-standing", as_of="2026-12-01")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["tier"], answer.json()["reason"], answer.json()["recorded_tier"]) == ("B", "no_history", None)
    unknown = await cluster.get("insights", f"/customers/{uuid.uuid4()}/credit-standing")
    assert unknown.status_code == 404, unknown.text
    bad = await cluster.get("insights", f"/customers/{customer_id}/credit-standing", as_of="yesterday")
    assert bad.status_code == 422, bad.text


async def _timeline_has(cluster: Cluster, customer_id: str) -> bool:
    return bool(await cluster.timeline(customer_id))


async def test_a_salesperson_lists_the_standings_of_their_customers_and_the_pools(
    pg_url: str, tmp_path: Path,
) -> None:
    generate_keypair(tmp_path / "identity" / "console-key.pem", tmp_path / "identity" / "console-key.pub.pem")
    key = load_private_key(tmp_path / "identity" / "console-key.pem")
    async with own_cluster(pg_url, tmp_path, insights_sweep_s=0.5) as cluster:
        owners = {"wang": await cluster.customer("王的欠款客户", owner="wang"),
                  "li": await cluster.customer("李的欠款客户", owner="li"),
                  None: await cluster.customer("公海欠款客户")}
        now = datetime.now(UTC)
        for owner, customer_id in owners.items():
            await _known_everywhere(cluster, customer_id, owner)
            due = now - 70 * DAY  # one invoice, 70 days overdue: D as soon as it arrives
            await _in_orders_outbox(cluster, _schedule(uuid.UUID(customer_id), uuid.uuid4(), "800.00", due, due))
        for customer_id in owners.values():
            await eventually(lambda c=customer_id: _tier_is(cluster, uuid.UUID(c), "D"), timeout=30)

        wang = person(key, "wang")
        listed = await cluster.http.get(cluster.urls["insights"] + "/credit-standings", params={"tier": "D"},
                                        headers=wang)
        assert listed.status_code == 200, listed.text
        assert {i["customer_id"] for i in listed.json()["items"]} == {owners["wang"], owners[None]}
        _out_of_scope(await cluster.http.get(cluster.urls["insights"] + f"/customers/{owners['li']}/credit-standing",
                                             headers=wang), "li")
        mine = await cluster.http.get(cluster.urls["insights"] + f"/customers/{owners['wang']}/credit-standing",
                                      headers=wang)
        assert (mine.status_code, mine.json()["tier"]) == (200, "D")
        everyone = await cluster.get("insights", "/credit-standings", tier="D")
        assert {i["customer_id"] for i in everyone.json()["items"]} == set(owners.values())
