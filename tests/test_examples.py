"""The example files the README's import section uses read as the README says."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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
