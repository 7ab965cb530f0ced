"""Person tokens (shared.identity): what a service accepts and what it refuses, and why.

The token format is pinned here independently of ``mint`` (``_signed`` builds tokens by hand), so
the console and any other signer can be checked against the same rules.
"""

from __future__ import annotations

import base64
import json
import stat
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from shared.auth import Principal, add_token
from shared.identity import (
    CLOCK_SKEW_S,
    MAX_LIFETIME_S,
    PERSON_TOKEN_LIFETIME_S,
    NoIdentityKey,
    PersonClaims,
    PersonTokenInvalid,
    TrustedKey,
    generate_keypair,
    load_private_key,
    load_public_key,
    mint,
    verify,
)

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
NOW = 1_800_000_000.0
SUB = "0193a1f0-7c3e-7b21-9a55-2f4d8e6c1a01"


def _claims(**changes: Any) -> PersonClaims:
    claims = PersonClaims.issue(sub=SUB, name="wang.li", role="sales", owner="owner-7", now=NOW)
    return replace(claims, **changes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: Any, key: Ed25519PrivateKey = KEY) -> str:
    """A token built by hand from the documented format, whatever its payload."""
    body = _b64(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    return f"kp1.{body}.{_b64(key.sign(f'kp1.{body}'.encode()))}"


def _raw(**changes: Any) -> dict[str, Any]:
    return {"sub": SUB, "name": "wang.li", "role": "sales", "owner": None, "iat": int(NOW), "exp": int(NOW) + 300,
            "iss": "kehu-console", **changes}


def _reason(token: str, *, now: float = NOW, key: Ed25519PrivateKey = KEY) -> str:
    with pytest.raises(PersonTokenInvalid) as refused:
        verify(token, key.public_key(), now=now)
    return refused.value.reason


# --- the good token ------------------------------------------------------------------------------


def test_a_minted_token_verifies_to_its_claims() -> None:
    claims = _claims()
    assert claims.exp - claims.iat == PERSON_TOKEN_LIFETIME_S == 300
    assert verify(mint(claims, KEY), KEY.public_key(), now=NOW + 10) == claims


def test_a_minted_token_has_the_documented_format() -> None:
    token = mint(_claims(), KEY)
    prefix, payload, signature = token.split(".")
    assert prefix == "kp1" and "=" not in token
    KEY.public_key().verify(base64.urlsafe_b64decode(signature + "=="), f"kp1.{payload}".encode("ascii"))
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {
        "sub": SUB, "name": "wang.li", "role": "sales", "owner": "owner-7", "iat": int(NOW),
        "exp": int(NOW) + 300, "iss": "kehu-console",
    }


def test_a_hand_built_token_verifies() -> None:
    assert verify(_signed(_raw()), KEY.public_key(), now=NOW).owner is None


# --- refused, with the reason --------------------------------------------------------------------


def test_a_tampered_payload_has_a_bad_signature() -> None:
    _, _, signature = mint(_claims(), KEY).split(".")
    forged = _b64(json.dumps(_raw(role="admin")).encode())
    assert _reason(f"kp1.{forged}.{signature}") == "bad signature"


def test_a_token_signed_by_another_key_has_a_bad_signature() -> None:
    assert _reason(mint(_claims(), OTHER_KEY)) == "bad signature"


@pytest.mark.parametrize(("offset", "accepted"), [
    (PERSON_TOKEN_LIFETIME_S - 1, True),
    (PERSON_TOKEN_LIFETIME_S + CLOCK_SKEW_S - 1, True),  # within the clock skew
    (PERSON_TOKEN_LIFETIME_S + CLOCK_SKEW_S, False),
    (10 * 24 * 3600, False),
])
def test_a_token_expires_after_its_lifetime_and_the_clock_skew(offset: int, accepted: bool) -> None:
    token = mint(_claims(), KEY)
    if accepted:
        assert verify(token, KEY.public_key(), now=NOW + offset).sub == SUB
    else:
        assert _reason(token, now=NOW + offset) == "expired"


@pytest.mark.parametrize(("early", "accepted"), [(CLOCK_SKEW_S, True), (CLOCK_SKEW_S + 1, False), (3600, False)])
def test_a_token_issued_in_the_future_is_refused_beyond_the_clock_skew(early: int, accepted: bool) -> None:
    token = mint(_claims(), KEY)
    if accepted:
        assert verify(token, KEY.public_key(), now=NOW - early).sub == SUB
    else:
        assert _reason(token, now=NOW - early) == "not yet valid"


def test_a_token_living_longer_than_ten_minutes_is_refused_and_never_minted() -> None:
    long = _raw(exp=int(NOW) + MAX_LIFETIME_S + 1)
    assert _reason(_signed(long), now=NOW + 1) == "lifetime too long"
    assert verify(_signed(_raw(exp=int(NOW) + MAX_LIFETIME_S)), KEY.public_key(), now=NOW).exp == NOW + 600
    with pytest.raises(PersonTokenInvalid, match="lifetime too long"):
        mint(_claims(exp=int(NOW) + MAX_LIFETIME_S + 1), KEY)


def test_an_unknown_role_is_refused_and_never_minted() -> None:
    assert _reason(_signed(_raw(role="owner"))) == "unknown role"
    with pytest.raises(PersonTokenInvalid, match="unknown role"):
        mint(_claims(role="root"), KEY)


def test_another_issuer_is_refused() -> None:
    assert _reason(_signed(_raw(iss="someone-else"))) == "wrong issuer"


_GOOD = mint(_claims(), KEY)
_PAYLOAD, _SIGNATURE = _GOOD.split(".")[1:]
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("token", [
    "kp1.",
    "kp1..",
    "kp1.a.b.c",
    f"kp1.{_PAYLOAD}",
    f"kp1.{_PAYLOAD}.{_SIGNATURE}.",
    f"kp1.{_PAYLOAD}=.{_SIGNATURE}",          # padding
    f"kp1.{_PAYLOAD}.{_SIGNATURE}==",
    f"kp1.{_PAYLOAD}.{_SIGNATURE[:-4]}",       # short signature
    f"kp1.+{_PAYLOAD[1:]}.{_SIGNATURE}",  # base64, not base64url
    f"kp1.{_PAYLOAD}.{_SIGNATURE[:-1]}{_ALPHABET[_ALPHABET.index(_SIGNATURE[-1]) ^ 1]}",  # same bytes, unused bits set
    "kp1." + "A" * 5000 + ".x",
    "kp2" + _GOOD[3:],
    _signed(b"not json"),
    _signed(b"\xff\xfe"),
    _signed([1, 2]),
    _signed({k: v for k, v in _raw().items() if k != "sub"}),
    _signed(_raw(sub="wang.li")),             # not a UUID
    _signed(_raw(name="  ")),
    _signed(_raw(iat=str(int(NOW)))),
    _signed(_raw(exp=True)),
    _signed(_raw(owner=7)),
    _signed(_raw(exp=int(NOW))),              # exp not after iat
])
def test_malformed_tokens_are_refused_as_malformed(token: str) -> None:
    assert _reason(token) == "malformed"


@given(st.text(max_size=300))
def test_any_text_after_the_prefix_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(PersonTokenInvalid):
        verify("kp1." + text, KEY.public_key(), now=NOW)


@given(st.integers(min_value=0, max_value=len(_GOOD) - 1), st.sampled_from("AQgw-_.x"))
def test_changing_any_character_of_a_good_token_refuses_it(at: int, char: str) -> None:
    token = _GOOD[:at] + char + _GOOD[at + 1:]
    if token != _GOOD:
        with pytest.raises(PersonTokenInvalid):
            verify(token, KEY.public_key(), now=NOW)


# --- key files -----------------------------------------------------------------------------------


def test_generate_keypair_writes_a_pair_that_signs_and_verifies_and_keeps_it(tmp_path: Path) -> None:
    private, public = tmp_path / "identity" / "console-key.pem", tmp_path / "identity" / "console-key.pub.pem"

    assert generate_keypair(private, public) is True
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    token = mint(_claims(), load_private_key(private))
    assert verify(token, load_public_key(public), now=NOW).sub == SUB

    before = private.read_bytes(), public.read_bytes()
    assert generate_keypair(private, public) is False
    assert (private.read_bytes(), public.read_bytes()) == before


def test_generate_keypair_restores_a_missing_public_key_from_the_private_one(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    kept = private.read_bytes()
    public.unlink()

    assert generate_keypair(private, public) is True
    assert private.read_bytes() == kept
    assert verify(mint(_claims(), load_private_key(private)), load_public_key(public), now=NOW).sub == SUB


def test_loading_a_key_of_the_wrong_kind_fails(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    with pytest.raises(ValueError):
        load_public_key(private)
    with pytest.raises(ValueError):
        load_private_key(public)


# --- the key a service trusts --------------------------------------------------------------------


def test_a_service_without_a_public_key_refuses_person_tokens_until_one_appears(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    now = [0.0]
    trusted = TrustedKey(public, recheck_s=1.0, clock=lambda: now[0])
    with pytest.raises(NoIdentityKey, match="no identity key configured"):
        trusted.verify(mint(_claims(), KEY), now=NOW)

    generate_keypair(private, public)
    token = mint(_claims(), load_private_key(private))
    with pytest.raises(NoIdentityKey):
        trusted.verify(token, now=NOW)  # not looked at again within the second
    now[0] = 1.5
    assert trusted.verify(token, now=NOW).sub == SUB


def test_a_rotated_key_is_taken_up_and_tokens_of_the_old_one_refused(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    old = mint(_claims(), load_private_key(private))
    now = [0.0]
    trusted = TrustedKey(public, recheck_s=1.0, clock=lambda: now[0])
    assert trusted.verify(old, now=NOW).sub == SUB

    private.unlink()
    public.unlink()
    generate_keypair(private, public)
    now[0] = 1.5

    with pytest.raises(PersonTokenInvalid, match="bad signature"):
        trusted.verify(old, now=NOW)
    assert trusted.verify(mint(_claims(), load_private_key(private)), now=NOW).sub == SUB


def test_a_public_key_file_turning_unreadable_keeps_the_key_read_before(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_keypair(private, public)
    now = [0.0]
    trusted = TrustedKey(public, recheck_s=1.0, clock=lambda: now[0])
    public.write_text("-----BEGIN PUBLIC KEY-----\nhalf\n", encoding="ascii")
    now[0] = 1.5

    assert trusted.verify(mint(_claims(), load_private_key(private)), now=NOW).sub == SUB


def test_an_unreadable_public_key_at_start_is_an_error(tmp_path: Path) -> None:
    public = tmp_path / "k.pub.pem"
    public.write_text("not a key", encoding="ascii")
    with pytest.raises(ValueError):
        TrustedKey(public)


# --- whose Idempotency-Keys -----------------------------------------------------------------------


def test_a_person_s_idempotency_scope_is_their_id_and_an_api_token_s_its_name() -> None:
    first = Principal("wang.li", "sales", person=SUB, owner="owner-7")
    assert first.scope == f"person:{SUB}"
    assert replace(first, name="wang.li.renamed").scope == first.scope
    assert Principal("wang.li", "sales", person=str(uuid.uuid4())).scope != first.scope
    assert Principal("till-1", "sales").scope == "till-1"


def test_an_api_token_may_not_take_a_name_of_a_person_scope(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="may not start with 'person:'"):
        add_token(tmp_path / "tokens.json", name=f"person:{SUB}", role="admin")
