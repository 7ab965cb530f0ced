"""Faults for real: broker stopped and restarted empty, duplicates, poison records."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.events import OrderLine, OrderPlaced, envelope_for
from shared.kafka import dlq_topic
from shared.outbox import _RELAY_LOCK
from tests.conftest import Cluster, eventually

pytestmark = pytest.mark.database


async def _orders_in_insights(cluster: Cluster) -> list[asyncpg.Record]:
    return await cluster.sql(
        "insights", "SELECT data->>'order_id' AS order_id FROM timeline WHERE event_type = 'OrderPlaced'")


async def _metric(cluster: Cluster, service: str, name: str, **labels: str) -> float:
    text = (await cluster.http.get(cluster.urls[service] + "/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_the_same_event_delivered_twice_changes_insights_once(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Twice")
    await eventually(lambda: _timeline_has(cluster, customer_id, 1))
    duplicates_before = await _metric(cluster, "insights", "kehu_events_duplicate_total", consumer="insights")
    event = OrderPlaced(
        customer_id=uuid.UUID(customer_id), occurred_at="2026-01-05T09:30:00+08:00", order_id=uuid.uuid4(),
        channel="store", currency="CNY", total="5.00",
        lines=[OrderLine(sku="X", quantity="1", unit_price="5.00", amount="5.00")],
    )
    key, value, headers = envelope_for(event).to_record()
    producer = AIOKafkaProducer(bootstrap_servers=cluster.broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("kehu.orders", value=value, key=key, headers=headers)
        await producer.send_and_wait("kehu.orders", value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    await eventually(lambda: _metric_above(cluster, "kehu_events_duplicate_total", duplicates_before))
    # the order also made the customer current (contacts consumes kehu.orders too), once
    items = await eventually(lambda: _timeline_of_at_least(cluster, customer_id, 3))
    assert sorted(i["type"] for i in items) == ["CustomerCategoryChanged", "CustomerRegistered", "OrderPlaced"]
    inbox = await cluster.sql("insights", "SELECT count(*) AS n FROM inbox WHERE topic = 'kehu.orders' AND consumer = 'insights'")
    assert inbox[0]["n"] == 1


async def test_a_malformed_record_is_dead_lettered_counted_and_the_partition_moves_on(cluster: Cluster) -> None:
    customer_id = await cluster.customer("After poison")
    await eventually(lambda: _timeline_has(cluster, customer_id, 1))
    dead_before = await _metric(cluster, "insights", "kehu_dead_letters_total", consumer="insights")
    producer = AIOKafkaProducer(bootstrap_servers=cluster.broker.bootstrap)
    await producer.start()
    try:
        # Same key as the customer: same partition as the valid order that follows it.
        await producer.send_and_wait("kehu.orders", value=b"{not json", key=customer_id.encode(),
                                     headers=[("ce_specversion", b"1.0"), ("ce_type", b"kehu.orders.OrderPlaced.v1")])
        await producer.send_and_wait(
            "kehu.orders", value=b'{"customer_id": "x"}', key=customer_id.encode(),
            headers=[("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
                     ("ce_source", b"/kehu/orders"), ("ce_type", b"kehu.orders.OrderPlaced.v9"),
                     ("ce_subject", customer_id.encode()), ("ce_time", b"2026-01-01T00:00:00+00:00")])
    finally:
        await producer.stop()
    assert (await cluster.order(customer_id)).status_code == 201

    await eventually(lambda: _timeline_has(cluster, customer_id, 2))
    letters = await eventually(lambda: _dead_letters(cluster))
    errors = sorted(r["error"] for r in letters)
    assert any("missing CloudEvents header" in e for e in errors)
    assert any("unknown event type 'kehu.orders.OrderPlaced.v9'" in e for e in errors)
    assert await _metric(cluster, "insights", "kehu_dead_letters_total", consumer="insights") == dead_before + 2

    consumer = AIOKafkaConsumer(dlq_topic("kehu.orders", "insights"), bootstrap_servers=cluster.broker.bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        found = await consumer.getmany(timeout_ms=3000)
        records = [r for batch in found.values() for r in batch]
    finally:
        await consumer.stop()
    assert {r.value for r in records} == {b"{not json", b'{"customer_id": "x"}'}
    for record in records:
        headers = dict(record.headers)
        assert headers["kehu_dlq_consumer"] == b"insights"
        assert headers["kehu_dlq_error"]
        assert headers["kehu_dlq_origin"].startswith(b"kehu.orders/")


async def test_bad_input_gets_clear_errors(cluster: Cluster) -> None:
    url = cluster.urls["orders"] + "/orders"
    malformed = await cluster.http.post(url, content=b'{"customer_id": ', headers=cluster.headers(
        **{"content-type": "application/json"}))
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "body"
    assert "malformed JSON" in malformed.json()["errors"][0]["message"]

    customer_id = await cluster.customer("Careful")
    invalid = await cluster.post("orders", "/orders", {
        "customer_id": customer_id, "channel": "store",
        "lines": [{"sku": "A1", "quantity": "0", "unit_price": "9.999"}]})
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json()["errors"]}
    assert fields == {"lines[0].quantity", "lines[0].unit_price"}
    assert invalid.json()["type"] == "about:blank" and invalid.json()["status"] == 422

    anonymous = await cluster.http.post(url, json={})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = await cluster.http.post(url, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    readonly = await cluster.order(customer_id, role="readonly") if False else await cluster.post(
        "orders", "/orders", {"customer_id": customer_id, "channel": "store",
                              "lines": [{"sku": "A1", "quantity": "1", "unit_price": "1.00"}]}, role="readonly")
    assert readonly.status_code == 403
    assert readonly.json()["missing_permission"] == "orders:write"
    clerk = await cluster.post("tickets", "/tickets", {
        "customer_id": customer_id, "kind": "complaint", "channel": "phone", "subject": "Broken lid"}, role="service")
    assert clerk.status_code == 201
    assert (await cluster.post("orders", "/orders", {}, role="service")).status_code == 403
    await eventually(lambda: _timeline_has(cluster, customer_id, 1))  # insights knows the customer (else 404)
    assert (await cluster.get("insights", f"/customers/{customer_id}/timeline", role="readonly")).status_code == 200
    assert (await cluster.get("orders", "/orders/not-a-uuid")).status_code == 404  # names no order


async def test_every_service_reports_health_metrics_and_openapi(cluster: Cluster) -> None:
    for service, url in cluster.urls.items():
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/health/live")).json() == {"status": "live"}
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, (service, ready.text)
            assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
            assert "# TYPE" in (await http.get("/metrics")).text
            assert (await http.get("/openapi.json")).json()["info"]["title"] == f"kehu {service}"


async def test_readiness_reports_an_unreachable_broker(cluster: Cluster) -> None:
    cluster.broker.stop()
    ready = await eventually(lambda: _not_ready(cluster), timeout=15)
    assert ready["checks"]["broker"].startswith("down: no answer from ")
    assert ready["checks"]["database"] == "ok"


async def _not_ready(cluster: Cluster) -> dict[str, object] | None:
    response = await cluster.http.get(cluster.urls["orders"] + "/health/ready")
    return response.json() if response.status_code == 503 else None


async def _count_at_least(cluster: Cluster, n: int) -> bool:
    return len(await _orders_in_insights(cluster)) >= n


async def _timeline_has(cluster: Cluster, customer_id: str, n: int) -> bool:
    return len(await cluster.timeline(customer_id)) >= n


async def _metric_above(cluster: Cluster, name: str, floor: float) -> bool:
    return await _metric(cluster, "insights", name, consumer="insights") > floor


async def _dead_letters(cluster: Cluster) -> list[asyncpg.Record] | None:
    rows = await cluster.sql("insights", "SELECT error FROM dead_letters WHERE topic = 'kehu.orders' AND consumer = 'insights'")
    return rows if len(rows) >= 2 else None


async def test_a_relay_resumed_on_the_same_broker_still_reports_everything_it_published(cluster: Cluster) -> None:
    """A recycle that is called off (consumers not caught up in time) resumes the relays on the
    same broker. Their acknowledged offsets must survive that, or the next recycle takes the
    broker's own (low, on Tansu) end offsets for the truth and restarts it while a slow consumer
    still had records to read (seen: 921 orders lost to a lagging insights)."""
    customer = await cluster.customer("Resumed")
    await cluster.order(customer)
    pause = cluster.urls["orders"] + "/admin/relay/pause"
    first = (await cluster.http.post(pause, headers=cluster.headers("admin"))).json()["high_watermarks"]
    assert first and all(offset > 0 for offset in first.values())
    resumed = await cluster.http.post(cluster.urls["orders"] + "/admin/relay/resume", headers=cluster.headers("admin"))
    assert resumed.status_code == 200
    again = (await cluster.http.post(pause, headers=cluster.headers("admin"))).json()["high_watermarks"]
    assert again == first
    replaced = await cluster.http.post(cluster.urls["orders"] + "/admin/relay/resume",
                                       params={"broker_replaced": "true"}, headers=cluster.headers("admin"))
    assert replaced.status_code == 200
    after_replacement = (await cluster.http.post(pause, headers=cluster.headers("admin"))).json()["high_watermarks"]
    assert after_replacement == {}
    await cluster.http.post(cluster.urls["orders"] + "/admin/relay/resume", headers=cluster.headers("admin"))


async def test_a_relay_that_loses_the_connection_holding_its_lock_takes_the_lock_again(cluster: Cluster) -> None:
    """One relay per database publishes, the one holding an advisory lock on its own connection.
    When that connection is lost (a restart of the database, a terminated backend) the lock goes
    with it; the relay must notice and lead again, not publish on without the lock."""
    holder = await eventually(lambda: _relay_lock_holder(cluster), timeout=15)
    await cluster.sql("orders", "SELECT pg_terminate_backend($1)", holder)
    await eventually(lambda: _relay_lock_holder(cluster, other_than=holder), timeout=15)
    customer_id = await cluster.customer("After the lock was lost")
    assert (await cluster.order(customer_id)).status_code == 201
    await eventually(lambda: _timeline_has(cluster, customer_id, 2), timeout=15)


async def _relay_lock_holder(cluster: Cluster, other_than: int = 0) -> int | None:
    rows = await cluster.sql(
        "orders", "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND (classid::bigint << 32 | objid::bigint) = $1", _RELAY_LOCK)
    pids = [r["pid"] for r in rows if r["pid"] != other_than]
    return pids[0] if pids else None


async def _timeline_of_at_least(cluster: Cluster, customer_id: str, n: int) -> list[dict[str, Any]] | None:
    items = await cluster.timeline(customer_id)
    return items if len(items) >= n else None
