"""The console names the complaint_unanswered alert in both languages (Today, the alert list)."""

from __future__ import annotations

from typing import get_args

from console.i18n import Texts
from console.pages.common import ALERT_KINDS, alert_kind_label
from shared.events import AlertKind


def test_every_alert_kind_has_a_label_on_today_and_complaint_unanswered_reads_well() -> None:
    assert set(ALERT_KINDS) == set(get_args(AlertKind))
    assert alert_kind_label(Texts("zh-CN"), "complaint_unanswered") == "投诉未及时答复"
    assert alert_kind_label(Texts("en"), "complaint_unanswered") == "Complaint unanswered"
    for kind in ALERT_KINDS:
        assert alert_kind_label(Texts("zh-CN"), kind) != kind
