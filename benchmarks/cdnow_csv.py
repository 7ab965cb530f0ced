#!/usr/bin/env python3
"""CDNOW's purchase history as a CSV that `kehu import orders` reads. A script, not part of kehu.

    .venv/bin/python benchmarks/cdnow_csv.py > /tmp/cdnow.csv                   # all 69,659 rows
    .venv/bin/python benchmarks/cdnow_csv.py --until 1997-09-30 -o /tmp/cal.csv  # calibration period
    .venv/bin/kehu import orders /tmp/cdnow.csv --currency USD   # into a kehu that takes USD (KEHU_CURRENCIES)

The source is CDNOW's purchase history, the public data set of Fader and Hardie ("Counting your
customers the easy way", Marketing Science 2005): 23,570 customers of the online music shop CDNOW
who first bought in the first quarter of 1997, and every purchase until June 1998. Bruce Hardie
publishes it on his web site (datasets: ``CDNOW_master.txt``), and the ``lifetimes`` 0.11.3 wheel
on PyPI ships a copy: ``pip download --no-deps lifetimes==0.11.3``, extract the wheel, and pass
``--source lifetimes/datasets/CDNOW_master.txt``. The default is ``../shared/data/cdnow/``
beside the repository, where kehu's developers keep it. It has the header
``customer_id date number_of_cds dollar_value``, whitespace separated, dates ``YYYYMMDD``. The CSV
has ``customer_ref,occurred_at,quantity,amount``: the zero-padded id, the date as ``YYYY-MM-DD``,
the number of CDs and the dollar value, one row per source row, in the source's order. A
customer with two rows on one day keeps both (the importer makes them two orders).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

# The shared data folder lives beside the repository (``../shared/data/cdnow/``).
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow" / "CDNOW_master.txt"
HEADER = ("customer_ref", "occurred_at", "quantity", "amount")


class RowWriter(Protocol):
    def writerow(self, row: Iterable[str], /) -> Any: ...


def convert(source: Path, out: RowWriter, until: date | None = None) -> int:
    """Write the rows of ``source`` (up to ``until`` inclusive) to ``out``; returns how many."""
    written = 0
    with source.open(encoding="ascii") as lines:
        header = next(lines).split()
        if header != ["customer_id", "date", "number_of_cds", "dollar_value"]:
            raise SystemExit(f"{source}: unexpected header {header}")
        out.writerow(HEADER)
        for number, line in enumerate(lines, start=2):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4:
                raise SystemExit(f"{source}:{number}: expected 4 fields, got {len(fields)}")
            customer, day, cds, dollars = fields
            when = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
            if until is not None and when > until:
                continue
            out.writerow((customer, when.isoformat(), cds, dollars))
            written += 1
    return written


def require_source(source: Path) -> None:
    """Stop with how to get the data when it is not there (before any output file is created)."""
    if not source.is_file():
        raise SystemExit(
            f"cdnow_csv: no CDNOW data at {source}.\n"
            "It is the public CDNOW data set of Fader and Hardie (CDNOW_master.txt, 69,659 purchases of 23,570 "
            "customers, 1997-1998), published on Bruce Hardie's web site and shipped in the lifetimes 0.11.3 "
            "wheel on PyPI:\n"
            "  pip download --no-deps lifetimes==0.11.3 && python3 -m zipfile -e Lifetimes-0.11.3-py3-none-any.whl .\n"
            "then run again with --source lifetimes/datasets/CDNOW_master.txt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"CDNOW_master.txt (default {SOURCE})")
    parser.add_argument("--until", type=date.fromisoformat, help="keep only rows up to this date (YYYY-MM-DD)")
    parser.add_argument("-o", "--output", type=Path, help="CSV file to write (default: stdout)")
    args = parser.parse_args(argv)
    require_source(args.source)
    if args.output:
        with args.output.open("w", encoding="utf-8", newline="") as target:
            written = convert(args.source, csv.writer(target, lineterminator="\n"), args.until)
    else:
        written = convert(args.source, csv.writer(sys.stdout, lineterminator="\n"), args.until)
    print(f"{written:,} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
