"""Categories on the real database and broker: a change with its reason becomes history and an event,
a forbidden one a 409; a first order (from kehu.orders) makes a customer current once; the win-back
list and rate, the referral chain and the acquisition report on hand-made customers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kehu.embedded import EmbeddedBroker
from shared.auth import add_token
from shared.db import database_url
from shared.events import Envelope, OrderLine, OrderPlaced, envelope_for
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings
from tests.conftest import Cluster, eventually, free_port

pytestmark = pytest.mark.database

CHANGED = "kehu.contacts.CustomerCategoryChanged.v1"


class Contacts:
    """contacts alone on a broker, with an admin token and person tokens signed as the console does."""

    def __init__(self, cluster: Cluster, key: Ed25519PrivateKey) -> None:
        self.cluster = cluster
        self.key = key
        self.url = cluster.urls["contacts"]

    def person(self, owner: str | None, role: str = "sales", name: str = "wang.li") -> dict[str, str]:
        claims = PersonClaims.issue(sub=str(uuid.uuid4()), name=name, role=role, owner=owner, now=time.time())
        return {"Authorization": f"Bearer {mint(claims, self.key)}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.cluster.headers("admin")

    async def customer(self, name: str, **fields: Any) -> str:
        response = await self.cluster.http.post(self.url + "/customers", json={"name": name, **fields},
                                                headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def change(self, customer_id: str, category: str, reason: str = "because", *,
                     headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        return await self.cluster.http.post(
            f"{self.url}/customers/{customer_id}/category", json={"category": category, "reason": reason, **fields},
            headers=headers or self.admin)

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await self.cluster.http.get(self.url + path, params=params, headers=headers or self.admin)

    async def sql(self, query: str, *args: Any) -> list[Any]:
        return await self.cluster.sql("contacts", query, *args)


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
                        db_pool_size=3, outbox_poll_s=0.5, timezone="Asia/Shanghai")
    await ensure_topics(broker.bootstrap, all_topics(), 1)
    try:
        await running.start("contacts", settings, database)
        yield Contacts(running, load_private_key(identity / "console-key.pem"))
    finally:
        await running.close()


def _order(customer_id: str, at: datetime) -> OrderPlaced:
    return OrderPlaced(customer_id=uuid.UUID(customer_id), occurred_at=at, order_id=uuid.uuid4(), channel="store",
                       currency="CNY", total=Decimal("19.00"),
                       lines=[OrderLine(sku="A1", quantity=Decimal(2), unit_price=Decimal("9.50"),
                                        amount=Decimal("19.00"))])


async def _deliver(bootstrap: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for envelope in envelopes:
            key, value, headers = envelope.to_record()
            await producer.send("kehu.orders", value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


# --- changing a category ----------------------------------------------------------------------


async def test_a_change_with_a_reason_is_history_and_an_event(contacts: Contacts) -> None:
    cid = await contacts.customer("张三商行", owner="owner-7")

    response = await contacts.change(cid, "lost", "went to the shop next door", loss_reason="competitor",
                                     headers=contacts.person("owner-7"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["category"], body["loss_reason"], body["loss_kind"], body["changed"]) == (
        "lost", "competitor", "subjective", True)
    assert body["allowed_next"] == ["prospective"]
    assert [(h["previous_category"], h["category"], h["changed_by"]) for h in body["history"]] == [
        ("potential", "lost", "wang.li")]
    row = (await contacts.sql("SELECT category, loss_reason, loss_kind, category_changed_at FROM customers "
                              "WHERE id = $1", uuid.UUID(cid)))[0]
    assert (row["category"], row["loss_reason"], row["loss_kind"]) == ("lost", "competitor", "subjective")
    assert row["category_changed_at"] is not None
    history = await contacts.sql("SELECT * FROM category_changes WHERE customer_id = $1", uuid.UUID(cid))
    assert len(history) == 1 and history[0]["reason"] == "went to the shop next door"
    assert history[0]["automatic"] is False
    events = await contacts.sql("SELECT data FROM outbox WHERE event_type = $1 AND subject = $2", CHANGED, cid)
    assert len(events) == 1
    data = __import__("json").loads(events[0]["data"]) if isinstance(events[0]["data"], str) else events[0]["data"]
    assert (data["previous_category"], data["category"], data["loss_reason"], data["loss_kind"],
            data["changed_by"], data["automatic"]) == ("potential", "lost", "competitor", "subjective", "wang.li", False)

    # the same category again: nothing written
    again = await contacts.change(cid, "lost", "still gone", loss_reason="price")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["loss_reason"] == "competitor"
    assert len(await contacts.sql("SELECT 1 FROM outbox WHERE event_type = $1", CHANGED)) == 1

    # win-back: lost -> prospective clears the loss
    back = await contacts.change(cid, "prospective", "called, interested again")
    assert back.status_code == 200, back.text
    assert (back.json()["category"], back.json()["loss_reason"]) == ("prospective", None)
    assert len(back.json()["history"]) == 2


async def test_a_forbidden_change_is_a_409_that_says_why_and_what_is_allowed(contacts: Contacts) -> None:
    cid = await contacts.customer("Acme", category="current")

    refused = await contacts.change(cid, "prospective", "less business")

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert "is current and cannot become prospective" in problem["detail"]
    assert "never demoted" in problem["detail"]
    assert problem["allowed"] == ["lost"] and problem["code"] == "category_not_allowed"
    assert await contacts.sql("SELECT 1 FROM category_changes") == []
    assert await contacts.sql("SELECT 1 FROM outbox WHERE event_type = $1", CHANGED) == []


async def test_bad_input_names_the_field(contacts: Contacts) -> None:
    cid = await contacts.customer("Acme")

    no_reason = await contacts.change(cid, "lost", "gone")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "loss_reason"
    unknown = await contacts.change(cid, "vip", "big")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "category"
    missing = await contacts.cluster.http.post(f"{contacts.url}/customers/{uuid.uuid4()}/category",
                                               json={"category": "lost", "reason": "r", "loss_reason": "price"},
                                               headers=contacts.admin)
    assert missing.status_code == 404


async def test_a_salesperson_may_not_change_another_owner_s_customer(contacts: Contacts) -> None:
    cid = await contacts.customer("Someone else's", owner="owner-9")

    refused = await contacts.change(cid, "prospective", "mine now", headers=contacts.person("owner-7"))

    assert refused.status_code == 403
    assert refused.json()["code"] == "out_of_scope" and "owner-9" in refused.json()["detail"]
    seen = await contacts.get(f"/customers/{cid}/category", headers=contacts.person("owner-7"))
    assert seen.status_code == 403


# --- orders make customers current ------------------------------------------------------------


async def test_a_first_order_makes_current_once_even_when_delivered_twice(contacts: Contacts) -> None:
    lead = await contacts.customer("Lead", category="prospective")
    lost = await contacts.customer("Gone", category="current")
    assert (await contacts.change(lost, "lost", "no orders", loss_reason="price")).status_code == 200
    now = datetime.now(UTC)
    first = envelope_for(_order(lead, now - timedelta(hours=2)))
    second = envelope_for(_order(lead, now - timedelta(hours=1)))
    unknown = envelope_for(_order(str(uuid.uuid4()), now))
    again = envelope_for(_order(lost, now))

    await _deliver(contacts.cluster.broker.bootstrap, [unknown, first, first, second, second, again])

    async def settled() -> bool:
        rows = await contacts.sql("SELECT category FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id",
                                  [uuid.UUID(lead), uuid.UUID(lost)])
        return [r["category"] for r in rows] == ["current", "current"]

    await eventually(settled, timeout=30)
    changes = await contacts.sql("SELECT * FROM category_changes WHERE customer_id = $1", uuid.UUID(lead))
    assert len(changes) == 1
    change = changes[0]
    assert (change["previous_category"], change["category"], change["automatic"], change["changed_by"],
            change["order_id"], change["reason"]) == ("prospective", "current", True, "kehu",
                                                      first.decode().order_id, "first order")  # type: ignore[attr-defined]
    times = (await contacts.sql("SELECT first_order_at, last_order_at FROM customers WHERE id = $1",
                                uuid.UUID(lead)))[0]
    assert abs(times["first_order_at"] - (now - timedelta(hours=2))) < timedelta(milliseconds=1)
    assert abs(times["last_order_at"] - (now - timedelta(hours=1))) < timedelta(milliseconds=1)
    won = await contacts.sql("SELECT reason, previous_category FROM category_changes WHERE customer_id = $1 "
                             "AND automatic", uuid.UUID(lost))
    assert [(w["reason"], w["previous_category"]) for w in won] == [("ordered again", "lost")]
    events = await contacts.sql("SELECT subject FROM outbox WHERE event_type = $1 AND data->>'automatic' = 'true'",
                                CHANGED)
    assert sorted(e["subject"] for e in events) == sorted([lead, lost])
    inbox = await contacts.sql("SELECT count(*) AS n FROM inbox WHERE consumer = 'contacts'")
    assert inbox[0]["n"] == 4  # each event once, the unknown customer's included

    # delivered again later (a redelivered batch): nothing changes
    await _deliver(contacts.cluster.broker.bootstrap, [first, envelope_for(_order(lead, now))])

    async def later_order_seen() -> bool:
        rows = await contacts.sql("SELECT last_order_at FROM customers WHERE id = $1", uuid.UUID(lead))
        return bool(abs(rows[0]["last_order_at"] - now) < timedelta(milliseconds=1))

    await eventually(later_order_seen, timeout=30)
    assert len(await contacts.sql("SELECT 1 FROM category_changes WHERE customer_id = $1", uuid.UUID(lead))) == 1


# --- win-back -------------------------------------------------------------------------------


async def _lose(contacts: Contacts, name: str, reason: str, *, owner: str | None = None, as_of: datetime,
                identity: tuple[str, str] | None = ("phone", "")) -> str:
    cid = await contacts.customer(name, category="current", owner=owner)
    response = await contacts.change(cid, "lost", f"lost: {reason}", loss_reason=reason, as_of=as_of.isoformat())
    assert response.status_code == 200, response.text
    if identity:
        kind, value = identity
        await contacts.sql("INSERT INTO customer_identities (kind, value, customer_id) VALUES ($1, $2, $3)",
                           kind, value or f"+86138{uuid.uuid4().int % 10**8:08d}", uuid.UUID(cid))
    return cid


async def test_the_win_back_list_and_rate(contacts: Contacts) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    price = await _lose(contacts, "Price", "price", owner="owner-7", as_of=now - timedelta(days=10))
    wechat = await _lose(contacts, "WeChat", "service", as_of=now - timedelta(days=3),
                         identity=("wechat_openid", "o-abc"))
    await _lose(contacts, "Moved", "moved_away", owner="owner-7", as_of=now - timedelta(days=5))
    await _lose(contacts, "Unreachable", "quality", owner="owner-7", as_of=now - timedelta(days=4), identity=None)
    others = await _lose(contacts, "Not mine", "competitor", owner="owner-9", as_of=now - timedelta(days=2))
    won = await _lose(contacts, "Won back", "price", owner="owner-7", as_of=now - timedelta(days=20))
    assert (await contacts.change(won, "prospective", "talking again")).status_code == 200
    merged = await _lose(contacts, "Merged", "price", as_of=now - timedelta(days=1))
    await contacts.sql("UPDATE customers SET merged_into = $1 WHERE id = $2", uuid.UUID(price), uuid.UUID(merged))

    everyone = await contacts.get("/win-back", as_of=now.isoformat())
    assert everyone.status_code == 200, everyone.text
    items = everyone.json()["items"]
    assert [i["name"] for i in items] == ["Not mine", "WeChat", "Price"]  # most recently lost first
    assert [i["days_lost"] for i in items] == [2, 3, 10]
    assert items[1]["reachable_by"] == ["wechat_openid"] and items[2]["reachable_by"] == ["phone"]
    assert items[2]["loss_reason"] == "price" and items[2]["loss_kind"] == "subjective"

    paged = await contacts.get("/win-back", as_of=now.isoformat(), limit=2)
    assert [i["name"] for i in paged.json()["items"]] == ["Not mine", "WeChat"]
    rest = await contacts.get("/win-back", as_of=now.isoformat(), limit=2, cursor=paged.json()["next_cursor"])
    assert [i["name"] for i in rest.json()["items"]] == ["Price"]

    earlier = await contacts.get("/win-back", as_of=(now - timedelta(days=5)).isoformat())
    assert [i["name"] for i in earlier.json()["items"]] == ["Price"]

    mine = await contacts.get("/win-back", headers=contacts.person("owner-7"), as_of=now.isoformat())
    assert [i["customer_id"] for i in mine.json()["items"]] == [wechat, price]  # own and the pool
    assert others not in [i["customer_id"] for i in mine.json()["items"]]

    rates = await contacts.get("/win-back/rates", since=(now - timedelta(days=30)).isoformat(),
                               until=now.isoformat())
    assert rates.status_code == 200, rates.text
    by_reason = {r["loss_reason"]: r for r in rates.json()["items"]}
    # price: Price, Won back (Merged is left out); service: WeChat; moved_away; quality; competitor
    assert (by_reason["price"]["lost"], by_reason["price"]["won_back"], by_reason["price"]["share"]) == (2, 1, 0.5)
    assert (by_reason["service"]["lost"], by_reason["service"]["won_back"]) == (1, 0)
    assert by_reason["moved_away"]["loss_kind"] == "objective" and by_reason["moved_away"]["lost"] == 1
    assert by_reason["closed_down"]["share"] is None
    assert (rates.json()["lost"], rates.json()["won_back"]) == (6, 1)

    before_won = await contacts.get("/win-back/rates", since=(now - timedelta(days=30)).isoformat(),
                                    until=now.isoformat(), as_of=(now - timedelta(days=15)).isoformat())
    assert {r["loss_reason"]: r["won_back"] for r in before_won.json()["items"]}["price"] == 0

    scoped = await contacts.get("/win-back/rates", headers=contacts.person("owner-7"),
                                since=(now - timedelta(days=30)).isoformat(), until=now.isoformat())
    assert {r["loss_reason"]: r["lost"] for r in scoped.json()["items"]}["competitor"] == 0


# --- referrals ------------------------------------------------------------------------------


async def test_the_referral_chain_up_and_down_and_a_cycle_is_cut(contacts: Contacts) -> None:
    root = await contacts.customer("Root", lead_source="fair")
    middle = await contacts.customer("Middle", lead_source="referral")
    me = await contacts.customer("Me", lead_source="referral", owner="owner-7")
    child_a = await contacts.customer("Child A", owner="owner-9")
    child_b = await contacts.customer("Child B")
    grandchild = await contacts.customer("Grandchild")
    great = await contacts.customer("Great-grandchild")
    for who, by in ((middle, root), (me, middle), (child_a, me), (child_b, me), (grandchild, child_a),
                    (great, grandchild)):
        await contacts.sql("UPDATE customers SET referred_by = $1 WHERE id = $2", uuid.UUID(by), uuid.UUID(who))

    response = await contacts.get(f"/referrals/{me}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(c["name"], c["depth"]) for c in body["chain"]] == [("Me", 0), ("Middle", 1), ("Root", 2)]
    assert body["cycle"] is False
    assert [(r["name"], r["referred"], r["network"]) for r in body["referred"]] == [("Child A", 1, 2),
                                                                                  ("Child B", 0, 0)]
    assert body["network"] == 4

    # a salesperson sees that Child A exists, not who it is
    scoped = await contacts.get(f"/referrals/{me}", headers=contacts.person("owner-7"))
    assert [r["name"] for r in scoped.json()["referred"]] == [None, "Child B"]
    assert (await contacts.get(f"/referrals/{child_a}", headers=contacts.person("owner-7"))).status_code == 403

    # a cycle (Root referred by Me) ends the chain instead of looping
    await contacts.sql("UPDATE customers SET referred_by = $1 WHERE id = $2", uuid.UUID(me), uuid.UUID(root))
    looped = (await contacts.get(f"/referrals/{me}")).json()
    assert [c["name"] for c in looped["chain"]] == ["Me", "Middle", "Root"] and looped["cycle"] is True
    assert (await contacts.get(f"/referrals/{uuid.uuid4()}")).status_code == 404


# --- acquisition ----------------------------------------------------------------------------


async def test_acquisition_per_source_and_period(contacts: Contacts) -> None:
    def at(month: int, day: int) -> datetime:
        return datetime(2026, month, day, 4, 0, tzinfo=UTC)  # noon in Shanghai

    made = [  # (source, registered, first order or None)
        ("web", at(1, 10), at(1, 12)), ("web", at(1, 20), at(1, 30)), ("web", at(1, 25), None),
        ("fair", at(1, 5), at(1, 6)), ("web", at(2, 3), at(2, 4)), (None, at(2, 10), None),
        ("fair", at(3, 1), at(8, 1)),  # ordered after as_of: not current yet
    ]
    for i, (source, registered, first) in enumerate(made):
        cid = await contacts.customer(f"C{i}", lead_source=source, registered_at=registered.isoformat())
        if first:
            await contacts.sql("UPDATE customers SET first_order_at = $1 WHERE id = $2", first, uuid.UUID(cid))

    response = await contacts.get("/acquisition", period="month", since=at(1, 1).isoformat(),
                                  until=at(4, 1).isoformat(), as_of=at(6, 1).isoformat())
    assert response.status_code == 200, response.text
    rows = {(r["lead_source"], r["period"]): r for r in response.json()["items"]}
    web_jan = rows[("web", "2026-01-01")]
    assert (web_jan["new_customers"], web_jan["became_current"], web_jan["conversion"]) == (3, 2, 0.6667)
    assert web_jan["median_days_to_first_order"] == 6.0  # 2 and 10 days
    assert rows[("fair", "2026-01-01")]["median_days_to_first_order"] == 1.0
    assert rows[("unknown", "2026-02-01")]["became_current"] == 0
    assert rows[("unknown", "2026-02-01")]["median_days_to_first_order"] is None
    fair_mar = rows[("fair", "2026-03-01")]
    assert (fair_mar["new_customers"], fair_mar["became_current"]) == (1, 0)

    quarters = await contacts.get("/acquisition", period="quarter", since=at(1, 1).isoformat(),
                                  until=at(4, 1).isoformat(), as_of=at(6, 1).isoformat())
    web_q1 = {(r["lead_source"], r["period"]): r for r in quarters.json()["items"]}[("web", "2026-01-01")]
    assert (web_q1["new_customers"], web_q1["became_current"], web_q1["median_days_to_first_order"]) == (4, 3, 2.0)

    bad = await contacts.get("/acquisition", period="week")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.period"
