"""A ticket's life on the real database and broker (docs/tickets.md "A ticket's life"): assignment,
escalation, responses, waiting on the customer, a remedy rejected, pending then accepted, the
prevention action, satisfaction, a reopen and a second resolution whose compensation orders does
not pay again; the events on kehu.tickets; bad input named; retries idempotent; a salesperson
refused another owner's customer's ticket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.events import Envelope
from shared.identity import PersonClaims, generate_keypair, load_private_key, mint
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
async def kehu(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Cluster, Ed25519PrivateKey]]:
    """The four services, trusting a console key (a salesperson's person token)."""
    home: Path = tmp_path_factory.mktemp("tickets-lifecycle")
    generate_keypair(home / "identity" / "console-key.pem", home / "identity" / "console-key.pub.pem")
    async with own_cluster(pg_url, home) as cluster:
        yield cluster, load_private_key(home / "identity" / "console-key.pem")


def salesperson(key: Ed25519PrivateKey, who: str) -> dict[str, str]:
    claims = PersonClaims.issue(sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, who)), name=who, role="sales", owner=who,
                                now=time.time())
    return {"Authorization": f"Bearer {mint(claims, key)}"}


async def _complaint(cluster: Cluster, customer_id: str, subject: str = "Cup arrived cracked") -> dict[str, Any]:
    response = await cluster.post("tickets", "/tickets", {"customer_id": customer_id, "kind": "complaint",
                                                          "channel": "phone", "subject": subject})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _step(cluster: Cluster, ticket_id: str, step: str, body: dict[str, Any], expect: int = 200,
                **headers: str) -> dict[str, Any]:
    response = await cluster.post("tickets", f"/tickets/{ticket_id}/{step}", body, **headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


def _field(problem: dict[str, Any]) -> str:
    return str(problem["errors"][0]["field"])


RESOLUTION = {"responsibility": "ours", "apology_given": True, "remedy": "refund", "compensation": "20.00",
              "resolution": "Refunded the cracked cup", "customer_answer": "accepted"}


async def _published(cluster: Cluster, ticket_id: str, at_least: int) -> list[str]:
    """The types of the ticket's events on kehu.tickets, in order."""
    consumer = AIOKafkaConsumer("kehu.tickets", bootstrap_servers=cluster.broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        found: list[str] = []  # one customer's events are in one partition, in order
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < at_least and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    event = Envelope.from_record(record.value, list(record.headers)).decode()
                    if str(getattr(event, "ticket_id", "")) == ticket_id:
                        found.append(type(event).__name__)
        return found
    finally:
        await consumer.stop()


async def test_a_complaint_from_assignment_through_remedies_satisfaction_and_a_reopen(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, _ = kehu
    customer = await cluster.customer("工单客户")
    ticket = await _complaint(cluster, customer)
    tid = ticket["id"]
    assert ticket["first_response_at"] is None and ticket["sla"]["clock"] == "first_response"

    # who has it
    assert (ticket["assignee"], ticket["queue"]) == (None, "service")  # a pool customer: the service queue
    taken = await _step(cluster, tid, "assign", {"assignee": "wang"})
    assert (taken["assignee"], taken["queue"]) == ("wang", None)
    queued = await _step(cluster, tid, "assign", {"queue": "after_sales", "reason": "wang is away"})
    assert (queued["assignee"], queued["queue"]) == (None, "after_sales")
    same = await _step(cluster, tid, "assign", {"queue": "after_sales"})  # where it is: nothing happens
    assert same["activity"] == queued["activity"]
    escalated = await _step(cluster, tid, "escalate", {"to": "boss", "reason": "asks for the manager"})
    assert (escalated["assignee"], escalated["escalated_to"]) == ("boss", "boss") and escalated["escalated_at"]

    # answering the customer: the first response stops the first-response clock
    first = await _step(cluster, tid, "responses", {"message": "我们马上处理"})
    assert first["first_response_at"] is not None and first["sla"]["clock"] == "resolution"
    assert first["due_at"] == first["resolution_due_at"]
    again = await _step(cluster, tid, "responses", {"message": "still on it"})
    assert again["first_response_at"] == first["first_response_at"]

    # waiting on the customer pauses the resolution clock; open resumes it
    waiting = await _step(cluster, tid, "status", {"status": "waiting_on_customer", "reason": "photo asked"})
    assert (waiting["status"], waiting["due_at"], waiting["sla"]["paused"]) == ("waiting_on_customer", None, True)
    assert waiting["paused_at"] is not None
    resumed = await _step(cluster, tid, "status", {"status": "open"})
    assert (resumed["status"], resumed["paused_at"], resumed["sla"]["paused"]) == ("open", None, False)
    assert resumed["due_at"] is not None

    noted = await _step(cluster, tid, "notes", {"note": "courier dropped it", "responsibility": "third_party",
                                                "category": "delivery"})
    assert (noted["responsibility"], noted["category"]) == ("third_party", "delivery")

    # a rejected remedy keeps it open; a pending one waits on the customer
    rejected = await _step(cluster, tid, "resolution", {**RESOLUTION, "remedy": "discount", "compensation": "5.00",
                                                        "customer_answer": "rejected", "answer_comment": "too little"})
    assert rejected["status"] == "open" and rejected["remedies"][0]["accepted"] is False
    prevention = {"action": "Pack cups in foam", "owner": "zhao", "due_on": str(TODAY + timedelta(days=14))}
    pending = await _step(cluster, tid, "resolution", {**RESOLUTION, "customer_answer": "pending",
                                                       "prevention": prevention})
    assert (pending["status"], pending["sla"]["paused"]) == ("waiting_on_customer", True)
    assert "remedy-answer" in pending["allowed_actions"] and "resolution" not in pending["allowed_actions"]
    refused = await _step(cluster, tid, "resolution", RESOLUTION, expect=409)
    assert refused["status_now"] == "waiting_on_customer" and "remedy-answer" in refused["allowed"]
    early = await _step(cluster, tid, "satisfaction", {"score": 5}, expect=409)
    assert early["status_now"] == "waiting_on_customer"

    resolved = await _step(cluster, tid, "remedy-answer", {"accepted": True, "comment": "好的"})
    assert (resolved["status"], resolved["remedy"], resolved["compensation"]) == ("resolved", "refund", "20.00")
    assert resolved["compensation_credited"] == "20.00" and resolved["resolved_by"] and resolved["due_at"] is None
    assert [r["accepted"] for r in resolved["remedies"]] == [False, True]
    (action,) = resolved["prevention_actions"]
    assert (action["action"], action["owner"], action["category"], action["overdue"]) == (
        "Pack cups in foam", "zhao", "delivery", False)

    # satisfaction closes it; a reopen starts again; the second compensation is not paid again
    assert _field(await _step(cluster, tid, "satisfaction", {"score": 6}, expect=422)) == "score"
    closed = await _step(cluster, tid, "satisfaction", {"score": 4, "comment": "quick"})
    assert (closed["status"], closed["satisfaction"], closed["satisfaction_comment"]) == ("closed", 4, "quick")
    reopened = await _step(cluster, tid, "reopen", {"reason": "another cup cracked"})
    assert (reopened["status"], reopened["reopened_count"], reopened["resolved_at"]) == ("open", 1, None)
    assert reopened["sla"]["clock"] == "resolution" and reopened["resolution_due_at"] is not None
    second = await _step(cluster, tid, "resolution", {**RESOLUTION, "compensation": "50.00"})
    assert (second["status"], second["compensation"], second["compensation_credited"]) == ("resolved", "50.00",
                                                                                           "20.00")

    shown = (await cluster.get("tickets", f"/tickets/{tid}")).json()
    assert [a["action"] for a in shown["activity"]] == [
        "opened", "assigned", "assigned", "escalated", "responded", "responded", "status", "status", "note",
        "remedy_answered", "remedy_proposed", "resolved", "satisfaction", "reopened", "resolved"]
    assert shown["allowed_actions"] == ["notes", "satisfaction", "reopen", "status:closed"]

    expected = ["ComplaintFiled", "TicketAssigned", "TicketAssigned", "TicketEscalated", "TicketResponded",
                "TicketResponded", "TicketStatusChanged", "TicketStatusChanged", "TicketNoteAdded",
                "TicketRemedyProposed", "TicketRemedyAnswered", "TicketRemedyProposed", "TicketStatusChanged",
                "TicketRemedyAnswered", "TicketResolved", "TicketSatisfactionRecorded", "TicketReopened",
                "TicketRemedyProposed", "TicketRemedyAnswered", "TicketResolved"]
    assert await _published(cluster, tid, len(expected)) == expected

    async def credited() -> list[Any]:
        return await cluster.sql("orders", "SELECT amount FROM credit_notes WHERE ticket_id = $1", uuid.UUID(tid))

    notes = await eventually(credited, timeout=20)
    await asyncio.sleep(1)  # the second TicketResolved has arrived by now (published after the first)
    assert [n["amount"] for n in await credited()] == [notes[0]["amount"]] and str(notes[0]["amount"]) == "20.00"


async def test_bad_input_is_a_4xx_naming_the_field(kehu: tuple[Cluster, Ed25519PrivateKey]) -> None:
    cluster, _ = kehu
    tid = (await _complaint(cluster, await cluster.customer("坏输入")))["id"]
    no_such = await cluster.post("tickets", f"/tickets/{uuid.uuid4()}/responses", {"message": "hi"})
    assert no_such.status_code == 404
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("resolution", {k: v for k, v in RESOLUTION.items() if k != "responsibility"}, "responsibility"),
        ("resolution", {**RESOLUTION, "resolution": "  "}, "resolution"),
        ("resolution", {**RESOLUTION, "customer_answer": "maybe"}, "customer_answer"),
        ("resolution", {**RESOLUTION, "remedy": "explanation"}, "compensation"),
        ("resolution", {**RESOLUTION, "prevention": {"action": "x", "owner": "zhao",
                                                     "due_on": str(TODAY - timedelta(days=2))}}, "prevention.due_on"),
        ("assign", {"assignee": "li", "queue": "service"}, "assignee"),
        ("escalate", {"to": "boss"}, "reason"),
        ("responses", {"message": "x", "occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ("status", {"status": "closed"}, "reason"),
        ("status", {"status": "resolved"}, "status"),
        ("satisfaction", {"score": 0}, "score"),
    ]
    for step, body, field in cases:
        problem = await _step(cluster, tid, step, body, expect=422)
        assert _field(problem) == field, (step, body, problem)
    # a step the status does not allow: 409 with the status and what is allowed
    for step, body in (("satisfaction", {"score": 3}), ("reopen", {"reason": "x"}),
                       ("remedy-answer", {"accepted": True})):
        problem = await _step(cluster, tid, step, body, expect=409)
        assert problem["status_now"] == "open" and "resolution" in problem["allowed"]
    shown = (await cluster.get("tickets", f"/tickets/{tid}")).json()
    assert [a["action"] for a in shown["activity"]] == ["opened"]  # nothing was written


async def test_a_retry_with_the_same_key_answers_the_same_and_writes_once(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, _ = kehu
    tid = (await _complaint(cluster, await cluster.customer("重试")))["id"]
    key = {"Idempotency-Key": f"resolve-{tid}"}
    first = await cluster.post("tickets", f"/tickets/{tid}/resolution", RESOLUTION, **key)
    retry = await cluster.post("tickets", f"/tickets/{tid}/resolution", RESOLUTION, **key)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json() and retry.headers.get("Idempotent-Replayed") == "true"
    other = await cluster.post("tickets", f"/tickets/{tid}/resolution", {**RESOLUTION, "compensation": "1.00"}, **key)
    assert other.status_code == 422
    resolved = await cluster.sql("tickets", "SELECT count(*) FROM outbox WHERE subject = $1 AND event_type LIKE $2",
                                 first.json()["customer_id"], "%TicketResolved%")
    assert resolved[0][0] == 1
    # without a key, a second satisfaction is refused (the ticket is closed by the first)
    await _step(cluster, tid, "satisfaction", {"score": 5})
    assert (await _step(cluster, tid, "satisfaction", {"score": 5}, expect=409))["status_now"] == "closed"


async def test_concurrent_first_responses_make_one_first_and_concurrent_answers_resolve_once(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, _ = kehu
    tid = (await _complaint(cluster, await cluster.customer("同时")))["id"]
    answers = await asyncio.gather(*(cluster.post("tickets", f"/tickets/{tid}/responses", {"message": f"hi {i}"})
                                     for i in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    firsts = await cluster.sql("tickets", "SELECT count(*) FROM outbox WHERE event_type LIKE $1 AND "
                               "(data ->> 'first')::boolean AND data ->> 'ticket_id' = $2", "%TicketResponded%", tid)
    assert firsts[0][0] == 1
    await _step(cluster, tid, "resolution", {**RESOLUTION, "customer_answer": "pending"})
    accepted = await asyncio.gather(*(cluster.post("tickets", f"/tickets/{tid}/remedy-answer", {"accepted": True})
                                      for _ in range(3)))
    assert sorted(a.status_code for a in accepted) == [200, 409, 409]
    resolved = await cluster.sql("tickets", "SELECT count(*) FROM outbox WHERE event_type LIKE $1 AND "
                                 "data ->> 'ticket_id' = $2", "%TicketResolved%", tid)
    assert resolved[0][0] == 1


async def test_closing_by_hand_withdraws_a_pending_remedy_and_a_reopen_starts_again(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, _ = kehu
    tid = (await _complaint(cluster, await cluster.customer("不回复")))["id"]
    await _step(cluster, tid, "resolution", {**RESOLUTION, "customer_answer": "pending"})
    closed = await _step(cluster, tid, "status", {"status": "closed", "reason": "no answer in a month"})
    (withdrawn,) = closed["remedies"]
    assert (closed["status"], withdrawn["accepted"], withdrawn["answered_at"] is not None) == ("closed", None, True)
    assert closed["compensation_credited"] is None and closed["sla"]["clock"] is None
    reopened = await _step(cluster, tid, "reopen", {"reason": "the customer called back"})
    assert "resolution" in reopened["allowed_actions"] and reopened["sla"]["clock"] == "resolution"
    resolved = await _step(cluster, tid, "resolution", RESOLUTION)
    assert (resolved["status"], resolved["compensation_credited"]) == ("resolved", "20.00")


async def test_prevention_actions_are_listed_by_owner_and_due_date_and_marked_done_once(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, _ = kehu
    customer = await cluster.customer("预防")
    ticket = await _complaint(cluster, customer, "Wrong price on the shelf")
    due = TODAY + timedelta(days=3)
    owner = f"owner-{uuid.uuid4().hex[:6]}"
    body = {**RESOLUTION, "compensation": None, "remedy": "explanation", "category": "billing",
            "prevention": {"action": "Check shelf labels every Monday", "owner": owner, "due_on": str(due)}}
    resolved = await _step(cluster, ticket["id"], "resolution", body)
    (action,) = resolved["prevention_actions"]

    async def listed(**params: Any) -> list[dict[str, Any]]:
        response = await cluster.get("tickets", "/prevention-actions", owner=owner, **params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    (item,) = await listed(status="open")
    assert (item["id"], item["subject"], item["category"], item["customer_id"], item["overdue"]) == (
        action["id"], "Wrong price on the shelf", "billing", customer, False)
    later = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    assert [i["overdue"] for i in await listed(status="open", as_of=later)] == [True]
    assert await listed(due_before=str(due)) == [] and len(await listed(due_before=str(due + timedelta(days=1)))) == 1

    done = await cluster.post("tickets", f"/prevention-actions/{action['id']}/done", {"note": "labels checked"})
    assert done.status_code == 200, done.text
    assert (done.json()["done_by"], done.json()["done_note"], done.json()["overdue"]) == ("test-admin",
                                                                                          "labels checked", False)
    assert await listed(status="open") == [] and len(await listed(status="done")) == 1
    again = await cluster.post("tickets", f"/prevention-actions/{action['id']}/done", {"note": "again"})
    assert again.status_code == 200 and again.json()["done_note"] == "labels checked"
    completed = await cluster.sql("tickets", "SELECT count(*) FROM outbox WHERE event_type LIKE $1 AND subject = $2",
                                  "%PreventionActionCompleted%", customer)
    assert completed[0][0] == 1
    assert (await cluster.post("tickets", f"/prevention-actions/{uuid.uuid4()}/done", {})).status_code == 404


async def test_a_salesperson_is_refused_another_owners_customers_ticket(
    kehu: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = kehu
    lis = await cluster.customer("李的工单客户", owner="li")

    async def known() -> bool:
        rows = await cluster.sql("tickets", "SELECT owner, owner_at FROM known_customers WHERE customer_id = $1",
                                 uuid.UUID(lis))
        return bool(rows) and rows[0]["owner"] == "li" and rows[0]["owner_at"] is not None

    await eventually(known, timeout=30)
    ticket = await _complaint(cluster, lis)
    assert ticket["assignee"] == "li"
    prevention = {"action": "Call back in a week", "owner": "li", "due_on": str(TODAY + timedelta(days=7))}
    await _step(cluster, ticket["id"], "resolution", {**RESOLUTION, "customer_answer": "pending",
                                                      "prevention": prevention})

    wang = salesperson(key, "wang")
    for step, body in (("responses", {"message": "hi"}), ("remedy-answer", {"accepted": True}),
                       ("reopen", {"reason": "x"})):
        response = await cluster.http.post(f"{cluster.urls['tickets']}/tickets/{ticket['id']}/{step}", json=body,
                                           headers=wang)
        _out_of_scope(response, "li")
    _out_of_scope(await cluster.http.get(f"{cluster.urls['tickets']}/tickets/{ticket['id']}", headers=wang), "li")
    li = salesperson(key, "li")
    answered = await cluster.http.post(f"{cluster.urls['tickets']}/tickets/{ticket['id']}/remedy-answer",
                                       json={"accepted": True}, headers=li)
    assert answered.status_code == 200 and answered.json()["status"] == "resolved"
    action_id = answered.json()["prevention_actions"][0]["id"]
    seen_by = {}
    for who, headers in (("wang", wang), ("li", li)):
        listed = await cluster.http.get(f"{cluster.urls['tickets']}/prevention-actions", headers=headers,
                                        params={"owner": "li"})
        seen_by[who] = [i["id"] for i in listed.json()["items"]]
    assert (seen_by["wang"], seen_by["li"]) == ([], [action_id])
    _out_of_scope(await cluster.http.post(f"{cluster.urls['tickets']}/prevention-actions/{action_id}/done",
                                          json={}, headers=wang), "li")


def _out_of_scope(response: httpx.Response, owner: str) -> None:
    assert response.status_code == 403, response.text
    assert (response.json()["code"], response.json()["owner"]) == ("out_of_scope", owner)
