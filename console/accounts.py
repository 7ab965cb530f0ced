"""People who sign in to the console: what a valid account is, passwords, lock-out and session rules.

No I/O here (hashing is CPU only): ``store`` persists, the routes translate.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import Invalid

Role = Literal["admin", "manager", "sales", "service", "readonly"]
ROLES: tuple[Role, ...] = ("admin", "manager", "sales", "service", "readonly")
Locale = Literal["zh-CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
_NAME = re.compile(NAME_PATTERN)
PASSWORD_MIN = 10
PASSWORD_MAX = 256

# argon2id with the library's defaults (RFC 9106's second recommended profile: 64 MiB, 3 passes);
# about 50 ms per check here, paid once per sign-in, never per page.
_hasher = PasswordHasher()
# Checked against when the account does not exist, so a wrong name costs the same as a wrong password.
_DUMMY_HASH = _hasher.hash("kehu: no such account")


class NewPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(description="What the person types to sign in: 2-32 of a-z 0-9 . _ -, lower case.",
                      json_schema_extra={"pattern": NAME_PATTERN})
    display_name: str | None = Field(None, min_length=1, max_length=100,
                                     description="How the console names the person (any script); default: name.")
    role: Role
    owner: str | None = Field(None, min_length=1, max_length=64,
                              description="For salespeople: the owner id their customers carry.")
    locale: Locale = "zh-CN"
    password: str = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("2-32 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
        return value


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    display_name: str
    role: Role
    owner: str | None
    locale: Locale
    disabled: bool
    created_at: datetime


def check_password(password: str, *, field: str = "password") -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid.field(field, f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; an unknown account (``None``) costs the same time."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# --- lock-out --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockOut:
    attempts: int  # wrong passwords in a row before the account locks
    minutes: int  # how long it stays locked after the last of them


def locked_until(failures: list[datetime], rule: LockOut, now: datetime) -> datetime | None:
    """When the account opens again, if locked now: ``rule.attempts`` failures, the last of them
    less than ``rule.minutes`` ago, all within that window (``failures`` are the recent ones)."""
    window = timedelta(minutes=rule.minutes)
    recent = sorted(f for f in failures if now - f < window)
    if len(recent) < rule.attempts:
        return None
    return recent[-1] + window


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRule:
    idle: timedelta
    longest: timedelta


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    token_sha256: str
    csrf_token: str
    expires_at: datetime


def open_session(rule: SessionRule, now: datetime) -> NewSession:
    token = secrets.token_urlsafe(32)
    return NewSession(token, session_digest(token), secrets.token_urlsafe(32), now + rule.longest)


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_alive(seen_at: datetime, expires_at: datetime, rule: SessionRule, now: datetime) -> bool:
    return now < expires_at and now - seen_at < rule.idle


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
