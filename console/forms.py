"""Forms that post to a service: the service's problem details back at the fields the person typed in.

A form's field names are the request body's field paths (``name``, ``lines[0].quantity``), so a
service's ``errors[].field`` finds its field without a mapping; what names no field of the form
goes to the summary at the top. The services say what is wrong in English and with a ``code``
(pydantic's error type or kehu's own); the console words the codes it knows in the person's
language and keeps the service's sentence for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from console.i18n import Texts
from console.services import ServiceRefused
from shared.scopes import OUT_OF_SCOPE

_NUMBER_CODES = ("decimal_parsing", "float_parsing", "int_parsing", "decimal_type", "float_type", "int_type",
                 "int_from_float", "decimal_max_digits", "decimal_max_places", "decimal_whole_digits")


def worded(problem: Mapping[str, Any], t: Texts) -> str:
    """One field's problem in the person's language."""
    code = problem.get("code")
    context = problem.get("context") or {}
    if code == "missing" or (code == "string_too_short" and context.get("min_length") == 1):
        return t.gettext("Required.")
    if code == "string_too_short":
        return t.gettext("At least %(n)s characters.", n=context.get("min_length"))
    if code == "string_too_long":
        return t.gettext("At most %(n)s characters.", n=context.get("max_length"))
    if code in _NUMBER_CODES:
        return t.gettext("Not a number this field takes.")
    if code == "string_pattern_mismatch":
        return t.gettext("Not in the form this field takes (a number: 12.50).")
    if code in ("greater_than", "greater_than_equal"):
        return t.gettext("At least %(n)s.", n=context.get("gt", context.get("ge")))
    if code in ("less_than", "less_than_equal"):
        return t.gettext("At most %(n)s.", n=context.get("lt", context.get("le")))
    if code in ("literal_error", "enum"):
        return t.gettext("Choose one of the options.")
    if code == "phone_invalid":
        return t.gettext("Not a phone number that exists (mainland numbers without +86 are fine).")
    if code == "no_list_price":
        return t.gettext("Not an article of the catalogue (or no longer offered): give its unit price.")
    if code == "in_future":
        return t.gettext("Later than now.")
    if code == OUT_OF_SCOPE:
        return t.gettext("A customer of another owner: you work on your own customers and the public pool.")
    return str(problem.get("message", ""))


def refusal(problem: Mapping[str, Any], t: Texts) -> str:
    """A service's whole refusal in the person's language where its code is known (else its ``detail``)."""
    if problem.get("code") == OUT_OF_SCOPE:
        return t.gettext("This customer is looked after by %(owner)s. A salesperson sees and changes only their "
                         "own customers and those in the public pool: ask %(owner)s or a manager to hand the "
                         "customer over.", owner=problem.get("owner") or "?")
    return str(problem.get("detail") or problem.get("title") or "")


def form_errors(refused: ServiceRefused, fields: Iterable[str] | Mapping[str, Any],
                t: Texts) -> tuple[dict[str, str], str | None]:
    """(errors by form field, the text for the summary or None)."""
    known = set(fields)
    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    for name, problem in refused.field_errors().items():
        if name in known:
            errors[name] = worded(problem, t)
        else:
            elsewhere.append(f"{name}: {worded(problem, t)}" if name else worded(problem, t))
    if not errors and not elsewhere:
        return {}, refusal(refused.problem, t) or refused.detail
    return errors, "; ".join(elsewhere) if elsewhere else None


def line_fields(count: int) -> list[str]:
    return [f"lines[{i}].{part}" for i in range(count) for part in ("sku", "quantity", "unit_price")]
