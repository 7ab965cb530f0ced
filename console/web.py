"""What every page shares: templates, the signed-in person, CSRF, and how pages answer errors.

One route answers with the whole page or, when the page's script asks for a part of it
(``X-Kehu-Fragment: <name>``), with that part only: the same template renders both (the part is
a ``{% block %}``), so a refreshed part never differs from a loaded one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from console import accounts, store
from console.accounts import Person, SessionRule
from console.i18n import Texts, negotiate
from console.services import Missing, Services
from shared.auth import Principal

SESSION_COOKIE = "kehu_session"
LANGUAGE_COOKIE = "kehu_lang"
FRAGMENT_HEADER = "X-Kehu-Fragment"
_TEMPLATES = Path(__file__).parent / "templates"

templates = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


@pass_context
def _pair(context: Context, key: str, word_context: str) -> tuple[str, str]:
    """``options|map("pair", "segment")``: (value, its label in the page's language) for a select."""
    return key, context["pgettext"](word_context, key)


templates.filters["pair"] = _pair


def _local(value: str | datetime | None, zone: ZoneInfo, fmt: str) -> str:
    if not value:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(zone).strftime(fmt)


@pass_context
def _when(context: Context, value: str | datetime | None) -> str:
    """``2026-12-07 09:30`` in the shop's time zone (KEHU_TIMEZONE), as a clerk reads a clock."""
    return _local(value, context["zone"], "%Y-%m-%d %H:%M")


@pass_context
def _day(context: Context, value: str | datetime | None) -> str:
    """``2026-12-07``: the shop's calendar day of a time (a sale at 23:30 is that day's sale)."""
    return _local(value, context["zone"], "%Y-%m-%d")


templates.filters["when"] = _when
templates.filters["day"] = _day


class SignInRequired(Exception):
    """No live session: pages go to sign-in (and come back), fragments say so with a 401."""


class PageForbidden(Exception):
    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


class CsrfRefused(Exception):
    pass


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page, with their language and the session's CSRF token."""

    person: Person
    csrf_token: str
    texts: Texts

    @property
    def principal(self) -> Principal:
        return Principal(self.person.name, self.person.role)

    def may(self, permission: str) -> bool:
        return self.principal.may(permission)


def session_rule(request: Request) -> SessionRule:
    settings = request.app.state.settings
    return SessionRule(idle=timedelta(minutes=settings.console_session_idle_minutes),
                       longest=timedelta(days=settings.console_session_max_days))


def texts_for(request: Request, person: Person | None = None) -> Texts:
    return Texts(negotiate(person.locale if person else None, request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language")))


async def viewer(request: Request) -> Viewer:
    """The dependency of every signed-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    now = datetime.now(UTC)
    digest = accounts.session_digest(token)
    async with request.app.state.pool.acquire() as conn:
        found = await store.session_person(conn, digest)
        if found is None:
            raise SignInRequired
        person, csrf_token, seen_at, expires_at = found
        if not accounts.session_alive(seen_at, expires_at, session_rule(request), now):
            await store.delete_session(conn, digest)
            raise SignInRequired
        await store.touch_session(conn, digest, now)
    return Viewer(person, csrf_token, texts_for(request, person))


def require_page(viewer: Viewer, permission: str) -> None:
    if not viewer.may(permission):
        raise PageForbidden(permission)


async def check_csrf(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The posted form, once its CSRF token is the session's (forms carry it in ``csrf``, scripts
    in the ``X-CSRF-Token`` header)."""
    form = await request.form()
    given = request.headers.get("x-csrf-token") or form.get("csrf")
    if not accounts.csrf_matches(viewer.csrf_token, given if isinstance(given, str) else None):
        raise CsrfRefused
    return {k: v for k, v in form.items() if isinstance(v, str)}


def fragment_of(request: Request) -> str | None:
    return request.headers.get(FRAGMENT_HEADER)


def render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any) -> HTMLResponse:
    texts = viewer.texts if viewer else texts_for(request)
    page = templates.get_template(template)
    values = {
        "request": request, "viewer": viewer, "t": texts, "_": texts.gettext, "gettext": texts.gettext,
        "ngettext": texts.ngettext, "pgettext": texts.pgettext, "path": request.url.path,
        "csrf": viewer.csrf_token if viewer else getattr(request.state, "login_csrf", ""),
        "new_key": lambda: str(uuid.uuid4()), "Missing": Missing,
        "zone": ZoneInfo(request.app.state.settings.timezone), **context,
    }
    wanted = fragment_of(request)
    if wanted and wanted in page.blocks:
        body = "".join(page.blocks[wanted](page.new_context(values)))
    else:
        body = page.render(values)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Vary": FRAGMENT_HEADER})


def sign_in_redirect(request: Request) -> Response:
    if fragment_of(request) or request.headers.get("accept") == "text/event-stream":
        return Response(status_code=401, headers={"X-Kehu-Sign-In": "/sign-in"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # the page's script keeps what was typed (see static/console.js)
        target = request.headers.get("referer", "/").split(request.headers.get("host", ""), 1)[-1] or "/"
    return RedirectResponse(f"/sign-in?next={quote(accounts.safe_next(target))}", status_code=303)


def services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
