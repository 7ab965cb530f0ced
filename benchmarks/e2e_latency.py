#!/usr/bin/env python3
"""End-to-end latency of `kehu up` under open-loop load (issue 2). A benchmark, not a test.

For each arrival rate this starts a fresh ``kehu up`` (new ``KEHU_HOME``, so empty topics and
databases), registers some customers, then places orders on a fixed schedule (order ``i`` at
``t0 + i/rate``, whether or not earlier orders have been answered: queueing counts) and measures

* POST /orders latency (response time minus *scheduled* send time);
* order → timeline visibility: the moment the order's ``OrderPlaced`` row is seen in the insights
  database minus the scheduled send time. The benchmark reads the ``timeline`` table directly
  (asyncpg over the embedded server's Unix socket) instead of calling the timeline API per order,
  which would add load. Rows are seen by polling every ``--poll-ms`` (default 5 ms), so a
  visibility figure can be up to one poll interval (plus one query) late;
* CPU used by each process of the `kehu up` tree (broker, PostgreSQL, each service, the
  supervisor) and by this load generator, over the measured window.

A rate is *saturated* when fewer than 95 % of the offered orders per second are accepted, when
p99 visibility exceeds 1 s, or when an accepted order never shows up on the timeline. Stepping up
stops after the first saturated rate (``--no-stop`` keeps going).

    .venv/bin/python benchmarks/e2e_latency.py                       # 100, 200, ... up to 800/s
    .venv/bin/python benchmarks/e2e_latency.py --rates 300 --duration 30
    .venv/bin/python benchmarks/e2e_latency.py --port-base 28001 --kafka-port 29092 --no-write

Results: a table on stdout, the section "## e2e latency (issue 2)" of benchmarks/RESULTS.md
(replaced, other sections kept) and raw JSON in benchmarks/results/ (``--no-write``: neither).
The load generator runs on the same machine as everything it measures: its CPU is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import orjson
import psutil

from kehu.embedded import die_with_parent, port_open
from shared.settings import SERVICES

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SECTION = "## e2e latency (issue 2)"
TARGET = "Target: p99 < 250 ms at 300 orders/s; saturation ≥ 400 orders/s"
ROLES = ("broker", "postgres", "contacts", "orders", "tickets", "insights", "supervisor", "loadgen", "other")
ROLE_LABELS = {"postgres": "pg", "supervisor": "up"}
# Settings that would make the child `kehu up` share state with another instance; everything else
# KEHU_* in the environment is passed through (and reported) so tuning can be benchmarked.
ISOLATING_ENV = (
    "KEHU_HOME", "KEHU_DATABASE_URL", "KEHU_KAFKA_BOOTSTRAP", "KEHU_TOKENS_FILE", "KEHU_SERVICE_TOKEN",
    "KEHU_CONTACTS_URL", "KEHU_PORT", "KEHU_HTTP_PORT_BASE", "KEHU_EMBEDDED_KAFKA_PORT", "KEHU_CONSOLE_PORT",
)
BANNER = "kehu is up"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
LOST_AFTER_S = 10.0  # an accepted order not on the timeline this long after the last send is "lost"
SATURATION_THROUGHPUT = 0.95
SATURATION_P99_MS = 1000.0
POST_TIMEOUT_S = 30.0
SKUS = tuple(f"SKU-{n:04d}" for n in range(1, 201))
CHANNELS = ("store", "web", "phone", "wechat")

OrderPlacedSince = """
SELECT data->>'order_id' FROM timeline WHERE event_id >= $1 AND event_type = 'OrderPlaced'
"""


# -- the `kehu up` under test ---------------------------------------------------------------------


@dataclass
class KehuUp:
    """One `kehu up` subprocess with its own KEHU_HOME; ``stop`` leaves no process behind."""

    kehu: Path
    home: Path
    port_base: int
    kafka_port: int
    echo: bool = False
    proc: subprocess.Popen[bytes] | None = None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    recycles: int = 0
    _banner: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None
    _known: dict[tuple[int, float], psutil.Process] = field(default_factory=dict)

    @property
    def pgdata(self) -> Path:
        return (self.home / "pgdata").resolve()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICES.index(service)}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ISOLATING_ENV}
        env.update(
            KEHU_HOME=str(self.home),
            KEHU_HTTP_PORT_BASE=str(self.port_base),
            KEHU_EMBEDDED_KAFKA_PORT=str(self.kafka_port),
            KEHU_CONSOLE_PORT=str(self.port_base - 1),  # 8000 beside 8001-8004, as by default
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        taken = [p for p in (*range(self.port_base - 1, self.port_base + len(SERVICES)), self.kafka_port) if port_open(p)]
        if taken:
            raise RuntimeError(f"port(s) {', '.join(map(str, taken))} already in use; pick --port-base / --kafka-port")
        # Must run on the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked exits.
        self.proc = subprocess.Popen(
            [str(self.kehu), "up"],
            cwd=self.home, env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,  # our own Ctrl-C handling stops it
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        self._reader = threading.Thread(target=self._read, name="kehu-up-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.echo:
                print(f"    [kehu up] {line}", flush=True)
            if line.startswith(BANNER):
                self._banner.set()
            if "recycling the embedded broker" in line:
                self.recycles += 1

    async def wait_up(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while not self._banner.is_set():
            if self.proc.poll() is not None:
                raise RuntimeError(f"kehu up exited with code {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no '{BANNER}' banner after {timeout_s:.0f}s:\n{self.tail()}")
            await asyncio.sleep(0.05)
        self.remember_processes()

    def tail(self, n: int = 20) -> str:
        return "\n".join(list(self.lines)[-n:])

    def token(self) -> str:
        return (self.home / "dev-token").read_text().strip()

    def postmaster_info(self) -> list[str]:
        """postmaster.pid: pid, data directory, start time, port, socket directory, listen address, ..."""
        return (self.pgdata / "postmaster.pid").read_text().splitlines()

    def postmaster(self) -> psutil.Process | None:
        try:
            info = self.postmaster_info()
            process = psutil.Process(int(info[0]))
            if Path(info[1]).resolve() != self.pgdata or str(self.pgdata) not in " ".join(process.cmdline()):
                return None
            return process
        except (OSError, IndexError, ValueError, psutil.Error):
            return None

    def owns_data_directory(self, data_directory: str) -> bool:
        return Path(data_directory).resolve() == self.pgdata

    def insights_dsn(self, database: str = "kehu_insights") -> dict[str, Any]:
        """Where the embedded server listens: its Unix socket directory (line 5) and port (line 4)."""
        info = self.postmaster_info()
        port = int(info[3]) if len(info) > 3 and info[3].strip() else 5432
        socket_dir = info[4].strip() if len(info) > 4 else ""
        host = socket_dir or (info[5].strip() if len(info) > 5 and info[5].strip() else "127.0.0.1")
        return {"host": host, "port": port, "user": "postgres", "database": database}

    def processes(self) -> dict[tuple[int, float], tuple[str, psutil.Process]]:
        """Every process to account for, by role, keyed by (pid, create time) against pid reuse."""
        found: dict[tuple[int, float], tuple[str, psutil.Process]] = {}

        def add(process: psutil.Process, role: str) -> None:
            with contextlib.suppress(psutil.Error):
                found[(process.pid, process.create_time())] = (role, process)

        add(psutil.Process(), "loadgen")
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                up = psutil.Process(self.proc.pid)
                add(up, "supervisor")
                for child in up.children(recursive=True):
                    add(child, _role(child))
        postmaster = self.postmaster()
        if postmaster is not None:
            add(postmaster, "postgres")
            with contextlib.suppress(psutil.Error):
                for child in postmaster.children(recursive=True):
                    add(child, "postgres")
        return found

    def remember_processes(self) -> None:
        """Note every process of this instance, so ``stop`` can make sure none outlives it."""
        for key, (role, process) in self.processes().items():
            if role != "loadgen":
                self._known[key] = process

    def stop(self) -> None:
        """SIGTERM `kehu up`, wait (SIGKILL after 30 s), then end whatever of it is still running."""
        if self.proc is None:
            return
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None  # a 2nd Ctrl-C waits
        try:
            with contextlib.suppress(Exception):
                self.remember_processes()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    print("    kehu up did not stop in 30 s; killing it", flush=True)
                    self.proc.kill()
                    self.proc.wait()
            leftovers = [p for p in self._known.values() if _alive(p)]
            if leftovers:
                print(f"    ending {len(leftovers)} leftover process(es): "
                      f"{', '.join(f'{p.pid} {_name(p)}' for p in leftovers)}", flush=True)
                for process in leftovers:
                    with contextlib.suppress(psutil.Error):
                        # SIGINT is PostgreSQL's "fast shutdown"; the others take SIGTERM.
                        process.send_signal(signal.SIGINT if _name(process) == "postgres" else signal.SIGTERM)
                _, alive = psutil.wait_procs(leftovers, timeout=10)
                for process in alive:
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                psutil.wait_procs(alive, timeout=5)
            if self._reader is not None:
                self._reader.join(timeout=5)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _role(process: psutil.Process) -> str:
    try:
        cmdline = process.cmdline()
        name = process.name()
    except psutil.Error:
        return "other"
    if name == "tansu" or (cmdline and Path(cmdline[0]).name == "tansu"):
        return "broker"
    for i, arg in enumerate(cmdline[:-1]):
        if arg == "serve" and cmdline[i + 1] in SERVICES:
            return cmdline[i + 1]
    if name in ("postgres", "pg_ctl", "initdb"):
        return "postgres"
    return "other"


# -- CPU accounting -------------------------------------------------------------------------------


@dataclass
class CpuSample:
    at: float
    seconds: dict[tuple[int, float], tuple[str, float]]


def cpu_sample(up: KehuUp) -> CpuSample:
    """CPU seconds (user + system, plus reaped children) of every process of the instance."""
    seconds: dict[tuple[int, float], tuple[str, float]] = {}
    for key, (role, process) in up.processes().items():
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            seconds[key] = (role, t.user + t.system + t.children_user + t.children_system)
    return CpuSample(time.monotonic(), seconds)


def cpu_by_role(start: CpuSample, end: CpuSample) -> dict[str, float]:
    """CPU seconds per role between two samples.

    A process that ended in between is counted through its parent's reaped-children times (a
    PostgreSQL backend through the postmaster), so what it had used before ``start`` is taken off.
    """
    used = dict.fromkeys(ROLES, 0.0)
    for key, (role, seconds) in end.seconds.items():
        before = start.seconds.get(key)
        used[role] += seconds - (before[1] if before else 0.0)
    for key, (role, seconds) in start.seconds.items():
        if key not in end.seconds:
            used[role] -= seconds
    return {role: max(0.0, value) for role, value in used.items()}


# -- load -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderRecord:
    index: int
    scheduled: float  # loop time the order was due: every latency is measured from here
    started: float = 0.0
    finished: float = 0.0
    status: int | None = None  # HTTP status, or -1 for a transport error or timeout
    order_id: str | None = None
    error: str | None = None


def _uuid_ms(value: str) -> int:
    return uuid.UUID(value).int >> 80


def _uuid_at_ms(ms: float) -> uuid.UUID:
    return uuid.UUID(int=max(0, int(ms)) << 80)


WINDOW_MS = 1500.0


class TimelineWatcher:
    """Polls the insights ``timeline`` table for new ``OrderPlaced`` rows; notes when each is first seen.

    Commit order is not event-id order (four partitions, batched consumers), so there is no
    safe "last seen" cursor. Instead every poll reads the rows whose UUIDv7 event id is at or after
    the oldest order not yet seen (its event id is generated after its order id, which is generated
    after the order was sent): a cheap primary-key range that never skips a row.
    """

    def __init__(self, pg: asyncpg.Connection, records: list[OrderRecord], poll_s: float) -> None:
        self.pg = pg
        self.records = records
        self.poll_s = poll_s
        self.loop = asyncio.get_running_loop()
        self.wall_offset_ms = (time.time() - self.loop.time()) * 1000.0
        self.seen: dict[str, float] = {}
        self.low = 0
        self.polls = 0
        self.rows = 0
        self._stop = asyncio.Event()

    def _resolved(self, record: OrderRecord) -> bool:
        if record.status is None:
            return False
        return record.status != 201 or record.order_id in self.seen

    def lower_bound(self) -> uuid.UUID:
        while self.low < len(self.records) and self._resolved(self.records[self.low]):
            self.low += 1
        if self.low < len(self.records):
            record = self.records[self.low]
            if record.order_id is not None:
                return _uuid_at_ms(_uuid_ms(record.order_id) - 10)
            return _uuid_at_ms(record.scheduled * 1000.0 + self.wall_offset_ms - 100)
        return _uuid_at_ms(self.loop.time() * 1000.0 + self.wall_offset_ms - 100)

    def outstanding(self) -> int:
        self.lower_bound()
        return sum(1 for r in self.records[self.low:] if not self._resolved(r))

    async def poll(self, *, full: bool = False) -> None:
        # The range never reaches back more than WINDOW_MS: one straggler must not make every
        # poll re-read everything after it (that turned the watcher into the bottleneck). A row
        # older than that is found by the final full sweep, late: its latency is then over-stated.
        now_ms = self.loop.time() * 1000.0 + self.wall_offset_ms
        bound = _uuid_at_ms(0) if full else max(self.lower_bound(), _uuid_at_ms(now_ms - WINDOW_MS))
        rows = await self.pg.fetch(OrderPlacedSince, bound)
        now = self.loop.time()
        self.polls += 1
        self.rows += len(rows)
        for (order_id,) in rows:
            if order_id not in self.seen:
                self.seen[order_id] = now

    async def run(self) -> None:
        while not self._stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    def stop(self) -> None:
        self._stop.set()


def _price(rng: random.Random) -> str:
    cents = rng.randint(50, 99_999)
    return f"{cents // 100}.{cents % 100:02d}"


def order_body(rng: random.Random, customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "channel": rng.choice(CHANNELS),
        "lines": [
            {"sku": rng.choice(SKUS), "quantity": str(rng.randint(1, 5)), "unit_price": _price(rng)}
            for _ in range(rng.randint(1, 3))
        ],
    }


class RawHttp:
    """A lean HTTP/1.1 keep-alive client for the load itself.

    httpx spent ~15 ms of CPU per request here at 300 requests/s (measured: 0.95 core for 64
    orders/s), which made the load generator the bottleneck on a 2-core machine that also runs
    everything else. This writes the request bytes and reads ``Content-Length`` bytes back on a
    pool of persistent connections; an order that finds every connection busy waits for one
    (open loop: that queueing counts in its latency).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str], connections: int = 64) -> None:
        self.host = host
        self.port = port
        self.header_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.size = connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.opened = 0

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                return await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
        return await self.idle.get()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._connection()
        try:
            head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.header_lines}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            writer.write(head.encode() + body)
            status_line = await reader.readuntil(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            length = 0
            while True:
                line = await reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.opened -= 1
            raise
        self.idle.put_nowait((reader, writer))
        return status, payload

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def place_order(
    http: RawHttp, path: str, record: OrderRecord, body: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> None:
    record.started = loop.time()
    try:
        status, payload = await asyncio.wait_for(http.post(path, orjson.dumps(body)), POST_TIMEOUT_S)
        if status == 201:
            record.order_id = str(orjson.loads(payload)["id"])
        else:
            record.error = f"{status} {payload[:200]!r}"
        record.status = status
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        record.status = -1
    finally:
        record.finished = loop.time()


async def register_customers(http: httpx.AsyncClient, url: str, count: int) -> list[str]:
    gate = asyncio.Semaphore(32)

    async def one(n: int) -> str:
        async with gate:
            response = await http.post(
                url, json={"name": f"Bench customer {n}", "phone": f"+86138{n:08d}", "channel": "store"}
            )
            if response.status_code != 201:
                raise RuntimeError(f"POST /customers: {response.status_code} {response.text[:300]}")
            return str(response.json()["id"])

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def wait_until_known(up: KehuUp, customers: Sequence[str], timeout_s: float = 60.0) -> None:
    """Until orders knows every customer from its events (so no order needs a contacts lookup)
    and insights has them on the timeline (so the pipeline is flowing end to end)."""
    ids = [uuid.UUID(c) for c in customers]
    orders = await asyncpg.connect(**up.insights_dsn("kehu_orders"))
    insights = await asyncpg.connect(**up.insights_dsn("kehu_insights"))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            known = await orders.fetchval("SELECT count(*) FROM known_customers WHERE customer_id = ANY($1)", ids)
            listed = await insights.fetchval(
                "SELECT count(*) FROM timeline WHERE event_type = 'CustomerRegistered' AND customer_id = ANY($1)", ids
            )
            if known == len(ids) and listed == len(ids):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"after {timeout_s:.0f}s orders knows {known} and insights lists {listed} "
                                   f"of {len(ids)} customers")
            await asyncio.sleep(0.1)
    finally:
        await orders.close()
        await insights.close()


# -- statistics -----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


def summary_ms(values_s: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(v * 1000.0 for v in values_s)
    out: dict[str, float | None] = {f"p{p}": _round(percentile(ordered, p)) for p in (50, 95, 99)}
    out["max"] = _round(ordered[-1]) if ordered else None
    out["n"] = len(ordered)
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class RateResult:
    rate: float
    warmup_s: float
    duration_s: float
    offered: int  # orders scheduled in the measured window
    accepted_in_window: int  # 201 responses that arrived within the measured window
    achieved_per_s: float
    errors: int  # non-201 responses and transport errors of orders scheduled in the window
    error_samples: list[str]
    post_ms: dict[str, float | None]
    visibility_ms: dict[str, float | None]
    lost: int  # accepted orders (warmup included) not on the timeline LOST_AFTER_S after the last send
    unknown_on_timeline: int  # OrderPlaced rows for no order id we were told about (e.g. a timed-out POST)
    send_lag_ms: dict[str, float | None]  # how late the load generator sent, against the schedule
    cpu_window_s: float
    cpu_seconds: dict[str, float]
    cpu_cores: dict[str, float]
    cpu_cores_total: float
    cpu_ms_per_order: float | None
    polls: int
    rows_polled: int
    broker_recycles: int
    saturated: bool
    saturation_reasons: list[str]


async def measure(args: argparse.Namespace, up: KehuUp, rate: float) -> RateResult:
    await up.wait_up()
    loop = asyncio.get_running_loop()
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    timeout = httpx.Timeout(POST_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {up.token()}"}
    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as http:
        pg = await asyncpg.connect(**up.insights_dsn())
        try:
            data_directory = await pg.fetchval("SHOW data_directory")
            if not up.owns_data_directory(data_directory):
                raise RuntimeError(f"connected to the PostgreSQL of {data_directory}, not of {up.pgdata}")
            customers = await register_customers(http, f"{up.url('contacts')}/customers", args.customers)
            await wait_until_known(up, customers)

            records: list[OrderRecord] = []
            watcher = TimelineWatcher(pg, records, args.poll_ms / 1000.0)
            watching = asyncio.create_task(watcher.run())
            total = round(rate * (args.warmup + args.duration))
            orders_port = int(up.url("orders").rsplit(":", 1)[1])
            raw = RawHttp("127.0.0.1", orders_port, headers)
            t0 = loop.time() + 0.1
            window = (t0 + args.warmup, t0 + args.warmup + args.duration)
            samples: list[CpuSample] = []

            async def sample_cpu() -> None:
                for at in window:
                    await asyncio.sleep(max(0.0, at - loop.time()))
                    samples.append(await asyncio.to_thread(cpu_sample, up))

            sampling = asyncio.create_task(sample_cpu())
            pending: set[asyncio.Task[None]] = set()
            try:
                for i in range(total):
                    due = t0 + i / rate
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    record = OrderRecord(i, due)
                    records.append(record)
                    task = loop.create_task(
                        place_order(raw, "/orders", record, order_body(rng, rng.choice(customers)), loop)
                    )
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                end = t0 + total / rate
                await sampling
                if pending:
                    await asyncio.gather(*pending)
                while loop.time() < end + LOST_AFTER_S:  # the watcher keeps polling meanwhile
                    if not watcher.outstanding():
                        break
                    await asyncio.sleep(0.01)
                watcher.stop()
                await watching  # one query at a time on the watcher's connection
                await watcher.poll(full=True)  # one last look, also when the POSTs took past the deadline
            finally:
                await raw.close()
                watcher.stop()
                sampling.cancel()
                for task in pending:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
        finally:
            await pg.close()

    return summarize(args, up, rate, records, watcher, window, samples)


def summarize(
    args: argparse.Namespace, up: KehuUp, rate: float, records: list[OrderRecord], watcher: TimelineWatcher,
    window: tuple[float, float], samples: list[CpuSample],
) -> RateResult:
    w0, w1 = window
    measured = [r for r in records if w0 <= r.scheduled < w1]
    ok = [r for r in measured if r.status == 201]
    failed = [r for r in measured if r.status != 201]
    accepted_in_window = sum(1 for r in records if r.status == 201 and w0 <= r.finished <= w1)
    achieved = accepted_in_window / args.duration
    seen = watcher.seen
    visibility = [seen[r.order_id] - r.scheduled for r in ok if r.order_id in seen]
    accepted_ids = {r.order_id for r in records if r.status == 201}
    lost = sum(1 for order_id in accepted_ids if order_id not in seen)
    unknown = sum(1 for order_id in seen if order_id not in accepted_ids)

    cpu_seconds = dict.fromkeys(ROLES, 0.0)
    wall = args.duration
    if len(samples) == 2:
        cpu_seconds = cpu_by_role(samples[0], samples[1])
        wall = samples[1].at - samples[0].at
    cores = {role: round(s / wall, 3) for role, s in cpu_seconds.items()}
    total_cpu = sum(cpu_seconds.values())

    post = summary_ms([r.finished - r.scheduled for r in ok])
    vis = summary_ms(visibility)
    reasons: list[str] = []
    if achieved < SATURATION_THROUGHPUT * rate:
        reasons.append(f"achieved {achieved:.0f}/s < {SATURATION_THROUGHPUT:.0%} of {rate:g}/s")
    p99 = vis["p99"]
    if p99 is None or p99 > SATURATION_P99_MS:
        reasons.append(f"p99 visibility {p99} ms > {SATURATION_P99_MS:.0f} ms")
    if lost:
        reasons.append(f"{lost} accepted order(s) not visible {LOST_AFTER_S:.0f}s after the end")
    return RateResult(
        rate=rate, warmup_s=args.warmup, duration_s=args.duration, offered=len(measured),
        accepted_in_window=accepted_in_window, achieved_per_s=round(achieved, 1), errors=len(failed),
        error_samples=sorted({r.error or "?" for r in failed})[:5],
        post_ms=post, visibility_ms=vis, lost=lost, unknown_on_timeline=unknown,
        send_lag_ms=summary_ms([r.started - r.scheduled for r in measured]),
        cpu_window_s=round(wall, 3), cpu_seconds={k: round(v, 3) for k, v in cpu_seconds.items()},
        cpu_cores=cores, cpu_cores_total=round(total_cpu / wall, 3),
        cpu_ms_per_order=round(total_cpu * 1000.0 / accepted_in_window, 2) if accepted_in_window else None,
        polls=watcher.polls, rows_polled=watcher.rows, broker_recycles=up.recycles,
        saturated=bool(reasons), saturation_reasons=reasons,
    )


# -- running --------------------------------------------------------------------------------------


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def run_rate(args: argparse.Namespace, rate: float) -> RateResult:
    home = Path(tempfile.mkdtemp(prefix="kehu-bench-"))
    up = KehuUp(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    try:
        up.start()
        return run_async(measure(args, up, rate))
    finally:
        up.stop()
        if args.keep_home:
            print(f"    KEHU_HOME kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


CPU_COLUMNS = ("broker", "postgres", "orders", "insights", "contacts", "tickets", "supervisor", "loadgen")


def table(results: Sequence[RateResult]) -> str:
    head = [
        "rate/s", "achieved/s", "errors", "POST p50", "POST p99", "vis p50", "vis p95", "vis p99", "vis max", "lost",
        *(f"CPU {ROLE_LABELS.get(r, r)}" for r in CPU_COLUMNS), "CPU total", "CPU-ms/order", "saturated",
    ]
    rows = [head, ["---:"] * len(head)]
    for r in results:
        rows.append([
            f"{r.rate:g}", _fmt(r.achieved_per_s, 1), str(r.errors),
            _fmt(r.post_ms["p50"]), _fmt(r.post_ms["p99"]),
            _fmt(r.visibility_ms["p50"]), _fmt(r.visibility_ms["p95"]), _fmt(r.visibility_ms["p99"]),
            _fmt(r.visibility_ms["max"]), str(r.lost),
            *(_fmt(r.cpu_cores[c], 2) for c in CPU_COLUMNS), _fmt(r.cpu_cores_total, 2),
            _fmt(r.cpu_ms_per_order, 1), "yes" if r.saturated else "no",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    out = []
    for n, row in enumerate(rows):
        if n == 1:
            cells = ["-" * (w - 1) + ":" for w in widths]
        else:
            cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kehu_commit": commit,
    }


def verdict(results: Sequence[RateResult]) -> str:
    at_300 = next((r for r in results if r.rate == 300), None)
    p99 = at_300.visibility_ms["p99"] if at_300 else None
    latency = ("not measured at 300/s" if at_300 is None else
               f"p99 visibility at 300/s = {_fmt(p99)} ms ({'met' if p99 is not None and p99 < 250 else 'NOT met'})")
    sustained = [r.rate for r in results if not r.saturated]
    saturated = [r.rate for r in results if r.saturated]
    if saturated:
        capacity = (f"first saturated rate {min(saturated):g}/s, highest sustained "
                    f"{_fmt(max(sustained) if sustained else None)}/s "
                    f"({'met' if min(saturated) >= 400 and sustained and max(sustained) >= 400 else 'NOT met'})")
    else:
        top = max(sustained) if sustained else None
        capacity = f"no saturation up to {_fmt(top)}/s ({'met' if top is not None and top >= 400 else 'not shown'})"
    return f"Result: {latency}; {capacity}."


def render_section(args: argparse.Namespace, results: Sequence[RateResult], info: dict[str, Any], date: str) -> str:
    overrides = {k: v for k, v in sorted(os.environ.items()) if k.startswith("KEHU_") and k not in ISOLATING_ENV}
    lines = [
        SECTION,
        "",
        TARGET,
        "",
        verdict(results),
        "",
        f"- Date (UTC): {date}",
        f"- Command: `{args.command_line}`",
        f"- Machine: {info['platform']}; {info['cpu_model']}; {info['cores']} cores; {info['ram_gib']} GiB RAM; "
        f"Python {info['python']}; kehu {info['kehu_commit']}",
        f"- Per rate: a fresh `kehu up` (embedded PostgreSQL and Tansu), {args.customers} customers registered "
        f"(untimed), then open-loop orders (1–3 lines) for {args.warmup:g} s warmup + {args.duration:g} s measured.",
        "- POST = response time minus *scheduled* send time (queueing in the load generator counts). Visibility = "
        "the moment the `OrderPlaced` row is seen in the insights `timeline` table minus the scheduled send time; "
        f"the table is polled every {args.poll_ms:g} ms, so a visibility figure may be up to one poll plus one "
        "query late. All latencies in ms.",
        "- Lost = accepted orders not on the timeline 10 s after the last send. CPU = cores used over the measured "
        "window (CPU seconds / wall seconds) per process group; `up` is the `kehu up` supervisor, `loadgen` this "
        "benchmark (same machine). CPU-ms/order = all of them together per accepted order.",
        "- Saturated: achieved < 95 % of offered, p99 visibility > 1 s, or any order lost.",
    ]
    if overrides:
        lines.append(f"- Environment overrides: {', '.join(f'{k}={v}' for k, v in overrides.items())}")
    recycled = [f"{r.rate:g}/s" for r in results if r.broker_recycles]
    if recycled:
        lines.append(f"- The embedded broker was recycled during: {', '.join(recycled)} (latency spike expected).")
    lines += ["", table(results), ""]
    return "\n".join(lines)


def update_results_md(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


def default_kehu() -> Path:
    local = REPO / ".venv" / "bin" / "kehu"
    if local.exists():
        return local
    return Path(shutil.which("kehu") or local)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rates", type=parse_rates, default=None,
                        help="orders/s, comma-separated (default: 100,200,300,400, then +100 up to --max-rate)")
    parser.add_argument("--max-rate", type=float, default=800.0, help="highest default rate (default 800)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per rate (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before that (default 5)")
    parser.add_argument("--port-base", type=int, default=8001, help="KEHU_HTTP_PORT_BASE of the instance (8001)")
    parser.add_argument("--kafka-port", type=int, default=9092, help="KEHU_EMBEDDED_KAFKA_PORT (9092)")
    parser.add_argument("--customers", type=int, default=200, help="customers registered before the load (200)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="timeline polling interval (default 5 ms)")
    parser.add_argument("--seed", type=int, default=2, help="random seed for customers and order lines")
    parser.add_argument("--no-stop", action="store_true", help="keep stepping up after a saturated rate")
    parser.add_argument("--no-write", action="store_true", help="print only: no RESULTS.md, no JSON")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="markdown file to update")
    parser.add_argument("--keep-home", action="store_true", help="keep each KEHU_HOME (logs) for inspection")
    parser.add_argument("--kehu", type=Path, default=default_kehu(), help="the kehu executable (.venv/bin/kehu)")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the output of `kehu up`")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.customers < 1 or args.poll_ms <= 0:
        parser.error("--duration and --poll-ms must be > 0, --warmup >= 0, --customers >= 1")
    if args.rates is None:
        args.rates = [100.0, 200.0, 300.0, 400.0]
        while args.rates[-1] + 100 <= args.max_rate:
            args.rates.append(args.rates[-1] + 100)
    args.command_line = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    return args


def describe(r: RateResult) -> str:
    v, p = r.visibility_ms, r.post_ms
    text = (f"  achieved {r.achieved_per_s:.1f}/s of {r.rate:g}/s, {r.errors} errors, POST p50/p99 "
            f"{_fmt(p['p50'])}/{_fmt(p['p99'])} ms, visibility p50/p95/p99/max {_fmt(v['p50'])}/{_fmt(v['p95'])}/"
            f"{_fmt(v['p99'])}/{_fmt(v['max'])} ms, lost {r.lost}, send lag p99 {_fmt(r.send_lag_ms['p99'], 1)} ms, "
            f"CPU {r.cpu_cores_total:.2f} cores = {_fmt(r.cpu_ms_per_order, 1)} CPU-ms/order"
            f"{', broker recycled' if r.broker_recycles else ''}")
    if r.unknown_on_timeline:
        text += f"\n  {r.unknown_on_timeline} order(s) on the timeline whose POST got no 201 (timed out?)"
    if r.error_samples:
        text += "\n  errors, e.g.: " + "; ".join(r.error_samples[:3])
    if r.saturated:
        text += "\n  saturated: " + "; ".join(r.saturation_reasons)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.kehu.exists():
        print(f"no kehu executable at {args.kehu} (make install, or --kehu)", file=sys.stderr)
        return 2
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[RateResult] = []
    print(f"e2e latency: rates {', '.join(f'{r:g}' for r in args.rates)}/s, {args.warmup:g} s warmup + "
          f"{args.duration:g} s each; ports {args.port_base - 1}-{args.port_base + 3}, broker {args.kafka_port}; "
          f"visibility polled every {args.poll_ms:g} ms (adds up to that much)", flush=True)
    try:
        for rate in args.rates:
            print(f"rate {rate:g}/s: starting a fresh kehu up", flush=True)
            result = run_rate(args, rate)
            results.append(result)
            print(describe(result), flush=True)
            if result.saturated and not args.no_stop:
                print(f"saturated at {rate:g}/s; not stepping up further", flush=True)
                break
    except KeyboardInterrupt:
        print("\ninterrupted; every process of the benchmark has been stopped; nothing written", flush=True)
        if results:
            print(table(results))
        return 130
    print()
    print(table(results))
    print()
    print(TARGET)
    print(verdict(results))
    print(f"(visibility includes up to {args.poll_ms:g} ms of polling delay; latencies in ms; CPU in cores)")
    if not args.no_write:
        info = machine_info()
        update_results_md(args.results, render_section(args, results, info, date))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
        out = HERE / "results" / f"e2e_latency-{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": "e2e_latency", "issue": 2, "date": date, "command": args.command_line, "machine": info,
            "target": TARGET, "verdict": verdict(results),
            "config": {"warmup_s": args.warmup, "duration_s": args.duration, "customers": args.customers,
                       "poll_ms": args.poll_ms, "seed": args.seed, "rates": args.rates},
            "results": [asdict(r) for r in results],
        }
        out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.results} and {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
