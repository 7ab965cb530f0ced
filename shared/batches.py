"""What the batch endpoints of the write services share: taking items, naming refusals, the answer.

A batch is taken whole or refused whole (one transaction); a refusal names every item at fault
by its index, so the caller can fix and resend the same batch. Pure: domain modules use this, so
it depends on nothing but ``shared.errors`` and pydantic (the HTTP half is ``shared.writes``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, Field

from shared.errors import Conflict, FieldProblem, Invalid

New = TypeVar("New")
Taken = TypeVar("Taken")


@dataclass(frozen=True)
class ItemProblem:
    """Why one item of a batch cannot be taken; the whole batch is then refused."""

    index: int
    field: str
    message: str


class BatchItem(BaseModel):
    """One item of a batch's answer, in the order of the request."""

    index: int = Field(description="Position of the item in the request (from 0).")
    id: uuid.UUID = Field(description="The item's id: the new one, or the one that already had this external_ref.")
    external_ref: str | None = Field(description="The item's external_ref as sent (null only where the batch allows items without one).")
    created: bool = Field(description="False when an item with this external_ref already existed (nothing written).")


class BatchResult(BaseModel):
    items: list[BatchItem]


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


def take_all(
    items: Sequence[New], refs: Sequence[str | None], take: Callable[[New], Taken]
) -> tuple[list[Taken], list[ItemProblem]]:
    """Every item taken by ``take`` (the single write's rule), or the problems that refuse the batch.

    ``take`` refuses an item by raising ``Invalid``; each field it names becomes a problem of that item.
    """
    problems = repeated_external_refs(refs)
    taken = []
    for index, item in enumerate(items):
        try:
            taken.append(take(item))
        except Invalid as exc:
            named = exc.errors or [FieldProblem("body", exc.detail)]
            problems.extend(ItemProblem(index, p.field, p.message) for p in named)
    return (taken, []) if not problems else ([], sorted(problems, key=lambda p: p.index))


def invalid_items(list_name: str, problems: Sequence[ItemProblem]) -> Invalid:
    """A 422 naming each item at fault as ``<list_name>[<index>].<field>``."""
    return Invalid.fields([FieldProblem(f"{list_name}[{p.index}].{p.field}", p.message) for p in problems])


def external_ref_taken(noun: str, external_ref: str | None, holder: uuid.UUID | None) -> Conflict:
    """A 409 naming who already has the external_ref (``holder`` in the body too)."""
    return Conflict(
        f"external_ref {external_ref!r} already belongs to {noun} {holder if holder else '?'}",
        title="external_ref taken", holder=str(holder) if holder else None,
    )


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
