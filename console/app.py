"""The console: the pages people sign in to. Wiring only.

It owns no business data: pages read and write through the four services' public APIs, as the
signed-in person (``services.py``), and follow the topics only to know when to refresh
(``live.py``). Its own database holds the accounts and sessions (``migrations/``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from console import live, pages, people_api, signin, store
from console.forms import refusal
from console.live import LiveFeed
from console.people_api import ensure_dev_admin
from console.services import PersonTokens, ServiceDown, ServiceRefused, Services
from console.timing import ServerTiming
from console.web import (
    CsrfRefused,
    PageForbidden,
    SignInRequired,
    Viewer,
    render,
    sign_in_redirect,
    texts_for,
    viewer,
)
from shared.errors import KehuError
from shared.http import create_service_app, standard_router
from shared.runtime import ServiceRuntime, __version__, readiness
from shared.settings import SERVICES, Settings, identity_key_path, service_url

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def create_app(settings: Settings | None = None, *, database: str | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await ServiceRuntime.start("console", settings, HERE / "migrations", publishes=False,
                                             database=database)
        app.state.runtime = runtime
        app.state.tokens = runtime.tokens
        app.state.pool = runtime.pool
        app.state.services = Services({name: service_url(settings, name) for name in SERVICES},
                                      PersonTokens.from_file(identity_key_path(settings)))
        app.state.live = LiveFeed(settings.kafka_bootstrap or "")
        app.state.live.start()
        if getattr(app.state, "own_process", False):  # `kehu serve console`, not a test's server
            app.state.live.end_streams_on_signals()
        if settings.console_dev_admin_password_file is not None:
            await ensure_dev_admin(runtime.pool, settings.console_dev_admin_password_file)
        try:
            yield
        finally:
            await app.state.live.stop()
            await app.state.services.close()
            await runtime.stop()

    app = create_service_app(
        title="kehu console",
        description="The pages people sign in to, and `/api/people` (the accounts) for `kehu user`.",
        version=__version__, lifespan=lifespan, max_body_bytes=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.add_middleware(ServerTiming)  # outermost of ours: its total includes the body limit and the rest
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (signin.router, live.router, *pages.routers, people_api.router):
        app.include_router(router)
    app.include_router(standard_router(readiness))
    _page_errors(app)
    return app


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/health/", "/metrics", "/docs", "/openapi.json"))


async def _awaited(result: Response | Awaitable[Response]) -> Response:
    return await result if inspect.isawaitable(result) else result


async def _out_of_scope(request: Request, exc: ServiceRefused) -> Response:
    """The page of a customer outside the salesperson's scope: whose customer it is (by the name
    the console knows the owner by, when it does) and whom to ask; with the menus, so the person
    goes on from there."""
    try:
        who: Viewer | None = await viewer(request)
    except SignInRequired:
        who = None
    problem = dict(exc.problem)
    owner = problem.get("owner")
    if owner:
        async with request.app.state.pool.acquire() as conn:
            shown = {p.owner: p.display_name for p in await store.people(conn) if p.owner}
        if shown.get(owner):
            problem["owner"] = f"{shown[owner]} ({owner})"
    texts = who.texts if who else texts_for(request)
    return render(request, "error.html", who, status=403, kind="out_of_scope", detail=refusal(problem, texts))


def _page_errors(app: FastAPI) -> None:
    """Pages answer errors with a page in the person's language; ``/api/`` keeps problem details."""
    api_problem = app.exception_handlers[KehuError]
    api_invalid = app.exception_handlers[RequestValidationError]

    async def sign_in_needed(request: Request, _: Exception) -> Response:
        return sign_in_redirect(request)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return render(request, "error.html", None, status=403, kind="forbidden", permission=exc.permission)

    async def csrf(request: Request, _: Exception) -> Response:
        return render(request, "error.html", None, status=403, kind="csrf")

    async def service_down(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceDown)
        log.warning("page %s: %s", request.url.path, exc)
        return render(request, "error.html", None, status=503, kind="service_down", service=exc.service)

    async def refused(request: Request, exc: Exception) -> Response:
        """A service said no to something the page asked on its own (not a form): say what it said."""
        assert isinstance(exc, ServiceRefused)
        log.warning("page %s: %s", request.url.path, exc)
        if exc.out_of_scope:  # another owner's customer: say whose, and whom to ask, in the person's words
            return await _out_of_scope(request, exc)
        return render(request, "error.html", None, status=exc.status, kind="problem", detail=exc.detail)

    async def problem(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _awaited(api_problem(request, exc))
        assert isinstance(exc, KehuError)
        return render(request, "error.html", None, status=exc.status, kind="problem", detail=exc.detail)

    async def invalid(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _awaited(api_invalid(request, exc))
        texts = texts_for(request)
        return render(request, "error.html", None, status=422, kind="problem",
                      detail=texts.gettext("The address or form has a value the console cannot use."))

    app.add_exception_handler(SignInRequired, sign_in_needed)
    app.add_exception_handler(PageForbidden, forbidden)
    app.add_exception_handler(CsrfRefused, csrf)
    app.add_exception_handler(ServiceDown, service_down)
    app.add_exception_handler(ServiceRefused, refused)
    app.add_exception_handler(KehuError, problem)
    app.add_exception_handler(RequestValidationError, invalid)
