"""Tickets: complaints, feedback and service requests with their promised times. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.tickets import handlers
from services.tickets.routes import lifecycle, prevention, reports, resolution, sla, tickets
from services.tickets.sla_sweeper import sweep_forever
from shared.customers import backfill_owners_forever
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="tickets",
        title="kehu tickets",
        description="Complaints, feedback and service requests, each with its promised time. "
        "Publishes `kehu.tickets`; refuses customers contacts never registered.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[tickets.router, lifecycle.router, resolution.router, prevention.router, sla.router, reports.router],
        publishes=True,
        consumers=handlers.CONSUMERS,
        checks_customers=True,
        background=[backfill_owners_forever, sweep_forever],
        database=database,
    )
