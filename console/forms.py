"""Forms that post to a service: the service's problem details back at the fields the person typed in.

A form's field names are the request body's field paths (``name``, ``lines[0].quantity``), so a
service's ``errors[].field`` finds its field without a mapping; what names no field of the form
goes to the summary at the top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from console.services import ServiceRefused


def form_errors(refused: ServiceRefused, fields: Iterable[str] | Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """(errors by form field, the text for the summary or None)."""
    known = set(fields)
    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    for name, message in refused.field_errors().items():
        if name in known:
            errors[name] = message
        else:
            elsewhere.append(f"{name}: {message}" if name else message)
    if not errors and not elsewhere:
        return {}, refused.detail
    return errors, "; ".join(elsewhere) if elsewhere else None


def line_fields(count: int) -> list[str]:
    return [f"lines[{i}].{part}" for i in range(count) for part in ("sku", "quantity", "unit_price")]
