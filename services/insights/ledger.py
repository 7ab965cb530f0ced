"""An order's later events against the order: what an approval, a cancel or a return changes in
a customer's profile. Pure, no I/O; the same live (``handlers.Projector.resolved``, with a ledger
built from the timeline) and in a replay (``replay``, over the whole history in time order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.insights.engine import Fact

COUNTED, WAITING, UNDONE = "counted", "waiting", "undone"


@dataclass(slots=True)
class Ledger:
    """What ``resolve`` knows of each order: its OrderPlaced fact and whether it counts as a
    purchase (``COUNTED``), waits for approval (``WAITING``: not a purchase yet) or was undone."""

    orders: dict[str, tuple[Fact, str]] = field(default_factory=dict)


def resolve(facts: Iterable[Fact], ledger: Ledger) -> list[Fact]:
    """The facts a profile folds, from facts as read (in time order), the same live and in a replay.

    - An order placed ``pending_approval`` is no purchase yet; its approval is one, at the time of
      the approval, on the day the order was placed (a refused order was never a purchase, so
      nothing was raised by it and its cancel changes nothing).
    - A cancel takes the whole order off its purchase day (the day goes when no order is left).
    - A return takes the returned quantity and money off the order's day; a return of all that was
      left (``whole``) takes the order off like a cancel, a partial one keeps the visit.
    - A cancel or return of an order not counted (unknown, waiting, already undone) changes nothing.
    """
    out: list[Fact] = []
    orders = ledger.orders
    for fact in facts:
        kind = fact.kind
        if kind == "registered" or fact.order_id is None:
            out.append(fact)
            continue
        if kind in ("order", "pending"):
            orders.setdefault(fact.order_id, (fact, COUNTED if kind == "order" else WAITING))
            if kind == "order":
                out.append(fact)
            continue
        known = orders.get(fact.order_id)
        if known is None:
            continue
        placed, state = known
        if kind == "approved":
            if state == WAITING:
                orders[fact.order_id] = (placed, COUNTED)
                # The purchase is the order (its OrderPlaced id in the evidence), from the approval on.
                out.append(dataclasses.replace(placed, at=fact.at, kind="order", placed_at=placed.at,
                                               placed_event=placed.event_id))
            continue
        if state != COUNTED:
            if kind == "cancel":
                orders[fact.order_id] = (placed, UNDONE)
            continue
        whole = kind == "cancel" or fact.whole
        if whole:
            orders[fact.order_id] = (placed, UNDONE)
        placed_at = placed.placed_at if placed.placed_at is not None else placed.at
        taken = placed if kind == "cancel" else fact  # what comes off: the whole order, or what came back
        out.append(Fact(fact.at, fact.customer_id, fact.event_id, kind, quantity=taken.quantity,
                        cents=taken.cents if placed.other_currency is None else 0,
                        other_currency=placed.other_currency,
                        other_cents=0 if placed.other_currency is None else
                        placed.other_cents if kind == "cancel" else fact.cents,
                        order_id=fact.order_id, placed_at=placed_at,
                        placed_event=placed.placed_event or placed.event_id, whole=whole))
    return out
