"""The example files the README's import section uses read as the README says."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kehu.history_csv import parse_csv

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_history_example_has_three_good_rows_and_two_bad_ones() -> None:
    with (EXAMPLES / "history.csv").open(encoding="utf-8", newline="") as lines:
        parsed = parse_csv(lines, zone=ZoneInfo("UTC"), channel="import", now=datetime.now(UTC))
    assert (parsed.read, len(parsed.rows)) == (5, 3)
    assert [str(bad) for bad in parsed.bad] == [
        "line 5: occurred_at '2024-03-32' is not a date (day is out of range for month)",
        "line 6: quantity must be greater than 0 (got 0)"]


def test_last_season_is_dated_back_from_today_with_one_bad_row() -> None:
    text = subprocess.run([sys.executable, str(EXAMPLES / "last_season.py"), "--today", "2026-11-24"],
                          check=True, capture_output=True, text=True).stdout
    parsed = parse_csv(io.StringIO(text, newline=""), zone=ZoneInfo("UTC"), channel="import",
                       now=datetime(2026, 11, 24, tzinfo=UTC))
    assert (parsed.read, len(parsed.rows)) == (34, 33)
    assert [str(bad) for bad in parsed.bad] == ["line 35: occurred_at '2026-13-01' is not a date (month must be in 1..12)"]
    last = {row.customer_ref: row.occurred_at.date().isoformat() for row in parsed.rows}
    assert last == {"chen-jie": "2026-10-14", "wang-li": "2026-08-17", "zhao-min": "2026-06-10"}


def test_last_season_counts_back_from_the_shops_today_not_utcs(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 03:30 in Shanghai the UTC date is still yesterday's: wang-li's 99 days would read as 100."""
    spec = importlib.util.spec_from_file_location("last_season", EXAMPLES / "last_season.py")
    assert spec is not None and spec.loader is not None
    last_season = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(last_season)
    evening_utc = datetime(2026, 12, 6, 19, 30, tzinfo=UTC)
    monkeypatch.delenv("KEHU_TIMEZONE", raising=False)
    assert last_season.shop_today(evening_utc) == date(2026, 12, 7)
    monkeypatch.setenv("KEHU_TIMEZONE", "America/New_York")
    assert last_season.shop_today(evening_utc) == date(2026, 12, 6)
