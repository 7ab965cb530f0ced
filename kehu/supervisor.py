"""`kehu up`: start the embedded parts, the four services and the console, watch them, stop them cleanly.

The embedded broker keeps every record in memory and never trims a topic (docs/architecture.md §9), so the
supervisor recycles it before a topic grows too long. The recycle loses and doubles nothing:

1. pause every outbox relay (events keep accumulating safely in the outboxes);
2. wait until every consumer group has committed up to the true end of each partition (the
   highest offset the broker acknowledged to the relays, or the reported end if higher);
3. restart the broker (empty) and recreate the topics;
4. make every consumer rewind to offset 0 of the new topics, and only then
5. resume the relays.

Step 4 is what makes it safe: measured here, relays that resume first flush their backlog into
the new topics before consumers notice the restart, and a consumer whose old position lies inside
the new topic reads on from there (its reset guard cannot see it, and Tansu accepts its commit):
192 of 800 orders were lost that way in a test before step 4 existed. An unplanned broker death
goes through the same steps 3-5.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kehu.embedded import EmbeddedBroker, EmbeddedPostgres, die_with_parent
from shared.auth import add_token
from shared.events import TOPICS
from shared.identity import generate_keypair
from shared.kafka import CONSUMERS, all_topics, ensure_topics
from shared.settings import (
    SERVICES,
    Settings,
    identity_key_path,
    identity_public_key_path,
    service_port,
    tokens_path,
)

log = logging.getLogger("kehu.up")
PUBLISHERS = ("contacts", "orders", "tickets", "insights")
CONSUMING = ("orders", "tickets", "insights")


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)  # on top of what every process gets


@dataclass
class Supervisor:
    settings: Settings
    out: object = field(default=sys.stdout)
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)  # the four services, then the console
    admin_token: str = ""
    admin_password: str = ""
    recycles: int = 0
    _stopping: bool = False

    @property
    def home(self) -> Path:
        return self.settings.home

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)  # type: ignore[call-overload]

    # -- start -----------------------------------------------------------------------------

    async def start(self) -> None:
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        database_url = self.settings.database_url
        if not database_url:
            self.postgres = EmbeddedPostgres(self.home)
            database_url = await asyncio.to_thread(self.postgres.start)
        bootstrap = self.settings.kafka_bootstrap
        if not bootstrap:
            self.broker = EmbeddedBroker(self.settings.embedded_kafka_port, self.home / "logs" / "broker.log")
            await asyncio.to_thread(self.broker.start)
            bootstrap = self.broker.bootstrap
        self.bootstrap = bootstrap
        await ensure_topics(bootstrap, all_topics(), self.settings.topic_partitions)
        self.admin_token = self._dev_token()
        self.admin_password = self._dev_password()
        service_token = add_token(tokens_path(self.settings), name="kehu-services", role="readonly", replace=True)
        # The console signs person tokens with the private key; the services check them with the public one.
        key, public_key = identity_key_path(self.settings).resolve(), identity_public_key_path(self.settings).resolve()
        if generate_keypair(key, public_key):
            self.say(f"made the console's identity key pair in {key.parent}")
        self.env = {
            **os.environ,
            "KEHU_HOME": str(self.home.resolve()),
            "KEHU_DATABASE_URL": database_url,
            "KEHU_KAFKA_BOOTSTRAP": bootstrap,
            "KEHU_TOKENS_FILE": str(tokens_path(self.settings).resolve()),
            "KEHU_SERVICE_TOKEN": service_token,
            "KEHU_IDENTITY_PUBLIC_KEY_FILE": str(public_key),
            "PYTHONUNBUFFERED": "1",
        }
        for name in SERVICES:
            port = service_port(self.settings, name)
            self.services[name] = ServiceProcess(name, port, self.home / "logs" / f"{name}.log")
            self._spawn(self.services[name])
        await self._wait_ready(SERVICES, timeout_s=60)
        # The console last: its pages call the four services. Only it holds the private key.
        self.services["console"] = ServiceProcess("console", self.settings.console_port,
                                                  self.home / "logs" / "console.log",
                                                  env={"KEHU_IDENTITY_KEY_FILE": str(key),
                                                       "KEHU_CONSOLE_DEV_ADMIN_PASSWORD_FILE": str(self._password_file)})
        self._spawn(self.services["console"])
        await self._wait_ready(("console",), timeout_s=60)
        self._write_status()
        elapsed = time.monotonic() - started
        self._banner(elapsed)

    def _dev_token(self) -> str:
        token_file = self.home / "dev-token"
        path = tokens_path(self.settings)
        existing = token_file.read_text().strip() if token_file.exists() else None
        token = add_token(path, name="dev-admin", role="admin", token=existing, replace=True)
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        return token

    @property
    def _password_file(self) -> Path:
        return (self.home / "dev-password").resolve()

    def _dev_password(self) -> str:
        """The password the console gives the account ``admin`` when it has no account yet; kept
        across restarts like the dev token (``kehu user passwd admin`` changes the account only)."""
        path = self._password_file
        password = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        if not password:
            password = secrets.token_urlsafe(12)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
                out.write(password + "\n")
        path.chmod(0o600)
        return password

    def _spawn(self, svc: ServiceProcess) -> None:
        env = {**self.env, **svc.env, "KEHU_PORT": str(svc.port)}
        with svc.log_file.open("ab") as out:
            svc.process = subprocess.Popen(
                [sys.executable, "-m", "kehu", "serve", svc.name],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        svc.started_at = time.monotonic()

    async def _wait_ready(self, names: tuple[str, ...], *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        async with httpx.AsyncClient(timeout=1.0) as http:
            while pending:
                for name in sorted(pending):
                    svc = self.services[name]
                    if svc.process is not None and svc.process.poll() is not None:
                        raise RuntimeError(f"{name} exited at start; see {svc.log_file}")
                    with contextlib.suppress(httpx.HTTPError):
                        response = await http.get(f"http://127.0.0.1:{svc.port}/health/ready")
                        if response.status_code == 200:
                            pending.discard(name)
                if pending:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"not ready after {timeout_s:.0f}s: {', '.join(sorted(pending))}")
                    await asyncio.sleep(0.05)

    def _banner(self, elapsed: float) -> None:
        db = f"embedded PostgreSQL in {self.postgres.datadir}" if self.postgres else "external PostgreSQL"
        kafka = f"embedded broker on {self.bootstrap}" if self.broker else f"Kafka at {self.bootstrap}"
        self.say(f"kehu is up in {elapsed:.1f}s ({db}; {kafka})")
        for name in SERVICES:
            port = self.services[name].port
            self.say(f"  {name:<9} http://127.0.0.1:{port}   (API docs: http://127.0.0.1:{port}/docs)")
        # The file is what the console's first account was made with: `kehu user passwd` leaves it behind.
        self.say(f"  {'console':<9} http://127.0.0.1:{self.services['console'].port}   (sign in as admin; password in "
                 f"{self.home / 'dev-password'}: {self.admin_password}, unless changed with kehu user passwd)")
        self.say(f"dev admin token (also in {self.home / 'dev-token'}): {self.admin_token}")
        self.say(f"logs in {self.home / 'logs'}; stop with Ctrl-C")

    # -- watch -----------------------------------------------------------------------------

    async def watch(self) -> None:
        last_check = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(0.5)
            if self._stopping:
                break
            if self.broker is not None and not self.broker.alive():
                self.say("the embedded broker stopped unexpectedly; starting a new one")
                await self.restart_dead_broker()
            for svc in self.services.values():
                if svc.process is not None and svc.process.poll() is not None and not self._stopping:
                    svc.restarts += 1
                    self.say(f"{svc.name} exited with code {svc.process.returncode}; restarting (see {svc.log_file})")
                    await asyncio.sleep(min(5.0, 0.5 * svc.restarts))
                    self._spawn(svc)
            if self.broker is not None and time.monotonic() - last_check >= self.settings.broker_recycle_check_s:
                last_check = time.monotonic()
                try:
                    longest = max((await topic_sizes(self.bootstrap, list(TOPICS))).values(), default=0)
                    if longest >= self.settings.broker_recycle_records:
                        await self.recycle_broker(reason=f"a topic holds {longest} records")
                except Exception as exc:  # a failed check or recycle is retried at the next check
                    self.say(f"broker check failed: {type(exc).__name__}: {exc}")

    async def recycle_broker(self, *, reason: str, catch_up_timeout_s: float = 120.0) -> bool:
        assert self.broker is not None
        self.say(f"recycling the embedded broker ({reason})")
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        targets: dict[TopicPartition, int] = {}
        replaced = False
        async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
            try:
                for name in PUBLISHERS:
                    response = await http.post(f"http://127.0.0.1:{self.services[name].port}/admin/relay/pause")
                    response.raise_for_status()
                    for key, offset in response.json()["high_watermarks"].items():
                        topic, _, partition = key.rpartition("/")
                        tp = TopicPartition(topic, int(partition))
                        targets[tp] = max(targets.get(tp, 0), int(offset))
                reported = await end_offsets(self.bootstrap, list(TOPICS))
                for tp, offset in reported.items():
                    targets[tp] = max(targets.get(tp, 0), offset)
                caught_up = await wait_for_consumers(self.bootstrap, targets, timeout_s=catch_up_timeout_s)
                log.info("recycle: consumers caught up after %.2fs", time.monotonic() - started)
                if not caught_up:
                    self.say("consumers did not catch up in time; the broker is kept and will be checked again")
                    return False
                replaced = True  # from the restart on, the old offsets mean nothing
                await self._replace_broker(stop_first=True, http=http)
                self.recycles += 1
                self._write_status()
                self.say(f"embedded broker recycled in {time.monotonic() - started:.1f}s ({self.recycles} so far)")
                return True
            finally:
                for name in PUBLISHERS:
                    with contextlib.suppress(httpx.HTTPError):
                        await http.post(f"http://127.0.0.1:{self.services[name].port}/admin/relay/resume",
                                        params={"broker_replaced": str(replaced).lower()})

    async def restart_dead_broker(self) -> None:
        """The broker died: the same steps as a recycle, without waiting for consumers (what they
        had not read is gone with the broker; it is still in the outboxes only if unsent)."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:
            try:
                for name in PUBLISHERS:
                    (await http.post(f"http://127.0.0.1:{self.services[name].port}/admin/relay/pause")).raise_for_status()
                await self._replace_broker(stop_first=False, http=http)
            finally:
                for name in PUBLISHERS:
                    with contextlib.suppress(httpx.HTTPError):
                        await http.post(f"http://127.0.0.1:{self.services[name].port}/admin/relay/resume",
                                        params={"broker_replaced": "true"})
        self.say("a new embedded broker is running")

    async def _replace_broker(self, *, stop_first: bool, http: httpx.AsyncClient | None = None) -> None:
        """Start an empty broker and rewind every consumer onto it (relays paused by the caller,
        or failing to publish because the broker is gone)."""
        assert self.broker is not None
        await asyncio.to_thread(self.broker.restart if stop_first else self.broker.start)
        await ensure_topics(self.bootstrap, all_topics(), self.settings.topic_partitions)
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with contextlib.AsyncExitStack() as stack:
            client = http if http is not None else await stack.enter_async_context(
                httpx.AsyncClient(timeout=30.0, headers=headers)
            )
            for name in CONSUMING:
                await self._rewind(client, name)
                log.info("recycle: %s rewound after %.2fs", name, time.monotonic() - started)

    async def _rewind(self, client: httpx.AsyncClient, name: str) -> None:
        """Rewind one service's consumers, retrying until it answers: the relays stay paused
        until then, because a consumer that reads on from its old position once the new broker
        has grown past it skips records silently (seen: a busy insights batch outlasted one try)."""
        delay = 1.0
        while True:
            try:
                response = await client.post(f"http://127.0.0.1:{self.services[name].port}/admin/consumers/rewind",
                                             timeout=httpx.Timeout(10, read=320))
                response.raise_for_status()
                return
            except httpx.HTTPError as exc:
                if self._stopping:
                    raise
                self.say(f"{name} did not confirm the rewind yet ({type(exc).__name__}); publishing stays "
                         f"paused, asking again in {delay:.0f}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _write_status(self) -> None:
        status = {
            "bootstrap": self.bootstrap,
            "embedded_broker": self.broker is not None,
            "broker_recycles": self.recycles,
            "updated_at": datetime.now(UTC).isoformat(),
            "services": {n: s.port for n, s in self.services.items()},
        }
        (self.home / "status.json").write_text(json.dumps(status, indent=2) + "\n")

    # -- stop ------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop whatever was started, in order (services, broker, database), whatever failed before:
        a step that fails is reported and the next one still runs."""
        self._stopping = True
        running = [s.process for s in self.services.values() if s.process is not None and s.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in running:
            try:
                await asyncio.to_thread(process.wait, max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for part, close in (("broker", self.broker.close if self.broker else None),
                            ("PostgreSQL", self.postgres.stop if self.postgres else None)):
            if close is None:
                continue
            try:
                await asyncio.to_thread(close)
            except Exception as exc:
                self.say(f"could not stop the embedded {part}: {type(exc).__name__}: {exc}")
        self.say("kehu stopped")


async def topic_sizes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for tp, offset in (await end_offsets(bootstrap, topics)).items():
        sizes[tp.topic] = sizes.get(tp.topic, 0) + offset
    return sizes


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, client_id="kehu-up")
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def wait_for_consumers(bootstrap: str, targets: dict[TopicPartition, int], *, timeout_s: float) -> bool:
    """True once every consumer group has committed at least ``targets`` on the topics it reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kehu-up")
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            behind = 0
            for group, topics in CONSUMERS.items():
                tps = [tp for tp in targets if tp.topic in topics and targets[tp] > 0]
                if not tps:
                    continue
                committed = await admin.list_consumer_group_offsets(group, partitions=tps)
                for tp in tps:
                    meta = committed.get(tp)
                    done = meta.offset if meta is not None and meta.offset is not None else -1
                    behind += max(0, targets[tp] - done)
            if behind == 0:
                return True
            if time.monotonic() > deadline:
                log.warning("consumers still %d records behind", behind)
                return False
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def run_up(settings: Settings) -> int:
    """Start, watch until a signal (or until watching fails: a broker that cannot be restarted),
    then stop everything that was started, however it ended."""
    supervisor = Supervisor(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    signalled = asyncio.create_task(stop.wait(), name="signal")
    try:
        for step in (supervisor.start, supervisor.watch):
            task = asyncio.create_task(step(), name=step.__name__)
            await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # a signal: stop now, even in the middle of starting
                supervisor._stopping = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return 0
            task.result()  # raises what made it end
        return 0
    except Exception as exc:
        supervisor.say(f"kehu up failed: {str(exc) or type(exc).__name__}")
        return 1
    finally:
        signalled.cancel()
        await supervisor.stop()
