"""SQL of the catalogue (queries in ``sql/catalogue.sql``). Never commits: callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

import asyncpg

from services.orders.domain.catalogue import Product, ProductChange
from shared.sql import load_queries

Q = load_queries(Path(__file__).parent.parent / "sql" / "catalogue.sql")


def _product(row: asyncpg.Record) -> Product:
    return Product(**{k: v for k, v in dict(row).items() if k != "created"})


async def upsert(conn: asyncpg.Connection, sku: str, change: ProductChange, now: datetime) -> tuple[Product, bool]:
    """The product as stated, and True when it was created."""
    row = await conn.fetchrow(Q["upsert_product"], sku, change.name, change.category, change.list_price,
                              change.active, now)
    if row is None:  # nothing changed
        product = await product_by_sku(conn, sku)
        assert product is not None
        return product, False
    return _product(row), bool(row["created"])


async def product_by_sku(conn: asyncpg.Connection, sku: str) -> Product | None:
    row = await conn.fetchrow(Q["product_by_sku"], sku)
    return None if row is None else _product(row)


async def products_by_skus(conn: asyncpg.Connection, skus: Collection[str]) -> dict[str, Product]:
    if not skus:
        return {}
    return {r["sku"]: _product(r) for r in await conn.fetch(Q["products_by_skus"], list(skus))}


async def search(conn: asyncpg.Connection, *, text: str | None, category: str | None, active_only: bool,
                 after: str | None, limit: int) -> list[Product]:
    return [_product(r) for r in await conn.fetch(Q["search_products"], text, category, active_only, after, limit)]


async def categories(conn: asyncpg.Connection) -> list[str]:
    return [r["category"] for r in await conn.fetch(Q["categories"])]
