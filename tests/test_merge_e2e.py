"""A merge end to end, on the real broker and database with all four services: while orders for
both customers are still flowing, merge one into the other; nothing is lost, orders and tickets
re-key to the survivor and its timeline holds both histories; the undo gives each their own back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.conftest import Cluster, eventually

pytestmark = pytest.mark.database

ORDERS_EACH = 12


async def _orders_of(cluster: Cluster, customer_id: str) -> set[str]:
    rows = await cluster.sql("orders", "SELECT id FROM orders WHERE customer_id = $1", uuid.UUID(customer_id))
    return {str(r["id"]) for r in rows}


async def _timeline_orders(cluster: Cluster, customer_id: str) -> set[str]:
    return {i["data"]["order_id"] for i in await cluster.timeline(customer_id) if i["type"] == "OrderPlaced"}


async def _place(cluster: Cluster, customer_id: str, placed: list[str]) -> None:
    for _ in range(ORDERS_EACH):
        response = await cluster.order(customer_id)
        assert response.status_code == 201, response.text
        placed.append(response.json()["id"])
        await asyncio.sleep(0.02)


async def test_a_merge_while_orders_flow_loses_nothing_and_its_undo_gives_each_their_own(cluster: Cluster) -> None:
    merged = await cluster.customer("王芳", phone="13800138000")
    survivor = await cluster.customer("汪芳", phone="13800138001")
    ticket = await cluster.post("tickets", "/tickets", {"customer_id": merged, "kind": "feedback", "channel": "web",
                                                        "subject": "Nice shop"})
    assert ticket.status_code == 201, ticket.text
    for_merged: list[str] = []
    for_survivor: list[str] = []
    # A till keeps using the merged customer's id throughout, another the survivor's.
    flowing = asyncio.gather(_place(cluster, merged, for_merged), _place(cluster, survivor, for_survivor))
    await asyncio.sleep(0.15)

    merge = await cluster.post("contacts", f"/customers/{merged}/merge-into/{survivor}", {}, role="manager")
    assert merge.status_code == 201, merge.text
    await flowing
    everything = set(for_merged) | set(for_survivor)
    assert len(everything) == 2 * ORDERS_EACH

    async def all_with_survivor() -> Any:
        return await _orders_of(cluster, survivor) == everything and not await _orders_of(cluster, merged)

    await eventually(all_with_survivor, timeout=20)
    await eventually(lambda: _tickets_of(cluster, survivor, ticket.json()["id"]), timeout=20)

    async def survivor_timeline_holds_all() -> Any:
        return await _timeline_orders(cluster, survivor) == everything

    await eventually(survivor_timeline_holds_all, timeout=20)
    types = [i["type"] for i in await cluster.timeline(survivor)]
    assert types.count("CustomerRegistered") == 2  # both histories
    assert "CustomersMerged" in types
    profile = await cluster.get("insights", f"/customers/{survivor}/profile")
    if profile.status_code == 200:  # the profile is folded from the combined timeline
        assert "merged the duplicate customer" in str(await cluster.timeline(survivor))

    undo = await cluster.post("contacts", f"/merges/{merge.json()['merge_id']}/undo", {}, role="manager")
    assert undo.status_code == 200, undo.text

    async def each_their_own() -> Any:
        return (await _orders_of(cluster, merged) == set(for_merged)
                and await _orders_of(cluster, survivor) == set(for_survivor))

    await eventually(each_their_own, timeout=20)
    await eventually(lambda: _tickets_of(cluster, merged, ticket.json()["id"]), timeout=20)

    async def timelines_split() -> Any:
        return (await _timeline_orders(cluster, merged) == set(for_merged)
                and await _timeline_orders(cluster, survivor) == set(for_survivor))

    await eventually(timelines_split, timeout=20)


async def _tickets_of(cluster: Cluster, customer_id: str, ticket_id: str) -> bool:
    rows = await cluster.sql("tickets", "SELECT customer_id FROM tickets WHERE id = $1", uuid.UUID(ticket_id))
    return bool(rows) and str(rows[0]["customer_id"]) == customer_id
