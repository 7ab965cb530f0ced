"""End to end (issue 13), on the real database and broker, all four services in the loop: a
complaint filed by phone is assigned to the customer's owner; it breaches its first-response SLA
at the right business time under `as_of` (the shop calendar, Monday to Friday 09:00-18:00 in
Shanghai: filed on a Friday at 17:00 with four business hours to answer, it runs out on Monday at
12:00, not a minute before, and only once however often the sweeper runs); it is resolved with
compensation that orders turns into one credit note (once, even when the ticket is reopened and
resolved again); and the customer's churn risk in insights rises while the complaint is open,
rises again while it is unanswered, and falls back after the accepted remedy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

FILED = "2026-11-27T17:00:00+08:00"  # a Friday, an hour before closing
DUE = "2026-11-30T04:00:00Z"  # Monday 12:00 in Shanghai: 1 business hour on Friday, 3 on Monday
A_MINUTE_BEFORE = "2026-11-30T11:59:00+08:00"
AT_DUE = "2026-11-30T12:00:00+08:00"


@pytest.fixture(scope="module")
async def shop(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home: Path = tmp_path_factory.mktemp("tickets-e2e")
    async with own_cluster(pg_url, home, timezone="Asia/Shanghai") as running:
        yield running


async def _owner_known_to_tickets(shop: Cluster, customer_id: str, owner: str) -> None:
    async def arrived() -> bool:
        rows = await shop.sql("tickets", "SELECT owner FROM known_customers WHERE customer_id = $1",
                              uuid.UUID(customer_id))
        return bool(rows) and rows[0]["owner"] == owner

    await eventually(arrived, timeout=30)


async def _insights(shop: Cluster, customer_id: str) -> dict[str, Any] | None:
    response = await shop.get("insights", f"/customers/{customer_id}/insights")
    if response.status_code == 404:  # insights has not seen the customer yet
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _churn_after_a_purchase(shop: Cluster, customer_id: str) -> float:
    async def scored() -> float | None:
        found = await _insights(shop, customer_id)
        return float(found["churn_risk"]) if found and found["churn_risk"] < 1 else None

    return float(await eventually(scored, timeout=30))


async def _sweep(shop: Cluster, as_of: str) -> list[dict[str, Any]]:
    response = await shop.http.post(shop.urls["tickets"] + "/admin/tickets/sla-sweep", params={"as_of": as_of},
                                    headers=shop.headers("admin"))
    assert response.status_code == 200, response.text
    return list(response.json()["breached"])


async def _credit_notes(shop: Cluster, customer_id: str) -> list[dict[str, Any]]:
    response = await shop.get("orders", "/payments", customer_id=customer_id)
    assert response.status_code == 200, response.text
    return [p for p in response.json()["items"] if p["credit_note_id"] is not None]


async def _post(shop: Cluster, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    response = await shop.post("tickets", path, body, role="admin", **{"Idempotency-Key": key})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_a_phone_complaint_from_filing_through_breach_to_an_accepted_remedy(shop: Cluster) -> None:
    customer = await shop.customer("投诉的张女士", owner="wang")
    await _owner_known_to_tickets(shop, customer, "wang")
    # A customer who bought (one who never did has a model risk of 1, which nothing can raise).
    bought = await shop.order(customer)
    assert bought.status_code == 201, bought.text
    before = await _churn_after_a_purchase(shop, customer)

    # Filed by phone: the customer's owner handles it; its first answer is due Monday 12:00.
    filed = await _post(shop, "/tickets", {"customer_id": customer, "kind": "complaint", "channel": "phone",
                                           "subject": "茶叶受潮", "description": "收到的茶叶受潮结块",
                                           "severity": "normal", "category": "quality", "occurred_at": FILED},
                        key="e2e-file")
    ticket = filed["id"]
    assert (filed["assignee"], filed["queue"], filed["status"]) == ("wang", None, "open")
    assert filed["first_response_due_at"] == DUE and filed["sla"]["clock"] == "first_response"

    # The churn risk rises while the complaint is open.
    async def risen() -> float | None:
        found = await _insights(shop, customer)
        return float(found["churn_risk"]) if found and found["churn_risk"] > before else None

    while_open = await eventually(risen, timeout=30)
    found = await _insights(shop, customer)
    assert found is not None
    assert [c["ticket_id"] for c in found["service"]["open_complaints"]] == [ticket]

    # The SLA runs out at Monday 12:00 business time: not a minute before, and only once.
    assert ticket not in [b["ticket_id"] for b in await _sweep(shop, A_MINUTE_BEFORE)]
    breached = [b for b in await _sweep(shop, AT_DUE) if b["ticket_id"] == ticket]
    assert [(b["clock"], b["due_at"]) for b in breached] == [("first_response", DUE)]
    assert ticket not in [b["ticket_id"] for b in await _sweep(shop, AT_DUE)]
    seen = await shop.get("tickets", f"/tickets/{ticket}", as_of=AT_DUE)
    assert seen.json()["sla"]["breached"] is True

    # Unanswered past its due time: the risk rises again (complaint_unanswered).
    async def unanswered() -> float | None:
        found = await _insights(shop, customer)
        return float(found["churn_risk"]) if found and found["churn_risk"] > while_open else None

    await eventually(unanswered, timeout=30)

    # Answered, then resolved with a refund the customer accepts, and a prevention action.
    await _post(shop, f"/tickets/{ticket}/responses", {"message": "已致电道歉，安排退款",
                                                      "occurred_at": "2026-11-30T14:00:00+08:00"}, key="e2e-respond")
    resolution = {"responsibility": "ours", "apology_given": True, "remedy": "refund", "remedy_detail": "退款50元",
                  "compensation": "50.00", "resolution": "仓储受潮，退款并道歉", "customer_answer": "accepted",
                  "prevention": {"action": "仓库加装除湿机", "owner": "zhao",
                                 "due_on": (date.today() + timedelta(days=14)).isoformat()}}
    resolved = await _post(shop, f"/tickets/{ticket}/resolution", resolution, key="e2e-resolve")
    assert resolved["status"] == "resolved"

    # Orders credits the compensation once.
    notes = await eventually(lambda: _credit_notes(shop, customer), timeout=30)
    assert [(n["method"], n["amount"]) for n in notes] == [("credit_note", "50.00")]

    # The churn risk falls after the accepted remedy: no open complaint is left.
    async def fallen() -> dict[str, Any] | None:
        found = await _insights(shop, customer)
        return found if found and found["churn_risk"] < while_open and not found["service"]["open_complaints"] else None

    after = await eventually(fallen, timeout=30)
    assert after["churn_risk"] == pytest.approx(after["model_churn_risk"])

    # Reopened and resolved again with compensation: still one credit note.
    await _post(shop, f"/tickets/{ticket}/reopen", {"reason": "又发现一包受潮"}, key="e2e-reopen")
    again = await _post(shop, f"/tickets/{ticket}/resolution", resolution, key="e2e-resolve-again")
    assert again["status"] == "resolved"

    async def resolved_twice_on_the_timeline() -> bool:
        kinds = [e["type"] for e in await shop.timeline(customer)]
        return kinds.count("TicketResolved") >= 2

    await eventually(resolved_twice_on_the_timeline, timeout=30)
    await asyncio.sleep(2)  # orders consumes kehu.tickets apart from insights: give it the time to
    assert len(await _credit_notes(shop, customer)) == 1
