"""``/api/people``: the accounts people sign in with, for ``kehu user`` and the People page.

An API token or a person with the admin role may call it; every write takes an Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from console import accounts, store
from console.accounts import NewPerson, Person
from shared.auth import Principal
from shared.errors import Conflict, FieldProblem, NotFound
from shared.http import IdempotencyKeyHeader, Problem, Reply, json_response, require
from shared.writes import write_once

router = APIRouter(prefix="/api/people", tags=["people"])
NameParam = Annotated[str, PathParam(pattern=accounts.NAME_PATTERN, description="The sign-in name.")]


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str
    display_name: str
    role: accounts.Role
    owner: str | None
    locale: accounts.Locale
    disabled: bool
    created_at: datetime


class PeopleOut(BaseModel):
    items: list[PersonOut]


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=accounts.PASSWORD_MIN, max_length=accounts.PASSWORD_MAX)


def _out(person: Person) -> dict[str, object]:
    return PersonOut(**person.__dict__).model_dump(mode="json")


async def add_person(conn: asyncpg.Connection, body: NewPerson, now: datetime) -> Person:
    """The one way an account is made (the API, the People page and ``kehu up``'s dev admin)."""
    person = Person(id=uuid.uuid4(), name=body.name, display_name=body.display_name or body.name, role=body.role,
                    owner=body.owner, locale=body.locale, disabled=False, created_at=now)
    password_hash = await asyncio.to_thread(accounts.hash_password, body.password)
    if not await store.insert_person(conn, person, password_hash):
        raise Conflict(f"an account named {body.name!r} exists",
                       errors=[FieldProblem("name", "an account with this name exists")])
    return person


@router.get("", response_model=PeopleOut, summary="Every account, by name")
async def list_people(request: Request, _: Principal = require("people:admin")) -> Response:
    async with request.app.state.runtime.pool.acquire() as conn:
        return json_response(200, {"items": [_out(p) for p in await store.people(conn)]})


@router.post("", status_code=201, response_model=PersonOut, summary="Add an account",
             responses={409: {"model": Problem, "description": "the name is taken"}})
async def create_person(body: NewPerson, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("people:admin")) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        person = await add_person(conn, body, datetime.now(UTC))
        return Reply(201, _out(person), {"Location": f"/api/people/{person.name}"})

    return await write_once(request, principal, idempotency_key, write)


@router.put("/{name}/password", response_model=PersonOut, summary="Set a new password (ends the person's sessions)")
async def change_password(name: NameParam, body: NewPassword, request: Request,
                          idempotency_key: IdempotencyKeyHeader = None,
                          principal: Principal = require("people:admin")) -> Response:
    password_hash = await asyncio.to_thread(accounts.hash_password, body.password)

    async def write(conn: asyncpg.Connection) -> Reply:
        if not await store.set_password(conn, name, password_hash, datetime.now(UTC)):
            raise NotFound(f"no account named {name!r}")
        return await _reply(conn, name)

    return await write_once(request, principal, idempotency_key, write)


@router.post("/{name}/disable", response_model=PersonOut, summary="Disable an account (ends its sessions at once)")
async def disable_person(name: NameParam, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                         principal: Principal = require("people:admin")) -> Response:
    return await _set_disabled(request, principal, idempotency_key, name, True)


@router.post("/{name}/enable", response_model=PersonOut, summary="Enable a disabled account again")
async def enable_person(name: NameParam, request: Request, idempotency_key: IdempotencyKeyHeader = None,
                        principal: Principal = require("people:admin")) -> Response:
    return await _set_disabled(request, principal, idempotency_key, name, False)


async def _set_disabled(request: Request, principal: Principal, key: str | None, name: str, disabled: bool) -> Response:
    async def write(conn: asyncpg.Connection) -> Reply:
        if not await store.set_disabled(conn, name, disabled, datetime.now(UTC)):
            raise NotFound(f"no account named {name!r}")
        return await _reply(conn, name)

    return await write_once(request, principal, key, write)


async def _reply(conn: asyncpg.Connection, name: str) -> Reply:
    found = await store.person_by_name(conn, name)
    assert found is not None  # changed in this transaction
    return Reply(200, _out(found[0]))


async def ensure_dev_admin(pool: asyncpg.Pool, password_file: Path) -> None:
    """``kehu up`` on a machine with no account yet: an ``admin`` with the password of the file
    (the banner says where it is), as the dev token is for the APIs."""
    password = (await asyncio.to_thread(password_file.read_text, encoding="utf-8")).strip()
    async with pool.acquire() as conn:
        if await store.count_people(conn):
            return
        body = NewPerson(name="admin", display_name="Admin", role="admin", password=password)
        try:
            await add_person(conn, body, datetime.now(UTC))
        except Conflict:
            pass  # another console replica made it at the same moment
