"""The edit form's rules (pure): what the person changed is what is sent, tags as one text,
ETags read back, history values in words."""

from __future__ import annotations

import pytest

from console.i18n import Texts
from console.pages.customer_edit import (
    as_read,
    changed,
    email_taken,
    form_values,
    revision_of,
    shown,
    split_tags,
    typed,
)
from console.services import ServiceRefused

RECORD = {"id": "c1", "name": "王芳", "kind": "person", "email": "wang@example.cn", "address": None, "notes": "x",
          "tags": ["VIP"], "lead_source": "fair", "lead_source_detail": None, "referred_by": None,
          "external_ref": "C-1", "revision": 4, "phone": "+8613800138000"}


def test_tags_are_split_at_any_comma_the_person_types() -> None:
    assert split_tags(" VIP， 茶、green tea,\n, ") == ["VIP", "茶", "green tea"]


def test_an_untouched_form_changes_nothing() -> None:
    read = as_read(RECORD)
    assert changed(typed(form_values(read)), read) == {}


def test_only_the_fields_the_person_changed_are_sent_blank_as_none() -> None:
    read = as_read(RECORD)
    form = form_values(read) | {"notes": "  ", "tags": "VIP, 茶", "address": "北京"}
    assert changed(typed(form), read) == {"notes": None, "tags": ["VIP", "茶"], "address": "北京"}


def test_a_blank_name_is_sent_for_the_service_to_refuse() -> None:
    read = as_read(RECORD)
    assert changed(typed(form_values(read) | {"name": " "}), read) == {"name": ""}


@pytest.mark.parametrize(("etag", "revision"), [('"4"', 4), ('W/"12"', 12), ("4", 0), ("", 0), (None, 0), ('"x"', 0)])
def test_the_revision_is_read_back_from_the_etag(etag: str | None, revision: int) -> None:
    assert revision_of(etag) == revision


def test_history_values_read_as_text() -> None:
    assert shown(None) == shown([]) == shown("") == "—"
    assert shown(["VIP", "茶"]) == "VIP, 茶"
    assert shown({"茶叶世家": "cheaper", "Acme": ""}) == "茶叶世家 (cheaper); Acme"


def test_an_email_another_customer_holds_is_said_at_the_field_naming_them() -> None:
    taken = ServiceRefused("contacts", 409, {"detail": "the email li@example.cn belongs to customer 李雷 (…)",
                                            "code": "identity_taken", "kind": "email", "value": "li@example.cn",
                                            "holder": {"id": "0190f0c0-0000-7000-8000-000000000002", "name": "李雷"}})
    said = email_taken(taken, Texts("zh-CN"))
    assert said is not None and "李雷" in said and "li@example.cn" in said and "belongs" not in said
    assert email_taken(ServiceRefused("contacts", 409, {"detail": "external_ref taken"}), Texts("zh-CN")) is None
