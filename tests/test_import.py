"""Importing order history: the bulk endpoints of contacts and orders, and `kehu import orders`.

Unit tests of CSV parsing come first; the integration tests share one cluster (the four services
on the real broker and database) for the module, each using its own customer and order refs, so
the whole file stays within a few seconds of cluster start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from benchmarks import cdnow, cdnow_csv, model_research
from kehu import cli
from kehu.history_csv import HeaderError, Parsed, RowError, derived_order_ref, parse_csv, parse_time
from kehu.importer import (
    Api,
    ImportFailed,
    ImportOptions,
    Progress,
    add_parser,
    options_of,
    run_import,
    summary,
)
from shared.customers import CustomerDirectory
from shared.errors import Unavailable
from shared.settings import Settings
from tests.conftest import Cluster, eventually, free_port, own_cluster

# --- reading the CSV --------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parse(text: str, *, zone: ZoneInfo = ZoneInfo("UTC"), channel: str = "import") -> Parsed:
    return parse_csv(io.StringIO(text), zone=zone, channel=channel, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1997-01-01", datetime(1997, 1, 1, tzinfo=UTC)),
        ("19970101", datetime(1997, 1, 1, tzinfo=UTC)),
        ("2024-03-01T10:00:00+08:00", datetime(2024, 3, 1, 2, 0, tzinfo=UTC)),
        ("2024-03-01T02:00:00Z", datetime(2024, 3, 1, 2, 0, tzinfo=UTC)),
        ("2024-03-01 02:00:00.250+00:00", datetime(2024, 3, 1, 2, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_occurred_at_is_rfc3339_with_an_offset_or_a_date(text: str, expected: datetime) -> None:
    assert parse_time(text, ZoneInfo("UTC")) == expected


def test_a_date_alone_is_the_start_of_that_day_in_the_given_zone() -> None:
    assert parse_time("2024-03-01", SHANGHAI) == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)
    assert parse_time("20240301", SHANGHAI) == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-03-01T10:00:00", "has no UTC offset"),
        ("2024-02-30", "is not a date"),
        ("20241301", "is not a date"),
        ("2024-0301", "is not a date"),
        ("01/03/2024", "is not a date"),
        ("yesterday", "is not a date"),
    ],
)
def test_other_times_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        parse_time(text, ZoneInfo("UTC"))


def test_a_valid_row_becomes_one_line_whose_amount_is_the_csv_amount_exactly() -> None:
    parsed = _parse("customer_ref,occurred_at,quantity,amount\n00002,1997-01-12,2,29.33\n")

    assert parsed.bad == [] and parsed.read == 1
    row = parsed.rows[0]
    assert (row.line, row.customer_ref, row.occurred_at) == (2, "00002", datetime(1997, 1, 12, tzinfo=UTC))
    assert (row.quantity, row.unit_price, row.amount) == (Decimal("2"), Decimal("14.67"), Decimal("29.33"))
    assert (row.sku, row.channel, row.name) == ("import", "import", None)
    assert row.order_ref == "import:00002:1997-01-12T00:00:00Z:1"


def test_rows_of_one_customer_at_one_time_are_numbered_in_file_order() -> None:
    parsed = _parse("customer_ref,occurred_at,quantity,amount\n"
                    "7,1997-01-12,1,12.00\n8,1997-01-12,1,1.00\n7,1997-01-12,5,77.00\n"
                    "7,1997-01-12T08:00:00+08:00,1,3.00\n7,1997-01-13,1,4.00\n")

    assert [r.order_ref for r in parsed.rows] == [
        "import:7:1997-01-12T00:00:00Z:1", "import:8:1997-01-12T00:00:00Z:1", "import:7:1997-01-12T00:00:00Z:2",
        "import:7:1997-01-12T00:00:00Z:3",  # the same instant written with another offset
        "import:7:1997-01-13T00:00:00Z:1",
    ]


def test_a_bad_row_keeps_its_number_so_fixing_it_renumbers_nothing() -> None:
    header = "customer_ref,occurred_at,quantity,amount\n"
    broken = _parse(header + "7,1997-01-12,0,12.00\n7,1997-01-12,1,5.00\n")
    fixed = _parse(header + "7,1997-01-12,1,12.00\n7,1997-01-12,1,5.00\n")

    assert [r.order_ref for r in broken.rows] == ["import:7:1997-01-12T00:00:00Z:2"]
    assert [r.order_ref for r in fixed.rows] == ["import:7:1997-01-12T00:00:00Z:1", "import:7:1997-01-12T00:00:00Z:2"]


def test_a_long_customer_ref_gets_a_hashed_order_ref_that_still_fits() -> None:
    ref = derived_order_ref("c" * 100, datetime(1997, 1, 1, tzinfo=UTC), 1)
    assert ref.startswith("import:sha256:") and len(ref) <= 100
    assert ref == derived_order_ref("c" * 100, datetime(1997, 1, 1, tzinfo=UTC), 1)
    assert ref != derived_order_ref("c" * 100, datetime(1997, 1, 1, tzinfo=UTC), 2)


def test_optional_columns_in_any_order() -> None:
    parsed = _parse("\ufeffAmount, name ,order_ref,sku,channel,customer_ref,occurred_at,quantity\n"
                    "9.50,王芳,R-1,TEA-1,store,card-1,2024-03-01T10:00:00+08:00,1\n"
                    "3.00,,,,,card-1,2024-03-02,1.5\n", channel="fair")

    assert parsed.bad == []
    first, second = parsed.rows
    assert (first.sku, first.channel, first.order_ref, first.name) == ("TEA-1", "store", "R-1", "王芳")
    assert (second.sku, second.channel, second.name) == ("import", "fair", None)
    assert second.quantity == Decimal("1.5") and second.unit_price == Decimal("2.00")


def test_every_bad_row_is_reported_with_its_line_and_reason() -> None:
    text = (
        "customer_ref,occurred_at,quantity,amount,order_ref,channel\n"
        "1,1997-01-01,1,11.77,,\n"                 # 2 fine
        "2,1997-01-01,1,11.77\n"                   # 3
        "3,1997-01-01,1,11.77,,,x\n"               # 4
        ",1997-01-01,1,11.77,,\n"                  # 5
        "6,1997-13-01,1,11.77,,\n"                 # 6
        "7,1997-01-01,0,11.77,,\n"                 # 7
        "8,1997-01-01,-2,11.77,,\n"                # 8
        "9,1997-01-01,1,-1.00,,\n"                 # 9
        "10,1997-01-01,1,1.005,,\n"                # 10
        "11,1997-01-01,two,11.77,,\n"              # 11
        "12,1997-01-01,1,$11.77,,\n"               # 12
        "13,2099-01-01,1,11.77,,\n"                # 13
        "14,1997-01-01,1,11.77,R-1,\n"             # 14 fine
        "15,1997-01-01,1,11.77,R-1,\n"             # 15
        "16,1997-01-01,1,11.77,,Web\n"             # 16
        "17,1997-01-01,1.0005,11.77,,\n"           # 17
        "\n"                                       # 18: blank, not a row
        "19,1997-01-01,2,11.770,,\n"               # 19 fine: trailing zero
        "20,,1,11.77,,\n"                          # 20
        "21,1997-01-01,NaN,11.77,,\n"              # 21
    )

    parsed = _parse(text)

    assert [r.line for r in parsed.rows] == [2, 14, 19]
    assert parsed.read == 19
    assert [str(b) for b in parsed.bad] == [
        "line 3: expected 6 fields, got 4",
        "line 4: expected 6 fields, got 7",
        "line 5: customer_ref is empty",
        "line 6: occurred_at '1997-13-01' is not a date (month must be in 1..12)",
        "line 7: quantity must be greater than 0 (got 0)",
        "line 8: quantity must be greater than 0 (got -2)",
        "line 9: amount -1.00 is negative",
        "line 10: amount 1.005 has more than 2 decimals",
        "line 11: quantity 'two' is not a number",
        "line 12: amount '$11.77' is not a number",
        "line 13: occurred_at 2099-01-01T00:00:00Z is in the future",
        "line 15: order_ref 'R-1' repeats line 14",
        "line 16: channel 'Web' must be 1-32 lower-case letters, digits or _, starting with a letter",
        "line 17: quantity 1.0005 has more than 3 decimals",
        "line 20: occurred_at is empty",
        "line 21: quantity 'NaN' is not a number",
    ]
    assert parsed.rows[2].amount == Decimal("11.77") and str(parsed.rows[2].amount) == "11.77"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("1,1997-01-01,1,1.00\n", "unknown column(s) '1', '1997-01-01', '1', '1.00'"),
        ("customer_ref,occurred_at,quantity\n1,1997-01-01,1\n", "the header lacks 'amount'"),
        ("customer_ref,occurred_at,quantity,amount,ammount\n", "unknown column(s) 'ammount'"),
        ("customer_ref,occurred_at,quantity,amount,sku,SKU\n", "column(s) 'sku' appear more than once"),
    ],
)
def test_a_file_without_a_usable_header_is_refused_as_a_whole(text: str, message: str) -> None:
    with pytest.raises(HeaderError, match=re.escape(message)):
        _parse(text)


def test_the_cdnow_layout_converts_and_parses_without_a_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "CDNOW_master.txt"
    source.write_text(" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n"
                      " 00002 19970112  2   29.33\r\n 00002 19970112  5   77.00\r\n 00003 19980102  1   0.00\r\n")
    out = io.StringIO()

    written = cdnow_csv.convert(source, csv.writer(out, lineterminator="\n"), until=date(1997, 12, 31))

    assert written == 3
    assert out.getvalue() == ("customer_ref,occurred_at,quantity,amount\n00001,1997-01-01,1,11.77\n"
                              "00002,1997-01-12,2,29.33\n00002,1997-01-12,5,77.00\n")
    parsed = _parse(out.getvalue())
    assert parsed.bad == []
    assert [r.order_ref for r in parsed.rows][1:] == ["import:00002:1997-01-12T00:00:00Z:1",
                                                      "import:00002:1997-01-12T00:00:00Z:2"]


# --- talking to the services (a fake transport) -----------------------------------------------


def _api(handler: Callable[[httpx.Request], httpx.Response]) -> Api:
    return Api(httpx.AsyncClient(transport=httpx.MockTransport(handler)), retry_delays=(0.0, 0.0, 0.0))


def _ok(request: httpx.Request) -> httpx.Response:
    items = orjson.loads(request.content)["orders"]
    return httpx.Response(200, json={"items": [{"index": i, "id": f"id-{o['external_ref']}", "created": True}
                                               for i, o in enumerate(items)]})


async def test_transient_failures_are_retried_with_the_same_idempotency_key() -> None:
    seen: list[tuple[str, bytes]] = []
    answers = iter(["connect", 503, 502])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["Idempotency-Key"], request.content))
        answer = next(answers, None)
        if answer == "connect":
            raise httpx.ConnectError("refused")
        if answer is not None:
            return httpx.Response(int(answer), headers={"Retry-After": "0"}, json={"detail": "busy"})
        return _ok(request)

    accepted, refused = await _api(handler).send("http://orders/orders/batch", "orders", ["a", "b"],
                                                 lambda batch: {"orders": [{"external_ref": x} for x in batch]})

    assert [result["id"] for _, result in accepted] == ["id-a", "id-b"] and refused == []
    assert len(seen) == 4 and len(set(seen)) == 1  # one key, one body, four attempts


async def test_a_service_that_stays_unavailable_is_fatal_after_the_retries() -> None:
    api = _api(lambda request: httpx.Response(503, json={"detail": "contacts is unreachable"}))
    with pytest.raises(ImportFailed, match=r"answered 503 \(contacts is unreachable\) after 4 attempts"):
        await api.send("http://orders/orders/batch", "orders", ["a"], lambda batch: {"orders": batch})


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_token_is_fatal_at_once(status: int) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json={"detail": "the bearer token is not valid"})

    with pytest.raises(ImportFailed, match="refused the token"):
        await _api(handler).send("http://orders/orders/batch", "orders", ["a"], lambda batch: {"orders": batch})
    assert calls == 1


async def test_items_the_service_refuses_are_returned_and_the_rest_sent_again_under_a_new_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        refs = [o["external_ref"] for o in orjson.loads(request.content)["orders"]]
        if "b" in refs:
            return httpx.Response(422, json={"detail": "...", "errors": [
                {"field": f"orders[{refs.index('b')}].customer_id", "message": "no such customer in contacts"},
                {"field": f"orders[{refs.index('b')}].lines[0].amount", "message": "too far"}]})
        return _ok(request)

    accepted, refused = await _api(handler).send(
        "http://orders/orders/batch", "orders", ["a", "b", "c"],
        lambda batch: {"orders": [{"external_ref": x} for x in batch]})

    assert [item for item, _ in accepted] == ["a", "c"]
    assert refused == [("b", "customer_id: no such customer in contacts; lines[0].amount: too far")]
    assert len(keys) == 2 and keys[0] != keys[1]


async def test_a_422_that_names_no_item_is_fatal() -> None:
    api = _api(lambda request: httpx.Response(422, json={"detail": "reused", "errors": [
        {"field": "header.Idempotency-Key", "message": "already used with another body"}]}))
    with pytest.raises(ImportFailed, match="answered 422: reused"):
        await api.send("http://orders/orders/batch", "orders", ["a"], lambda batch: {"orders": batch})


def test_progress_prints_plain_lines_every_tenth_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, "orders", 1000)
    for _ in range(40):
        progress.advance(25)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("orders    100/1,000   10%") and lines[-1].startswith("orders    1,000/1,000  100%")
    assert "\r" not in stream.getvalue()


# --- one cluster for the module -------------------------------------------------------------


@pytest.fixture(scope="module")
async def shared_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Like conftest's ``cluster``, started once for this module's integration tests."""
    async with own_cluster(pg_url, tmp_path_factory.mktemp("import-cluster")) as running:
        yield running


def _ref(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _order(customer_id: str, external_ref: str | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": customer_id, "channel": "import",
                            "lines": [{"sku": "CD", "quantity": "2", "unit_price": "14.67", "amount": "29.33"}]}
    if external_ref is not None:
        body["external_ref"] = external_ref
    return {**body, **fields}


async def _count(cluster: Cluster, service: str, query: str, *args: Any) -> int:
    return int((await cluster.sql(service, query, *args))[0][0])


# --- POST /customers/batch ------------------------------------------------------------------


@pytest.mark.database
async def test_customer_batch_registers_new_ones_and_reports_existing_ones(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    old_ref, new_ref = _ref("card"), _ref("card")
    existing = await cluster.customer("Already here", external_ref=old_ref)

    response = await cluster.post("contacts", "/customers/batch", {"customers": [
        {"name": "Returning", "external_ref": old_ref},
        {"name": "Newcomer", "external_ref": new_ref, "registered_at": "1997-01-01T00:00:00Z", "channel": "import"},
        {"name": "No reference"},
    ]})

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["index"], i["external_ref"], i["created"]) for i in items] == [
        (0, old_ref, False), (1, new_ref, True), (2, None, True)]
    assert items[0]["id"] == existing
    timeline = await eventually(lambda: _timeline(cluster, items[1]["id"], 1))
    assert timeline[0]["type"] == "CustomerRegistered"
    assert timeline[0]["occurred_at"].startswith("1997-01-01T00:00:00")

    again = await cluster.post("contacts", "/customers/batch", {"customers": [
        {"name": "Newcomer", "external_ref": new_ref}]})
    assert again.json()["items"] == [{"index": 0, "id": items[1]["id"], "external_ref": new_ref, "created": False}]
    assert await _count(cluster, "contacts", "SELECT count(*) FROM customers WHERE external_ref = $1", new_ref) == 1


@pytest.mark.database
async def test_customer_batch_names_the_invalid_items_and_writes_nothing(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    ref = _ref("card")
    response = await cluster.post("contacts", "/customers/batch", {"customers": [
        {"name": "Fine", "external_ref": ref},
        {"name": "Bad mail", "email": "nope"},
        {"name": "Twice", "external_ref": ref},
        {"name": "Later", "registered_at": "2999-01-01T00:00:00Z"},
    ]})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["customers[1].email"]  # pydantic's checks come first

    response = await cluster.post("contacts", "/customers/batch", {"customers": [
        {"name": "Fine", "external_ref": ref},
        {"name": "Twice", "external_ref": ref},
        {"name": "Later", "registered_at": "2999-01-01T00:00:00Z"},
    ]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["customers[1].external_ref", "customers[2].registered_at"]
    assert await _count(cluster, "contacts", "SELECT count(*) FROM customers WHERE external_ref = $1", ref) == 0

    empty = await cluster.post("contacts", "/customers/batch", {"customers": []})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "customers"

    single = await cluster.post("contacts", "/customers", {"name": "Later", "registered_at": "2999-01-01T00:00:00Z"})
    assert single.status_code == 422 and single.json()["errors"][0]["field"] == "registered_at"


# --- POST /orders/batch ---------------------------------------------------------------------


@pytest.mark.database
async def test_order_batch_places_new_orders_and_reports_existing_ones(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    customer = await cluster.customer("Buyer", external_ref=_ref("card"))  # confirmed over HTTP, then replicated
    refs = [_ref("ord") for _ in range(3)]
    first = await cluster.post("orders", "/orders/batch", {"orders": [
        _order(customer, refs[0], occurred_at="1997-03-01T00:00:00Z"), _order(customer, refs[1])]})
    assert first.status_code == 200, first.text

    mixed = await cluster.post("orders", "/orders/batch", {"orders": [
        _order(customer, refs[1]), _order(customer, refs[2])]})

    assert mixed.status_code == 200, mixed.text
    before, after = first.json()["items"], mixed.json()["items"]
    assert [i["created"] for i in before] == [True, True]
    assert [(i["index"], i["external_ref"], i["created"]) for i in after] == [(0, refs[1], False), (1, refs[2], True)]
    assert after[0]["id"] == before[1]["id"]
    order = (await cluster.get("orders", f"/orders/{before[0]['id']}")).json()
    assert order["total"] == "29.33"
    assert [{k: ln[k] for k in ("sku", "quantity", "unit_price", "amount", "discount")} for ln in order["lines"]] == [
        {"sku": "CD", "quantity": "2", "unit_price": "14.67", "amount": "29.33", "discount": "0.00"}]
    assert await _count(cluster, "orders", "SELECT count(*) FROM outbox WHERE subject = $1", customer) == 3
    # the first order made the customer current (contacts publishes it at that order's time)
    timeline = await eventually(lambda: _timeline(cluster, customer, 5), timeout=30)
    assert [i["type"] for i in timeline] == ["OrderPlaced", "CustomerCategoryChanged", "CustomerRegistered",
                                             "OrderPlaced", "OrderPlaced"]
    assert timeline[0]["data"]["total"] == "29.33"


@pytest.mark.database
async def test_order_batch_refuses_customers_contacts_never_registered(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    customer = await cluster.customer("Real", external_ref=_ref("card"))
    stranger = str(uuid.uuid4())
    refs = [_ref("ord") for _ in range(3)]

    response = await cluster.post("orders", "/orders/batch", {"orders": [
        _order(customer, refs[0]), _order(stranger, refs[1]), _order(stranger, refs[2])]})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "orders[1].customer_id", "message": "no such customer in contacts"},
        {"field": "orders[2].customer_id", "message": "no such customer in contacts"},
    ]
    assert await _count(cluster, "orders", "SELECT count(*) FROM orders WHERE external_ref = ANY($1)", refs) == 0


@pytest.mark.database
async def test_the_batch_customer_check_confirms_with_contacts_and_needs_it_only_for_unknown_ids(
    shared_cluster: Cluster,
) -> None:
    cluster = shared_cluster
    fresh = [uuid.UUID(await cluster.customer(f"Fresh {i}", external_ref=_ref("card"))) for i in range(3)]
    stranger = uuid.uuid4()
    pool = await asyncpg.create_pool(cluster.database_urls["orders"], min_size=1, max_size=2)
    up = CustomerDirectory(cluster.urls["contacts"], cluster.tokens["readonly"])
    down = CustomerDirectory(f"http://127.0.0.1:{free_port()}", cluster.tokens["readonly"])
    try:
        assert await up.ensure_all_known(pool, [*fresh, stranger]) == {stranger}
        rows = await pool.fetch("SELECT customer_id FROM known_customers WHERE customer_id = ANY($1)", fresh)
        assert {r["customer_id"] for r in rows} == set(fresh)  # in the replica now (committed: autocommit)

        assert await down.ensure_all_known(pool, fresh) == set()  # the replica answers
        with pytest.raises(Unavailable) as exc:
            await down.ensure_all_known(pool, [fresh[0], uuid.uuid4()])
        assert exc.value.status == 503 and exc.value.headers == {"Retry-After": "5"}
    finally:
        await up.close()
        await down.close()
        await pool.close()


@pytest.mark.database
async def test_order_batch_names_invalid_items(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    customer = await cluster.customer("Careless", external_ref=_ref("card"))
    ref = _ref("ord")
    bad_line = {"sku": "CD", "quantity": "2", "unit_price": "14.67", "amount": "30.00"}

    response = await cluster.post("orders", "/orders/batch", {"orders": [
        _order(customer, ref), _order(customer, None), _order(customer, _ref("ord"), lines=[bad_line])]})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["orders[1].external_ref", "orders[2].lines[0].amount"]

    response = await cluster.post("orders", "/orders/batch", {"orders": [
        _order(customer, ref), _order(customer, ref), _order(customer, _ref("ord"), occurred_at="2999-01-01T00:00:00Z")]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["orders[1].external_ref", "orders[2].occurred_at"]
    assert await _count(cluster, "orders", "SELECT count(*) FROM orders WHERE customer_id = $1", uuid.UUID(customer)) == 0


@pytest.mark.database
async def test_order_batch_honours_the_idempotency_key(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    customer = await cluster.customer("Retrier", external_ref=_ref("card"))
    body = {"orders": [_order(customer, _ref("ord"))]}
    key = {"Idempotency-Key": _ref("batch")}

    first = await cluster.post("orders", "/orders/batch", body, **key)
    again = await cluster.post("orders", "/orders/batch", body, **key)
    other = await cluster.post("orders", "/orders/batch", {"orders": [_order(customer, _ref("ord"))]}, **key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["items"][0]["created"] is True
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await _count(cluster, "orders", "SELECT count(*) FROM orders WHERE customer_id = $1", uuid.UUID(customer)) == 1


@pytest.mark.database
async def test_concurrent_batches_with_the_same_orders_place_each_once(shared_cluster: Cluster) -> None:
    cluster = shared_cluster
    customer = await cluster.customer("Popular", external_ref=_ref("card"))
    body = {"orders": [_order(customer, _ref("ord")) for _ in range(50)]}

    responses = await asyncio.gather(*[cluster.post("orders", "/orders/batch", body) for _ in range(4)])

    assert {r.status_code for r in responses} == {200}
    created = [sum(i["created"] for i in r.json()["items"]) for r in responses]
    assert sorted(created) == [0, 0, 0, 50]
    assert len({tuple(i["id"] for i in r.json()["items"]) for r in responses}) == 1
    assert await _count(cluster, "orders", "SELECT count(*) FROM outbox WHERE subject = $1", customer) == 50


async def _timeline(cluster: Cluster, customer_id: str, n: int) -> list[dict[str, Any]] | None:
    items = await cluster.timeline(customer_id)
    return items if len(items) >= n else None




# --- kehu import orders, end to end ---------------------------------------------------------


def _options(cluster: Cluster, path: Path, **fields: Any) -> ImportOptions:
    return ImportOptions(path=path, contacts_url=cluster.urls["contacts"], orders_url=cluster.urls["orders"],
                         token=cluster.tokens["sales"], **fields)


def _history(tmp_path: Path, prefix: str) -> Path:
    path = tmp_path / f"{prefix}.csv"
    path.write_text(
        "customer_ref,occurred_at,quantity,amount\n"
        f"{prefix}-A,1997-01-01,1,11.77\n"
        f"{prefix}-A,1997-01-12,2,29.33\n"
        f"{prefix}-A,1997-01-12,5,77.00\n"  # same customer, same day: a second order
        f"{prefix}-B,1997-02-01T10:00:00+08:00,1,12.00\n"
        f"{prefix}-C,1997-13-01,1,5.00\n"
        f"{prefix}-C,1997-03-01,0,5.00\n"
        f"{prefix}-D,1997-03-01,1,-5.00\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.database
async def test_import_registers_customers_places_orders_and_reports_bad_rows(
    shared_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = shared_cluster
    prefix = _ref("shop")
    known = await cluster.customer("Known before the import", external_ref=f"{prefix}-B")
    out, err = io.StringIO(), io.StringIO()

    report = await run_import(_options(cluster, _history(tmp_path, prefix)), out=out, err=err)

    assert report.fatal is None and report.exit_code == 1
    assert out.getvalue().splitlines() == [
        "line 6: occurred_at '1997-13-01' is not a date (month must be in 1..12)",
        "line 7: quantity must be greater than 0 (got 0)",
        "line 8: amount -5.00 is negative",
    ]
    assert (report.read, report.valid, len(report.bad)) == (7, 4, 3)
    assert (report.customers_created, report.customers_existing) == (1, 1)  # C and D have no valid row
    assert (report.orders_created, report.orders_existing) == (4, 0)
    assert "customers: 1 created, 1 already there" in summary(report, _options(cluster, Path("x.csv")))
    assert "orders    4/4  100%" in err.getvalue()

    found = (await cluster.get("contacts", "/customers", external_ref=f"{prefix}-A")).json()["items"]
    assert [(c["name"], c["channel"]) for c in found] == [(f"{prefix}-A", "import")]
    a = found[0]["id"]
    timeline = await eventually(lambda: _timeline(cluster, a, 5), timeout=30)
    assert [(i["type"], i["occurred_at"][:10]) for i in timeline] == [
        ("CustomerRegistered", "1997-01-01"), ("OrderPlaced", "1997-01-01"), ("CustomerCategoryChanged", "1997-01-01"),
        ("OrderPlaced", "1997-01-12"), ("OrderPlaced", "1997-01-12")]
    timeline = [i for i in timeline if i["type"] != "CustomerCategoryChanged"]
    lines = sorted((ln for i in timeline[1:] for ln in i["data"]["lines"]), key=lambda ln: ln["amount"])
    plain = {"discount": "0.00", "category": None}
    assert lines == [{"sku": "import", "quantity": "1", "unit_price": "11.77", "amount": "11.77", **plain},
                     {"sku": "import", "quantity": "2", "unit_price": "14.67", "amount": "29.33", **plain},
                     {"sku": "import", "quantity": "5", "unit_price": "15.40", "amount": "77.00", **plain}]
    assert {i["data"]["external_ref"] for i in timeline[1:]} == {
        f"import:{prefix}-A:1997-01-01T00:00:00Z:1", f"import:{prefix}-A:1997-01-12T00:00:00Z:1",
        f"import:{prefix}-A:1997-01-12T00:00:00Z:2"}
    b = await eventually(lambda: _timeline(cluster, known, 2))
    assert b[0]["type"] == "OrderPlaced" and b[0]["occurred_at"].startswith("1997-02-01T02:00:00")
    assert await _count(cluster, "contacts", "SELECT count(*) FROM customers WHERE external_ref LIKE $1",
                        f"{prefix}-%") == 2


@pytest.mark.database
async def test_importing_the_same_file_again_creates_nothing_new(
    shared_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = shared_cluster
    prefix = _ref("again")
    path = _history(tmp_path, prefix)
    first = await run_import(_options(cluster, path), out=io.StringIO(), err=io.StringIO())
    assert (first.customers_created, first.orders_created) == (2, 4)
    outbox = await _count(cluster, "orders", "SELECT count(*) FROM outbox")
    customers = await _count(cluster, "contacts", "SELECT count(*) FROM customers")

    monkeypatch.setenv("KEHU_TOKEN", cluster.tokens["sales"])
    code = await asyncio.to_thread(cli.main, [
        "import", "orders", str(path), "--contacts-url", cluster.urls["contacts"],
        "--orders-url", cluster.urls["orders"], "--batch", "2", "--timezone", "UTC"])  # the zone of the first run

    printed = capsys.readouterr().out
    assert code == 1  # the bad rows are still bad
    assert "customers: 0 created, 2 already there" in printed
    assert "orders:    0 created, 4 already there" in printed
    assert await _count(cluster, "orders", "SELECT count(*) FROM outbox") == outbox
    assert await _count(cluster, "contacts", "SELECT count(*) FROM customers") == customers


@pytest.mark.database
async def test_a_dry_run_reports_bad_rows_and_writes_nothing(
    shared_cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = shared_cluster
    prefix = _ref("dry")
    customers = await _count(cluster, "contacts", "SELECT count(*) FROM customers")

    code = await asyncio.to_thread(cli.main, [
        "import", "orders", str(_history(tmp_path, prefix)), "--dry-run", "--orders-url", "http://127.0.0.1:9"])

    printed = capsys.readouterr().out.splitlines()
    assert code == 1
    assert printed[:3] == [
        "line 6: occurred_at '1997-13-01' is not a date (month must be in 1..12)",
        "line 7: quantity must be greater than 0 (got 0)",
        "line 8: amount -5.00 is negative",
    ]
    assert printed[3] == f"read 7 rows from {prefix}.csv: 4 valid, 3 bad"
    assert printed[4].startswith("dry run: nothing written; would register up to 2 customers and place 4 orders")
    assert await _count(cluster, "contacts", "SELECT count(*) FROM customers") == customers


async def test_an_unreachable_service_or_a_missing_token_is_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path, "nowhere")
    options = ImportOptions(path=path, contacts_url=f"http://127.0.0.1:{free_port()}",
                            orders_url=f"http://127.0.0.1:{free_port()}", token="t", retry_delays=(0.0,))

    report = await run_import(options, out=io.StringIO(), err=io.StringIO())

    assert report.exit_code == 2
    assert report.fatal is not None and "unreachable (ConnectError" in report.fatal and "after 2 attempts" in report.fatal

    monkeypatch.delenv("KEHU_TOKEN", raising=False)
    monkeypatch.setenv("KEHU_HOME", str(tmp_path / "no-home"))
    assert cli.main(["import", "orders", str(path)]) == 2
    assert "no token: set KEHU_TOKEN" in capsys.readouterr().err


def test_an_owner_column_names_who_looks_after_the_customer() -> None:
    parsed = _parse("customer_ref,occurred_at,quantity,amount,owner\n"
                    "c1,2024-03-01,1,5.00,li-na\n"
                    "c2,2024-03-01,1,5.00,\n"
                    f"c3,2024-03-01,1,5.00,{'x' * 65}\n")
    assert [row.owner for row in parsed.rows] == ["li-na", None]
    assert [(bad.line, bad.reason) for bad in parsed.bad] == [(4, "owner is longer than 64 characters")]


def test_cdnow_csv_without_the_data_says_where_it_comes_from_and_writes_no_file(tmp_path: Path) -> None:
    output = tmp_path / "cdnow.csv"

    with pytest.raises(SystemExit) as stopped:
        cdnow_csv.main(["--source", str(tmp_path / "missing" / "CDNOW_master.txt"), "-o", str(output)])

    message = str(stopped.value.code)
    assert message.startswith(f"cdnow_csv: no CDNOW data at {tmp_path / 'missing' / 'CDNOW_master.txt'}.")
    assert "Fader and Hardie" in message and "pip download --no-deps lifetimes==0.11.3" in message
    assert not output.exists()


def test_the_cdnow_benchmarks_take_the_data_from_where_the_message_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The message says `--source`: the benchmark and the research script take it too."""
    missing = tmp_path / "lifetimes" / "datasets" / "CDNOW_master.txt"
    with pytest.raises(SystemExit) as stopped:
        cdnow.main(["--source", str(missing), "--kehu", sys.executable])
    assert str(stopped.value.code).startswith(f"cdnow_csv: no CDNOW data at {missing}.")
    monkeypatch.setattr(sys, "argv", ["model_research.py", "--source", str(missing)])
    with pytest.raises(SystemExit) as stopped:
        model_research.main()
    assert str(stopped.value.code).startswith(f"cdnow_csv: no CDNOW data at {missing}.")


@pytest.mark.parametrize(("argv", "zone", "expected"), [
    ([], None, "Asia/Shanghai"),  # the default shop
    ([], "UTC", "UTC"),  # KEHU_TIMEZONE
    (["--timezone", "Europe/Berlin"], "UTC", "Europe/Berlin"),
])
def test_date_only_rows_are_days_of_the_shops_time_zone_unless_told(argv: list[str], zone: str | None,
                                                                    expected: str) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import", "orders", "history.csv", *argv])
    settings = Settings() if zone is None else Settings(timezone=zone)
    assert options_of(args, settings, "token").timezone == expected
