"""Bearer tokens mapped to roles, roles mapped to permissions.

Tokens are stored as SHA-256 digests in a JSON file (``KEHU_TOKENS_FILE``, default
``<home>/tokens.json``): ``{"tokens": [{"name": "till-1", "role": "sales", "sha256": "...",
"created_at": "...", "prefix": "kehu_AbCd"}]}``. A token is 24 random bytes, so a plain SHA-256 is
enough (no password hashing: there is nothing to guess). The prefix, its first characters, lets
a person tell tokens apart in ``kehu token list`` without the token being shown again.

Running services see a change of the file (``kehu token add``, ``revoke``) within about a second:
``TokenStore`` looks at the file's stat at most once a second and re-reads it only when it changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Ownership scopes (docs/architecture.md §11): ``customers:all`` lets a person see every customer;
# a signed-in person without it (a salesperson) sees and changes only their own customers and the
# public pool. API tokens act for the shop (a till, a mini-program) and are not scoped.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "manager": frozenset({
        "customers:read", "customers:write", "customers:all", "customers:assign", "customers:merge",
        "customers:claim", "pool:rules", "reports:read", "orders:read", "orders:write",
        "tickets:read", "tickets:write", "insights:read", "alerts:acknowledge",
        "catalogue:write", "payments:write", "credit:manage", "tickets:manage",
    }),
    "sales": frozenset({
        "customers:read", "customers:write", "customers:claim", "orders:read", "orders:write",
        "tickets:read", "tickets:write", "insights:read", "alerts:acknowledge", "payments:write",
    }),
    "service": frozenset({"customers:read", "customers:all", "orders:read", "tickets:read", "tickets:write",
                          "insights:read", "alerts:acknowledge"}),
    "readonly": frozenset({"customers:read", "customers:all", "orders:read", "tickets:read", "insights:read",
                           "reports:read"}),
}
PREFIX_CHARS = 9  # "kehu_" and 4 of the 32 random characters: enough to tell tokens apart, not to guess one
RECHECK_S = 1.0


PERSON_SCOPE = "person:"


@dataclass(frozen=True)
class Principal:
    """Who makes a request: an API token (``name`` is the token's name), or a person signed in to
    the console (``shared.identity``: ``name`` is the login name, ``person`` the user's id and
    ``owner`` the owner id of a salesperson's customers)."""

    name: str
    role: str
    person: str | None = None
    owner: str | None = None

    def may(self, permission: str) -> bool:
        granted = ROLES.get(self.role, frozenset())
        return "*" in granted or permission in granted

    @property
    def scope(self) -> str:
        """Whose Idempotency-Keys these are: a person's own (by id, so a fresh token or a renamed
        login keeps them, and two people never share them), else the API token's name."""
        return PERSON_SCOPE + self.person if self.person is not None else self.name


@dataclass(frozen=True)
class TokenInfo:
    """What ``kehu token list`` shows of a token: never the token itself."""

    name: str
    role: str
    created_at: str | None
    prefix: str | None


class TokenExists(ValueError):
    """A token with this name exists; replacing it must be asked for."""


class UnknownToken(LookupError):
    pass


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _principals(path: Path) -> dict[str, Principal]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    by_digest: dict[str, Principal] = {}
    for entry in raw.get("tokens", []):
        if entry["role"] not in ROLES:
            raise ValueError(f"{path}: unknown role {entry['role']!r} for token {entry['name']!r}")
        by_digest[entry["sha256"]] = Principal(entry["name"], entry["role"])
    return by_digest


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten (a replace gives a new inode; an edit a new mtime or size)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class WatchedFile:
    """A file looked at (its stat) at most once per ``recheck_s``: ``changed()`` is true once after
    each rewrite. What the tokens file and the console's public key share (``shared.identity``)."""

    def __init__(self, path: Path, *, recheck_s: float, clock: Callable[[], float]) -> None:
        self.path = path
        self._recheck_s = recheck_s
        self._clock = clock
        self._signature = file_signature(path)
        self._checked = clock()

    def changed(self) -> bool:
        now = self._clock()
        if now - self._checked < self._recheck_s:
            return False
        self._checked = now
        signature = file_signature(self.path)
        if signature == self._signature:
            return False
        self._signature = signature
        return True


class TokenStore:
    """The tokens of a file, kept current: a change of the file counts within ``recheck_s`` seconds.

    A file that cannot be read or parsed while the service runs (half-edited by hand, say) leaves
    the tokens last read in force, and says so in the log; at start it is an error.
    """

    def __init__(
        self, path: Path, *, recheck_s: float = RECHECK_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._watch = WatchedFile(path, recheck_s=recheck_s, clock=clock)
        self._by_digest = _principals(path)

    @classmethod
    def load(cls, path: Path, *, recheck_s: float = RECHECK_S) -> TokenStore:
        if not path.exists():
            raise FileNotFoundError(f"no tokens file at {path}: run `kehu up` or `kehu token add`")
        return cls(path, recheck_s=recheck_s)

    def authenticate(self, token: str) -> Principal | None:
        self._refresh()
        return self._by_digest.get(digest(token))

    def _refresh(self) -> None:
        if not self._watch.changed():
            return
        try:
            self._by_digest = _principals(self.path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("tokens file %s unreadable, keeping the tokens read before: %s", self.path, exc)


# --- changing the file (the `kehu token` command, `kehu up`) --------------------------------------


def add_token(path: Path, *, name: str, role: str, token: str | None = None, replace: bool = False) -> str:
    """Add a token to the file and return it in clear, once. A name already there is refused
    (``TokenExists``) unless ``replace``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if name.startswith(PERSON_SCOPE):
        raise ValueError(f"a token name may not start with {PERSON_SCOPE!r}: that names a person's Idempotency-Keys")
    token = token or "kehu_" + secrets.token_urlsafe(24)
    with _changing(path) as data:
        before = next((t for t in data["tokens"] if t["name"] == name), None)
        if before is not None and not replace:
            raise TokenExists(f"a token named {name!r} exists: revoke it first, or add it again with --replace")
        same = before is not None and before["sha256"] == digest(token)  # `kehu up` re-adding dev-admin
        data["tokens"] = [t for t in data["tokens"] if t["name"] != name]
        data["tokens"].append({
            "name": name, "role": role, "sha256": digest(token),
            "created_at": before.get("created_at") if same and before else datetime.now(UTC).isoformat(timespec="seconds"),
            "prefix": token[:PREFIX_CHARS],
        })
    return token


def revoke_token(path: Path, name: str) -> None:
    """Remove the token named ``name``; running services refuse it within about a second."""
    with _changing(path) as data:
        kept = [t for t in data["tokens"] if t["name"] != name]
        if len(kept) == len(data["tokens"]):
            raise UnknownToken(f"no token named {name!r} in {path}")
        data["tokens"] = kept


def list_tokens(path: Path) -> list[TokenInfo]:
    if not path.exists():
        return []
    return [
        TokenInfo(t["name"], t["role"], t.get("created_at"), t.get("prefix"))
        for t in json.loads(path.read_text(encoding="utf-8")).get("tokens", [])
    ]


@contextlib.contextmanager
def _changing(path: Path) -> Iterator[dict[str, Any]]:
    """Read the file, let the caller change it, write it back atomically (a reader never sees half
    a file), under a lock so two commands at once do not lose each other's change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"tokens": []}
        yield data
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600  # keep a mode set on purpose (deploy/)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(mode)
        tmp.replace(path)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer at a time is then the user's care
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
