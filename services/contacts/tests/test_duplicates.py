"""Duplicate scoring and name normalisation (pure)."""

from __future__ import annotations

import uuid

import pytest

from services.contacts.domain.duplicates import (
    MIN_SCORE,
    Record,
    best_first,
    identity_value_key,
    likely,
    name_key,
    normalise_name,
    phone_prefix,
    pinyin_key,
    score,
)

A, B, C = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)


@pytest.mark.parametrize(("name", "normalised"), [
    ("上海星辰贸易有限公司", "上海星辰贸易"),
    ("上海星辰贸易公司", "上海星辰贸易"),
    ("上海星辰贸易股份有限公司", "上海星辰贸易"),
    ("上海 星辰 贸易（有限公司）", "上海星辰贸易"),
    ("ＡＣＭＥ　Ｔｒａｄｉｎｇ", "acmetrading"),  # full-width letters and blank
    ("Acme Trading Co., Ltd.", "acmetrading"),
    ("ACME trading Inc", "acmetrading"),
    ("王芳", "王芳"),
    ("公司", "公司"),  # a suffix alone is the whole name: kept
])
def test_a_name_is_normalised_for_comparison(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


def test_a_name_of_punctuation_only_has_no_key() -> None:
    assert name_key("..., ") is None


def test_homophones_share_a_pinyin_key_and_latin_names_have_none() -> None:
    assert pinyin_key("王芳") == pinyin_key("汪芳") == "wangfang"
    assert pinyin_key("Acme") is None


@pytest.mark.parametrize(("phone", "prefix"), [
    ("+8613800138000", "1380013"),
    ("+14155550123", "4155550"),
    (None, None),
    ("+86123", None),
])
def test_the_phone_prefix_is_the_first_7_digits_of_the_national_number(phone: str | None, prefix: str | None) -> None:
    assert phone_prefix(phone) == prefix


def test_a_phone_typed_into_other_matches_the_e164_phone() -> None:
    assert identity_value_key("138 0013-8000") == identity_value_key("+8613800138000")
    assert identity_value_key("Card 42") != identity_value_key("+8613800138000")


def test_the_same_phone_alone_is_a_likely_duplicate() -> None:
    result = score(Record(A, "王芳", phone="+8613800138000"), Record(B, "Fang W.", phone="+8613800138000"))
    assert likely(result)
    assert [r.code for r in result.reasons] == ["same_phone"]


def test_the_same_email_in_another_case_is_a_likely_duplicate() -> None:
    result = score(Record(A, "x", email="fang@example.cn"), Record(B, "y", email="FANG@example.cn"))
    assert [r.code for r in result.reasons] == ["same_email"]
    assert likely(result)


def test_a_phone_in_other_identities_counts_as_the_same_identity_and_says_which() -> None:
    a = Record(A, "王芳", phone="+8613800138000")
    b = Record(B, "Wang", identities=frozenset({("other", "138 0013 8000")}))
    result = score(a, b)
    assert [r.code for r in result.reasons] == ["same_identity"]
    assert "138 0013 8000" in result.reasons[0].text
    assert likely(result)


def test_a_similar_name_alone_is_not_a_duplicate() -> None:
    result = score(Record(A, "上海星辰贸易有限公司"), Record(B, "上海星辰贸易公司"))
    assert result.score == 0
    assert not likely(result)


def test_a_similar_name_with_the_same_phone_prefix_is_a_likely_duplicate() -> None:
    result = score(Record(A, "上海星辰贸易有限公司", phone="+8613800138000"),
                   Record(B, "上海星辰贸易公司", phone="+8613800138999"))
    assert [r.code for r in result.reasons] == ["same_name", "same_phone_prefix"]
    assert result.score >= MIN_SCORE


def test_a_homophone_with_the_same_company_is_a_likely_duplicate() -> None:
    company = uuid.UUID(int=99)
    result = score(Record(A, "王芳", companies=frozenset({company})), Record(B, "汪芳", companies=frozenset({company})))
    assert [r.code for r in result.reasons] == ["same_pinyin", "same_company"]
    assert likely(result)


def test_a_similar_name_with_another_phone_block_is_not_a_duplicate() -> None:
    result = score(Record(A, "王芳", phone="+8613800138000"), Record(B, "王芳", phone="+8613900139000"))
    assert not likely(result)


def test_every_sign_adds_up_to_at_most_100() -> None:
    a = Record(A, "王芳", phone="+8613800138000", email="f@x.cn")
    result = score(a, Record(B, "王芳", phone="+8613800138000", email="f@x.cn"))
    assert result.score == 100
    assert {r.code for r in result.reasons} == {"same_phone", "same_email", "same_name"}


def test_pairs_come_best_first_and_ties_in_id_order() -> None:
    high = score(Record(A, "x", phone="+8613800138000"), Record(B, "y", phone="+8613800138000"))
    low = score(Record(A, "x", email="e@x.cn"), Record(C, "y", email="e@x.cn"))
    ordered = best_first([(B, C, low), (A, C, low), (A, B, high)])
    assert [(p[0], p[1]) for p in ordered] == [(A, B), (A, C), (B, C)]
