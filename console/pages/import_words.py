"""The import parser's row problems (``shared.customer_file.RowProblem``) in the person's language.

The parser words them in English (``kehu import customers`` prints them so); each is listed here
with ``_()`` so ``python -m console.catalogue`` puts it in the ``.po`` files, and the page shows a
bad row's reason translated, its values (the cell as written, a limit) filled in.
"""

from __future__ import annotations

from console.i18n import Texts
from shared.customer_file import BadRow


def _(message: str) -> str:
    """Marks a text for the catalogue; the page translates it when it shows it."""
    return message


ROW_PROBLEMS = frozenset({
    _("is empty"),
    _("longer than %(max)s characters"),
    _("longer than %(max)s characters (%(length)s)"),
    _("%(value)s is not a phone number (%(why)s)"),
    _("%(value)s is not a valid phone number"),
    _("%(value)s is not a valid phone number (read as a number in %(region)s)"),
    _("%(value)s is not an email address"),
    _("unknown kind %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)"),
    _("unknown category %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)"),
    _("unknown lead source %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)"),
    _("%(value)s must be 1-%(max)s lower-case letters, digits or _ (store, wechat, ...)"),
    _("more than %(max)s tags (%(count)s)"),
    _("tag %(value)s is longer than %(max)s characters"),
    _("%(value)s is not a date (%(why)s)"),
    _("%(value)s is not a date (2024-03-01) or a time (2024-03-01T10:00:00+08:00)"),
    _("%(value)s is in the future"),
    _("%(value)s repeats line %(line)s"),
})


def row_reason(t: Texts, bad: BadRow) -> str:
    """Why the row cannot be imported, in ``t``'s language (as the parser said it when the text is not listed)."""
    if bad.message not in ROW_PROBLEMS:
        return bad.reason
    return t.gettext(bad.message, **bad.values)
