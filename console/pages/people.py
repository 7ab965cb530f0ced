"""People (admins only): the accounts that sign in, adding one, disabling, setting a new password.

The console's own data, so the page uses the same functions as ``/api/people`` (``people_api``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from console import accounts, store
from console.accounts import NewPerson
from console.people_api import add_person
from console.web import Viewer, check_csrf, render, require_page, viewer
from shared.errors import Conflict, KehuError

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "display_name", "role", "owner", "locale", "password")


async def _page(request: Request, who: Viewer, *, status: int = 200, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None) -> HTMLResponse:
    async with request.app.state.pool.acquire() as conn:
        everyone = await store.people(conn)
    return render(request, "people.html", who, status=status, people=everyone, values=values or {"role": "sales"},
                  errors=errors or {}, roles=accounts.ROLES, notice=notice)


@router.get("/people", response_class=HTMLResponse)
async def people(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, "people:admin")
    done = request.query_params.get("done")
    return await _page(request, who, notice=who.texts.gettext("Saved.") if done else None)


@router.post("/people", response_model=None)
async def add(request: Request, who: Viewer = Depends(viewer)) -> Response:
    require_page(who, "people:admin")
    form = await check_csrf(request, who)
    values = {k: form.get(k, "") for k in FIELDS}
    try:
        body = NewPerson(**{k: v for k, v in values.items() if v or k in ("name", "password", "role")})
        async with request.app.state.pool.acquire() as conn:
            await add_person(conn, body, datetime.now(UTC))
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"].removeprefix("Value error, ") for e in exc.errors()}
        return await _page(request, who, status=422, values={**values, "password": ""}, errors=errors)
    except Conflict:
        return await _page(request, who, status=409, values={**values, "password": ""},
                           errors={"name": who.texts.gettext("An account with this name exists.")})
    return RedirectResponse("/people?done=1", status_code=303)


@router.post("/people/{name}", response_model=None)
async def change(request: Request, name: str, who: Viewer = Depends(viewer)) -> Response:
    """One account's buttons: disable, enable, or a new password."""
    require_page(who, "people:admin")
    form = await check_csrf(request, who)
    now = datetime.now(UTC)
    action = form.get("action")
    async with request.app.state.pool.acquire() as conn:
        if action in ("disable", "enable"):
            if action == "disable" and name == who.person.name:
                return await _page(request, who, status=409, notice=who.texts.gettext("You cannot disable yourself."))
            await store.set_disabled(conn, name, action == "disable", now)
        elif action == "password":
            try:
                accounts.check_password(form.get("password", ""), field="password")
            except KehuError:
                return await _page(request, who, status=422, notice=who.texts.gettext(
                    "A password has %(low)s to %(high)s characters.", low=accounts.PASSWORD_MIN,
                    high=accounts.PASSWORD_MAX))
            hashed = await asyncio.to_thread(accounts.hash_password, form["password"])
            await store.set_password(conn, name, hashed, now)
    return RedirectResponse("/people?done=1", status_code=303)
