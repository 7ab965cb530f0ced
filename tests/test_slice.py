"""The thin slice through all four services, on the real broker and database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import SPANS, Cluster, eventually

pytestmark = pytest.mark.database


async def test_registration_order_and_complaint_reach_the_timeline_in_business_time_order(cluster: Cluster) -> None:
    customer_id = await cluster.customer("王芳", phone="138 0013 8000", external_ref="card-1001")
    order = await cluster.order(customer_id)
    assert order.status_code == 201, order.text
    assert order.json()["total"] == "19.00"
    ticket = await cluster.post("tickets", "/tickets", {
        "customer_id": customer_id, "kind": "complaint", "channel": "phone",
        "subject": "Late delivery", "description": "Promised Monday, came Thursday",
    })
    assert ticket.status_code == 201, ticket.text

    # the first order also makes the customer current: contacts says so, at the order's time
    items = await eventually(lambda: _timeline_of_length(cluster, customer_id, 4), timeout=5)

    assert [i["type"] for i in items] == ["CustomerRegistered", "OrderPlaced", "CustomerCategoryChanged",
                                          "ComplaintFiled"]
    assert [i["occurred_at"] for i in items] == sorted(i["occurred_at"] for i in items)
    assert items[1]["summary"] == "Ordered 2 items (A1 ×2) for CNY 19.00 at store"
    assert items[2]["summary"] == "Became current by placing an order (was potential)"
    assert items[3]["data"]["ticket_id"] == ticket.json()["id"]


async def test_timeline_speaks_chinese_when_asked(cluster: Cluster) -> None:
    customer_id = await cluster.customer("李雷")
    assert (await cluster.order(customer_id)).status_code == 201
    await eventually(lambda: _timeline_of_length(cluster, customer_id, 2))
    response = await cluster.http.get(
        f"{cluster.urls['insights']}/customers/{customer_id}/timeline",
        headers=cluster.headers(**{"Accept-Language": "zh-CN,zh;q=0.9"}),
    )
    assert response.headers["content-language"] == "zh-CN"
    assert response.json()["items"][1]["summary"] == "在门店下单 2 件（A1 ×2），金额 CNY 19.00"


async def test_an_order_keyed_in_later_sorts_by_when_it_happened(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Old regular")
    body = {"customer_id": customer_id, "channel": "phone", "occurred_at": "2024-03-01T10:00:00+08:00",
            "lines": [{"sku": "TEA-1", "quantity": "1", "unit_price": "35.00"}]}
    assert (await cluster.post("orders", "/orders", body)).status_code == 201
    items = await eventually(lambda: _timeline_of_length(cluster, customer_id, 2))
    assert items[0]["type"] == "OrderPlaced"
    assert items[0]["occurred_at"].startswith("2024-03-01T02:00:00")


async def test_orders_and_tickets_refuse_a_customer_contacts_never_registered(cluster: Cluster) -> None:
    stranger = str(uuid.uuid4())
    order = await cluster.order(stranger)
    assert order.status_code == 422
    assert order.headers["content-type"] == "application/problem+json"
    assert order.json()["errors"] == [{"field": "customer_id", "message": "no such customer in contacts"}]
    ticket = await cluster.post("tickets", "/tickets", {
        "customer_id": stranger, "kind": "feedback", "channel": "web", "subject": "Nice shop"})
    assert ticket.status_code == 422


async def test_a_customer_not_yet_replicated_is_confirmed_with_contacts(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Fresh")
    # Immediately: the replica may not have it yet; orders asks contacts over HTTP.
    assert (await cluster.order(customer_id)).status_code == 201
    rows = await cluster.sql("orders", "SELECT source FROM known_customers WHERE customer_id = $1",
                             uuid.UUID(customer_id))
    assert len(rows) == 1


async def test_with_contacts_down_unknown_ids_get_503_and_known_ids_still_work(cluster: Cluster) -> None:
    known = await cluster.customer("Known")
    await eventually(lambda: _replicated(cluster, known))
    await cluster.stop("contacts")

    unknown = await cluster.order(str(uuid.uuid4()))
    assert unknown.status_code == 503
    assert unknown.headers["retry-after"] == "5"
    assert "nothing was written" in unknown.json()["detail"]
    assert (await cluster.order(known)).status_code == 201
    count = await cluster.sql("orders", "SELECT count(*) AS n FROM orders")
    assert count[0]["n"] == 1


async def test_idempotency_key_returns_the_first_response_and_creates_nothing_new(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Retrier")
    first = await cluster.order(customer_id, **{"Idempotency-Key": "till-7-receipt-42"})
    again = await cluster.order(customer_id, **{"Idempotency-Key": "till-7-receipt-42"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await cluster.order(customer_id, quantity="3", **{"Idempotency-Key": "till-7-receipt-42"})
    assert other_body.status_code == 422
    assert other_body.json()["errors"][0]["field"] == "header.Idempotency-Key"
    rows = await cluster.sql("orders", "SELECT count(*) AS n FROM orders")
    outbox = await cluster.sql("orders", "SELECT count(*) AS n FROM outbox")
    assert rows[0]["n"] == 1 and outbox[0]["n"] == 1


async def test_concurrent_retries_with_one_key_create_one_order(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Impatient")
    responses = await asyncio.gather(*[
        cluster.order(customer_id, **{"Idempotency-Key": "double-click"}) for _ in range(6)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    rows = await cluster.sql("orders", "SELECT count(*) AS n FROM orders")
    assert rows[0]["n"] == 1


async def test_idempotency_keys_work_for_customers_and_tickets_too(cluster: Cluster) -> None:
    body = {"name": "Zhang", "external_ref": "wx-88"}
    first = await cluster.post("contacts", "/customers", body, **{"Idempotency-Key": "k1"})
    second = await cluster.post("contacts", "/customers", body, **{"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    ticket = {"customer_id": first.json()["id"], "kind": "service_request", "channel": "wechat",
              "subject": "Install the new shelf"}
    t1 = await cluster.post("tickets", "/tickets", ticket, **{"Idempotency-Key": "k2"})
    t2 = await cluster.post("tickets", "/tickets", ticket, **{"Idempotency-Key": "k2"})
    assert t1.json()["id"] == t2.json()["id"]
    assert (await cluster.sql("tickets", "SELECT count(*) AS n FROM tickets"))[0]["n"] == 1


async def test_a_taken_external_ref_is_a_409_naming_the_holder(cluster: Cluster) -> None:
    holder = await cluster.customer("First", external_ref="card-7")
    clash = await cluster.post("contacts", "/customers", {"name": "Second", "external_ref": "card-7"})
    assert clash.status_code == 409
    assert clash.json()["holder"] == holder
    found = await cluster.get("contacts", "/customers", external_ref="card-7")
    assert [c["id"] for c in found.json()["items"]] == [holder]


async def test_one_trace_links_the_post_the_relay_publish_and_the_insights_consumer(cluster: Cluster) -> None:
    customer_id = await cluster.customer("Traced")
    await eventually(lambda: _timeline_of_length(cluster, customer_id, 1))
    SPANS.clear()
    order = await cluster.order(customer_id)
    await eventually(lambda: _timeline_of_length(cluster, customer_id, 2))
    await asyncio.sleep(0.1)
    spans = SPANS.get_finished_spans()
    post = next(s for s in spans if s.name == "POST /orders")
    publish = next(s for s in spans if s.name == "kehu.orders publish")
    receive = next(s for s in spans if s.name == "kehu.orders receive"
                   and s.attributes and s.attributes.get("messaging.consumer.group.name") == "insights")
    assert post.context is not None and publish.parent is not None and receive.parent is not None
    trace_id = post.context.trace_id
    assert publish.context is not None and publish.context.trace_id == trace_id
    assert publish.parent.span_id == post.context.span_id
    assert receive.parent.span_id == publish.context.span_id
    assert receive.context is not None and receive.context.trace_id == trace_id
    assert order.status_code == 201


async def _timeline_of_length(cluster: Cluster, customer_id: str, n: int) -> list[dict[str, object]] | None:
    items = await cluster.timeline(customer_id)
    return items if len(items) >= n else None


async def _replicated(cluster: Cluster, customer_id: str) -> bool:
    rows = await cluster.sql("orders", "SELECT 1 FROM known_customers WHERE customer_id = $1 AND source = 'event'",
                             uuid.UUID(customer_id))
    return bool(rows)
