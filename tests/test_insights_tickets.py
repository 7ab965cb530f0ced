"""Insights follows a complaint's life on the real broker and database: the customer's churn risk
rises while the complaint is open and falls once an accepted remedy resolves it; a first answer
overdue is a ``complaint_unanswered`` alert until the answer comes; the timeline words it all; and
a replay from the outboxes rebuilds exactly what the live consumer made of it.

Orders are placed through the orders API. The ticket events are written into the tickets outbox
as the tickets service writes them (``shared.outbox.append`` in a transaction) and its relay
publishes them: the routes that write them belong to other parts of issue 13, and a replay reads
the outbox, so what it holds is what insights must rebuild from. Insights runs on the event-time
clock, so the results fall on fixed business dates (from Monday 2024-01-01, Shanghai time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.insights import responses as out
from shared.db import connect
from shared.events import (
    ComplaintFiled,
    Event,
    TicketNoteAdded,
    TicketRemedyAnswered,
    TicketRemedyProposed,
    TicketResolved,
    TicketResponded,
    TicketSatisfactionRecorded,
    TicketSlaBreached,
)
from shared.outbox import append
from tests.conftest import Cluster, eventually, own_cluster
from tests.test_insights_api import conforms

pytestmark = pytest.mark.database

DAY0 = datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n, hours=10)


@pytest.fixture(scope="module")
async def tickets_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    # Replays fold in two worker processes, as a long history's would: the ticket facts cross their pipes.
    async with own_cluster(pg_url, tmp_path_factory.mktemp("insights-tickets"), insights_clock="events",
                           insights_publish_days=0, insights_replay_workers=2) as cluster:
        yield cluster


async def _publish(cluster: Cluster, *events: Event) -> None:
    """As the tickets service publishes: into its outbox, in one transaction; its relay sends them."""
    conn = await connect(cluster.database_urls["tickets"])
    try:
        async with conn.transaction():
            await append(conn, *events)
    finally:
        await conn.close()


async def _order(cluster: Cluster, customer: str, n: float) -> None:
    body = {"customer_id": customer, "channel": "store", "occurred_at": day(n).isoformat(),
            "lines": [{"sku": "TEA-1", "quantity": "2", "unit_price": "15.00"}]}
    response = await cluster.post("orders", "/orders", body)
    assert response.status_code == 201, response.text


async def _insights(cluster: Cluster, customer: str, at: datetime) -> dict[str, Any]:
    response = await cluster.http.get(cluster.urls["insights"] + f"/customers/{customer}/insights",
                                      params={"as_of": at.isoformat()}, headers=cluster.headers())
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _seen(cluster: Cluster, customer: str, event_type: str, count: int = 1) -> None:
    async def seen() -> bool | None:
        return len([i for i in await cluster.timeline(customer) if i["type"] == event_type]) >= count or None

    await eventually(seen, timeout=20)


async def _alerts(cluster: Cluster, customer: str) -> list[dict[str, Any]]:
    response = await cluster.http.get(cluster.urls["insights"] + "/alerts",
                                      params={"customer_id": customer, "kind": "complaint_unanswered"},
                                      headers=cluster.headers())
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _dump(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    return {
        "customer_profile": [dict(r) for r in await cluster.sql(
            "insights", "SELECT * FROM customer_profile ORDER BY customer_id")],
        "alerts": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM alerts ORDER BY alert_id")],
        "timeline": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM timeline ORDER BY event_id")],
        "insights_clock": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM insights_clock")],
    }


async def test_a_complaint_raises_the_churn_risk_until_an_accepted_remedy_and_a_replay_agrees(
        tickets_cluster: Cluster) -> None:
    cluster = tickets_cluster
    customer = await cluster.customer("Kettle leaks")
    cid, ticket = uuid.UUID(customer), uuid.uuid4()
    for n in (0, 7, 14, 21):
        await _order(cluster, customer, n)

    async def bought() -> dict[str, Any] | None:
        response = await cluster.http.get(cluster.urls["insights"] + f"/customers/{customer}/insights",
                                          params={"as_of": day(22).isoformat()}, headers=cluster.headers())
        body = response.json() if response.status_code == 200 else None
        return body if body and body["frequency"]["orders"] == 4 else None

    before = await eventually(bought, timeout=20)
    assert before["service"]["risk"] == 0.0 and before["churn_risk"] == before["model_churn_risk"]

    # A high complaint by phone on day 22: open, the churn risk rises, and grows while it stays open.
    await _publish(cluster, ComplaintFiled(customer_id=cid, occurred_at=day(22), ticket_id=ticket, channel="phone",
                                           subject="Kettle leaks", severity="high", priority="high",
                                           category="quality", assignee="li"))
    await _seen(cluster, customer, "ComplaintFiled")
    during = await _insights(cluster, customer, day(22))
    assert during["model_churn_risk"] == before["model_churn_risk"]
    assert during["service"]["risk"] == pytest.approx(0.15, abs=1e-4)
    assert during["churn_risk"] == pytest.approx(1 - (1 - before["churn_risk"]) * 0.85, abs=1e-4)
    assert during["churn_risk"] > before["churn_risk"]
    [opened] = during["service"]["open_complaints"]
    assert (opened["ticket_id"], opened["priority"], opened["age_days"], opened["unanswered"]) == (
        str(ticket), "high", 0.0, False)
    assert [p["reason"] for p in during["service"]["evidence"]] == ["open_complaint"]
    assert (await _insights(cluster, customer, day(32)))["service"]["risk"] > during["service"]["risk"]

    # Nobody answered by 16:00 (due) and the sweep found it at 20:00: complaint_unanswered.
    await _publish(cluster, TicketSlaBreached(
        customer_id=cid, occurred_at=day(22.25), ticket_id=ticket, clock="first_response", kind="complaint",
        priority="high", due_at=day(22.25), assignee="li", as_of=day(22.4166667)))
    await _seen(cluster, customer, "TicketSlaBreached")

    async def unanswered() -> list[dict[str, Any]] | None:
        return [a for a in await _alerts(cluster, customer) if a["status"] == "open"] or None

    [alert] = await eventually(unanswered, timeout=20)
    assert (alert["raised_at"], alert["evidence"]["ticket_id"], alert["evidence"]["due_at"]) == (
        day(22.25).isoformat(), str(ticket), day(22.25).isoformat().replace("+00:00", "Z"))
    assert (alert["evidence"]["unit"], round(alert["evidence"]["observed"])) == ("hours", 4)
    shown = await _insights(cluster, customer, day(22.5))
    conforms(out.CustomerInsights, shown)  # every field documented, the service's and the alert's too
    assert [a["kind"] for a in shown["open_alerts"]] == ["complaint_unanswered"]
    assert "unanswered" in [p["reason"] for p in shown["service"]["evidence"]]

    # The first answer clears it; the investigation finds it our fault.
    await _publish(cluster, TicketResponded(customer_id=cid, occurred_at=day(23), ticket_id=ticket, by="li",
                                            message="Sorry, a new kettle tomorrow", first=True))
    await _publish(cluster, TicketNoteAdded(customer_id=cid, occurred_at=day(23.5), ticket_id=ticket, by="li",
                                            note="the batch leaks", responsibility="ours"))
    await _seen(cluster, customer, "TicketNoteAdded")

    async def cleared() -> dict[str, Any] | None:
        [alert] = await _alerts(cluster, customer)
        return alert if alert["status"] == "cleared" else None

    done = await eventually(cleared, timeout=20)
    assert (done["cleared_at"], done["cleared_reason"]) == (day(23).isoformat(), "responded")
    still = await _insights(cluster, customer, day(24))
    assert still["open_alerts"] == []
    assert still["service"]["unresolved_subjective_causes"] == [str(ticket)]
    assert [p["reason"] for p in still["service"]["evidence"]] == ["open_complaint", "subjective_cause"]

    # An accepted remedy resolves it: the churn risk falls back to what the purchases say.
    remedy = uuid.uuid4()
    await _publish(
        cluster,
        TicketRemedyProposed(customer_id=cid, occurred_at=day(24), ticket_id=ticket, remedy_id=remedy,
                             remedy="replace", detail="a new kettle", compensation=Decimal("20.00"),
                             responsibility="ours", apology_given=True, by="li"),
        TicketRemedyAnswered(customer_id=cid, occurred_at=day(24), ticket_id=ticket, remedy_id=remedy, accepted=True,
                             by="li"),
        TicketResolved(customer_id=cid, occurred_at=day(24), ticket_id=ticket, resolution="replaced the kettle",
                       compensation=Decimal("20.00"), resolved_by="li", kind="complaint", category="quality",
                       responsibility="ours", apology_given=True, remedy="replace"))
    await _seen(cluster, customer, "TicketResolved")
    after = await _insights(cluster, customer, day(24))
    assert after["service"]["risk"] == 0.0 and after["service"]["open_complaints"] == []
    assert after["churn_risk"] == after["model_churn_risk"] < still["churn_risk"]
    [row] = await cluster.sql("insights", "SELECT churn_risk, open_alerts FROM customer_profile WHERE customer_id = $1",
                              cid)
    assert (row["churn_risk"], row["open_alerts"]) == (pytest.approx(after["churn_risk"], abs=1e-4), 0)

    # The customer is not happy with how it went: a low score counts for 180 days.
    await _publish(cluster, TicketSatisfactionRecorded(customer_id=cid, occurred_at=day(25), ticket_id=ticket, score=2,
                                                       comment="took too long", by="li"))
    await _seen(cluster, customer, "TicketSatisfactionRecorded")
    unhappy = await _insights(cluster, customer, day(25))
    assert unhappy["service"]["latest_satisfaction"]["score"] == 2
    assert [(p["reason"], p["risk"]) for p in unhappy["service"]["evidence"]] == [("low_satisfaction", 0.15)]
    assert (await _insights(cluster, customer, day(206)))["service"]["risk"] == 0.0

    # The timeline says it in words.
    response = await cluster.http.get(cluster.urls["insights"] + f"/customers/{customer}/timeline",
                                      headers=cluster.headers(**{"Accept-Language": "zh-CN"}))
    summaries = {i["type"]: i["summary"] for i in response.json()["items"]}
    number = "#" + str(ticket)[-8:]
    assert summaries["TicketSlaBreached"].startswith(f"投诉 {number}（高）无人及时答复")
    assert summaries["TicketResolved"].startswith("li 解决了工单：replaced the kettle（补偿 20.00）；方案：换货")
    assert summaries["TicketRemedyAnswered"] == f"客户接受了工单 {number} 的补救方案"

    # A replay from the outboxes rebuilds the very same tables.
    live = await _dump(cluster)
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("admin"),
                                       timeout=60)
    assert response.status_code == 200, response.text
    assert (response.json()["skipped"], response.json()["fold_processes"]) == ([], 2)
    replayed = await _dump(cluster)
    for table in live:
        assert replayed[table] == live[table], table
