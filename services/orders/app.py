"""Orders: orders and their lines (payments, invoices and credit terms come later). Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.orders import handlers
from services.orders.routes import orders, reports
from shared.customers import backfill_owners_forever
from shared.runtime import service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    return service_app(
        service="orders",
        title="kehu orders",
        description="Orders and their lines, money as decimal strings. Publishes `kehu.orders`; "
        "refuses customers contacts never registered.",
        settings=settings or Settings(),
        migrations=Path(__file__).parent / "migrations",
        routers=[orders.router, reports.router],
        publishes=True,
        consumers=handlers.CONSUMERS,
        checks_customers=True,
        background=[backfill_owners_forever],
        database=database,
    )
