"""The searchable text of a customer and how a query is read."""

from __future__ import annotations

import pytest

from services.contacts.search import MAX_VARIANTS, phone_tail, pinyin_variants, query_pattern, search_text


def _parts(name: str, phone: str | None = None, ref: str | None = None) -> list[str]:
    return search_text(name, phone, ref).split("|")


def test_a_chinese_name_is_searchable_by_characters_full_pinyin_with_and_without_spaces_and_initials() -> None:
    parts = _parts("张伟")

    assert parts[0] == "张伟"
    assert {"zhang wei", "zhangwei", "zw"} <= set(parts)


@pytest.mark.parametrize(("name", "readings"), [
    ("曾", {"zeng", "ceng"}),
    ("单", {"dan", "shan", "chan"}),
])
def test_every_reading_of_a_polyphonic_surname_is_searchable(name: str, readings: set[str]) -> None:
    text = search_text(name + "伟", None, None)
    for reading in readings:
        assert f"{reading}wei" in text
        assert f"{reading} wei" in text
        assert f"{reading[0]}w" in text.split("|")


def test_every_combination_of_two_polyphonic_characters_is_there() -> None:
    text = search_text("曾单", None, None)
    for first in ("zeng", "ceng"):
        for second in ("dan", "shan", "chan"):
            assert f"{first}{second}" in text


def test_a_latin_name_is_searchable_lower_case_joined_and_by_initials() -> None:
    parts = _parts("Acme Trading Co.")

    assert parts[0] == "acme trading co."
    assert {"acme trading co", "acmetradingco", "atc"} <= set(parts)


def test_a_mixed_name_reads_its_han_characters_and_keeps_its_words() -> None:
    assert "acmezhang" in search_text("Acme 张", None, None)
    assert "l1hd" in _parts("李1号店")


def test_a_name_of_many_polyphonic_characters_keeps_at_most_the_cap_but_every_single_reading() -> None:
    name = "行长银行重庆长朝"
    variants = pinyin_variants(name)

    assert len(variants) == MAX_VARIANTS
    for index, reading in enumerate(["xing", "hang", "heng"]):
        assert any(v[0] == reading for v in variants), (index, reading)
    assert any(v[-1] == "chao" for v in variants) and any(v[-1] == "zhao" for v in variants)


def test_phone_digits_and_the_external_ref_are_in_the_text_lower_case() -> None:
    parts = _parts("王芳", "+8613800138000", "VIP-0042")

    assert "8613800138000" in parts
    assert "vip-0042" in parts


def test_a_query_is_lower_cased_its_blanks_squeezed_and_like_wildcards_escaped() -> None:
    assert query_pattern("  Zhang   WEI ") == "zhang wei"
    assert query_pattern("50%_off\\") == "50\\%\\_off\\\\"


@pytest.mark.parametrize(("q", "tail"), [
    ("8000", "8000"), ("138-0013 8000", "13800138000"), ("+86 (138) 0013.8000", "8613800138000"),
    ("800", None), ("zw8000", None), ("", None),
])
def test_a_query_of_four_or_more_digits_reads_as_a_phone_tail(q: str, tail: str | None) -> None:
    assert phone_tail(q) == tail
