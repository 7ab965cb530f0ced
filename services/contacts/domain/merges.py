"""Merging a duplicate customer into the survivor, and undoing it: the rules. Pure, no I/O.

Records are handled as the JSON the database gives of a row (``to_jsonb``): the merge stores both
records whole in ``merges.before`` and the undo writes them back, so what is restored is exactly
what was there, column for column.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from shared.errors import Conflict, Invalid

UNDO_DAYS = 30
UNDO_WINDOW = timedelta(days=UNDO_DAYS)
Row = dict[str, Any]

# Fields of the survivor filled from the merged record when the survivor's is empty. The owner is
# not among them: ownership changes go through assignment (with its history and pool rules).
FILLED_WHEN_EMPTY = ("phone", "email", "external_ref", "lead_source", "lead_source_detail", "channel",
                     "address", "notes", "referred_by", "tags")
# Dates the survivor takes from the merged record when they are earlier (first_*) or later (last_*).
EARLIEST = ("first_order_at", "next_follow_up_due")
LATEST = ("last_order_at", "last_follow_up_at")


class Change(BaseModel):
    field: str
    old: Any = None
    new: Any = None


def ensure_mergeable(merged: Row | None, survivor: Row | None, merged_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
    """409 (or 404) when ``merged`` may not be merged into ``survivor``, saying why."""
    if merged_id == survivor_id:
        raise Conflict(f"customer {merged_id} cannot be merged into itself", code="merge_into_self")
    for row, which, cid in ((merged, "merged", merged_id), (survivor, "survivor", survivor_id)):
        if row is None:
            from shared.errors import NotFound
            raise NotFound(f"no customer {cid} (the {which} customer)")
        if row.get("merged_into"):
            raise Conflict(
                f"customer {cid} (the {which} customer) was already merged into {row['merged_into']}; "
                "merge into that customer, or undo that merge first",
                code="already_merged", customer_id=str(cid), merged_into=str(row["merged_into"]))


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _when(value: str) -> datetime:
    """A JSON time or date as the database writes it (dates compare as midnight UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filled(survivor: Row, merged: Row) -> list[Change]:
    """What the survivor takes from the merged record: its empty fields, and the first/last dates."""
    changes: list[Change] = []
    for name in FILLED_WHEN_EMPTY:
        value = merged.get(name)
        if name == "referred_by" and value == survivor.get("id"):
            continue  # the merged customer was referred by the survivor: no self-referral
        if _empty(survivor.get(name)) and not _empty(value):
            changes.append(Change(field=name, old=survivor.get(name), new=value))
    for names, earlier in ((EARLIEST, True), (LATEST, False)):
        for name in names:
            mine, theirs = survivor.get(name), merged.get(name)
            if theirs is None:
                continue
            if mine is None or (_when(theirs) < _when(mine) if earlier else _when(theirs) > _when(mine)):
                changes.append(Change(field=name, old=mine, new=theirs))
    return changes


def merged_records(survivor: Row, merged: Row, changes: list[Change]) -> tuple[Row, Row]:
    """The two records after the merge: the survivor with the changes and its next revision; the
    merged record pointing to the survivor (and without its external_ref if the survivor took it:
    the reference is unique)."""
    new_survivor = dict(survivor) | {c.field: c.new for c in changes} | {"revision": survivor["revision"] + 1}
    new_merged = dict(merged) | {"merged_into": survivor["id"], "revision": merged["revision"] + 1}
    if any(c.field == "external_ref" for c in changes):
        new_merged["external_ref"] = None
    return new_survivor, new_merged


def merged_changes(merged: Row, new_merged: Row) -> list[Change]:
    return [Change(field=f, old=merged.get(f), new=new_merged.get(f)) for f in ("merged_into", "external_ref")
            if merged.get(f) != new_merged.get(f)]


class MergeState(BaseModel):
    """What the undo checks and restores (``merges.before``)."""

    survivor: Row = Field(description="The survivor's record before the merge (every column).")
    merged: Row = Field(description="The merged record before the merge (every column).")
    revisions_after: dict[str, int] = Field(description="Both records' revisions right after the merge.")
    identities: list[Row] = Field(default_factory=list, description="The merged customer's identities, moved.")
    contact_persons: list[Row] = Field(default_factory=list, description="Rows naming the merged customer, removed.")
    contact_persons_added: list[Row] = Field(default_factory=list, description="Those rows re-added for the survivor.")
    follow_ups: list[uuid.UUID] = Field(default_factory=list)
    referrals: list[uuid.UUID] = Field(default_factory=list, description="Customers referred by the merged one.")
    competitors: list[Row] = Field(default_factory=list)
    competitors_added: list[Row] = Field(default_factory=list)


def undo_until(merged_at: datetime) -> datetime:
    return merged_at + UNDO_WINDOW


def ensure_undoable(
    *, merge_id: uuid.UUID, merged_at: datetime, undone_at: datetime | None, as_of: datetime,
    state: MergeState, revisions_now: Mapping[str, int], identity_holders: Mapping[tuple[str, str], str | None],
) -> None:
    """409 saying why the merge can no longer be undone exactly; nothing when it can.

    ``revisions_now``: each record's revision now (by id); ``identity_holders``: who holds each
    moved identity now (None: unlinked)."""
    if undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone at {undone_at.isoformat()}", code="merge_undone")
    if as_of < merged_at:
        raise Invalid.field("query.as_of", f"{as_of.isoformat()} is before the merge ({merged_at.isoformat()})")
    if as_of > undo_until(merged_at):
        raise Conflict(
            f"merge {merge_id} can be undone for {UNDO_DAYS} days: that ended at {undo_until(merged_at).isoformat()}",
            code="merge_undo_expired", expired_at=undo_until(merged_at).isoformat())
    changed = [f"customer {cid} (revision {rev} after the merge, {revisions_now.get(cid)} now)"
               for cid, rev in state.revisions_after.items() if revisions_now.get(cid) != rev]
    if changed:
        raise Conflict(
            f"merge {merge_id} cannot be undone exactly: changed since the merge: {'; '.join(changed)}. "
            "Undo those changes (or a later merge) first, or edit the records by hand",
            code="merge_changed_since", changed=changed)
    survivor = str(state.survivor["id"])
    moved = [f"{kind} {value} (now {'unlinked' if holder is None else f'held by {holder}'})"
             for (kind, value), holder in identity_holders.items() if holder != survivor]
    if moved:
        raise Conflict(
            f"merge {merge_id} cannot be undone exactly: identities moved since the merge: {'; '.join(moved)}",
            code="merge_identities_moved", identities=moved)
