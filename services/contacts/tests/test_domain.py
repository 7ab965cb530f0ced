"""Customer master data rules: what a valid new customer is and what registering one says."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.contacts.domain.customers import (
    MAX_BATCH,
    ItemProblem,
    NewCustomer,
    NewCustomerBatch,
    PhoneInvalid,
    RegisteredInFuture,
    normalise_phone,
    register,
    register_batch,
)
from shared.events import CustomerRegistered

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.value.errors()}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+86 139 0000 0001", "+8613900000001"),
        ("13900000001", "+8613900000001"),
        ("139-0000-0001", "+8613900000001"),
        ("008613900000001", "+8613900000001"),
        ("(010) 6552.1234", "+861065521234"),  # a Beijing landline, its trunk 0 dropped
        ("  +49 30 1234567  ", "+49301234567"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_a_phone_is_stored_in_e164_however_it_was_written(given: str, stored: str) -> None:
    customer, event = register(NewCustomer(name="王芳", phone=given), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")
    assert customer.phone == event.phone == stored
    assert normalise_phone(given, "CN") == stored


def test_a_number_without_country_code_is_read_in_the_shops_region() -> None:
    assert normalise_phone("2345 6789", "HK") == "+85223456789"
    assert normalise_phone("+86 138 0013 8000", "HK") == "+8613800138000"


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_phone_means_no_phone(blank: str) -> None:
    assert NewCustomer(name="王芳", phone=blank).phone is None


@pytest.mark.parametrize("bad", ["1234", "+" + "1" * 21, "abc", "+", "1380013800", "+86 138 0013 80001"])
def test_a_phone_that_is_not_a_valid_number_is_refused(bad: str) -> None:
    with pytest.raises(PhoneInvalid, match=re.escape(repr(bad))):
        register(NewCustomer(name="王芳", phone=bad), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")


def test_a_batch_names_each_customer_with_an_invalid_phone() -> None:
    batch = NewCustomerBatch(customers=[NewCustomer(name="a", phone="13800138000"), NewCustomer(name="b", phone="12")])
    registered, problems = register_batch(batch, new_id=uuid.uuid4, now=NOW, phone_region="CN")
    assert registered == []
    assert [(p.index, p.field) for p in problems] == [(1, "phone")]


def test_email_is_lower_cased_and_trimmed() -> None:
    assert NewCustomer(name="Acme", email="  Sales@Example.COM ").email == "sales@example.com"


@pytest.mark.parametrize("bad", ["nope", "a@b", "a b@c.de", "@example.com", "a@@example.com"])
def test_email_without_user_at_domain_dot_tld_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        NewCustomer(name="Acme", email=bad)
    assert "not an email address" in _errors(exc)["email"]


def test_blank_email_means_no_email() -> None:
    assert NewCustomer(name="Acme", email="").email is None


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        NewCustomer.model_validate({"name": "Acme", "nickname": "ACME"})
    assert "nickname" in _errors(exc)


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "   "), ("kind", "robot"), ("category", "vip"), ("external_ref", ""), ("name", "x" * 201)],
)
def test_invalid_field_values_are_refused(field: str, value: str) -> None:
    data = {"name": "Acme", field: value}
    with pytest.raises(ValidationError) as exc:
        NewCustomer.model_validate(data)
    assert field in _errors(exc)


def test_defaults_are_a_potential_person() -> None:
    new = NewCustomer(name="  Li Lei  ")
    assert (new.name, new.kind, new.category) == ("Li Lei", "person", "potential")


def test_register_returns_the_customer_and_the_event_saying_the_same() -> None:
    new = NewCustomer(
        name="杭州茶叶有限公司", kind="company", phone="+86 571-8888 0000", email="Boss@Tea.CN",
        external_ref="ERP-42", category="current", lead_source="fair", channel="store",
    )
    customer_id = uuid.uuid4()

    customer, event = register(new, customer_id=customer_id, now=NOW, phone_region="CN")

    assert customer.id == customer_id
    assert customer.created_at == NOW
    assert isinstance(event, CustomerRegistered)
    assert event.customer_id == customer_id
    assert event.occurred_at == NOW
    expected = {
        "name": "杭州茶叶有限公司", "kind": "company", "phone": "+8657188880000", "email": "boss@tea.cn",
        "external_ref": "ERP-42", "category": "current", "lead_source": "fair", "channel": "store",
    }
    assert customer.model_dump(include=set(expected)) == expected
    assert event.model_dump(include=set(expected)) == expected


def test_registered_event_has_the_contacts_type_and_topic() -> None:
    _, event = register(NewCustomer(name="Acme"), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")
    assert event.ce_type() == "kehu.contacts.CustomerRegistered.v1"
    assert event.topic() == "kehu.contacts"


# --- business time of the registration ------------------------------------------------------


def test_registered_at_defaults_to_now() -> None:
    _, event = register(NewCustomer(name="Acme"), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")
    assert event.occurred_at == NOW


def test_registered_at_in_the_past_is_the_events_business_time_and_the_record_keeps_its_own() -> None:
    first_purchase = datetime(1997, 1, 1, tzinfo=UTC)

    customer, event = register(NewCustomer(name="Acme", registered_at=first_purchase), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")

    assert event.occurred_at == first_purchase
    assert customer.created_at == NOW


def test_registered_at_within_the_clock_skew_is_accepted() -> None:
    _, event = register(NewCustomer(name="Acme", registered_at=NOW + timedelta(minutes=5)), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")
    assert event.occurred_at == NOW + timedelta(minutes=5)


def test_registered_at_more_than_five_minutes_ahead_is_refused() -> None:
    with pytest.raises(RegisteredInFuture, match="in the future"):
        register(NewCustomer(name="Acme", registered_at=NOW + timedelta(minutes=6)), customer_id=uuid.uuid4(), now=NOW, phone_region="CN")


def test_registered_at_needs_an_offset() -> None:
    with pytest.raises(ValidationError) as exc:
        NewCustomer.model_validate({"name": "Acme", "registered_at": "1997-01-01T00:00:00"})
    assert "registered_at" in _errors(exc)


# --- batches --------------------------------------------------------------------------------


def test_a_batch_has_1_to_1000_customers() -> None:
    for size in (0, MAX_BATCH + 1):
        with pytest.raises(ValidationError) as exc:
            NewCustomerBatch.model_validate({"customers": [{"name": f"c{i}"} for i in range(size)]})
        assert set(_errors(exc)) == {"customers"}


def test_invalid_items_of_a_batch_are_named_by_position() -> None:
    with pytest.raises(ValidationError) as exc:
        NewCustomerBatch.model_validate({"customers": [{"name": "ok"}, {"name": "x", "email": "nope"}]})
    assert set(_errors(exc)) == {"customers.1.email"}


def test_registering_a_batch_registers_each_customer_with_its_own_id() -> None:
    batch = NewCustomerBatch.model_validate({"customers": [{"name": "A", "external_ref": "1"}, {"name": "B"}]})
    ids = iter([uuid.UUID(int=1), uuid.UUID(int=2)])

    registered, problems = register_batch(batch, new_id=lambda: next(ids), now=NOW, phone_region="CN")

    assert problems == []
    assert [(c.id, c.name, e.customer_id) for c, e in registered] == [
        (uuid.UUID(int=1), "A", uuid.UUID(int=1)), (uuid.UUID(int=2), "B", uuid.UUID(int=2))]


def test_a_batch_with_a_repeated_external_ref_or_a_future_registration_is_refused_naming_the_items() -> None:
    later = NOW + timedelta(days=1)
    batch = NewCustomerBatch.model_validate({"customers": [
        {"name": "A", "external_ref": "1"}, {"name": "B"}, {"name": "C", "registered_at": later.isoformat()},
        {"name": "D"}, {"name": "A again", "external_ref": "1"},
    ]})

    registered, problems = register_batch(batch, new_id=uuid.uuid4, now=NOW, phone_region="CN")

    assert registered == []
    assert problems == [
        ItemProblem(2, "registered_at", f"registered_at {later.isoformat()} is in the future"),
        ItemProblem(4, "external_ref", "also given for item 0 of this batch"),
    ]
