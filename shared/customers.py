"""Which customer ids exist: a local replica fed by ``kehu.contacts``, with contacts as fallback.

Orders and tickets must refuse a customer that contacts never registered, without reading the
contacts database. The rule (README, "Customer ids"):

1. The id is in the service's replica (``known_customers``, filled from ``CustomerRegistered``
   events): accepted.
2. Otherwise the service asks contacts (``GET /customers/{id}``; for a batch, ``GET
   /customers?id=…&id=…`` per 100 ids): found → accepted and added to the replica; not found →
   refused with 422.
3. Contacts unreachable (or failing) and the id unknown → 503 with ``Retry-After``. Unchecked
   data is never accepted.

Callers check before their write's transaction, and the directory holds no connection while it
asks contacts (each query takes one from the pool and gives it back): a slow contacts must not
hold the service's connections or keep a transaction open.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
from fastapi import FastAPI, Request

from shared.auth import Principal
from shared.backoff import Backoff
from shared.consumer import Delivery
from shared.customer_ref import CustomerByIdentity, IdentityRef
from shared.errors import FieldProblem, Forbidden, Invalid, Unavailable
from shared.events import CustomerRegistered
from shared.http import CLIENT_LIMITS, Problem
from shared.owners import OwnerFact, latest_owner_facts
from shared.scopes import OUT_OF_SCOPE, Scope, ensure_covers, scope_of
from shared.sql import load_queries

log = logging.getLogger(__name__)
Q = load_queries(Path(__file__).parent / "sql" / "known_customers.sql")
OQ = load_queries(Path(__file__).parent / "sql" / "known_owners.sql")

# What a write route that checks its customer may answer besides success (its `responses=`).
CHECKED_CUSTOMER_ANSWERS: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "invalid fields, or a customer contacts never registered"},
    503: {"model": Problem, "description": "contacts unreachable and the customer not yet known here"},
    403: {"model": Problem, "description": "a salesperson's customer outside their scope (`code: out_of_scope`, "
                                           "naming the `owner`)"},
}
# What a read route of one customer's records may answer besides success.
SCOPED_ANSWERS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "the customer is outside a salesperson's scope (`code: out_of_scope`, "
                                           "naming the `owner`)"},
}
RETRY_AFTER_S = 5
LOOKUP_CHUNK = 100  # ids per contacts request: a URL of ~4 KB


class NamesCustomer(Protocol):
    """A request naming its customer by id or by identity (exactly one of the two)."""

    @property
    def customer_id(self) -> uuid.UUID | None: ...

    @property
    def customer(self) -> CustomerByIdentity | None: ...


class CustomerDirectory:
    """Answers "does this customer exist?" for one service process.

    Ids already confirmed are also kept in memory (up to ``cache_size``), which saves a database
    round trip on every order of a known customer: a registered id never becomes unknown today.
    (When erasure arrives, its event must evict the id here as well as from the replica.)
    """

    def __init__(
        self, contacts_url: str, service_token: str | None, *, timeout_s: float = 2.0, cache_size: int = 200_000
    ) -> None:
        headers = {"Authorization": f"Bearer {service_token}"} if service_token else {}
        self._http = httpx.AsyncClient(base_url=contacts_url, headers=headers, timeout=timeout_s, limits=CLIENT_LIMITS)
        self._confirmed: set[uuid.UUID] = set()
        self._cache_size = cache_size

    async def close(self) -> None:
        await self._http.aclose()

    async def ensure_known(self, pool: asyncpg.Pool, customer_id: uuid.UUID) -> None:
        """Return if the customer exists; raise ``Invalid`` (422) or ``Unavailable`` (503) otherwise."""
        if customer_id in self._confirmed:
            return
        if await pool.fetchval(Q["is_known"], customer_id):
            self._remember(customer_id)
            return
        await self._look_up(pool, customer_id)

    async def _look_up(self, pool: asyncpg.Pool, customer_id: uuid.UUID) -> str | None:
        """Ask contacts for one customer; remember them and their owner (returned; None: the pool)."""
        asked_at = datetime.now(UTC)  # the answer holds every owner change recorded before this
        try:
            response = await self._http.get(f"/customers/{customer_id}")
        except httpx.HTTPError as exc:
            raise _unavailable(f"contacts is unreachable ({type(exc).__name__})") from exc
        if response.status_code == 200:
            owner = response.json().get("owner")
            await pool.execute(OQ["record_owners"], [customer_id], [owner], [asked_at], "lookup")
            self._remember(customer_id)
            return owner if isinstance(owner, str) else None
        if response.status_code == 404:
            raise Invalid(
                f"customer {customer_id} is not registered in contacts", title="Unknown customer",
                errors=[FieldProblem("customer_id", "no such customer in contacts")],
            )
        raise _unavailable(f"contacts answered {response.status_code}")

    async def ensure_all_known(self, pool: asyncpg.Pool, customer_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among ``customer_ids`` that contacts never registered (empty when all exist).

        One replica query for them all, then one contacts request per ``LOOKUP_CHUNK`` ids still
        unknown. Raises ``Unavailable`` (503) when contacts cannot be asked. Ids contacts confirms
        are added to the replica at once (autocommit), so the replica's rows are not held locked
        while a write goes on, where the ``kehu.contacts`` consumer would wait for them.
        """
        pending = {c for c in customer_ids if c not in self._confirmed}
        if not pending:
            return set()
        for row in await pool.fetch(Q["known_among"], list(pending)):
            known = uuid.UUID(bytes=row["customer_id"].bytes)
            self._remember(known)
            pending.discard(known)
        if not pending:
            return set()
        ordered = sorted(pending)
        chunks = [ordered[i:i + LOOKUP_CHUNK] for i in range(0, len(ordered), LOOKUP_CHUNK)]
        found: set[uuid.UUID] = set()
        for chunk in chunks:  # one request at a time: contacts is busy enough during an import
            found |= await self._look_up_many(pool, chunk)
        for customer_id in found:
            self._remember(customer_id)
        return pending - found

    async def _look_up_many(self, pool: asyncpg.Pool, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Ask contacts for up to ``LOOKUP_CHUNK`` customers; remember those it registered, with their
        owners, and return their ids."""
        asked_at = datetime.now(UTC)
        owners = await self._registered(customer_ids)
        if owners:
            ordered = sorted(owners)
            await pool.execute(OQ["record_owners"], ordered, [owners[c] for c in ordered], [asked_at] * len(ordered),
                               "lookup")
        return set(owners)

    async def _registered(self, customer_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """Which of these ids contacts has registered, with their owners (one request)."""
        params: dict[str, list[str] | int] = {"id": [str(c) for c in customer_ids], "limit": len(customer_ids)}
        try:
            response = await self._http.get("/customers", params=params)
        except httpx.HTTPError as exc:
            raise _unavailable(f"contacts is unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise _unavailable(f"contacts answered {response.status_code}")
        asked = set(customer_ids)
        return {cid: item.get("owner") for item in response.json()["items"] if (cid := uuid.UUID(item["id"])) in asked}

    # --- owners, for ownership scopes (shared.scopes) ------------------------------------------

    async def owner_of(self, pool: asyncpg.Pool, customer_id: uuid.UUID) -> str | None:
        """The customer's owner (None: the pool), from the replica, or from contacts when the replica
        has no owner fact yet; raises ``Invalid`` (422) or ``Unavailable`` (503) as ``ensure_known``."""
        row = await pool.fetchrow(OQ["owner_of"], customer_id)
        if row is not None and row["owner_at"] is not None:
            self._remember(customer_id)
            owner: str | None = row["owner"]
            return owner
        return await self._look_up(pool, customer_id)

    async def owners_among(self, pool: asyncpg.Pool, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The owners of those customers contacts registered (the others are left out), asking
        contacts for those without an owner fact here (``LOOKUP_CHUNK`` ids a request)."""
        wanted = set(customer_ids)
        owners: dict[uuid.UUID, str | None] = {}
        for row in await pool.fetch(OQ["owners_among"], list(wanted)):
            if row["owner_at"] is not None:
                owners[uuid.UUID(bytes=row["customer_id"].bytes)] = row["owner"]
        ordered = sorted(wanted - set(owners))
        for i in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[i:i + LOOKUP_CHUNK]
            asked_at = datetime.now(UTC)
            found = await self._registered(chunk)
            if found:
                ids = sorted(found)
                await pool.execute(OQ["record_owners"], ids, [found[c] for c in ids], [asked_at] * len(ids), "lookup")
            owners.update(found)
        return owners

    async def backfill_owners(self, pool: asyncpg.Pool) -> int:
        """Learn the owners of customers known before owners were replicated; returns how many."""
        after, learnt = uuid.UUID(int=0), 0
        while ids := [uuid.UUID(bytes=r["customer_id"].bytes)
                      for r in await pool.fetch(OQ["owners_unknown"], after, LOOKUP_CHUNK)]:
            learnt += len(await self.owners_among(pool, ids))
            after = ids[-1]
        return learnt

    async def resolve(
        self, pool: asyncpg.Pool, identity: IdentityRef, register: bool, name: str | None, *,
        field: str = "customer", idempotency_key: str | None = None, authorization: str | None = None,
    ) -> uuid.UUID:
        """The id of the customer holding ``identity`` (``POST /identities/resolve`` of contacts), or,
        with ``register``, of a potential customer contacts registers holding it.

        A lookup asks with the service's token; a registration with the caller's ``authorization``
        (registering needs their customers:write, and it is theirs) and ``idempotency_key``, so a
        retried request registers nothing twice. Raises ``Invalid`` naming ``<field>.identity``
        (unknown, not registering) or ``<field>.identity.value`` (malformed), ``Forbidden`` (the
        caller may not register), ``Unavailable`` (503: contacts cannot be asked)."""
        body: dict[str, Any] = {"kind": identity.kind, "value": identity.value}
        headers: dict[str, str] = {}
        if register:
            body["register"] = {"name": name} if name else True
            if authorization:
                headers["Authorization"] = authorization
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
        asked_at = datetime.now(UTC)  # the owner fact's time: just before contacts answers
        try:
            response = await self._http.post("/identities/resolve", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"contacts is unreachable ({type(exc).__name__})") from exc
        if response.status_code in (200, 201):
            answer = response.json()
            customer_id = uuid.UUID(answer["customer_id"])
            # contacts' answer carries the owner: the replica learns it as from a lookup
            await pool.execute(OQ["record_owners"], [customer_id], [answer.get("owner")], [asked_at], "lookup")
            self._remember(customer_id)
            return customer_id
        if response.status_code == 404:
            message = f"nobody holds the {identity.kind} {identity.value} in contacts"
            raise Invalid(f"{field}.identity: {message}", title="Unknown customer",
                          errors=[FieldProblem(f"{field}.identity", message, "identity_unknown")])
        if response.status_code == 422:
            problems = response.json().get("errors") or [{"message": response.json().get("detail", "invalid")}]
            first = problems[0]
            raise Invalid(f"{field}.identity.value: {first['message']}", errors=[
                FieldProblem(f"{field}.identity.value", str(first["message"]), first.get("code"))])
        if response.status_code == 403:
            raise Forbidden(f"registering the customer: {response.json().get('detail', 'forbidden')}",
                            missing_permission="customers:write")
        raise _unavailable(f"contacts answered {response.status_code}")

    def _remember(self, customer_id: uuid.UUID) -> None:
        if len(self._confirmed) >= self._cache_size:
            self._confirmed.clear()  # crude but bounded; the replica answers meanwhile
        self._confirmed.add(customer_id)


async def check_customer(request: Request, customer_id: uuid.UUID) -> None:
    """A write route's customer check, before its transaction (``CustomerDirectory.ensure_known``)."""
    directory: CustomerDirectory = request.app.state.directory
    await directory.ensure_known(request.app.state.runtime.pool, customer_id)


async def check_customer_in_scope(request: Request, principal: Principal, customer_id: uuid.UUID) -> None:
    """``check_customer`` for a write, and for a salesperson also the ownership scope (403 ``OutOfScope``)."""
    await ensure_in_scope(request, scope_of(principal), customer_id)


async def ensure_in_scope(request: Request, scope: Scope, customer_id: uuid.UUID) -> None:
    """The customer exists (422/503 as ``check_customer``) and, for a salesperson, is theirs or the pool's."""
    directory: CustomerDirectory = request.app.state.directory
    pool = request.app.state.runtime.pool
    if scope.everyone:
        await directory.ensure_known(pool, customer_id)
        return
    ensure_covers(scope, customer_id, await directory.owner_of(pool, customer_id))


async def ensure_may_see(request: Request, principal: Principal, customer_id: uuid.UUID) -> None:
    """For a read of one customer's records: a salesperson's own customer or the pool's, else 403.
    Everyone else passes without a check (a read must not depend on contacts)."""
    scope = scope_of(principal)
    if not scope.everyone:
        await ensure_in_scope(request, scope, customer_id)


async def ensure_all_in_scope(request: Request, principal: Principal, customer_ids: Sequence[uuid.UUID],
                              field: str) -> None:
    """A batch's customers all in the principal's scope (those contacts never registered are the
    batch check's to refuse); else a 403 naming each item (``field`` as ``orders[{}].customer_id``)."""
    scope = scope_of(principal)
    if scope.everyone:
        return
    directory: CustomerDirectory = request.app.state.directory
    owners = await directory.owners_among(request.app.state.runtime.pool, set(customer_ids))
    outside = [(i, c) for i, c in enumerate(customer_ids) if c in owners and not scope.covers(owners[c])]
    if not outside:
        return
    first = outside[0][1]
    raise Forbidden(
        f"{len(outside)} customer(s) of this batch are looked after by other owners (the first, {first}, by "
        f"{owners[first]}); a salesperson places records only for their own customers (owner {scope.owner}) "
        "and the public pool. Nothing was written.",
        code=OUT_OF_SCOPE, customer_id=str(first), owner=owners[first],
        errors=[FieldProblem(field.format(i), f"customer {c} is looked after by {owners[c]}", OUT_OF_SCOPE)
                for i, c in outside],
    )
def derived_key(idempotency_key: str | None, service: str, identity: IdentityRef) -> str | None:
    """The Idempotency-Key of the registration a request asks of contacts: one per request key and
    identity, so a retried order registers nothing twice, and two identities of one batch differ."""
    if idempotency_key is None:
        return None
    seed = f"{service}\n{idempotency_key}\n{identity.kind}\n{identity.value}".encode()
    return f"{service}-customer-{hashlib.sha256(seed).hexdigest()[:40]}"


async def customer_id_of(
    request: Request, named: NamesCustomer, idempotency_key: str | None, *, service: str, field: str = ""
) -> uuid.UUID:
    """The customer a request names: its ``customer_id``, or the id of the customer its ``customer``
    identity resolves to (registered if asked). Exactly one of the two (else 422 naming the field).
    Before the write's transaction: no connection is held while contacts is asked."""
    prefix = f"{field}." if field else ""
    if named.customer_id is not None and named.customer is not None:
        raise Invalid.field(f"{prefix}customer", "give customer_id or customer, not both")
    if named.customer is not None:
        directory: CustomerDirectory = request.app.state.directory
        ref = named.customer
        return await directory.resolve(
            request.app.state.runtime.pool, ref.identity, ref.register_if_unknown, ref.name,
            field=f"{prefix}customer", idempotency_key=derived_key(idempotency_key, service, ref.identity),
            authorization=request.headers.get("Authorization"))
    if named.customer_id is None:
        raise Invalid(f"{prefix}customer_id: required (or the customer as an identity in `customer`)",
                      errors=[FieldProblem(f"{prefix}customer_id", "required (or give `customer`)", "missing")])
    return named.customer_id


def _unavailable(why: str) -> Unavailable:
    return Unavailable(
        f"cannot confirm the customer id now: {why}; nothing was written, retry later",
        title="Customer check unavailable", retry_after_s=RETRY_AFTER_S,
    )


async def apply_contacts_events(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """Projection of ``kehu.contacts`` into the replica of known customer ids."""
    # Owners first: that statement inserts every registered customer too, so the rows this batch
    # locks are all locked by one statement in id order (the next one finds them there).
    await apply_owner_events(conn, deliveries)
    ids = {d.event.customer_id for d in deliveries if isinstance(d.event, CustomerRegistered)}
    if ids:
        # In id order, like the batch check's lookups: two transactions that insert overlapping ids
        # in different orders deadlock (seen when an import's orders overtook its customers' events).
        await conn.execute(Q["remember_registered"], sorted(ids))


async def apply_owner_events(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    """Projection of ``kehu.contacts`` into the replica of owners (``shared.owners``): the newest
    owner fact of each customer, by the time contacts recorded it."""
    facts = latest_owner_facts((d.event, d.envelope.time) for d in deliveries)
    if facts:
        await record_owner_facts(conn, facts, "event")


async def record_owner_facts(conn: asyncpg.Connection, facts: Sequence[OwnerFact], source: str) -> None:
    await conn.execute(OQ["record_owners"], [f.customer_id for f in facts], [f.owner for f in facts],
                       [f.at for f in facts], source)


OWNER_BACKFILL_RETRY_S = 30.0


async def backfill_owners_forever(app: FastAPI) -> None:
    """A background loop of orders and tickets: once at start, ask contacts for the owners of
    customers known before owners were replicated (until then a salesperson's lists leave them
    out, and single reads ask contacts). Retries while contacts is down."""
    directory: CustomerDirectory | None = app.state.directory
    if directory is None:
        return
    backoff = Backoff(first=1.0, cap=OWNER_BACKFILL_RETRY_S)
    while True:
        try:
            learnt = await directory.backfill_owners(app.state.runtime.pool)
        except Exception as exc:  # contacts or the database down: try again later, never give up silently
            log.warning("owner backfill failed (%s); retrying", exc)
            await backoff.wait()
            continue
        if learnt:
            log.info("owner backfill: learnt the owners of %d customer(s) from contacts", learnt)
        return
