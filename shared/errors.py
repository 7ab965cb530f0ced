"""Expected failures, with the HTTP status they carry: raised by domain code, rendered by one handler.

This module imports nothing from the web or database stack, so a domain module may raise these
and stay free of I/O. ``shared.http`` renders every ``KehuError`` as RFC 9457 problem details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a request: ``lines[0].quantity``, ``query.phone``."""

    field: str
    message: str
    code: str | None = None  # what kind of problem, for clients that word it themselves (the console)


class KehuError(Exception):
    """An expected failure and its status: 4xx for the caller's mistake, 503 for a dependency down."""

    status: int = 400
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: Sequence[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = extra


class Invalid(KehuError):
    """The request is well-formed but a field is wrong (422): name the field."""

    status = 422
    title = "Invalid request"

    @classmethod
    def field(cls, field: str, message: str, **extra: Any) -> Invalid:
        return cls(f"{field}: {message}", errors=[FieldProblem(field, message)], **extra)

    @classmethod
    def fields(cls, problems: Sequence[FieldProblem], **extra: Any) -> Invalid:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        return cls(detail, errors=problems, **extra)


class InFuture(Invalid):
    """A business time later than now, beyond clock skew (422): subclasses name the field."""

    field_name: ClassVar[str] = "occurred_at"

    def __init__(self, when: datetime) -> None:
        message = f"{self.field_name} {when.isoformat()} is in the future"
        super().__init__(message, errors=[FieldProblem(self.field_name, message, "in_future")])


class Unauthorized(KehuError):
    """No valid bearer token (401, with ``WWW-Authenticate``)."""

    status = 401
    title = "Unauthorized"


class Forbidden(KehuError):
    """The principal's role lacks the permission (403, naming it)."""

    status = 403
    title = "Forbidden"


class NotFound(KehuError):
    status = 404
    title = "Not found"


class Conflict(KehuError):
    """The request collides with the state: say which rule or which holder (409)."""

    status = 409
    title = "Conflict"


class Unavailable(KehuError):
    """A dependency (database, another service) cannot be reached now: retry later (503)."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 5, **kwargs: Any) -> None:
        headers = {"Retry-After": str(retry_after_s), **dict(kwargs.pop("headers", None) or {})}
        super().__init__(detail, headers=headers, **kwargs)
