"""Editing a customer's record: what counts as a change, tags, If-Match, referral loops, history,
contact-person kinds and competitors (pure rules, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.contacts.domain import competitors, contact_persons
from services.contacts.domain.customers import Customer
from services.contacts.domain.profile import (
    MAX_REFERRAL_DEPTH,
    PreconditionFailed,
    PreconditionRequired,
    ProfilePatch,
    check_if_match,
    check_referrer,
    diff,
    etag,
    history_entries,
    misplaced_fields,
    normalise_tags,
    registration_entry,
)
from shared.errors import Conflict, Invalid
from shared.events import FieldChange

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ID = uuid.UUID(int=1)


def _customer(**fields: object) -> Customer:
    values: dict[str, object] = {
        "id": ID, "name": "王芳", "kind": "person", "phone": "+8613800138000", "email": "wang@example.cn",
        "external_ref": "C-1", "category": "potential", "lead_source": None, "channel": "store",
        "created_at": NOW - timedelta(days=30), "revision": 3, "tags": ["VIP"],
    }
    return Customer(**(values | fields))


def _patch(**fields: object) -> ProfilePatch:
    return ProfilePatch.model_validate(fields)


# --- what counts as a change --------------------------------------------------------------------


def test_only_the_fields_given_change_and_each_is_listed_old_to_new() -> None:
    after, changes = diff(_customer(), _patch(name="王芳芳", notes="likes green tea"))
    assert [(c.field, c.old, c.new) for c in changes] == [("name", "王芳", "王芳芳"), ("notes", None, "likes green tea")]
    assert after.name == "王芳芳" and after.notes == "likes green tea"
    assert after.email == "wang@example.cn" and after.tags == ["VIP"]  # left out: unchanged
    assert after.revision == 4


def test_a_patch_giving_the_values_the_record_has_changes_nothing() -> None:
    current = _customer(address="北京市朝阳区", tags=["VIP", "茶"])
    after, changes = diff(current, _patch(name=" 王芳 ", email="WANG@Example.cn", address="北京市朝阳区 ",
                                          tags=["茶", "vip"], external_ref="C-1"))
    assert changes == []
    assert after is current and after.revision == 3


def test_an_empty_patch_changes_nothing() -> None:
    assert diff(_customer(), _patch()) == (_customer(), [])


def test_null_clears_a_field_and_an_empty_text_means_none() -> None:
    after, changes = diff(_customer(notes="x"), _patch(email=None, notes="   ", tags=None, external_ref=""))
    assert {c.field: (c.old, c.new) for c in changes} == {
        "email": ("wang@example.cn", None), "notes": ("x", None), "tags": (["VIP"], []), "external_ref": ("C-1", None)}
    assert after.email is None and after.tags == [] and after.external_ref is None


@pytest.mark.parametrize("field", ["name", "kind"])
def test_name_and_kind_cannot_be_cleared(field: str) -> None:
    with pytest.raises(Invalid) as exc:
        diff(_customer(), _patch(**{field: None}))
    assert exc.value.errors and exc.value.errors[0].field == field


def test_an_email_is_lower_cased_and_a_malformed_one_refused() -> None:
    _, changes = diff(_customer(), _patch(email=" New@Example.COM "))
    assert changes == [FieldChange(field="email", old="wang@example.cn", new="new@example.com")]
    with pytest.raises(Invalid) as exc:
        diff(_customer(), _patch(email="not-an-address"))
    assert exc.value.errors and exc.value.errors[0].field == "email"


def test_referred_by_is_recorded_as_text_in_history() -> None:
    referrer = uuid.UUID(int=2)
    _, changes = diff(_customer(), _patch(referred_by=str(referrer)))
    assert changes == [FieldChange(field="referred_by", old=None, new=str(referrer))]


def test_lead_source_takes_only_the_known_sources() -> None:
    _, changes = diff(_customer(), _patch(lead_source="fair", lead_source_detail="广交会 2026"))
    assert [c.new for c in changes] == ["fair", "广交会 2026"]
    with pytest.raises(ValidationError) as exc:
        _patch(lead_source="a friend of a friend")
    assert exc.value.errors()[0]["loc"] == ("lead_source",)


def test_an_old_free_text_lead_source_stays_readable() -> None:
    assert _customer(lead_source="广告牌").lead_source == "广告牌"


# --- fields a PATCH does not take ---------------------------------------------------------------


def test_fields_changed_elsewhere_are_named_with_where_to_change_them() -> None:
    problems = {p.field: p.message for p in misplaced_fields({"name": "x", "phone": "1", "category": "lost",
                                                               "owner": "li", "revision": 9})}
    assert set(problems) == {"phone", "category", "owner", "revision"}
    assert "identities" in problems["phone"]
    assert "category" in problems["category"] and "reason" in problems["category"]
    assert "handover" in problems["owner"]
    assert "name, kind, email" in problems["revision"]


def test_the_model_also_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        _patch(phone="13800138000")


# --- tags ---------------------------------------------------------------------------------------


def test_tags_are_trimmed_deduplicated_in_any_case_and_keep_their_order() -> None:
    assert normalise_tags(["  VIP ", "茶", "vip", "", "  ", "green   tea", "茶"]) == ["VIP", "茶", "green tea"]


def test_no_tags_is_an_empty_list() -> None:
    assert normalise_tags(None) == [] and normalise_tags([]) == []


@pytest.mark.parametrize("bad", ["a,b", "甲，乙", "甲、乙"])
def test_a_tag_with_a_comma_is_refused_naming_its_index(bad: str) -> None:
    with pytest.raises(Invalid) as exc:
        normalise_tags(["ok", bad])
    assert exc.value.errors and exc.value.errors[0].field == "tags[1]"


def test_at_most_twenty_tags_of_at_most_32_characters() -> None:
    ProfilePatch(tags=[f"t{i}" for i in range(20)])
    with pytest.raises(ValidationError):
        ProfilePatch(tags=[f"t{i}" for i in range(21)])
    with pytest.raises(ValidationError):
        ProfilePatch(tags=["x" * 33])


def test_tags_in_another_order_are_no_change_but_a_new_tag_is() -> None:
    current = _customer(tags=["a", "b"])
    assert diff(current, _patch(tags=["b", "A"]))[1] == []
    _, changes = diff(current, _patch(tags=["a", "b", "c"]))
    assert changes == [FieldChange(field="tags", old=["a", "b"], new=["a", "b", "c"])]


# --- ETag / If-Match ----------------------------------------------------------------------------


def test_the_etag_is_the_quoted_revision() -> None:
    assert etag(7) == '"7"'


@pytest.mark.parametrize("header", ['"3"', 'W/"3"', "*", '"2", "3"', ' "3" '])
def test_if_match_naming_the_current_revision_passes(header: str) -> None:
    check_if_match(header, 3, ID)


@pytest.mark.parametrize("header", [None, "", "  "])
def test_no_if_match_is_428(header: str | None) -> None:
    with pytest.raises(PreconditionRequired) as exc:
        check_if_match(header, 3, ID)
    assert exc.value.status == 428 and '"3"' in exc.value.detail


def test_a_stale_if_match_is_412_naming_the_current_revision() -> None:
    with pytest.raises(PreconditionFailed) as exc:
        check_if_match('"2"', 3, ID)
    assert exc.value.status == 412
    assert exc.value.extra["current_revision"] == 3
    assert exc.value.headers["ETag"] == '"3"'
    assert "revision 3" in exc.value.detail and "read 2" in exc.value.detail


@pytest.mark.parametrize("header", ["3", "abc", '"3', 'W/3'])
def test_an_if_match_that_is_no_entity_tag_is_422(header: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_if_match(header, 3, ID)
    assert exc.value.errors and exc.value.errors[0].field == "header.If-Match"


# --- referral loops -----------------------------------------------------------------------------


def test_a_customer_cannot_refer_itself() -> None:
    with pytest.raises(Conflict) as exc:
        check_referrer(ID, ID, [])
    assert exc.value.extra["code"] == "referral_self"


def test_a_referral_that_closes_a_loop_is_refused_showing_the_loop() -> None:
    a, b, c = ID, uuid.UUID(int=2), uuid.UUID(int=3)
    # a would be referred by b; b was referred by c, c by a: a → b → c → a
    with pytest.raises(Conflict) as exc:
        check_referrer(a, b, [b, c, a])
    assert exc.value.extra["code"] == "referral_cycle"
    assert exc.value.extra["chain"] == [str(b), str(c), str(a)]
    assert f"{a} → {b} → {c} → {a}" in exc.value.detail


def test_a_referral_chain_without_the_customer_is_fine() -> None:
    check_referrer(ID, uuid.UUID(int=2), [uuid.UUID(int=2), uuid.UUID(int=3)])


def test_a_chain_too_long_to_check_is_refused() -> None:
    chain = [uuid.UUID(int=i + 10) for i in range(MAX_REFERRAL_DEPTH)]
    with pytest.raises(Conflict, match="longer than"):
        check_referrer(ID, chain[0], chain)


# --- history ------------------------------------------------------------------------------------


def _row(revision: int, field: str, old: object, new: object, by: str = "wang") -> dict[str, object]:
    return {"revision": revision, "field": field, "old_value": old, "new_value": new, "changed_by": by,
            "changed_at": NOW + timedelta(minutes=revision)}


def test_history_groups_rows_by_revision_newest_first_fields_in_form_order() -> None:
    entries = history_entries([_row(2, "tags", [], ["VIP"]), _row(3, "notes", None, "x", by="li"),
                               _row(2, "name", "王", "王芳")])
    assert [e.revision for e in entries] == [3, 2]
    assert [c.field for c in entries[1].changes] == ["name", "tags"]
    assert entries[0].changed_by == "li" and entries[0].kind == "changed"


def test_the_registration_entry_gives_the_values_before_their_first_change() -> None:
    current = _customer(name="王芳芳", notes="x", tags=["VIP", "茶"])
    entry = registration_entry(current, {"name": "王芳", "notes": None, "tags": ["VIP"]})
    assert entry.kind == "registered" and entry.revision == 1 and entry.changed_at == current.created_at
    assert {c.field: c.new for c in entry.changes} == {
        "name": "王芳", "kind": "person", "email": "wang@example.cn", "tags": ["VIP"], "external_ref": "C-1"}


# --- contact persons ----------------------------------------------------------------------------


def test_a_contact_person_links_a_company_and_a_person() -> None:
    contact_persons.check_link(_customer(kind="company"), _customer(id=uuid.UUID(int=2)))


def test_a_person_has_no_contact_persons_and_a_company_is_none() -> None:
    person, company = _customer(), _customer(id=uuid.UUID(int=2), kind="company")
    with pytest.raises(contact_persons.NotACompany, match="is a person"):
        contact_persons.check_link(person, _customer(id=uuid.UUID(int=3)))
    with pytest.raises(contact_persons.NotAPerson, match="is a company"):
        contact_persons.check_link(company, _customer(id=uuid.UUID(int=3), kind="company"))


def test_a_merged_record_takes_no_contact_persons() -> None:
    merged = _customer(id=uuid.UUID(int=2), merged_into=uuid.UUID(int=9))
    with pytest.raises(contact_persons.Merged) as exc:
        contact_persons.check_link(_customer(kind="company"), merged)
    assert exc.value.extra["merged_into"] == str(uuid.UUID(int=9))


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValidationError):
        contact_persons.NewContactPerson(person_id=ID, role="boss")


# --- competitors --------------------------------------------------------------------------------


def test_a_competitor_name_is_trimmed_and_must_not_be_empty() -> None:
    assert competitors.competitor_name("  Acme   Tea  ") == "Acme Tea"
    with pytest.raises(Invalid):
        competitors.competitor_name("   ")
    with pytest.raises(Invalid):
        competitors.competitor_name("x" * 101)


def test_a_competitor_change_lists_every_competitor_before_and_after() -> None:
    change = competitors.change({"B": "", "A": "cheaper"}, {"B": "", "A": "cheaper", "C": "closer"})
    assert change == FieldChange(field="competitors", old={"A": "cheaper", "B": ""},
                                 new={"A": "cheaper", "B": "", "C": "closer"})
    assert competitors.change({"A": "x"}, {"A": "x"}) is None


def test_the_report_counts_customers_per_competitor_and_category_most_first() -> None:
    got = competitors.report([
        {"competitor": "Acme", "category": "current", "customers": 2},
        {"competitor": "Zeta", "category": "lost", "customers": 3},
        {"competitor": "Acme", "category": "lost", "customers": 1},
        {"competitor": "Beta", "category": "potential", "customers": 1},
    ])
    assert [(i.competitor, i.customers) for i in got.items] == [("Acme", 3), ("Zeta", 3), ("Beta", 1)]
    assert got.items[0].by_category == {"potential": 0, "prospective": 0, "current": 2, "lost": 1}
