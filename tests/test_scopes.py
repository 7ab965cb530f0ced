"""Ownership scopes in orders, tickets and insights, on the real database and broker.

Two salespeople, wang (owner id "wang") and li, sign in to the console, which calls the services
with their person tokens: wang works on his own customers and the pool's, is refused li's with a
403 that names li, and his lists hold none of li's customers. A manager sees all; an API token
(a till) is not scoped. The owner replica of each service follows the contacts events, and an
owner fact recorded earlier never overwrites a newer one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from shared.events import CustomerOwnerAssigned, CustomerReturnedToPool, Event, envelope_for
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from tests.conftest import Cluster, eventually, own_cluster
from tests.test_insights_worklists import _overdue_regular

pytestmark = pytest.mark.database

PEOPLE = {"wang": ("sales", "wang"), "li": ("sales", "li"), "boss": ("manager", None)}


@pytest.fixture(scope="module")
async def scoped(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Cluster, Ed25519PrivateKey]]:
    """The four services trusting a console key (as `kehu up` makes it in the home), insights on the
    wall clock with a quick sweeper (an overdue regular's alert comes soon)."""
    home: Path = tmp_path_factory.mktemp("scopes")
    generate_keypair(home / "identity" / "console-key.pem", home / "identity" / "console-key.pub.pem")
    async with own_cluster(pg_url, home, insights_sweep_s=0.5) as cluster:
        yield cluster, load_private_key(home / "identity" / "console-key.pem")


def person(key: Ed25519PrivateKey, who: str) -> dict[str, str]:
    """The headers the console sends for a signed-in person."""
    role, owner = PEOPLE[who]
    claims = PersonClaims.issue(sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, who)), name=who, role=role, owner=owner, now=time.time())
    return {"Authorization": f"Bearer {mint(claims, key)}"}


async def _get(cluster: Cluster, service: str, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return await cluster.http.get(cluster.urls[service] + path, params=params, headers=headers)


async def _post(cluster: Cluster, service: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return await cluster.http.post(cluster.urls[service] + path, json=body, headers=headers)


def _order(customer_id: str, ref: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": customer_id, "channel": "store",
                            "lines": [{"sku": "A1", "quantity": "1", "unit_price": "5.00"}]}
    if ref:
        body["external_ref"] = ref
    return body


def _ticket(customer_id: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "kind": "complaint", "channel": "phone", "subject": "late", "description": "x"}


def _out_of_scope(response: httpx.Response, owner: str) -> None:
    assert response.status_code == 403, response.text
    problem = response.json()
    assert (problem["code"], problem["owner"]) == ("out_of_scope", owner)
    assert f"looked after by {owner}" in problem["detail"]


async def _known_everywhere(cluster: Cluster, customer_id: str, owner: str | None) -> None:
    """Every replica holds the customer's owner (the contacts events have arrived)."""
    cid = uuid.UUID(customer_id)

    async def arrived() -> bool:
        for service in ("orders", "tickets"):
            rows = await cluster.sql(service, "SELECT owner, owner_at FROM known_customers WHERE customer_id = $1", cid)
            if not rows or rows[0]["owner_at"] is None or rows[0]["owner"] != owner:
                return False
        rows = await cluster.sql("insights", "SELECT owner FROM customer_owners WHERE customer_id = $1", cid)
        return bool(rows) and rows[0]["owner"] == owner

    await eventually(arrived, timeout=30)


async def _publish(cluster: Cluster, event: Event, recorded_at: datetime) -> uuid.UUID:
    """An event on kehu.contacts as contacts' relay would publish it, recorded at ``recorded_at``."""
    producer = AIOKafkaProducer(bootstrap_servers=cluster.broker.bootstrap, linger_ms=5)
    await producer.start()
    try:
        envelope = envelope_for(event, recorded_at=recorded_at)
        key, value, headers = envelope.to_record()
        await producer.send_and_wait("kehu.contacts", value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    return envelope.id


async def _consumed_everywhere(cluster: Cluster, event_id: uuid.UUID) -> bool:
    for service in ("orders", "tickets", "insights"):
        if not await cluster.sql(service, "SELECT 1 FROM inbox WHERE event_id = $1", event_id):
            return False
    return True


async def test_a_salesperson_works_on_their_customers_and_the_pool_and_is_refused_another_owners(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    wangs = await cluster.customer("王的客户", owner="wang")
    lis = await cluster.customer("李的客户", owner="li")
    pools = await cluster.customer("公海客户")
    for customer_id, owner in ((wangs, "wang"), (lis, "li"), (pools, None)):
        await _known_everywhere(cluster, customer_id, owner)
    wang = person(key, "wang")

    assert (await _post(cluster, "orders", "/orders", _order(wangs), wang)).status_code == 201
    assert (await _post(cluster, "orders", "/orders", _order(pools), wang)).status_code == 201
    assert (await _post(cluster, "tickets", "/tickets", _ticket(pools), wang)).status_code == 201
    _out_of_scope(await _post(cluster, "orders", "/orders", _order(lis), wang), "li")
    _out_of_scope(await _post(cluster, "tickets", "/tickets", _ticket(lis), wang), "li")
    _out_of_scope(await _get(cluster, "insights", f"/customers/{lis}/timeline", wang), "li")
    _out_of_scope(await _get(cluster, "insights", f"/customers/{lis}/insights", wang), "li")
    assert (await _get(cluster, "insights", f"/customers/{wangs}/timeline", wang)).status_code == 200

    # li's own records, placed by a till (an API token of role sales: not scoped) and by li
    till = cluster.headers("sales")
    li_order = await _post(cluster, "orders", "/orders", _order(lis), till)
    assert li_order.status_code == 201, li_order.text
    li_ticket = await _post(cluster, "tickets", "/tickets", _ticket(lis), person(key, "li"))
    assert li_ticket.status_code == 201, li_ticket.text

    _out_of_scope(await _get(cluster, "orders", f"/orders/{li_order.json()['id']}", wang), "li")
    _out_of_scope(await _get(cluster, "tickets", f"/tickets/{li_ticket.json()['id']}", wang), "li")
    _out_of_scope(await _get(cluster, "orders", "/orders", wang, customer_id=lis), "li")
    _out_of_scope(await _get(cluster, "tickets", "/tickets", wang, customer_id=lis), "li")
    _out_of_scope(await _get(cluster, "insights", "/alerts", wang, customer_id=lis), "li")

    orders_of_wang = {o["customer_id"] for o in (await _get(cluster, "orders", "/orders", wang, limit=500)).json()["items"]}
    tickets_of_wang = {t["customer_id"] for t in (await _get(cluster, "tickets", "/tickets", wang, limit=500)).json()["items"]}
    assert orders_of_wang == {wangs, pools}
    assert tickets_of_wang == {pools}
    profiles = await _get(cluster, "insights", "/profiles", wang, id=[wangs, lis, pools])
    assert {p["customer_id"] for p in profiles.json()["items"]} <= {wangs, pools}

    boss = person(key, "boss")
    assert {o["customer_id"] for o in (await _get(cluster, "orders", "/orders", boss, limit=500)).json()["items"]} \
        >= {wangs, lis, pools}
    assert {t["customer_id"] for t in (await _get(cluster, "tickets", "/tickets", boss, limit=500)).json()["items"]} \
        >= {lis, pools}
    assert (await _post(cluster, "orders", "/orders", _order(lis), boss)).status_code == 201
    assert (await _get(cluster, "insights", f"/customers/{lis}/timeline", boss)).status_code == 200
    assert (await _get(cluster, "orders", f"/orders/{li_order.json()['id']}", boss)).status_code == 200


async def test_a_salespersons_batch_with_another_owners_customer_is_refused_naming_the_items(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    wangs = await cluster.customer("王的批量客户", owner="wang")
    lis = await cluster.customer("李的批量客户", owner="li")
    for customer_id, owner in ((wangs, "wang"), (lis, "li")):
        await _known_everywhere(cluster, customer_id, owner)
    refs = [f"scope-batch-{uuid.uuid4().hex[:8]}-{i}" for i in range(2)]
    body = {"orders": [_order(wangs, refs[0]), _order(lis, refs[1])]}

    refused = await _post(cluster, "orders", "/orders/batch", body, person(key, "wang"))

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "out_of_scope"
    assert [e["field"] for e in refused.json()["errors"]] == ["orders[1].customer_id"]
    assert not await cluster.sql("orders", "SELECT 1 FROM orders WHERE external_ref = ANY($1::text[])", refs)
    assert (await _post(cluster, "orders", "/orders/batch", body, person(key, "boss"))).status_code == 200


async def test_a_salespersons_alerts_hold_only_their_customers_and_the_pools(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    wangs, wang_alert = await _overdue_regular(cluster, "王的常客", owner="wang")
    lis, li_alert = await _overdue_regular(cluster, "李的常客", owner="li")

    seen_by_wang = (await _get(cluster, "insights", "/alerts", person(key, "wang"), limit=500)).json()["items"]
    seen_by_boss = (await _get(cluster, "insights", "/alerts", person(key, "boss"), limit=500)).json()["items"]

    assert wang_alert["alert_id"] in {a["alert_id"] for a in seen_by_wang}
    assert {a["owner"] for a in seen_by_wang} <= {"wang", None}
    assert {wang_alert["alert_id"], li_alert["alert_id"]} <= {a["alert_id"] for a in seen_by_boss}
    acknowledged = await cluster.http.post(f"{cluster.urls['insights']}/alerts/{li_alert['alert_id']}/acknowledge",
                                           json={"note": "not mine"}, headers=person(key, "wang"))
    _out_of_scope(acknowledged, "li")
    stages = (await _get(cluster, "insights", "/stages", person(key, "wang"))).json()["items"]
    everyone = (await _get(cluster, "insights", "/stages", person(key, "boss"))).json()["items"]
    assert sum(s["customers"] for s in stages) < sum(s["customers"] for s in everyone)
    assert lis not in (await _get(cluster, "insights", "/export/insights.csv", person(key, "wang"))).text
    assert wangs in (await _get(cluster, "insights", "/export/insights.csv", person(key, "wang"))).text


async def test_the_owner_replicas_follow_assignments_and_returns_to_the_pool_and_never_go_back(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    lis = await cluster.customer("李交给王的客户", owner="li")
    await _known_everywhere(cluster, lis, "li")
    cid, now = uuid.UUID(lis), datetime.now(UTC)
    wang = person(key, "wang")
    _out_of_scope(await _post(cluster, "orders", "/orders", _order(lis), wang), "li")

    assigned = CustomerOwnerAssigned(customer_id=cid, occurred_at=now, owner="wang", previous_owner="li",
                                     how="handover", assigned_by="boss")
    await _publish(cluster, assigned, now + timedelta(seconds=1))
    await _known_everywhere(cluster, lis, "wang")
    assert (await _post(cluster, "orders", "/orders", _order(lis), wang)).status_code == 201
    assert (await _post(cluster, "tickets", "/tickets", _ticket(lis), wang)).status_code == 201
    assert (await _get(cluster, "insights", f"/customers/{lis}/timeline", wang)).status_code == 200
    _out_of_scope(await _post(cluster, "orders", "/orders", _order(lis), person(key, "li")), "wang")

    # A return to the pool recorded before the handover, delivered after it, changes nothing.
    stale = CustomerReturnedToPool(customer_id=cid, occurred_at=now, previous_owner="li", rule="released",
                                   returned_by="li")
    stale_id = await _publish(cluster, stale, now - timedelta(minutes=5))
    await eventually(lambda: _consumed_everywhere(cluster, stale_id), timeout=30)
    await _known_everywhere(cluster, lis, "wang")

    # ...and a newer one puts the customer in the pool, for every salesperson.
    back = CustomerReturnedToPool(customer_id=cid, occurred_at=now, previous_owner="wang", rule="no_follow_up",
                                  returned_by="sweeper")
    await _publish(cluster, back, now + timedelta(seconds=3))
    await _known_everywhere(cluster, lis, None)
    assert (await _post(cluster, "orders", "/orders", _order(lis), person(key, "li"))).status_code == 201
    assert lis in {o["customer_id"] for o in
                   (await _get(cluster, "orders", "/orders", person(key, "li"), limit=500)).json()["items"]}


async def test_a_customer_known_only_by_lookup_or_from_before_the_replica_gets_its_owner_from_contacts(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    lis = await cluster.customer("李的老客户", owner="li")
    await _known_everywhere(cluster, lis, "li")
    cid = uuid.UUID(lis)
    # As if orders had not heard of the customer yet: wang's order makes it ask contacts.
    await cluster.sql("orders", "DELETE FROM known_customers WHERE customer_id = $1", cid)
    _out_of_scope(await _post(cluster, "orders", "/orders", _order(lis), person(key, "wang")), "li")
    [row] = await cluster.sql("orders", "SELECT source, owner FROM known_customers WHERE customer_id = $1", cid)
    assert (row["source"], row["owner"]) == ("lookup", "li")

    # Known before owners were replicated (owner_at NULL): left out of a salesperson's lists until
    # the backfill asks contacts.
    assert (await _post(cluster, "tickets", "/tickets", _ticket(lis), person(key, "li"))).status_code == 201
    await cluster.sql("tickets", "UPDATE known_customers SET owner = NULL, owner_at = NULL WHERE customer_id = $1", cid)
    listed = await _get(cluster, "tickets", "/tickets", person(key, "li"), customer_id=lis)
    assert listed.status_code == 200 and listed.json()["items"], listed.text  # one customer: contacts is asked
    await cluster.sql("tickets", "UPDATE known_customers SET owner = NULL, owner_at = NULL WHERE customer_id = $1", cid)
    assert lis not in {t["customer_id"] for t in
                       (await _get(cluster, "tickets", "/tickets", person(key, "li"), limit=500)).json()["items"]}
    app = cluster.servers["tickets"].config.app
    assert isinstance(app, FastAPI)
    assert await app.state.directory.backfill_owners(app.state.runtime.pool) >= 1
    assert lis in {t["customer_id"] for t in
                   (await _get(cluster, "tickets", "/tickets", person(key, "li"), limit=500)).json()["items"]}


async def test_a_replay_gives_insights_the_owners_its_timeline_holds(
    scoped: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = scoped
    lis = await cluster.customer("李的重放客户", owner="li")
    await _known_everywhere(cluster, lis, "li")
    # As a fresh insights whose broker no longer holds the contacts events: no owners known.
    await cluster.sql("insights", "DELETE FROM customer_owners")

    replayed = await cluster.post("insights", "/admin/replay", None)

    assert replayed.status_code == 200, replayed.text
    await _known_everywhere(cluster, lis, "li")
    _out_of_scope(await _get(cluster, "insights", f"/customers/{lis}/timeline", person(key, "wang")), "li")
