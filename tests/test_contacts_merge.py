"""Duplicates and merges on the real database: the warning on registration, the full scan, a merge
that moves everything to the survivor, and an undo that restores both records exactly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kehu.embedded import EmbeddedBroker
from shared.db import database_url
from shared.settings import Settings
from tests.conftest import Cluster, free_port

pytestmark = pytest.mark.database


@pytest.fixture
async def contacts(pg_url: str, broker: EmbeddedBroker, tokens: dict[str, str], tmp_path: Path,
                   fresh_databases: Callable[[str], str]) -> AsyncIterator[Cluster]:
    database = fresh_databases("contacts")
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"}, tokens=tokens,
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap,
                        tokens_file=tmp_path / "tokens.json", service_token=tokens["readonly"], db_pool_size=4)
    await running.start("contacts", settings, database)
    try:
        yield running
    finally:
        await running.close()


async def _register(contacts: Cluster, **fields: Any) -> dict[str, Any]:
    response = await contacts.post("contacts", "/customers", fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _import(contacts: Cluster, **fields: Any) -> dict[str, Any]:
    """Registered as an import does (a batch): a phone or e-mail another customer holds stays with its
    holder instead of refusing the registration, so same-identity duplicates exist (a single POST
    with a held identity is a 409 naming the holder)."""
    response = await contacts.post("contacts", "/customers/batch", {"customers": [fields]})
    assert response.status_code == 200, response.text
    return {"id": response.json()["items"][0]["id"]}


# Everything a merge may touch, as rows: compared whole before the merge and after its undo.
SNAPSHOT_QUERIES = {
    "customers": "SELECT to_jsonb(c) - 'search' - 'name_key' - 'pinyin_key' - 'phone_prefix' - 'dup_source' AS r "
                 "FROM customers c ORDER BY id",
    "identities": "SELECT to_jsonb(i) AS r FROM customer_identities i ORDER BY kind, value",
    "contact_persons": "SELECT to_jsonb(p) AS r FROM contact_persons p ORDER BY company_id, person_id, role",
    "follow_ups": "SELECT to_jsonb(f) AS r FROM follow_ups f ORDER BY id",
    "competitors": "SELECT to_jsonb(k) AS r FROM customer_competitors k ORDER BY customer_id, competitor",
    "changes": "SELECT to_jsonb(h) AS r FROM customer_changes h ORDER BY customer_id, revision, field",
}


async def _snapshot(contacts: Cluster) -> dict[str, list[str]]:
    return {name: [row["r"] for row in await contacts.sql("contacts", query)]
            for name, query in SNAPSHOT_QUERIES.items()}


async def test_registering_a_likely_duplicate_succeeds_and_names_it_with_reasons(contacts: Cluster) -> None:
    first = await _register(contacts, name="上海星辰贸易有限公司", kind="company", phone="13800138000")
    alone = await _register(contacts, name="Someone else", phone="13900139000")
    assert alone["duplicates"] == []

    second = await _register(contacts, name="上海星辰贸易公司", kind="company", phone="138 0013 8999")

    assert [d["customer_id"] for d in second["duplicates"]] == [first["id"]]
    assert [r["code"] for r in second["duplicates"][0]["reasons"]] == ["same_name", "same_phone_prefix"]
    # the same phone is not a warning but a refusal naming who holds it (an identity has one holder)
    same_phone = await contacts.post("contacts", "/customers", {"name": "Xingchen", "phone": "+86 138 0013 8000"})
    assert same_phone.status_code == 409, same_phone.text
    assert same_phone.json()["holder"]["id"] == first["id"]


async def test_the_scan_finds_pairs_best_first_and_leaves_out_merged_customers(contacts: Cluster) -> None:
    a = await _register(contacts, name="王芳", phone="13800138000", email="fang@example.cn")
    b = await _register(contacts, name="汪芳", phone="13800138001")  # homophone, same phone prefix
    c = await _import(contacts, name="W. Fang", email="FANG@example.cn")  # same email
    await _register(contacts, name="李娜", phone="13700137000")

    response = await contacts.get("contacts", "/duplicates", role="manager", rescan="true")
    assert response.status_code == 200, response.text
    page = response.json()
    pairs = [({m["id"] for m in p["customers"]}, p["score"]) for p in page["items"]]
    assert pairs[0][0] == {a["id"], c["id"]}  # the email outscores the homophone with a phone prefix
    assert {a["id"], b["id"]} in [p for p, _ in pairs]
    assert page["scan"]["customers"] == 4
    assert await contacts.get("contacts", "/duplicates", role="sales") is not None
    assert (await contacts.get("contacts", "/duplicates", role="sales")).status_code == 403

    merged = await contacts.post("contacts", f"/customers/{c['id']}/merge-into/{a['id']}", {}, role="manager")
    assert merged.status_code == 201, merged.text
    again = (await contacts.get("contacts", "/duplicates", role="manager")).json()
    assert all(c["id"] not in {m["id"] for m in p["customers"]} for p in again["items"])


async def test_a_merge_moves_everything_and_its_undo_restores_both_exactly(contacts: Cluster) -> None:
    survivor = await _register(contacts, name="Acme Trading", kind="company", phone="13800138000")
    merged = await _register(contacts, name="ACME Trading Co., Ltd.", kind="company", email="buy@acme.cn",
                             external_ref="ERP-9", lead_source="fair")
    person = await _register(contacts, name="Li Lei", phone="13900139000")
    referred = await _register(contacts, name="Han Meimei")
    m_id, s_id = uuid.UUID(merged["id"]), uuid.UUID(survivor["id"])
    now = datetime.now(UTC)
    # Rows of the other parts of contacts, written as those parts would.
    # (The email may be an identity already: registration links it once the identities part is in.)
    await contacts.sql("contacts", "INSERT INTO customer_identities (kind, value, customer_id, linked_by) "
                       "VALUES ('wechat_openid', 'o-acme', $1, 't'), ('email', 'buy@acme.cn', $1, 't') "
                       "ON CONFLICT DO NOTHING", m_id)
    await contacts.sql("contacts", "INSERT INTO contact_persons (company_id, person_id, role, added_by) "
                       "VALUES ($1, $2, 'purchaser', 't'), ($3, $2, 'purchaser', 't'), ($1, $2, 'payer', 't')",
                       m_id, uuid.UUID(person["id"]), s_id)
    await contacts.sql("contacts", "INSERT INTO follow_ups (id, customer_id, by_whom, occurred_at, channel, outcome) "
                       "VALUES ($1, $2, 'amy', $3, 'phone', 'interested')", uuid.uuid4(), m_id, now)
    await contacts.sql("contacts", "UPDATE customers SET referred_by = $1 WHERE id = $2", m_id,
                       uuid.UUID(referred["id"]))
    await contacts.sql("contacts", "INSERT INTO customer_competitors (customer_id, competitor, noted_by) "
                       "VALUES ($1, 'Globex', 't'), ($2, 'Globex', 't'), ($1, 'Initech', 't')", m_id, s_id)
    before = await _snapshot(contacts)

    response = await contacts.post("contacts", f"/customers/{m_id}/merge-into/{s_id}", {}, role="manager")

    assert response.status_code == 201, response.text
    result = response.json()
    assert set(result["filled"]) == {"email", "external_ref", "lead_source"}
    assert result["moved"] == {"identities": 2, "contact_persons": 2, "follow_ups": 1, "referrals": 1,
                               "competitors": 2}
    owners = await contacts.sql("contacts", "SELECT DISTINCT customer_id FROM customer_identities WHERE "
                                "value IN ('o-acme', 'buy@acme.cn')")
    assert [r["customer_id"] for r in owners] == [s_id]
    roles = await contacts.sql("contacts", "SELECT role FROM contact_persons WHERE company_id = $1 ORDER BY role", s_id)
    assert [r["role"] for r in roles] == ["payer", "purchaser"]
    assert (await contacts.sql("contacts", "SELECT count(*) FROM follow_ups WHERE customer_id = $1", s_id))[0][0] == 1
    assert (await contacts.sql("contacts", "SELECT referred_by FROM customers WHERE id = $1",
                               uuid.UUID(referred["id"])))[0][0] == s_id
    got = (await contacts.get("contacts", f"/customers/{m_id}")).json()
    assert got["merged_into"] == str(s_id)
    survivor_now = (await contacts.get("contacts", f"/customers/{s_id}")).json()
    assert (survivor_now["email"], survivor_now["external_ref"]) == ("buy@acme.cn", "ERP-9")
    listed = (await contacts.get("contacts", "/customers", q="acme")).json()["items"]
    assert [c["id"] for c in listed] == [str(s_id)]
    history = await contacts.sql("contacts", "SELECT field FROM customer_changes WHERE customer_id = $1", s_id)
    assert {r["field"] for r in history} == {"email", "external_ref", "lead_source"}
    published = await contacts.sql("contacts", "SELECT data->>'customer_id' AS survivor, data->>'merged_id' AS merged FROM outbox "
                                 "WHERE event_type LIKE '%CustomersMerged%'")
    assert [(p["survivor"], p["merged"]) for p in published] == [(str(s_id), str(m_id))]
    again = await contacts.post("contacts", f"/customers/{m_id}/merge-into/{s_id}", {}, role="manager")
    assert again.status_code == 409
    assert again.json()["code"] == "already_merged"

    undone = await contacts.post("contacts", f"/merges/{result['merge_id']}/undo", {}, role="manager")

    assert undone.status_code == 200, undone.text
    assert await _snapshot(contacts) == before
    listed = (await contacts.get("contacts", "/merges", role="manager", customer_id=str(s_id))).json()["items"]
    assert listed[0]["undone_at"] is not None
    twice = await contacts.post("contacts", f"/merges/{result['merge_id']}/undo", {}, role="manager")
    assert twice.status_code == 409


async def test_an_undo_after_30_days_is_refused_saying_when_it_expired(contacts: Cluster) -> None:
    a = await _register(contacts, name="A")
    b = await _register(contacts, name="B")
    merge = (await contacts.post("contacts", f"/customers/{a['id']}/merge-into/{b['id']}", {}, role="manager")).json()
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()

    response = await contacts.http.post(contacts.urls["contacts"] + f"/merges/{merge['merge_id']}/undo",
                                        params={"as_of": later}, headers=contacts.headers("manager"))

    assert response.status_code == 409
    assert response.json()["code"] == "merge_undo_expired"
    assert merge["undo_until"][:10] in response.json()["detail"]


async def test_an_undo_is_refused_when_a_moved_identity_has_moved_again(contacts: Cluster) -> None:
    a = await _register(contacts, name="A", phone="13800138000")
    b = await _register(contacts, name="B")
    c = await _register(contacts, name="C")
    await contacts.sql("contacts", "INSERT INTO customer_identities (kind, value, customer_id, linked_by) "
                       "VALUES ('phone', '+8613800138000', $1, 't') ON CONFLICT DO NOTHING", uuid.UUID(a["id"]))
    merge = (await contacts.post("contacts", f"/customers/{a['id']}/merge-into/{b['id']}", {}, role="manager")).json()
    await contacts.sql("contacts", "UPDATE customer_identities SET customer_id = $1 WHERE value = '+8613800138000'",
                       uuid.UUID(c["id"]))

    response = await contacts.post("contacts", f"/merges/{merge['merge_id']}/undo", {}, role="manager")

    assert response.status_code == 409
    assert "+8613800138000" in response.json()["detail"]
    assert c["id"] in response.json()["detail"]


async def test_merging_a_customer_into_itself_or_an_unknown_one_is_refused(contacts: Cluster) -> None:
    a = await _register(contacts, name="A")
    same = await contacts.post("contacts", f"/customers/{a['id']}/merge-into/{a['id']}", {}, role="manager")
    assert same.status_code == 409
    unknown = await contacts.post("contacts", f"/customers/{a['id']}/merge-into/{uuid.uuid4()}", {}, role="manager")
    assert unknown.status_code == 404
    sales = await contacts.post("contacts", f"/customers/{a['id']}/merge-into/{uuid.uuid4()}", {}, role="sales")
    assert sales.status_code == 403
