"""Bearer tokens mapped to roles, roles mapped to permissions.

Tokens are stored as SHA-256 digests in a JSON file (``KEHU_TOKENS_FILE``, default
``<home>/tokens.json``): ``{"tokens": [{"name": "dev-admin", "role": "admin", "sha256": "..."}]}``.
`kehu up` writes a development admin token there; ``kehu token add`` adds more.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "manager": frozenset({
        "customers:read", "customers:write", "orders:read", "orders:write",
        "tickets:read", "tickets:write", "insights:read",
    }),
    "sales": frozenset({
        "customers:read", "customers:write", "orders:read", "orders:write",
        "tickets:read", "tickets:write", "insights:read",
    }),
    "service": frozenset({"customers:read", "orders:read", "tickets:read", "tickets:write", "insights:read"}),
    "readonly": frozenset({"customers:read", "orders:read", "tickets:read", "insights:read"}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        granted = ROLES.get(self.role, frozenset())
        return "*" in granted or permission in granted


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, principals_by_digest: dict[str, Principal]) -> None:
        self._by_digest = principals_by_digest

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        if not path.exists():
            raise FileNotFoundError(f"no tokens file at {path}: run `kehu up` or `kehu token add`")
        raw = json.loads(path.read_text(encoding="utf-8"))
        by_digest: dict[str, Principal] = {}
        for entry in raw.get("tokens", []):
            if entry["role"] not in ROLES:
                raise ValueError(f"{path}: unknown role {entry['role']!r} for token {entry['name']!r}")
            by_digest[entry["sha256"]] = Principal(entry["name"], entry["role"])
        return cls(by_digest)

    def authenticate(self, token: str) -> Principal | None:
        return self._by_digest.get(digest(token))


def add_token(path: Path, *, name: str, role: str, token: str | None = None) -> str:
    """Add (or replace, by name) a token in the file; returns the token in clear, once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    token = token or "kehu_" + secrets.token_urlsafe(24)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"tokens": []}
    data["tokens"] = [t for t in data["tokens"] if t["name"] != name]
    data["tokens"].append({"name": name, "role": role, "sha256": digest(token)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return token
