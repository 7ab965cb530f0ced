"""A replay and a consumer batch waiting for the clock never deadlock (schemathesis found a 500:
POST /admin/replay while events were being projected), on the real insights database."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.insights import store
from tests.conftest import Cluster

pytestmark = pytest.mark.database


async def test_a_consumer_waiting_for_the_clock_does_not_block_the_replays_swap(cluster: Cluster) -> None:
    replay = await asyncpg.connect(cluster.database_urls["insights"])
    consumer = await asyncpg.connect(cluster.database_urls["insights"])
    try:
        replaying = replay.transaction()
        await replaying.start()
        await replay.execute("SET LOCAL deadlock_timeout = '100ms'")
        await store.lock_clock_for_replay(replay)  # as Projector.replay starts

        async def batch() -> None:  # as Projector.project starts: the clock first
            async with consumer.transaction():
                await store.lock_clock(consumer)

        waiting = asyncio.create_task(batch())
        await asyncio.sleep(0)  # the batch's query is on its way: it waits for the replay
        await cluster.sql("insights", "SELECT pg_sleep(0.3)")  # and is waiting, well past deadlock_timeout
        # What the swap's DROP TABLE needs: it used to wait on the batch, which waited on the replay.
        await asyncio.wait_for(replay.execute("LOCK TABLE insights_clock IN ACCESS EXCLUSIVE MODE"), 10)
        await replaying.commit()
        await asyncio.wait_for(waiting, 10)
    finally:
        await replay.close()
        await consumer.close()
