"""HTTP routes of contact persons: who speaks for a company, in which role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.contacts.domain import contact_persons as domain
from services.contacts.store import contact_persons as store
from services.contacts.store import customers as customers_store
from shared.auth import Principal
from shared.errors import Invalid, NotFound
from shared.events import ContactRole
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["contact persons"])


@router.post(
    "/customers/{customer_id:uuid}/contacts",
    response_model=domain.ContactLink,
    status_code=201,
    summary="Make a person a contact person of a company, in a role",
    description="201 and `ContactPersonAdded` for a new link; adding one that exists is harmless (200, no "
    "event; a title given replaces the old one). A person may hold several roles (one link each).",
    responses={
        200: {"model": domain.ContactLink, "description": "The link existed already"},
        404: {"model": Problem},
        409: {"model": Problem, "description": "The company is a person, the person a company, or one was merged"},
    },
)
async def add_contact_person(
    customer_id: uuid.UUID,
    body: domain.NewContactPerson,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    company_id = customer_id  # the company whose contact person this is

    async def write(conn: asyncpg.Connection) -> Reply:
        found = await store.customers_for_share(conn, [company_id, body.person_id])
        company, person = found.get(company_id), found.get(body.person_id)
        if company is None:
            raise NotFound(f"no customer {company_id}")
        if person is None:
            raise Invalid.field("person_id", f"no customer {body.person_id}")
        scope = scope_of(principal)
        ensure_covers(scope, company.id, company.owner)
        ensure_covers(scope, person.id, person.owner)
        domain.check_link(company, person)
        now = datetime.now(UTC)
        outcome = await store.add_link(conn, company_id, person.id, body.role, body.title or None,
                                       by=principal.name, at=now)
        if outcome == "added":
            await append(conn, domain.added(company_id, body, by=principal.name, now=now))
        link = await store.link(conn, company_id, person.id, body.role)
        return Reply(201 if outcome == "added" else 200, link.model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)


@router.delete(
    "/customers/{customer_id:uuid}/contacts/{person_id:uuid}/{role}",
    summary="A person no longer speaks for a company in this role",
    description="`ContactPersonRemoved` when the link existed; removing one that does not is harmless "
    "(`removed: false`, no event).",
    responses={404: {"model": Problem}},
)
async def remove_contact_person(
    customer_id: uuid.UUID,
    person_id: uuid.UUID,
    role: ContactRole,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    company_id = customer_id

    async def write(conn: asyncpg.Connection) -> Reply:
        company = await customers_store.customer_by_id(conn, company_id)
        if company is None:
            raise NotFound(f"no customer {company_id}")
        ensure_covers(scope_of(principal), company.id, company.owner)
        removed = await store.remove_link(conn, company_id, person_id, role)
        if removed:
            await append(conn, domain.removed(company_id, person_id, role, by=principal.name, now=datetime.now(UTC)))
        return Reply(200, {"removed": removed})

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id:uuid}/contacts",
    response_model=domain.ContactList,
    summary="A company's contact persons, or the companies a person speaks for",
    responses={404: {"model": Problem}},
)
async def contact_persons(customer_id: uuid.UUID, request: Request,
                          principal: Principal = require("customers:read")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await customers_store.customer_by_id(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        links = await store.links_of(conn, customer)
    return json_response(200, domain.ContactList(kind=customer.kind, items=links).model_dump(mode="json"))
