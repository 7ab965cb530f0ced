"""``replay.decode``: outbox rows to timeline CSV lines and facts. Rows in the form the services
write are read as they are; anything else is validated, written canonically, or skipped with its
reason (never a failed COPY, never a silent loss)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.insights import engine, replay
from shared.events import CustomerRegistered, OrderLine, OrderPlaced

WHEN = datetime(1997, 3, 1, 10, 30, tzinfo=UTC)
CUSTOMER = uuid.UUID("6f1c0a52-8d3e-4b8e-9a51-2f4e7c9d0b11")


def row(event: OrderPlaced | CustomerRegistered, eid: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    """An outbox row as ``GET /admin/outbox`` sends it (``overrides`` replace its fields)."""
    base = {"id": 1, "event_id": str(eid), "type": type(event).ce_type(), "source": "kehu/orders",
            "recorded_at": "1997-03-01T10:30:01.250000+00:00", "data": event.model_dump(mode="json")}
    return {**base, **overrides}


def order() -> OrderPlaced:
    return OrderPlaced(customer_id=CUSTOMER, occurred_at=WHEN, order_id=uuid.uuid4(), channel="shop", currency="USD",
                       lines=[OrderLine(sku="cd", quantity=Decimal("2"), unit_price=Decimal("11.50"),
                                        amount=Decimal("23.00"))], total=Decimal("23.00"))


def lines(timeline: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(timeline))))


def test_a_row_as_the_services_write_it_is_read_as_it_is() -> None:
    event, event_id = order(), uuid.uuid4()
    replayed = replay.Replayed()
    timeline, facts = replay.decode([row(event, event_id)], replayed, "CNY")
    assert replayed.skipped == []
    [line] = lines(timeline)
    assert line[:5] == [str(event_id), str(CUSTOMER), "OrderPlaced", OrderPlaced.ce_type(), "kehu/orders"]
    assert datetime.fromisoformat(line[5]) == WHEN
    assert datetime.fromisoformat(line[6]) == datetime(1997, 3, 1, 10, 30, 1, 250000, tzinfo=UTC)
    assert OrderPlaced.model_validate_json(line[7]) == event
    assert facts == [engine.fact_of(event_id, event, "CNY")]


def test_a_row_in_another_form_is_validated_and_written_canonically() -> None:
    """Upper-case ids and a naive recorded_at: not what a service writes, still valid."""
    event, event_id = order(), uuid.uuid4()
    data = {**event.model_dump(mode="json"), "customer_id": str(CUSTOMER).upper()}
    replayed = replay.Replayed()
    timeline, facts = replay.decode([row(event, event_id, event_id=str(event_id).upper(), data=data,
                                         recorded_at="1997-03-01T10:30:01")], replayed, "CNY")
    assert replayed.skipped == []
    [line] = lines(timeline)
    assert line[:2] == [str(event_id), str(CUSTOMER)]
    assert OrderPlaced.model_validate_json(line[7]) == event
    assert facts == [engine.fact_of(event_id, event, "CNY")]


def test_rows_that_do_not_decode_are_skipped_with_their_reason() -> None:
    event = order()
    bad_total = {**event.model_dump(mode="json"), "total": "lots"}
    no_customer = {k: v for k, v in event.model_dump(mode="json").items() if k != "customer_id"}
    rows = [row(event, uuid.uuid4(), data=bad_total), row(event, uuid.uuid4(), data=no_customer),
            row(event, uuid.uuid4(), type="kehu.unknown.v9"), row(event, uuid.uuid4(), event_id="not-a-uuid"),
            row(event, uuid.uuid4())]
    replayed = replay.Replayed()
    timeline, facts = replay.decode(rows, replayed, "CNY")
    assert len(timeline) == len(facts) == 1
    assert len(replayed.skipped) == 4
    assert "unknown event type kehu.unknown.v9" in replayed.skipped[2]
    assert replayed.skipped[3].startswith("not-a-uuid: ")


def test_a_registration_is_a_fact_with_its_reference_and_owner() -> None:
    event = CustomerRegistered(customer_id=CUSTOMER, occurred_at=WHEN, name='Li "CD" Na, Ltd', external_ref="00042",
                               owner="li-na")
    event_id = uuid.uuid4()
    timeline, facts = replay.decode([row(event, event_id, source="kehu/contacts")], replay.Replayed(), "CNY")
    [line] = lines(timeline)
    assert CustomerRegistered.model_validate_json(line[7]) == event  # quotes and commas survive CSV
    assert facts == [engine.fact_of(event_id, event, "CNY")]
