"""Processes die under `kehu up`: a service killed mid-batch is restarted and loses or doubles
nothing; a broker that cannot be restarted ends `kehu up`, and nothing it started survives it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from kehu.embedded import EmbeddedPostgres
from tests.conftest import eventually
from tests.load import Till, grown, placing_orders
from tests.test_e2e import Running, _register, _sql, start_kehu

pytestmark = pytest.mark.e2e


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / ".kehu"


def _service(kehu: Running, name: str) -> psutil.Process | None:
    for process in kehu.descendants():
        with contextlib.suppress(psutil.Error):
            if process.cmdline()[-2:] == ["serve", name] and process.status() != psutil.STATUS_ZOMBIE:
                return process
    return None


async def _restarted(kehu: Running, http: httpx.AsyncClient, name: str, killed: int) -> bool:
    process = _service(kehu, name)
    if process is None or process.pid == killed:
        return False
    with contextlib.suppress(httpx.HTTPError):
        return (await http.get(kehu.urls[name] + "/health/ready")).status_code == 200
    return False


async def test_a_service_killed_mid_batch_is_restarted_and_no_order_is_lost_or_doubled(home: Path) -> None:
    kehu = start_kehu(home)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            till = Till(kehu.urls["orders"], kehu.headers, await _register(kehu, http, 5))
            async with placing_orders(till):
                for name in ("insights", "orders"):
                    await eventually(grown(till, 15), timeout=60)
                    victim = _service(kehu, name)
                    assert victim is not None
                    victim.kill()  # SIGKILL: no graceful shutdown, whatever batch or request it had in hand
                    await eventually(lambda n=name, pid=victim.pid: _restarted(kehu, http, n, pid),  # type: ignore[misc]
                                     timeout=90, interval=0.2)
                await eventually(grown(till, 15), timeout=60)

            async def all_on_timeline() -> int | None:
                n = await _sql(home, "insights", "SELECT count(*) FROM timeline WHERE event_type = 'OrderPlaced'")
                return n if n >= len(till.accepted) else None

            await eventually(all_on_timeline, timeout=90, interval=0.5)
            rows = await _sql(home, "insights", "SELECT count(*) FROM timeline WHERE event_type = 'OrderPlaced'")
            distinct = await _sql(home, "insights", "SELECT count(DISTINCT data->>'order_id') FROM timeline "
                                                    "WHERE event_type = 'OrderPlaced'")
            orders = await _sql(home, "orders", "SELECT count(*) FROM orders")
            seen = await _timeline_orders(home)
    finally:
        kehu.stop()
    print(f"answers {dict(till.answers)}; {len(till.accepted)} accepted, {distinct} distinct on the timeline in "
          f"{rows} rows, {orders} order rows")
    assert any("insights exited with code -9; restarting" in line for line in kehu.output), kehu.output
    assert any("orders exited with code -9; restarting" in line for line in kehu.output), kehu.output
    assert till.unexpected == []
    assert len(till.accepted) == distinct == rows == orders
    assert seen == till.accepted


async def _timeline_orders(home: Path) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres:@/kehu_insights?host={home / 'pgdata'}")
    try:
        rows = await conn.fetch("SELECT data->>'order_id' AS id FROM timeline WHERE event_type = 'OrderPlaced'")
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def test_a_broker_that_cannot_be_restarted_ends_kehu_up_and_leaves_nothing_running(home: Path) -> None:
    kehu = start_kehu(home)
    postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0])
    started = [*kehu.descendants(), psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
    broker = next(p for p in kehu.descendants() if p.name() == "tansu")
    port = int(next(c.laddr.port for c in broker.net_connections("tcp") if c.status == psutil.CONN_LISTEN))
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        broker.kill()
        # The port is free once the broker is gone; take it before `kehu up` notices (it looks
        # twice a second, then pauses the relays before it starts a new broker).
        await eventually(lambda: _bind(squatter, port), timeout=10, interval=0.001)
        try:
            code = await asyncio.to_thread(kehu.process.wait, 90)
        except subprocess.TimeoutExpired:
            kehu.stop()
            raise AssertionError("kehu up kept running without a broker:\n" + "\n".join(kehu.output)) from None
    finally:
        squatter.close()
    async def nothing_left() -> bool:
        return not any(_alive(p) for p in started)

    with contextlib.suppress(AssertionError):
        await eventually(nothing_left, timeout=15)  # the last ones may still be exiting
    print("\n".join(kehu.output[-4:]))
    assert code == 1
    assert any(f"port {port} is already taken" in line for line in kehu.output)
    assert kehu.output[-1] == "kehu stopped"
    assert [p.name() for p in started if _alive(p)] == []
    assert not (home / "pgdata" / "postmaster.pid").exists()


async def _bind(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    sock.listen()
    return True


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_embedded_postgresql_stops_even_after_an_earlier_user_was_killed(tmp_path: Path) -> None:
    """pgserver lists every process that uses the server and stops it with the last one; a
    `kehu up` killed with SIGKILL stays on that list, and the next `kehu up` left the server
    running when it stopped."""
    killed = subprocess.run(
        [sys.executable, "-c", "import os, sys, pathlib; from kehu.embedded import EmbeddedPostgres; "
         "EmbeddedPostgres(pathlib.Path(sys.argv[1])).start(); os.kill(os.getpid(), 9)", str(tmp_path)],
        timeout=120)
    assert killed.returncode == -9
    postgres = EmbeddedPostgres(tmp_path)
    postgres.start()  # joins the server the killed process started
    pid = postgres.postmaster_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    postgres.stop()
    assert postgres.postmaster_pid() is None
    assert not _alive(postmaster)
