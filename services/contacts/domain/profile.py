"""Editing a customer's record: what ``PATCH /customers/{id}`` may change, how a change is told
apart from no change, the optimistic-concurrency check (ETag / If-Match) and the field history.

No I/O here: the store reads and writes, the route translates. A patch is a JSON merge patch
(RFC 7396): a field left out stays as it is, ``null`` clears it (where it can be cleared).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import EMAIL_PATTERN, Customer
from shared.errors import Conflict, FieldProblem, Invalid, KehuError
from shared.events import CustomerProfileUpdated, FieldChange, LeadSource

MAX_TAGS = 20
MAX_TAG_LENGTH = 32
MAX_REFERRAL_DEPTH = 1000
"""How far up a referral chain the cycle check looks; a longer chain is refused as if it looped."""

EDITABLE = ("name", "kind", "email", "address", "notes", "tags", "lead_source", "lead_source_detail",
            "referred_by", "external_ref")
"""The fields ``PATCH /customers/{id}`` changes, in the order history and events list them."""

ELSEWHERE = {
    "phone": "a phone is a channel identity: link or unlink it with the identities routes "
             "(/customers/{id}/identities)",
    "identities": "identities are linked and unlinked with the identities routes (/customers/{id}/identities)",
    "category": "a category changes with a reason and an actor: use the category route "
                "(POST /customers/{id}/category)",
    "owner": "the owner changes by assignment, claim, release or handover (the pool routes)",
    "competitors": "competitors are noted one by one: PUT /customers/{id}/competitors/{name}",
}
"""Fields a PATCH must not carry, and where they are changed instead (the 422 says so)."""

_EMAIL = re.compile(EMAIL_PATTERN)
_TAG_SEPARATORS = (",", "，", "、")  # the console edits tags as one text split at these
_BLANKS = re.compile(r"\s+")

Tag = Annotated[str, Field(max_length=MAX_TAG_LENGTH, description="A label of the shop's own.")]


class ProfilePatch(BaseModel):
    """What to change in a customer's record: only the fields given change; ``null`` clears one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=200, description="Person or company name; not null.")
    kind: Literal["person", "company"] | None = Field(None, description="Not null.")
    email: Annotated[str, Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})] | None = Field(
        None, description="An address (lower-cased when stored); empty or null removes it.")
    address: str | None = Field(None, max_length=500, description="Postal or visiting address, free text.")
    notes: str | None = Field(None, max_length=4000, description="Free notes about the customer.")
    tags: list[Tag] | None = Field(
        None, max_length=MAX_TAGS,
        description=f"The whole list (it replaces the old one): up to {MAX_TAGS} labels of at most "
        f"{MAX_TAG_LENGTH} characters, without commas; blanks trimmed, repeats (any case) dropped; "
        "null or [] removes all.")
    lead_source: LeadSource | None = Field(None, description="Where the lead came from.")
    lead_source_detail: str | None = Field(None, max_length=200, description="Which fair, which ad, ...")
    referred_by: uuid.UUID | None = Field(
        None, description="The customer who referred this one: not the customer itself, and no loop "
        "(A referred by B referred by A).")
    external_ref: str | None = Field(
        None, max_length=100, description="The shop's own reference (card or ERP number); unique.")


# --- ETag / If-Match --------------------------------------------------------------------------


class PreconditionRequired(KehuError):
    """428: a PATCH without If-Match could overwrite a change it never saw."""

    status = 428
    title = "Precondition required"


class PreconditionFailed(KehuError):
    """412: the record changed since the client read it."""

    status = 412
    title = "Precondition failed"


def etag(revision: int) -> str:
    """The record's entity tag: its revision, quoted (a strong tag: ``If-Match`` compares strongly)."""
    return f'"{revision}"'


ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": 'The record\'s revision, quoted ("7"): send it back '
                        "as If-Match on PATCH /customers/{id}."}}
"""How the OpenAPI documents declare the ETag of a customer's record."""

_ENTITY_TAG = re.compile(r'^(W/)?"(\d{1,9})"$')


def check_if_match(header: str | None, revision: int, customer_id: uuid.UUID) -> None:
    """Refuse a write made on a stale read: ``header`` must name ``revision`` (or be ``*``).

    A weak form (``W/"3"``) is taken as ``"3"``: a compressing proxy weakens the ETags it passes on,
    and the revision is what the client read either way."""
    if header is None or not header.strip():
        raise PreconditionRequired(
            f"send If-Match with the ETag of the customer as you read it (GET /customers/{customer_id} "
            f"answers ETag {etag(revision)}), so a change made meanwhile is not overwritten",
            current_revision=revision)
    tags = [part.strip() for part in header.split(",")]
    if "*" in tags:
        return
    revisions = []
    for tag in tags:
        found = _ENTITY_TAG.match(tag)
        if found is None:
            raise Invalid("If-Match: not an entity tag; send the ETag as GET answered it, quotes included "
                          f'(e.g. {etag(revision)})', errors=[FieldProblem("header.If-Match", "not an entity tag")])
        revisions.append(int(found.group(2)))
    if revision not in revisions:
        raise PreconditionFailed(
            f"the customer changed meanwhile: it is at revision {revision}, you read "
            f"{' or '.join(str(r) for r in revisions)}. Read it again, check the changes, and re-apply yours.",
            current_revision=revision, headers={"ETag": etag(revision)})


# --- the patch ---------------------------------------------------------------------------------


def misplaced_fields(body: Mapping[str, Any]) -> list[FieldProblem]:
    """The body's fields a PATCH does not change, each with where it is changed instead."""
    problems = []
    for name in body:
        if name in EDITABLE:
            continue
        where = ELSEWHERE.get(name, f"not a field a PATCH changes (these are: {', '.join(EDITABLE)})")
        problems.append(FieldProblem(name, where, "not_editable"))
    return problems


def normalise_text(value: str | None) -> str | None:
    """Blanks around dropped; empty means none."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def normalise_tags(tags: Sequence[str] | None) -> list[str]:
    """Trimmed, inner blanks as one space, empty ones dropped, repeats (in any case) dropped; the
    first spelling and the order given are kept."""
    seen: set[str] = set()
    kept: list[str] = []
    for index, raw in enumerate(tags or []):
        tag = _BLANKS.sub(" ", raw).strip()
        if not tag:
            continue
        if any(sep in tag for sep in _TAG_SEPARATORS):
            raise Invalid.field(f"tags[{index}]", "a tag has no comma (the console separates tags with them)")
        if len(tag) > MAX_TAG_LENGTH:
            raise Invalid.field(f"tags[{index}]", f"at most {MAX_TAG_LENGTH} characters")
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    return kept


def _normalised(field: str, value: Any) -> Any:
    """A patched value as the record keeps it."""
    if field in ("name", "kind"):
        if value is None:
            raise Invalid.field(field, f"{field} cannot be removed, only changed")
        return value
    if field == "tags":
        return normalise_tags(value)
    if field == "email":
        email = normalise_text(value)
        if email is not None and not _EMAIL.match(email):
            raise Invalid.field("email", "not an email address")
        return email.lower() if email else None
    if field in ("address", "notes", "lead_source_detail", "external_ref"):
        return normalise_text(value)
    return value


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _same(field: str, old: Any, new: Any) -> bool:
    if field == "tags":  # a list of labels: the same labels in another order, or another case, are no change
        return sorted(t.casefold() for t in old or []) == sorted(t.casefold() for t in new or [])
    return bool(old == new)


def diff(current: Customer, patch: ProfilePatch) -> tuple[Customer, list[FieldChange]]:
    """The record after ``patch`` and each field that really changed (old → new, as JSON).

    A field given with the value it has (after normalisation: blanks, case of an email, tags'
    order) is no change; no change at all gives ``(current, [])``: nothing to write."""
    changes: list[FieldChange] = []
    values: dict[str, Any] = {}
    for field in EDITABLE:
        if field not in patch.model_fields_set:
            continue
        new = _normalised(field, getattr(patch, field))
        old = getattr(current, field)
        if _same(field, old, new):
            continue
        values[field] = new
        changes.append(FieldChange(field=field, old=_json(old), new=_json(new)))
    if not changes:
        return current, []
    return current.model_copy(update={**values, "revision": current.revision + 1}), changes


def profile_updated(before: Customer, after: Customer, changes: list[FieldChange], *, by: str,
                    now: datetime) -> CustomerProfileUpdated:
    return CustomerProfileUpdated(customer_id=before.id, occurred_at=now, changes=changes,
                                  revision=after.revision, changed_by=by)


# --- referrals ---------------------------------------------------------------------------------


def check_referrer(customer_id: uuid.UUID, referrer_id: uuid.UUID, chain: Sequence[uuid.UUID]) -> None:
    """``chain``: the referrer, who referred the referrer, and so on up (as the store reads it).

    A customer cannot refer itself, and a referral cannot close a loop: if the customer is
    already up the referrer's chain, the chain would never end."""
    if referrer_id == customer_id:
        raise Conflict(f"customer {customer_id} cannot be referred by itself", code="referral_self",
                       errors=[FieldProblem("referred_by", "the customer itself", "referral_self")])
    if customer_id in chain:
        loop = [*chain[: chain.index(customer_id) + 1]]
        path = " → ".join(str(c) for c in [customer_id, *loop])
        raise Conflict(f"referred_by {referrer_id} would make a loop: {path} (each referred by the next)",
                       code="referral_cycle", chain=[str(c) for c in loop],
                       errors=[FieldProblem("referred_by", "would make a referral loop", "referral_cycle")])
    if len(chain) >= MAX_REFERRAL_DEPTH:
        raise Conflict(f"the referral chain above {referrer_id} is longer than {MAX_REFERRAL_DEPTH}",
                       code="referral_too_deep")


# --- history -----------------------------------------------------------------------------------


class HistoryChange(BaseModel):
    field: str
    old: Any = None
    new: Any = None


class HistoryEntry(BaseModel):
    """One change of the record (a revision), or its registration (the oldest entry)."""

    revision: int = Field(description="The record's revision after this change (1: registration).")
    kind: Literal["registered", "changed"]
    changed_at: datetime
    changed_by: str | None = Field(None, description="Who: a person's login name or an API token's name; "
                                   "unknown for a registration.")
    changes: list[HistoryChange] = Field(description="Each field: old → new. A registration gives the "
                                         "values it started with (old is null).")


class HistoryPage(BaseModel):
    items: list[HistoryEntry] = Field(description="Newest first.")
    next_cursor: str | None = Field(None, description="Give it as `cursor` for older entries.")


def history_entries(rows: Iterable[Mapping[str, Any]]) -> list[HistoryEntry]:
    """Change rows (revision, field, old_value, new_value, changed_by, changed_at), newest
    revision first, as one entry per revision with its fields in ``EDITABLE`` order."""
    entries: dict[int, HistoryEntry] = {}
    for row in rows:
        entry = entries.get(row["revision"])
        if entry is None:
            entry = entries[row["revision"]] = HistoryEntry(
                revision=row["revision"], kind="changed", changed_at=row["changed_at"],
                changed_by=row["changed_by"], changes=[])
        entry.changes.append(HistoryChange(field=row["field"], old=row["old_value"], new=row["new_value"]))
    order = {name: i for i, name in enumerate(EDITABLE)}
    for entry in entries.values():
        entry.changes.sort(key=lambda c: (order.get(c.field, len(order)), c.field))
    return sorted(entries.values(), key=lambda e: e.revision, reverse=True)


def registration_entry(current: Customer, first_old: Mapping[str, Any]) -> HistoryEntry:
    """The record as registered: each field's value before its first change (``first_old``),
    else its value now; fields that started empty are left out."""
    changes = []
    for field in EDITABLE:
        value = first_old[field] if field in first_old else _json(getattr(current, field))
        if value not in (None, [], ""):
            changes.append(HistoryChange(field=field, old=None, new=value))
    return HistoryEntry(revision=1, kind="registered", changed_at=current.created_at, changed_by=None,
                        changes=changes)
