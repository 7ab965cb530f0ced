"""Channel identities: every way a channel names a customer, in one normal form per kind.

No I/O. An identity (kind, value) belongs to one customer at most; the normal form is what makes
"138 0013 8000" typed at a till and "+8613800138000" from the web shop the same identity.

Normal forms, kind by kind (blanks around every value are dropped; control characters refused):

- ``phone``: E.164 (``+8613800138000``) by ``customers.normalise_phone``: with or without the
  country code (the shop's region when missing, so mainland numbers need no +86), a 00 prefix,
  spaces, dashes, brackets.
- ``email``: lower-case (addresses are compared case-insensitively in practice).
- ``wechat_openid``, ``wechat_unionid``: exactly as WeChat gives them, case kept (ids are
  case-sensitive): 8 to 64 letters, digits, ``_`` or ``-``.
- ``web_account``: lower-case (the web shop's logins are case-insensitive user names or addresses).
- ``membership_card``, ``fair_badge``: upper-case with the blanks inside dropped, because card
  numbers are printed as ``VIP 0001 2345`` and typed as ``vip00012345``.
- ``other``: the value as given, case kept; it needs a ``label`` saying what it is (QQ, Douyin...).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import EMAIL_PATTERN, PhoneInvalid, normalise_phone
from shared.errors import Conflict, FieldProblem, Invalid
from shared.events import ChannelIdentityLinked, ChannelIdentityUnlinked, IdentityKind

KINDS: tuple[str, ...] = get_args(IdentityKind)
MAX_VALUE = 200
MAX_LABEL = 100
_WECHAT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_EMAIL = re.compile(EMAIL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BLANKS = re.compile(r"\s+")
IDENTITY_TAKEN = "identity_taken"
"""The problem ``code`` of a 409: the identity belongs to another customer (named in the problem)."""


class IdentityRequest(BaseModel):
    """An identity as a caller writes it (normalised by ``normalise``)."""

    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind = Field(description="phone, email, wechat_openid, wechat_unionid, web_account, "
                               "membership_card, fair_badge or other.")
    value: str = Field(min_length=1, max_length=MAX_VALUE, description="As written: 138 0013 8000, "
                       "Ann@Example.com, VIP 0001 (normalised per kind, see the service description).")
    label: str | None = Field(None, max_length=MAX_LABEL, description="What the identity is; required for "
                              "`other` (QQ, Douyin, ...), optional otherwise (office phone, ...).")


class NormalIdentity(BaseModel):
    """An identity in its normal form: what is stored, compared and published."""

    model_config = ConfigDict(frozen=True)

    kind: IdentityKind
    value: str
    label: str | None = None


class Identity(NormalIdentity):
    """An identity held by a customer."""

    model_config = ConfigDict(frozen=True)

    customer_id: uuid.UUID
    linked_at: datetime
    linked_by: str


class IdentityInvalid(Invalid):
    """The value is not a valid identity of its kind (422 naming the field, with a code)."""

    def __init__(self, field: str, message: str, code: str) -> None:
        super().__init__(f"{field}: {message}", errors=[FieldProblem(field, message, code)])


class IdentityTaken(Conflict):
    """409: the identity belongs to another customer, named so the caller can go to them (or merge)."""

    def __init__(self, identity: NormalIdentity, holder_id: uuid.UUID, holder_name: str) -> None:
        super().__init__(
            f"the {identity.kind} {identity.value} belongs to customer {holder_name} ({holder_id}); an identity "
            "belongs to one customer at most: unlink it there first, or merge the two customers",
            title="Identity held by another customer", code=IDENTITY_TAKEN,
            holder={"id": str(holder_id), "name": holder_name}, kind=identity.kind, value=identity.value,
        )


def normalise(
    kind: str, value: str, label: str | None = None, *, phone_region: str, field: str = "value",
    need_label: bool = True,
) -> NormalIdentity:
    """``value`` in the normal form of ``kind`` (see the module), or ``IdentityInvalid`` naming ``field``
    (the label's problems name the sibling field ``label``). ``need_label``: False to look an
    identity up, where ``other`` needs no label."""
    label_field = field.rsplit(".", 1)[0] + ".label" if "." in field else "label"
    if kind not in KINDS:
        raise IdentityInvalid(field.rsplit(".", 1)[0] + ".kind" if "." in field else "kind",
                              f"unknown kind {kind!r}; one of {', '.join(KINDS)}", "kind_unknown")
    text = value.strip()
    clean_label = (label or "").strip() or None
    if not text:
        raise IdentityInvalid(field, "empty", "identity_empty")
    if _CONTROL.search(text):
        raise IdentityInvalid(field, "contains control characters", "identity_invalid")
    if len(text) > MAX_VALUE:
        raise IdentityInvalid(field, f"longer than {MAX_VALUE} characters", "identity_too_long")
    if clean_label is not None and (_CONTROL.search(clean_label) or len(clean_label) > MAX_LABEL):
        raise IdentityInvalid(label_field, f"at most {MAX_LABEL} printable characters", "label_invalid")
    normal = _normal_value(kind, text, phone_region=phone_region, field=field)
    if kind == "other" and clean_label is None and need_label:
        raise IdentityInvalid(label_field, "an identity of kind other needs a label saying what it is "
                              "(QQ, Douyin, ...)", "label_missing")
    return NormalIdentity(kind=kind, value=normal, label=clean_label)


def _normal_value(kind: str, text: str, *, phone_region: str, field: str) -> str:
    if kind == "phone":
        try:
            return normalise_phone(text, phone_region)
        except PhoneInvalid as exc:
            raise IdentityInvalid(field, exc.detail, "phone_invalid") from None
    if kind == "email":
        if not _EMAIL.match(text):
            raise IdentityInvalid(field, f"{text!r} is not an email address", "email_invalid")
        return text.lower()
    if kind in ("wechat_openid", "wechat_unionid"):
        if not _WECHAT_ID.match(text):
            raise IdentityInvalid(field, f"a WeChat id is 8 to 64 letters, digits, _ or -; not {text!r}",
                                  "wechat_id_invalid")
        return text
    if kind == "web_account":
        return text.lower()
    if kind in ("membership_card", "fair_badge"):
        return _BLANKS.sub("", text).upper()
    return text  # other: as given


def parse_identity_query(text: str, *, phone_region: str, field: str) -> NormalIdentity:
    """``kind:value`` (``membership_card:VIP-0001``, ``phone:138 0013 8000``) as a ``NormalIdentity``.
    ``other`` needs no label to be looked up."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise IdentityInvalid(field, "write it as kind:value, e.g. phone:13800138000", "identity_invalid")
    return normalise(kind.strip(), value, phone_region=phone_region, field=field, need_label=False)


# --- linking ---------------------------------------------------------------------------------

LinkOutcome = Literal["linked", "already_linked"]


def link_outcome(
    identity: NormalIdentity, customer_id: uuid.UUID, holder: tuple[uuid.UUID, str] | None
) -> LinkOutcome:
    """What linking ``identity`` to ``customer_id`` does, given who holds it now (id, name):
    nobody → linked; this customer → already linked (a retry is harmless); another → 409."""
    if holder is None:
        return "linked"
    if holder[0] == customer_id:
        return "already_linked"
    raise IdentityTaken(identity, holder[0], holder[1])


def linked_event(
    identity: NormalIdentity, customer_id: uuid.UUID, *, by: str, now: datetime
) -> ChannelIdentityLinked:
    return ChannelIdentityLinked(customer_id=customer_id, occurred_at=now, kind=identity.kind, value=identity.value,
                                 label=identity.label, linked_by=by)


def unlinked_event(
    identity: NormalIdentity, customer_id: uuid.UUID, *, by: str, now: datetime
) -> ChannelIdentityUnlinked:
    return ChannelIdentityUnlinked(customer_id=customer_id, occurred_at=now, kind=identity.kind,
                                   value=identity.value, unlinked_by=by)


def registration_identities(phone: str | None, email: str | None) -> list[NormalIdentity]:
    """The identities a registration links: its phone and email, already normalised by ``register``."""
    found = [NormalIdentity(kind="phone", value=phone)] if phone else []
    return found + ([NormalIdentity(kind="email", value=email)] if email else [])


def primary_after_link(kind: str, value: str, current: str | None) -> str | None:
    """The customer's primary phone (or email) column after linking ``value`` of ``kind``: the first
    linked becomes primary; a later one leaves the primary as it is. None: no change."""
    if kind in ("phone", "email") and current is None:
        return value
    return None


def primary_after_unlink(value: str, current: str | None, remaining: list[str]) -> tuple[bool, str | None]:
    """(changes, new primary) after unlinking ``value``: when it was the primary, the oldest of the
    customer's ``remaining`` identities of that kind takes its place, or none."""
    if current != value:
        return False, current
    return True, (remaining[0] if remaining else None)


def primary_replaced(kind: str, old: str | None, new: str | None) -> tuple[NormalIdentity | None, NormalIdentity | None]:
    """(to unlink, to link) when a record's primary ``kind`` (phone or email) goes from ``old`` to
    ``new`` by an edit of the record (``PATCH /customers/{id}``): the old identity goes, the new one
    is linked; none when the value stays."""
    if old == new:
        return None, None
    return (NormalIdentity(kind=kind, value=old) if old else None,
            NormalIdentity(kind=kind, value=new) if new else None)
