"""Editing customers on the real database: ETag / If-Match (412, 428), field history, the event in
the outbox with the change, contact persons, competitors and their report, and ownership scope
for a salesperson signed in to the console (a person token)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kehu.embedded import EmbeddedBroker
from shared.auth import add_token
from shared.db import database_url
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings, identity_key_path, identity_public_key_path
from tests.conftest import Cluster, free_port

pytestmark = pytest.mark.database


class Contacts:
    """contacts alone, with an admin token and person tokens signed as the console signs them."""

    def __init__(self, cluster: Cluster, key: Ed25519PrivateKey) -> None:
        self.cluster = cluster
        self.key = key
        self.url = cluster.urls["contacts"]
        self.http = cluster.http

    def person(self, name: str, role: str = "sales", owner: str | None = None) -> dict[str, str]:
        claims = PersonClaims.issue(sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), name=name, role=role,
                                    owner=owner, now=time.time())
        return {"Authorization": f"Bearer {mint(claims, self.key)}"}

    def admin(self, **extra: str) -> dict[str, str]:
        return self.cluster.headers("admin", **extra)

    async def register(self, name: str = "王芳", **fields: Any) -> dict[str, Any]:
        response = await self.http.post(self.url + "/customers", json={"name": name, **fields}, headers=self.admin())
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await self.http.get(self.url + path, params=params, headers=headers or self.admin())

    async def patch(self, customer_id: str, body: Any, if_match: str | None = '"1"',
                    headers: dict[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or self.admin())
        if if_match is not None:
            sent["If-Match"] = if_match
        return await self.http.patch(f"{self.url}/customers/{customer_id}", json=body, headers=sent)

    async def sql(self, query: str, *args: Any) -> list[Any]:
        """Rows of the contacts database, JSON columns decoded."""
        conn = await asyncpg.connect(self.cluster.database_urls["contacts"])
        try:
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def events(self, customer_id: str, kind: str) -> list[dict[str, Any]]:
        rows = await self.sql("SELECT data FROM outbox WHERE subject = $1 AND event_type = $2 ORDER BY event_id",
                              customer_id, f"kehu.contacts.{kind}.v1")
        return [r["data"] for r in rows]


@pytest.fixture
async def contacts(pg_url: str, broker: EmbeddedBroker, tmp_path: Path,
                   fresh_databases: Callable[[str], str]) -> AsyncIterator[Contacts]:
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap,
                        tokens_file=tmp_path / "tokens.json", db_pool_size=4)
    generate_keypair(identity_key_path(settings), identity_public_key_path(settings))
    database = fresh_databases("contacts")
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"},
                      tokens={"admin": add_token(settings.tokens_file, name="admin", role="admin")},
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    await ensure_topics(broker.bootstrap, all_topics(), 1)
    try:
        await running.start("contacts", settings, database)
        yield Contacts(running, load_private_key(identity_key_path(settings)))
    finally:
        await running.close()


# --- PATCH, ETag, If-Match ------------------------------------------------------------------------


async def test_a_patch_with_the_etag_read_changes_the_record_keeps_history_and_publishes(contacts: Contacts) -> None:
    customer = await contacts.register("王芳", email="wang@example.cn", external_ref="C-1")
    cid = customer["id"]
    read = await contacts.get(f"/customers/{cid}")
    assert read.headers["ETag"] == '"1"'

    response = await contacts.patch(cid, {"name": "王芳芳", "tags": [" VIP ", "茶", "vip"], "notes": "喜欢绿茶",
                                          "email": "wang@example.cn"}, if_match=read.headers["ETag"])

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    body = response.json()
    assert (body["name"], body["tags"], body["notes"], body["revision"]) == ("王芳芳", ["VIP", "茶"], "喜欢绿茶", 2)
    assert (await contacts.get(f"/customers/{cid}")).headers["ETag"] == '"2"'
    rows = await contacts.sql("SELECT revision, field, old_value, new_value, changed_by FROM customer_changes "
                              "WHERE customer_id = $1 ORDER BY field", uuid.UUID(cid))
    assert [(r["revision"], r["field"], r["old_value"], r["new_value"], r["changed_by"]) for r in rows] == [
        (2, "name", "王芳", "王芳芳", "admin"), (2, "notes", None, "喜欢绿茶", "admin"), (2, "tags", [], ["VIP", "茶"], "admin")]
    [event] = await contacts.events(cid, "CustomerProfileUpdated")
    assert event["revision"] == 2 and event["changed_by"] == "admin"
    assert {c["field"]: (c["old"], c["new"]) for c in event["changes"]} == {
        "name": ("王芳", "王芳芳"), "notes": (None, "喜欢绿茶"), "tags": ([], ["VIP", "茶"])}
    # The search text follows the name: the new name's pinyin finds the customer.
    found = await contacts.get("/customers", q="wangfangfang")
    assert [c["id"] for c in found.json()["items"]] == [cid]


async def test_a_patch_without_if_match_is_428_and_a_stale_one_412_naming_the_current_revision(
    contacts: Contacts,
) -> None:
    cid = (await contacts.register("Acme", kind="company"))["id"]

    missing = await contacts.patch(cid, {"notes": "x"}, if_match=None)
    assert missing.status_code == 428, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    assert "If-Match" in missing.json()["detail"]

    first = await contacts.patch(cid, {"notes": "first"}, if_match='"1"')
    assert first.status_code == 200
    stale = await contacts.patch(cid, {"notes": "second"}, if_match='"1"')
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_revision"] == 2 and stale.headers["ETag"] == '"2"'
    assert "revision 2" in stale.json()["detail"]
    assert (await contacts.get(f"/customers/{cid}")).json()["notes"] == "first"

    malformed = await contacts.patch(cid, {"notes": "x"}, if_match="2")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "header.If-Match"


async def test_two_patches_on_one_read_at_once_one_wins_the_other_gets_412(contacts: Contacts) -> None:
    cid = (await contacts.register("Acme"))["id"]
    answers = await asyncio.gather(*(contacts.patch(cid, {"notes": f"writer {i}"}) for i in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412]
    assert len(await contacts.sql("SELECT 1 FROM customer_changes WHERE customer_id = $1", uuid.UUID(cid))) == 1


async def test_a_patch_that_changes_nothing_writes_nothing(contacts: Contacts) -> None:
    cid = (await contacts.register("王芳", email="wang@example.cn"))["id"]
    response = await contacts.patch(cid, {"name": " 王芳 ", "email": "WANG@example.cn", "tags": []})
    assert response.status_code == 200 and response.headers["ETag"] == '"1"'
    assert response.json()["revision"] == 1
    assert await contacts.sql("SELECT 1 FROM customer_changes") == []
    assert await contacts.events(cid, "CustomerProfileUpdated") == []


async def test_a_retried_patch_with_the_same_key_is_applied_once(contacts: Contacts) -> None:
    cid = (await contacts.register("Acme"))["id"]
    headers = contacts.admin(**{"Idempotency-Key": "edit-1"})
    first = await contacts.patch(cid, {"notes": "once"}, headers=headers)
    again = await contacts.patch(cid, {"notes": "once"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["revision"] == 2
    assert again.headers["ETag"] == first.headers["ETag"] == '"2"'
    assert len(await contacts.events(cid, "CustomerProfileUpdated")) == 1


async def test_a_changed_email_moves_the_email_identity_and_one_held_elsewhere_is_409(contacts: Contacts) -> None:
    cid = (await contacts.register("王芳", email="wang@example.cn"))["id"]
    other = (await contacts.register("李雷", email="li@example.cn"))["id"]

    def held(value: str) -> Any:
        return contacts.sql("SELECT customer_id FROM customer_identities WHERE kind = 'email' AND value = $1", value)

    moved = await contacts.patch(cid, {"email": "Fang@Example.cn"})
    assert moved.status_code == 200, moved.text
    assert await held("wang@example.cn") == []
    assert [r["customer_id"] for r in await held("fang@example.cn")] == [uuid.UUID(cid)]
    assert [(e["value"], e["unlinked_by"]) for e in await contacts.events(cid, "ChannelIdentityUnlinked")] == [
        ("wang@example.cn", "admin")]
    assert [(e["value"], e["linked_by"]) for e in await contacts.events(cid, "ChannelIdentityLinked")] == [
        ("fang@example.cn", "admin")]
    found = await contacts.get("/customers", identity="email:fang@example.cn")
    assert [c["id"] for c in found.json()["items"]] == [cid]

    taken = await contacts.patch(cid, {"email": "li@example.cn"}, if_match=moved.headers["ETag"])
    assert taken.status_code == 409, taken.text
    assert taken.json()["holder"] == {"id": other, "name": "李雷"}
    assert (await contacts.get(f"/customers/{cid}")).json()["email"] == "fang@example.cn"

    cleared = await contacts.patch(cid, {"email": None}, if_match=moved.headers["ETag"])
    assert cleared.status_code == 200, cleared.text
    assert await held("fang@example.cn") == []
    assert len(await contacts.events(cid, "ChannelIdentityUnlinked")) == 2


async def test_fields_a_patch_does_not_change_are_422_naming_each(contacts: Contacts) -> None:
    cid = (await contacts.register("Acme"))["id"]
    response = await contacts.patch(cid, {"notes": "x", "phone": "13800138000", "category": "lost", "colour": "red"})
    assert response.status_code == 422, response.text
    problems = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(problems) == {"phone", "category", "colour"}
    assert "identities" in problems["phone"] and "not a field a PATCH changes" in problems["colour"]
    assert (await contacts.get(f"/customers/{cid}")).json()["notes"] is None


async def test_bad_values_are_422_naming_the_field(contacts: Contacts) -> None:
    cid = (await contacts.register("Acme"))["id"]
    for body, field in [({"lead_source": "friend"}, "lead_source"), ({"name": None}, "name"),
                        ({"tags": ["a,b"]}, "tags[0]"), ({"email": "nope"}, "email"),
                        ({"referred_by": str(uuid.uuid4())}, "referred_by"), ({"tags": ["t"] * 21}, "tags")]:
        response = await contacts.patch(cid, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    registered = await contacts.http.post(contacts.url + "/customers", json={"name": "x", "lead_source": "friend"},
                                          headers=contacts.admin())
    assert registered.status_code == 422 and registered.json()["errors"][0]["field"] == "lead_source"


async def test_referred_by_must_not_be_self_nor_close_a_loop(contacts: Contacts) -> None:
    a, b, c = [(await contacts.register(n))["id"] for n in ("A", "B", "C")]
    assert (await contacts.patch(b, {"referred_by": a})).status_code == 200  # A referred B
    assert (await contacts.patch(c, {"referred_by": b})).status_code == 200  # B referred C

    self_referral = await contacts.patch(a, {"referred_by": a})
    assert self_referral.status_code == 409 and self_referral.json()["code"] == "referral_self"
    loop = await contacts.patch(a, {"referred_by": c})
    assert loop.status_code == 409, loop.text
    assert loop.json()["code"] == "referral_cycle" and loop.json()["chain"] == [c, b, a]
    assert (await contacts.get(f"/customers/{a}")).json()["referred_by"] is None


async def test_two_referrals_made_at_once_cannot_close_a_loop_together(contacts: Contacts) -> None:
    for _ in range(3):
        a, b = [(await contacts.register(n))["id"] for n in ("A", "B")]
        answers = await asyncio.gather(contacts.patch(a, {"referred_by": b}), contacts.patch(b, {"referred_by": a}))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        loop = next(r for r in answers if r.status_code == 409)
        assert loop.json()["code"] == "referral_cycle"


async def test_an_external_ref_of_another_customer_is_409_naming_it(contacts: Contacts) -> None:
    holder = (await contacts.register("A", external_ref="CARD-1"))["id"]
    cid = (await contacts.register("B"))["id"]
    response = await contacts.patch(cid, {"external_ref": "CARD-1"})
    assert response.status_code == 409 and response.json()["holder"] == holder


# --- history ------------------------------------------------------------------------------------


async def test_history_lists_each_change_newest_first_and_the_registration_last(contacts: Contacts) -> None:
    cid = (await contacts.register("王芳", lead_source="fair"))["id"]
    assert (await contacts.patch(cid, {"name": "王芳芳", "lead_source": "web"}, if_match='"1"')).status_code == 200
    wang = contacts.person("wang.li", role="manager")
    assert (await contacts.patch(cid, {"tags": ["VIP"]}, if_match='"2"', headers=wang)).status_code == 200

    history = (await contacts.get(f"/customers/{cid}/history")).json()
    entries = history["items"]
    assert [(e["revision"], e["kind"], e["changed_by"]) for e in entries] == [
        (3, "changed", "wang.li"), (2, "changed", "admin"), (1, "registered", None)]
    assert entries[1]["changes"] == [{"field": "name", "old": "王芳", "new": "王芳芳"},
                                     {"field": "lead_source", "old": "fair", "new": "web"}]
    assert {c["field"]: c["new"] for c in entries[2]["changes"]} == {"name": "王芳", "kind": "person",
                                                                    "lead_source": "fair"}
    assert history["next_cursor"] is None

    pages, cursor = [], None
    while True:
        page = (await contacts.get(f"/customers/{cid}/history", limit=1,
                                   **({"cursor": cursor} if cursor else {}))).json()
        pages += [e["revision"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 2, 1]


# --- contact persons ----------------------------------------------------------------------------


async def test_contact_persons_link_a_person_to_a_company_in_a_role_once(contacts: Contacts) -> None:
    company = (await contacts.register("Acme 贸易", kind="company"))["id"]
    person = (await contacts.register("李四", phone="13900000001"))["id"]
    path = f"{contacts.url}/customers/{company}/contacts"
    body = {"person_id": person, "role": "purchaser", "title": "采购经理"}

    added = await contacts.http.post(path, json=body, headers=contacts.admin())
    assert added.status_code == 201, added.text
    assert (added.json()["person_name"], added.json()["title"]) == ("李四", "采购经理")
    again = await contacts.http.post(path, json=body, headers=contacts.admin())
    assert again.status_code == 200
    payer = await contacts.http.post(path, json={"person_id": person, "role": "payer"}, headers=contacts.admin())
    assert payer.status_code == 201

    of_company = (await contacts.get(f"/customers/{company}/contacts")).json()
    assert of_company["kind"] == "company"
    assert [(i["person_name"], i["role"]) for i in of_company["items"]] == [("李四", "payer"), ("李四", "purchaser")]
    of_person = (await contacts.get(f"/customers/{person}/contacts")).json()
    assert of_person["kind"] == "person" and {i["company_name"] for i in of_person["items"]} == {"Acme 贸易"}
    added_events = await contacts.events(company, "ContactPersonAdded")
    assert [(e["person_id"], e["role"], e["title"]) for e in added_events] == [
        (person, "purchaser", "采购经理"), (person, "payer", None)]

    removed = await contacts.http.delete(f"{path}/{person}/payer", headers=contacts.admin())
    assert removed.status_code == 200 and removed.json() == {"removed": True}
    removed_again = await contacts.http.delete(f"{path}/{person}/payer", headers=contacts.admin())
    assert removed_again.json() == {"removed": False}
    assert [e["role"] for e in await contacts.events(company, "ContactPersonRemoved")] == ["payer"]


async def test_contact_persons_need_a_company_and_a_person(contacts: Contacts) -> None:
    company = (await contacts.register("Acme", kind="company"))["id"]
    other_company = (await contacts.register("Beta", kind="company"))["id"]
    person = (await contacts.register("李四"))["id"]

    def post(to: str, body: dict[str, Any]) -> Any:
        return contacts.http.post(f"{contacts.url}/customers/{to}/contacts", json=body, headers=contacts.admin())

    to_person = await post(person, {"person_id": person, "role": "user"})
    assert to_person.status_code == 409 and to_person.json()["code"] == "not_a_company"
    a_company = await post(company, {"person_id": other_company, "role": "user"})
    assert a_company.status_code == 409 and a_company.json()["code"] == "not_a_person"
    nobody = await post(company, {"person_id": str(uuid.uuid4()), "role": "user"})
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "person_id"
    bad_role = await post(company, {"person_id": person, "role": "boss"})
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"

    assert (await post(company, {"person_id": person, "role": "user"})).status_code == 201
    kind_change = await contacts.patch(company, {"kind": "person"})
    assert kind_change.status_code == 409 and kind_change.json()["code"] == "has_contact_persons"


# --- competitors --------------------------------------------------------------------------------


async def test_competitors_are_noted_in_history_and_reported_per_category(contacts: Contacts) -> None:
    a = (await contacts.register("A", category="current"))["id"]
    b = (await contacts.register("B", category="lost"))["id"]

    def put(cid: str, name: str, note: str) -> Any:
        return contacts.http.put(f"{contacts.url}/customers/{cid}/competitors/{name}", json={"note": note},
                                 headers=contacts.admin())

    first = await put(a, "茶叶世家", "cheaper")
    assert first.status_code == 201 and first.headers["ETag"] == '"2"'
    assert (await put(a, "茶叶世家", "cheaper")).status_code == 200  # the same note: no change
    assert (await put(a, " Acme  Tea ", "")).status_code == 201
    assert (await put(b, "茶叶世家", "closer to home")).status_code == 201

    listed = (await contacts.get(f"/customers/{a}/competitors")).json()["items"]
    assert [(c["competitor"], c["note"]) for c in listed] == [("Acme Tea", ""), ("茶叶世家", "cheaper")]
    report = (await contacts.get("/competitors")).json()["items"]
    assert [(i["competitor"], i["customers"]) for i in report] == [("茶叶世家", 2), ("Acme Tea", 1)]
    assert report[0]["by_category"] == {"potential": 0, "prospective": 0, "current": 1, "lost": 1}

    gone = await contacts.http.delete(f"{contacts.url}/customers/{a}/competitors/Acme Tea", headers=contacts.admin())
    assert gone.json() == {"removed": True}
    history = (await contacts.get(f"/customers/{a}/history")).json()["items"]
    assert [(e["revision"], e["changes"][0]["field"]) for e in history[:3]] == [
        (4, "competitors"), (3, "competitors"), (2, "competitors")]
    assert history[0]["changes"][0]["old"] == {"Acme Tea": "", "茶叶世家": "cheaper"}
    assert history[0]["changes"][0]["new"] == {"茶叶世家": "cheaper"}
    assert (await contacts.get(f"/customers/{a}")).json()["revision"] == 4
    assert len(await contacts.events(a, "CustomerProfileUpdated")) == 3


async def test_a_competitor_named_with_a_slash_is_noted_and_forgotten(contacts: Contacts) -> None:
    cid = (await contacts.register("A"))["id"]
    url = f"{contacts.url}/customers/{cid}/competitors/{quote('茶/酒 行', safe='')}"
    noted = await contacts.http.put(url, json={"note": "next door"}, headers=contacts.admin())
    assert noted.status_code == 201, noted.text
    listed = (await contacts.get(f"/customers/{cid}/competitors")).json()["items"]
    assert [(c["competitor"], c["note"]) for c in listed] == [("茶/酒 行", "next door")]
    gone = await contacts.http.delete(url, headers=contacts.admin())
    assert gone.status_code == 200 and gone.json() == {"removed": True}
    assert (await contacts.get(f"/customers/{cid}/competitors")).json()["items"] == []


# --- ownership scope ----------------------------------------------------------------------------


async def test_a_salesperson_changes_their_own_customers_and_the_pool_not_another_owners(contacts: Contacts) -> None:
    mine = (await contacts.register("Mine", owner="wang"))["id"]
    pool = (await contacts.register("Pool"))["id"]
    theirs = (await contacts.register("Theirs", owner="li", kind="company"))["id"]
    wang = contacts.person("wang.fang", owner="wang")

    assert (await contacts.patch(mine, {"notes": "ok"}, headers=wang)).status_code == 200
    assert (await contacts.patch(pool, {"notes": "ok"}, headers=wang)).status_code == 200
    refused = await contacts.patch(theirs, {"notes": "no"}, headers=wang)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "out_of_scope" and refused.json()["owner"] == "li"
    assert "li" in refused.json()["detail"]
    assert (await contacts.get(f"/customers/{theirs}/history", headers=wang)).status_code == 403
    assert (await contacts.get(f"/customers/{theirs}/competitors", headers=wang)).status_code == 403
    linked = await contacts.http.post(f"{contacts.url}/customers/{theirs}/contacts",
                                      json={"person_id": mine, "role": "user"}, headers=wang)
    assert linked.status_code == 403
    noted = await contacts.http.put(f"{contacts.url}/customers/{theirs}/competitors/X", json={"note": ""},
                                    headers=wang)
    assert noted.status_code == 403

    await contacts.http.put(f"{contacts.url}/customers/{theirs}/competitors/X", json={"note": ""},
                            headers=contacts.admin())
    await contacts.http.put(f"{contacts.url}/customers/{mine}/competitors/X", json={"note": ""}, headers=wang)
    assert [i["customers"] for i in (await contacts.get("/competitors", headers=wang)).json()["items"]] == [1]
    assert [i["customers"] for i in (await contacts.get("/competitors")).json()["items"]] == [2]
    rows = await contacts.sql("SELECT changed_by FROM customer_changes WHERE customer_id = $1", uuid.UUID(mine))
    assert {r["changed_by"] for r in rows} == {"wang.fang"}


async def test_service_and_readonly_staff_cannot_edit(contacts: Contacts) -> None:
    cid = (await contacts.register("Acme"))["id"]
    for role in ("service", "readonly"):
        response = await contacts.patch(cid, {"notes": "x"}, headers=contacts.person(f"{role}-1", role=role))
        assert response.status_code == 403 and response.json()["missing_permission"] == "customers:write"
