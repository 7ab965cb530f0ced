"""Contacts: customer master data. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contacts import backfill, pool_sweeper
from services.contacts.routes import customers, pool
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="contacts",
        title="kehu contacts",
        description="Customer master data: people and companies, identities, categories. Publishes `kehu.contacts`.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[customers.router, pool.router],
        publishes=True,
        database=database,
        background=[backfill.backfill_search, pool_sweeper.sweep_forever],
    )
