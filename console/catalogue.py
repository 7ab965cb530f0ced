"""Keep the message catalogues complete: ``python -m console.catalogue`` finds every text the
console's code and templates ask for and adds the new ones to both ``.po`` files (keeping every
translation made); ``--check`` only says what is missing or unused (the test does the same).

Texts are found in ``_()``, ``gettext``, ``ngettext`` and ``pgettext`` calls of the templates and
of ``t.gettext(...)`` style calls in the Python views (Babel's own extractors); labels built from
data (a role, a channel, a service name) are listed in ``DATA_WORDS`` so they are translated too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
LOCALE_FILES = {"zh_CN": HERE / "locales" / "zh_CN.po", "en": HERE / "locales" / "en.po"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]

# Words that reach a page as data and are shown translated, by context (a word may mean different
# things: "potential" the category and "potential" the segment): templates say
# ``pgettext("segment", item.segment)``; words without a context use plain ``_()``.
DATA_WORDS: dict[str | None, tuple[str, ...]] = {
    None: ("contacts", "orders", "tickets", "insights"),
    "role": ("admin", "manager", "sales", "service", "readonly"),
    "channel": ("store", "shop", "phone", "web", "wechat", "fair", "email", "visit", "import", "other", "meeting",
                "field_sales"),
    "order_status": ("pending_approval", "placed", "confirmed", "fulfilled", "completed", "cancelled", "returned"),
    "method": ("cash", "wechat_pay", "alipay", "bank_transfer", "card", "credit_note", "other"),
    "severity": ("low", "normal", "high", "critical"),
    "ticket": ("complaint", "feedback", "service_request", "open", "resolved", "closed"),
    "kind": ("person", "company"),
    "category": ("potential", "prospective", "current", "lost"),
    "segment": ("prospect", "champions", "loyal", "potential", "at_risk", "hibernating", "lost"),
    "stage": ("exploration", "formation", "stability", "decline", "lost"),
    "event": ("CustomerRegistered", "OrderPlaced", "ComplaintFiled", "FeedbackReceived", "ServiceRequested",
              "CustomerAlertRaised", "CustomerAlertCleared", "LifecycleStageChanged", "SegmentChanged",
              "AlertAcknowledged", "CustomerProfileUpdated", "ContactPersonAdded", "ContactPersonRemoved",
              "ChannelIdentityLinked", "ChannelIdentityUnlinked", "CustomerCategoryChanged"),
    "lead_source": ("web", "fair", "referral", "relationship", "directory", "advertising", "walk_in", "other",
                    "unknown"),
    "contact_role": ("decision_maker", "purchaser", "user", "payer"),
    "field": ("name", "kind", "email", "address", "notes", "tags", "lead_source", "lead_source_detail", "referred_by",
              "external_ref", "competitors"),
    "loss_reason": ("moved_away", "closed_down", "price", "service", "quality", "competitor", "other"),
    "loss_kind": ("objective", "subjective"),
    "period": ("month", "quarter", "year"),
    "identity": ("phone", "email", "wechat_openid", "wechat_unionid"),
}

Key = str | tuple[str, str]  # a message id, or (singular, plural)


def used_messages() -> dict[tuple[Key, str | None], None]:
    """Every (message id, context) the code and templates use, in a stable order."""
    found: dict[tuple[Key, str | None], None] = {}
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                        "lstrip_blocks": "true"}}
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(HERE), METHODS, options_map=options, keywords=KEYWORDS,
    ):
        key: Key = message if isinstance(message, str) else (message[0], message[1])
        if key and (not isinstance(key, str) or key.strip()):
            found[(key, context)] = None
    for context, words in DATA_WORDS.items():
        for word in words:
            found[(word, context)] = None
    return found


def load(locale: str) -> Catalog:
    path = LOCALE_FILES[locale]
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def missing(locale: str) -> list[str]:
    """Texts used but without a translation in ``locale`` (an empty msgstr counts as missing)."""
    catalog = load(locale)
    gaps = []
    for key, context in used_messages():
        message = catalog.get(key if isinstance(key, str) else key[0], context=context)
        strings = message.string if message else None
        values = strings if isinstance(strings, tuple) else (strings,)
        if message is None or not all(values):
            gaps.append(key if isinstance(key, str) else key[0])
    return gaps


def update() -> None:
    used = used_messages()
    for locale, path in LOCALE_FILES.items():
        old = load(locale)
        # The old creation date is kept, so an unchanged catalogue gives no diff.
        new = Catalog(locale=locale, project="kehu console", fuzzy=False, creation_date=old.creation_date)
        for key, context in used:
            msgid = key if isinstance(key, str) else key[0]
            before = old.get(msgid, context=context)
            string: str | tuple[str, ...]
            if isinstance(key, tuple):
                string = before.string if before and isinstance(before.string, tuple) else ("", "")
                if locale == "en" and not any(string):
                    string = key
            else:
                string = before.string if before and isinstance(before.string, str) else ""
                if locale == "en" and not string:
                    string = key
            new.add(key, string, context=context)
        with path.open("wb") as f:
            write_po(f, new, width=0, omit_header=False, sort_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only list what is missing")
    args = parser.parse_args(argv)
    if not args.check:
        update()
    gaps = {locale: missing(locale) for locale in LOCALE_FILES}
    for locale, texts in gaps.items():
        for text in texts:
            print(f"{locale}: no translation for {text!r}")
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
