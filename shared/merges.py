"""Re-keying a service's rows when contacts merges two customers, and back when the merge is undone.

Orders and tickets keep rows by customer id. On ``CustomersMerged`` the merged customer's rows move
to the survivor and the service notes which rows moved, per merge, in ``merge_moved_rows``; on
``CustomerMergeUndone`` exactly those go back (rows placed for the survivor after the merge stay
the survivor's). A row written for the merged id after the merge (a till that cached the old id:
contacts still answers the id, with ``merged_into`` set) is adopted by the survivor in its own
transaction (``adopt``), and noted likewise, so the undo gives it back too.

Each service keeps the SQL in its ``sql/merges.sql`` (the same query names over its own table):
``lock_customer``, ``merge_customers``, ``undo_merge``, ``adopt``. The lock (a transaction-level
advisory lock on the merged id) orders a merge and a concurrent write for that id, so the write
either is seen by the merge's UPDATE or sees the merge itself: none slips between them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from shared.consumer import Delivery
from shared.events import CustomerMergeUndone, CustomersMerged


class MergeRekeying:
    """The merge projection and the late-row adoption of one service, over its named queries."""

    def __init__(self, queries: dict[str, str]) -> None:
        self.q = queries

    async def apply(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        """Projection of ``kehu.contacts``' merges (the other events are left to the other projections)."""
        for delivery in deliveries:
            event = delivery.event
            if isinstance(event, CustomersMerged):
                await conn.execute(self.q["lock_customer"], event.merged_id)
                await conn.execute(self.q["merge_customers"], event.merge_id, event.merged_id, event.customer_id)
            elif isinstance(event, CustomerMergeUndone):
                await conn.execute(self.q["lock_customer"], event.merged_id)
                await conn.execute(self.q["undo_merge"], event.merge_id)

    async def adopt(self, conn: asyncpg.Connection, row_id: uuid.UUID, customer_id: uuid.UUID) -> uuid.UUID | None:
        """After writing a row for ``customer_id``, in the same transaction: when that customer was
        merged, the row moves to the survivor (returned; None otherwise)."""
        await conn.execute(self.q["lock_customer"], customer_id)
        survivor: uuid.UUID | None = await conn.fetchval(self.q["adopt"], row_id, customer_id)
        return survivor
