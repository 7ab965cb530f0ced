"""Contacts: customer master data. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contacts import backfill, duplicate_keys
from services.contacts.routes import customers, duplicates, merges
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="contacts",
        title="kehu contacts",
        description="Customer master data: people and companies, identities, categories. Publishes `kehu.contacts`.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[customers.router, duplicates.router, merges.router],
        publishes=True,
        database=database,
        background=[backfill.backfill_search, duplicate_keys.backfill_keys],
    )
