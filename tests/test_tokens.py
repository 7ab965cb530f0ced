"""API tokens: stored hashed, listed without the secret, refused by name when repeated, revoked, and
taken up by running services within about a second, without a restart."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

from kehu import cli
from kehu.embedded import EmbeddedBroker
from shared.auth import RECHECK_S, Principal, TokenExists, TokenStore, add_token, digest, list_tokens, revoke_token
from shared.kafka import all_topics, ensure_topics
from shared.settings import Settings
from tests.conftest import Cluster, eventually, free_port


def test_add_token_then_load_authenticates_the_token(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tokens.json"

    token = add_token(path, name="till-1", role="sales")
    given = add_token(path, name="helpdesk", role="service", token="kehu_fixed_token_for_test")
    store = TokenStore.load(path)

    assert token.startswith("kehu_") and len(token) > 20
    assert given == "kehu_fixed_token_for_test"
    assert store.authenticate(token) == Principal("till-1", "sales")
    assert store.authenticate(given) == Principal("helpdesk", "service")


def test_wrong_token_authenticates_nobody(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="till-1", role="sales")
    store = TokenStore.load(path)

    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate(digest(token)) is None  # the digest is not a token


def test_tokens_file_keeps_only_sha256_digests(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="till-1", role="admin")

    text = path.read_text(encoding="utf-8")
    entries = json.loads(text)["tokens"]

    assert token not in text
    assert [(e["name"], e["role"], e["sha256"], e["prefix"]) for e in entries] == [
        ("till-1", "admin", digest(token), token[:9])]
    assert datetime.fromisoformat(entries[0]["created_at"]).tzinfo is not None
    assert re.fullmatch(r"[0-9a-f]{64}", entries[0]["sha256"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_adding_a_token_under_an_existing_name_is_refused_unless_replace(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    old = add_token(path, name="till-1", role="sales")

    with pytest.raises(TokenExists, match="--replace"):
        add_token(path, name="till-1", role="readonly")
    assert TokenStore.load(path).authenticate(old) == Principal("till-1", "sales")

    new = add_token(path, name="till-1", role="readonly", replace=True)
    store = TokenStore.load(path)
    assert store.authenticate(old) is None
    assert store.authenticate(new) == Principal("till-1", "readonly")
    assert len(json.loads(path.read_text(encoding="utf-8"))["tokens"]) == 1


def test_token_list_shows_name_role_created_and_prefix_never_the_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    till = add_token(path, name="till-1", role="sales")
    add_token(path, name="helpdesk", role="service")

    listed = list_tokens(path)

    assert [(t.name, t.role, t.prefix) for t in listed] == [
        ("till-1", "sales", till[:9]), ("helpdesk", "service", listed[1].prefix)]
    assert all(t.created_at and len(t.prefix or "") == 9 for t in listed)
    assert till not in repr(listed)


def test_the_token_command_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    assert cli.main(["token", "add", "--name", "till-1", "--role", "sales", "--file", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    assert cli.main(["token", "add", "--name", "till-1", "--role", "sales", "--file", str(path)]) == 1
    assert "a token named 'till-1' exists" in capsys.readouterr().err

    assert cli.main(["token", "list", "--file", str(path)]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[0].split() == ["NAME", "ROLE", "CREATED", "PREFIX"]
    assert "till-1" in listed and token[:9] + "…" in listed and token not in listed

    assert cli.main(["token", "revoke", "till-1", "--file", str(path)]) == 0
    assert TokenStore.load(path).authenticate(token) is None
    assert cli.main(["token", "revoke", "till-1", "--file", str(path)]) == 1
    assert "no token named 'till-1'" in capsys.readouterr().err


def test_a_token_store_sees_a_changed_file_after_its_recheck_interval(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first = add_token(path, name="first", role="sales")
    now = [0.0]
    store = TokenStore(path, recheck_s=1.0, clock=lambda: now[0])
    second = add_token(path, name="second", role="readonly")

    assert store.authenticate(second) is None  # not looked at again within the second
    now[0] = 1.0
    assert store.authenticate(second) == Principal("second", "readonly")

    revoke_token(path, "first")
    now[0] = 2.5
    assert store.authenticate(first) is None


def test_a_token_store_keeps_its_tokens_when_the_file_turns_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="till-1", role="sales")
    now = [0.0]
    store = TokenStore(path, recheck_s=1.0, clock=lambda: now[0])

    path.write_text('{"tokens": [', encoding="utf-8")  # half an edit
    now[0] = 5.0

    assert store.authenticate(token) == Principal("till-1", "sales")


def test_add_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    with pytest.raises(ValueError, match=re.escape("unknown role 'owner'")):
        add_token(path, name="x", role="owner")
    assert not path.exists()


def test_loading_a_missing_tokens_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="kehu token add"):
        TokenStore.load(tmp_path / "tokens.json")


def test_loading_a_tokens_file_with_an_unknown_role_fails(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": [{"name": "x", "role": "owner", "sha256": digest("t")}]}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("unknown role 'owner' for token 'x'")):
        TokenStore.load(path)


# --- a running service ----------------------------------------------------------------------


@pytest.fixture
async def contacts(
    pg_url: str, broker: EmbeddedBroker, tmp_path: Path, fresh_databases: Callable[[str], str]
) -> AsyncIterator[Cluster]:
    """contacts alone, on its tokens file ``tmp_path / "tokens.json"``."""
    path = tmp_path / "tokens.json"
    running = Cluster(urls={"contacts": f"http://127.0.0.1:{free_port()}"},
                      tokens={"admin": add_token(path, name="admin", role="admin")}, database_urls={}, broker=broker)
    settings = Settings(home=tmp_path, database_url=pg_url, kafka_bootstrap=broker.bootstrap, tokens_file=path,
                        db_pool_size=2)
    await ensure_topics(broker.bootstrap, all_topics(), 1)
    try:
        await running.start("contacts", settings, fresh_databases("contacts"))
        yield running
    finally:
        await running.close()


@pytest.mark.database
async def test_a_running_service_takes_a_new_token_at_once_and_refuses_a_revoked_one(
    contacts: Cluster, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"

    async def status(token: str) -> int:
        response = await contacts.http.get(contacts.urls["contacts"] + "/customers",
                                           headers={"Authorization": f"Bearer {token}"})
        return response.status_code

    assert await status("kehu_not_yet_added") == 401
    token = add_token(path, name="till-1", role="sales")
    await eventually(lambda: _is(status(token), 200), timeout=RECHECK_S + 2)

    revoke_token(path, "till-1")
    await eventually(lambda: _is(status(token), 401), timeout=RECHECK_S + 2)
    assert await status(contacts.tokens["admin"]) == 200


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


def test_re_adding_the_same_token_keeps_when_it_was_created(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="dev-admin", role="admin")
    entries = json.loads(path.read_text(encoding="utf-8"))["tokens"]
    entries[0]["created_at"] = "2026-01-01T00:00:00+00:00"
    path.write_text(json.dumps({"tokens": entries}), encoding="utf-8")

    add_token(path, name="dev-admin", role="admin", token=token, replace=True)  # what `kehu up` does at each start

    assert [t.created_at for t in list_tokens(path)] == ["2026-01-01T00:00:00+00:00"]
