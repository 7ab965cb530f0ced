"""Follow-ups (定人定时) over HTTP: log one, list a customer's, and what is due for an owner."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.contacts.domain import follow_ups as domain
from services.contacts.store import follow_ups as store
from shared.auth import Principal
from shared.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from shared.events import BUSINESS_TIME_PATTERN, BusinessTime, FollowUpOutcome, new_id
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.outbox import append
from shared.scopes import OUT_OF_SCOPE, ensure_covers, scope_of
from shared.writes import write_once

router = APIRouter(tags=["follow-ups"])
T = TypeVar("T")

_DATE = r"^(19|2[0-9])[0-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_BUSINESS_TIME: TypeAdapter[datetime] = TypeAdapter(BusinessTime)
AsOf = Annotated[str | None, Query(
    description="The moment the list is for (default now): an RFC 3339 time with its UTC offset, or a date "
    "(YYYY-MM-DD, that day of the shop). Its day in the shop's time zone (KEHU_TIMEZONE) is \"today\".",
    json_schema_extra={"anyOf": [{"format": "date", "pattern": _DATE},
                                 {"format": "date-time", "pattern": BUSINESS_TIME_PATTERN}]})]
CUSTOMER_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "the customer belongs to another owner (a salesperson's scope)"},
    404: {"model": Problem, "description": "no such customer"},
}


class FollowUpPage(BaseModel):
    items: list[domain.FollowUp]
    next_cursor: str | None


class LastFollowUp(BaseModel):
    by: str
    channel: str
    outcome: FollowUpOutcome
    note: str


class DueFollowUp(BaseModel):
    customer_id: uuid.UUID
    name: str
    phone: str | None
    category: str
    owner: str | None
    next_follow_up_due: date
    days_overdue: int = Field(description="Shop days since it was due: 0 due today, 3 three days late, "
                              "negative when due later (within_days).")
    last_follow_up_at: datetime | None
    last_follow_up: LastFollowUp | None = Field(description="What was said last time.")


class DuePage(BaseModel):
    as_of_day: date = Field(description="The shop's day of as_of.")
    due_by: date = Field(description="The last due day listed: as_of_day + within_days.")
    owner: str | None = Field(description="Whose customers; null: everyone's.")
    items: list[DueFollowUp]
    next_cursor: str | None


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.runtime.settings.timezone)


@router.post(
    "/customers/{customer_id:uuid}/follow-ups",
    status_code=201,
    response_model=domain.FollowUp,
    summary="Log a follow-up of a customer",
    description="Who followed the customer up, when, how, what came of it and when the next follow-up is due. "
    "The customer's `last_follow_up_at` becomes the latest follow-up's time and `next_follow_up_due` what the "
    "latest follow-up planned: logging the latest follow-up without `next_due` clears the due date (nothing more "
    "planned); a follow-up logged late for an earlier time changes neither. Publishes `FollowUpLogged`.",
    responses={**CUSTOMER_ERRORS, 409: {"model": Problem, "description": "the customer was merged into another"}},
)
async def log_follow_up(
    customer_id: uuid.UUID,
    body: domain.NewFollowUp,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    principal: Principal = require("customers:write"),
) -> Response:
    scope = scope_of(principal)
    by = domain.author(body.by, caller=principal.name, scoped=not scope.everyone)
    follow_up, event = domain.log_follow_up(body, follow_up_id=new_id(), customer_id=customer_id, by=by,
                                            now=datetime.now(UTC), zone=_zone(request))

    async def write(conn: asyncpg.Connection) -> Reply:
        customer = await store.lock_customer(conn, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope, customer_id, customer.owner)
        if customer.merged_into is not None:
            raise Conflict(f"customer {customer_id} was merged into {customer.merged_into}: log the follow-up there",
                           survivor_id=str(customer.merged_into))
        await store.insert_follow_up(conn, follow_up)
        await store.set_state(conn, customer_id, domain.after(customer.state, follow_up))
        await append(conn, event)
        return Reply(201, follow_up.model_dump(mode="json"),
                     {"Location": f"/customers/{customer_id}/follow-ups/{follow_up.id}"})

    return await write_once(request, principal, idempotency_key, write)


@router.get(
    "/customers/{customer_id:uuid}/follow-ups",
    response_model=FollowUpPage,
    summary="A customer's follow-ups, newest first",
    responses=CUSTOMER_ERRORS,
)
async def list_follow_ups(
    customer_id: uuid.UUID,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the page before.")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    after = _decode(cursor, datetime.fromisoformat)
    async with request.app.state.runtime.pool.acquire() as conn:
        exists, owner = await store.customer_owner(conn, customer_id)
        if not exists:
            raise NotFound(f"no customer {customer_id}")
        ensure_covers(scope_of(principal), customer_id, owner)
        items = await store.follow_ups_of(conn, customer_id, after=after, limit=limit)
    next_cursor = _encode(items[-1].occurred_at.isoformat(), items[-1].id) if len(items) == limit else None
    return json_response(200, {"items": [f.model_dump(mode="json") for f in items], "next_cursor": next_cursor})


@router.get(
    "/follow-ups/due",
    response_model=DuePage,
    summary="Customers whose next follow-up is due or overdue",
    description="Customers whose `next_follow_up_due` is on or before the shop's day of `as_of` (plus "
    "`within_days`), most overdue first, each with the days overdue and what was said last time. A salesperson "
    "sees their own (the default `owner`); another owner's list is a 403. Managers ask for any owner, or leave "
    "`owner` out for everyone's.",
    responses={403: {"model": Problem, "description": "a salesperson asked for another owner's list"}},
)
async def due_follow_ups(
    request: Request,
    owner: Annotated[str | None, Query(min_length=1, max_length=64, description="Whose customers (the owner id "
                                       "customers carry). Default: a salesperson's own; everyone's for others.")] = None,
    as_of: AsOf = None,
    within_days: Annotated[int, Query(ge=0, le=domain.MAX_WITHIN_DAYS,
                                      description="Also list what falls due in the next N days.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the page before.")] = None,
    principal: Principal = require("customers:read"),
) -> Response:
    zone = _zone(request)
    moment = _parse_as_of(as_of, zone)
    scope = scope_of(principal)
    if not scope.everyone:
        if owner is not None and owner != scope.owner:
            mine = f"your own (owner {scope.owner})" if scope.owner else "none (you have no owner id)"
            raise Forbidden(f"a salesperson sees the follow-ups due of {mine}, not those of {owner}: ask {owner} "
                            "or a manager", code=OUT_OF_SCOPE, owner=owner)
        owner = scope.owner_filter
    after = _decode(cursor, date.fromisoformat)
    by_day = domain.due_by(moment, zone, within_days)
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await store.due(conn, by_day=by_day, owner=owner, after=after, limit=limit)
    items = [_due_item(r, moment, zone) for r in rows]
    next_cursor = _encode(rows[-1]["next_follow_up_due"].isoformat(), rows[-1]["id"]) if len(rows) == limit else None
    page = DuePage(as_of_day=moment.astimezone(zone).date(), due_by=by_day, owner=owner, items=items,
                   next_cursor=next_cursor)
    return json_response(200, page.model_dump(mode="json"))


def _due_item(r: dict[str, Any], moment: datetime, zone: ZoneInfo) -> DueFollowUp:
    last = (LastFollowUp(by=r["last_by"], channel=r["last_channel"], outcome=r["last_outcome"], note=r["last_note"])
            if r["last_by"] is not None else None)
    return DueFollowUp(customer_id=r["id"], name=r["name"], phone=r["phone"], category=r["category"],
                       owner=r["owner"], next_follow_up_due=r["next_follow_up_due"],
                       days_overdue=domain.days_overdue(r["next_follow_up_due"], moment, zone),
                       last_follow_up_at=r["last_follow_up_at"], last_follow_up=last)


def _parse_as_of(value: str | None, zone: ZoneInfo) -> datetime:
    """Now, an RFC 3339 time, or a date: noon of that shop day (any time of the day names the day)."""
    if value is None:
        return datetime.now(UTC)
    try:
        if re.fullmatch(_DATE, value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time().replace(hour=12), zone)
        return _BUSINESS_TIME.validate_python(value)
    except ValidationError as exc:
        raise Invalid.field("query.as_of", exc.errors()[0]["msg"]) from exc
    except ValueError as exc:  # a date that does not exist: 2026-02-30
        raise Invalid.field("query.as_of", str(exc)) from exc


def _encode(position: str, last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{position}|{last_id}".encode()).decode()


def _decode(cursor: str | None, parse: Callable[[str], T]) -> tuple[T, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        position, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return parse(position), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not one this API gave out",
                      errors=[FieldProblem("query.cursor", "invalid cursor")]) from exc
