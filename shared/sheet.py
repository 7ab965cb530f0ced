"""A sheet people saved as text: a CSV in any encoding ``shared.textfile`` tells, or the first sheet
of an XLSX workbook, as header cells and rows of text with the line (row number) a person sees in
their editor. Pure; used by ``shared.customer_file`` (the command and the console's import page).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.textfile import decode_bytes

MAX_ROWS = 1_000_000


class FileProblem(ValueError):
    """The file cannot be read as a customer list at all (no row can be taken)."""


@dataclass
class Table:
    """A sheet as text: its header cells and each row's cells with the row's line (CSV) or row number
    (XLSX), as a person finds it in their editor."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str | None = None  # the CSV's encoding; None for a workbook


def is_workbook(filename: str, data: bytes) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"


def read_table(data: bytes, filename: str, *, encoding: str | None = None, zone: ZoneInfo | None = None) -> Table:
    """A CSV (any encoding ``shared.textfile`` tells) or the first sheet of an XLSX workbook."""
    if is_workbook(filename, data):
        return _read_workbook(data, zone or ZoneInfo("UTC"))
    try:
        decoded = decode_bytes(data, encoding)
    except ValueError as exc:
        raise FileProblem(str(exc)) from None
    reader = csv.reader(io.StringIO(decoded.text, newline=""))
    try:
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        start = 1
        for fields in reader:
            if any(f.strip() for f in fields):
                if header is None:
                    header = fields
                else:
                    rows.append((start, fields))
                    if len(rows) > MAX_ROWS:
                        raise FileProblem(f"more than {MAX_ROWS:,} rows; split the file")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileProblem(f"line {reader.line_num}: not readable as CSV ({exc})") from None
    if header is None:
        raise FileProblem("the file is empty (expected a header row such as name,phone,email)")
    return Table(header, rows, decoded.encoding)


def _read_workbook(data: bytes, zone: ZoneInfo) -> Table:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(f"not readable as an Excel workbook (.xlsx): {exc}") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise FileProblem("the workbook has no sheet")
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v, zone) for v in values]
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = cells
            else:
                rows.append((number, cells))
                if len(rows) > MAX_ROWS:
                    raise FileProblem(f"more than {MAX_ROWS:,} rows; split the file")
    finally:
        book.close()
    if header is None:
        raise FileProblem("the first sheet is empty (expected a header row such as name,phone,email)")
    while header and not header[-1].strip():
        header.pop()  # a sheet's used range often runs past the last titled column
    return Table(header, rows)


def _cell_text(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone or card number Excel stored as a number
    return str(value)
