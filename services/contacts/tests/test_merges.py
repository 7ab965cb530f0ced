"""Merge rules (pure): what the survivor takes from the merged record, and when an undo is refused."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.contacts.domain.merges import (
    MergeState,
    ensure_mergeable,
    ensure_undoable,
    filled,
    merged_records,
    undo_until,
)
from shared.errors import Conflict, NotFound

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
MERGED_AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _row(cid: uuid.UUID, **fields: object) -> dict[str, object]:
    return {"id": str(cid), "revision": 3, "phone": None, "email": None, "external_ref": None, "tags": [],
            "referred_by": None, "first_order_at": None, "last_order_at": None, "merged_into": None} | fields


def test_the_survivor_takes_only_its_empty_fields_and_the_earliest_and_latest_dates() -> None:
    survivor = _row(B, phone="+8613800138000", last_order_at="2026-01-05T00:00:00+00:00",
                    first_order_at="2025-06-01T00:00:00+00:00")
    merged = _row(A, phone="+8613900139000", email="a@x.cn", tags=["vip"],
                  first_order_at="2025-01-01T00:00:00+00:00", last_order_at="2025-12-01T00:00:00+00:00")

    changes = {c.field: c.new for c in filled(survivor, merged)}

    assert changes == {"email": "a@x.cn", "tags": ["vip"], "first_order_at": "2025-01-01T00:00:00+00:00"}


def test_a_customer_referred_by_the_survivor_does_not_make_it_refer_itself() -> None:
    assert filled(_row(B), _row(A, referred_by=str(B))) == []


def test_the_merged_record_gives_up_its_external_ref_when_the_survivor_takes_it() -> None:
    survivor, merged = _row(B), _row(A, external_ref="ERP-9")
    new_survivor, new_merged = merged_records(survivor, merged, filled(survivor, merged))
    assert (new_survivor["external_ref"], new_merged["external_ref"]) == ("ERP-9", None)
    assert (new_survivor["revision"], new_merged["revision"], new_merged["merged_into"]) == (4, 4, str(B))


def test_merging_into_itself_a_merged_or_a_missing_customer_is_refused() -> None:
    with pytest.raises(Conflict, match="itself"):
        ensure_mergeable(_row(A), _row(A), A, A)
    with pytest.raises(Conflict, match="already merged"):
        ensure_mergeable(_row(A, merged_into=str(uuid.UUID(int=9))), _row(B), A, B)
    with pytest.raises(NotFound):
        ensure_mergeable(_row(A), None, A, B)


def _state() -> MergeState:
    return MergeState(survivor=_row(B), merged=_row(A), revisions_after={str(B): 4, str(A): 4})


def _undo(as_of: datetime, *, revisions: dict[str, int] | None = None,
          holders: dict[tuple[str, str], str | None] | None = None) -> None:
    ensure_undoable(merge_id=uuid.UUID(int=5), merged_at=MERGED_AT, undone_at=None, as_of=as_of, state=_state(),
                    revisions_now=revisions or {str(B): 4, str(A): 4}, identity_holders=holders or {})


def test_an_undo_within_30_days_of_an_unchanged_merge_is_allowed() -> None:
    _undo(MERGED_AT + timedelta(days=30))


def test_an_undo_after_30_days_is_refused_saying_when_it_ended() -> None:
    with pytest.raises(Conflict, match=re.escape(undo_until(MERGED_AT).isoformat())):
        _undo(MERGED_AT + timedelta(days=30, seconds=1))


def test_an_undo_after_the_survivor_changed_is_refused_naming_it() -> None:
    with pytest.raises(Conflict, match=f"customer {B} \\(revision 4 after the merge, 5 now\\)"):
        _undo(MERGED_AT, revisions={str(B): 5, str(A): 4})


def test_an_undo_after_a_moved_identity_moved_again_is_refused_naming_it() -> None:
    with pytest.raises(Conflict, match="phone \\+8613800138000 \\(now unlinked\\)"):
        _undo(MERGED_AT, holders={("phone", "+8613800138000"): None})
