"""The ticket report over a ticket's life made through the API (COMMON's lifecycle routes, not SQL):
a complaint answered and resolved with an accepted remedy and a prevention action, the action
done, then a complaint of the same category again; and one left unanswered. The report counts the
answer and the resolution, the resolution clock met, the action done, and the category recurred.

Times are the real clock's (the lifecycle routes resolve now): the complaints were raised two days
ago, which is never more than 18 business hours of the default calendar, under the 27 business
hours a normal complaint has to be resolved in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.database


async def _post(cluster: Cluster, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    response = await cluster.post("tickets", path, body, **{"Idempotency-Key": key})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_the_report_counts_what_the_lifecycle_routes_did(cluster: Cluster) -> None:
    customer = await cluster.customer("回头投诉的刘先生")
    raised = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    complaint = {"customer_id": customer, "kind": "complaint", "channel": "phone", "severity": "normal"}
    mouldy = await _post(cluster, "/tickets", {**complaint, "subject": "茶叶发霉", "category": "quality",
                                               "occurred_at": raised.isoformat()}, key="r-mouldy")
    await _post(cluster, "/tickets", {**complaint, "subject": "送货晚了", "category": "delivery",
                                      "occurred_at": raised.isoformat()}, key="r-late")

    await _post(cluster, f"/tickets/{mouldy['id']}/responses",
                {"message": "已回电", "occurred_at": (raised + timedelta(minutes=1)).isoformat()}, key="r-answer")
    resolved = await _post(cluster, f"/tickets/{mouldy['id']}/resolution", {
        "responsibility": "ours", "apology_given": True, "remedy": "replace", "resolution": "换一罐新茶",
        "customer_answer": "accepted",
        "prevention": {"action": "入库抽检", "owner": "zhao", "due_on": (date.today() + timedelta(days=7)).isoformat()},
    }, key="r-resolve")
    assert resolved["status"] == "resolved"
    actions = (await cluster.get("tickets", "/prevention-actions", status="open")).json()["items"]
    assert len(actions) == 1
    await _post(cluster, f"/prevention-actions/{actions[0]['id']}/done", {"note": "抽检已上线"}, key="r-done")
    again = await _post(cluster, "/tickets", {**complaint, "subject": "又发霉了", "category": "quality"}, key="r-again")

    response = await cluster.get("tickets", "/reports/tickets")
    assert response.status_code == 200, response.text
    report = response.json()

    assert report["volume"]["by_kind"]["complaint"] == 3
    assert report["first_response_minutes"]["count"] == 1 and report["first_response_minutes"]["median"] == 1.0
    assert report["resolution_minutes"]["count"] == 1
    assert report["sla"]["by_clock"]["resolution"] == {"clocks": 1, "met": 1, "breached": 0, "compliance": 1.0}
    assert report["sla"]["by_clock"]["first_response"]["met"] == 1  # the late delivery's may have run out too
    assert [(r["customer_id"], r["complaints"]) for r in report["repeat_complainers"]] == [(customer, 3)]
    prevention = report["prevention"]
    assert (prevention["open"], prevention["overdue"], prevention["done"]) == (0, 0, 1)
    assert [(r["action_id"], r["category"], r["recurrences"], r["first_recurrence_ticket_id"])
            for r in prevention["recurred"]] == [(actions[0]["id"], "quality", 1, again["id"])]
