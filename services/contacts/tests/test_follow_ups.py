"""Follow-up rules: who logs, time and next-due checks, what the customer's columns become, and
which day is "today" for the due list (the shop's, at its day boundaries)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.contacts.domain.follow_ups import (
    FollowUp,
    FollowUpInFuture,
    FollowUpState,
    LoggedAsSomeoneElse,
    NewFollowUp,
    after,
    author,
    days_overdue,
    due_by,
    log_follow_up,
)
from shared.errors import Invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 March in Shanghai
CUSTOMER = uuid.UUID("01900000-0000-7000-8000-000000000001")


def _new(**fields: object) -> NewFollowUp:
    return NewFollowUp.model_validate({"channel": "phone", "outcome": "order_expected", "note": "想要新茶", **fields})


def _log(new: NewFollowUp, now: datetime = NOW, by: str = "wang") -> FollowUp:
    follow_up, _ = log_follow_up(new, follow_up_id=uuid.uuid4(), customer_id=CUSTOMER, by=by, now=now, zone=SHANGHAI)
    return follow_up


# --- who -------------------------------------------------------------------------------------


def test_by_defaults_to_the_caller() -> None:
    assert author(None, caller="wang", scoped=True) == "wang"
    assert author(None, caller="till-1", scoped=False) == "till-1"


def test_a_salesperson_may_name_themselves_but_nobody_else() -> None:
    assert author("wang", caller="wang", scoped=True) == "wang"
    with pytest.raises(LoggedAsSomeoneElse) as refused:
        author("li", caller="wang", scoped=True)
    assert refused.value.status == 403
    assert "li" in refused.value.detail and "wang" in refused.value.detail


def test_a_manager_may_log_for_a_colleague() -> None:
    assert author("li", caller="mgr", scoped=False) == "li"


# --- when and next due -----------------------------------------------------------------------


def test_occurred_at_defaults_to_now_and_the_event_says_the_same() -> None:
    follow_up, event = log_follow_up(_new(next_due="2026-03-03"), follow_up_id=uuid.uuid4(), customer_id=CUSTOMER,
                                     by="wang", now=NOW, zone=SHANGHAI)
    assert follow_up.occurred_at == NOW == event.occurred_at
    assert event.next_due == date(2026, 3, 3) and event.by == "wang" and event.follow_up_id == follow_up.id
    assert event.outcome == "order_expected" and event.note == "想要新茶"


def test_a_follow_up_in_the_future_beyond_clock_skew_is_refused_naming_the_field() -> None:
    _log(_new(occurred_at=(NOW + timedelta(minutes=4)).isoformat()))  # within skew: fine
    with pytest.raises(FollowUpInFuture) as refused:
        _log(_new(occurred_at=(NOW + timedelta(minutes=6)).isoformat()))
    assert refused.value.status == 422
    assert refused.value.errors is not None and refused.value.errors[0].field == "body.occurred_at"


def test_next_due_may_be_the_follow_up_day_itself_but_not_before() -> None:
    assert _log(_new(next_due="2026-03-01")).next_due == date(2026, 3, 1)
    with pytest.raises(Invalid) as refused:
        _log(_new(next_due="2026-02-28"))
    assert refused.value.errors is not None and refused.value.errors[0].field == "body.next_due"
    assert "2026-03-01" in refused.value.detail


def test_the_follow_up_day_is_the_shops_day_not_utcs() -> None:
    # 20:00 UTC on 28 Feb is 04:00 on 1 March in Shanghai: 28 Feb is already "before the follow-up's day".
    late_evening_utc = datetime(2026, 2, 28, 20, 0, tzinfo=UTC)
    with pytest.raises(Invalid):
        _log(_new(occurred_at=late_evening_utc.isoformat(), next_due="2026-02-28"))
    # A back-dated follow-up may plan a day still before today.
    assert _log(_new(occurred_at="2026-02-20T10:00:00+08:00", next_due="2026-02-25")).next_due == date(2026, 2, 25)


def test_unknown_outcome_and_extra_fields_are_refused() -> None:
    with pytest.raises(ValueError):
        _new(outcome="maybe")
    with pytest.raises(ValueError):
        _new(mood="good")
    with pytest.raises(ValueError):
        _new(channel="Phone Call")  # a channel is a lower-case word


# --- the customer's columns ------------------------------------------------------------------


def test_the_first_follow_up_sets_both_columns() -> None:
    f = _log(_new(next_due="2026-03-03"))
    assert after(FollowUpState(None, None), f) == FollowUpState(NOW, date(2026, 3, 3))


def test_a_newer_follow_up_without_next_due_clears_the_due_date() -> None:
    state = FollowUpState(NOW - timedelta(days=2), date(2026, 3, 1))
    assert after(state, _log(_new())) == FollowUpState(NOW, None)


def test_a_follow_up_logged_late_for_an_earlier_time_changes_nothing() -> None:
    state = FollowUpState(NOW, date(2026, 3, 10))
    older = _log(_new(occurred_at=(NOW - timedelta(days=3)).isoformat(), next_due="2026-02-27"))
    assert after(state, older) == state


def test_at_the_same_time_the_one_logged_last_counts() -> None:
    state = FollowUpState(NOW, date(2026, 3, 10))
    assert after(state, _log(_new(occurred_at=NOW.isoformat(), next_due="2026-03-05"))).next_follow_up_due == \
        date(2026, 3, 5)


# --- what is due, in the shop's days ---------------------------------------------------------


def test_due_by_is_the_shops_day_of_as_of_plus_within_days() -> None:
    just_before_midnight = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)  # 23:59 on 2 March in Shanghai
    just_after_midnight = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 00:00 on 3 March in Shanghai
    assert due_by(just_before_midnight, SHANGHAI) == date(2026, 3, 2)
    assert due_by(just_after_midnight, SHANGHAI) == date(2026, 3, 3)
    assert due_by(just_after_midnight, SHANGHAI, within_days=7) == date(2026, 3, 10)
    # The same instant in another shop's zone is still 2 March.
    assert due_by(just_after_midnight, ZoneInfo("Europe/Berlin")) == date(2026, 3, 2)


def test_days_overdue_counts_shop_days() -> None:
    due = date(2026, 3, 3)
    assert days_overdue(due, datetime(2026, 3, 2, 15, 59, tzinfo=UTC), SHANGHAI) == -1  # due tomorrow
    assert days_overdue(due, datetime(2026, 3, 2, 16, 0, tzinfo=UTC), SHANGHAI) == 0  # due today
    assert days_overdue(due, datetime(2026, 3, 3, 16, 0, tzinfo=UTC), SHANGHAI) == 1
    assert days_overdue(due, datetime(2026, 3, 15, 9, 0, tzinfo=SHANGHAI), SHANGHAI) == 12  # 逾期 12 天
