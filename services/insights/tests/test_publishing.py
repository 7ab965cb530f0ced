"""Which conclusions insights announces on kehu.insights: news, not an imported past."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from services.insights.handlers import Projector
from shared.events import AlertEvidence, CustomerAlertRaised
from shared.settings import Settings


def _alert(days_ago: float, now: float) -> CustomerAlertRaised:
    return CustomerAlertRaised(
        customer_id=uuid.uuid4(), occurred_at=datetime.fromtimestamp(now, UTC) - timedelta(days=days_ago),
        alert_id=uuid.uuid4(), kind="purchase_overdue", rule_version="r", evidence=AlertEvidence(),
    )


def test_live_an_imported_history_is_recorded_but_only_recent_conclusions_are_announced() -> None:
    projector = Projector(Settings(insights_clock="wall", insights_publish_days=90))
    now = time.time()
    recent, old = _alert(10, now), _alert(400, now)
    assert projector._fresh([recent, old]) == [recent]


def test_on_the_event_clock_news_is_measured_from_the_watermark() -> None:
    projector = Projector(Settings(insights_clock="events", insights_publish_days=90))
    watermark = datetime(1997, 9, 30, tzinfo=UTC).timestamp()
    projector.watermark = watermark
    recent, old = _alert(5, watermark), _alert(200, watermark)
    assert projector._fresh([recent, old]) == [recent]


def test_zero_announces_everything() -> None:
    projector = Projector(Settings(insights_publish_days=0))
    events = [_alert(5000, time.time())]
    assert projector._fresh(events) == events
