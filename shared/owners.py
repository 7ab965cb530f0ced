"""Who owns a customer, as another service learns it from ``kehu.contacts``. Pure: no I/O.

Orders, tickets and insights keep a replica of each customer's owner to apply the ownership
scope (``shared.scopes``) without asking contacts on every request. Three events say who the
owner is: ``CustomerRegistered.owner`` (maybe none: the pool), ``CustomerOwnerAssigned.owner`` and
``CustomerReturnedToPool`` (none). Each fact carries the time contacts recorded it; the replica
keeps the newest, so an older fact delivered late (a redelivery, a rewound consumer, a lookup
answered before it) never overwrites a newer owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.events import CustomerOwnerAssigned, CustomerRegistered, CustomerReturnedToPool, Event

OWNER_EVENTS = (CustomerRegistered, CustomerOwnerAssigned, CustomerReturnedToPool)


@dataclass(frozen=True)
class OwnerFact:
    """``customer_id`` is looked after by ``owner`` (None: the pool) since contacts recorded it at ``at``."""

    customer_id: uuid.UUID
    owner: str | None
    at: datetime


def owner_of_event(event: Event) -> tuple[bool, str | None]:
    """(does the event say who the owner is, the owner it names)."""
    if isinstance(event, CustomerRegistered | CustomerOwnerAssigned):
        return True, event.owner
    if isinstance(event, CustomerReturnedToPool):
        return True, None
    return False, None


def latest_owner_facts(events: Iterable[tuple[Event, datetime]]) -> list[OwnerFact]:
    """The newest owner fact of each customer among ``(event, recorded_at)`` pairs, in customer id order.

    One fact per customer, because one upsert statement may not touch a row twice; in id order, as
    every batch write of the replica, so two transactions never lock the same rows in opposite orders.
    Of two facts recorded at the same time the one delivered later wins (events of one customer
    arrive in the order they were written).
    """
    latest: dict[uuid.UUID, OwnerFact] = {}
    for event, recorded_at in events:
        says, owner = owner_of_event(event)
        if not says:
            continue
        before = latest.get(event.customer_id)
        if before is None or recorded_at >= before.at:
            latest[event.customer_id] = OwnerFact(event.customer_id, owner, recorded_at)
    return [latest[c] for c in sorted(latest)]
