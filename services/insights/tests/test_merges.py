"""Facts of merged customers count for the survivor (pure part of services/insights/merges.py)."""

from __future__ import annotations

from services.insights.engine import Fact
from services.insights.merges import rekeyed


def test_a_merged_customers_orders_become_the_survivors_and_its_registration_is_dropped() -> None:
    facts = [Fact(1.0, "a", "e1", "registered"), Fact(2.0, "a", "e2", "order", quantity=1, cents=900),
             Fact(3.0, "c", "e3", "order", quantity=2, cents=100)]

    out = rekeyed(facts, {"a": "b"})

    assert [(f.customer_id, f.event_id) for f in out] == [("b", "e2"), ("c", "e3")]
    assert out[0].cents == 900
