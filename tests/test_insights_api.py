"""The insights routes as an integrator reads them: one rule for an unknown customer, and every
answer exactly what its response model (and so the OpenAPI document) says.

One cluster for the module, on the wall clock with a quick sweeper, so an overdue regular's alert
is raised soon after its orders arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from services.insights import responses as out
from services.insights.api import TimelinePage
from shared.events import ComplaintFiled, envelope_for
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
async def api_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with own_cluster(pg_url, tmp_path_factory.mktemp("insights-api"), insights_sweep_s=0.5) as cluster:
        yield cluster


def conforms(model: type[BaseModel], body: Any) -> None:
    """``body`` validates as ``model`` and has no field the model does not document."""
    _same_keys(body, model.model_validate(body).model_dump(mode="json"), model.__name__)


def _same_keys(body: Any, documented: Any, where: str) -> None:
    if isinstance(body, dict) and isinstance(documented, dict):
        assert set(body) == set(documented), f"{where}: answered {sorted(body)}, documented {sorted(documented)}"
        for key in body:
            _same_keys(body[key], documented[key], f"{where}.{key}")
    elif isinstance(body, list) and isinstance(documented, list):
        for i, (a, b) in enumerate(zip(body, documented, strict=True)):
            _same_keys(a, b, f"{where}[{i}]")


def _is_unknown_customer(response: httpx.Response, customer_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not found", "status": 404,
                               "detail": f"insights has seen no event of customer {customer_id}"}


async def test_a_customer_insights_never_heard_of_is_a_404_on_the_timeline_and_the_insights(
    api_cluster: Cluster,
) -> None:
    stranger = str(uuid.uuid4())

    _is_unknown_customer(await api_cluster.get("insights", f"/customers/{stranger}/timeline"), stranger)
    _is_unknown_customer(await api_cluster.get("insights", f"/customers/{stranger}/timeline", type="OrderPlaced"),
                         stranger)
    _is_unknown_customer(await api_cluster.get("insights", f"/customers/{stranger}/insights"), stranger)


async def test_a_known_customer_without_events_of_a_type_has_an_empty_page(api_cluster: Cluster) -> None:
    customer_id = await api_cluster.customer("Just registered")
    await eventually(lambda: _timeline_length(api_cluster, customer_id, 1))

    orders = await api_cluster.get("insights", f"/customers/{customer_id}/timeline", type="OrderPlaced")
    insights = await api_cluster.get("insights", f"/customers/{customer_id}/insights")

    assert orders.status_code == 200
    assert orders.json() == {"items": [], "next_cursor": None}
    assert insights.status_code == 200
    assert insights.json()["segment"] == "prospect"
    conforms(out.CustomerInsights, insights.json())


async def test_a_customer_known_only_by_a_ticket_is_known_to_both_routes(api_cluster: Cluster) -> None:
    """A complaint can arrive before the registration (another topic): the customer is known then."""
    customer_id = uuid.uuid4()
    complaint = ComplaintFiled(customer_id=customer_id, occurred_at=datetime.now(UTC), ticket_id=uuid.uuid4(),
                               channel="phone", subject="Cracked cup")
    key, value, headers = envelope_for(complaint).to_record()
    producer = AIOKafkaProducer(bootstrap_servers=api_cluster.broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("kehu.tickets", value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    await eventually(lambda: _timeline_length(api_cluster, str(customer_id), 1))
    insights = await api_cluster.get("insights", f"/customers/{customer_id}/insights")

    assert insights.status_code == 200, insights.text
    conforms(out.CustomerInsights, insights.json())


async def test_every_insights_answer_is_what_its_model_documents(api_cluster: Cluster) -> None:
    # A weekly regular whose last purchase was 40 days ago: overdue, with an open alert.
    now = datetime.now(UTC)
    customer_id = await api_cluster.customer("Weekly regular", registered_at=(now - timedelta(days=80)).isoformat())
    for weeks_ago in range(10, 5, -1):
        body = {"customer_id": customer_id, "channel": "store", "occurred_at": (now - timedelta(weeks=weeks_ago)).isoformat(),
                "lines": [{"sku": "A1", "quantity": "2", "unit_price": "9.50"}]}
        assert (await api_cluster.post("orders", "/orders", body)).status_code == 201

    alerts = await eventually(lambda: _open_alerts(api_cluster, customer_id))
    conforms(out.AlertPage, alerts)
    insights = await api_cluster.get("insights", f"/customers/{customer_id}/insights")
    assert insights.json()["open_alerts"], insights.text
    conforms(out.CustomerInsights, insights.json())
    timeline = await api_cluster.get("insights", f"/customers/{customer_id}/timeline")
    conforms(TimelinePage, timeline.json())
    segments = await api_cluster.get("insights", "/segments")
    conforms(out.Segments, segments.json())
    model = await api_cluster.get("insights", "/model")
    conforms(out.PopulationModel, model.json())
    refit = await api_cluster.http.post(api_cluster.urls["insights"] + "/model/refit", headers=api_cluster.headers())
    assert refit.status_code == 409 and refit.json()["title"] == "Not enough data"  # a handful of buyers
    replay = await api_cluster.http.post(api_cluster.urls["insights"] + "/admin/replay", headers=api_cluster.headers(),
                                         timeout=60)
    assert replay.status_code == 200, replay.text
    conforms(out.ReplayResult, replay.json())


async def _timeline_length(cluster: Cluster, customer_id: str, n: int) -> bool:
    response = await cluster.get("insights", f"/customers/{customer_id}/timeline")
    return response.status_code == 200 and len(response.json()["items"]) == n


async def _open_alerts(cluster: Cluster, customer_id: str) -> dict[str, Any] | None:
    response = await cluster.get("insights", "/alerts", customer_id=customer_id, status="open")
    return response.json() if response.json()["items"] else None
