"""GET /customers as the console searches it, on the real database: by any part of the name,
its pinyin or initials, a phone's tail, an external_ref's start, with category and owner filters
and cursor pagination; and rows from before the search column are backfilled at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kehu.embedded import EmbeddedBroker
from shared.db import database_url
from shared.settings import Settings
from tests.conftest import Cluster, eventually, free_port

pytestmark = pytest.mark.database

PEOPLE = [
    {"name": "张伟", "phone": "+86 138 0013 8000", "external_ref": "VIP-0001", "category": "current", "owner": "王芳"},
    {"name": "曾单", "phone": "13900000001", "external_ref": "VIP-0002", "category": "potential", "owner": "李娜"},
    {"name": "Acme Trading Co.", "kind": "company", "external_ref": "ERP-77", "category": "current", "owner": "王芳"},
    {"name": "张小明", "phone": "+86 137 0000 8000", "category": "lost"},
    {"name": "50%_off\\shop", "category": "prospective"},
]


class Contacts(Cluster):
    """Contacts alone (a search needs nothing else), with what it takes to restart it."""

    settings: Settings
    database: str


@pytest.fixture
async def contacts(pg_url: str, broker: EmbeddedBroker, tokens: dict[str, str], tmp_path: Path,
                   fresh_databases: Callable[[str], str]) -> AsyncIterator[Contacts]:
    database = fresh_databases("contacts")
    running = Contacts(urls={"contacts": f"http://127.0.0.1:{free_port()}"}, tokens=tokens,
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap,
                        tokens_file=tmp_path / "tokens.json", service_token=tokens["readonly"], db_pool_size=4)
    running.settings, running.database = settings, database
    await running.start("contacts", settings, database)
    try:
        yield running
    finally:
        await running.close()


async def _register(contacts: Contacts) -> dict[str, str]:
    single = await contacts.post("contacts", "/customers", PEOPLE[0])
    assert single.status_code == 201, single.text
    batch = await contacts.post("contacts", "/customers/batch", {"customers": PEOPLE[1:]})
    assert batch.status_code == 200, batch.text
    ids = [single.json()["id"]] + [item["id"] for item in batch.json()["items"]]
    return {p["name"]: i for p, i in zip(PEOPLE, ids, strict=True)}


async def _names(contacts: Contacts, **params: Any) -> list[str]:
    response = await contacts.get("contacts", "/customers", **params)
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()["items"]]


@pytest.mark.parametrize(("q", "found"), [
    ("张", ["张伟", "张小明"]),
    ("张伟", ["张伟"]),
    ("zhangwei", ["张伟"]),
    ("Zhang Wei", ["张伟"]),
    ("zhang", ["张伟", "张小明"]),
    ("zw", ["张伟"]),
    ("zxm", ["张小明"]),
    ("zengdan", ["曾单"]),
    ("cengshan", ["曾单"]),
    ("acme", ["Acme Trading Co."]),
    ("atc", ["Acme Trading Co."]),
    ("8000", ["张伟", "张小明"]),
    ("138-0013-8000", ["张伟"]),
    ("0001", ["张伟", "曾单"]),  # in VIP-0001, and the tail of +8613900000001
    ("0013", ["张伟"]),  # inside +8613800138000
    ("vip-", ["张伟", "曾单"]),
    ("erp", ["Acme Trading Co."]),
    ("%", ["50%_off\\shop"]),
    ("_", ["50%_off\\shop"]),
    ("\\", ["50%_off\\shop"]),
    ("nobody", []),
])
async def test_a_customer_is_found_by_name_pinyin_initials_phone_tail_or_external_ref(
    contacts: Contacts, q: str, found: list[str],
) -> None:
    await _register(contacts)

    assert await _names(contacts, q=q) == found


async def test_search_combines_with_category_owner_and_the_other_filters(contacts: Contacts) -> None:
    ids = await _register(contacts)

    assert await _names(contacts, q="zhang", category="lost") == ["张小明"]
    assert await _names(contacts, owner="王芳") == ["张伟", "Acme Trading Co."]
    assert await _names(contacts, owner="王芳", category="current", q="acme") == ["Acme Trading Co."]
    assert await _names(contacts, category="potential") == ["曾单"]
    assert await _names(contacts, q="8000", phone="13700008000") == ["张小明"]
    assert await _names(contacts, q="vip", external_ref="VIP-0002") == ["曾单"]
    assert await _names(contacts, q="zhang", id=[ids["张小明"], ids["曾单"]]) == ["张小明"]
    refused = await contacts.get("contacts", "/customers", category="vip")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.category"
    too_long = await contacts.get("contacts", "/customers", q="x" * 101)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "query.q"


async def test_a_search_pages_with_the_cursor(contacts: Contacts) -> None:
    await _register(contacts)

    first = (await contacts.get("contacts", "/customers", q="z", limit=2)).json()
    second = (await contacts.get("contacts", "/customers", q="z", limit=2, cursor=first["next_cursor"])).json()

    assert [c["name"] for c in first["items"]] == ["张伟", "曾单"]
    assert [c["name"] for c in second["items"]] == ["张小明"]
    assert second["next_cursor"] is None


async def test_customers_registered_before_the_search_column_are_found_after_a_restart(contacts: Contacts) -> None:
    await _register(contacts)
    await contacts.sql("contacts", "UPDATE customers SET search = NULL")
    assert await _names(contacts, q="张") == ["张伟", "张小明"]  # by the name until backfilled
    assert await _names(contacts, q="zw") == []

    await contacts.stop("contacts")
    await contacts.start("contacts", contacts.settings, contacts.database)

    async def backfilled() -> bool:
        return not await contacts.sql("contacts", "SELECT 1 FROM customers WHERE search IS NULL")
    await eventually(backfilled)
    assert await _names(contacts, q="zw") == ["张伟"]
