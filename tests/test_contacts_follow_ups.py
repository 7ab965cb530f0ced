"""Follow-ups on the real database: a logged follow-up is a row, moves the customer's columns and
puts a FollowUpLogged in the outbox in one transaction; the due list in the shop's days; scopes
(a salesperson's own customers only) and retries with the same Idempotency-Key."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kehu.embedded import EmbeddedBroker
from shared.auth import add_token
from shared.db import database_url
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings
from tests.conftest import Cluster, free_port

pytestmark = pytest.mark.database


class Contacts:
    """contacts alone, with person tokens for a salesperson (wang), another (li) and a manager."""

    def __init__(self, cluster: Cluster, key: Ed25519PrivateKey) -> None:
        self.cluster = cluster
        self.key = key
        self.url = cluster.urls["contacts"]

    def token(self, name: str) -> str:
        role, owner = {"wang": ("sales", "wang"), "li": ("sales", "li"), "mgr": ("manager", None)}[name]
        claims = PersonClaims.issue(sub=f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}", name=name,
                                    role=role, owner=owner, now=time.time())
        return mint(claims, self.key)

    def headers(self, who: str, key: str | None = None) -> dict[str, str]:
        token = self.cluster.tokens["admin"] if who == "admin" else self.token(who)
        return {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}

    async def customer(self, name: str, owner: str | None) -> str:
        response = await self.cluster.http.post(self.url + "/customers", json={"name": name, "owner": owner},
                                                headers=self.headers("admin"))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def log(self, customer_id: str, body: dict[str, Any], who: str = "wang",
                  key: str | None = None) -> httpx.Response:
        return await self.cluster.http.post(f"{self.url}/customers/{customer_id}/follow-ups", json=body,
                                            headers=self.headers(who, key))

    async def get(self, path: str, who: str = "wang", **params: Any) -> httpx.Response:
        return await self.cluster.http.get(self.url + path, params=params, headers=self.headers(who))


@pytest.fixture
async def contacts(
    pg_url: str, broker: EmbeddedBroker, tmp_path: Path, fresh_databases: Callable[[str], str]
) -> AsyncIterator[Contacts]:
    identity = tmp_path / "identity"
    generate_keypair(identity / "console-key.pem", identity / "console-key.pub.pem")
    tokens = tmp_path / "tokens.json"
    database = fresh_databases("contacts")
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"},
                      tokens={"admin": add_token(tokens, name="admin", role="admin")},
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap, tokens_file=tokens,
                        db_pool_size=2, timezone="Asia/Shanghai")
    await ensure_topics(broker.bootstrap, all_topics(), 1)
    try:
        await running.start("contacts", settings, database)
        yield Contacts(running, load_private_key(identity / "console-key.pem"))
    finally:
        await running.close()


async def test_a_follow_up_is_a_row_moves_the_customer_and_is_an_event(contacts: Contacts) -> None:
    shop = await contacts.customer("王芳茶庄", owner="wang")
    logged = await contacts.log(shop, {"occurred_at": "2026-03-01T10:00:00+08:00", "channel": "phone",
                                       "note": "想要新茶", "outcome": "order_expected", "next_due": "2026-03-03"})
    assert logged.status_code == 201, logged.text
    follow_up = logged.json()
    assert follow_up["by"] == "wang" and follow_up["next_due"] == "2026-03-03"
    assert logged.headers["Location"] == f"/customers/{shop}/follow-ups/{follow_up['id']}"

    rows = await contacts.cluster.sql("contacts", "SELECT by_whom, channel, note, outcome, next_due FROM follow_ups "
                                      "WHERE customer_id = $1", uuid.UUID(shop))
    assert [dict(r) for r in rows] == [{"by_whom": "wang", "channel": "phone", "note": "想要新茶",
                                        "outcome": "order_expected", "next_due": date(2026, 3, 3)}]
    customer = (await contacts.get(f"/customers/{shop}", who="admin")).json()
    assert customer["last_follow_up_at"].startswith("2026-03-01T02:00:00")
    assert customer["next_follow_up_due"] == "2026-03-03"
    assert customer["revision"] == 1  # a follow-up is not an edit of the record

    events = await contacts.cluster.sql("contacts", "SELECT event_type, subject, data FROM outbox "
                                        "WHERE event_type LIKE '%FollowUpLogged%'")
    assert len(events) == 1
    assert events[0]["event_type"] == "kehu.contacts.FollowUpLogged.v1" and events[0]["subject"] == shop
    data = json.loads(events[0]["data"]) if isinstance(events[0]["data"], str) else events[0]["data"]
    assert data["follow_up_id"] == follow_up["id"] and data["by"] == "wang" and data["next_due"] == "2026-03-03"

    # A later follow-up without a next due day: nothing more planned, the due date is cleared.
    second = await contacts.log(shop, {"occurred_at": "2026-03-03T09:00:00+08:00", "channel": "visit",
                                       "outcome": "reached"})
    assert second.status_code == 201, second.text
    customer = (await contacts.get(f"/customers/{shop}", who="admin")).json()
    assert customer["last_follow_up_at"].startswith("2026-03-03T01:00:00") and customer["next_follow_up_due"] is None

    listed = (await contacts.get(f"/customers/{shop}/follow-ups", limit=1)).json()
    assert [f["channel"] for f in listed["items"]] == ["visit"]  # newest first
    older = (await contacts.get(f"/customers/{shop}/follow-ups", limit=1, cursor=listed["next_cursor"])).json()
    assert [f["channel"] for f in older["items"]] == ["phone"]


async def test_bad_follow_ups_are_422s_naming_the_field(contacts: Contacts) -> None:
    shop = await contacts.customer("张伟", owner="wang")
    early = await contacts.log(shop, {"occurred_at": "2026-03-01T10:00:00+08:00", "channel": "phone",
                                      "outcome": "reached", "next_due": "2026-02-28"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "body.next_due"
    future = await contacts.log(shop, {"occurred_at": "2999-01-01T00:00:00+08:00", "channel": "phone",
                                       "outcome": "reached"})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "body.occurred_at"
    outcome = await contacts.log(shop, {"channel": "phone", "outcome": "maybe"})
    assert outcome.status_code == 422 and outcome.json()["errors"][0]["field"] == "outcome"
    missing = await contacts.log(str(uuid.uuid4()), {"channel": "phone", "outcome": "reached"})
    assert missing.status_code == 404
    assert not await contacts.cluster.sql("contacts", "SELECT 1 FROM follow_ups")


async def test_a_salesperson_logs_only_on_their_customers_and_only_as_themselves(contacts: Contacts) -> None:
    lis = await contacts.customer("李娜", owner="li")
    pool = await contacts.customer("公海客户", owner=None)
    refused = await contacts.log(lis, {"channel": "phone", "outcome": "reached"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "out_of_scope" and "li" in refused.json()["detail"]
    listing = await contacts.get(f"/customers/{lis}/follow-ups")
    assert listing.status_code == 403

    as_li = await contacts.log(pool, {"channel": "phone", "outcome": "reached", "by": "li"})
    assert as_li.status_code == 403 and "only as themselves" in as_li.json()["detail"]
    in_pool = await contacts.log(pool, {"channel": "phone", "outcome": "reached"})
    assert in_pool.status_code == 201  # the pool is everyone's

    by_manager = await contacts.log(lis, {"channel": "phone", "outcome": "reached", "by": "li"}, who="mgr")
    assert by_manager.status_code == 201 and by_manager.json()["by"] == "li"
    rows = await contacts.cluster.sql("contacts", "SELECT customer_id FROM follow_ups ORDER BY recorded_at")
    assert [str(r["customer_id"]) for r in rows] == [pool, lis]


async def test_a_retry_with_the_same_idempotency_key_logs_once(contacts: Contacts) -> None:
    shop = await contacts.customer("曾小明", owner="wang")
    body = {"channel": "wechat", "outcome": "interested", "note": "再联系", "next_due": "2999-01-01"}
    first = await contacts.log(shop, body, key="form-7")
    again = await contacts.log(shop, body, key="form-7")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    assert len(await contacts.cluster.sql("contacts", "SELECT 1 FROM follow_ups")) == 1
    assert len(await contacts.cluster.sql("contacts", "SELECT 1 FROM outbox WHERE event_type LIKE '%FollowUp%'")) == 1


async def test_the_due_list_is_the_owners_in_the_shops_days_most_overdue_first(contacts: Contacts) -> None:
    plan = {"张伟": ("wang", "2026-03-01"), "王芳": ("wang", "2026-03-03"), "曾小明": ("wang", "2026-03-04"),
            "李娜": ("li", "2026-03-02")}
    ids = {}
    for name, (owner, due) in plan.items():
        ids[name] = await contacts.customer(name, owner=owner)
        response = await contacts.log(ids[name], {"occurred_at": "2026-02-27T10:00:00+08:00", "channel": "phone",
                                                  "note": f"{name} 的备注", "outcome": "reached", "next_due": due},
                                      who="mgr")
        assert response.status_code == 201, response.text

    # 16:30 UTC on 2 March is 00:30 on 3 March in Shanghai: 王芳 is due today, 张伟 two days late.
    due = await contacts.get("/follow-ups/due", as_of="2026-03-02T16:30:00Z")
    assert due.status_code == 200, due.text
    page = due.json()
    assert page["as_of_day"] == "2026-03-03" and page["owner"] == "wang"
    assert [(i["name"], i["days_overdue"]) for i in page["items"]] == [("张伟", 2), ("王芳", 0)]
    assert page["items"][0]["last_follow_up"] == {"by": "mgr", "channel": "phone", "outcome": "reached",
                                                  "note": "张伟 的备注"}
    # Half an hour earlier it is still 2 March in the shop: 王芳 is not due yet.
    earlier = (await contacts.get("/follow-ups/due", as_of="2026-03-02T15:30:00Z")).json()
    assert [i["name"] for i in earlier["items"]] == ["张伟"]
    ahead = (await contacts.get("/follow-ups/due", as_of="2026-03-03", within_days=1)).json()
    assert [(i["name"], i["days_overdue"]) for i in ahead["items"]] == [("张伟", 2), ("王芳", 0), ("曾小明", -1)]
    first = (await contacts.get("/follow-ups/due", as_of="2026-03-03", limit=1)).json()
    rest = (await contacts.get("/follow-ups/due", as_of="2026-03-03", limit=1, cursor=first["next_cursor"])).json()
    assert [i["name"] for i in first["items"] + rest["items"]] == ["张伟", "王芳"]

    others = await contacts.get("/follow-ups/due", owner="li", as_of="2026-03-03")
    assert others.status_code == 403 and others.json()["code"] == "out_of_scope" and "li" in others.json()["detail"]
    for_li = (await contacts.get("/follow-ups/due", who="mgr", owner="li", as_of="2026-03-03")).json()
    assert [i["name"] for i in for_li["items"]] == ["李娜"]
    everyone = (await contacts.get("/follow-ups/due", who="mgr", as_of="2026-03-03")).json()
    assert [i["name"] for i in everyone["items"]] == ["张伟", "李娜", "王芳"] and everyone["owner"] is None

    bad = await contacts.get("/follow-ups/due", as_of="2026-02-30")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.as_of"
