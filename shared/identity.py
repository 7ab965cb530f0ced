"""Person tokens: who acts when a person signed in to the console calls a service.

The console signs a short-lived token with its Ed25519 private key; each service holds only the
public key, so it can check a token but never make one (a compromised service cannot act as a
person towards the others). The format::

    kp1.<base64url(JSON claims)>.<base64url(Ed25519 signature over the ASCII "kp1.<payload>")>

base64url without padding. The claims: ``sub`` (the user's id, a UUID), ``name`` (login name),
``role`` (one of ``shared.auth.ROLES``), ``owner`` (the owner id customers of a salesperson point
to, else null), ``iat`` and ``exp`` (unix seconds), ``iss`` ("kehu-console").

Tokens live ``PERSON_TOKEN_LIFETIME_S`` (5 minutes): there is no revocation list, a disabled
person's last token simply runs out. Everything here is pure but the key-file helpers at the end.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.auth import RECHECK_S, ROLES, WatchedFile, file_signature

log = logging.getLogger(__name__)

PREFIX = "kp1."
ISSUER = "kehu-console"
PERSON_TOKEN_LIFETIME_S = 300
MAX_LIFETIME_S = 600
CLOCK_SKEW_S = 30
MAX_TOKEN_CHARS = 4096  # a real token is ~400 characters; anything far longer is refused before decoding

Reason = Literal[
    "malformed", "bad signature", "expired", "not yet valid", "lifetime too long", "unknown role", "wrong issuer"
]


class PersonTokenInvalid(ValueError):
    """A person token that must be refused; ``reason`` says why in a word or three."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PersonClaims:
    sub: str
    name: str
    role: str
    owner: str | None
    iat: int
    exp: int
    iss: str = ISSUER

    @classmethod
    def issue(
        cls, *, sub: str, name: str, role: str, owner: str | None, now: float,
        lifetime_s: int = PERSON_TOKEN_LIFETIME_S,
    ) -> PersonClaims:
        """The claims of a token minted at ``now`` (what the console signs for each person)."""
        iat = int(now)
        return cls(sub=sub, name=name, role=role, owner=owner, iat=iat, exp=iat + lifetime_s)


def mint(claims: PersonClaims, private_key: Ed25519PrivateKey) -> str:
    """The signed token of ``claims``. Claims a service would refuse are refused here (ValueError)."""
    _check(claims)
    payload = _b64encode(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
    signed = PREFIX + payload
    return signed + "." + _b64encode(private_key.sign(signed.encode("ascii")))


def verify(token: str, public_key: Ed25519PublicKey, *, now: float) -> PersonClaims:
    """The claims of ``token`` if ``public_key`` signed it and it is valid at ``now``, else
    ``PersonTokenInvalid``. The signature is checked before the payload is parsed."""
    if len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
        raise PersonTokenInvalid("malformed", "not a kp1 person token")
    parts = token.split(".")
    if len(parts) != 3:
        raise PersonTokenInvalid("malformed", "a person token has three dot-separated parts")
    payload, signature = _b64decode(parts[1]), _b64decode(parts[2])
    if len(signature) != 64:
        raise PersonTokenInvalid("malformed", "the signature is not 64 bytes")
    try:
        public_key.verify(signature, (PREFIX + parts[1]).encode("ascii"))
    except InvalidSignature:
        raise PersonTokenInvalid("bad signature", "not signed by the console key this service trusts") from None
    claims = _claims(payload)
    _check(claims)
    if now + CLOCK_SKEW_S < claims.iat:
        raise PersonTokenInvalid("not yet valid", f"issued {claims.iat - now:.0f} s in the future")
    if now - CLOCK_SKEW_S >= claims.exp:
        raise PersonTokenInvalid("expired", f"expired {now - claims.exp:.0f} s ago")
    return claims


def _claims(payload: bytes) -> PersonClaims:
    try:
        raw: Any = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise PersonTokenInvalid("malformed", "the payload is not JSON") from None
    if not isinstance(raw, dict):
        raise PersonTokenInvalid("malformed", "the payload is not a JSON object")
    strings = {k: raw.get(k) for k in ("sub", "name", "role", "iss")}
    times = {k: raw.get(k) for k in ("iat", "exp")}
    owner = raw.get("owner")
    if not all(isinstance(v, str) for v in strings.values()):
        raise PersonTokenInvalid("malformed", "sub, name, role and iss must be strings")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in times.values()):
        raise PersonTokenInvalid("malformed", "iat and exp must be integers")
    if owner is not None and not isinstance(owner, str):
        raise PersonTokenInvalid("malformed", "owner must be a string or null")
    return PersonClaims(sub=raw["sub"], name=raw["name"], role=raw["role"], owner=owner, iat=raw["iat"],
                        exp=raw["exp"], iss=raw["iss"])


def _check(claims: PersonClaims) -> None:
    """What every token must satisfy whatever the time: raised alike when minting and verifying."""
    if claims.iss != ISSUER:
        raise PersonTokenInvalid("wrong issuer", f"issuer {claims.iss!r}, expected {ISSUER!r}")
    try:
        uuid.UUID(claims.sub)
    except ValueError:
        raise PersonTokenInvalid("malformed", "sub is not a UUID") from None
    if not claims.name.strip():
        raise PersonTokenInvalid("malformed", "name is empty")
    if claims.role not in ROLES:
        raise PersonTokenInvalid("unknown role", f"role {claims.role!r} is not one of {', '.join(ROLES)}")
    if claims.exp <= claims.iat:
        raise PersonTokenInvalid("malformed", "exp is not after iat")
    if claims.exp - claims.iat > MAX_LIFETIME_S:
        raise PersonTokenInvalid("lifetime too long", f"{claims.exp - claims.iat} s, at most {MAX_LIFETIME_S} s")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding: one spelling per value, so a token is never malleable."""
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise PersonTokenInvalid("malformed", "a part is not base64url") from None
    if _b64encode(data) != text:
        raise PersonTokenInvalid("malformed", "a part is not canonical base64url without padding")
    return data


class NoIdentityKey(LookupError):
    """This service has no console public key, so it cannot check any person token."""


class TrustedKey:
    """The console's public key as a service holds it: read at start, re-read when the file changes
    (looked at at most once a second, like ``shared.auth.TokenStore``), so a rotated key counts
    without a restart. No file (yet): person tokens are refused with ``NoIdentityKey``; API tokens
    do not need it. A file that turns unreadable while the service runs leaves the last key in
    force, and says so in the log; unreadable at start is an error.
    """

    def __init__(
        self, path: Path | None, *, recheck_s: float = RECHECK_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._watch = WatchedFile(path, recheck_s=recheck_s, clock=clock) if path is not None else None
        self._key = load_public_key(path) if path is not None and file_signature(path) is not None else None
        self._warned = False
        if self._key is None:
            log.info("no console public key at %s: person tokens are refused until it exists", path)

    def verify(self, token: str, *, now: float) -> PersonClaims:
        """``shared.identity.verify`` with the current key; ``NoIdentityKey`` without one."""
        self._refresh()
        if self._key is None:
            if not self._warned:  # once: the 401 itself tells every caller
                log.warning("a person token arrived but there is no console public key at %s", self.path)
                self._warned = True
            raise NoIdentityKey(
                "this service has no identity key configured (KEHU_IDENTITY_PUBLIC_KEY_FILE"
                + (f", {self.path}" if self.path is not None else "") + "): it cannot accept person tokens"
            )
        return verify(token, self._key, now=now)

    def _refresh(self) -> None:
        if self._watch is None or not self._watch.changed():
            return
        try:
            self._key = load_public_key(self._watch.path)
            self._warned = False
            log.info("console public key read from %s", self._watch.path)
        except (OSError, ValueError) as exc:
            log.error("console public key %s unreadable, keeping the key read before: %s", self._watch.path, exc)


# --- key files (PEM: PKCS8 private, SubjectPublicKeyInfo public) -----------------------------------


def generate_keypair(private_path: Path, public_path: Path) -> bool:
    """Write a new key pair unless both files exist; True when it wrote one. The private key is
    readable by its owner only (0600) from the start. A private key without its public file gets
    the public file back (never a new pair: that would log every signed-in person out)."""
    if private_path.exists() and public_path.exists():
        return False
    key = load_private_key(private_path) if private_path.exists() else Ed25519PrivateKey.generate()
    if not private_path.exists():
        private_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(private_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ), 0o600)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(public_path, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ), 0o644)
    return True


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """A reader (a service re-reading the public key) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)  # the umask may have narrowed it
    tmp.replace(path)
