"""The database restarts or hangs while orders keep coming: 503 + Retry-After, bounded waits,
and every accepted order on insights' timeline exactly once.

Each test runs its own embedded PostgreSQL 18 (the session's server is shared by other tests and
must not be restarted or frozen). The services run with short bounds (statements 2 s, waiting for
a connection 2 s) so a 10 s freeze has to be answered by them, not outlasted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from kehu.embedded import EmbeddedPostgres
from tests.conftest import Cluster, eventually, own_cluster
from tests.load import Till, grown, placing_orders

# e2e: the tests start, restart and freeze a PostgreSQL server of their own, so the second pass of
# `make test` (database tests against the system server) would only run them again.
pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 2.0
ACQUIRE_TIMEOUT_S = 2.0
# Waiting for a connection, one statement, then dropping the connection (1 s), plus slack for a
# loaded 2-core machine: under the freeze, so a request that waits the freeze out fails the test.
ANSWER_BOUND_S = 8.0
FREEZE_S = 10.0


@dataclass
class Outage:
    postgres: EmbeddedPostgres
    cluster: Cluster
    till: Till


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Outage]:
    home = Path(tempfile.mkdtemp(prefix="kehu-test-outage-"))  # not under pytest's rotating basetemp
    postgres = EmbeddedPostgres(home)
    url = await asyncio.to_thread(postgres.start)
    try:
        async with own_cluster(url, tmp_path, db_command_timeout_s=COMMAND_TIMEOUT_S,
                               db_acquire_timeout_s=ACQUIRE_TIMEOUT_S) as cluster:
            customers = [await cluster.customer(f"Regular {i}") for i in range(5)]
            yield Outage(postgres, cluster, Till(cluster.urls["orders"], cluster.headers(), customers))
    finally:
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(home, ignore_errors=True)


async def test_a_database_restarted_under_load_answers_503_and_loses_or_doubles_no_order(outage: Outage) -> None:
    till = outage.till
    async with placing_orders(till):
        await eventually(grown(till, 20), timeout=30)
        restarted = time.monotonic()
        await asyncio.to_thread(outage.postgres.pg_ctl, "restart", "-m", "immediate")
        print(f"PostgreSQL restarted (immediate) in {time.monotonic() - restarted:.1f}s")
        await eventually(grown(till, 20), timeout=60)

    await _every_accepted_order_once(outage.cluster, till)
    assert await _ready(outage.cluster)


async def test_a_database_frozen_for_10s_under_load_answers_503_in_bounded_time_and_loses_nothing(
    outage: Outage,
) -> None:
    till = outage.till
    cluster = outage.cluster
    async with placing_orders(till):
        await eventually(grown(till, 20), timeout=30)
        with _frozen(outage.postgres):
            frozen = time.monotonic()
            started = time.monotonic()
            ready = await cluster.http.get(cluster.urls["orders"] + "/health/ready")
            readiness_s = time.monotonic() - started
            await eventually(lambda: _refused(till), timeout=FREEZE_S - 2)
            await asyncio.sleep(max(0.0, FREEZE_S - (time.monotonic() - frozen)))  # the fault lasts 10 s
        await eventually(grown(till, 20), timeout=60)

    print(f"readiness answered in {readiness_s:.2f}s while frozen: {ready.text}")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("down: ")
    assert ready.json()["checks"]["broker"] == "ok"
    assert readiness_s < 3
    await _every_accepted_order_once(cluster, till)
    assert await _ready(cluster)


async def _refused(till: Till) -> bool:
    return till.answers["503"] > 0


@contextmanager
def _frozen(postgres: EmbeddedPostgres) -> Iterator[None]:
    """SIGSTOP to the postmaster (first: it forks no new backend then) and all its children;
    SIGCONT to them all afterwards, whatever happened meanwhile."""
    pid = postgres.postmaster_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    postmaster.suspend()
    children = postmaster.children(recursive=True)
    try:
        for child in children:
            child.suspend()
        yield
    finally:
        for process in [*children, postmaster]:
            try:
                os.kill(process.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


async def _every_accepted_order_once(cluster: Cluster, till: Till) -> None:
    """Accepted orders == distinct orders on the timeline == timeline rows == orders rows; and
    nothing but 201, 503 (with Retry-After) or a cut connection was answered, each in bounded time."""
    accepted = till.accepted

    async def timeline() -> list[str] | None:
        rows = await cluster.sql("insights", "SELECT data->>'order_id' AS id FROM timeline "
                                             "WHERE event_type = 'OrderPlaced'")
        ids = [r["id"] for r in rows]
        return ids if len(ids) >= len(accepted) else None

    seen = await eventually(timeline, timeout=60, interval=0.5)
    orders = await cluster.sql("orders", "SELECT id::text AS id FROM orders")
    print(f"answers {dict(till.answers)}; slowest {till.slowest_s:.2f}s; {len(accepted)} accepted, "
          f"{len(seen)} on the timeline, {len(orders)} order rows")
    assert till.unexpected == []
    assert till.slowest_s < ANSWER_BOUND_S
    assert till.retry_after <= {"5"}
    assert len(seen) == len(set(seen)) == len(accepted) == len(orders)
    assert set(seen) == accepted == {r["id"] for r in orders}


async def _ready(cluster: Cluster) -> bool:
    async def ok() -> bool:
        response = await cluster.http.get(cluster.urls["orders"] + "/health/ready")
        return response.status_code == 200

    return bool(await eventually(ok, timeout=30))
