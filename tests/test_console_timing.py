"""Server-Timing on console responses (console/timing.py): the handler's total and the time it waited on services."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from console.timing import ServerTiming, Timing, record


def test_concurrent_calls_are_counted_once_in_the_wait() -> None:
    timing = Timing(0.0, [("insights", 1.0, 3.0), ("contacts", 2.0, 4.0), ("tickets", 6.0, 7.0), ("orders", 2.5, 2.6)])
    assert timing.waited() == 4.0  # 1-4 and 6-7
    header = timing.header(10.0)
    assert header.startswith("total;dur=10000.0, services;dur=4000.0, ")
    assert "insights;dur=2000.0" in header and "contacts;dur=2000.0" in header


async def test_every_response_carries_the_total_and_the_time_spent_on_services() -> None:
    async def page(_: Request) -> PlainTextResponse:
        async def call(service: str, seconds: float) -> None:
            started = time.perf_counter()
            await asyncio.sleep(seconds)
            record(service, started, time.perf_counter())

        await asyncio.gather(call("insights", 0.05), call("contacts", 0.05))  # as services.parts does
        await asyncio.sleep(0.03)  # the console's own work
        return PlainTextResponse("ok")

    app = ServerTiming(Starlette(routes=[Route("/", page)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        response = await client.get("/")
    durations = dict(re.findall(r"(\w+);dur=([\d.]+)", response.headers["server-timing"]))
    assert set(durations) == {"total", "services", "insights", "contacts"}
    total, services = float(durations["total"]), float(durations["services"])
    assert 45 <= services < 75, durations  # the two calls overlap: about 50 ms, not 100
    assert total - services >= 25, durations

