"""The CloudEvents envelope kehu puts around every event (Kafka binary content mode, docs/architecture.md §2)."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from shared.events import (
    EVENT_TYPES,
    AlertAcknowledged,
    AlertEvidence,
    ChannelIdentityLinked,
    ChannelIdentityUnlinked,
    ComplaintFiled,
    ContactPersonAdded,
    ContactPersonRemoved,
    CreditEvidence,
    CreditNoteIssued,
    CreditStandingChanged,
    CreditTermsSet,
    CustomerAlertCleared,
    CustomerAlertRaised,
    CustomerCategoryChanged,
    CustomerMergeUndone,
    CustomerOwnerAssigned,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomerReturnedToPool,
    CustomersMerged,
    Envelope,
    Event,
    FeedbackReceived,
    FieldChange,
    FollowUpLogged,
    Instalment,
    InvoiceIssued,
    LifecycleStageChanged,
    MalformedEvent,
    OrderApprovalDecided,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderReturned,
    OrderStatusChanged,
    PaymentAllocation,
    PaymentOverdue,
    PaymentRecorded,
    PreventionAction,
    PreventionActionCompleted,
    ReceivableScheduled,
    ReturnedLine,
    SegmentChanged,
    ServiceRequested,
    TicketAssigned,
    TicketEscalated,
    TicketNoteAdded,
    TicketRemedyAnswered,
    TicketRemedyProposed,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketSatisfactionRecorded,
    TicketSlaBreached,
    TicketStatusChanged,
    envelope_for,
    uuid7,
)

CUSTOMER = uuid.UUID("0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
OCCURRED = datetime(2025, 2, 28, 18, 5, 7, 123456, tzinfo=timezone(timedelta(hours=8)))
RECORDED = datetime(2025, 3, 1, 9, 30, 0, 654321, tzinfo=UTC)
EVENT_ID = uuid.UUID("0195a1b2-c3d4-7000-8000-00000000abcd")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def sample_events() -> dict[str, Event]:
    """A valid instance of every event type, keyed by ce_type (optional fields filled in)."""
    ticket = {
        "customer_id": CUSTOMER, "occurred_at": OCCURRED, "ticket_id": uuid.UUID(int=7), "channel": "wechat",
        "subject": "水壶漏水", "description": "Bought on Monday; leaks at the handle.",
    }
    evidence = AlertEvidence(baseline=7.0, observed=15.0, threshold=14.0, unit="days",
                             event_ids=[uuid.UUID(int=42)])
    events: list[Event] = [
        CustomerRegistered(
            customer_id=CUSTOMER, occurred_at=OCCURRED, name="王芳", kind="person", phone="+8613800138000",
            email="wang@example.cn", external_ref="CARD-0042", category="current", lead_source="fair",
            channel="store", lead_source_detail="广交会 2026", referred_by=uuid.UUID(int=3), tags=["VIP", "茶"],
        ),
        CustomerProfileUpdated(customer_id=CUSTOMER, occurred_at=OCCURRED, revision=3, changed_by="王经理",
                               changes=[FieldChange(field="email", old=None, new="wang@example.cn")]),
        CustomerCategoryChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, previous_category="current",
                                category="lost", reason="买了别家的", loss_reason="competitor", loss_kind="subjective",
                                changed_by="王经理", order_id=uuid.UUID(int=42)),
        CustomerOwnerAssigned(customer_id=CUSTOMER, occurred_at=OCCURRED, owner="li", previous_owner="wang",
                              how="handover", assigned_by="王经理", handover_id=uuid.UUID(int=5)),
        CustomerReturnedToPool(customer_id=CUSTOMER, occurred_at=OCCURRED, previous_owner="wang", rule="no_follow_up",
                               days_without=31, limit_days=30, reclaim_after=OCCURRED, returned_by="sweeper"),
        ChannelIdentityLinked(customer_id=CUSTOMER, occurred_at=OCCURRED, kind="other", value="qq:12345",
                              label="QQ", linked_by="王芳"),
        ChannelIdentityUnlinked(customer_id=CUSTOMER, occurred_at=OCCURRED, kind="phone", value="+8613800138000",
                                unlinked_by="王芳"),
        ContactPersonAdded(customer_id=CUSTOMER, occurred_at=OCCURRED, person_id=uuid.UUID(int=6),
                           role="decision_maker", title="总经理", added_by="王芳"),
        ContactPersonRemoved(customer_id=CUSTOMER, occurred_at=OCCURRED, person_id=uuid.UUID(int=6), role="payer",
                             removed_by="王芳"),
        FollowUpLogged(customer_id=CUSTOMER, occurred_at=OCCURRED, follow_up_id=uuid.UUID(int=8), by="王芳",
                       channel="phone", note="想要新茶", outcome="order_expected", next_due=date(2025, 3, 8)),
        CustomersMerged(customer_id=CUSTOMER, occurred_at=OCCURRED, merged_id=uuid.UUID(int=4),
                        merge_id=uuid.UUID(int=10), merged_by="王经理"),
        CustomerMergeUndone(customer_id=CUSTOMER, occurred_at=OCCURRED, merged_id=uuid.UUID(int=4),
                            merge_id=uuid.UUID(int=10), undone_by="王经理"),
        OrderPlaced(
            customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), channel="store", currency="CNY",
            lines=[
                OrderLine(sku="TEA-1", quantity=Decimal("2"), unit_price=Decimal("9.50"), amount=Decimal("19.00")),
                OrderLine(sku="RICE", quantity=Decimal("0.335"), unit_price=Decimal("3.00"), amount=Decimal("1.01")),
            ],
            total=Decimal("19.01"), external_ref="POS-7", discount=Decimal("1.00"), status="pending_approval",
        ),
        OrderStatusChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42),
                           previous_status="confirmed", status="fulfilled", changed_by="王芳", note="送到了"),
        OrderCancelled(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), previous_status="placed",
                       total=Decimal("19.01"), reason="客户改主意", cancelled_by="王芳"),
        OrderReturned(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), return_id=uuid.UUID(int=43),
                      lines=[ReturnedLine(line_no=1, sku="TEA-1", quantity=Decimal("1"), amount=Decimal("9.50"))],
                      amount=Decimal("9.50"), whole=False, reason="茶叶受潮", returned_by="王芳"),
        ReceivableScheduled(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), revision=2,
                            instalments=[Instalment(no=1, due_at=OCCURRED, amount=Decimal("10.00"), paid=Decimal("5.00")),
                                         Instalment(no=2, due_at=OCCURRED + timedelta(days=30),
                                                    amount=Decimal("9.01"), paid=Decimal("0.00"))]),
        PaymentRecorded(customer_id=CUSTOMER, occurred_at=OCCURRED, payment_id=uuid.UUID(int=44), method="wechat_pay",
                        amount=Decimal("6.00"), unallocated=Decimal("1.00"), reference="4200001234", recorded_by="王芳",
                        allocations=[PaymentAllocation(order_id=uuid.UUID(int=42), instalment_no=1,
                                                       amount=Decimal("5.00"), due_at=OCCURRED)]),
        PaymentOverdue(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), instalment_no=1,
                       due_at=OCCURRED, amount_due=Decimal("5.00"), as_of=RECORDED),
        InvoiceIssued(customer_id=CUSTOMER, occurred_at=OCCURRED, invoice_id=uuid.UUID(int=45), order_id=uuid.UUID(int=42),
                      number="INV-2025-0007", official_number="25442000000123456789", amount=Decimal("19.01")),
        CreditNoteIssued(customer_id=CUSTOMER, occurred_at=OCCURRED, credit_note_id=uuid.UUID(int=46),
                         amount=Decimal("20.00"), reason="水壶漏水补偿", ticket_id=uuid.UUID(int=7)),
        CreditTermsSet(customer_id=CUSTOMER, occurred_at=OCCURRED, payment_days=30, credit_limit=Decimal("5000.00"),
                       when_exceeded="approval", set_by="王经理", reason="老客户"),
        OrderApprovalDecided(customer_id=CUSTOMER, occurred_at=OCCURRED, order_id=uuid.UUID(int=42), approved=True,
                             decided_by="王经理", reason="月底结清"),
        ComplaintFiled(**ticket, severity="critical"),
        FeedbackReceived(**ticket, satisfaction=2),
        ServiceRequested(**ticket),
        TicketResolved(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), resolution="换新",
                       compensation=Decimal("20.00"), resolved_by="客服小李", kind="complaint", category="quality",
                       responsibility="ours", apology_given=True, remedy="replace", remedy_detail="换一只新水壶",
                       prevention=PreventionAction(action_id=uuid.UUID(int=71), action="出库前逐只试水",
                                                   owner="仓库老张", due_on=date(2025, 3, 7))),
        TicketAssigned(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), assignee="li",
                       queue=None, previous_assignee="wang", by="王经理", reason="小王休假"),
        TicketEscalated(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), to="boss",
                        by="客服小李", reason="客户要求经理处理"),
        TicketResponded(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), by="客服小李",
                        message="已致电致歉，明天上门", first=True),
        TicketNoteAdded(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), by="客服小李",
                        note="同批次还有两只漏水", responsibility="ours", category="quality"),
        TicketStatusChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7),
                            status="waiting_on_customer", previous_status="open", by="客服小李", reason="等客户寄回"),
        TicketRemedyProposed(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7),
                             remedy_id=uuid.UUID(int=72), remedy="replace", detail="换新并补偿 20 元",
                             compensation=Decimal("20.00"), responsibility="ours", apology_given=True, by="客服小李"),
        TicketRemedyAnswered(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7),
                             remedy_id=uuid.UUID(int=72), accepted=True, comment="可以", by="客服小李"),
        TicketReopened(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), by="客服小李",
                       reason="新水壶也漏"),
        TicketSlaBreached(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7),
                          clock="first_response", kind="complaint", priority="high", due_at=OCCURRED,
                          assignee="li", as_of=RECORDED),
        TicketSatisfactionRecorded(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7), score=4,
                                   comment="处理得快", by="客服小李"),
        PreventionActionCompleted(customer_id=CUSTOMER, occurred_at=OCCURRED, ticket_id=uuid.UUID(int=7),
                                  action_id=uuid.UUID(int=71), category="quality", by="仓库老张", note="已加试水工序"),
        CustomerAlertRaised(customer_id=CUSTOMER, occurred_at=OCCURRED, alert_id=uuid.UUID(int=9),
                            kind="purchase_overdue", rule_version="rules-2026.11-1", evidence=evidence),
        CustomerAlertCleared(customer_id=CUSTOMER, occurred_at=OCCURRED, alert_id=uuid.UUID(int=9),
                             kind="purchase_overdue", rule_version="rules-2026.11-1", reason="purchase",
                             evidence=evidence),
        LifecycleStageChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, previous_stage="stability",
                              stage="decline", reason="overdue_gap", rule_version="rules-2026.11-1", evidence=evidence),
        SegmentChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, previous_segment="champions", segment="at_risk",
                       recency_score=2, frequency_score=5, monetary_score=4, rule_version="rules-2026.11-1"),
        AlertAcknowledged(customer_id=CUSTOMER, occurred_at=OCCURRED, alert_id=uuid.UUID(int=9),
                          kind="purchase_overdue", note="已电话联系", acknowledged_by="王芳"),
        CreditStandingChanged(customer_id=CUSTOMER, occurred_at=OCCURRED, previous_tier="B", tier="D",
                              reason="long_overdue", rule_version="credit-2026.12-1",
                              evidence=CreditEvidence(instalments_due=4, share_on_time=0.5, average_days_late=12.5,
                                                      outstanding=Decimal("900.00"), overdue=Decimal("600.00"),
                                                      longest_overdue_days=75, event_ids=[uuid.UUID(int=47)])),
    ]
    return {event.ce_type(): event for event in events}


SAMPLES = sample_events()


def _headers(record: tuple[bytes, bytes, list[tuple[str, bytes]]]) -> dict[str, bytes]:
    return dict(record[2])


def _record_of(event: Event, **changes: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    envelope = envelope_for(event, event_id=EVENT_ID, recorded_at=RECORDED)
    return dataclasses.replace(envelope, **changes).to_record() if changes else envelope.to_record()


def _with_header(headers: list[tuple[str, bytes]], name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    """Headers with ``name`` set to ``value`` (or removed when None)."""
    kept = [(n, v) for n, v in headers if n != name]
    return [*kept, (name, value)] if value is not None else kept


ORDER = SAMPLES["kehu.orders.OrderPlaced.v1"]


def test_there_is_a_sample_of_every_event_type() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    assert all(type(SAMPLES[t]) is cls for t, cls in EVENT_TYPES.items())


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_every_event_type_round_trips_through_a_kafka_record(ce_type: str) -> None:
    event = SAMPLES[ce_type]
    envelope = envelope_for(event, event_id=EVENT_ID, recorded_at=RECORDED)

    key, value, headers = envelope.to_record()
    back = Envelope.from_record(value, headers)

    assert back == envelope
    decoded = back.decode()
    assert type(decoded) is type(event)
    assert decoded == event
    assert decoded.model_dump(mode="json") == event.model_dump(mode="json")
    assert key == str(event.customer_id).encode()


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_headers_are_the_cloudevents_kafka_binary_mode_names(ce_type: str) -> None:
    event = SAMPLES[ce_type]
    service = ce_type.split(".")[1]

    key, value, headers = _record_of(event)

    assert [name for name, _ in headers] == [
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type",
    ]
    assert dict(headers) == {
        "ce_specversion": b"1.0",
        "ce_id": str(EVENT_ID).encode(),
        "ce_source": f"/kehu/{service}".encode(),
        "ce_type": f"kehu.{service}.{type(event).__name__}.v1".encode(),
        "ce_time": b"2025-03-01T09:30:00.654321+00:00",
        "ce_subject": str(CUSTOMER).encode(),
        "content-type": b"application/json",
    }
    assert all(isinstance(v, bytes) for _, v in headers)
    assert key == str(CUSTOMER).encode()
    assert orjson.loads(value) == event.model_dump(mode="json")


def test_traceparent_is_a_header_when_set_and_survives_the_round_trip() -> None:
    _, value, headers = _record_of(ORDER, traceparent=TRACEPARENT)

    assert headers[-1] == ("traceparent", TRACEPARENT.encode())
    assert Envelope.from_record(value, headers).traceparent == TRACEPARENT


def test_no_traceparent_header_without_a_trace() -> None:
    _, value, headers = _record_of(ORDER)
    assert "traceparent" not in dict(headers)
    assert Envelope.from_record(value, headers).traceparent is None


def test_envelope_for_defaults_to_a_fresh_uuid7_and_the_current_time() -> None:
    before = datetime.now(UTC)
    first, second = envelope_for(ORDER), envelope_for(ORDER)
    after = datetime.now(UTC)

    assert first.id.version == 7
    assert first.id != second.id
    assert before <= first.time <= after
    assert first.time.tzinfo is not None
    assert first.source == "/kehu/orders"
    assert first.subject == str(CUSTOMER)


def test_record_headers_as_aiokafka_gives_them_are_read() -> None:
    _, value, headers = _record_of(ORDER)
    assert Envelope.from_record(value, tuple(headers)).decode() == ORDER


def test_ce_time_in_utc_z_form_is_read() -> None:
    _, value, headers = _record_of(ORDER)
    envelope = Envelope.from_record(value, _with_header(headers, "ce_time", b"2025-03-01T09:30:00Z"))
    assert envelope.time == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def test_business_time_keeps_its_instant_through_the_envelope() -> None:
    _, value, headers = _record_of(ORDER)
    decoded = Envelope.from_record(value, headers).decode()
    assert decoded.occurred_at == OCCURRED
    assert decoded.occurred_at.utcoffset() == timedelta(hours=8)


def test_unknown_fields_in_data_are_ignored_for_forward_compatibility() -> None:
    _, value, headers = _record_of(ORDER)
    data = orjson.loads(value)
    data["loyalty_points"] = 20  # an optional field added later in v1
    data["lines"][0]["coupon"] = "SPRING"

    decoded = Envelope.from_record(orjson.dumps(data), headers).decode()

    assert decoded == ORDER
    assert not hasattr(decoded, "loyalty_points")


def test_optional_fields_may_be_missing() -> None:
    event = SAMPLES["kehu.contacts.CustomerRegistered.v1"]
    _, _, headers = _record_of(event)
    minimal = {"customer_id": str(CUSTOMER), "occurred_at": OCCURRED.isoformat(), "name": "王芳"}

    decoded = Envelope.from_record(orjson.dumps(minimal), headers).decode()

    assert isinstance(decoded, CustomerRegistered)
    assert (decoded.phone, decoded.kind, decoded.category) == (None, "person", "potential")


# --- malformed records ----------------------------------------------------------------------


@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"])
def test_record_missing_a_required_header_is_malformed(header: str) -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match=rf"missing CloudEvents header.*{header}"):
        Envelope.from_record(value, _with_header(headers, header, None))


def test_record_with_an_empty_required_header_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match=r"missing CloudEvents header.*ce_subject"):
        Envelope.from_record(value, _with_header(headers, "ce_subject", b""))


def test_record_without_any_headers_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match=re.escape("ce_specversion must be 1.0, got None")):
        Envelope.from_record(b"{}", [])


@pytest.mark.parametrize("specversion", [b"0.3", b"1", b"2.0"])
def test_record_of_another_specversion_is_malformed(specversion: bytes) -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match=re.escape(f"ce_specversion must be 1.0, got '{specversion.decode()}'")):
        Envelope.from_record(value, _with_header(headers, "ce_specversion", specversion))


def test_record_without_specversion_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match="ce_specversion"):
        Envelope.from_record(value, _with_header(headers, "ce_specversion", None))


@pytest.mark.parametrize("ce_id", [b"42", b"order-1", b"0195a1b2-c3d4-7e5f-8a9b"])
def test_record_whose_id_is_not_a_uuid_is_malformed(ce_id: bytes) -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match=re.escape(f"ce_id is not a UUID: '{ce_id.decode()}'")):
        Envelope.from_record(value, _with_header(headers, "ce_id", ce_id))


@pytest.mark.parametrize("ce_time", [b"yesterday", b"2025-13-01T00:00:00Z", b"1740821400", b"01/03/2025 09:30"])
def test_record_whose_time_is_not_rfc3339_is_malformed(ce_time: bytes) -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match="ce_time is not RFC 3339"):
        Envelope.from_record(value, _with_header(headers, "ce_time", ce_time))


@pytest.mark.parametrize("ce_time", [b"2025-03-01T09:30:00", b"2025-03-01"])
def test_record_whose_time_has_no_offset_is_malformed(ce_time: bytes) -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match="ce_time"):
        Envelope.from_record(value, _with_header(headers, "ce_time", ce_time))


def test_record_with_a_header_that_is_not_utf8_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match="header is not UTF-8"):
        Envelope.from_record(value, _with_header(headers, "ce_source", b"\xff\xfe"))


def test_record_without_value_is_malformed() -> None:
    _, _, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match="record has no value"):
        Envelope.from_record(None, headers)


@pytest.mark.parametrize("value", [b"not json", b"{", b"", b"\xff"])
def test_value_that_is_not_json_is_malformed(value: bytes) -> None:
    _, _, headers = _record_of(ORDER)
    envelope = Envelope.from_record(value, headers)
    with pytest.raises(MalformedEvent, match=r"kehu\.orders\.OrderPlaced\.v1: .*JSON"):
        envelope.decode()


@pytest.mark.parametrize("value", [b"[]", b"42", b'"order"', b"null"])
def test_json_value_that_is_not_an_object_is_malformed(value: bytes) -> None:
    _, _, headers = _record_of(ORDER)
    with pytest.raises(MalformedEvent, match=re.escape("kehu.orders.OrderPlaced.v1: ")):
        Envelope.from_record(value, headers).decode()


@pytest.mark.parametrize(
    "ce_type",
    [
        "kehu.orders.OrderShipped.v1",  # not a type kehu knows
        "kehu.orders.OrderPlaced.v2",  # a version this consumer does not know yet
        "kehu.orders.OrderPlaced",  # no version
        "com.example.OrderPlaced.v1",
    ],
)
def test_unknown_type_or_version_is_malformed(ce_type: str) -> None:
    _, value, headers = _record_of(ORDER)
    envelope = Envelope.from_record(value, _with_header(headers, "ce_type", ce_type.encode()))
    with pytest.raises(MalformedEvent, match=re.escape(f"unknown event type '{ce_type}'")):
        envelope.decode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": "nine"}, "total"),
        ({"total": "1.001"}, "total"),
        ({"currency": "cny"}, "currency"),
        ({"lines": []}, "lines"),
        ({"order_id": "42"}, "order_id"),
        ({"occurred_at": "2025-03-01T09:30:00"}, "occurred_at"),  # business time needs its offset
        ({"channel": None}, "channel"),
    ],
)
def test_data_that_breaks_the_contract_is_malformed_and_says_where(change: dict[str, Any], field: str) -> None:
    _, value, headers = _record_of(ORDER)
    data = {**orjson.loads(value), **change}
    envelope = Envelope.from_record(orjson.dumps(data), headers)
    with pytest.raises(MalformedEvent, match=rf"^kehu\.orders\.OrderPlaced\.v1: {field}"):
        envelope.decode()


def test_data_missing_a_required_field_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    data = orjson.loads(value)
    del data["order_id"]
    with pytest.raises(MalformedEvent, match="order_id: Field required"):
        Envelope.from_record(orjson.dumps(data), headers).decode()


def test_line_with_zero_quantity_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    data = orjson.loads(value)
    data["lines"][1]["quantity"] = "0"
    with pytest.raises(MalformedEvent, match=r"lines\.1\.quantity"):
        Envelope.from_record(orjson.dumps(data), headers).decode()


@pytest.mark.parametrize("change", [{"total": "-20.01"}, {"lines": [{"sku": "A", "quantity": "1", "unit_price": "-1.00", "amount": "-1.00"}]}])
def test_negative_money_is_malformed(change: dict[str, Any]) -> None:
    _, value, headers = _record_of(ORDER)
    data = {**orjson.loads(value), **change}
    with pytest.raises(MalformedEvent, match=re.escape("kehu.orders.OrderPlaced.v1: ")):
        Envelope.from_record(orjson.dumps(data), headers).decode()


def test_subject_that_is_not_the_data_customer_is_malformed() -> None:
    _, value, headers = _record_of(ORDER)
    other = str(uuid.uuid4())
    envelope = Envelope.from_record(value, _with_header(headers, "ce_subject", other.encode()))
    with pytest.raises(MalformedEvent, match=re.escape(f"ce_subject '{other}' is not the event's customer_id")):
        envelope.decode()


def test_subject_in_upper_case_is_not_the_same_customer() -> None:
    # ce_subject is compared as the canonical (lower-case) text the producer writes.
    _, value, headers = _record_of(ORDER)
    envelope = Envelope.from_record(value, _with_header(headers, "ce_subject", str(CUSTOMER).upper().encode()))
    with pytest.raises(MalformedEvent, match="ce_subject"):
        envelope.decode()


def test_malformed_event_is_an_exception_with_a_message() -> None:
    with pytest.raises(MalformedEvent) as info:
        Envelope.from_record(b"{}", [("ce_specversion", b"1.0")])
    assert str(info.value) == "missing CloudEvents header(s): ce_id, ce_source, ce_type, ce_subject, ce_time"


# --- uuid7 ----------------------------------------------------------------------------------


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    for _ in range(100):
        value = uuid7()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_uuid7_starts_with_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_uuid7_increases_across_milliseconds() -> None:
    values = []
    for _ in range(5):
        values.append(uuid7())
        time.sleep(0.002)
    assert values == sorted(values)
    assert len({v.int >> 80 for v in values}) == 5
    assert [str(v) for v in values] == sorted(str(v) for v in values)  # text order is time order too


def test_uuid7_values_are_unique() -> None:
    assert len({uuid7() for _ in range(10_000)}) == 10_000


def test_uuid7_increases_within_a_millisecond() -> None:
    """Ids made one after another keep their order also in one millisecond (the timeline's tie-break:
    an import's two orders at the same time); random bits alone ordered them by chance."""
    values = [uuid7() for _ in range(10_000)]
    assert len({v.int >> 80 for v in values}) < len(values)  # some did share a millisecond
    assert values == sorted(set(values))  # strictly increasing
    assert all(v.version == 7 and v.variant == uuid.RFC_4122 for v in values)
