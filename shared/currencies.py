"""Currencies: ISO 4217 codes (pycountry's list) and the ones a shop takes (``KEHU_CURRENCIES``).

Amounts in different currencies are never added up, so a shop names the currencies it trades in;
the first is its default, used for an order that names none. No I/O besides pycountry reading its
own data once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pycountry


def is_iso4217(code: str) -> bool:
    return len(code) == 3 and code.isalpha() and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def parse_currencies(text: str) -> tuple[str, ...]:
    """``"CNY, USD"`` → ``("CNY", "USD")``; a code that is not ISO 4217, a repeat or an empty list is refused."""
    codes = tuple(code.strip() for code in text.split(",") if code.strip())
    if not codes:
        raise ValueError("name at least one ISO 4217 currency code, e.g. CNY or CNY,USD")
    unknown = [code for code in codes if not is_iso4217(code)]
    if unknown:
        raise ValueError(f"not ISO 4217 currency codes: {', '.join(unknown)} (write e.g. CNY,USD)")
    if len(set(codes)) != len(codes):
        raise ValueError(f"a currency is named twice in {text!r}")
    return codes


def refusal(code: str, accepted: Sequence[str]) -> str | None:
    """Why a shop that takes ``accepted`` refuses an amount in ``code``; None when it takes it."""
    if code in accepted:
        return None
    takes = ", ".join(accepted)
    if not is_iso4217(code):
        return f"{code!r} is not an ISO 4217 currency code; this shop takes {takes}"
    return f"{code} is not a currency of this shop; it takes {takes} (KEHU_CURRENCIES)"
