"""Follow-ups (定人定时): a named person follows a customer up at a set time. Rules only, no I/O.

What a valid follow-up is, who may log it under which name, what it does to the customer's
``last_follow_up_at`` and ``next_follow_up_due``, and which customers are due on a day. Days are
the shop's calendar days (``zone``, KEHU_TIMEZONE): "due today" means today in the shop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import MAX_CLOCK_SKEW
from shared.errors import FieldProblem, Forbidden, InFuture, Invalid
from shared.events import BusinessTime, Channel, FollowUpLogged, FollowUpOutcome

MAX_WITHIN_DAYS = 366
"""How far ahead the due list looks at most (``within_days``)."""


class NewFollowUp(BaseModel):
    """A follow-up to log, as the person who made it tells it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    occurred_at: BusinessTime | None = Field(
        None, description="Business time: when the customer was followed up. Default: now; not in the future "
        "(beyond a few minutes of clock skew).")
    channel: Channel
    note: str = Field("", max_length=4000, description="What was said or agreed.")
    outcome: FollowUpOutcome
    next_due: date | None = Field(
        None, description="The shop's calendar day the next follow-up is due; not before the day of `occurred_at`. "
        "Left out: no next follow-up planned (this clears the customer's due date, see the route).")
    by: str | None = Field(
        None, min_length=1, max_length=200,
        description="Who followed up. Default: the caller (a person's sign-in name, or the API token's name). "
        "A salesperson may log only as themselves.")


class FollowUp(BaseModel):
    """A logged follow-up."""

    id: uuid.UUID
    customer_id: uuid.UUID
    by: str = Field(description="Who followed up.")
    occurred_at: datetime = Field(description="Business time: when.")
    channel: str
    note: str
    outcome: FollowUpOutcome
    next_due: date | None = Field(description="When the next follow-up is due (the shop's calendar day).")
    recorded_at: datetime = Field(description="When contacts recorded it.")


class FollowUpInFuture(InFuture):
    field_name = "body.occurred_at"


class LoggedAsSomeoneElse(Forbidden):
    """403: a salesperson named another person in ``by``."""

    def __init__(self, caller: str, named: str) -> None:
        super().__init__(
            f"a salesperson logs follow-ups only as themselves ({caller}), not as {named}: leave `by` out, or ask "
            f"a manager to log it for {named}", code="log_as_other", by=named)


def author(by: str | None, *, caller: str, scoped: bool) -> str:
    """Who the follow-up is logged under: ``by``, or the caller when not given. ``scoped``: the
    caller is a salesperson (``shared.scopes``), who may not put words in someone else's name."""
    if by is None or by == caller:
        return caller
    if scoped:
        raise LoggedAsSomeoneElse(caller, by)
    return by


def log_follow_up(
    new: NewFollowUp, *, follow_up_id: uuid.UUID, customer_id: uuid.UUID, by: str, now: datetime, zone: ZoneInfo
) -> tuple[FollowUp, FollowUpLogged]:
    """The follow-up and its event; refuses a time in the future and a next due day before the
    follow-up's own day (422 naming the field)."""
    occurred_at = new.occurred_at or now
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise FollowUpInFuture(occurred_at)
    day = occurred_at.astimezone(zone).date()
    if new.next_due is not None and new.next_due < day:
        message = f"next_due {new.next_due.isoformat()} is before the day of the follow-up ({day.isoformat()})"
        raise Invalid(f"body.next_due: {message}",
                      errors=[FieldProblem("body.next_due", message, "next_due_before_follow_up")])
    follow_up = FollowUp(id=follow_up_id, customer_id=customer_id, by=by, occurred_at=occurred_at,
                         channel=new.channel, note=new.note, outcome=new.outcome, next_due=new.next_due,
                         recorded_at=now)
    event = FollowUpLogged(customer_id=customer_id, occurred_at=occurred_at, follow_up_id=follow_up_id, by=by,
                           channel=new.channel, note=new.note, outcome=new.outcome, next_due=new.next_due)
    return follow_up, event


@dataclass(frozen=True)
class FollowUpState:
    """What a customer record says about its follow-ups."""

    last_follow_up_at: datetime | None
    next_follow_up_due: date | None


def after(state: FollowUpState, follow_up: FollowUp) -> FollowUpState:
    """The customer's follow-up columns once ``follow_up`` is logged.

    ``last_follow_up_at`` is the latest follow-up's time (a follow-up logged late, for an earlier
    time, does not move it back). ``next_follow_up_due`` is what the latest follow-up planned: a
    follow-up that is the latest and names no next due day clears it, because the person who spoke
    to the customer last decided nothing more is due; a late-logged older one changes nothing.
    Equal times: the one logged last counts.
    """
    last = state.last_follow_up_at
    if last is not None and follow_up.occurred_at < last:
        return state
    return FollowUpState(follow_up.occurred_at, follow_up.next_due)


# --- what is due -------------------------------------------------------------------------------


def due_by(as_of: datetime, zone: ZoneInfo, within_days: int = 0) -> date:
    """The last due day the list takes: the shop's day of ``as_of``, plus ``within_days``."""
    return as_of.astimezone(zone).date() + timedelta(days=within_days)


def days_overdue(next_due: date, as_of: datetime, zone: ZoneInfo) -> int:
    """Whole shop days since the follow-up was due: 0 due today, 3 three days late, -2 due in two days."""
    return (as_of.astimezone(zone).date() - next_due).days
