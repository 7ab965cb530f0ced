"""Insights on the real broker and database: an order history imported with `kehu import orders`,
then the profiles, alerts, segments, export and kehu.insights events it leads to, and a replay
that rebuilds the same tables from the outboxes.

One cluster for the module, with insights on the event-time clock (``insights_clock="events"``):
time moves only with the imported events, so the overdue alerts fall on fixed business dates.
The tests run in file order on the same imported shop; the last ones add orders.

The shop (weekly days from Monday 2024-01-01, orders at 10:00 in the shop's time zone, the default
Asia/Shanghai):

* ``weekly``: every 7 days from day 0 to day 77 (12 orders), then nothing: overdue on day 91.
* ``halves``: every 7 days from day 2 to day 121, 4 items (40.00) until day 79, then 2 (20.00):
  quantity and value drop raised on day 93, still open at the end.
* ``once``: one order on day 50.
* ``back``: every 7 days from day 1 to day 64, overdue on day 78, back on days 120 and 127.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer

from kehu.importer import ImportOptions, run_import
from shared.events import (
    CustomerAlertCleared,
    CustomerAlertRaised,
    Envelope,
    Event,
    LifecycleStageChanged,
    SegmentChanged,
)
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

DAY0 = datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)  # the shop's midnight, in UTC
ORDER_HOUR = timedelta(hours=10)
NAMES = ("weekly", "halves", "once", "back")


def day(n: int, at: timedelta = ORDER_HOUR) -> datetime:
    return DAY0 + timedelta(days=n) + at


def plan() -> dict[str, list[tuple[int, int, str]]]:
    """Each customer's orders: (day, quantity, amount)."""
    return {
        "weekly": [(d, 2, "30.00") for d in range(0, 78, 7)],
        "halves": [(d, 4, "40.00") if d <= 79 else (d, 2, "20.00") for d in range(2, 122, 7)],
        "once": [(50, 1, "99.00")],
        "back": [(d, 1, "12.50") for d in range(1, 65, 7)] + [(120, 1, "12.50"), (127, 1, "12.50")],
    }


LAST_EVENT = day(127)
OWNER = "li-na"  # the salesperson who looks after "weekly"


@dataclass
class Shop:
    cluster: Cluster
    ids: dict[str, str]  # name -> customer id
    refs: dict[str, str]  # name -> customer_ref (external_ref)
    order_ids: dict[str, dict[int, str]]  # name -> day -> OrderPlaced event id


@pytest.fixture(scope="module")
async def insights_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """The four services with insights on the event-time clock, started once for this module."""
    # Replays fold in two worker processes, as a long history's would (a small one folds in-process).
    async with own_cluster(pg_url, tmp_path_factory.mktemp("insights-cluster"), insights_clock="events",
                           insights_refit_days=28, insights_publish_days=0, insights_replay_workers=2,
                           currencies=["CNY", "USD"]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def shop(insights_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The shop's history imported from one CSV (in time order), folded by insights."""
    cluster = insights_cluster
    prefix = uuid.uuid4().hex[:6]
    refs = {name: f"{prefix}-{name}" for name in NAMES}
    rows = sorted((day(d), refs[name], quantity, amount) for name, orders in plan().items()
                  for d, quantity, amount in orders)
    path = tmp_path_factory.mktemp("insights-csv") / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_ref", "occurred_at", "quantity", "amount", "owner"])
        writer.writerows([ref, when.isoformat().replace("+00:00", "Z"), quantity, amount,
                          OWNER if ref == refs["weekly"] else ""]
                         for when, ref, quantity, amount in rows)

    options = ImportOptions(path=path, contacts_url=cluster.urls["contacts"], orders_url=cluster.urls["orders"],
                            token=cluster.tokens["sales"])
    report = await run_import(options, out=io.StringIO(), err=io.StringIO())
    assert report.exit_code == 0 and report.orders_created == len(rows), report

    ids = {}
    for name, ref in refs.items():
        found = (await cluster.get("contacts", "/customers", external_ref=ref)).json()["items"]
        ids[name] = found[0]["id"]

    async def folded() -> bool:
        clock = await cluster.sql("insights", "SELECT watermark FROM insights_clock")
        named = await cluster.sql("insights", "SELECT count(*) FROM customer_profile WHERE external_ref = ANY($1)",
                                  list(refs.values()))
        return clock[0]["watermark"] == LAST_EVENT and named[0][0] == len(refs)

    await eventually(folded, timeout=30)
    order_ids: dict[str, dict[int, str]] = {}
    for name, customer in ids.items():
        timeline = await cluster.timeline(customer)
        order_ids[name] = {(datetime.fromisoformat(i["occurred_at"]) - DAY0).days: i["event_id"]
                           for i in timeline if i["type"] == "OrderPlaced"}
        assert len(order_ids[name]) == len(plan()[name])
    return Shop(cluster, ids, refs, order_ids)


async def insights(shop: Shop, name: str, **params: str) -> dict[str, Any]:
    response = await shop.cluster.get("insights", f"/customers/{shop.ids[name]}/insights", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def alerts(shop: Shop, **params: Any) -> list[dict[str, Any]]:
    response = await shop.cluster.get("insights", "/alerts", limit=500, **params)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return list(response.json()["items"])


# --- profiles ------------------------------------------------------------------------------------


async def test_a_weekly_regular_who_stopped_is_overdue_with_evidence(shop: Shop) -> None:
    body = await insights(shop, "weekly")

    assert body["external_ref"] == shop.refs["weekly"]
    assert body["as_of"] == LAST_EVENT.isoformat()  # the event-time clock: the latest event seen
    assert body["frequency"] == {"purchase_days": 12, "orders": 12}
    assert body["monetary"]["total"] == "360.00"
    assert body["rhythm"]["typical_gap_days"] == 7
    assert body["rhythm"]["overdue_after_days"] == 14
    assert body["lifecycle"]["stage"] == "decline" and body["lifecycle"]["reason"] == "overdue_gap"
    assert body["lifecycle"]["since"] == (day(77, timedelta(0)) + timedelta(days=14, milliseconds=1)).isoformat()
    assert body["segment"] == "champions"  # bought often, 50 days ago: recency 4 of 5 by the default cuts
    assert body["loyal"] is False  # not while in decline
    assert body["recency_days"] == 50  # shop-calendar days since the last purchase day

    by_kind = {a["kind"]: a for a in body["open_alerts"]}
    assert {"purchase_overdue", "stage_decline"} <= set(by_kind)
    overdue = by_kind["purchase_overdue"]
    assert overdue["raised_at"] == (day(77, timedelta(0)) + timedelta(days=14, milliseconds=1)).isoformat()
    evidence = overdue["evidence"]
    assert (evidence["baseline"], evidence["observed"], evidence["threshold"], evidence["unit"]) == (
        7.0, 14.0, 14.0, "days")
    assert evidence["event_ids"] == [shop.order_ids["weekly"][77]]
    assert overdue["rule_version"] and overdue["explanation"] == \
        "No purchase for 14 days; usually buys every 7 days (overdue after 14)"


async def test_a_buyer_whose_baskets_halved_has_open_drop_alerts(shop: Shop) -> None:
    body = await insights(shop, "halves")

    assert body["rhythm"]["typical_gap_days"] == 7
    assert body["lifecycle"]["stage"] == "decline" and body["lifecycle"]["reason"] == "basket_drop"
    by_kind = {a["kind"]: a for a in body["open_alerts"]}
    assert {"quantity_drop", "value_drop", "stage_decline"} <= set(by_kind)
    halved = [shop.order_ids["halves"][86], shop.order_ids["halves"][93]]
    quantity, value = by_kind["quantity_drop"], by_kind["value_drop"]
    assert quantity["raised_at"] == day(93).isoformat()
    assert {k: quantity["evidence"][k] for k in ("baseline", "observed", "threshold", "unit")} == {
        "baseline": 4.0, "observed": 2.0, "threshold": 2.4, "unit": "quantity"}
    assert sorted(quantity["evidence"]["event_ids"]) == sorted(halved)
    assert {k: value["evidence"][k] for k in ("baseline", "observed", "threshold", "unit")} == {
        "baseline": 40.0, "observed": 20.0, "threshold": 24.0, "unit": "amount"}
    assert body["basket"]["recent_quantity"] == 2.0


async def test_a_one_off_buyer_is_exploring_and_one_who_came_back_is_a_loyal_regular(shop: Shop) -> None:
    once = await insights(shop, "once")
    assert once["frequency"]["purchase_days"] == 1
    assert once["rhythm"]["typical_gap_days"] is None
    assert once["lifecycle"]["stage"] == "exploration"
    assert once["open_alerts"] == []
    assert once["segment"] == "potential" and once["loyal"] is False

    back = await insights(shop, "back")
    assert back["frequency"]["purchase_days"] == 12
    assert back["rhythm"]["typical_gap_days"] == 7
    assert back["rhythm"]["longest_gap_days"] == 56
    assert back["lifecycle"]["stage"] == "stability"
    assert back["segment"] == "champions" and back["loyal"] is True
    assert back["open_alerts"] == []


async def test_insights_as_of_before_the_customers_last_event_is_a_422(shop: Shop) -> None:
    response = await shop.cluster.get("insights", f"/customers/{shop.ids['weekly']}/insights",
                                      as_of=day(80).isoformat())
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.as_of"
    later = await insights(shop, "weekly", as_of=day(200).isoformat())
    assert later["lifecycle"]["stage"] == "lost"  # assessed at a later time, nothing stored changes
    assert (await insights(shop, "weekly"))["lifecycle"]["stage"] == "decline"
    unknown = await shop.cluster.get("insights", f"/customers/{uuid.uuid4()}/insights")
    assert unknown.status_code == 404


# --- alerts --------------------------------------------------------------------------------------


async def test_an_overdue_alert_raised_and_cleared_by_the_return_keeps_its_evidence(shop: Shop) -> None:
    [overdue] = await alerts(shop, customer_id=shop.ids["back"], kind="purchase_overdue")

    assert overdue["status"] == "cleared" and overdue["cleared_reason"] == "purchase"
    assert overdue["raised_at"] == (day(64, timedelta(0)) + timedelta(days=14, milliseconds=1)).isoformat()
    assert overdue["cleared_at"] == day(120).isoformat()
    evidence = overdue["evidence"]
    assert (evidence["baseline"], evidence["observed"], evidence["threshold"], evidence["unit"]) == (
        7.0, 14.0, 14.0, "days")
    timeline = {i["event_id"]: i for i in await shop.cluster.timeline(shop.ids["back"])}
    assert evidence["event_ids"] == [shop.order_ids["back"][64]]
    assert [timeline[i]["type"] for i in evidence["event_ids"]] == ["OrderPlaced"]
    assert overdue["cleared_evidence"]["event_ids"] == [shop.order_ids["back"][120]]
    assert timeline[shop.order_ids["back"][120]]["type"] == "OrderPlaced"
    assert overdue["external_ref"] == shop.refs["back"] and overdue["segment"] == "champions"


async def test_alerts_filter_by_kind_status_and_segment(shop: Shop) -> None:
    everything = await alerts(shop)
    assert [(a["raised_at"], a["alert_id"]) for a in everything] == sorted(
        ((a["raised_at"], a["alert_id"]) for a in everything), reverse=True)  # newest first

    overdue = await alerts(shop, kind="purchase_overdue")
    assert {(a["customer_id"], a["status"]) for a in overdue} >= {
        (shop.ids["weekly"], "open"), (shop.ids["back"], "cleared")}
    assert {a["kind"] for a in overdue} == {"purchase_overdue"}
    cleared = await alerts(shop, status="cleared")
    assert cleared and {a["status"] for a in cleared} == {"cleared"}
    assert all(a["cleared_at"] and a["cleared_reason"] for a in cleared)
    open_overdue = await alerts(shop, kind="purchase_overdue", status="open")
    assert shop.ids["weekly"] in {a["customer_id"] for a in open_overdue}
    assert shop.ids["back"] not in {a["customer_id"] for a in open_overdue}
    champions = await alerts(shop, segment="champions")
    assert champions and {a["segment"] for a in champions} == {"champions"}
    assert len(champions) == sum(1 for a in everything if a["segment"] == "champions")
    assert await alerts(shop, customer_id=shop.ids["once"]) == []
    bad = await shop.cluster.get("insights", "/alerts", kind="no_such_kind")
    assert bad.status_code == 422


async def test_alerts_paginate_with_a_cursor(shop: Shop) -> None:
    everything = await alerts(shop)
    assert len(everything) >= 5
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await shop.cluster.get("insights", "/alerts", **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        pages += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [a["alert_id"] for a in pages] == [a["alert_id"] for a in everything]
    garbage = await shop.cluster.get("insights", "/alerts", cursor="not-a-cursor")
    assert garbage.status_code == 422


# --- what insights publishes -----------------------------------------------------------------------


async def _published(cluster: Cluster, at_least: int) -> list[Event]:
    consumer = AIOKafkaConsumer("kehu.insights", bootstrap_servers=cluster.broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        events: list[Event] = []
        deadline = asyncio.get_running_loop().time() + 15
        while len(events) < at_least and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                events += [Envelope.from_record(r.value, list(r.headers)).decode() for r in records]
        return events
    finally:
        await consumer.stop()


async def test_the_insights_topic_carries_alerts_stage_and_segment_changes(shop: Shop) -> None:
    cluster = shop.cluster
    outbox = await cluster.sql("insights", "SELECT count(*) FROM outbox")
    events = await _published(cluster, outbox[0][0])

    assert len(events) == outbox[0][0]
    assert {type(e) for e in events} == {CustomerAlertRaised, CustomerAlertCleared, LifecycleStageChanged,
                                          SegmentChanged}
    rows = await cluster.sql("insights", "SELECT alert_id, status FROM alerts")
    assert {e.alert_id for e in events if isinstance(e, CustomerAlertRaised)} == {r["alert_id"] for r in rows}
    assert {e.alert_id for e in events if isinstance(e, CustomerAlertCleared)} == {
        r["alert_id"] for r in rows if r["status"] == "cleared"}
    back = uuid.UUID(shop.ids["back"])
    assert [(e.previous_stage, e.stage) for e in events
            if isinstance(e, LifecycleStageChanged) and e.customer_id == back] == [
        (None, "exploration"), ("exploration", "formation"), ("formation", "stability"), ("stability", "decline"),
        ("decline", "stability")]
    [raised] = [e for e in events if isinstance(e, CustomerAlertRaised) and e.customer_id == back
                and e.kind == "purchase_overdue"]
    assert raised.occurred_at == day(64, timedelta(0)) + timedelta(days=14, milliseconds=1)
    assert [str(i) for i in raised.evidence.event_ids] == [shop.order_ids["back"][64]]
    [cleared] = [e for e in events if isinstance(e, CustomerAlertCleared) and e.alert_id == raised.alert_id]
    assert (cleared.reason, cleared.occurred_at) == ("purchase", day(120))


# --- segments and export ----------------------------------------------------------------------------


async def test_segments_count_the_customers_of_each_segment(shop: Shop) -> None:
    response = await shop.cluster.get("insights", "/segments")
    assert response.status_code == 200, response.text
    items = {i["segment"]: i for i in response.json()["items"]}
    expected: dict[str, int] = {}
    for name in NAMES:
        segment = (await insights(shop, name))["segment"]
        expected[segment] = expected.get(segment, 0) + 1
    assert {s: i["customers"] for s, i in items.items()} == expected
    assert items["champions"]["loyal"] == 1  # "back"; "weekly" and "halves" are in decline
    assert sum(i["open_alerts"] for i in items.values()) == len(await alerts(shop, status="open"))


async def _export(shop: Shop, **params: str) -> list[dict[str, str]]:
    response = await shop.cluster.get("insights", "/export/insights.csv", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_the_export_has_one_row_per_customer_with_its_scores(shop: Shop) -> None:
    response = await shop.cluster.get("insights", "/export/insights.csv", as_of="2024-05-07")
    header = response.text.splitlines()[0].split(",")
    assert {"customer_ref", "churn_risk", "p_alive", "expected_purchases_90d", "expected_value_90d", "segment",
            "lifecycle_stage", "open_alerts"} <= set(header)
    rows = {r["customer_ref"]: r for r in await _export(shop, as_of="2024-05-07")}  # the end of day 127
    assert set(rows) == set(shop.refs.values())
    weekly, back = rows[shop.refs["weekly"]], rows[shop.refs["back"]]
    assert weekly["lifecycle_stage"] == "decline" and int(weekly["open_alerts"]) >= 2
    assert back["lifecycle_stage"] == "stability" and back["open_alerts"] == "0"
    for row in rows.values():
        assert 0.0 <= float(row["churn_risk"]) <= 1.0 and 0.0 <= float(row["p_alive"]) <= 1.0
        assert float(row["expected_purchases_90d"]) >= 0.0 and float(row["expected_value_90d"]) >= 0.0


async def test_the_export_as_of_a_past_date_shows_the_shop_as_it_stood(shop: Shop) -> None:
    rows = {r["customer_ref"]: r for r in await _export(shop, as_of=day(100).isoformat())}
    back = rows[shop.refs["back"]]  # away since day 64, not back yet
    assert back["purchase_days"] == "10" and back["lifecycle_stage"] == "decline"
    assert back["open_alerts"] == "2"  # purchase_overdue and stage_decline were open on day 100
    assert rows[shop.refs["halves"]]["open_alerts"] == "3"  # quantity_drop, value_drop, stage_decline since day 93
    before = await shop.cluster.get("insights", "/export/insights.csv", as_of="yesterday")
    assert before.status_code == 422
    naive = await shop.cluster.get("insights", "/export/insights.csv", as_of="2024-05-07T10:00:00")
    assert naive.status_code == 422


# --- replay -------------------------------------------------------------------------------------------


async def _dump(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    return {
        "customer_profile": [dict(r) for r in await cluster.sql(
            "insights", "SELECT * FROM customer_profile ORDER BY customer_id")],
        "alerts": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM alerts ORDER BY alert_id")],
        "timeline": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM timeline ORDER BY event_id")],
        # fitted_at is when a fit ran (now() on the wall clock), not business data: left out.
        "population_model": [dict(r) for r in await cluster.sql(
            "insights", "SELECT version, as_of, customers, model, cuts, fit_key FROM population_model ORDER BY version")],
        "insights_clock": [dict(r) for r in await cluster.sql("insights", "SELECT * FROM insights_clock")],
    }


async def _replay(cluster: Cluster) -> dict[str, Any]:
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("admin"),
                                       timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_replay_rebuilds_the_same_tables(shop: Shop) -> None:
    cluster = shop.cluster
    live = await _dump(cluster)
    assert len(live["customer_profile"]) == len(NAMES) and live["alerts"]
    forbidden = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("sales"))
    assert forbidden.status_code == 403

    result = await _replay(cluster)

    assert result["skipped"] == []
    assert result["fold_processes"] == 2
    assert result["customers"] == len(NAMES)
    assert result["events"] == len(live["timeline"])
    replayed = await _dump(cluster)
    for table in live:
        assert replayed[table] == live[table], table
    leftovers = await cluster.sql("insights", "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'insights_rebuild%'")
    assert leftovers == []  # the rebuilt tables were moved into place, their schema dropped


async def test_after_a_replay_a_new_order_is_applied_once(shop: Shop) -> None:
    cluster = shop.cluster
    before = await insights(shop, "weekly")
    published = (await cluster.sql("insights", "SELECT count(*) FROM outbox"))[0][0]

    async def order(n: int) -> str:
        body = {"customer_id": shop.ids["weekly"], "channel": "store", "occurred_at": day(n).isoformat(),
                "lines": [{"sku": "A1", "quantity": "2", "unit_price": "15.00"}]}
        response = await cluster.post("orders", "/orders", body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def orders_seen(n: int) -> dict[str, Any] | None:
        body = await insights(shop, "weekly")
        return body if body["frequency"]["orders"] >= n else None

    await order(130)
    after = await eventually(lambda: orders_seen(13), timeout=15)

    assert before["lifecycle"]["stage"] == "decline"
    assert after["frequency"] == {"purchase_days": 13, "orders": 13}
    assert after["lifecycle"]["stage"] == "stability"
    assert after["as_of"] == day(130).isoformat()
    assert "purchase_overdue" not in {a["kind"] for a in after["open_alerts"]}
    [overdue] = await alerts(shop, customer_id=shop.ids["weekly"], kind="purchase_overdue")
    assert (overdue["status"], overdue["cleared_reason"], overdue["cleared_at"]) == ("cleared", "purchase",
                                                                                     day(130).isoformat())
    assert (await cluster.sql("insights", "SELECT count(*) FROM outbox"))[0][0] > published  # published live

    # Every event delivered again (the consumer re-reads its partitions) changes nothing; the next
    # order of the customer, on the same partition, is read after all of them.
    rewind = await cluster.http.post(cluster.urls["insights"] + "/admin/consumers/rewind",
                                     headers=cluster.headers("admin"), timeout=40)
    assert rewind.status_code == 200, rewind.text
    await order(131)
    again = await eventually(lambda: orders_seen(14), timeout=15)
    assert again["frequency"] == {"purchase_days": 14, "orders": 14}
    await asyncio.sleep(0.5)
    assert (await insights(shop, "weekly"))["frequency"]["orders"] == 14

    # And a second replay, now with the live orders in the outbox, still agrees with the live tables.
    live = await _dump(cluster)
    await _replay(cluster)
    assert await _dump(cluster) == live


async def test_a_replay_reaches_services_wherever_they_are(cluster: Cluster) -> None:
    """conftest's cluster puts each service on its own free port, as compose and Kubernetes put
    each in its own container (orders at http://orders:8002, not at insights' 127.0.0.1:8002):
    the replay finds them through KEHU_ORDERS_URL and KEHU_TICKETS_URL (found by this test)."""
    customer = await cluster.customer("Replayed")

    async def on_timeline() -> bool:
        return len(await cluster.timeline(customer)) == 1

    await eventually(on_timeline)
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", headers=cluster.headers("admin"),
                                       timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["customers"] == 1


async def test_the_owner_from_contacts_filters_alerts(shop: Shop) -> None:
    """The owner given at registration (here by the import's owner column) reaches insights with
    CustomerRegistered: a salesperson lists the alerts of their own customers."""
    body = await insights(shop, "weekly")
    assert body["owner"] == OWNER
    mine = await alerts(shop, owner=OWNER)
    assert mine and {a["customer_id"] for a in mine} == {shop.ids["weekly"]}
    assert all(a["owner"] == OWNER for a in mine)
    assert await alerts(shop, owner="nobody") == []
    everyone = await alerts(shop)
    assert {a["customer_id"] for a in everyone} > {shop.ids["weekly"]}


async def test_an_order_in_another_currency_is_a_purchase_whose_amount_is_kept_apart(shop: Shop) -> None:
    """CNY is the shop currency (the first of KEHU_CURRENCIES): a USD order counts as a purchase
    day, but its amount is never added to the CNY figures; the profile says what was left out.
    A replay rebuilds exactly what the live consumer made of it."""
    cluster = shop.cluster
    customer = await cluster.customer("Dollars")

    async def order(n: int, currency: str, price: str) -> None:
        body = {"customer_id": customer, "channel": "web", "occurred_at": day(n).isoformat(), "currency": currency,
                "lines": [{"sku": "A1", "quantity": "1", "unit_price": price}]}
        response = await cluster.post("orders", "/orders", body)
        assert response.status_code == 201, response.text

    await order(140, "CNY", "30.00")
    await order(147, "USD", "12.00")
    await order(154, "CNY", "50.00")
    await order(154, "USD", "3.50")

    async def folded() -> dict[str, Any] | None:
        response = await cluster.get("insights", f"/customers/{customer}/insights")
        body = response.json() if response.status_code == 200 else None
        return body if body and body["frequency"]["orders"] == 4 else None

    body = await eventually(folded, timeout=15)
    assert body["frequency"] == {"purchase_days": 3, "orders": 4}
    assert body["monetary"]["total"] == "80.00"
    assert body["monetary"]["other_currencies"] == {"USD": {"orders": 2, "amount": "15.50"}}
    [row] = await cluster.sql("insights", "SELECT spent, first_day_spent FROM customer_profile WHERE customer_id = $1",
                              uuid.UUID(customer))
    assert (str(row["spent"]), str(row["first_day_spent"])) == ("80.00", "30.00")

    live = await _dump(cluster)
    await _replay(cluster)
    assert await _dump(cluster) == live
