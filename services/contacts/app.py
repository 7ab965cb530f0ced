"""Contacts: customer master data. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contacts import backfill, duplicate_keys, pool_sweeper
from services.contacts.handlers import CONSUMERS
from services.contacts.routes import (
    categories,
    competitors,
    contact_persons,
    customers,
    duplicates,
    follow_ups,
    identities,
    merges,
    pool,
    profile,
)
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="contacts",
        title="kehu contacts",
        description="Customer master data: people and companies, identities, categories. Publishes `kehu.contacts`.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[customers.router, profile.router, contact_persons.router, competitors.router, identities.router,
                 categories.router, follow_ups.router, pool.router,
                 duplicates.router, merges.router],
        publishes=True,
        consumers=CONSUMERS,
        database=database,
        background=[backfill.backfill_search, pool_sweeper.sweep_forever, duplicate_keys.backfill_keys],
    )
