"""What a customer search matches: one lower-case searchable text per customer, built here.

Pure: no I/O. The store keeps the text in ``customers.search`` and matches a query against it
with one ``LIKE '%q%'`` (``sql/customers.sql``: ``list_customers``). Pinyin is computed here, not
in SQL, because PostgreSQL has no pinyin table; rows registered before the column existed are
filled at service start (``backfill.py``).
"""

from __future__ import annotations

import itertools
import re

from pypinyin import Style, pinyin

MAX_QUERY = 100
MAX_VARIANTS = 16
"""Most pinyin readings kept per name. Each polyphonic character multiplies the readings (曾 zeng/
ceng x 单 dan/shan/chan = 6); a long name of such characters would give thousands, so the text
keeps the usual reading, every single-character alternative (so each reading of a surname such as
曾 or 单 is findable), then further combinations up to this many."""
MIN_PHONE_DIGITS = 4
"""A query of at least this many digits (spaces, dashes, brackets, + allowed) also finds the phone
numbers ending with them: "8000" or "138-0013-8000" finds +8613800138000."""

_SEPARATOR = "|"  # between the parts of the text, so a query rarely matches across two of them
_WORDS = re.compile(r"[^\W_]+")  # letters and digits of any script (Han characters included)
_PHONE_QUERY = re.compile(r"^[\d\s()+\-.]+$")


def _syllables(name: str) -> list[list[str]]:
    """Each Han character of ``name`` with all its readings, and each other word, lower-case.

    Character by character, not by phrase: pypinyin reads 曾 in a phrase one way only, but a name is
    no phrase, and people search a surname by any of its readings."""
    units: list[list[str]] = []
    for word in _WORDS.findall(name.lower()):
        plain = ""  # the run of characters without a reading (Latin, digits, other scripts)
        for char in word:
            readings = pinyin(char, style=Style.NORMAL, heteronym=True)[0]
            if readings == [char]:
                plain += char
                continue
            if plain:
                units.append([plain])
                plain = ""
            units.append(list(dict.fromkeys(readings)))
        if plain:
            units.append([plain])
    return units


def pinyin_variants(name: str) -> list[list[str]]:
    """The readings of ``name`` as lists of syllables, the usual one first, at most ``MAX_VARIANTS``."""
    units = _syllables(name)
    if not units:
        return []
    usual = tuple(readings[0] for readings in units)
    variants = {usual: None}  # a dict keeps the order and drops repeats
    for index, readings in enumerate(units):  # each alternative of each character, the others usual
        for other in readings[1:]:
            variants[(*usual[:index], other, *usual[index + 1:])] = None
    for combination in itertools.product(*units):
        if len(variants) >= MAX_VARIANTS:
            break
        variants[combination] = None
    return [list(v) for v in variants][:MAX_VARIANTS]


def search_text(name: str, phone: str | None, external_ref: str | None) -> str:
    """The text a search looks in: the name, its pinyin with and without spaces, the initials,
    the phone's digits and the external_ref, lower-case, parts separated by ``|``."""
    parts = [name.lower()]
    for syllables in pinyin_variants(name):
        parts += [" ".join(syllables), "".join(syllables), "".join(s[0] for s in syllables)]
    if phone:
        parts.append("".join(ch for ch in phone if ch.isdigit()))
    if external_ref:
        parts.append(external_ref.lower())
    return _SEPARATOR.join(dict.fromkeys(p for p in parts if p))


def query_pattern(q: str) -> str:
    """``q`` as the searchable text holds it (lower-case, single spaces), with LIKE's ``%``, ``_`` and
    ``\\`` escaped so they match themselves."""
    text = " ".join(q.lower().split())
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


GRAM_WIDTH = 3
"""The longest piece of a search text its index holds (migration 0006, ``contacts_search_grams``)."""


def query_grams(text: str | None) -> list[str]:
    """The pieces of ``text`` (as the searchable text holds it: lower-case, single spaces, not
    escaped) that every text containing it holds: all its 3-character pieces, or itself when
    shorter. The SQL function ``contacts_search_grams`` cuts texts the same way (by characters)."""
    if not text:
        return []
    if len(text) <= GRAM_WIDTH:
        return [text]
    return sorted({text[i:i + GRAM_WIDTH] for i in range(len(text) - GRAM_WIDTH + 1)})


def query_text(q: str) -> str:
    """``q`` as the searchable text holds it (lower-case, single spaces), not escaped."""
    return " ".join(q.lower().split())


def phone_tail(q: str) -> str | None:
    """The digits of ``q`` when it reads as (the tail of) a phone number, else None."""
    if not _PHONE_QUERY.match(q):
        return None
    digits = "".join(ch for ch in q if ch.isdigit())
    return digits if len(digits) >= MIN_PHONE_DIGITS else None
