"""Insights: the unified customer view, fed by every service's events. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.insights import api, handlers
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="insights",
        title="kehu insights",
        description="Each customer's timeline across channels (value, lifecycle and alerts come next). "
        "Consumes `kehu.contacts`, `kehu.orders`, `kehu.tickets`.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[api.router],
        publishes=False,
        consumers=handlers.CONSUMERS,
        database=database,
    )
