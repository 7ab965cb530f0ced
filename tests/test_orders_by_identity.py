"""Orders and tickets name their customer by any identity (a phone, a membership card), resolved
through contacts: the resolved id is stored and published; registering an unknown one happens
once however often the till retries; an unknown identity is a 422 naming `customer.identity`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.database

LINES = [{"sku": "A1", "quantity": "1", "unit_price": "9.50"}]


def _order(customer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"customer": customer, "channel": "store", "lines": LINES, **extra}


def _by(kind: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"identity": {"kind": kind, "value": value}, **extra}


async def _customers_named(cluster: Cluster, name: str) -> int:
    rows = await cluster.sql("contacts", "SELECT count(*) AS n FROM customers WHERE name = $1", name)
    return int(rows[0]["n"])


async def test_an_order_and_a_ticket_by_phone_or_card_go_to_the_right_customer(cluster: Cluster) -> None:
    ann = await cluster.customer("Ann", phone="+86 138 0013 8000")
    await cluster.customer("Bob", phone="13900000001")
    card = await cluster.post("contacts", f"/customers/{ann}/identities", {"kind": "membership_card", "value": "VIP 1"})
    assert card.status_code == 201, card.text

    order = await cluster.post("orders", "/orders", _order(_by("phone", "138 0013 8000")))
    assert order.status_code == 201, order.text
    assert order.json()["customer_id"] == ann
    stored = await cluster.sql("orders", "SELECT customer_id FROM orders WHERE id = $1::uuid", order.json()["id"])
    assert str(stored[0]["customer_id"]) == ann
    published = await cluster.sql("orders", "SELECT subject FROM outbox WHERE event_type LIKE '%OrderPlaced%'")
    assert [r["subject"] for r in published] == [ann]

    ticket = await cluster.post("tickets", "/tickets", {
        "customer": _by("membership_card", "vip1"), "kind": "complaint", "channel": "store", "subject": "late"})
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["customer_id"] == ann


async def test_register_if_unknown_registers_one_potential_customer_however_often_retried(cluster: Cluster) -> None:
    body = _order(_by("phone", "137 0000 8000", register_if_unknown=True, name="Walk-in 8000"))
    first = await cluster.post("orders", "/orders", body, **{"Idempotency-Key": "till-7-42"})
    again = await cluster.post("orders", "/orders", body, **{"Idempotency-Key": "till-7-42"})
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert first.json() == again.json()
    # A second order (another key) of the same person finds them: the identity is unique.
    later = await cluster.post("orders", "/orders", body, **{"Idempotency-Key": "till-7-43"})
    assert later.status_code == 201 and later.json()["customer_id"] == first.json()["customer_id"]
    assert await _customers_named(cluster, "Walk-in 8000") == 1
    customer = (await cluster.get("contacts", f"/customers/{first.json()['customer_id']}")).json()
    # registered as a potential customer; the order itself then makes them current (kehu.orders),
    # whenever contacts has read it
    assert customer["phone"] == "+8613700008000"
    assert customer["category"] in ("potential", "current")
    category = (await cluster.get("contacts", f"/customers/{first.json()['customer_id']}/category")).json()
    changes = [(h["previous_category"], h["category"], h["automatic"]) for h in category["history"]]
    # read in one answer with the history, so an order read meanwhile cannot split them
    assert changes == ([] if category["category"] == "potential" else [("potential", "current", True)])
    orders = await cluster.sql("orders", "SELECT count(*) AS n FROM orders")
    assert orders[0]["n"] == 2


async def test_an_unknown_identity_without_register_is_a_422_naming_customer_identity(cluster: Cluster) -> None:
    refused = await cluster.post("orders", "/orders", _order(_by("membership_card", "NOBODY-1")))
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("customer.identity", "identity_unknown")]
    malformed = await cluster.post("tickets", "/tickets", {
        "customer": _by("phone", "12"), "kind": "feedback", "channel": "store", "subject": "hi"})
    assert malformed.status_code == 422
    assert [(e["field"], e["code"]) for e in malformed.json()["errors"]] == [("customer.identity.value", "phone_invalid")]
    assert await cluster.sql("orders", "SELECT 1 FROM orders") == []


async def test_exactly_one_of_customer_id_and_customer(cluster: Cluster) -> None:
    ann = await cluster.customer("Ann", phone="13800138000")
    both = await cluster.post("orders", "/orders", _order(_by("phone", "13800138000"), customer_id=ann))
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "customer"
    neither = await cluster.post("orders", "/orders", {"channel": "store", "lines": LINES})
    assert neither.status_code == 422 and neither.json()["errors"][0]["field"] == "customer_id"


async def test_a_batch_names_customers_by_identity(cluster: Cluster) -> None:
    ann = await cluster.customer("Ann", phone="13800138000")
    batch = {"orders": [
        {"customer": _by("phone", "138 0013 8000"), "channel": "store", "lines": LINES, "external_ref": "B-1"},
        {"customer_id": ann, "channel": "store", "lines": LINES, "external_ref": "B-2"},
        {"customer": _by("email", "nobody@example.com"), "channel": "store", "lines": LINES, "external_ref": "B-3"},
    ]}
    refused = await cluster.post("orders", "/orders/batch", batch)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "orders[2].customer.identity"
    batch["orders"].pop()
    placed = await cluster.post("orders", "/orders/batch", batch)
    assert placed.status_code == 200, placed.text
    rows = await cluster.sql("orders", "SELECT DISTINCT customer_id FROM orders")
    assert [str(r["customer_id"]) for r in rows] == [ann]


async def test_contacts_down_is_a_503_with_retry_after(cluster: Cluster) -> None:
    await cluster.stop("contacts")
    refused = await cluster.post("orders", "/orders", _order(_by("phone", "13800138000")))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
