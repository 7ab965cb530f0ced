"""HTTP routes of editing a customer's record (``PATCH``, ETag / If-Match) and of its history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from services.contacts.domain import profile as domain
from services.contacts.domain.contact_persons import Merged
from services.contacts.domain.customers import Customer
from services.contacts.routes import identities
from services.contacts.store import customers as customers_store
from services.contacts.store import profile as store
from shared.auth import Principal
from shared.batches import external_ref_taken
from shared.errors import Conflict, Invalid, NotFound
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["customers"])

IfMatchHeader = Annotated[
    str | None,
    Header(alias="If-Match", max_length=200,
           description='The ETag of the record as you read it (`"7"`, from GET /customers/{id} or the last PATCH). '
           "Required: without it the answer is 428; when the record changed meanwhile, 412."),
]


async def _only_editable_fields(request: Request) -> None:
    """A 422 naming each field a PATCH does not change, and where it is changed instead (before
    the model's own check, which could only say "extra inputs are not permitted")."""
    try:
        body = await request.json()
    except ValueError:
        return  # malformed JSON: FastAPI's validation names it
    if isinstance(body, dict):
        problems = domain.misplaced_fields(body)
        if problems:
            raise Invalid.fields(problems)


@router.patch(
    "/customers/{customer_id:uuid}",
    response_model=Customer,
    summary="Change fields of a customer's record (JSON merge patch, If-Match required)",
    description="Only the fields given change; `null` clears one (name and kind cannot be cleared). Send "
    "`If-Match` with the ETag you read: a record changed since is not overwritten (412, naming the current "
    "revision: read it again and re-apply). Each changed field gets a history row (who, when, old → new, "
    "`GET /customers/{id}/history`), the revision goes up by one and `CustomerProfileUpdated` is published. "
    "A patch that changes nothing (the values it gives are the record's) writes nothing: the same revision. "
    "A changed `email` moves the customer's e-mail identity with it: the old one is unlinked, the new one "
    "linked (409 naming the `holder` when another customer holds it), publishing `ChannelIdentityUnlinked` / "
    "`ChannelIdentityLinked`. Phone and identities, category, owner and competitors have routes of their own (a 422 says which). "
    "The body may be sent as `application/json` or `application/merge-patch+json`.",
    responses={
        200: {"headers": domain.ETAG_HEADER},
        404: {"model": Problem},
        409: {"model": Problem, "description": "external_ref taken, the email held by another customer as "
              "an identity (`holder`), referral to itself or in a loop, a kind change of a customer with contact "
              "persons, or a merged record"},
        412: {"model": Problem, "description": "The record changed since it was read: `current_revision` says "
              "which it is now (also in the ETag header)"},
        428: {"model": Problem, "description": "No If-Match header"},
    },
)
async def update_profile(
    customer_id: uuid.UUID,
    body: domain.ProfilePatch,
    request: Request,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
    _: None = Depends(_only_editable_fields),
) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        if "referred_by" in body.model_fields_set:
            await store.lock_referrals(conn)
        current = await store.customer_for_update(conn, customer_id)
        if current is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, current.owner)
        if current.merged_into is not None:
            raise Merged(current)
        domain.check_if_match(if_match, current.revision, customer_id)
        after, changes = domain.diff(current, body)
        if not changes:
            return Reply(200, current.model_dump(mode="json"), {"ETag": domain.etag(current.revision)})
        await _check_references(conn, current, after, {c.field for c in changes})
        saved = await store.update_profile(conn, after)
        if saved is None:
            holder = await customers_store.customer_by_external_ref(conn, after.external_ref or "")
            raise external_ref_taken("customer", after.external_ref, holder.id if holder else None)
        now = datetime.now(UTC)
        await identities.replace_primary(conn, customer_id, "email", current.email, saved.email, by=principal.name,
                                         now=now)
        await store.insert_changes(conn, customer_id, saved.revision, changes, by=principal.name, at=now)
        await append(conn, domain.profile_updated(current, saved, changes, by=principal.name, now=now))
        return Reply(200, saved.model_dump(mode="json"), {"ETag": domain.etag(saved.revision)})

    return await write_once(request, principal, idempotency_key, write)


async def _check_references(conn: asyncpg.Connection, current: Customer, after: Customer, changed: set[str]) -> None:
    """The rules of a patch that need other records: a free external_ref, a referrer that exists
    without a loop, no contact persons when the kind changes."""
    if "external_ref" in changed and after.external_ref is not None:
        holder = await customers_store.customer_by_external_ref(conn, after.external_ref)
        if holder is not None and holder.id != current.id:
            raise external_ref_taken("customer", after.external_ref, holder.id)
    if "referred_by" in changed and after.referred_by is not None:
        if after.referred_by != current.id:
            referrer = await customers_store.customer_by_id(conn, after.referred_by)
            if referrer is None:
                raise Invalid.field("referred_by", f"no customer {after.referred_by}")
            if referrer.merged_into is not None:
                raise Merged(referrer, "referred_by")
        chain = [] if after.referred_by == current.id else await store.referral_chain(conn, after.referred_by)
        domain.check_referrer(current.id, after.referred_by, chain)
    if "kind" in changed:
        links = await store.contact_links_of(conn, current.id)
        if links:
            raise Conflict(f"customer {current.id} has {links} contact-person link(s) as a {current.kind}: remove "
                           f"them before changing its kind to {after.kind}", code="has_contact_persons")


@router.get(
    "/customers/{customer_id:uuid}/history",
    response_model=domain.HistoryPage,
    summary="Who changed what in a customer's record, and when (newest first)",
    description="One entry per change (revision): each field with its old and new value, who and when. "
    "The last entry is the registration, with the values the record started with.",
    responses={404: {"model": Problem}},
)
async def customer_history(
    customer_id: uuid.UUID,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200, description="Entries per page.")] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$", description="`next_cursor` of the page before.")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    before = int(cursor) if cursor else None
    async with request.app.state.runtime.pool.acquire() as conn:
        customer = await customers_store.customer_by_id(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, customer.owner)
        entries = domain.history_entries(await store.history(conn, customer_id, before=before, limit=limit))
        first_old = None
        if len(entries) < limit and (before is None or before > 1):
            first_old = await store.first_old_values(conn, customer_id)
    if first_old is not None:
        entries.append(domain.registration_entry(customer, first_old))
    next_cursor = str(entries[-1].revision) if len(entries) == limit and entries[-1].kind != "registered" else None
    page = domain.HistoryPage(items=entries, next_cursor=next_cursor)
    return json_response(200, page.model_dump(mode="json"))
