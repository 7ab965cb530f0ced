"""Likely duplicates: when two customer records are probably one customer, and why.

Pure: no I/O. The store finds candidates by blocking keys computed here (``name_key``,
``pinyin_key``, ``phone_prefix``) and kept in indexed columns (migration 0009); this module
scores a pair from what both records hold.

Rules (issue 11, "Duplicates and merge"):
- the same identity (phone, email, or the same normalised value under any kind: a phone number
  typed into ``other``) is a strong sign on its own;
- a similar name is a sign only together with the same phone prefix (first 7 digits of the
  national number: same carrier block and area) or the same company (both contact persons of it).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from services.contacts.search import pinyin_variants

ReasonCode = Literal["same_phone", "same_email", "same_identity", "same_name", "same_pinyin",
                     "same_phone_prefix", "same_company"]

# What each reason adds to the score (capped at 100). A shared identity alone passes the default
# threshold; a similar name needs a second sign.
WEIGHTS: dict[ReasonCode, int] = {
    "same_phone": 70, "same_email": 60, "same_identity": 60,
    "same_name": 35, "same_pinyin": 30,
    "same_phone_prefix": 20, "same_company": 25,
}
MIN_SCORE = 50
"""Below this a pair is not reported (a similar name alone scores 35)."""
PHONE_PREFIX_DIGITS = 7

_REASON_TEXT: dict[ReasonCode, str] = {
    "same_phone": "same phone number",
    "same_email": "same email address",
    "same_identity": "same identity ({detail})",
    "same_name": "same name once normalised",
    "same_pinyin": "same name in pinyin",
    "same_phone_prefix": "phone numbers share the first 7 digits",
    "same_company": "contact persons of the same company",
}

# Company suffixes, longest first so 有限责任公司 is removed whole rather than leaving 有限责任.
_CJK_SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团", "公司", "商行", "工作室", "店")
_LATIN_SUFFIXES = ("co ltd", "co limited", "company limited", "limited", "ltd", "llc", "inc", "gmbh",
                   "corp", "corporation", "company", "co", "plc", "sa", "ag", "bv")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """The name as two spellings of it compare: full-width → half-width (NFKC), lower-case, no
    blanks or punctuation, company suffixes (有限公司, 公司, Co., Ltd., Inc., ...) dropped."""
    text = unicodedata.normalize("NFKC", name).lower()
    words = [w for w in _NOT_WORD.split(text) if w]
    # Latin suffixes are words: drop them from the end while any matches ("acme co ltd").
    changed = True
    while changed and words:
        changed = False
        for suffix in _LATIN_SUFFIXES:
            parts = suffix.split()
            if len(words) > len(parts) and words[-len(parts):] == parts:
                words = words[:-len(parts)]
                changed = True
                break
    joined = "".join(words)
    for suffix in _CJK_SUFFIXES:
        if joined.endswith(suffix) and len(joined) > len(suffix):
            joined = joined[: -len(suffix)]
            break
    return joined


def name_key(name: str) -> str | None:
    """The blocking key of a name (``normalise_name``), None when nothing is left of it."""
    return normalise_name(name) or None


def pinyin_key(name: str) -> str | None:
    """The usual pinyin of the normalised name, syllables joined (王芳 and 汪芳 both ``wangfang``);
    None for a name without Han characters (the name key covers those)."""
    normalised = normalise_name(name)
    if not any("\u3400" <= ch <= "\u9fff" for ch in normalised):
        return None
    variants = pinyin_variants(normalised)
    return "".join(variants[0]) if variants else None


def phone_prefix(phone: str | None) -> str | None:
    """The first 7 digits of an E.164 number's national part (+86 138 0013 8000 → 1380013)."""
    if not phone or not phone.startswith("+"):
        return None
    digits = phone[1:]
    national = digits[2:] if digits.startswith("86") else digits[1:]  # CN first; else a 1-digit code
    return national[:PHONE_PREFIX_DIGITS] if len(national) >= PHONE_PREFIX_DIGITS else None


def identity_value_key(value: str) -> str:
    """An identity value compared across kinds: a phone typed into ``other`` as ``138 0013 8000``
    matches the phone identity ``+8613800138000`` by its last 11 digits; anything else by its
    NFKC lower-case text without blanks."""
    text = unicodedata.normalize("NFKC", value).lower()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 7 and re.fullmatch(r"[\d\s()+\-.]+", text):
        return digits[-11:]
    return "".join(text.split())


@dataclass(frozen=True)
class Record:
    """What the scoring needs of one customer."""

    id: uuid.UUID
    name: str
    phone: str | None = None
    email: str | None = None
    identities: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (kind, value)
    companies: frozenset[uuid.UUID] = field(default_factory=frozenset)


class Reason(BaseModel):
    code: ReasonCode
    text: str = Field(description="The reason in words (English; the console words it per language).")


class Score(BaseModel):
    score: int = Field(ge=0, le=100)
    reasons: list[Reason]


def _reason(code: ReasonCode, detail: str = "") -> Reason:
    return Reason(code=code, text=_REASON_TEXT[code].format(detail=detail))


def _shared_identities(a: Record, b: Record) -> list[str]:
    """Identity values both hold, compared across kinds (``identity_value_key``), leaving out the
    phone and email both hold in the same column (reasons of their own); in ``b``'s spelling."""
    def keys(r: Record) -> dict[str, str]:
        pairs = set(r.identities)
        if r.phone:
            pairs.add(("phone", r.phone))
        if r.email:
            pairs.add(("email", r.email))
        return {identity_value_key(v): f"{k} {v}" for k, v in sorted(pairs)}
    same_column = {identity_value_key(v) for v, w in ((a.phone, b.phone), (a.email, b.email))
                   if v and w and v.lower() == w.lower()}
    ka, kb = keys(a), keys(b)
    return sorted(kb[k] for k in (ka.keys() & kb.keys()) - same_column)


def score(a: Record, b: Record) -> Score:
    """How likely ``a`` and ``b`` are one customer (0-100) and why."""
    reasons: list[Reason] = []
    if a.phone and a.phone == b.phone:
        reasons.append(_reason("same_phone"))
    if a.email and a.email.lower() == (b.email or "").lower():
        reasons.append(_reason("same_email"))
    others = _shared_identities(a, b)
    if others:
        reasons.append(_reason("same_identity", ", ".join(others)))
    similar: list[Reason] = []
    key_a, key_b = name_key(a.name), name_key(b.name)
    if key_a and key_a == key_b:
        similar.append(_reason("same_name"))
    else:
        pa, pb = pinyin_key(a.name), pinyin_key(b.name)
        if pa and pa == pb:
            similar.append(_reason("same_pinyin"))
    if similar:
        backing: list[Reason] = []
        prefix_a = phone_prefix(a.phone)
        if prefix_a and prefix_a == phone_prefix(b.phone) and a.phone != b.phone:
            backing.append(_reason("same_phone_prefix"))
        if a.companies & b.companies:
            backing.append(_reason("same_company"))
        # A similar name counts only with another sign (or an identity already shared).
        if backing or reasons:
            reasons += similar + backing
    total = min(100, sum(WEIGHTS[r.code] for r in reasons))
    return Score(score=total, reasons=reasons)


def likely(scored: Score, min_score: int = MIN_SCORE) -> bool:
    return scored.score >= min_score


def best_first(pairs: Iterable[tuple[uuid.UUID, uuid.UUID, Score]]) -> list[tuple[uuid.UUID, uuid.UUID, Score]]:
    """Pairs by score, highest first; ties in id order so a page boundary is stable."""
    return sorted(pairs, key=lambda p: (-p[2].score, p[0], p[1]))
