"""The HTTP conventions every service follows (DESIGN §10), in one place.

Problem details (RFC 9457) for every error, bearer auth with roles, ``Idempotency-Key`` on
writes, a server span per request (W3C ``traceparent`` honoured), and the standard endpoints:
``/health/live``, ``/health/ready``, ``/metrics``, ``/openapi.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.auth import Principal, TokenStore
from shared.errors import FieldProblem, Invalid, KehuError
from shared.sql import load_queries

PROBLEM_JSON = "application/problem+json"


# --- responses and errors -------------------------------------------------------------------


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Unauthorized(KehuError):
    """No valid bearer token (401, with ``WWW-Authenticate``)."""

    status = 401
    title = "Unauthorized"


class Forbidden(KehuError):
    """The principal's role lacks the permission (403, naming it)."""

    status = 403
    title = "Forbidden"


class FieldError(BaseModel):
    field: str = Field(description="Where in the request: `lines[0].quantity`, `body`, `header.Idempotency-Key`.")
    message: str


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
    errors: list[dict[str, str]] | None = None,
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
    errors = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            errors.append({"field": "body", "message": f"malformed JSON: {err.get('ctx', {}).get('error', err['msg'])}"})
        else:
            errors.append({"field": field_path(loc), "message": err["msg"]})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(422, "Invalid request", detail, errors=errors)


async def _on_problem(_: Request, exc: Exception) -> Response:
    """The one place an expected failure (``shared.errors.KehuError``) becomes an HTTP answer."""
    assert isinstance(exc, KehuError)
    errors = [{"field": e.field, "message": e.message} for e in exc.errors] if exc.errors is not None else None
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, errors=errors, extra=exc.extra)


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem_response(exc.status_code, title, str(exc.detail), headers=exc.headers)


# --- auth -----------------------------------------------------------------------------------


def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send `Authorization: Bearer <token>`", headers={"WWW-Authenticate": "Bearer"})
    tokens: TokenStore = request.app.state.tokens
    principal = tokens.authenticate(token.strip())
    if principal is None:
        raise Unauthorized("the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return principal


def require(permission: str) -> Any:
    """A dependency that admits principals whose role grants ``permission`` (else 401/403)."""

    async def check(request: Request) -> Principal:  # async: a sync dependency runs in a threadpool
        principal = _principal(request)
        if not principal.may(permission):
            raise Forbidden(f"role {principal.role!r} lacks the permission {permission!r}",
                            missing_permission=permission)
        return principal

    return Depends(check)


# --- idempotency ----------------------------------------------------------------------------

Q = load_queries(Path(__file__).parent / "sql" / "idempotency.sql")

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

    A retry with the same key and body returns the stored reply and writes nothing; the same key
    with another body is refused (422). Two concurrent requests with one key serialise on the key's
    row: the second waits for the first to commit, then replays its reply.
    """
    async with pool.acquire() as conn, conn.transaction():
        if key is not None:
            fingerprint = hashlib.sha256(
                request.method.encode() + b" " + request.url.path.encode() + b"\n" + await request.body()
            ).hexdigest()
            if not await conn.fetchval(Q["claim_key"], principal.name, key, fingerprint):
                stored = await conn.fetchrow(Q["stored_reply"], principal.name, key)
                if stored["request_hash"] != fingerprint:
                    raise Invalid(
                        "this Idempotency-Key was already used for a different request", title="Idempotency-Key reused",
                        errors=[FieldProblem("header.Idempotency-Key", "already used with another body")],
                    )
                return json_response(stored["status_code"], stored["response"], {"Idempotent-Replayed": "true"})
        reply = await write(conn)
        if key is not None:
            await conn.execute(Q["remember_reply"], principal.name, key, reply.status, reply.body)
    if after_commit is not None:
        await after_commit()
    return json_response(reply.status, reply.body, reply.headers)


# --- standard endpoints ---------------------------------------------------------------------


def standard_router(readiness: Callable[[Request], Awaitable[dict[str, str]]]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/health/ready", summary="Database and broker reachable", responses={503: {"model": Problem}})
    async def ready(request: Request) -> Response:
        checks = await readiness(request)
        ok = all(v == "ok" for v in checks.values())
        return json_response(200 if ok else 503, {"status": "ready" if ok else "not ready", "checks": checks})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_service_app(*, title: str, description: str, version: str, lifespan: Any) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
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
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    return app


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith(("/health/", "/metrics"))
