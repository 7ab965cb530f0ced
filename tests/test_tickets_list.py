"""GET /tickets as a worklist, on the real database: open complaints oldest first (or newest
first), the cursor following the order asked for, and a status that is not one is a 422."""

from __future__ import annotations

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.database


async def _ticket(cluster: Cluster, customer_id: str, kind: str, subject: str) -> str:
    response = await cluster.post("tickets", "/tickets",
                                  {"customer_id": customer_id, "kind": kind, "channel": "phone", "subject": subject})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _subjects(cluster: Cluster, **params: object) -> tuple[list[str], str | None]:
    response = await cluster.get("tickets", "/tickets", **params)
    assert response.status_code == 200, response.text
    return [t["subject"] for t in response.json()["items"]], response.json()["next_cursor"]


async def test_open_complaints_are_listed_oldest_or_newest_first_and_paged_in_that_order(cluster: Cluster) -> None:
    customer_id = await cluster.customer("张伟")
    for subject in ("first", "second", "third"):
        await _ticket(cluster, customer_id, "complaint", subject)
    await _ticket(cluster, customer_id, "feedback", "praise")  # resolved at once: not on the worklist
    await _ticket(cluster, customer_id, "service_request", "install")  # open, but no complaint

    worklist = {"kind": "complaint", "status": "open"}
    assert (await _subjects(cluster, **worklist))[0] == ["first", "second", "third"]  # the default, as before
    assert (await _subjects(cluster, **worklist, order="oldest"))[0] == ["first", "second", "third"]
    assert (await _subjects(cluster, **worklist, order="newest"))[0] == ["third", "second", "first"]
    assert (await _subjects(cluster, status="resolved"))[0] == ["praise"]

    page, cursor = await _subjects(cluster, **worklist, order="newest", limit=2)
    rest, end = await _subjects(cluster, **worklist, order="newest", limit=2, cursor=cursor)
    assert (page, rest, end) == (["third", "second"], ["first"], None)
    page, cursor = await _subjects(cluster, **worklist, order="oldest", limit=2)
    rest, end = await _subjects(cluster, **worklist, order="oldest", limit=2, cursor=cursor)
    assert (page, rest, end) == (["first", "second"], ["third"], None)


async def test_a_status_or_order_that_is_not_one_is_a_422_naming_it(cluster: Cluster) -> None:
    status = await cluster.get("tickets", "/tickets", status="pending")
    order = await cluster.get("tickets", "/tickets", order="random")

    assert status.status_code == 422 and status.json()["errors"][0]["field"] == "query.status"
    assert order.status_code == 422 and order.json()["errors"][0]["field"] == "query.order"
