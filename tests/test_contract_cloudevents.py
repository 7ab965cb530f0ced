"""Contract: kehu's records and the CloudEvents SDK's Kafka binding understand each other (docs/architecture.md §2).

Every event type goes both ways: a record kehu publishes is read by ``cloudevents`` 2.x, and an
event another system builds with the SDK is read by kehu's consumers.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from shared.events import EVENT_TYPES, Envelope, MalformedEvent, envelope_for
from tests.test_envelope import sample_events

SAMPLES = sample_events()
EVENT_ID = uuid.UUID("0195a1b2-c3d4-7000-8000-0000000000ce")
RECORDED = datetime(2025, 3, 1, 9, 30, 0, 250000, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _subject_as_key(event: BaseCloudEvent) -> str | None:
    return event.get_subject()


def _sdk_event(ce_type: str, *, time: datetime = RECORDED, event_id: str | None = None) -> CloudEvent:
    event = SAMPLES[ce_type]
    return CloudEvent(
        attributes={
            "specversion": "1.0",
            "id": event_id or str(EVENT_ID),
            "source": f"/kehu/{event.service}",
            "type": ce_type,
            "subject": str(event.customer_id),
            "time": time,
            "datacontenttype": "application/json",
        },
        data=event.model_dump(mode="json"),
    )


def _to_our_record(message: KafkaMessage) -> tuple[bytes, list[tuple[str, bytes]]]:
    """What a Kafka client hands kehu's consumer for the SDK's message: (key, headers)."""
    key = message.key.encode() if isinstance(message.key, str) else message.key
    assert key is not None
    return key, list(message.headers.items())


# --- kehu → SDK ------------------------------------------------------------------------------


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_sdk_reads_every_record_kehu_publishes(ce_type: str) -> None:
    event = SAMPLES[ce_type]
    envelope = envelope_for(event, event_id=EVENT_ID, recorded_at=RECORDED)
    key, value, headers = envelope.to_record()

    read = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))

    assert isinstance(read, CloudEvent)
    assert read.get_specversion() == "1.0"
    assert read.get_id() == str(EVENT_ID)
    assert read.get_type() == ce_type
    assert read.get_source() == f"/kehu/{event.service}"
    assert read.get_subject() == str(event.customer_id)
    assert read.get_time() == RECORDED
    assert read.get_datacontenttype() == "application/json"
    assert read.get_data() == event.model_dump(mode="json")
    assert read.get_extension("partitionkey") == str(event.customer_id)  # the SDK's view of the record key


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_sdk_writes_back_the_same_record_kehu_published(ce_type: str) -> None:
    event = SAMPLES[ce_type]
    envelope = envelope_for(event, event_id=EVENT_ID, recorded_at=RECORDED)
    key, value, headers = envelope.to_record()

    read = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))
    again = to_binary_event(read, key_mapper=_subject_as_key)
    our_key, our_headers = _to_our_record(again)

    back = Envelope.from_record(again.value, our_headers)

    assert our_key == key
    assert dataclasses.replace(back, data=b"") == dataclasses.replace(envelope, data=b"")
    assert back.decode() == event  # the SDK re-serialises the JSON, the event stays the same


def test_sdk_reads_the_traceparent_header_without_complaint() -> None:
    envelope = envelope_for(SAMPLES["kehu.orders.OrderPlaced.v1"], event_id=EVENT_ID, recorded_at=RECORDED)
    key, value, headers = dataclasses.replace(envelope, traceparent=TRACEPARENT).to_record()
    assert ("traceparent", TRACEPARENT.encode()) in headers

    read = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))

    assert read.get_id() == str(EVENT_ID)
    assert read.get_extension("traceparent") is None  # not a ce_ header: W3C trace context, not an extension


# --- SDK → kehu ------------------------------------------------------------------------------


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_kehu_reads_every_event_type_made_with_the_sdk(ce_type: str) -> None:
    event = SAMPLES[ce_type]

    message = to_binary_event(_sdk_event(ce_type), key_mapper=_subject_as_key)
    key, headers = _to_our_record(message)
    envelope = Envelope.from_record(message.value, headers)

    assert key == str(event.customer_id).encode()
    assert envelope.id == EVENT_ID
    assert envelope.type == ce_type
    assert envelope.source == f"/kehu/{event.service}"
    assert envelope.subject == str(event.customer_id)
    assert envelope.time == RECORDED
    decoded = envelope.decode()
    assert type(decoded) is type(event)
    assert decoded == event


def test_sdk_time_in_another_offset_is_the_same_instant() -> None:
    beijing = RECORDED.astimezone(timezone(timedelta(hours=8)))
    message = to_binary_event(_sdk_event("kehu.orders.OrderPlaced.v1", time=beijing), key_mapper=_subject_as_key)
    _, headers = _to_our_record(message)

    assert dict(headers)["ce_time"].endswith(b"+08:00")
    assert Envelope.from_record(message.value, headers).time == RECORDED


def test_sdk_event_with_the_sdk_default_uuid4_id_is_read() -> None:
    sdk = CloudEvent(
        attributes={
            "source": "/kehu/contacts", "type": "kehu.contacts.CustomerRegistered.v1",
            "subject": str(SAMPLES["kehu.contacts.CustomerRegistered.v1"].customer_id),
            "datacontenttype": "application/json",
        },
        data=SAMPLES["kehu.contacts.CustomerRegistered.v1"].model_dump(mode="json"),
    )
    message = to_binary_event(sdk, key_mapper=_subject_as_key)
    _, headers = _to_our_record(message)

    envelope = Envelope.from_record(message.value, headers)

    assert envelope.id == uuid.UUID(sdk.get_id())
    assert envelope.decode() == SAMPLES["kehu.contacts.CustomerRegistered.v1"]


def test_sdk_event_with_a_non_uuid_id_is_refused_by_kehu() -> None:
    message = to_binary_event(_sdk_event("kehu.tickets.ComplaintFiled.v1", event_id="A234-1234-1234"))
    with pytest.raises(MalformedEvent, match="ce_id is not a UUID"):
        Envelope.from_record(message.value, list(message.headers.items()))


def test_sdk_event_whose_data_is_another_version_is_dead_lettered() -> None:
    sdk = _sdk_event("kehu.orders.OrderPlaced.v1")
    attributes = {**sdk.get_attributes(), "type": "kehu.orders.OrderPlaced.v2"}
    message = to_binary_event(CloudEvent(attributes=attributes, data=sdk.get_data()))
    envelope = Envelope.from_record(message.value, list(message.headers.items()))
    with pytest.raises(MalformedEvent, match=re.escape("unknown event type 'kehu.orders.OrderPlaced.v2'")):
        envelope.decode()


def test_sdk_json_of_kehu_data_is_byte_compatible_with_ours() -> None:
    # Both sides serialise the same JSON document: kehu with orjson, the SDK with json.
    event = SAMPLES["kehu.orders.OrderPlaced.v1"]
    message = to_binary_event(_sdk_event("kehu.orders.OrderPlaced.v1"))
    _, value, _ = envelope_for(event, event_id=EVENT_ID, recorded_at=RECORDED).to_record()
    assert orjson.loads(message.value) == orjson.loads(value)
