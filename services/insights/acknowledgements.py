"""Acknowledging an alert: someone took it in hand and says what they did. No I/O.

An acknowledgement is a fact about people, not about the customer's purchases: it does not clear
the alert (only its condition clearing does), and the rules never read it. It is kept on the alert
(who, when, the note), published as ``AlertAcknowledged`` and written onto the customer's timeline,
where a replay finds it again (``sql/replay.sql``: ``carry_acknowledgements``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.edge import NON_BLANK
from shared.errors import Conflict
from shared.events import AlertAcknowledged, AlertKind

MAX_NOTE = 1000


class Acknowledgement(BaseModel):
    """What the person who handled the alert says they did."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(min_length=1, max_length=MAX_NOTE, pattern=NON_BLANK,
                      description="What was done, e.g. 已电话联系 (blanks around it are dropped).")


class AlreadyAcknowledged(Conflict):
    """A second acknowledgement of one alert (409 naming who acknowledged it, and when)."""

    def __init__(self, alert_id: uuid.UUID, by: str, at: datetime) -> None:
        super().__init__(f"alert {alert_id} was already acknowledged by {by} at {at.isoformat()}",
                         title="Already acknowledged", acknowledged_by=by, acknowledged_at=at.isoformat())


def acknowledge(
    *, alert_id: uuid.UUID, customer_id: uuid.UUID, kind: AlertKind, acknowledged: tuple[str, datetime] | None,
    by: str, note: str, now: datetime,
) -> AlertAcknowledged:
    """The event of ``by`` acknowledging the alert now; ``acknowledged`` is (who, when) if someone already did."""
    if acknowledged is not None:
        raise AlreadyAcknowledged(alert_id, *acknowledged)
    return AlertAcknowledged(customer_id=customer_id, occurred_at=now, alert_id=alert_id, kind=kind,
                             note=note, acknowledged_by=by)
