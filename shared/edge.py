"""What every route gets at the HTTP edge, once, whatever the route: input hygiene and the error
answers its OpenAPI operation declares.

* Text with a NUL character is refused with a 422 naming the field (PostgreSQL refuses NUL in
  ``text``, which was a 500), in the JSON body, the query and the path. A clean request costs a
  substring search of its raw bytes; the field is looked for only when a NUL may be there.
* A query parameter the route does not declare is a 422 naming it, as an unknown body field is
  (the models forbid extra fields): ``GET /customers?name=x`` used to return every customer.
* A query value is at most ``QUERY_VALUE_MAX`` characters unless the route says less, and the
  OpenAPI document says so; list parameters declare their own most items.
* The OpenAPI document declares, for every operation, each problem status it may answer
  (401/403/503 with a token, 404 with a path parameter, 413 with a
  body, 422 always: an unknown query parameter), as ``application/problem+json`` with the
  ``Problem`` schema; and it says that free text holds no NUL (``NO_NUL``).
* A request body is read no further than ``KEHU_MAX_BODY_BYTES`` (``BodyLimit``): a larger
  declared length is a 413 at once, a chunked body a 413 as soon as it passes the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import FieldProblem, Invalid

QUERY_VALUE_MAX = 256
"""Longest query value (characters) any route takes; a route may declare a smaller ``max_length``."""

_NUL_MESSAGE = "must not contain a NUL character (U+0000)"
NO_NUL = "^[^\\u0000]*$"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
"""The pattern the OpenAPI documents give free text: no NUL character, which ``checked_input`` refuses."""
NON_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
"""Required free text (a reason, a note) whose blanks around it are dropped: something besides blanks
(and no NUL). Give it as ``Field(pattern=NON_BLANK)``: the document then says what is taken."""


async def checked_input(request: Request) -> None:
    """An app-wide dependency: refuse NUL characters and undeclared or overlong query values.

    App-wide dependencies run before the route's own, so this answers before authentication: what
    it says (which parameters a route takes) is in the public OpenAPI document anyway."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    problems: list[FieldProblem] = []
    if request.scope["query_string"]:
        declared = _query_names(route)
        for name, value in request.query_params.multi_items():
            if name not in declared:
                takes = ", ".join(sorted(declared)) or "none"
                problems.append(FieldProblem(f"query.{name}", f"unknown query parameter (this route takes: {takes})"))
            elif "\x00" in value:
                problems.append(FieldProblem(f"query.{name}", _NUL_MESSAGE))
            elif len(value) > QUERY_VALUE_MAX:
                problems.append(FieldProblem(f"query.{name}", f"at most {QUERY_VALUE_MAX} characters"))
    if "\x00" in request.scope["path"]:
        problems += [FieldProblem(f"path.{name}", _NUL_MESSAGE)
                     for name, value in request.path_params.items() if "\x00" in str(value)]
    if route.body_field is not None and request.headers.get("content-type", "").startswith(_FORMS):
        form = await request.form()  # parsed (and cached) by FastAPI before the dependencies
        problems += [FieldProblem(f"body.{name}", _NUL_MESSAGE) for name, value in form.multi_items()
                     if isinstance(value, str) and "\x00" in value]
    elif route.body_field is not None:
        body = await request.body()  # already read (and cached) by FastAPI before the dependencies
        if b"\\u0000" in body:  # JSON can only carry a NUL escaped; a raw one is invalid JSON
            problems += [FieldProblem(where, _NUL_MESSAGE) for where in _nul_fields(body)]
    if problems:
        raise Invalid.fields(problems)


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` and its dependencies declare (kept on the route: built once)."""
    names: frozenset[str] | None = getattr(route, "kehu_query_names", None)
    if names is None:
        found: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(field.alias for field in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = frozenset(found)
        route.kehu_query_names = names  # type: ignore[attr-defined]
    return names


def _nul_fields(body: bytes) -> list[str]:
    """The fields of a JSON body whose text (or key) holds a NUL: ``lines[0].sku``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []  # FastAPI has parsed it already; another JSON dialect is not worth a guess
    return list(_walk(document, ""))


def _walk(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield where or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            if "\x00" in key:
                yield path
            else:
                yield from _walk(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is a 413 (problem details), the rest unread."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuse: Callable[..., Response]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"the request body is larger than {max_bytes} bytes (KEHU_MAX_BODY_BYTES)"
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.refuse(413, "Content too large", self.detail)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # An HTTPException passes FastAPI's body reading untouched, to the one handler.
                raise HTTPException(413, self.detail)
            return message

        await self.app(scope, counted, send)


def allowed_methods(app: Any, path: str) -> list[str]:
    """The methods the OpenAPI document gives ``path``, for a 405's ``Allow``."""
    templates: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allowed_methods", None)
    if templates is None:
        templates = [(_path_regex(template, operations), {m.upper() for m in operations})
                     for template, operations in app.openapi().get("paths", {}).items()]
        app.state.allowed_methods = templates
    return sorted({m for regex, methods in templates if regex.match(path) for m in methods})


def _path_regex(template: str, operations: dict[str, Any]) -> re.Pattern[str]:
    """The template as the router matches it: a uuid parameter matches only a UUID."""
    for operation in operations.values():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("format") == "uuid":
                name = parameter["name"]
                template = template.replace(f"{{{name}}}", f"{{{name}:uuid}}")
    return compile_path(template)[0]


# --- what the OpenAPI document declares ----------------------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"
_GENERIC = {
    401: "No or an invalid bearer token",
    403: "The token's role lacks the permission",
    404: "No such resource",
    413: "The request body is larger than KEHU_MAX_BODY_BYTES",
    422: "Invalid input, each field named (also an unknown query parameter, or an Idempotency-Key "
         "already used for another request)",
    503: "The database (or a service this one asks) is unavailable now; retry after Retry-After seconds",
}
# Answered by the HTTP server (uvicorn) before kehu sees the request, so in its words: a request
# line or headers it cannot parse, e.g. a query string of some 80 KB.
_UNPARSABLE = {
    "description": "The HTTP server could not parse the request (malformed, or its head is over ~80 KB)",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`, and why"}},
    "503": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds after which to try again"}},
}


def declare_problems(document: dict[str, Any], problem: type[BaseModel]) -> dict[str, Any]:
    """Give every operation of ``document`` its problem answers, in place, and return it."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem_schemas = {problem.__name__: problem_schema, **problem_schema.pop("$defs", {})}
    # FastAPI's own validation error shapes are never sent: ours is a Problem.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for methods in document.get("paths", {}).values():
        for operation in methods.values():
            _declare(operation)
            _no_nul(operation.get("parameters", []))
    _no_nul(schemas)
    schemas.update(problem_schemas)  # added after: a problem may quote a refused name, NUL and all
    return document


def _declare(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = {422}
    if operation.get("security"):
        statuses |= {401, 403, 503}  # every authenticated route reads or writes the database
    if "requestBody" in operation:
        statuses.add(413)
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            statuses.add(404)
        if parameter["in"] == "query":
            _bound(parameter.get("schema", {}))
    for code in statuses:
        responses.setdefault(str(code), {"description": _GENERIC[code]})
    responses.setdefault("400", _UNPARSABLE)
    for status, response in responses.items():
        if status[0] not in "45":
            continue
        content = response.get("content")
        declared = [media.get("schema", {}) for media in (content or {}).values()]
        if any(schema.get("$ref") == "#/components/schemas/HTTPValidationError" for schema in declared):
            response["description"] = _GENERIC[422]  # FastAPI's default 422, which we never send
        elif content and not any(schema.get("$ref") == _PROBLEM_REF for schema in declared):
            continue  # the route answers this status with a body of its own (readiness' 503)
        response["content"] = {"application/problem+json": {"schema": {"$ref": _PROBLEM_REF}}}
        if status in _HEADERS:
            response.setdefault("headers", _HEADERS[status])


def _bound(schema: dict[str, Any]) -> None:
    """Say ``QUERY_VALUE_MAX`` on a free-text query parameter that does not say less."""
    for variant in schema.get("anyOf", [schema]):
        if _free_text(variant) and "maxLength" not in variant:
            variant["maxLength"] = QUERY_VALUE_MAX


def _no_nul(schema: Any) -> None:
    """Say, on every free text of ``schema`` (nested), that it holds no NUL character."""
    if isinstance(schema, dict):
        if _free_text(schema) and "pattern" not in schema:
            schema["pattern"] = NO_NUL
        for value in schema.values():
            _no_nul(value)
    elif isinstance(schema, list):
        for item in schema:
            _no_nul(item)


def _free_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"format", "enum", "const"} & set(schema)
