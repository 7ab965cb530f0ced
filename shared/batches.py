"""What the batch endpoints of the write services share: how a refused item is named.

A batch is taken whole or refused whole (one transaction); a refusal names every item at fault
by its index, so the caller can fix and resend the same batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.http import ProblemError


@dataclass(frozen=True)
class ItemProblem:
    """Why one item of a batch cannot be taken; the whole batch is then refused."""

    index: int
    field: str
    message: str


def repeated_external_refs(refs: Sequence[str | None]) -> list[ItemProblem]:
    """Items whose external_ref an earlier item of the same batch already has."""
    first: dict[str, int] = {}
    problems = []
    for index, ref in enumerate(refs):
        if ref is None:
            continue
        if ref in first:
            problems.append(ItemProblem(index, "external_ref", f"also given for item {first[ref]} of this batch"))
        else:
            first[ref] = index
    return problems


def invalid_items(list_name: str, problems: Sequence[ItemProblem]) -> ProblemError:
    """A 422 naming each item at fault as ``<list_name>[<index>].<field>``."""
    errors = [{"field": f"{list_name}[{p.index}].{p.field}", "message": p.message} for p in problems]
    return ProblemError(422, "Invalid request", "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
                        errors=errors)


def batch_items(
    written: Sequence[tuple[uuid.UUID, str | None]], inserted: set[uuid.UUID], holders: Mapping[str, uuid.UUID]
) -> list[dict[str, object]]:
    """A batch's answer, item by item: the new id, or the id of whoever already had the external_ref.

    ``written`` is each item's (id it would get, external_ref) in the batch's order."""
    return [
        {"index": i, "id": str(item_id if item_id in inserted else holders[ref or ""]), "external_ref": ref,
         "created": item_id in inserted}
        for i, (item_id, ref) in enumerate(written)
    ]
