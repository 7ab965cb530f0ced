"""Ticket reports on the real database and broker: seven tickets of November 2026 (Shanghai, the
default calendar Monday to Friday 09:00-18:00 and the default policies) for customers of two
salespeople and of the pool; the report's volume, medians in wall-clock and business minutes, SLA
compliance, repeat complainers and prevention actions, for the shop and for a salesperson; a
range that runs backwards is a 422 naming `query.from`.

The tickets are filed through POST /tickets (so their clocks are the service's own); their first
responses, resolutions and prevention actions are set in SQL as the lifecycle routes (another part
of issue 13, not on this branch) leave them, so the report is checked on its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30", "as_of": "2026-11-30T12:00:00+08:00"}


def t(text: str) -> datetime:
    """A Shanghai wall-clock time of 2026, e.g. ``11-02 10:00``."""
    return datetime.fromisoformat(f"2026-{text.replace(' ', 'T')}:00+08:00")


@pytest.fixture(scope="module")
async def november(pg_url: str, tmp_path_factory: pytest.TempPathFactory,
                   ) -> AsyncIterator[tuple[Cluster, dict[str, str], dict[str, uuid.UUID]]]:
    home: Path = tmp_path_factory.mktemp("ticket-reports")
    generate_keypair(home / "identity" / "console-key.pem", home / "identity" / "console-key.pub.pem")
    async with own_cluster(pg_url, home, timezone="Asia/Shanghai") as cluster:
        key = load_private_key(home / "identity" / "console-key.pem")
        ids = await _the_month(cluster)
        yield cluster, _person(key, "wang"), ids


def _person(key: Ed25519PrivateKey, owner: str) -> dict[str, str]:
    claims = PersonClaims.issue(sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, owner)), name=owner, role="sales",
                                owner=owner, now=time.time())
    return {"Authorization": f"Bearer {mint(claims, key)}"}


async def _known_to_tickets(cluster: Cluster, customer_id: str, owner: str | None) -> None:
    async def arrived() -> bool:
        rows = await cluster.sql("tickets", "SELECT owner, owner_at FROM known_customers WHERE customer_id = $1",
                                 uuid.UUID(customer_id))
        return bool(rows) and rows[0]["owner_at"] is not None and rows[0]["owner"] == owner

    await eventually(arrived, timeout=30)


async def _file(cluster: Cluster, customer_id: str, kind: str, channel: str, category: str, at: str,
                **fields: Any) -> uuid.UUID:
    body = {"customer_id": customer_id, "kind": kind, "channel": channel, "category": category,
            "subject": f"{kind} of {at}", "occurred_at": t(at).isoformat(), **fields}
    response = await cluster.post("tickets", "/tickets", body)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def _responded(cluster: Cluster, ticket: uuid.UUID, at: str) -> None:
    await cluster.sql("tickets", "UPDATE tickets SET first_response_at = $2 WHERE id = $1", ticket, t(at))


async def _resolved(cluster: Cluster, ticket: uuid.UUID, at: str) -> None:
    await cluster.sql("tickets", "UPDATE tickets SET status = 'resolved', resolved_at = $2, due_at = NULL, "
                      "resolution = 'fixed', responsibility = 'ours', resolved_by = 'li' WHERE id = $1", ticket, t(at))


async def _prevention(cluster: Cluster, ticket: uuid.UUID, category: str, due_on: str, done_at: str | None) -> uuid.UUID:
    action_id = uuid.uuid4()
    await cluster.sql("tickets", "INSERT INTO prevention_actions (id, ticket_id, category, action, owner, due_on, "
                      "created_at, done_at, done_by) VALUES ($1, $2, $3, 'Check it', 'zhao', $4, $5, $6, $7)",
                      action_id, ticket, category, datetime.fromisoformat(f"2026-{due_on}").date(), t("11-01 09:00"),
                      t(done_at) if done_at else None, "zhao" if done_at else None)
    return action_id


async def _the_month(cluster: Cluster) -> dict[str, uuid.UUID]:
    wangs = await cluster.customer("王的客户", owner="wang")
    lis = await cluster.customer("李的客户", owner="li")
    pools = await cluster.customer("公海客户")
    for customer_id, owner in ((wangs, "wang"), (lis, "li"), (pools, None)):
        await _known_to_tickets(cluster, customer_id, owner)
    ids = {
        # Monday: answered in an hour, resolved next morning; both clocks met.
        "t1": await _file(cluster, wangs, "complaint", "phone", "quality", "11-02 10:00"),
        # Friday 17:00: answered Monday 14:00 after its due 12:00; resolution due Wed 17:00, never resolved.
        "t2": await _file(cluster, wangs, "complaint", "phone", "quality", "11-06 17:00"),
        # Answered 16:00, after its due 13:00; resolved next morning, in time.
        "t3": await _file(cluster, lis, "complaint", "store", "delivery", "11-10 09:00"),
        # Feedback with a score: resolved at once, no clock, no resolution work.
        "t4": await _file(cluster, pools, "feedback", "web", "other", "11-12 11:00", satisfaction=5),
        # A service request answered at once; its resolution ran out on Friday 20 November 18:00.
        "t5": await _file(cluster, pools, "service_request", "wechat", "after_sales", "11-16 09:00",
                          service_type="repair"),
        # Two hours before as_of: its clocks still run.
        "t6": await _file(cluster, lis, "complaint", "phone", "quality", "11-30 10:00"),
        # October's: its resolution on Monday 2 November is November's, in time.
        "t7": await _file(cluster, wangs, "complaint", "phone", "quality", "10-30 17:00"),
    }
    await _responded(cluster, ids["t1"], "11-02 11:00")
    await _resolved(cluster, ids["t1"], "11-03 10:00")
    await _responded(cluster, ids["t2"], "11-09 14:00")
    await cluster.sql("tickets", "UPDATE tickets SET first_response_breached_at = first_response_due_at, "
                      "resolution_breached_at = resolution_due_at WHERE id = $1", ids["t2"])  # the sweeper's marks
    await _responded(cluster, ids["t3"], "11-10 16:00")
    await _resolved(cluster, ids["t3"], "11-11 10:00")
    await _responded(cluster, ids["t5"], "11-16 10:00")
    await _responded(cluster, ids["t7"], "10-30 17:30")
    await _resolved(cluster, ids["t7"], "11-02 10:00")
    ids["seals"] = await _prevention(cluster, ids["t1"], "quality", "11-06", "11-05 12:00")
    ids["drivers"] = await _prevention(cluster, ids["t3"], "delivery", "11-20", None)  # overdue
    ids["labels"] = await _prevention(cluster, ids["t7"], "quality", "12-15", None)
    ids["manual"] = await _prevention(cluster, ids["t5"], "after_sales", "11-27", "11-25 15:00")
    return ids


async def _report(cluster: Cluster, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = await cluster.http.get(cluster.urls["tickets"] + "/reports/tickets", params={**NOVEMBER, **params},
                                      headers=headers or cluster.headers("readonly"))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_clocks_are_the_services_own_in_business_hours(
    november: tuple[Cluster, dict[str, str], dict[str, uuid.UUID]],
) -> None:
    cluster, _, ids = november
    rows = {r["id"]: r for r in await cluster.sql(
        "tickets", "SELECT id, first_response_due_at, resolution_due_at FROM tickets")}
    assert rows[ids["t2"]]["first_response_due_at"] == t("11-09 12:00")  # 1 h on Friday, 3 on Monday
    assert rows[ids["t2"]]["resolution_due_at"] == t("11-11 17:00")
    assert rows[ids["t5"]]["resolution_due_at"] == t("11-20 18:00")
    assert rows[ids["t7"]]["resolution_due_at"] == t("11-04 17:00")


async def test_the_shops_month(november: tuple[Cluster, dict[str, str], dict[str, uuid.UUID]]) -> None:
    cluster, _, ids = november
    report = await _report(cluster)

    assert (report["from"], report["to"], report["tz"]) == ("2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z",
                                                            "Asia/Shanghai")
    assert report["volume"]["total"] == 6
    assert report["volume"]["by_kind"] == {"complaint": 4, "feedback": 1, "service_request": 1}
    assert list(report["volume"]["by_channel"].items()) == [("phone", 3), ("store", 1), ("web", 1), ("wechat", 1)]
    assert {k: n for k, n in report["volume"]["by_category"].items() if n} == {
        "quality": 3, "delivery": 1, "after_sales": 1, "other": 1}
    # first responses t1 60, t2 4140 (360 business), t3 420, t5 60 minutes
    assert report["first_response_minutes"] == {"count": 4, "median": 240.0, "business_median": 210.0}
    # resolutions t1 1440 (540 business), t3 1500 (600), t7 3900 (120); t4's at once is none
    assert report["resolution_minutes"] == {"count": 3, "median": 1500.0, "business_median": 540.0}
    # first response: t1, t5 met; t2, t3 breached. resolution: t1, t3, t7 met; t2, t5 breached; t6 runs
    assert report["sla"]["by_clock"] == {
        "first_response": {"clocks": 4, "met": 2, "breached": 2, "compliance": 0.5},
        "resolution": {"clocks": 5, "met": 3, "breached": 2, "compliance": 0.6}}
    assert (report["sla"]["clocks"], report["sla"]["met"], report["sla"]["breached"],
            report["sla"]["compliance"]) == (9, 5, 4, 0.5556)
    assert [(r["complaints"], r["last_at"]) for r in report["repeat_complainers"]] == [
        (2, "2026-11-30T02:00:00Z"), (2, "2026-11-06T09:00:00Z")]
    prevention = report["prevention"]
    assert (prevention["open"], prevention["overdue"], prevention["done"]) == (2, 1, 2)
    assert [(r["action_id"], r["category"], r["recurrences"], r["first_recurrence_ticket_id"])
            for r in prevention["recurred"]] == [
        (str(ids["seals"]), "quality", 2, str(ids["t2"])), (str(ids["manual"]), "after_sales", 0, None)]


async def test_before_as_of_moves_the_running_clocks_are_not_counted_and_later_they_are(
    november: tuple[Cluster, dict[str, str], dict[str, uuid.UUID]],
) -> None:
    cluster, _, _ = november
    earlier = await _report(cluster, as_of="2026-11-10T12:00:00+08:00")
    # by then: t1 met twice, t2 breached its first response (due 11-09 12:00); t7 met its resolution
    assert earlier["sla"]["by_clock"]["first_response"] == {"clocks": 2, "met": 1, "breached": 1, "compliance": 0.5}
    assert earlier["sla"]["by_clock"]["resolution"]["met"] == 2
    assert earlier["volume"]["total"] == 3  # t1, t2, t3 raised by then
    assert earlier["prevention"]["done"] == 1


async def test_a_salesperson_counts_their_customers_and_the_pools(
    november: tuple[Cluster, dict[str, str], dict[str, uuid.UUID]],
) -> None:
    cluster, wang, ids = november
    report = await _report(cluster, wang)

    assert report["volume"]["by_kind"] == {"complaint": 2, "feedback": 1, "service_request": 1}
    assert [r["customer_id"] for r in report["repeat_complainers"]] == [
        str((await cluster.sql("tickets", "SELECT customer_id FROM tickets WHERE id = $1", ids["t1"]))[0][0])]
    prevention = report["prevention"]
    assert (prevention["open"], prevention["overdue"], prevention["done"]) == (1, 0, 2)
    assert [(r["action_id"], r["recurrences"]) for r in prevention["recurred"]] == [
        (str(ids["seals"]), 1), (str(ids["manual"]), 0)]  # t6, li's customer's, is not wang's to see


async def test_a_range_that_runs_backwards_or_a_bound_that_is_no_time_is_a_422_naming_it(
    november: tuple[Cluster, dict[str, str], dict[str, uuid.UUID]],
) -> None:
    cluster, _, _ = november
    url = cluster.urls["tickets"] + "/reports/tickets"
    backwards = await cluster.http.get(url, headers=cluster.headers("readonly"),
                                       params={"from": "2026-11-30", "to": "2026-11-01"})
    no_time = await cluster.http.get(url, headers=cluster.headers("readonly"), params={"to": "last week"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "query.from"
    assert no_time.status_code == 422 and no_time.json()["errors"][0]["field"] == "query.to"
