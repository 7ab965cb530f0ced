"""Insights: the unified customer view, fed by every service's events. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.insights import api, credit_api, credit_handlers, handlers, worklists
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    settings = settings or Settings()
    projector = handlers.Projector(settings)
    credit = credit_handlers.CreditJudge(settings)
    app = service_app(
        service="insights",
        title="kehu insights",
        description="Each customer's timeline, rhythm, value, lifecycle stage, segment and alerts. "
        "Consumes `kehu.contacts`, `kehu.orders`, `kehu.tickets`; publishes `kehu.insights`.",
        settings=settings,
        migrations=Path(__file__).parent / "migrations",
        routers=[api.router, worklists.router, credit_api.router],
        publishes=True,
        consumers=handlers.consumers(projector) + credit_handlers.consumers(credit),
        database=database,
        background=[handlers.sweep_forever, credit_handlers.sweep_forever],
    )
    app.state.projector = projector
    app.state.credit = credit
    return app
