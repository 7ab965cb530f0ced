"""The pure half of the batch endpoints: items taken by the single write's rule, refusals named."""

from __future__ import annotations

import uuid

from shared.batches import ItemProblem, batch_items, external_ref_taken, invalid_items, take_all
from shared.errors import FieldProblem, Invalid


def _take(n: int) -> int:
    if n < 0:
        raise Invalid("two things wrong", errors=[FieldProblem("a", "negative"), FieldProblem("b.c", "also")])
    return n * 10


def test_a_batch_is_taken_whole_when_every_item_is_valid() -> None:
    assert take_all([1, 2, 3], ["x", None, "y"], _take) == ([10, 20, 30], [])


def test_every_field_an_item_is_refused_for_is_named_with_its_index_and_nothing_is_taken() -> None:
    taken, problems = take_all([1, -1, 2], ["x", "y", "x"], _take)

    assert taken == []
    assert problems == [ItemProblem(1, "a", "negative"), ItemProblem(1, "b.c", "also"),
                        ItemProblem(2, "external_ref", "also given for item 0 of this batch")]
    refusal = invalid_items("orders", problems)
    assert (refusal.status, refusal.title) == (422, "Invalid request")
    assert [(e.field, e.message) for e in refusal.errors or []] == [
        ("orders[1].a", "negative"), ("orders[1].b.c", "also"),
        ("orders[2].external_ref", "also given for item 0 of this batch")]
    assert refusal.detail == ("orders[1].a: negative; orders[1].b.c: also; "
                              "orders[2].external_ref: also given for item 0 of this batch")


def test_a_taken_external_ref_is_a_409_naming_its_holder() -> None:
    holder = uuid.uuid4()
    conflict = external_ref_taken("order", "R-1", holder)

    assert (conflict.status, conflict.title) == (409, "external_ref taken")
    assert conflict.detail == f"external_ref 'R-1' already belongs to order {holder}"
    assert conflict.extra == {"holder": str(holder)}


def test_a_batch_answer_gives_the_holder_of_each_ref_already_taken() -> None:
    new, old, held = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert batch_items([(new, "a"), (old, "b")], {new}, {"b": held}) == [
        {"index": 0, "id": str(new), "external_ref": "a", "created": True},
        {"index": 1, "id": str(held), "external_ref": "b", "created": False},
    ]
