"""HTTP routes of the catalogue: search products, read one, create or change one (a manager)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.orders.domain import catalogue as domain
from services.orders.store import catalogue as store
from shared.auth import Principal
from shared.errors import NotFound
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.writes import write_once

router = APIRouter(tags=["catalogue"])

Sku = Annotated[str, Path(min_length=1, max_length=64, pattern=domain.SKU_PATTERN,
                          description="The product's article code (no spaces at its ends, no `/`, `?`, `#`).")]


class ProductPage(BaseModel):
    items: list[domain.Product]
    next_cursor: str | None
    categories: list[str]


@router.get("/products", response_model=ProductPage, summary="Search the catalogue",
            description="`q`: a piece of the sku or of the name, any case. In sku order; `cursor` is the last sku "
            "seen. Inactive products only with `include_inactive=true`. `categories`: every category in use.")
async def search_products(
    request: Request,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    include_inactive: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    _: Principal = require("orders:read"),
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        items = await store.search(conn, text=q, category=category, active_only=not include_inactive,
                                   after=cursor, limit=limit)
        categories = await store.categories(conn)
    next_cursor = items[-1].sku if len(items) == limit else None
    return json_response(200, ProductPage(items=items, next_cursor=next_cursor,
                                          categories=categories).model_dump(mode="json"))


@router.get("/products/{sku}", response_model=domain.Product, summary="One product",
            responses={404: {"model": Problem}})
async def get_product(sku: Sku, request: Request, _: Principal = require("orders:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        product = await store.product_by_sku(conn, sku)
    if product is None:
        raise NotFound(f"no product {sku!r}")
    return json_response(200, product.model_dump(mode="json"))


@router.put("/products/{sku}", response_model=domain.Product, summary="Create or change a product",
            description="The product as it should be (a repeated PUT changes nothing). Deactivate with "
            "`active: false`: it is no longer offered, old orders still name it. 201 when created.",
            responses={201: {"model": domain.Product, "description": "created"}})
async def put_product(sku: Sku, body: domain.ProductChange, request: Request,
                      idempotency_key: IdempotencyKeyHeader = None,
                      principal: Principal = require("catalogue:write")) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        product, created = await store.upsert(conn, sku, body, datetime.now(UTC))
        return Reply(201 if created else 200, product.model_dump(mode="json"), {"Location": f"/products/{quote(sku)}"})

    return await write_once(request, principal, idempotency_key, write)
