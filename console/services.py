"""The console's way to the four services: their public HTTP APIs, as the signed-in person.

Every call carries a short-lived person token (``shared/identity.py``, docs/architecture.md §11),
so the service decides what this person may see and do and records who acted. A service that
cannot be reached, answers 503 or takes too long becomes ``ServiceDown`` for the part of the page
that needed it; the rest of the page renders (``parts``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from console.accounts import Person
from console.timing import record
from shared.http import CLIENT_LIMITS
from shared.identity import PERSON_TOKEN_LIFETIME_S, PersonClaims, load_private_key, mint
from shared.scopes import OUT_OF_SCOPE

SERVICE_TIMEOUT_S = 5.0


class ServiceDown(Exception):
    """The service did not answer usefully; ``reason`` is for the log, the page names the service."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class ServiceRefused(Exception):
    """A 4xx with problem details: the page shows ``detail`` and each field's error at its field."""

    def __init__(self, service: str, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{service}: {status} {problem.get('detail') or problem.get('title')}")
        self.service = service
        self.status = status
        self.problem = problem

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or self.status)

    @property
    def out_of_scope(self) -> bool:
        """A salesperson asked for another owner's customer (``shared.scopes``): the whole page is
        refused, saying whose customer it is, rather than showing it with parts missing."""
        return self.status == 403 and self.problem.get("code") == OUT_OF_SCOPE

    def field_errors(self) -> dict[str, dict[str, Any]]:
        """Each field's problem (``message``, ``code``, ``context``) by the form's field name:
        ``body.lines[0].sku`` → ``lines[0].sku``."""
        errors: dict[str, dict[str, Any]] = {}
        for item in self.problem.get("errors") or []:
            name = str(item.get("field", "")).removeprefix("body.").removeprefix("query.")
            errors.setdefault(name, dict(item))
        return errors


@dataclass
class PersonTokens:
    """Mints a person's token and reuses it until a minute before it expires."""

    key: Ed25519PrivateKey
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> PersonTokens:
        return cls(load_private_key(path))

    def token(self, person: Person) -> str:
        now = time.time()
        cached = self._cache.get(str(person.id))
        if cached and cached[0] - now > 60:
            return cached[1]
        issued = int(now)
        claims = PersonClaims(sub=str(person.id), name=person.name, role=person.role, owner=person.owner,
                              iat=issued, exp=issued + PERSON_TOKEN_LIFETIME_S)
        token = mint(claims, self.key)
        self._cache[str(person.id)] = (float(claims.exp), token)
        return token

    def forget(self, person: Person) -> None:
        self._cache.pop(str(person.id), None)


class Services:
    def __init__(self, urls: Mapping[str, str], tokens: PersonTokens, *, timeout_s: float = SERVICE_TIMEOUT_S) -> None:
        self.urls = dict(urls)
        self.tokens = tokens
        self.http = httpx.AsyncClient(timeout=timeout_s, limits=CLIENT_LIMITS)

    async def close(self) -> None:
        await self.http.aclose()

    def _headers(self, person: Person, language: str, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens.token(person)}", "Accept-Language": language}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def get(self, service: str, path: str, person: Person, language: str,
                  params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        return await self._call("GET", service, path, person, language, params=params)

    async def post(self, service: str, path: str, person: Person, language: str, body: Mapping[str, Any],
                   *, idempotency_key: str) -> Any:
        return await self._call("POST", service, path, person, language, json=body, idempotency_key=idempotency_key)

    async def send(self, method: str, service: str, path: str, person: Person, language: str,
                   body: Mapping[str, Any] | None = None, *, idempotency_key: str, if_match: str | None = None) -> Any:
        """A PATCH, PUT or DELETE; ``if_match``: the ETag of the record as the page read it."""
        return await self._call(method, service, path, person, language, json=body, idempotency_key=idempotency_key,
                                extra_headers={"If-Match": if_match} if if_match else None)

    async def delete(self, service: str, path: str, person: Person, language: str, *, idempotency_key: str) -> Any:
        return await self._call("DELETE", service, path, person, language, idempotency_key=idempotency_key)

    async def put(self, service: str, path: str, person: Person, language: str, body: Mapping[str, Any],
                  *, idempotency_key: str) -> Any:
        return await self._call("PUT", service, path, person, language, json=body, idempotency_key=idempotency_key)

    async def _call(self, method: str, service: str, path: str, person: Person, language: str, *,
                    params: Any = None, json: Any = None, idempotency_key: str | None = None,
                    extra_headers: Mapping[str, str] | None = None) -> Any:
        url = self.urls[service] + path
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                response = await self.http.request(method, url, params=params, json=json,
                                                   headers={**self._headers(person, language, idempotency_key),
                                                            **(extra_headers or {})})
            except httpx.TimeoutException as exc:
                raise ServiceDown(service, f"no answer within {self.http.timeout.read}s") from exc
            except httpx.HTTPError as exc:
                raise ServiceDown(service, f"{type(exc).__name__}: {exc}") from exc
            finally:
                record(service, started, time.perf_counter())  # the exchange only: decoding is the console's
            if response.status_code != 401:
                break
            # The service refused the console's token (expired on a clock that runs ahead, a key
            # replaced): sign a new one once; a second refusal is a key mismatch, not the person's fault.
            self.tokens.forget(person)
            if attempt == 2:
                raise ServiceDown(service, "refused the console's person token: " + response.text[:200])
        if response.status_code >= 500:
            raise ServiceDown(service, f"answered {response.status_code}")
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            raise ServiceRefused(service, response.status_code, problem if isinstance(problem, dict) else {})
        return response.json() if response.content else None


@dataclass(frozen=True)
class Missing:
    """What a page part shows instead of its data: which service failed, or that the person may not see it."""

    service: str
    forbidden: bool = False


async def unless_unknown(call: Awaitable[Any]) -> Any:
    """``None`` for a 404: insights has not heard of a customer registered a moment ago."""
    try:
        return await call
    except ServiceRefused as refused:
        if refused.status == 404:
            return None
        raise


async def parts(**calls: Awaitable[Any]) -> dict[str, Any]:
    """Run the page's calls at once; a failed one becomes ``Missing`` and the others still count."""
    names = list(calls)
    results = await asyncio.gather(*calls.values(), return_exceptions=True)
    out: dict[str, Any] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ServiceDown):
            out[name] = Missing(result.service)
        elif isinstance(result, ServiceRefused) and result.out_of_scope:
            raise result
        elif isinstance(result, ServiceRefused) and result.status == 403:
            out[name] = Missing(result.service, forbidden=True)
        elif isinstance(result, BaseException):
            raise result
        else:
            out[name] = result
    return out
