"""Channel identities: the normal form of every kind, what a malformed one is refused with, and who
links what (one holder per identity, the primary phone following the identities)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.contacts.domain.identities import (
    IDENTITY_TAKEN,
    IdentityInvalid,
    IdentityTaken,
    NormalIdentity,
    link_outcome,
    linked_event,
    normalise,
    parse_identity_query,
    primary_after_link,
    primary_after_unlink,
    primary_replaced,
    registration_identities,
    unlinked_event,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANN = uuid.UUID("0190f0c0-0000-7000-8000-000000000001")
BOB = uuid.UUID("0190f0c0-0000-7000-8000-000000000002")


def _value(kind: str, value: str, label: str | None = None) -> str:
    return normalise(kind, value, label, phone_region="CN").value


@pytest.mark.parametrize("written", [
    "+86 138 0013 8000", "13800138000", "138 0013 8000", "138-0013-8000", "008613800138000", "  +8613800138000 ",
    "(+86) 138 0013 8000",
])
def test_a_mainland_mobile_in_any_spelling_is_one_e164_phone(written: str) -> None:
    assert _value("phone", written) == "+8613800138000"


def test_a_phone_without_country_code_reads_in_the_shops_region() -> None:
    assert normalise("phone", "030 1234567", phone_region="DE").value == "+49301234567"
    assert _value("phone", "0049 30 1234567") == "+49301234567"


@pytest.mark.parametrize("written", ["12345", "not a phone", "+86 138 0013", "1380013800099999"])
def test_a_malformed_phone_is_refused_naming_the_field_with_a_code(written: str) -> None:
    with pytest.raises(IdentityInvalid) as refused:
        normalise("phone", written, phone_region="CN")
    assert refused.value.status == 422
    assert [(e.field, e.code) for e in refused.value.errors or []] == [("value", "phone_invalid")]


def test_an_email_is_trimmed_and_lower_cased() -> None:
    assert _value("email", "  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize("written", ["ann", "ann@", "ann@example", "a b@example.com"])
def test_a_malformed_email_is_refused(written: str) -> None:
    with pytest.raises(IdentityInvalid) as refused:
        normalise("email", written, phone_region="CN")
    assert refused.value.errors and refused.value.errors[0].code == "email_invalid"


@pytest.mark.parametrize("kind", ["wechat_openid", "wechat_unionid"])
def test_a_wechat_id_is_kept_exactly_case_and_all(kind: str) -> None:
    assert _value(kind, " oUpF8uMuAJO_M2pxb1Q9zNjWeS6o ") == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.mark.parametrize("written", ["short", "has space inside1", "o" * 65, "中文openid12345"])
def test_a_wechat_id_of_wrong_length_or_characters_is_refused(written: str) -> None:
    with pytest.raises(IdentityInvalid) as refused:
        normalise("wechat_openid", written, phone_region="CN")
    assert refused.value.errors and refused.value.errors[0].code == "wechat_id_invalid"


def test_a_web_account_is_case_insensitive() -> None:
    assert _value("web_account", "  AnnLee88 ") == "annlee88"


@pytest.mark.parametrize("kind", ["membership_card", "fair_badge"])
def test_card_and_badge_numbers_are_upper_case_without_blanks(kind: str) -> None:
    assert _value(kind, " vip 0001 2345 ") == "VIP00012345"
    assert _value(kind, "VIP-0001") == "VIP-0001"


def test_other_keeps_the_value_as_given_and_needs_a_label() -> None:
    identity = normalise("other", "  Ann_QQ 12345 ", " QQ ", phone_region="CN")
    assert (identity.value, identity.label) == ("Ann_QQ 12345", "QQ")
    with pytest.raises(IdentityInvalid) as refused:
        normalise("other", "12345", None, phone_region="CN")
    assert [(e.field, e.code) for e in refused.value.errors or []] == [("label", "label_missing")]


def test_a_lookup_of_other_needs_no_label() -> None:
    assert normalise("other", "12345", phone_region="CN", need_label=False).value == "12345"


@pytest.mark.parametrize(("kind", "value", "code"), [
    ("phone", "   ", "identity_empty"),
    ("membership_card", "VIP\x00001", "identity_invalid"),
    ("fax", "123", "kind_unknown"),
])
def test_empty_control_characters_and_unknown_kinds_are_refused(kind: str, value: str, code: str) -> None:
    with pytest.raises(IdentityInvalid) as refused:
        normalise(kind, value, phone_region="CN")
    assert refused.value.errors and refused.value.errors[0].code == code


def test_a_nested_field_is_named_in_full() -> None:
    with pytest.raises(IdentityInvalid) as refused:
        normalise("phone", "12", phone_region="CN", field="customer.identity.value")
    assert refused.value.errors and refused.value.errors[0].field == "customer.identity.value"
    with pytest.raises(IdentityInvalid) as refused:
        normalise("other", "12", phone_region="CN", field="customer.identity.value")
    assert refused.value.errors and refused.value.errors[0].field == "customer.identity.label"


def test_an_identity_query_is_kind_colon_value() -> None:
    assert parse_identity_query("phone:138 0013 8000", phone_region="CN", field="query.identity") == NormalIdentity(
        kind="phone", value="+8613800138000")
    assert parse_identity_query("membership_card:vip 1", phone_region="CN", field="q").value == "VIP1"
    with pytest.raises(IdentityInvalid) as refused:
        parse_identity_query("13800138000", phone_region="CN", field="query.identity")
    assert refused.value.errors and refused.value.errors[0].field == "query.identity"


def test_an_identity_nobody_holds_is_linked_one_the_customer_holds_is_already_linked() -> None:
    card = NormalIdentity(kind="membership_card", value="VIP1")
    assert link_outcome(card, ANN, None) == "linked"
    assert link_outcome(card, ANN, (ANN, "Ann")) == "already_linked"


def test_an_identity_another_customer_holds_is_a_409_naming_the_holder() -> None:
    card = NormalIdentity(kind="membership_card", value="VIP1")
    with pytest.raises(IdentityTaken) as refused:
        link_outcome(card, ANN, (BOB, "Bob"))
    assert refused.value.status == 409
    assert refused.value.extra["code"] == IDENTITY_TAKEN
    assert refused.value.extra["holder"] == {"id": str(BOB), "name": "Bob"}
    assert "Bob" in refused.value.detail and str(BOB) in refused.value.detail


def test_the_first_phone_linked_becomes_primary_later_ones_do_not() -> None:
    assert primary_after_link("phone", "+8613800138000", None) == "+8613800138000"
    assert primary_after_link("phone", "+8613900000001", "+8613800138000") is None
    assert primary_after_link("membership_card", "VIP1", None) is None


def test_unlinking_the_primary_phone_promotes_the_oldest_remaining() -> None:
    assert primary_after_unlink("+861", "+861", ["+862", "+863"]) == (True, "+862")
    assert primary_after_unlink("+861", "+861", []) == (True, None)
    assert primary_after_unlink("+862", "+861", ["+861"]) == (False, "+861")


def test_a_registration_links_its_phone_and_email() -> None:
    assert registration_identities("+8613800138000", "ann@example.com") == [
        NormalIdentity(kind="phone", value="+8613800138000"), NormalIdentity(kind="email", value="ann@example.com")]
    assert registration_identities(None, None) == []


def test_link_and_unlink_events_carry_the_normal_form_and_the_actor() -> None:
    card = NormalIdentity(kind="other", value="12345", label="QQ")
    linked = linked_event(card, ANN, by="till-1", now=NOW)
    assert (linked.customer_id, linked.kind, linked.value, linked.label, linked.linked_by) == (
        ANN, "other", "12345", "QQ", "till-1")
    unlinked = unlinked_event(card, ANN, by="ann", now=NOW)
    assert (unlinked.value, unlinked.unlinked_by, unlinked.occurred_at) == ("12345", "ann", NOW)


def test_a_search_query_is_cut_into_the_pieces_its_index_holds() -> None:
    from services.contacts.search import query_grams, query_text

    assert query_grams("张") == ["张"]
    assert query_grams("wf") == ["wf"]
    assert query_grams("zhangw") == ["ang", "han", "ngw", "zha"]
    assert query_grams(query_text("  Zhang  Wei ")) == sorted({"zha", "han", "ang", "ng ", "g w", " we", "wei"})
    assert query_grams(None) == [] and query_grams("") == []


def test_an_edited_primary_unlinks_the_old_identity_and_links_the_new() -> None:
    old, new = NormalIdentity(kind="email", value="a@x.cn"), NormalIdentity(kind="email", value="b@x.cn")
    assert primary_replaced("email", "a@x.cn", "b@x.cn") == (old, new)
    assert primary_replaced("email", None, "b@x.cn") == (None, new)
    assert primary_replaced("email", "a@x.cn", None) == (old, None)
    assert primary_replaced("email", "a@x.cn", "a@x.cn") == (None, None)
