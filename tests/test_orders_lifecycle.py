"""An order's life on the real database and broker: placed with catalogue lines and discounts,
stepped through its statuses, cancelled twice, returned in part then whole; bad input named;
every change published on kehu.orders through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.identity import generate_keypair, load_private_key
from tests.conftest import Cluster, eventually, own_cluster
from tests.test_scopes import _known_everywhere, person

pytestmark = pytest.mark.database
CONSOLE_KEY: dict[str, Ed25519PrivateKey] = {}  # the key the module's services trust (signed-in people)


@pytest.fixture(scope="module")
async def shop(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("orders-lifecycle")
    # the services trust a console key, so a test can act as a signed-in salesperson
    generate_keypair(home / "identity" / "console-key.pem", home / "identity" / "console-key.pub.pem")
    CONSOLE_KEY["key"] = load_private_key(home / "identity" / "console-key.pem")
    async with own_cluster(pg_url, home) as running:
        tea = await running.http.put(running.urls["orders"] + "/products/TEA-1", headers=running.headers(),
                                     json={"name": "Longjing 250g", "category": "tea", "list_price": "88.00"})
        assert tea.status_code in (200, 201), tea.text
        yield running


async def _place(shop: Cluster, customer_id: str, **extra: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "channel": "phone", "paid_with": "wechat_pay",
            "lines": [{"sku": "TEA-1", "quantity": "2", "discount": "6.00"},
                      {"sku": "gift box", "quantity": "1", "unit_price": "20.00"}],
            "discount": "10.00", **extra}
    response = await shop.post("orders", "/orders", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _published(shop: Cluster, order_id: str) -> list[str]:
    """The types of the order's events the relay has sent to kehu.orders (empty until all are sent)."""
    rows = await shop.sql("orders", "SELECT event_type, topic, sent_at FROM outbox WHERE data->>'order_id' = $1 "
                                    "ORDER BY id", order_id)
    if any(r["sent_at"] is None for r in rows):
        return []
    assert {r["topic"] for r in rows} == {"kehu.orders"}
    return [r["event_type"].split(".")[2] for r in rows]


async def test_the_catalogue_is_searched_read_and_changed_idempotently(shop: Cluster) -> None:
    found = await shop.get("orders", "/products", q="longJING")
    assert [p["sku"] for p in found.json()["items"]] == ["TEA-1"]
    assert found.json()["categories"] == ["tea"]
    body = {"name": "Longjing 250g", "category": "tea", "list_price": "90.00"}
    first = await shop.http.put(shop.urls["orders"] + "/products/TEA-2", json=body, headers=shop.headers())
    again = await shop.http.put(shop.urls["orders"] + "/products/TEA-2", json=body, headers=shop.headers())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["updated_at"] == again.json()["updated_at"]
    off = await shop.http.put(shop.urls["orders"] + "/products/TEA-2", json={**body, "active": False},
                              headers=shop.headers())
    assert off.json()["active"] is False
    assert [p["sku"] for p in (await shop.get("orders", "/products", q="tea-")).json()["items"]] == ["TEA-1"]
    refused = await shop.http.put(shop.urls["orders"] + "/products/TEA-3", json=body, headers=shop.headers("sales"))
    assert refused.status_code == 403
    assert (await shop.get("orders", "/products/NOPE")).status_code == 404


async def test_an_order_with_catalogue_lines_and_discounts_is_priced_and_published(shop: Cluster) -> None:
    order = await _place(shop, await shop.customer("Ann"))

    assert [(ln["unit_price"], ln["discount"], ln["amount"], ln["category"]) for ln in order["lines"]] == [
        ("88.00", "6.00", "170.00", "tea"), ("20.00", "0.00", "20.00", None)]
    assert (order["discount"], order["total"], order["paid_with"], order["status"]) == (
        "10.00", "180.00", "wechat_pay", "placed")
    assert await eventually(lambda: _published(shop, order["id"])) == ["OrderPlaced"]


async def test_bad_input_is_a_422_naming_the_field(shop: Cluster) -> None:
    customer = await shop.customer("Bea")
    no_price = await shop.post("orders", "/orders", {"customer_id": customer, "channel": "store", "lines": [
        {"sku": "TEA-1", "quantity": "1"}, {"sku": "unknown", "quantity": "1"}]})
    too_much = await shop.post("orders", "/orders", {"customer_id": customer, "channel": "store", "discount": "100",
                                                     "lines": [{"sku": "TEA-1", "quantity": "1"}]})
    assert (no_price.status_code, too_much.status_code) == (422, 422)
    assert [e["field"] for e in no_price.json()["errors"]] == ["lines[1].unit_price"]
    assert [e["field"] for e in too_much.json()["errors"]] == ["discount"]


async def test_an_order_steps_through_its_statuses_and_refuses_a_skipped_step(shop: Cluster) -> None:
    order = await _place(shop, await shop.customer("Cai"))
    path = f"/orders/{order['id']}/status"

    skipped = await shop.post("orders", path, {"status": "fulfilled"})
    assert skipped.status_code == 409
    assert skipped.json()["allowed"] == ["confirmed"]
    for status in ("confirmed", "fulfilled", "completed"):
        step = await shop.post("orders", path, {"status": status, "note": f"now {status}"})
        assert step.status_code == 200, step.text
        assert step.json()["status"] == status
    cancel = await shop.post("orders", f"/orders/{order['id']}/cancel", {"reason": "too late"})
    assert cancel.status_code == 409

    shown = (await shop.get("orders", f"/orders/{order['id']}")).json()
    assert [(h["previous_status"], h["status"], h["note"]) for h in shown["history"]] == [
        ("placed", "confirmed", "now confirmed"), ("confirmed", "fulfilled", "now fulfilled"),
        ("fulfilled", "completed", "now completed")]
    assert shown["allowed_next"] == ["returned"]
    assert await eventually(lambda: _published(shop, order["id"])) == ["OrderPlaced"] + ["OrderStatusChanged"] * 3


async def test_a_cancel_twice_answers_the_same_state_and_publishes_once(shop: Cluster) -> None:
    order = await _place(shop, await shop.customer("Dai"))
    first = await shop.post("orders", f"/orders/{order['id']}/cancel", {"reason": "changed mind"})
    again = await shop.post("orders", f"/orders/{order['id']}/cancel", {"reason": "changed mind"})
    assert (first.status_code, again.status_code) == (200, 200), first.text
    assert first.json() == again.json()
    assert first.json()["status"] == "cancelled"
    assert await eventually(lambda: _published(shop, order["id"])) == ["OrderPlaced", "OrderCancelled"]
    late = await shop.post("orders", f"/orders/{order['id']}/returns", {"whole": True, "reason": "x"})
    assert late.status_code == 409


async def test_a_partial_then_a_whole_return_give_back_exactly_what_was_paid(shop: Cluster) -> None:
    order = await _place(shop, await shop.customer("Eve"))
    path = f"/orders/{order['id']}/returns"

    too_many = await shop.post("orders", path, {"lines": [{"line_no": 1, "quantity": "3"}], "reason": "broken"})
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["lines[0].quantity"]
    partial = await shop.post("orders", path, {"lines": [{"line_no": 1, "quantity": "1"}], "reason": "broken"},
                              **{"Idempotency-Key": "return-eve-1"})
    retried = await shop.post("orders", path, {"lines": [{"line_no": 1, "quantity": "1"}], "reason": "broken"},
                              **{"Idempotency-Key": "return-eve-1"})
    assert partial.status_code == 200, partial.text
    assert retried.json() == partial.json()
    # Line 1 nets 170.00 less its share (8.95) of the order's 10.00 discount: 161.05, half of it back.
    assert (partial.json()["status"], partial.json()["returned_total"]) == ("placed", "80.53")
    assert partial.json()["lines"][0]["returned_quantity"] == "1"

    whole = await shop.post("orders", path, {"whole": True, "reason": "all of it"})
    assert whole.status_code == 200, whole.text
    assert (whole.json()["status"], whole.json()["returned_total"]) == ("returned", order["total"])
    assert [len(r["lines"]) for r in whole.json()["returns"]] == [1, 2]
    assert [h["kind"] for h in whole.json()["history"]] == ["returned", "returned"]
    assert await eventually(lambda: _published(shop, order["id"])) == ["OrderPlaced", "OrderReturned", "OrderReturned"]
    rows = await shop.sql("orders", "SELECT data FROM outbox WHERE event_type LIKE '%OrderReturned%' "
                                    "AND data->>'order_id' = $1 ORDER BY id", order["id"])
    assert [r["data"] for r in rows][-1].count('"whole": true') == 1


async def test_orders_are_listed_newest_first_and_by_status(shop: Cluster) -> None:
    customer = await shop.customer("Fan")
    older, newer = await _place(shop, customer), await _place(shop, customer)
    await shop.post("orders", f"/orders/{older['id']}/status", {"status": "confirmed"})
    newest = (await shop.get("orders", "/orders", customer_id=customer, order="newest")).json()["items"]
    assert [o["id"] for o in newest] == [newer["id"], older["id"]]
    confirmed = (await shop.get("orders", "/orders", customer_id=customer, status="confirmed")).json()["items"]
    assert [o["id"] for o in confirmed] == [older["id"]]


async def test_a_salesperson_changes_only_their_own_customers_orders(shop: Cluster) -> None:
    key = CONSOLE_KEY["key"]
    wangs, lis = await shop.customer("王的订单客户", owner="wang"), await shop.customer("李的订单客户", owner="li")
    await _known_everywhere(shop, wangs, "wang")
    await _known_everywhere(shop, lis, "li")
    mine, theirs = await _place(shop, wangs), await _place(shop, lis)
    wang = person(key, "wang")

    refused = await shop.http.post(shop.urls["orders"] + f"/orders/{theirs['id']}/cancel", json={"reason": "x"},
                                   headers=wang)
    allowed = await shop.http.post(shop.urls["orders"] + f"/orders/{mine['id']}/status", json={"status": "confirmed"},
                                   headers=wang)
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope", refused.text
    assert allowed.status_code == 200, allowed.text
    assert (await shop.get("orders", f"/orders/{theirs['id']}")).json()["status"] == "placed"
