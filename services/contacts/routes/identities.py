"""HTTP routes of channel identities: link, unlink, list, and resolve any identity to its customer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain import customers as customers_domain
from services.contacts.domain import identities as domain
from services.contacts.domain.identities import Identity, IdentityRequest, IdentityTaken, NormalIdentity
from services.contacts.store import customers as customers_store
from services.contacts.store import identities as store
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import Event, IdentityKind, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["identities"])
TAKEN: dict[int | str, dict[str, Any]] = {409: {"model": Problem, "description": "the identity belongs to another customer (`holder`: id and name)"}}


class IdentityList(BaseModel):
    items: list[Identity]


class Registration(BaseModel):
    """A potential customer to register when the identity is unknown."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=200,
                             description="Default: the identity's value (a phone number, a card number).")
    channel: str | None = Field(None, max_length=32, description="Where the customer was met (store, wechat, ...).")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=domain.MAX_VALUE)
    register_new: bool | Registration = Field(
        False, alias="register", description="`true` or `{\"name\": …}`: when nobody holds the identity, register a potential "
        "customer holding it (201; needs customers:write). Safe to retry, and two concurrent resolves of one "
        "identity register one customer.")


class Resolved(BaseModel):
    customer_id: uuid.UUID
    name: str
    owner: str | None
    category: str
    registered: bool = Field(False, description="True when this request registered the customer.")


def _region(request: Request) -> str:
    return str(request.app.state.runtime.settings.phone_region)


async def _target(conn: asyncpg.Connection, customer_id: uuid.UUID, principal: Principal) -> store.LinkTarget:
    target = await store.customer_for_update(conn, customer_id)
    if target is None:
        raise NotFound(f"no customer {customer_id}")
    ensure_covers(scope_of(principal), customer_id, target.owner)
    return target


async def link(
    conn: asyncpg.Connection, target: store.LinkTarget, identity: NormalIdentity, *, by: str, now: datetime,
    publish: bool = True,
) -> bool:
    """Link ``identity`` to ``target`` (the primary phone or email follows); False when it already was.
    Raises ``IdentityTaken`` naming the holder when another customer has it."""
    held = await store.holder(conn, identity)
    if domain.link_outcome(identity, target.id, (held.id, held.name) if held else None) == "already_linked":
        return False
    if not await store.insert_identity(conn, identity, target.id, at=now, by=by):
        held = await store.holder(conn, identity)  # linked meanwhile by a concurrent request
        if held is not None and held.id != target.id:
            raise IdentityTaken(identity, held.id, held.name)
        return False
    current = target.phone if identity.kind == "phone" else target.email if identity.kind == "email" else None
    primary = domain.primary_after_link(identity.kind, identity.value, current)
    if primary is not None:
        await store.set_primary(conn, target, phone=primary if identity.kind == "phone" else target.phone,
                                email=primary if identity.kind == "email" else target.email)
    if publish:
        await append(conn, domain.linked_event(identity, target.id, by=by, now=now))
    return True


async def link_registered(conn: asyncpg.Connection, customer: customers_domain.Customer, *, by: str) -> None:
    """A registration's phone and email become its identities; one held by another customer refuses
    the registration (409 naming the holder). No event: ``CustomerRegistered`` carries both."""
    for identity in domain.registration_identities(customer.phone, customer.email):
        if not await store.insert_identity(conn, identity, customer.id, at=customer.created_at, by=by):
            held = await store.holder(conn, identity)
            if held is not None and held.id != customer.id:
                raise IdentityTaken(identity, held.id, held.name)


async def replace_primary(
    conn: asyncpg.Connection, customer_id: uuid.UUID, kind: str, old: str | None, new: str | None, *, by: str,
    now: datetime,
) -> None:
    """An edit of the record changed its primary phone or email from ``old`` to ``new``: unlink the
    old identity, link the new one (``IdentityTaken`` naming the holder when another customer has
    it), each with its event. The caller writes the column itself."""
    unlink, relink = domain.primary_replaced(kind, old, new)
    events: list[Event] = []
    if relink is not None:
        held = await store.holder(conn, relink)
        if held is not None and held.id != customer_id:
            raise IdentityTaken(relink, held.id, held.name)
    if unlink is not None and await store.delete_identity(conn, customer_id, unlink):
        events.append(domain.unlinked_event(unlink, customer_id, by=by, now=now))
    if relink is not None:
        if await store.insert_identity(conn, relink, customer_id, at=now, by=by):
            events.append(domain.linked_event(relink, customer_id, by=by, now=now))
        else:
            held = await store.holder(conn, relink)  # linked meanwhile by a concurrent request
            if held is not None and held.id != customer_id:
                raise IdentityTaken(relink, held.id, held.name)
    if events:
        await append(conn, *events)


def linking(
    insert: Callable[[asyncpg.Connection, Sequence[customers_domain.Customer]], Awaitable[set[uuid.UUID]]], *, by: str
) -> Callable[[asyncpg.Connection, Sequence[customers_domain.Customer]], Awaitable[set[uuid.UUID]]]:
    """A batch registration's ``insert`` that also links the phones and e-mails of the customers it
    inserts, those still free: in a batch (an import) an identity already held stays with its
    holder, and the new customer keeps it only as its `phone`/`email` column (the duplicate scan
    shows the pair) rather than refusing the whole batch."""

    async def insert_and_link(conn: asyncpg.Connection, customers: Sequence[customers_domain.Customer]) -> set[uuid.UUID]:
        inserted = await insert(conn, customers)
        await store.insert_free_identities(conn, [
            (identity, c.id, c.created_at) for c in customers if c.id in inserted
            for identity in domain.registration_identities(c.phone, c.email)], by=by)
        return inserted

    return insert_and_link


async def narrowed_to_holder(
    conn: asyncpg.Connection, text: str, ids: Sequence[uuid.UUID] | None, *, phone_region: str
) -> list[uuid.UUID]:
    """``GET /customers?identity=kind:value``: the list narrowed to the identity's holder (none if nobody)."""
    identity = domain.parse_identity_query(text, phone_region=phone_region, field="query.identity")
    held = await store.holder(conn, identity)
    if held is None or (ids is not None and held.id not in ids):
        return []
    return [held.id]


@router.post(
    "/customers/{customer_id:uuid}/identities",
    status_code=201,
    response_model=Identity,
    summary="Link a channel identity to a customer",
    description="The value is normalised per kind (phone in E.164, e-mail lower-case, card numbers upper-case "
    "without blanks, WeChat ids exact). 201 when linked; 200 when the customer holds it already (a retry is "
    "harmless); 409 when another customer holds it, naming them (`holder`). The first phone (e-mail) linked "
    "becomes the customer's primary `phone` (`email`). Publishes `ChannelIdentityLinked`.",
    responses={404: {"model": Problem}, **TAKEN},
)
async def add_identity(
    customer_id: uuid.UUID,
    body: IdentityRequest,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    identity = domain.normalise(body.kind, body.value, body.label, phone_region=_region(request))

    async def write(conn: asyncpg.Connection) -> Reply:
        target = await _target(conn, customer_id, principal)
        now = datetime.now(UTC)
        linked = await link(conn, target, identity, by=principal.name, now=now)
        current = next(i for i in await store.identities_of(conn, customer_id)
                       if (i.kind, i.value) == (identity.kind, identity.value))
        return Reply(201 if linked else 200, current.model_dump(mode="json"),
                     {"Location": f"/customers/{customer_id}/identities/{identity.kind}/{quote(identity.value, safe='')}"})

    return await write_once(request, principal, idempotency_key, write)


@router.delete(
    "/customers/{customer_id:uuid}/identities/{kind}/{value:path}",
    response_model=NormalIdentity,
    summary="Unlink a channel identity from a customer",
    description="The value in any spelling of its kind (a phone with or without +86). When it was the primary "
    "phone (e-mail), the customer's oldest other one takes its place. Publishes `ChannelIdentityUnlinked`.",
    responses={404: {"model": Problem, "description": "no such customer, or the customer does not hold it"}},
)
async def remove_identity(
    customer_id: uuid.UUID,
    kind: IdentityKind,
    value: str,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    identity = domain.normalise(kind, value, phone_region=_region(request), field="path.value", need_label=False)

    async def write(conn: asyncpg.Connection) -> Reply:
        target = await _target(conn, customer_id, principal)
        if not await store.delete_identity(conn, customer_id, identity):
            raise NotFound(f"customer {customer_id} holds no {kind} {identity.value}")
        if identity.kind in ("phone", "email"):
            current = target.phone if identity.kind == "phone" else target.email
            remaining = await store.remaining_values(conn, customer_id, identity.kind)
            changes, primary = domain.primary_after_unlink(identity.value, current, remaining)
            if changes:
                await store.set_primary(conn, target, phone=primary if kind == "phone" else target.phone,
                                        email=primary if kind == "email" else target.email)
        await append(conn, domain.unlinked_event(identity, customer_id, by=principal.name, now=datetime.now(UTC)))
        return Reply(200, identity.model_dump(mode="json"))

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id:uuid}/identities",
    response_model=IdentityList,
    summary="A customer's channel identities",
    responses={404: {"model": Problem}},
)
async def list_identities(
    customer_id: uuid.UUID, request: Request, principal: Principal = require("customers:read")
) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await customers_store.customer_by_id(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        items = await store.identities_of(conn, customer_id)
    return json_response(200, {"items": [i.model_dump(mode="json") for i in items]})


@router.post(
    "/identities/resolve",
    response_model=Resolved,
    summary="Which customer an identity names (a till, a mini-program: any channel)",
    description="Answers any principal with customers:read, whoever the owner (a till must find anyone), but "
    "says only the customer's id, name, owner and category. 404 when nobody holds the identity, unless "
    "`register` asks to register a potential customer holding it (201).",
    responses={201: {"model": Resolved, "description": "registered now"},
               404: {"model": Problem, "description": "nobody holds the identity"}},
)
async def resolve_identity(
    body: ResolveRequest,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:read"),
) -> Response:
    identity = domain.normalise(body.kind, body.value, phone_region=_region(request), need_label=False)
    if body.register_new is False:
        async with request.app.state.runtime.pool.acquire() as conn:
            held = await store.holder(conn, identity)
        if held is None:
            raise NotFound(f"nobody holds the {identity.kind} {identity.value}", kind=identity.kind,
                           value=identity.value)
        return json_response(200, held.answer() | {"registered": False})
    if not principal.may("customers:write"):
        raise Forbidden(f"role {principal.role!r} lacks the permission 'customers:write' to register a customer",
                        missing_permission="customers:write")
    registration = body.register_new if isinstance(body.register_new, Registration) else Registration()

    async def write(conn: asyncpg.Connection) -> Reply:
        return await _resolve_or_register(conn, identity, registration, request, principal)

    return await write_once(request, principal, idempotency_key, write)


class _LostRace(Exception):
    """A concurrent request linked the identity first: undo this registration."""


async def _resolve_or_register(
    conn: asyncpg.Connection, identity: NormalIdentity, registration: Registration, request: Request,
    principal: Principal,
) -> Reply:
    held = await store.holder(conn, identity)
    if held is not None:
        return Reply(200, held.answer() | {"registered": False})
    now = datetime.now(UTC)
    new = customers_domain.NewCustomer(
        name=registration.name or identity.value, channel=registration.channel,
        phone=identity.value if identity.kind == "phone" else None,
        email=identity.value if identity.kind == "email" else None)
    customer, registered = customers_domain.register(new, customer_id=new_id(), now=now, phone_region=_region(request))
    events: list[Event] = [registered]
    try:
        async with conn.transaction():  # a savepoint: losing the race undoes only the registration
            await customers_store.insert_customer(conn, customer)
            if not await store.insert_identity(conn, identity, customer.id, at=now, by=principal.name):
                raise _LostRace
    except _LostRace:
        held = await store.holder(conn, identity)
        if held is None:  # the winner unlinked it in between: rare; the caller retries
            raise Conflict(f"the {identity.kind} {identity.value} changed hands meanwhile; retry") from None
        return Reply(200, held.answer() | {"registered": False})
    if identity.kind not in ("phone", "email"):  # those two CustomerRegistered carries itself
        events.append(domain.linked_event(identity, customer.id, by=principal.name, now=now))
    await append(conn, *events)
    answer = {"customer_id": str(customer.id), "name": customer.name, "owner": customer.owner,
              "category": customer.category, "registered": True}
    return Reply(201, answer, {"Location": f"/customers/{customer.id}"})
