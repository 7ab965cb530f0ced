"""A till that keeps placing orders during a fault, as a well-behaved client does.

Every order carries its own ``Idempotency-Key`` and is sent again with the same key and body
until it is accepted: after a 503 (waiting as ``Retry-After`` says) and after a connection that
failed or was cut (the service was restarting). Every answer and how long it took is recorded, so
a fault test can count what was accepted and check that nothing took too long or failed oddly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Till:
    orders_url: str
    headers: dict[str, str]
    customers: list[str]
    accepted: set[str] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)  # "201", "503", "connection error", ...
    slowest_s: float = 0.0
    unexpected: list[str] = field(default_factory=list)  # anything but 201, 503 or a cut connection
    retry_after: set[str] = field(default_factory=set)  # the Retry-After values of the 503s
    timeout_s: float = 60.0

    async def place(self, http: httpx.AsyncClient, worker: int, n: int) -> None:
        body = {"customer_id": self.customers[(worker + n) % len(self.customers)], "channel": "store",
                "lines": [{"sku": f"W{worker}-{n}", "quantity": "1", "unit_price": "3.20"}]}
        headers = {**self.headers, "Idempotency-Key": f"till-{uuid.uuid4()}"}
        while True:
            started = time.monotonic()
            try:
                response = await http.post(self.orders_url + "/orders", json=body, headers=headers,
                                            timeout=self.timeout_s)
            except httpx.TransportError as exc:
                self._took(started)
                self.answers["connection error"] += 1
                if isinstance(exc, httpx.TimeoutException):
                    self.unexpected.append(f"no answer within {self.timeout_s}s")
                await asyncio.sleep(0.2)
                continue
            self._took(started)
            self.answers[str(response.status_code)] += 1
            if response.status_code == 201:
                self.accepted.add(response.json()["id"])
                return
            if response.status_code == 503:
                wait = response.headers.get("retry-after", "")
                self.retry_after.add(wait)
                await asyncio.sleep(float(wait) if wait.isdigit() else 1.0)
                continue
            self.unexpected.append(f"{response.status_code}: {response.text[:300]}")
            return

    def _took(self, started: float) -> None:
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)

    async def accepted_at_least(self, n: int) -> bool:
        return len(self.accepted) >= n


@contextlib.asynccontextmanager
async def placing_orders(till: Till, *, workers: int = 4, finish_s: float = 90.0) -> AsyncIterator[Till]:
    """Orders are placed by ``workers`` concurrent clients until the block ends; then every order
    under way is finished (accepted or refused) before the block returns, within ``finish_s``."""
    stop = asyncio.Event()

    async def worker(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        while not stop.is_set():
            await till.place(http, i, n)
            n += 1

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=workers * 2)) as http:
        tasks = [asyncio.create_task(worker(i, http)) for i in range(workers)]
        try:
            yield till
        finally:
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=finish_s)
            for task in pending:
                task.cancel()
            for task in done:
                task.result()
            if pending:
                raise AssertionError(f"{len(pending)} orders still not accepted {finish_s:.0f}s after the load stopped")


def grown(till: Till, by: int) -> Callable[[], Awaitable[bool]]:
    """A check for ``eventually``: ``by`` more orders accepted than when it was made."""
    target = len(till.accepted) + by

    async def check() -> bool:
        return len(till.accepted) >= target

    return check
