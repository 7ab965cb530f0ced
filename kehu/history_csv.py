"""What an order-history CSV says: its columns, each row as an order, and why a row is bad. Pure.

``kehu import orders`` (``kehu.importer``) reads the whole file with ``parse_csv`` first and
reports every bad row by line number before it sends anything. The columns are in the module
doc of ``kehu.importer`` and in the README.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from services.orders.domain.orders import CENT, MAX_AMOUNT, MAX_CLOCK_SKEW, unit_price_for

REQUIRED_COLUMNS = ("customer_ref", "occurred_at", "quantity", "amount")
OPTIONAL_COLUMNS = ("sku", "channel", "order_ref", "name", "owner")
DEFAULT_SKU = "import"
MAX_REF = 100  # external_ref of customers and orders
MAX_SKU = 64
MAX_NAME = 200
MAX_OWNER = 64
MAX_QUANTITY = Decimal("999999999.999")  # numeric(12,3)

CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^(\d{4})(-?)(\d{2})\2(\d{2})$")  # YYYY-MM-DD or YYYYMMDD



class HeaderError(ValueError):
    """The file cannot be read as an order history at all (no row can be taken)."""


class RowError(ValueError):
    """Why one row is skipped."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    line: int
    customer_ref: str
    name: str | None
    owner: str | None
    occurred_at: datetime
    quantity: Decimal
    amount: Decimal
    unit_price: Decimal
    sku: str
    channel: str
    order_ref: str


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Parsed:
    rows: list[OrderRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    read: int = 0


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """RFC 3339 with an offset, or a date alone (``YYYY-MM-DD``, ``YYYYMMDD``: the start of that day in ``zone``)."""
    day = _DATE.match(text)
    if day:
        try:
            return datetime.combine(date(int(day[1]), int(day[3]), int(day[4])), datetime.min.time(), zone)
        except ValueError as exc:
            raise RowError(f"occurred_at {text!r} is not a date ({exc})") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"occurred_at {text!r} is not a date (YYYY-MM-DD, YYYYMMDD) or an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise RowError(f"occurred_at {text!r} has no UTC offset (write e.g. {text}+08:00 or {text}Z)")
    return moment


def utc_text(moment: datetime) -> str:
    """``1997-01-01T05:00:00Z``: one spelling per instant, whatever offset the file wrote it with."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def derived_order_ref(customer_ref: str, occurred_at: datetime, n: int) -> str:
    """The external_ref of the n-th row (from 1) of this customer at this time in the file."""
    readable = f"import:{customer_ref}:{utc_text(occurred_at)}:{n}"
    if len(readable) <= MAX_REF:
        return readable
    return "import:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


def _decimal(text: str, what: str) -> Decimal:
    if not _NUMBER.match(text):
        raise RowError(f"{what} {text!r} is not a number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RowError(f"{what} {text!r} is not a number") from None


class RowReader:
    """Turns the fields of one CSV row into an ``OrderRow``, or says why not."""

    def __init__(self, header: Sequence[str], *, zone: ZoneInfo, channel: str, now: datetime) -> None:
        names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
        unknown = [h for h in names if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if unknown:
            raise HeaderError(
                f"unknown column(s) {', '.join(map(repr, unknown))}; the header has "
                f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}")
        repeated = sorted({h for h in names if names.count(h) > 1})
        if repeated:
            raise HeaderError(f"column(s) {', '.join(map(repr, repeated))} appear more than once in the header")
        missing = [h for h in REQUIRED_COLUMNS if h not in names]
        if missing:
            raise HeaderError(f"the header lacks {', '.join(map(repr, missing))} (it has {', '.join(names)})")
        self.width = len(names)
        self.index = {name: i for i, name in enumerate(names)}
        self.zone = zone
        self.channel = channel
        self.latest = now + MAX_CLOCK_SKEW
        self._seen: dict[tuple[str, datetime], int] = {}  # rows per (customer, instant), for derived refs
        self._refs: dict[str, int] = {}  # order ref → line that has it
        self._times: dict[str, datetime] = {}

    def _get(self, fields: Sequence[str], column: str) -> str:
        i = self.index.get(column)
        return "" if i is None else fields[i].strip()

    def read(self, line: int, fields: Sequence[str]) -> OrderRow:
        if len(fields) != self.width:
            raise RowError(f"expected {self.width} fields, got {len(fields)}")
        customer_ref = self._get(fields, "customer_ref")
        if not customer_ref:
            raise RowError("customer_ref is empty")
        if len(customer_ref) > MAX_REF:
            raise RowError(f"customer_ref is longer than {MAX_REF} characters")
        occurred_at = self._time(self._get(fields, "occurred_at"))
        key = (customer_ref, occurred_at)
        n = self._seen[key] = self._seen.get(key, 0) + 1  # counted before the rest is checked: see the module doc
        if occurred_at > self.latest:
            raise RowError(f"occurred_at {utc_text(occurred_at)} is in the future")
        quantity = _decimal(self._get(fields, "quantity"), "quantity")
        if not quantity.is_finite() or quantity <= 0:
            raise RowError(f"quantity must be greater than 0 (got {quantity})")
        if quantity != quantity.quantize(Decimal("0.001")):
            raise RowError(f"quantity {quantity} has more than 3 decimals")
        if quantity > MAX_QUANTITY:
            raise RowError(f"quantity {quantity} is too large")
        amount = _decimal(self._get(fields, "amount"), "amount")
        if amount < 0:
            raise RowError(f"amount {amount} is negative")
        if amount != amount.quantize(CENT):
            raise RowError(f"amount {amount} has more than 2 decimals")
        if amount > MAX_AMOUNT:
            raise RowError(f"amount {amount} is too large")
        unit_price = unit_price_for(amount, quantity)
        if unit_price > MAX_AMOUNT:
            raise RowError(f"the unit price {amount} / {quantity} is too large")
        sku = self._get(fields, "sku") or DEFAULT_SKU
        if len(sku) > MAX_SKU:
            raise RowError(f"sku is longer than {MAX_SKU} characters")
        channel = self._get(fields, "channel") or self.channel
        if not CHANNEL.match(channel):
            raise RowError(f"channel {channel!r} must be 1-32 lower-case letters, digits or _, starting with a letter")
        name = self._get(fields, "name") or None
        if name is not None and len(name) > MAX_NAME:
            raise RowError(f"name is longer than {MAX_NAME} characters")
        owner = self._get(fields, "owner") or None
        if owner is not None and len(owner) > MAX_OWNER:
            raise RowError(f"owner is longer than {MAX_OWNER} characters")
        order_ref = self._get(fields, "order_ref")
        if len(order_ref) > MAX_REF:
            raise RowError(f"order_ref is longer than {MAX_REF} characters")
        order_ref = order_ref or derived_order_ref(customer_ref, occurred_at, n)
        first = self._refs.setdefault(order_ref, line)
        if first != line:
            raise RowError(f"order_ref {order_ref!r} repeats line {first}")
        return OrderRow(line, customer_ref, name, owner, occurred_at, quantity, amount.quantize(CENT), unit_price, sku,
                        channel, order_ref)

    def _time(self, text: str) -> datetime:
        moment = self._times.get(text)  # a history has far fewer distinct times than rows
        if moment is None:
            if not text:
                raise RowError("occurred_at is empty")
            moment = self._times[text] = parse_time(text, self.zone)
        return moment


def parse_csv(lines: Iterable[str], *, zone: ZoneInfo, channel: str, now: datetime) -> Parsed:
    """Every row of the file, read: the valid ones as orders, the others with the reason."""
    reader = csv.reader(lines)
    parsed = Parsed()
    try:
        header = next((fields for fields in reader if any(f.strip() for f in fields)), None)
        if header is None:
            raise HeaderError("the file is empty (expected a header: " + ",".join(REQUIRED_COLUMNS) + ")")
        rows = RowReader(header, zone=zone, channel=channel, now=now)
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line is not a row
            parsed.read += 1
            try:
                parsed.rows.append(rows.read(reader.line_num, fields))
            except RowError as exc:
                parsed.bad.append(BadRow(reader.line_num, str(exc)))
    except csv.Error as exc:
        raise HeaderError(f"line {reader.line_num}: not readable as CSV ({exc})") from exc
    return parsed
