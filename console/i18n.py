"""Every text of the console comes from a message catalogue: ``locales/zh_CN.po`` and ``locales/en.po``.

The message ids are the English texts (gettext's convention, so templates read naturally);
``en.po`` still lists every one, so a missing entry in either language is a test failure
(``tests/test_console_i18n.py``), not a page in two languages. The ``.po`` files are read at start
and compiled in memory: nothing compiled is committed and there is no build step.

The locale: the person's own choice once signed in, else the ``kehu_lang`` cookie, else the
browser's Accept-Language, else zh-CN. The same locale reaches ``<html lang>``, numbers, money,
dates and the charts' labels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from babel import Locale as BabelLocale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALES = ("zh-CN", "en")
DEFAULT = "zh-CN"
_FILES = {"zh-CN": "zh_CN.po", "en": "en.po"}
_DIR = Path(__file__).parent / "locales"


@cache
def translations(locale: str) -> Translations:
    with (_DIR / _FILES[locale]).open("rb") as po:
        catalog = read_po(po, locale=locale.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(chosen: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (chosen, cookie):
        if candidate in LOCALES:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


@dataclass(frozen=True)
class Texts:
    """The gettext functions and formats of one locale, handed to templates and views."""

    locale: str

    @property
    def _t(self) -> Translations:
        return translations(self.locale)

    def gettext(self, message: str, **values: object) -> str:
        text = str(self._t.gettext(message))
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text: str = self._t.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def pgettext(self, context: str, message: str, **values: object) -> str:
        text = str(self._t.pgettext(context, message))
        return text % values if values else text

    @property
    def html_lang(self) -> str:
        return "zh-CN" if self.locale == "zh-CN" else "en"

    @property
    def is_chinese(self) -> bool:
        return self.locale == "zh-CN"

    # Accept-Language for the services' own explanations (insights words its evidence).
    @property
    def accept_language(self) -> str:
        return "zh-CN,zh;q=0.9" if self.locale == "zh-CN" else "en"

    def number(self, value: float | int | Decimal, digits: int = 0) -> str:
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=_babel(self.locale))

    def money(self, amount: str | Decimal | float | None, currency: str = "CNY") -> str:
        """``¥1,234.50``: the full amount, as tables show it."""
        value = _decimal(amount)
        if value is None:
            return "—"
        symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥"}.get(currency, currency + " ")
        sign = "-" if value < 0 else ""
        return f"{sign}{symbol}{self.number(abs(value), 2)}"

    def money_short(self, amount: str | Decimal | float | None, currency: str = "CNY") -> str:
        """Summary cards: ``¥12.3万`` and ``¥1.2亿`` in Chinese, ``¥123.4k``/``¥1.2M`` in English."""
        value = _decimal(amount)
        if value is None:
            return "—"
        symbol = {"CNY": "¥"}.get(currency, currency + " ")
        steps = ((Decimal(100_000_000), "亿"), (Decimal(10_000), "万")) if self.is_chinese else (
            (Decimal(1_000_000), "M"), (Decimal(1_000), "k"))
        for size, unit in steps:
            if abs(value) >= size:
                return f"{symbol}{self.number(value / size, 1)}{unit}"
        return f"{symbol}{self.number(value, 0)}"

    def percent(self, share: float | None) -> str:
        return "—" if share is None else f"{share * 100:.0f}%"


def _decimal(amount: str | Decimal | float | None) -> Decimal | None:
    if amount is None or amount == "":
        return None
    try:
        return Decimal(str(amount))
    except InvalidOperation:
        return None


@cache
def _babel(locale: str) -> BabelLocale:
    return BabelLocale.parse(locale.replace("-", "_"))
