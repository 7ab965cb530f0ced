"""What a valid SLA policy and shop calendar are: every wrong value a 422 naming its field."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from pydantic import ValidationError

from services.tickets.domain import sla
from services.tickets.domain.sla_settings import (
    CalendarIn,
    PoliciesIn,
    check_calendar,
    check_policies,
    policy_order,
    weekly_json,
)
from shared.errors import Invalid

ROW = {"kind": "complaint", "priority": "high", "first_response_min": 120, "resolution_min": 1080}


def _locations(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.value.errors()]


def test_a_resolution_shorter_than_the_first_response_names_resolution_min() -> None:
    with pytest.raises(ValidationError) as exc:
        PoliciesIn.model_validate({"policies": [ROW, ROW | {"first_response_min": 300, "resolution_min": 200}]})
    assert _locations(exc) == ["policies.1.resolution_min"]
    assert "shorter than first_response_min 300" in str(exc.value)


def test_null_is_no_clock_and_equal_times_are_fine() -> None:
    rows = PoliciesIn.model_validate({"policies": [ROW | {"first_response_min": None},
                                                   ROW | {"priority": "low", "resolution_min": 120}]}).policies
    assert rows[0].first_response_min is None and rows[1].resolution_min == 120


@pytest.mark.parametrize(("change", "where"), [
    ({"kind": "praise"}, "policies.0.kind"), ({"priority": "urgent"}, "policies.0.priority"),
    ({"first_response_min": 0}, "policies.0.first_response_min"),
    ({"resolution_min": 100_001}, "policies.0.resolution_min"), ({"extra": 1}, "policies.0.extra"),
])
def test_a_policy_value_that_is_not_one_is_named(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PoliciesIn.model_validate({"policies": [ROW | change]})
    assert _locations(exc) == [where]


def test_a_kind_and_priority_given_twice_names_the_second() -> None:
    rows = PoliciesIn.model_validate({"policies": [ROW, ROW | {"priority": "low"}, ROW]}).policies
    with pytest.raises(Invalid) as exc:
        check_policies(rows)
    assert [e.field for e in exc.value.errors or []] == ["policies[2]"]


def test_policies_are_listed_complaints_first_critical_first() -> None:
    keys = [(k, p) for k in ("feedback", "complaint", "service_request") for p in ("low", "critical", "normal")]
    assert sorted(keys, key=lambda k: policy_order(*k))[:3] == [
        ("complaint", "critical"), ("complaint", "normal"), ("complaint", "low")]


def _problems(body: dict[str, Any], zone: str = "Asia/Shanghai") -> list[str]:
    with pytest.raises(Invalid) as exc:
        check_calendar(CalendarIn.model_validate(body), zone)
    return [e.field for e in exc.value.errors or []]


def test_every_wrong_hour_is_named_at_once() -> None:
    assert _problems({"weekly": {"1": [["09:00", "12:00"], ["11:00", "18:00"]], "3": [["18:00", "09:00"]],
                                 "5": [["9:00", "18:00"]], "8": [], "x": []},
                      "days": [{"day": "2026-10-01", "hours": [["24:00", "24:00"]]},
                               {"day": "2026-10-01", "hours": []}]}) == [
        "weekly.1[1]", "weekly.3[0]", "weekly.5[0]", "weekly.8", "weekly.x", "days[0].hours[0]", "days[1].day"]


def test_a_week_open_less_than_two_hours_and_another_zone_are_refused() -> None:
    assert _problems({"weekly": {"1": [["09:00", "10:59"]]}}) == ["weekly"]
    assert _problems({"zone": "Europe/Berlin"}) == ["zone"]


def test_an_interval_is_a_pair() -> None:
    with pytest.raises(ValidationError) as exc:
        CalendarIn.model_validate({"weekly": {"1": [["09:00"]]}})
    assert _locations(exc) == ["weekly.1.0"]


def test_a_good_calendar_parses_and_keeps_what_is_left_out() -> None:
    weekly, days = check_calendar(CalendarIn.model_validate(
        {"zone": "Asia/Shanghai", "weekly": {"2": [["13:00", "18:00"], ["09:00", "12:00"]], "6": [["10:00", "24:00"]]},
         "days": [{"day": "2027-02-06", "hours": [["09:00", "18:00"]], "name": "春节调休"},
                  {"day": "2027-02-08", "hours": [], "name": "春节"}]}), "Asia/Shanghai")
    assert weekly == {2: ((time(9), time(12)), (time(13), time(18))), 6: ((time(10), sla.END_OF_DAY),)}
    assert days == {date(2027, 2, 6): (((time(9), time(18)),), "春节调休"), date(2027, 2, 8): ((), "春节")}
    assert weekly_json(weekly)["2"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert weekly_json(weekly)["1"] == [] and weekly_json(weekly)["6"] == [["10:00", "24:00"]]
    assert check_calendar(CalendarIn.model_validate({"days": []}), "Asia/Shanghai") == (None, {})
