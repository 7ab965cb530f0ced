"""Receivables on the real database and broker (docs/architecture.md §14.2): an order on account
owes its total; payments pay oldest due first; ageing; overpayment; the overdue sweeper; credit
notes from resolved tickets; invoices, plans; cancels and returns (the hooks); statements."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.orders.domain.ageing import bucket
from services.orders.store import receivables_hooks
from shared.db import connect
from shared.events import TicketResolved, envelope_for
from shared.outbox import append
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
async def kehu(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with own_cluster(pg_url, tmp_path_factory.mktemp("receivables")) as cluster:
        yield cluster


async def _customer_on_terms(cluster: Cluster, name: str, days: int = 30) -> str:
    customer = await cluster.customer(name)
    await cluster.sql("orders", "INSERT INTO credit_terms (customer_id, payment_days, credit_limit, when_exceeded, "
                      "set_by) VALUES ($1::uuid, $2, NULL, 'refuse', 'test')", customer, days)
    return customer


async def _order(cluster: Cluster, customer: str, price: str, *, days_ago: int = 0, **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    response = await cluster.post("orders", "/orders", {
        "customer_id": customer, "channel": "store", "occurred_at": at,
        "lines": [{"sku": "A1", "quantity": "1", "unit_price": price}], **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _receivable(cluster: Cluster, order_id: str) -> dict[str, Any]:
    response = await cluster.get("orders", f"/orders/{order_id}/receivable")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _events(cluster: Cluster, kind: str, subject: str) -> list[dict[str, Any]]:
    rows = await cluster.sql("orders", "SELECT data FROM outbox WHERE event_type LIKE $1 AND subject = $2 ORDER BY id",
                             f"%.{kind}.%", subject)
    return [r["data"] if isinstance(r["data"], dict) else json.loads(r["data"]) for r in rows]


async def test_an_order_on_account_owes_its_total_and_a_payment_shows_in_the_ageing(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "On account", days=30)
    order = await _order(kehu, customer, "100.00", days_ago=40)
    owed = await _receivable(kehu, order["id"])
    assert (owed["owed"], owed["open"], len(owed["instalments"])) == ("100.00", "100.00", 1)
    due = datetime.fromisoformat(owed["instalments"][0]["due_at"])
    assert due == datetime.fromisoformat(order["occurred_at"]) + timedelta(days=30)
    assert [e["revision"] for e in await _events(kehu, "ReceivableScheduled", customer)] == [1]
    # without terms, or paid at once: nothing owed
    walk_in = await kehu.customer("Walk-in")
    assert (await _receivable(kehu, (await _order(kehu, walk_in, "5.00"))["id"]))["instalments"] == []
    till = await _order(kehu, customer, "7.00", paid_with="wechat_pay")
    assert (await _receivable(kehu, till["id"]))["instalments"] == []

    paid = await kehu.post("orders", "/payments", {"customer_id": customer, "method": "bank_transfer",
                                                   "amount": "30.00", "reference": "BANK-1"})
    assert paid.status_code == 201, paid.text
    assert [(a["order_id"], a["amount"]) for a in paid.json()["allocations"]] == [(order["id"], "30.00")]
    assert (await _receivable(kehu, order["id"]))["open"] == "70.00"
    recorded = await _events(kehu, "PaymentRecorded", customer)
    assert [(e["amount"], e["method"]) for e in recorded] == [("30.00", "bank_transfer")]

    as_of = (due + timedelta(days=10)).isoformat()
    ageing = await kehu.get("orders", "/receivables/ageing", as_of=as_of)
    assert ageing.status_code == 200, ageing.text
    mine = [c for c in ageing.json()["customers"] if c["customer_id"] == customer]
    assert [(c["current"], c["days_1_30"], c["total"]) for c in mine] == [("0.00", "70.00", "70.00")]
    early = (await kehu.get("orders", "/receivables/ageing", as_of=(due - timedelta(days=1)).isoformat())).json()
    assert [c["current"] for c in early["customers"] if c["customer_id"] == customer] == ["70.00"]


async def test_an_overpayment_is_refused_then_accepted_with_the_flag_and_pays_the_next_order(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Overpays")
    await _order(kehu, customer, "19.00")
    body = {"customer_id": customer, "method": "cash", "amount": "25.00"}
    refused = await kehu.post("orders", "/payments", body)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["amount"]
    accepted = await kehu.post("orders", "/payments", {**body, "overpayment": True})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["unallocated"] == "6.00"
    following = await _order(kehu, customer, "10.00")
    assert (await _receivable(kehu, following["id"]))["paid"] == "6.00"  # the credit paid it
    unknown = await kehu.post("orders", "/payments", {**body, "order_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "order_id"


async def test_the_sweeper_raises_an_overdue_once_even_when_run_twice(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Late payer", days=10)
    order = await _order(kehu, customer, "50.00", days_ago=20)
    first = await kehu.post("orders", "/admin/receivables/sweep", {})
    again = await kehu.post("orders", "/admin/receivables/sweep", {})
    assert first.status_code == again.status_code == 200, first.text
    assert [r["order_id"] for r in first.json()["raised"] if r["customer_id"] == customer] == [order["id"]]
    assert [r for r in again.json()["raised"] if r["customer_id"] == customer] == []
    overdue = await _events(kehu, "PaymentOverdue", customer)
    assert [(e["order_id"], e["amount_due"], e["instalment_no"]) for e in overdue] == [(order["id"], "50.00", 1)]


async def test_a_ticket_resolved_twice_gives_one_credit_note(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Complained")
    order = await _order(kehu, customer, "80.00")
    resolved = TicketResolved(customer_id=uuid.UUID(customer), occurred_at=datetime.now(UTC),
                              ticket_id=uuid.uuid4(), resolution="broken cup replaced", compensation=Decimal("15.00"),
                              resolved_by="agent")
    producer = AIOKafkaProducer(bootstrap_servers=kehu.broker.bootstrap, linger_ms=5)
    await producer.start()
    try:
        for envelope in (envelope_for(resolved), envelope_for(resolved)):  # two deliveries, two ce_ids
            key, value, headers = envelope.to_record()
            await producer.send("kehu.tickets", value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    async def credited() -> bool:
        return (await _receivable(kehu, order["id"]))["paid"] == "15.00"

    await eventually(credited, timeout=30)
    notes = await kehu.sql("orders", "SELECT amount FROM credit_notes WHERE customer_id = $1::uuid", customer)
    assert [n["amount"] for n in notes] == [Decimal("15.00")]
    assert len(await _events(kehu, "CreditNoteIssued", customer)) == 1
    recorded = await _events(kehu, "PaymentRecorded", customer)
    assert [(e["method"], e["amount"]) for e in recorded] == [("credit_note", "15.00")]


async def test_invoices_are_numbered_and_take_their_fapiao_number_later(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Invoiced")
    order = await _order(kehu, customer, "120.00")
    issued = await kehu.post("orders", f"/orders/{order['id']}/invoices", {})
    assert issued.status_code == 201, issued.text
    invoice = issued.json()
    assert invoice["number"].startswith(f"INV-{datetime.now(UTC).year}-") and invoice["amount"] == "120.00"
    patched = await kehu.http.patch(kehu.urls["orders"] + f"/invoices/{invoice['id']}",
                                    json={"official_number": "04412345"}, headers=kehu.headers())
    assert patched.status_code == 200 and patched.json()["official_number"] == "04412345"
    listed = (await kehu.get("orders", "/invoices", customer_id=customer)).json()["items"]
    assert [(i["number"], i["official_number"]) for i in listed] == [(invoice["number"], "04412345")]
    too_much = await kehu.post("orders", f"/orders/{order['id']}/invoices", {"amount": "999.00"})
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount"
    assert len(await _events(kehu, "InvoiceIssued", customer)) == 1


async def test_an_instalment_plan_must_add_up_and_keeps_paid_money(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Instalments")
    order = await _order(kehu, customer, "300.00")
    await kehu.post("orders", "/payments", {"customer_id": customer, "method": "alipay", "amount": "120.00"})
    now = datetime.now(UTC)
    plan = [{"due_at": (now + timedelta(days=30)).isoformat(), "amount": "100.00"},
            {"due_at": (now + timedelta(days=60)).isoformat(), "amount": "100.00"}]
    url = kehu.urls["orders"] + f"/orders/{order['id']}/instalments"
    wrong = await kehu.http.put(url, json={"instalments": plan}, headers=kehu.headers())
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "instalments"
    plan[1]["amount"] = "200.00"
    right = await kehu.http.put(url, json={"instalments": plan}, headers=kehu.headers())
    assert right.status_code == 200, right.text
    assert [(i["amount"], i["paid"]) for i in right.json()["instalments"]] == [
        ("100.00", "100.00"), ("200.00", "20.00")]
    revisions = [e["revision"] for e in await _events(kehu, "ReceivableScheduled", customer)]
    assert revisions == [1, 2, 3]


async def test_cancel_and_return_hooks_change_what_is_owed_and_the_statement_adds_up(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Returns")
    kept = await _order(kehu, customer, "100.00", days_ago=2)
    cancelled = await _order(kehu, customer, "40.00", days_ago=1)
    await kehu.post("orders", "/payments", {"customer_id": customer, "method": "cash", "amount": "40.00",
                                            "order_id": cancelled["id"]})
    conn = await connect(kehu.database_urls["orders"])
    try:
        async with conn.transaction():
            now = datetime.now(UTC)
            row = await conn.fetchrow("SELECT id, customer_id, total FROM orders WHERE id = $1::uuid", cancelled["id"])
            events = await receivables_hooks.order_cancelled(conn, row, now)
            events += await receivables_hooks.order_returned(
                conn, await conn.fetchrow("SELECT id, customer_id, total FROM orders WHERE id = $1::uuid",
                                          kept["id"]), Decimal("30.00"), now)
            await append(conn, *events)
    finally:
        await conn.close()
    # the cancelled order owes nothing; its 40.00 paid became credit, which paid the kept order
    assert (await _receivable(kehu, cancelled["id"]))["instalments"] == []
    left = await _receivable(kehu, kept["id"])
    assert (left["owed"], left["paid"], left["open"]) == ("70.00", "40.00", "30.00")
    assert [str(getattr(e, "order_id", "")) for e in events] == [cancelled["id"], kept["id"], kept["id"]]

    statement = await kehu.get("orders", f"/customers/{customer}/statement")
    assert statement.status_code == 200, statement.text
    body = statement.json()
    kinds = [line["kind"] for line in body["lines"]]
    assert kinds == ["order", "order", "payment", "cancellation", "return"]
    assert Decimal(body["opening_balance"]) + sum(Decimal(x["amount"]) for x in body["lines"]) == Decimal(
        body["closing_balance"]) == Decimal("30.00")
    assert body["lines"][-1]["balance"] == body["closing_balance"]
    assert body["ageing"]["total"] == "30.00"


async def test_the_ageing_sql_puts_money_in_the_buckets_the_domain_says_at_every_boundary(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Boundaries", days=0)
    order = await _order(kehu, customer, "10.00", days_ago=100)
    due = datetime.fromisoformat((await _receivable(kehu, order["id"]))["instalments"][0]["due_at"])
    for days in (0, 1, 30, 31, 60, 61, 90, 91):
        as_of = due + timedelta(days=days)
        answer = (await kehu.get("orders", "/receivables/ageing", as_of=as_of.isoformat(), limit=500)).json()
        mine = next(c for c in answer["customers"] if c["customer_id"] == customer)
        filled = [k for k in ("current", "days_1_30", "days_31_60", "days_61_90", "over_90") if mine[k] != "0.00"]
        assert filled == [bucket(due, as_of)], days


async def test_a_survivors_statement_carries_the_merged_customers_lines(kehu: Cluster) -> None:
    merged = await _customer_on_terms(kehu, "Merged away")
    survivor = await kehu.customer("Survivor")
    order = await _order(kehu, merged, "60.00")
    await kehu.post("orders", "/payments", {"customer_id": merged, "method": "cash", "amount": "20.00"})
    merge = await kehu.post("contacts", f"/customers/{merged}/merge-into/{survivor}", {})
    assert merge.status_code == 201, merge.text

    async def moved() -> bool:
        rows = await kehu.sql("orders", "SELECT customer_id FROM orders WHERE id = $1::uuid", order["id"])
        return str(rows[0]["customer_id"]) == survivor

    await eventually(moved, timeout=30)
    body = (await kehu.get("orders", f"/customers/{survivor}/statement")).json()
    assert ([line["kind"] for line in body["lines"]], body["closing_balance"]) == (["order", "payment"], "40.00")
    assert body["ageing"]["total"] == "40.00"
    paid = await kehu.post("orders", "/payments", {"customer_id": survivor, "method": "cash", "amount": "40.00"})
    assert [a["order_id"] for a in paid.json()["allocations"]] == [order["id"]]


async def test_an_approved_order_owes_from_then_on(kehu: Cluster) -> None:
    customer = await _customer_on_terms(kehu, "Approved", days=15)
    order = await _order(kehu, customer, "45.00", paid_with="other")  # stands in for one that waited: owes nothing
    assert (await _receivable(kehu, order["id"]))["instalments"] == []
    conn = await connect(kehu.database_urls["orders"])
    try:
        async with conn.transaction():
            row = await conn.fetchrow("SELECT id, customer_id, total, occurred_at, external_ref FROM orders "
                                      "WHERE id = $1::uuid", order["id"])
            await append(conn, *await receivables_hooks.order_approved(conn, row, datetime.now(UTC)))
    finally:
        await conn.close()
    owed = await _receivable(kehu, order["id"])
    assert [(i["amount"], i["paid"]) for i in owed["instalments"]] == [("45.00", "0.00")]
    assert datetime.fromisoformat(owed["instalments"][0]["due_at"]) == datetime.fromisoformat(
        order["occurred_at"]) + timedelta(days=15)
