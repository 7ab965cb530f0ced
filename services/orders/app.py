"""Orders: orders and their life (status, cancellation, returns), the catalogue, what customers owe
(invoices, payments, ageing), credit terms at order time, and sales reports. Wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.orders import handlers
from services.orders.overdue_sweeper import sweep_forever
from services.orders.routes import ageing, catalogue, credit, invoices, lifecycle, orders, payments, reports
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
        routers=[orders.router, lifecycle.router, catalogue.router, invoices.router, payments.router, ageing.router,
                 credit.router, reports.router],
        publishes=True,
        consumers=handlers.CONSUMERS,
        checks_customers=True,
        background=[backfill_owners_forever, sweep_forever],
        database=database,
    )
