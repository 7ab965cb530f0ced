"""Data kept in one form and apart where it must be, on the running services: phones in E.164
whatever the spelling, only the shop's currencies, one spelling of each number in every answer
and event. One cluster for the module (a shop taking CNY and USD)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kehu.importer import ImportOptions, run_import
from services.contacts.domain.customers import NewCustomer
from shared.events import BUSINESS_TIME_PATTERN, BusinessTime, Money, Quantity
from tests.conftest import Cluster, eventually, own_cluster

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "contacts" / "migrations"


@pytest.fixture(scope="module")
async def shop(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with own_cluster(pg_url, tmp_path_factory.mktemp("rules-cluster"), currencies=("CNY", "USD")) as running:
        yield running


def _ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# --- phones -----------------------------------------------------------------------------------


@pytest.mark.database
async def test_two_spellings_of_one_phone_are_one_number_found_by_any_spelling(shop: Cluster) -> None:
    first = await shop.customer("王芳", phone="+86 139 0000 0001", external_ref=_ref("p"))
    # One number, one customer (issue 11: an identity belongs to one customer at most).
    second = await shop.post("contacts", "/customers", {"name": "王芳 (WeChat)", "phone": "13900000001"})
    assert second.status_code == 409 and second.json()["holder"]["id"] == first

    for spelling in ("+8613900000001", "+86 139-0000-0001", "139 0000 0001", "008613900000001"):
        found = (await shop.get("contacts", "/customers", phone=spelling)).json()["items"]
        assert [(c["id"], c["phone"]) for c in found] == [(first, "+8613900000001")]


@pytest.mark.database
async def test_an_invalid_phone_is_a_422_naming_the_field(shop: Cluster) -> None:
    single = await shop.post("contacts", "/customers", {"name": "x", "phone": "12345"})
    assert "is not a valid phone number" in _errors(single)["phone"]

    batch = await shop.post("contacts", "/customers/batch", {"customers": [
        {"name": "a", "phone": "13800138000", "external_ref": _ref("b")},
        {"name": "b", "phone": "+86 1", "external_ref": _ref("b")}]})
    assert set(_errors(batch)) == {"customers[1].phone"}

    query = await shop.get("contacts", "/customers", phone="abc")
    assert set(_errors(query)) == {"query.phone"}


@pytest.mark.database
async def test_the_migration_rewrites_stored_mainland_mobiles_in_e164(shop: Cluster) -> None:
    stored = {"13700000002": "+8613700000002", "8613700000003": "+8613700000003",
              "008613700000004": "+8613700000004", "+8613700000005": "+8613700000005",
              "01065521234": "01065521234", "+49301234567": "+49301234567"}
    ids = {}
    for phone in stored:
        ids[phone] = uuid.uuid4()
        await shop.sql("contacts", "INSERT INTO customers (id, name, kind, phone, category) "
                       "VALUES ($1, 'legacy', 'person', $2, 'potential')", ids[phone], phone)

    await shop.sql("contacts", (MIGRATIONS / "0003_phones_e164.sql").read_text(encoding="utf-8"))

    rows = await shop.sql("contacts", "SELECT id, phone FROM customers WHERE id = ANY($1::uuid[])", list(ids.values()))
    after = {r["id"]: r["phone"] for r in rows}
    assert {phone: after[ids[phone]] for phone in stored} == stored


# --- currencies -------------------------------------------------------------------------------


def _order(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "channel": "store",
            "lines": [{"sku": "A1", "quantity": "2", "unit_price": "9.50"}], **fields}


@pytest.mark.database
async def test_only_the_shops_currencies_are_taken_the_first_by_default(shop: Cluster) -> None:
    customer = await shop.customer()

    assert (await shop.get("orders", "/currencies")).json() == {"currencies": ["CNY", "USD"], "default": "CNY"}
    default = await shop.post("orders", "/orders", _order(customer))
    dollars = await shop.post("orders", "/orders", _order(customer, currency="USD"))
    assert (default.json()["currency"], dollars.json()["currency"]) == ("CNY", "USD")

    made_up = _errors(await shop.post("orders", "/orders", _order(customer, currency="XYZ")))
    assert made_up == {"currency": "'XYZ' is not an ISO 4217 currency code; this shop takes CNY, USD"}
    euros = _errors(await shop.post("orders", "/orders", _order(customer, currency="EUR")))
    assert euros == {"currency": "EUR is not a currency of this shop; it takes CNY, USD (KEHU_CURRENCIES)"}

    batch = await shop.post("orders", "/orders/batch", {"orders": [
        _order(customer, external_ref=_ref("o")), _order(customer, external_ref=_ref("o"), currency="EUR")]})
    assert set(_errors(batch)) == {"orders[1].currency"}


@pytest.mark.database
async def test_an_import_in_a_currency_the_shop_does_not_take_fails_before_writing(
    shop: Cluster, tmp_path: Path
) -> None:
    ref = _ref("eur")
    path = tmp_path / "eur.csv"
    path.write_text(f"customer_ref,occurred_at,quantity,amount\n{ref},2024-03-01,1,5.00\n", encoding="utf-8")
    options = ImportOptions(path=path, contacts_url=shop.urls["contacts"], orders_url=shop.urls["orders"],
                            token=shop.tokens["admin"], currency="EUR")

    report = await run_import(options, out=io.StringIO(), err=io.StringIO())

    assert report.exit_code == 2
    assert report.fatal == ("--currency EUR is not a currency of this shop; it takes CNY, USD (KEHU_CURRENCIES): "
                            "start kehu with that currency among KEHU_CURRENCIES (e.g. KEHU_CURRENCIES=CNY,EUR), "
                            "or import in the shop's currency")
    assert (await shop.get("contacts", "/customers", external_ref=ref)).json()["items"] == []


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.database
async def test_an_order_spells_its_numbers_alike_in_post_get_list_batch_and_event(shop: Cluster) -> None:
    customer = await shop.customer()
    body = _order(customer, lines=[{"sku": "A1", "quantity": "2.000", "unit_price": "9.5"},
                                   {"sku": "B2", "quantity": 1.5, "unit_price": 4}])
    posted = await shop.post("orders", "/orders", body)
    assert posted.status_code == 201, posted.text
    order = posted.json()
    assert [(ln["quantity"], ln["unit_price"], ln["amount"]) for ln in order["lines"]] == [
        ("2", "9.50", "19.00"), ("1.5", "4.00", "6.00")]
    assert order["total"] == "25.00"

    shown = (await shop.get("orders", f"/orders/{order['id']}")).json()
    assert {k: v for k, v in shown.items() if k not in ("allowed_next", "history", "returns")} == order
    assert (await shop.get("orders", "/orders", customer_id=customer)).json()["items"] == [order]
    published = await shop.sql("orders", "SELECT data::text FROM outbox WHERE event_type LIKE '%OrderPlaced%' "
                               "AND data->>'order_id' = $1", order["id"])
    event = json.loads(published[0][0])
    as_placed = [{k: v for k, v in ln.items() if k not in ("line_no", "returned_quantity", "returned_amount")}
                 for ln in order["lines"]]  # an order's lines also say what came back; the event's as placed
    assert (event["lines"], event["total"]) == (as_placed, order["total"])

    ref = _ref("batch")
    batched = await shop.post("orders", "/orders/batch", {"orders": [{**body, "external_ref": ref}]})
    batch_id = batched.json()["items"][0]["id"]
    read = (await shop.get("orders", f"/orders/{batch_id}")).json()
    assert (read["lines"], read["total"]) == (order["lines"], order["total"])
    timeline = await eventually(lambda: _placed(shop, customer, 2))
    assert all(item["data"]["lines"] == as_placed for item in timeline)


async def _placed(shop: Cluster, customer: str, count: int) -> list[dict[str, Any]] | None:
    items = [i for i in await shop.timeline(customer) if i["type"] == "OrderPlaced"]
    return items if len(items) >= count else None


# --- what the OpenAPI documents say is what the models take ------------------------------------


def _takes(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("kind", "text"), [
    (kind, text) for kind in ("money", "quantity")
    for text in ("", " ", ".", "+", "-1", "0", "0.000", "0.001", "0.01", ".5", "5.", "+1", " 2 ", "1.500", "0001.5",
                 "1.2345", "0.0010", "00.0100", "999999999.999", "1000000000", "999999999999.99", "1000000000000",
                 "1,5", "abc", "NaN")])
def test_a_decimal_text_is_taken_exactly_when_its_pattern_says_so(kind: str, text: str) -> None:
    """Generated valid data (schemathesis) is accepted, and what the document forbids is refused."""
    adapter: TypeAdapter[Any] = TypeAdapter(Money if kind == "money" else Quantity)
    schema = adapter.json_schema()
    pattern = next(branch["pattern"] for branch in schema["anyOf"] if branch["type"] == "string")
    assert (re.fullmatch(pattern, text) is not None) == _takes(adapter, text), (kind, text, pattern)


@pytest.mark.parametrize("text", ["", "  ", "li@shop.cn", " Li@Shop.CN ", "D", "a@b", "a@b.", "a b@c.d",
                                  "a@b@c.d", "a\x00@b.cd"])
def test_an_email_is_taken_exactly_when_its_pattern_says_so(text: str) -> None:
    schema = NewCustomer.model_json_schema()["properties"]["email"]["anyOf"][0]
    adapter: TypeAdapter[Any] = TypeAdapter(NewCustomer)
    taken = _takes(adapter, {"name": "x", "email": text})
    assert (re.fullmatch(schema["pattern"], text) is not None) == taken, (text, schema)


@pytest.mark.parametrize("text", ["2026-12-06T10:00:00+08:00", "2026-12-06T10:00:00Z", "1900-01-01T00:00:00-14:00",
                                  "2999-12-31T23:59:59+14:00", "2026-12-06T10:00:00+14:01",
                                  "0098-12-15T02:08:33-19:01", "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z",
                                  "2026-12-06t10:00:00.5z", "2026-12-06 10:00:00Z", "2026-12-06T10:00Z",
                                  "2026-12-06T10:00:00+0800", "1733479200", "2026-12-06", 0, 1733479200.5])
def test_a_business_time_is_taken_exactly_when_its_pattern_says_so(text: str | float) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(BusinessTime)
    matches = isinstance(text, str) and re.fullmatch(BUSINESS_TIME_PATTERN, text) is not None
    assert matches == _takes(adapter, text), text


# --- business time ------------------------------------------------------------------------------


@pytest.mark.database
async def test_a_business_time_beyond_14_hours_from_utc_or_1900_to_2999_is_a_422_naming_the_field(
    shop: Cluster,
) -> None:
    customer = await shop.customer()
    batch = await shop.post("contacts", "/customers/batch", {"customers": [
        {"name": "x", "registered_at": "0098-12-15T02:08:33-19:01"}]})
    assert "beyond ±14:00" in _errors(batch)["customers[0].registered_at"]
    single = await shop.post("contacts", "/customers", {"name": "x", "registered_at": "2026-01-01T00:00:00+14:30"})
    assert set(_errors(single)) == {"registered_at"}
    order = await shop.post("orders", "/orders", _order(customer, occurred_at="1899-12-31T23:00:00+00:00"))
    assert "between the years 1900 and 2999" in _errors(order)["occurred_at"]
    ticket = await shop.post("tickets", "/tickets", {"customer_id": customer, "kind": "feedback", "channel": "store",
                                                     "subject": "ok", "occurred_at": "2026-01-01T00:00:00-15:00"})
    assert set(_errors(ticket)) == {"occurred_at"}
    for as_of in ("2026-01-01T00:00:00+15:00", "1899-12-31"):
        export = await shop.get("insights", "/export/insights.csv", as_of=as_of)
        assert set(_errors(export)) == {"query.as_of"}, as_of


@pytest.mark.database
async def test_a_replay_keeps_business_times_at_the_legal_extremes_and_text_with_line_breaks(
    shop: Cluster,
) -> None:
    """The offsets and years the edge takes are ones PostgreSQL keeps and insights replays: a replay
    used to fail (500) on an offset of -19:01, and on a carriage return in a customer's reference."""
    ref = _ref("line\rbreak")  # a text with a carriage return used to make the replay's COPY fail
    customer = await shop.customer("Extreme", registered_at="1900-01-01T00:00:00-14:00", external_ref=ref)
    order = await shop.post("orders", "/orders", _order(customer, occurred_at="1900-01-02T12:00:00+14:00"))
    assert order.status_code == 201, order.text
    ticket = await shop.post("tickets", "/tickets", {"customer_id": customer, "kind": "feedback", "channel": "store",
                                                     "subject": "ok", "occurred_at": "2026-01-01T00:00:00-14:00"})
    assert ticket.status_code == 201, ticket.text
    # 4: the first order also makes the customer current, at the order's time
    before = await eventually(lambda: _timeline_of(shop, customer, 4))

    replay = await shop.http.post(shop.urls["insights"] + "/admin/replay", headers=shop.headers(), timeout=120)
    assert replay.status_code == 200, replay.text
    assert await _timeline_of(shop, customer, 4) == before
    assert {when for _, when in before} == {
        "1900-01-01T14:00:00+00:00", "1900-01-01T22:00:00+00:00", "2026-01-01T14:00:00+00:00"}
    exported = await shop.get("insights", "/export/insights.csv")
    assert ref in {row["customer_ref"] for row in csv.DictReader(io.StringIO(exported.text, newline=""))}


async def _timeline_of(shop: Cluster, customer: str, count: int) -> list[tuple[str, str]] | None:
    items = await shop.timeline(customer)
    return sorted((i["type"], i["occurred_at"]) for i in items) if len(items) >= count else None
