"""The HTTP conventions every service follows (docs/architecture.md §10), in one place.

Problem details (RFC 9457) for every error, bearer auth with roles, ``Idempotency-Key`` on
writes, a server span per request (W3C ``traceparent`` honoured), and the standard endpoints:
``/health/live``, ``/health/ready``, ``/metrics``, ``/openapi.json``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.auth import Principal, TokenStore
from shared.db import UNAVAILABLE_ERRORS, database_unavailable, describe
from shared.edge import BodyLimit, allowed_methods, checked_input, declare_problems
from shared.errors import FieldProblem, Forbidden, Invalid, KehuError, Unauthorized, Unavailable
from shared.events import BusinessTime
from shared.identity import PREFIX as PERSON_TOKEN_PREFIX
from shared.identity import NoIdentityKey, PersonTokenInvalid, TrustedKey
from shared.sql import load_queries

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)

# A server closes an idle connection after SERVER_KEEP_ALIVE_S; a client that reuses one at that
# very moment gets a dropped request (httpx.ReadError). Clients let theirs go well before.
SERVER_KEEP_ALIVE_S = 5
CLIENT_LIMITS = httpx.Limits(max_connections=64, keepalive_expiry=SERVER_KEEP_ALIVE_S / 2)


# --- responses and errors -------------------------------------------------------------------


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class FieldError(BaseModel):
    field: str = Field(description="Where in the request: `lines[0].quantity`, `body`, `header.Idempotency-Key`.")
    message: str
    code: str | None = Field(None, description="The kind of problem, for a client that words it in its own "
                             "language: pydantic's error type (`missing`, `string_too_short`, "
                             "`decimal_parsing`, ...) or kehu's (`phone_invalid`, `in_future`).")
    context: dict[str, Any] | None = Field(None, description="The rule's values, e.g. `{\"min_length\": 1}`.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("body", "lines", 0, "quantity")`` → ``lines[0].quantity``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        if where != "body":
            parts.insert(0, where)
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            errors.append({"field": "body", "message": f"malformed JSON: {err.get('ctx', {}).get('error', err['msg'])}"})
        else:
            context = {k: v if isinstance(v, int | float | str | bool) else str(v)
                       for k, v in (err.get("ctx") or {}).items() if k != "error"}
            errors.append({"field": field_path(loc), "message": err["msg"], "code": err.get("type"),
                           **({"context": context} if context else {})})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(422, "Invalid request", detail, errors=errors)


async def _on_problem(_: Request, exc: Exception) -> Response:
    """The one place an expected failure (``shared.errors.KehuError``) becomes an HTTP answer."""
    assert isinstance(exc, KehuError)
    errors = ([{"field": e.field, "message": e.message, **({"code": e.code} if e.code else {})} for e in exc.errors]
              if exc.errors is not None else None)
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, errors=errors, extra=exc.extra)


async def _on_database_down(request: Request, exc: Exception) -> Response:
    """The database restarted, hung or ran out of connections: 503 with Retry-After, not a 500.
    Any other error of these kinds is a bug and stays one (re-raised: 500, logged)."""
    if not database_unavailable(exc):
        raise exc
    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, describe(exc))
    return await _on_problem(request, Unavailable(
        f"the database is unavailable ({type(exc).__name__}); the request may not have been applied: "
        "retry it (with the same Idempotency-Key)", title="Database unavailable"))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's answer to a JSON body that is not UTF-8: a malformed body like any other.
        return problem_response(422, "Invalid request", "body: malformed JSON (not UTF-8)",
                                errors=[{"field": "body", "message": "malformed JSON: not UTF-8"}])
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the methods of the first route of the path only
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(exc.status_code, "HTTP error")
    return problem_response(exc.status_code, title, str(exc.detail), headers=headers)


# --- auth -----------------------------------------------------------------------------------


# Declares the scheme in the OpenAPI document (Swagger's "Authorize", clients' generators); the
# refusal is ours, as problem details.
_BEARER = HTTPBearer(
    auto_error=False,
    description="An API token from `kehu token add` or `.kehu/dev-token`, or a person token (`kp1.…`) "
    "the console signs for a signed-in person.",
)


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send `Authorization: Bearer <token>`", headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials.strip()
    if token.startswith(PERSON_TOKEN_PREFIX):
        return _person(request.app.state.identity, token)
    tokens: TokenStore = request.app.state.tokens
    principal = tokens.authenticate(token)
    if principal is None:
        raise Unauthorized("the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return principal


def _person(identity: TrustedKey, token: str) -> Principal:
    """The person a console-signed token names (``shared.identity``), or a 401 that says why not."""
    try:
        claims = identity.verify(token, now=time.time())
    except NoIdentityKey as exc:
        raise Unauthorized(str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    except PersonTokenInvalid as exc:
        raise Unauthorized(
            f"the person token is not valid: {exc.reason} ({exc.detail})", reason=exc.reason,
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.reason}"'},
        ) from None
    return Principal(name=claims.name, role=claims.role, person=claims.sub, owner=claims.owner)


def require(permission: str) -> Any:
    """A dependency that admits principals whose role grants ``permission`` (else 401/403)."""

    async def check(  # async: a sync dependency runs in a threadpool
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(_BEARER)
    ) -> Principal:
        principal = _principal(request, credentials)
        if not principal.may(permission):
            raise Forbidden(f"role {principal.role!r} lacks the permission {permission!r}",
                            missing_permission=permission)
        return principal

    return Depends(check)


# --- idempotency ----------------------------------------------------------------------------

Q = load_queries(Path(__file__).parent / "sql" / "idempotency.sql")

AsOf = Annotated[BusinessTime | None, Query(description="RFC 3339 with its offset; default now.")]
"""The moment a time rule is evaluated at (``?as_of=``): every time rule takes one."""

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200,
           description="Retry-safety: the same key and body return the first response and create nothing."),
]


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def idempotent(
    pool: asyncpg.Pool,
    request: Request,
    principal: Principal,
    key: str | None,
    write: Callable[[asyncpg.Connection], Awaitable[Reply]],
    after_commit: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Run ``write`` in one transaction, remembering its reply under ``key`` in that transaction.

    A retry with the same key and body returns the stored reply (status, body and the headers the
    route set: ETag, Location) and writes nothing; the same key
    with another body is refused (409). Two concurrent requests with one key serialise on the key's
    row: the second waits for the first to commit, then replays its reply.
    """
    async with pool.acquire() as conn, conn.transaction():
        if key is not None:
            fingerprint = hashlib.sha256(
                request.method.encode() + b" " + request.url.path.encode() + b"\n" + await request.body()
            ).hexdigest()
            if not await conn.fetchval(Q["claim_key"], principal.scope, key, fingerprint):
                stored = await conn.fetchrow(Q["stored_reply"], principal.scope, key)
                if stored["request_hash"] != fingerprint:
                    raise Invalid(
                        "this Idempotency-Key was already used for a different request", title="Idempotency-Key reused",
                        errors=[FieldProblem("header.Idempotency-Key", "already used with another body")],
                    )
                replayed = {**(stored["headers"] or {}), "Idempotent-Replayed": "true"}
                return json_response(stored["status_code"], stored["response"], replayed)
        reply = await write(conn)
        if key is not None:
            await conn.execute(Q["remember_reply"], principal.scope, key, reply.status, reply.body, reply.headers)
    if after_commit is not None:
        await after_commit()
    return json_response(reply.status, reply.body, reply.headers)


# --- standard endpoints ---------------------------------------------------------------------


class Readiness(BaseModel):
    status: str = Field(description="`ready`, or `not ready` (503) when a check is not `ok`.")
    checks: dict[str, str] = Field(description="`database` and `broker`: `ok`, or what is wrong.")


def standard_router(readiness: Callable[[Request], Awaitable[dict[str, str]]]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/health/ready", summary="Database and broker reachable", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "Not ready: the checks say what is down"}})
    async def ready(request: Request) -> Response:
        checks = await readiness(request)
        ok = all(v == "ok" for v in checks.values())
        return json_response(200 if ok else 503, {"status": "ready" if ok else "not ready", "checks": checks})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_service_app(
    *, title: str, description: str, version: str, lifespan: Any, max_body_bytes: int
) -> FastAPI:
    """The FastAPI app every service builds on: error rendering, input checks, body limit, docs.

    ``/docs`` serves Swagger UI from the installed ``fastapi-offline`` package (no CDN: it works
    offline); it, ``/openapi.json``, ``/health/*`` and ``/metrics`` need no token, since they carry
    no customer data. Every other route declares its permission with ``require``.
    """
    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None},  # the badge would call validator.swagger.io
        dependencies=[Depends(checked_input)],
        # FastAPI's native OpenTelemetry: a server span per request (parented on an incoming
        # `traceparent`) and the standard HTTP metrics. Per-operation spans (dependencies,
        # serialisation) cost CPU on every request and are left off; so are its logs (ours are
        # JSON lines with the trace id).
        telemetry={
            "tracing": True,
            "metrics": True,
            "logs": False,
            "operation_spans": False,
            "exclude": _untraced,
        },
    )
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(KehuError, _on_problem)
    for kind in (*UNAVAILABLE_ERRORS, asyncpg.InterfaceError):
        app.add_exception_handler(kind, _on_database_down)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, refuse=problem_response)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problems(generate(), Problem)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith(("/health/", "/metrics"))
