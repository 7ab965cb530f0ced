#!/usr/bin/env python3
"""Last season's sales of a small tea shop, as a CSV for `kehu import orders`, dated back from today.

    python3 examples/last_season.py -o last-season.csv [--today 2026-12-06]

The dates are relative (days before ``--today``, default today in the shop's time zone,
``KEHU_TIMEZONE`` or Asia/Shanghai, the zone the import reads a date in and counts ``recency_days``
in), so the customers are in the same state whenever it is run: 陈杰 (chen-jie) bought 4 packets
every week for 16 weeks, then 2 for 4 weeks, and stopped 41 days ago; 王丽 (wang-li) bought one
every week for 12 weeks and stopped 99 days ago; 赵敏 (zhao-min) bought once, 167 days ago. The
last row has an impossible date, to show how a bad row is reported. Python's standard library only.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HEADER = ("customer_ref", "name", "occurred_at", "quantity", "amount", "sku", "channel")


def rows(today: date) -> list[tuple[str, ...]]:
    def weekly(ref: str, name: str, last_days_ago: int, baskets: list[tuple[int, str]]) -> list[tuple[str, ...]]:
        first = last_days_ago + 7 * (len(baskets) - 1)
        return [(ref, name, (today - timedelta(days=first - 7 * week)).isoformat(), str(quantity), amount, "tea", "store")
                for week, (quantity, amount) in enumerate(baskets)]

    sales = (weekly("chen-jie", "陈杰", 41, [(4, "72.00")] * 16 + [(2, "36.00")] * 4)
             + weekly("wang-li", "王丽", 99, [(1, "36.00")] * 12)
             + weekly("zhao-min", "赵敏", 167, [(1, "18.00")]))
    sales.sort(key=lambda row: (row[2], row[0]))
    return [*sales, ("zhao-min", "赵敏", f"{today.year}-13-01", "1", "18.00", "tea", "store")]


def shop_today(now: datetime) -> date:
    """The shop's date at ``now``: at 02:00 in Shanghai the UTC date is still yesterday's."""
    return now.astimezone(ZoneInfo(os.environ.get("KEHU_TIMEZONE") or "Asia/Shanghai")).date()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--today", type=date.fromisoformat, default=shop_today(datetime.now(UTC)),
                        help="the day the dates count back from (default: today in KEHU_TIMEZONE, Asia/Shanghai)")
    parser.add_argument("-o", "--output", help="CSV file to write (default: stdout)")
    args = parser.parse_args(argv)
    with open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout as target:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows(args.today))
    return 0


if __name__ == "__main__":
    sys.exit(main())
