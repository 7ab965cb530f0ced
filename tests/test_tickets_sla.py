"""Promised times on the real database and broker (docs/tickets.md "Promised times (SLA)"): a
complaint filed on Friday evening breaches on Monday morning, once, however often the sweeper
runs; holidays and make-up working days; the policies and the calendar with a 422 naming the
wrong field; the worklist of what is about to breach, soonest due first."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.tickets.store import sla as sla_store
from shared.db import connect
from shared.events import Envelope, TicketSlaBreached
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

SHANGHAI = ZoneInfo("Asia/Shanghai")  # KEHU_TIMEZONE's default: the shop's calendar
AGENT = "agent"  # a console user's sign-in name: whom tickets are assigned to when they own no customers


@pytest.fixture(scope="module")
async def kehu(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home = tmp_path_factory.mktemp("tickets-sla")
    generate_keypair(home / "identity" / "console-key.pem", home / "identity" / "console-key.pub.pem")
    # The background sweeper stays out of the way: every sweep here is asked for with its as_of.
    async with own_cluster(pg_url, home, sla_sweep_s=3600) as cluster:
        KEYS[id(cluster)] = load_private_key(home / "identity" / "console-key.pem")
        yield cluster


KEYS: dict[int, Any] = {}


def _as_agent(cluster: Cluster) -> str:
    """The role name of a person signed in to the console (``AGENT``), with a fresh token (they last 5 min)."""
    cluster.tokens["agent"] = mint(PersonClaims.issue(sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, "agent.kehu.test")), name=AGENT,
                                                      role="service", owner=None,
                                                      now=time.time()), KEYS[id(cluster)])
    return "agent"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


async def _ticket(cluster: Cluster, customer: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_id": customer, "kind": "complaint", "channel": "phone", "subject": "Kettle leaks",
            "occurred_at": local(occurred_at).isoformat(), **fields}
    response = await cluster.post("tickets", "/tickets", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _sweep(cluster: Cluster, as_of: str, role: str = "admin") -> httpx.Response:
    return await cluster.post("tickets", "/admin/tickets/sla-sweep?" + urlencode({"as_of": local(as_of).isoformat()}),
                              None, role=role)


async def _breached(cluster: Cluster, as_of: str) -> list[tuple[str, str, datetime]]:
    response = await _sweep(cluster, as_of)
    assert response.status_code == 200, response.text
    return [(b["ticket_id"], b["clock"], datetime.fromisoformat(b["due_at"])) for b in response.json()["breached"]]


async def _put(cluster: Cluster, path: str, body: Any, role: str = "admin", **headers: str) -> httpx.Response:
    return await cluster.http.put(cluster.urls["tickets"] + path, json=body, headers=cluster.headers(role, **headers))


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]


async def _on_the_broker(cluster: Cluster, ticket_id: str, at_least: int) -> list[TicketSlaBreached]:
    consumer = AIOKafkaConsumer("kehu.tickets", bootstrap_servers=cluster.broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        found: list[TicketSlaBreached] = []
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                events = [Envelope.from_record(r.value, list(r.headers)).decode() for r in records]
                found += [e for e in events if isinstance(e, TicketSlaBreached) and str(e.ticket_id) == ticket_id]
            if len(found) >= at_least and not await _unsent(cluster):
                # Everything is out: read on for a moment to see nothing more arrives.
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    events = [Envelope.from_record(r.value, list(r.headers)).decode() for r in records]
                    found += [e for e in events if isinstance(e, TicketSlaBreached) and str(e.ticket_id) == ticket_id]
                return found
        return found
    finally:
        await consumer.stop()


async def _unsent(cluster: Cluster) -> int:
    return int((await cluster.sql("tickets", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))[0][0])


# --- the sweeper ------------------------------------------------------------------------------------


async def test_a_complaint_filed_friday_at_five_breaches_monday_at_ten_once(kehu: Cluster) -> None:
    customer = await kehu.customer("周末投诉")
    # 2026-11-27 is a Friday; high priority: 2 business hours to the first answer, 18 to the resolution.
    ticket = await _ticket(kehu, customer, "2026-11-27T17:00", priority="high")
    monday_ten = local("2026-11-30T10:00")
    assert datetime.fromisoformat(ticket["first_response_due_at"]) == monday_ten
    assert datetime.fromisoformat(ticket["due_at"]) == monday_ten
    assert datetime.fromisoformat(ticket["resolution_due_at"]) == local("2026-12-01T17:00")
    mine = ticket["id"]

    assert [b for b in await _breached(kehu, "2026-11-30T09:59:59") if b[0] == mine] == []
    assert [b for b in await _breached(kehu, "2026-11-30T10:00:01") if b[0] == mine] == [
        (mine, "first_response", monday_ten)]
    assert await _breached(kehu, "2026-11-30T10:00:01") == []  # a second sweep: nothing
    assert [b for b in await _breached(kehu, "2026-11-30T16:00") if b[0] == mine] == []  # nor a later one

    [event] = await _on_the_broker(kehu, mine, 1)
    assert (event.clock, event.kind, event.priority, event.due_at, event.occurred_at) == (
        "first_response", "complaint", "high", monday_ten, monday_ten)
    assert event.as_of == local("2026-11-30T10:00:01") and str(event.customer_id) == customer

    # The ticket still shows its running clock (due_at unchanged), run out at that time.
    seen = (await kehu.get("tickets", f"/tickets/{mine}", as_of=local("2026-11-30T11:00").isoformat())).json()
    assert datetime.fromisoformat(seen["due_at"]) == monday_ten
    assert seen["sla"]["clock"] == "first_response" and seen["sla"]["breached"] is True
    assert seen["sla"]["business_seconds_left"] == -3600
    history = await kehu.sql("tickets", "SELECT by, action, detail, event_id FROM ticket_activity "
                             "WHERE ticket_id = $1::uuid AND action = 'sla_breached'", mine)
    assert [(h["by"], json.loads(h["detail"])["clock"]) for h in history] == [("kehu", "first_response")]
    published = await kehu.sql("tickets", "SELECT event_type FROM outbox WHERE event_id = $1", history[0]["event_id"])
    assert [p["event_type"] for p in published] == [TicketSlaBreached.ce_type()]

    # Still open on Tuesday at five: the resolution clock runs out too, once.
    assert [b for b in await _breached(kehu, "2026-12-01T17:00:01") if b[0] == mine] == [
        (mine, "resolution", local("2026-12-01T17:00"))]
    assert [b for b in await _breached(kehu, "2026-12-02T17:00") if b[0] == mine] == []
    # A new run of the resolution clock (what a reopen does: a fresh due time, the mark cleared)
    # may breach in its turn.
    await kehu.sql("tickets", "UPDATE tickets SET resolution_due_at = $2, resolution_breached_at = NULL "
                   "WHERE id = $1::uuid", mine, local("2026-12-03T12:00"))
    assert [b for b in await _breached(kehu, "2026-12-03T12:00") if b[0] == mine] == [
        (mine, "resolution", local("2026-12-03T12:00"))]
    assert len(await _on_the_broker(kehu, mine, 3)) == 3


async def test_the_sweep_is_for_managers_and_never_in_the_future(kehu: Cluster) -> None:
    assert (await _sweep(kehu, "2026-11-30T10:00", role="readonly")).status_code == 403
    response = await _sweep(kehu, "2099-01-01T00:00")
    assert _fields(response) == ["query.as_of"]


async def test_the_sweeper_s_queries_use_their_partial_indexes(kehu: Cluster) -> None:
    conn = await connect(kehu.database_urls["tickets"])
    try:
        await conn.execute("SET enable_seqscan = off")  # a handful of rows: ask whether the index CAN serve
        for query, index in (("breach_first_responses", "tickets_first_response_due"),
                             ("breach_resolutions", "tickets_resolution_due")):
            for since in (None, local("2026-11-30T09:00")):  # a pass's first chunk, and the next
                plan = "\n".join(r[0] for r in await conn.fetch(
                    "EXPLAIN " + sla_store.Q[query], local("2026-11-30T10:00"), 5000, since))
                assert f"Index Scan using {index}" in plan, plan
    finally:
        await conn.close()


# --- holidays and make-up working days -------------------------------------------------------------


async def test_a_holiday_and_a_make_up_working_day_move_the_due_times(kehu: Cluster) -> None:
    days = [{"day": "2026-11-14", "hours": [["09:00", "18:00"]], "name": "调休"},
            {"day": "2026-11-23", "hours": [], "name": "店庆"}]
    response = await _put(kehu, "/calendar", {"days": days})
    assert response.status_code == 200, response.text
    try:
        customer = await kehu.customer("节假日")
        # Friday 13 Nov 17:00: the second hour falls on the make-up Saturday.
        saturday = await _ticket(kehu, customer, "2026-11-13T17:00", priority="high")
        assert datetime.fromisoformat(saturday["due_at"]) == local("2026-11-14T10:00")
        # Friday 20 Nov 17:00: Monday is the shop's holiday, so Tuesday at ten.
        tuesday = await _ticket(kehu, customer, "2026-11-20T17:00", priority="high")
        assert datetime.fromisoformat(tuesday["due_at"]) == local("2026-11-24T10:00")
        assert [b for b in await _breached(kehu, "2026-11-23T17:00") if b[0] == tuesday["id"]] == []
        assert [b[:2] for b in await _breached(kehu, "2026-11-24T10:00") if b[0] == tuesday["id"]] == [
            (tuesday["id"], "first_response")]
    finally:
        assert (await _put(kehu, "/calendar", {"days": []})).status_code == 200


# --- policies and calendar ---------------------------------------------------------------------------


async def test_policies_are_read_set_in_part_and_refused_naming_the_field(kehu: Cluster) -> None:
    policies = (await kehu.get("tickets", "/sla-policies", role="readonly")).json()["policies"]
    assert len(policies) == 12
    assert {k: policies[0][k] for k in ("kind", "priority", "first_response_min", "resolution_min")} == {
        "kind": "complaint", "priority": "critical", "first_response_min": 60, "resolution_min": 540}
    row = {"kind": "service_request", "priority": "low", "first_response_min": 600, "resolution_min": 5000}

    assert _fields(await _put(kehu, "/sla-policies", {"policies": [
        row, row | {"priority": "normal"}, row | {"priority": "high", "first_response_min": 300,
                                                  "resolution_min": 200}]})) == ["policies[2].resolution_min"]
    assert _fields(await _put(kehu, "/sla-policies", {"policies": [row | {"kind": "praise"}]})) == ["policies[0].kind"]
    assert _fields(await _put(kehu, "/sla-policies", {"policies": [row | {"first_response_min": 0}]})) == [
        "policies[0].first_response_min"]
    assert _fields(await _put(kehu, "/sla-policies", {"policies": [row, row]})) == ["policies[1]"]
    assert _fields(await _put(kehu, "/sla-policies", {"policies": []})) == ["policies"]
    assert (await _put(kehu, "/sla-policies", {"policies": [row]}, role="readonly")).status_code == 403

    first = await _put(kehu, "/sla-policies", {"policies": [row]}, **{"Idempotency-Key": "sla-policy-1"})
    again = await _put(kehu, "/sla-policies", {"policies": [row]}, **{"Idempotency-Key": "sla-policy-1"})
    assert first.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    try:
        [stored] = [p for p in first.json()["policies"] if (p["kind"], p["priority"]) == ("service_request", "low")]
        assert (stored["first_response_min"], stored["resolution_min"], stored["updated_by"]) == (
            600, 5000, "test-admin")
        assert first.json() == (await kehu.get("tickets", "/sla-policies")).json()
        # A service request opened after the change is promised the new times: 600 min = 10 h from Mon 09:00.
        customer = await kehu.customer("新政策")
        opened = await _ticket(kehu, customer, "2026-11-16T09:00", kind="service_request", priority="low",
                               service_type="repair")
        assert datetime.fromisoformat(opened["due_at"]) == local("2026-11-17T10:00")
        # null: no clock of that kind.
        none = await _put(kehu, "/sla-policies", {"policies": [row | {"first_response_min": None}]})
        assert none.status_code == 200, none.text
    finally:
        restored = await _put(kehu, "/sla-policies", {"policies": [row | {"first_response_min": 1080,
                                                                            "resolution_min": 4500}]})
        assert restored.status_code == 200


async def test_the_calendar_is_read_set_and_refused_naming_the_field(kehu: Cluster) -> None:
    calendar = (await kehu.get("tickets", "/calendar", role="readonly")).json()
    assert calendar["zone"] == "Asia/Shanghai" and calendar["days"] == []
    assert calendar["weekly"] == {**{str(d): [["09:00", "18:00"]] for d in range(1, 6)}, "6": [], "7": []}

    assert _fields(await _put(kehu, "/calendar", {"weekly": {"3": [["18:00", "09:00"]]}})) == ["weekly.3[0]"]
    assert _fields(await _put(kehu, "/calendar", {"weekly": {"1": [["9:00", "18:00"]]}})) == ["weekly.1[0]"]
    assert _fields(await _put(kehu, "/calendar", {"weekly": {"8": [["09:00", "18:00"]]}})) == ["weekly.8"]
    assert _fields(await _put(kehu, "/calendar", {"weekly": {"1": [["09:00", "12:00"], ["11:00", "18:00"]]}})) == [
        "weekly.1[1]"]
    assert _fields(await _put(kehu, "/calendar", {"weekly": {"1": [], "6": []}})) == ["weekly"]
    assert _fields(await _put(kehu, "/calendar", {"days": [{"day": "2026-12-24", "hours": [["09:00", "25:00"]]}]})) == [
        "days[0].hours[0]"]
    assert _fields(await _put(kehu, "/calendar", {"days": [{"day": "2026-12-24", "hours": []},
                                                           {"day": "2026-12-24", "hours": []}]})) == ["days[1].day"]
    assert _fields(await _put(kehu, "/calendar", {"days": [{"day": "24/12", "hours": []}]})) == ["days[0].day"]
    assert _fields(await _put(kehu, "/calendar", {"zone": "Europe/Berlin"})) == ["zone"]
    assert (await _put(kehu, "/calendar", {"days": []}, role="readonly")).status_code == 403

    week = {**calendar["weekly"], "1": [["13:00", "18:00"], ["09:00", "12:00"]], "6": [["10:00", "24:00"]]}
    changed = await _put(kehu, "/calendar", {"zone": "Asia/Shanghai", "weekly": week})
    try:
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["weekly"]["1"] == [["09:00", "12:00"], ["13:00", "18:00"]]  # sorted
        assert body["weekly"]["6"] == [["10:00", "24:00"]] and body["updated_by"] == "test-admin"
        assert (await kehu.get("tickets", "/calendar")).json() == body
    finally:
        assert (await _put(kehu, "/calendar", {"weekly": calendar["weekly"]})).status_code == 200


# --- the worklist: about to breach, breached, soonest due first ----------------------------------------


async def _ids(cluster: Cluster, role: str = "admin", **params: Any) -> list[str]:
    response = await cluster.get("tickets", "/tickets", role=role, **params)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


async def test_what_is_about_to_breach_and_what_breached_soonest_due_first(kehu: Cluster) -> None:
    customer = await kehu.customer("工作清单")
    # Monday 16 Nov: first answers due at 11:00 (high), 10:30 (critical), 13:00 (normal, delivery),
    # next morning 09:30 (critical filed at 17:30: 30 min that day, 30 the next); feedback without a clock.
    a = (await _ticket(kehu, customer, "2026-11-16T09:00", priority="high", assignee=AGENT))["id"]
    b = (await _ticket(kehu, customer, "2026-11-16T09:30", priority="critical", assignee=AGENT))["id"]
    c = (await _ticket(kehu, customer, "2026-11-16T09:00", category="delivery", assignee=AGENT))["id"]
    f = (await _ticket(kehu, customer, "2026-11-16T17:30", priority="critical", assignee=AGENT))["id"]
    d = (await _ticket(kehu, customer, "2026-11-16T09:00", kind="feedback", satisfaction=5, assignee=AGENT))["id"]
    e = (await _ticket(kehu, customer, "2026-11-16T09:00", kind="service_request", queue="repairs"))["id"]
    mine = {"customer_id": customer, "assignee": AGENT}

    ten, quarter_to_eleven = local("2026-11-16T10:00").isoformat(), local("2026-11-16T10:45").isoformat()
    assert await _ids(kehu, **mine, as_of=ten, breaching_within="1h", order="due") == [b, a]
    assert await _ids(kehu, **mine, as_of=ten, breaching_within="PT3H", order="due") == [b, a, c]
    assert await _ids(kehu, **mine, as_of=quarter_to_eleven, breached="true") == [b]
    assert await _ids(kehu, **mine, as_of=quarter_to_eleven, breaching_within="30m") == [a]
    assert set(await _ids(kehu, **mine, as_of=quarter_to_eleven, breaching_within="30m", breached="true")) == {a, b}
    assert set(await _ids(kehu, **mine, as_of=quarter_to_eleven, breached="false")) == {a, c, f, d}
    # Business time: at 17:45, one business hour reaches 09:45 tomorrow; half an hour only 09:15.
    evening = local("2026-11-16T17:45").isoformat()
    assert f in await _ids(kehu, **mine, as_of=evening, breaching_within="1h")
    assert f not in await _ids(kehu, **mine, as_of=evening, breaching_within="30m")
    assert f in await _ids(kehu, **mine, as_of=evening, breaching_within="1d")

    # Soonest due first, those without a clock last; the cursor pages in that order.
    everything = await _ids(kehu, **mine, order="due")
    assert everything == [b, a, c, f, d]
    for limit in (2, 1):  # 1: a page ends among those without a clock too (`~<id>`)
        pages: list[str] = []
        cursor = None
        while True:
            response = await kehu.get("tickets", "/tickets", **mine, order="due", limit=limit,
                                      **({"cursor": cursor} if cursor else {}))
            pages += [t["id"] for t in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert pages == everything, limit
    g = (await _ticket(kehu, customer, "2026-11-16T09:00", kind="feedback", satisfaction=4, assignee=AGENT))["id"]
    first = await kehu.get("tickets", "/tickets", **mine, order="due", limit=5)
    assert first.json()["next_cursor"] == f"~{d}"
    rest = await kehu.get("tickets", "/tickets", **mine, order="due", limit=5, cursor=first.json()["next_cursor"])
    assert [t["id"] for t in rest.json()["items"]] == [g]  # ids in order among those without a clock

    # The other filters.
    assert await _ids(kehu, customer_id=customer, queue="repairs") == [e]
    assert await _ids(kehu, customer_id=customer, category="delivery") == [c]
    assert await _ids(kehu, customer_id=customer, status="resolved") == [d, g]
    assert set(await _ids(kehu, customer_id=customer, status="open,resolved")) == {a, b, c, d, e, f, g}
    assert await _ids(kehu, customer_id=customer, status="open") == [a, b, c, f, e]
    assert set(await _ids(kehu, role=_as_agent(kehu), customer_id=customer, mine="true")) == {a, b, c, d, f, g}


async def test_list_parameters_that_are_not_one_are_a_422_naming_them(kehu: Cluster) -> None:
    for params, field in (({"breaching_within": "soon"}, "query.breaching_within"),
                          ({"breaching_within": "P1M"}, "query.breaching_within"),
                          ({"status": "open,pending"}, "query.status"),
                          ({"status": ""}, "query.status"),
                          ({"category": "food"}, "query.category"),
                          ({"breached": "maybe"}, "query.breached"),
                          ({"order": "due", "cursor": str(uuid.uuid4())}, "query.cursor"),
                          ({"cursor": "x~" + str(uuid.uuid4())}, "query.cursor"),
                          ({"cursor": "not-a-cursor"}, "query.cursor"),
                          ({"as_of": "yesterday"}, "query.as_of")):
        response = await kehu.get("tickets", "/tickets", **params)
        assert _fields(response) == [field], params
    # Filters combine: mine and another assignee hold together for nobody.
    assert await _ids(kehu, role=_as_agent(kehu), mine="true", assignee="someone-else") == []


async def test_mine_for_an_api_token_is_what_is_assigned_to_its_name(kehu: Cluster) -> None:
    customer = await kehu.customer("集成")
    bot = (await _ticket(kehu, customer, "2026-11-16T09:00", assignee="test-admin"))["id"]
    await _ticket(kehu, customer, "2026-11-16T09:00", assignee=AGENT)
    assert await _ids(kehu, customer_id=customer, mine="true") == [bot]


async def test_the_sweeper_raises_every_clock_of_a_big_backlog_in_chunks(kehu: Cluster) -> None:
    from services.tickets.sla_sweeper import sweep_once

    customer = await kehu.customer("积压")
    ids = [(await _ticket(kehu, customer, "2026-11-02T09:00", priority="critical"))["id"] for _ in range(5)]
    conn = await connect(kehu.database_urls["tickets"])
    try:
        async with conn.transaction():
            raised = await sweep_once(conn, local("2026-11-02T10:00:30"), chunk=2)
        async with conn.transaction():
            again = await sweep_once(conn, local("2026-11-02T10:00:30"), chunk=2)
    finally:
        await conn.close()
    assert sorted(str(e.ticket_id) for e in raised if e.clock == "first_response" and str(e.customer_id) == customer
                  ) == sorted(ids)
    assert again == []
    await eventually(lambda: _all_sent(kehu))


async def _all_sent(cluster: Cluster) -> bool:
    return await _unsent(cluster) == 0


async def test_the_background_sweeper_raises_what_ran_out_by_the_wall_clock(kehu: Cluster) -> None:
    """Last in this file: it sweeps at now, which marks every clock of the tests above that ran out."""
    from types import SimpleNamespace

    from services.tickets.sla_sweeper import sweep_forever
    from shared.db import create_pool

    customer = await kehu.customer("后台")
    ticket = (await _ticket(kehu, customer, "2026-11-02T09:00", priority="critical"))["id"]
    woken: list[bool] = []

    async def outbox_written() -> None:
        woken.append(True)

    pool = await create_pool(kehu.database_urls["tickets"], size=2, acquire_timeout_s=10, command_timeout_s=30)
    runtime = SimpleNamespace(settings=SimpleNamespace(sla_sweep_s=0.05), pool=pool, outbox_written=outbox_written)
    task = asyncio.create_task(sweep_forever(SimpleNamespace(state=SimpleNamespace(runtime=runtime))))  # type: ignore[arg-type]
    try:
        async def marked() -> bool:
            rows = await kehu.sql("tickets", "SELECT first_response_breached_at FROM tickets WHERE id = $1::uuid", ticket)
            return rows[0][0] is not None

        await eventually(marked)
        await asyncio.sleep(0.3)  # a few more passes: nothing raised again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
    assert woken
    assert len(await _on_the_broker(kehu, ticket, 2)) == 2  # the first response's and the resolution's, once each
