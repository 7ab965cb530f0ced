"""A running service takes person tokens signed with the console's key beside API tokens: it knows
which person acts, keeps each person's Idempotency-Keys apart, and says why it refuses a token."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter

from kehu.embedded import EmbeddedBroker
from shared.auth import Principal, TokenStore, add_token
from shared.db import database_url
from shared.http import create_service_app, require
from shared.identity import PersonClaims, TrustedKey, generate_keypair, load_private_key, mint
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings
from tests.conftest import Cluster, free_port


def _person_token(key: Ed25519PrivateKey, *, sub: str, name: str = "wang.li", role: str = "sales",
                  owner: str | None = "owner-7", now: float | None = None) -> str:
    claims = PersonClaims.issue(sub=sub, name=name, role=role, owner=owner, now=time.time() if now is None else now)
    return mint(claims, key)


@pytest.fixture
async def contacts(
    pg_url: str, broker: EmbeddedBroker, tmp_path: Path, fresh_databases: Callable[[str], str]
) -> AsyncIterator[tuple[Cluster, Ed25519PrivateKey]]:
    """contacts alone, trusting the key pair `kehu up` would make in its home (the default paths)."""
    identity = tmp_path / "identity"
    generate_keypair(identity / "console-key.pem", identity / "console-key.pub.pem")
    tokens = tmp_path / "tokens.json"
    database = fresh_databases("contacts")
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"},
                      tokens={"admin": add_token(tokens, name="admin", role="admin")},
                      database_urls={"contacts": database_url(pg_url, database)}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap, tokens_file=tokens,
                        db_pool_size=2)
    await ensure_topics(broker.bootstrap, all_topics(), 1)
    try:
        await running.start("contacts", settings, database)
        yield running, load_private_key(identity / "console-key.pem")
    finally:
        await running.close()


async def _register(cluster: Cluster, token: str, key: str, name: str = "张三商行") -> httpx.Response:
    return await cluster.http.post(cluster.urls["contacts"] + "/customers", json={"name": name},
                                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


@pytest.mark.database
async def test_a_write_with_a_person_token_is_recorded_as_that_person_and_scoped_to_them(
    contacts: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = contacts
    wang, li = str(uuid.uuid4()), str(uuid.uuid4())

    first = await _register(cluster, _person_token(key, sub=wang), "form-1")
    assert first.status_code == 201, first.text
    rows = await cluster.sql("contacts", "SELECT principal FROM idempotency_keys WHERE key = 'form-1'")
    assert [r["principal"] for r in rows] == [f"person:{wang}"]

    # The same person with another token (minted at another time, another login name even): the same scope.
    again = await _register(cluster, _person_token(key, sub=wang, name="wang.li2", now=time.time() - 100), "form-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]

    # Another person with the same key and body: a write of their own, not the first one's reply.
    other = await _register(cluster, _person_token(key, sub=li, name="wang.li"), "form-1")
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"]
    rows = await cluster.sql("contacts", "SELECT principal FROM idempotency_keys WHERE key = 'form-1' ORDER BY 1")
    assert sorted(r["principal"] for r in rows) == sorted([f"person:{wang}", f"person:{li}"])


@pytest.mark.database
async def test_person_tokens_are_refused_with_the_reason_and_api_tokens_still_work(
    contacts: tuple[Cluster, Ed25519PrivateKey],
) -> None:
    cluster, key = contacts

    async def get(token: str) -> httpx.Response:
        return await cluster.http.get(cluster.urls["contacts"] + "/customers",
                                      headers={"Authorization": f"Bearer {token}"})

    assert (await get(_person_token(key, sub=str(uuid.uuid4()), role="readonly"))).status_code == 200
    assert (await get(cluster.tokens["admin"])).status_code == 200

    expired = await get(_person_token(key, sub=str(uuid.uuid4()), now=time.time() - 400))
    assert expired.status_code == 401
    assert expired.headers["content-type"] == "application/problem+json"
    assert "expired" in expired.json()["detail"] and expired.json()["reason"] == "expired"
    assert expired.headers["WWW-Authenticate"] == 'Bearer error="invalid_token", error_description="expired"'

    forged = await get(_person_token(Ed25519PrivateKey.generate(), sub=str(uuid.uuid4()), role="admin"))
    assert forged.status_code == 401 and forged.json()["reason"] == "bad signature"
    assert "bad signature" in forged.json()["detail"]

    readonly = await _register(cluster, _person_token(key, sub=str(uuid.uuid4()), role="readonly"), "k-1")
    assert readonly.status_code == 403 and "customers:write" in readonly.json()["detail"]


# --- a service with no console key ------------------------------------------------------------------


async def test_a_service_without_a_console_key_refuses_person_tokens_and_says_so(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    api_token = add_token(tokens, name="till-1", role="sales")
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: Principal = require("customers:read")) -> dict[str, Any]:
        return {"name": principal.name, "person": principal.person}

    app = create_service_app(title="t", description="t", version="0", lifespan=None, max_body_bytes=1024)
    app.include_router(router)
    app.state.tokens = TokenStore.load(tokens)
    app.state.identity = TrustedKey(tmp_path / "identity" / "console-key.pub.pem")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        person = _person_token(Ed25519PrivateKey.generate(), sub=str(uuid.uuid4()))
        refused = await client.get("/whoami", headers={"Authorization": f"Bearer {person}"})
        assert refused.status_code == 401
        assert "no identity key configured" in refused.json()["detail"]
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

        ok = await client.get("/whoami", headers={"Authorization": f"Bearer {api_token}"})
        assert ok.json() == {"name": "till-1", "person": None}


async def test_the_principal_of_a_person_token_names_the_person_role_and_owner(tmp_path: Path) -> None:
    private, public = tmp_path / "identity" / "console-key.pem", tmp_path / "identity" / "console-key.pub.pem"
    generate_keypair(private, public)
    tokens = tmp_path / "tokens.json"
    add_token(tokens, name="till-1", role="sales")
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: Principal = require("customers:read")) -> dict[str, Any]:
        return {"name": principal.name, "role": principal.role, "person": principal.person, "owner": principal.owner}

    app = create_service_app(title="t", description="t", version="0", lifespan=None, max_body_bytes=1024)
    app.include_router(router)
    app.state.tokens = TokenStore.load(tokens)
    app.state.identity = TrustedKey(public)
    sub = str(uuid.uuid4())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        token = _person_token(load_private_key(private), sub=sub, name="wang.li", role="sales", owner="owner-7")
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"name": "wang.li", "role": "sales", "person": sub, "owner": "owner-7"}
