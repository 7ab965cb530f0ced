"""``Server-Timing`` on every console response: the handler's time and how much of it went waiting
on the services.

A page's time is the console's own work (the session lookup, rendering) plus the services'
answers, which a page asks for at once (``services.parts``). The header splits the two, so a slow
page says where to look, in a browser's developer tools and in ``benchmarks/console.py``:
``total`` (the whole response, as the app sees it), ``services`` (the wall time during which at
least one service call was under way) and one entry per service (its calls' summed time).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Timing:
    started: float
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # (service, start, end)

    def waited(self) -> float:
        """Seconds during which at least one call was under way (concurrent calls counted once)."""
        total, reached = 0.0, float("-inf")
        for _, start, end in sorted(self.calls, key=lambda call: call[1]):
            if end > reached:
                total += end - max(start, reached)
                reached = end
        return total

    def header(self, now: float) -> str:
        per_service: dict[str, float] = {}
        for service, start, end in self.calls:
            per_service[service] = per_service.get(service, 0.0) + end - start
        entries = [("total", now - self.started), ("services", self.waited()), *sorted(per_service.items())]
        return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in entries)


_current: ContextVar[Timing | None] = ContextVar("console_timing", default=None)


def record(service: str, start: float, end: float) -> None:
    """Note a call to ``service`` (``time.perf_counter`` values) on the current request's timing."""
    timing = _current.get()
    if timing is not None:
        timing.calls.append((service, start, end))


class ServerTiming:
    """ASGI middleware: a fresh ``Timing`` per request, the header added when the response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = Timing(time.perf_counter())
        token = _current.set(timing)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"server-timing", timing.header(time.perf_counter()).encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            _current.reset(token)
