"""The owner facts a replica keeps (shared.owners): pure, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.events import CustomerOwnerAssigned, CustomerProfileUpdated, CustomerRegistered, CustomerReturnedToPool
from shared.owners import OwnerFact, latest_owner_facts
from shared.scopes import EVERYONE, Scope

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A, B = uuid.UUID(int=2), uuid.UUID(int=1)


def _assigned(customer_id: uuid.UUID, owner: str) -> CustomerOwnerAssigned:
    return CustomerOwnerAssigned(customer_id=customer_id, occurred_at=T0, owner=owner, how="assigned", assigned_by="boss")


def _returned(customer_id: uuid.UUID) -> CustomerReturnedToPool:
    return CustomerReturnedToPool(customer_id=customer_id, occurred_at=T0, rule="released", returned_by="li")


def test_each_customer_keeps_its_newest_owner_fact_in_customer_id_order() -> None:
    facts = latest_owner_facts([
        (CustomerRegistered(customer_id=A, occurred_at=T0, name="a", owner="li"), T0),
        (_assigned(A, "wang"), T0 + timedelta(seconds=1)),
        (CustomerRegistered(customer_id=B, occurred_at=T0, name="b"), T0),
    ])
    assert facts == [OwnerFact(B, None, T0), OwnerFact(A, "wang", T0 + timedelta(seconds=1))]


def test_a_fact_recorded_earlier_but_delivered_later_does_not_win() -> None:
    facts = latest_owner_facts([(_assigned(A, "wang"), T0 + timedelta(minutes=1)), (_returned(A), T0)])
    assert facts == [OwnerFact(A, "wang", T0 + timedelta(minutes=1))]


def test_of_two_facts_recorded_at_once_the_later_delivered_wins_and_a_return_means_the_pool() -> None:
    assert latest_owner_facts([(_assigned(A, "wang"), T0), (_returned(A), T0)]) == [OwnerFact(A, None, T0)]


def test_events_that_say_nothing_of_the_owner_are_left_out() -> None:
    assert latest_owner_facts([(CustomerProfileUpdated.model_construct(customer_id=A, occurred_at=T0), T0)]) == []


def test_a_salesperson_covers_their_own_and_the_pool_and_everyone_covers_all() -> None:
    wang = Scope(everyone=False, owner="wang")
    assert (wang.covers("wang"), wang.covers(None), wang.covers("li")) == (True, True, False)
    assert EVERYONE.covers("li") and EVERYONE.owner_filter is None and wang.owner_filter == "wang"


def test_the_console_words_an_out_of_scope_refusal_in_the_persons_language() -> None:
    from console.forms import refusal, worded
    from console.i18n import Texts

    problem = {"status": 403, "code": "out_of_scope", "owner": "li", "detail": "customer x is looked after by li; …"}
    assert refusal(problem, Texts("zh-CN")).startswith("该客户由 li 负责")
    assert "ask li or a manager" in refusal(problem, Texts("en"))
    assert refusal({"detail": "something else"}, Texts("zh-CN")) == "something else"
    assert worded({"code": "out_of_scope", "message": "customer x is looked after by li"}, Texts("zh-CN")) \
        == "这是其他负责人的客户：您只能处理自己的客户和公海客户。"
