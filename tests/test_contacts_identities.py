"""Channel identities on the real database: link (idempotent), one holder per identity (409 naming
it), unlink with the primary phone following, resolve for any reader, resolve-and-register once
under concurrency, and registrations that link their phone and e-mail."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kehu.embedded import EmbeddedBroker
from shared.db import database_url
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from shared.settings import Settings
from tests.conftest import Cluster, free_port

pytestmark = pytest.mark.database


@pytest.fixture
async def contacts(pg_url: str, broker: EmbeddedBroker, tokens: dict[str, str], tmp_path: Path,
                   fresh_databases: Callable[[str], str]) -> AsyncIterator[Cluster]:
    identity = tmp_path / "identity"  # the console's key pair, where `kehu up` makes it: person tokens work
    generate_keypair(identity / "console-key.pem", identity / "console-key.pub.pem")
    database = fresh_databases("contacts")
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"}, tokens=tokens,
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap,
                        tokens_file=tmp_path / "tokens.json", service_token=tokens["readonly"], db_pool_size=6)
    await running.start("contacts", settings, database)
    try:
        yield running
    finally:
        await running.close()


async def _events(contacts: Cluster, event_type: str) -> list[dict[str, Any]]:
    rows = await contacts.sql("contacts", "SELECT data FROM outbox WHERE event_type LIKE $1 ORDER BY occurred_at",
                              f"%{event_type}%")
    return [json.loads(r["data"]) if isinstance(r["data"], str | bytes) else dict(r["data"]) for r in rows]


async def _link(contacts: Cluster, customer_id: str, body: dict[str, Any], **headers: str) -> Any:
    return await contacts.post("contacts", f"/customers/{customer_id}/identities", body, **headers)


async def test_an_identity_is_linked_once_and_a_retry_is_harmless(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann")
    first = await _link(contacts, ann, {"kind": "membership_card", "value": "vip 0001"})
    assert first.status_code == 201, first.text
    assert (first.json()["kind"], first.json()["value"], first.json()["linked_by"]) == (
        "membership_card", "VIP0001", "test-admin")
    again = await _link(contacts, ann, {"kind": "membership_card", "value": "VIP0001"})
    assert again.status_code == 200, again.text
    listed = await contacts.get("contacts", f"/customers/{ann}/identities")
    assert [(i["kind"], i["value"]) for i in listed.json()["items"]] == [("membership_card", "VIP0001")]
    linked = await _events(contacts, "ChannelIdentityLinked")
    assert [(e["customer_id"], e["value"]) for e in linked] == [(ann, "VIP0001")]


async def test_an_identity_of_another_customer_is_a_409_naming_the_holder(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann", phone="138 0013 8000")
    bob = await contacts.customer("Bob")
    refused = await _link(contacts, bob, {"kind": "phone", "value": "+86 138-0013-8000"})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["holder"] == {"id": ann, "name": "Ann"}
    assert problem["code"] == "identity_taken" and "Ann" in problem["detail"]


async def test_a_malformed_identity_is_a_422_naming_the_field(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann")
    bad_phone = await _link(contacts, ann, {"kind": "phone", "value": "12345"})
    assert bad_phone.status_code == 422
    assert [(e["field"], e["code"]) for e in bad_phone.json()["errors"]] == [("value", "phone_invalid")]
    no_label = await _link(contacts, ann, {"kind": "other", "value": "qq-12345"})
    assert [(e["field"], e["code"]) for e in no_label.json()["errors"]] == [("label", "label_missing")]


async def test_the_first_phone_becomes_primary_and_unlinking_it_promotes_the_next(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann")
    for number in ("13800138000", "13900000001"):
        assert (await _link(contacts, ann, {"kind": "phone", "value": number})).status_code == 201
    customer = (await contacts.get("contacts", f"/customers/{ann}")).json()
    assert customer["phone"] == "+8613800138000"
    assert customer["revision"] == 2  # the primary phone changed once
    found = await contacts.get("contacts", "/customers", q="8000")
    assert [c["id"] for c in found.json()["items"]] == [ann]  # the search text follows the primary phone
    removed = await contacts.http.delete(f"{contacts.urls['contacts']}/customers/{ann}/identities/phone/138 0013 8000",
                                         headers=contacts.headers())
    assert removed.status_code == 200, removed.text
    assert (await contacts.get("contacts", f"/customers/{ann}")).json()["phone"] == "+8613900000001"
    gone = await contacts.http.delete(f"{contacts.urls['contacts']}/customers/{ann}/identities/phone/13800138000",
                                      headers=contacts.headers())
    assert gone.status_code == 404
    unlinked = await _events(contacts, "ChannelIdentityUnlinked")
    assert [(e["kind"], e["value"]) for e in unlinked] == [("phone", "+8613800138000")]


async def test_resolve_answers_any_reader_with_only_id_name_owner_category(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann", email="Ann@Example.com", owner="wang")
    resolved = await contacts.post("contacts", "/identities/resolve", {"kind": "email", "value": " ann@example.COM"},
                                   role="readonly")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json() == {"customer_id": ann, "name": "Ann", "owner": "wang", "category": "potential",
                               "registered": False}
    unknown = await contacts.post("contacts", "/identities/resolve", {"kind": "phone", "value": "13900000009"})
    assert unknown.status_code == 404
    may_not = await contacts.post("contacts", "/identities/resolve",
                                  {"kind": "phone", "value": "13900000009", "register": True}, role="readonly")
    assert may_not.status_code == 403


async def test_concurrent_resolves_with_register_create_one_customer(contacts: Cluster) -> None:
    body = {"kind": "wechat_openid", "value": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "register": {"name": "微信用户"}}
    answers = await asyncio.gather(*(contacts.post("contacts", "/identities/resolve", body) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["customer_id"] for a in answers}) == 1
    rows = await contacts.sql("contacts", "SELECT count(*) AS n FROM customers WHERE name = '微信用户'")
    assert rows[0]["n"] == 1
    registered = await _events(contacts, "CustomerRegistered")
    linked = await _events(contacts, "ChannelIdentityLinked")
    assert len(registered) == 1 and [e["value"] for e in linked] == ["oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"]


async def test_a_retried_register_with_its_key_replays_the_first_answer(contacts: Cluster) -> None:
    body = {"kind": "membership_card", "value": "VIP-77", "register": True}
    first = await contacts.post("contacts", "/identities/resolve", body, **{"Idempotency-Key": "till-1-0001"})
    again = await contacts.post("contacts", "/identities/resolve", body, **{"Idempotency-Key": "till-1-0001"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["customer_id"] == again.json()["customer_id"]
    assert first.json()["name"] == "VIP-77"


async def test_registering_a_held_phone_is_a_409_and_registrations_link_phone_and_email(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann", phone="13800138000", email="ann@example.com")
    listed = await contacts.get("contacts", f"/customers/{ann}/identities")
    assert {(i["kind"], i["value"]) for i in listed.json()["items"]} == {
        ("phone", "+8613800138000"), ("email", "ann@example.com")}
    twin = await contacts.post("contacts", "/customers", {"name": "Ann again", "phone": "+86 138 0013 8000"})
    assert twin.status_code == 409
    assert twin.json()["holder"] == {"id": ann, "name": "Ann"}
    rows = await contacts.sql("contacts", "SELECT count(*) AS n FROM customers")
    assert rows[0]["n"] == 1  # nothing of the refused registration stays


def _salesperson(tmp_path: Path, owner: str) -> dict[str, str]:
    """Headers of a salesperson signed in to the console (a person token), looking after ``owner``'s customers."""
    key = load_private_key(tmp_path / "identity" / "console-key.pem")
    claims = PersonClaims.issue(sub=str(uuid.uuid4()), name=f"{owner}.sales", role="sales", owner=owner, now=time.time())
    return {"Authorization": f"Bearer {mint(claims, key)}"}


async def test_a_salesperson_reaches_only_their_own_customers_identities_but_resolves_anyone(
    contacts: Cluster, tmp_path: Path,
) -> None:
    theirs = await contacts.customer("Wang's customer", owner="wang", phone="13800138000")
    mine = await contacts.customer("Li's customer", owner="li")
    li = _salesperson(tmp_path, "li")
    base = contacts.urls["contacts"]
    read = await contacts.http.get(f"{base}/customers/{theirs}/identities", headers=li)
    assert read.status_code == 403 and read.json()["code"] == "out_of_scope" and read.json()["owner"] == "wang"
    write = await contacts.http.post(f"{base}/customers/{theirs}/identities", headers=li,
                                     json={"kind": "membership_card", "value": "VIP-9"})
    assert write.status_code == 403
    own = await contacts.http.post(f"{base}/customers/{mine}/identities", headers=li,
                                   json={"kind": "membership_card", "value": "VIP-9"})
    assert own.status_code == 201 and own.json()["linked_by"] == "li.sales"
    # A till must find anyone: resolve answers across owners, saying only who and whose.
    resolved = await contacts.http.post(f"{base}/identities/resolve", headers=li,
                                        json={"kind": "phone", "value": "138 0013 8000"})
    assert resolved.status_code == 200
    assert resolved.json() == {"customer_id": theirs, "name": "Wang's customer", "owner": "wang",
                               "category": "potential", "registered": False}
    missing = await contacts.get("contacts", "/customers/0190f0c0-0000-7000-8000-000000000009/identities")
    assert missing.status_code == 404


async def test_a_batch_links_the_free_phones_and_leaves_held_ones_with_their_holder(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann", phone="13800138000")
    batch = await contacts.post("contacts", "/customers/batch", {"customers": [
        {"name": "Ann twin", "phone": "+86 138 0013 8000", "external_ref": "IMP-1"},
        {"name": "Cai", "phone": "13900000001", "email": "Cai@Example.com", "external_ref": "IMP-2"}]})
    assert batch.status_code == 200, batch.text
    twin, cai = (item["id"] for item in batch.json()["items"])
    held = await contacts.post("contacts", "/identities/resolve", {"kind": "phone", "value": "13800138000"})
    assert held.json()["customer_id"] == ann
    linked = await contacts.get("contacts", f"/customers/{cai}/identities")
    assert {(i["kind"], i["value"]) for i in linked.json()["items"]} == {
        ("phone", "+8613900000001"), ("email", "cai@example.com")}
    assert (await contacts.get("contacts", f"/customers/{twin}/identities")).json()["items"] == []


async def test_search_finds_by_any_identity_and_filters_by_identity_source_and_tag(contacts: Cluster) -> None:
    ann = await contacts.customer("王芳", phone="13800138000", lead_source="fair")
    bob = await contacts.customer("Bob", email="bob@shop.example", lead_source="web")
    await _link(contacts, ann, {"kind": "membership_card", "value": "VIP 0042"})
    await _link(contacts, bob, {"kind": "wechat_openid", "value": "oBobWechat_0001"})
    await contacts.sql("contacts", "UPDATE customers SET tags = '{vip}' WHERE id = $1::uuid", ann)

    async def found(**params: Any) -> list[str]:
        response = await contacts.get("contacts", "/customers", **params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await found(q="vip0042") == [ann]
    assert await found(q="0042") == [ann]
    assert await found(q="obobwechat") == [bob]
    assert await found(q="shop.example") == [bob]
    assert await found(q="wangf") == [ann]
    assert await found(identity="phone:138 0013 8000") == [ann]
    assert await found(identity="membership_card:vip0042") == [ann]
    assert await found(identity="membership_card:VIP9999") == []
    assert await found(source="web") == [bob]
    assert await found(tag="vip") == [ann]
    assert await found(q="b", source="fair") == []
    refused = await contacts.get("contacts", "/customers", identity="13800138000")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.identity"


async def test_an_identity_in_any_script_is_linked_and_its_location_is_escaped(contacts: Cluster) -> None:
    ann = await contacts.customer("Ann")
    linked = await _link(contacts, ann, {"kind": "other", "value": "抖音 张伟/88", "label": "抖音"})
    assert linked.status_code == 201, linked.text
    assert linked.headers["Location"].endswith("/identities/other/%E6%8A%96%E9%9F%B3%20%E5%BC%A0%E4%BC%9F%2F88")
    removed = await contacts.http.delete(contacts.urls["contacts"] + linked.headers["Location"], headers=contacts.headers())
    assert removed.status_code == 200, removed.text
    assert (await contacts.get("contacts", f"/customers/{ann}/identities")).json()["items"] == []
