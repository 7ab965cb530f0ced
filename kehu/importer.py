"""`kehu import orders FILE.csv`: an order history into kehu, through the services' own APIs.

The CSV is UTF-8 (with or without BOM) or another encoding told from its bytes (GB18030 as Excel
on Chinese Windows saves, see ``shared.textfile``), or given with ``--encoding``. It has the header
``customer_ref,occurred_at,quantity,amount`` and optionally ``sku``,
``channel``, ``order_ref``, ``name`` and ``owner`` (any order). Each valid row becomes one order of one line
(sku, quantity, and the unit price that the row's amount implies, with the amount kept exact), so
every row is an ``OrderPlaced`` on Kafka like a live order, and insights sees it as one.

1. **Parse** the whole file first and report every bad row as ``line N: reason``; a bad row is
   skipped, never silently dropped. ``--dry-run`` stops here.
2. **Customers**: every customer_ref with a valid row is registered in contacts as a customer
   whose ``external_ref`` is the customer_ref (``POST /customers/batch``); one already there is
   reused. Its ``registered_at`` is its first order, so its history starts there.
3. **Orders**: ``POST /orders/batch``, up to ``--batch`` orders per request, a few in flight.

Re-running a file creates nothing new: customers are found by their external_ref, and every order
carries an ``external_ref``: the row's ``order_ref``, else ``import:<customer_ref>:<occurred_at in
UTC>:<n>``, where n counts the rows of that customer at that time in the file (from 1), so several
orders of one customer on one day stay separate orders. Rows are counted whether or not they are
otherwise valid, so fixing a bad row and importing again does not renumber the others (a row whose
customer_ref or occurred_at was unreadable cannot be counted: give such files an ``order_ref``).

Requests that fail transiently (connection errors, 5xx, 503 with ``Retry-After``) are retried with
backoff and the same ``Idempotency-Key``. An item a service refuses (422 naming it) is reported
as a bad row and the rest of its batch is sent again. Exit code: 0 everything valid was imported,
1 some rows were bad (the good ones were imported), 2 a fatal error (service unreachable after
retries, refused token, unreadable file).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from kehu.client import cli_token
from kehu.history_csv import CHANNEL, BadRow, HeaderError, OrderRow, parse_csv
from shared.currencies import is_iso4217, refusal
from shared.settings import Settings, service_url
from shared.textfile import EncodingProblem, read_text

T = TypeVar("T")

MAX_BATCH = 1000
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # then give up: ~30 s of a service not answering
MAX_RETRY_AFTER_S = 30.0
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})

_ITEM_FIELD = re.compile(r"^(?P<list>[a-z_]+)\[(?P<index>\d+)\]\.?(?P<field>.*)$")


# --- talking to the services ------------------------------------------------------------------


class ImportFailed(Exception):
    """Fatal: the import cannot go on (exit code 2)."""


@dataclass
class Api:
    """POSTs of batches with retries of transient failures under one Idempotency-Key."""

    http: httpx.AsyncClient
    retry_delays: Sequence[float] = RETRY_DELAYS_S
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    retries: dict[str, int] = field(default_factory=dict)  # why → how many times a request was sent again
    _keys: int = 0

    def key(self, what: str) -> str:
        self._keys += 1
        return f"kehu-import-{self.run_id}-{what}-{self._keys}"

    async def post(self, url: str, body: bytes, key: str) -> httpx.Response:
        return await self.request("POST", url, body, {"Content-Type": "application/json", "Idempotency-Key": key})

    async def request(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        delays = iter(self.retry_delays)
        while True:
            try:
                response = await self.http.request(method, url, content=body, headers=headers)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                delay = next(delays, None)
                if delay is None:
                    raise ImportFailed(f"{url} unreachable ({why}) after {len(self.retry_delays) + 1} attempts") from exc
                self._retrying(type(exc).__name__)
                await asyncio.sleep(delay)
                continue
            if response.status_code in (401, 403):
                raise ImportFailed(f"{url} refused the token ({response.status_code}): {_detail(response)}")
            if response.status_code in TRANSIENT_STATUS:
                delay = next(delays, None)
                if delay is None:
                    raise ImportFailed(f"{url} answered {response.status_code} ({_detail(response)}) "
                                       f"after {len(self.retry_delays) + 1} attempts")
                self._retrying(str(response.status_code))
                await asyncio.sleep(max(delay, _retry_after(response)))
                continue
            return response

    def _retrying(self, why: str) -> None:
        self.retries[why] = self.retries.get(why, 0) + 1

    async def send(
        self, url: str, list_name: str, items: list[T], body_of: Callable[[list[T]], dict[str, Any]]
    ) -> tuple[list[tuple[T, dict[str, Any]]], list[tuple[T, str]]]:
        """Send one batch; items the service refuses (a 422 naming them) are returned with the reason
        and the others sent again. Returns (accepted item and its result, refused item and why)."""
        refused: list[tuple[T, str]] = []
        while items:
            response = await self.post(url, orjson.dumps(body_of(items)), self.key(list_name))
            if response.status_code == 200:
                return list(zip(items, response.json()["items"], strict=True)), refused
            named = _refused_items(response, list_name) if response.status_code == 422 else None
            if not named:
                raise ImportFailed(f"{url} answered {response.status_code}: {_detail(response)}")
            refused += [(items[i], why) for i, why in sorted(named.items())]
            items = [item for i, item in enumerate(items) if i not in named]
        return [], refused


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.text[:200])
    except ValueError:
        return response.text[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "0")), MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


def _refused_items(response: httpx.Response, list_name: str) -> dict[int, str] | None:
    """``{index: reason}`` when every error of a 422 names an item of the batch, else None."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return None
    named: dict[int, str] = {}
    for error in errors:
        match = _ITEM_FIELD.match(str(error.get("field", "")))
        if not match or match["list"] != list_name:
            return None
        reason = f"{match['field']}: {error.get('message')}" if match["field"] else str(error.get("message"))
        named[int(match["index"])] = "; ".join(filter(None, [named.get(int(match["index"])), reason]))
    return named or None


# --- progress ---------------------------------------------------------------------------------


class Progress:
    """``orders  12,000/69,659  17%  2,950/s  ETA 20s`` on one ``\\r`` line of a terminal, or a plain
    line every 10 % when stderr is a file or a pipe."""

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self._shown = 0.0
        self._decile = 0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self._shown >= 0.1 or self.done >= self.total:
                self._shown = now
                self.stream.write("\r" + self._line(now) + "\x1b[K")
                self.stream.flush()
        elif self.total and self.done * 10 // self.total > self._decile:
            self._decile = self.done * 10 // self.total
            self.stream.write(self._line(now) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + self._line(time.monotonic()) + "\x1b[K\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        pct = 100 * self.done // self.total if self.total else 100
        eta = f"ETA {(self.total - self.done) / rate:.0f}s" if rate > 0 and self.done < self.total else f"{elapsed:.1f}s"
        return f"{self.label:<9} {self.done:,}/{self.total:,}  {pct:3d}%  {rate:,.0f}/s  {eta}"


# --- the import -------------------------------------------------------------------------------


@dataclass
class ImportOptions:
    path: Path
    contacts_url: str
    orders_url: str
    token: str
    dry_run: bool = False
    batch: int = MAX_BATCH
    timezone: str = "UTC"
    channel: str = "import"
    currency: str | None = None
    encoding: str | None = None  # None: told from the bytes (shared.textfile)
    in_flight: int = 3
    retry_delays: Sequence[float] = RETRY_DELAYS_S


@dataclass
class ImportReport:
    read: int = 0
    valid: int = 0
    bad: list[BadRow] = field(default_factory=list)
    customers: int = 0
    customers_created: int = 0
    customers_existing: int = 0
    orders_created: int = 0
    orders_existing: int = 0
    stage_s: dict[str, float] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    encoding: str | None = None

    @property
    def exit_code(self) -> int:
        return 2 if self.fatal else 1 if self.bad else 0


async def run_import(options: ImportOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> ImportReport:
    """Parse, register customers, place orders; bad rows go to ``out``, progress to ``err``."""
    out, err = out or sys.stdout, err or sys.stderr
    report = ImportReport()
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        report.fatal = f"unknown time zone {options.timezone!r} (use an IANA name such as UTC or Asia/Shanghai)"
        return report
    if not CHANNEL.match(options.channel):
        report.fatal = f"--channel {options.channel!r} must be lower-case letters, digits or _, starting with a letter"
        return report
    if options.currency is not None and not is_iso4217(options.currency):
        report.fatal = f"--currency {options.currency!r} is not an ISO 4217 code such as CNY or USD"
        return report
    if not 1 <= options.batch <= MAX_BATCH:
        report.fatal = f"--batch must be between 1 and {MAX_BATCH}"
        return report

    started = time.monotonic()
    try:
        decoded = read_text(options.path, options.encoding)
        report.encoding = decoded.encoding
        lines = io.StringIO(decoded.text, newline="")
        parsed = parse_csv(lines, zone=zone, channel=options.channel, now=datetime.now(UTC))
    except (OSError, EncodingProblem, HeaderError) as exc:
        report.fatal = f"{options.path}: {exc}"
        return report
    report.stage_s["parse"] = time.monotonic() - started
    report.read, report.valid, report.bad = parsed.read, len(parsed.rows), parsed.bad
    for bad in parsed.bad:
        print(bad, file=out)
    customers = _customers_of(parsed.rows)
    report.customers = len(customers)
    if options.dry_run or not parsed.rows:
        return report

    headers = {"Authorization": f"Bearer {options.token}"}
    limits = httpx.Limits(max_connections=options.in_flight + 1, max_keepalive_connections=options.in_flight + 1)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=httpx.Timeout(120.0, connect=5.0)) as http:
        api = Api(http, options.retry_delays)
        try:
            if options.currency is not None:
                await _check_currency(api, options)
            stage = time.monotonic()
            ids = await _register_customers(api, options, customers, report, out, err)
            report.stage_s["customers"] = time.monotonic() - stage
            stage = time.monotonic()
            await _place_orders(api, options, [r for r in parsed.rows if r.customer_ref in ids], ids, report, out, err)
            report.stage_s["orders"] = time.monotonic() - stage
        except ImportFailed as exc:
            report.fatal = str(exc)
        report.retries = api.retries
    return report


async def _check_currency(api: Api, options: ImportOptions) -> None:
    """Refuse ``--currency`` before anything is written when the shop does not take it."""
    response = await api.request("GET", options.orders_url + "/currencies")
    if response.status_code != 200:
        raise ImportFailed(f"{options.orders_url}/currencies answered {response.status_code}: {_detail(response)}")
    refused = refusal(str(options.currency), response.json()["currencies"])
    if refused:
        raise ImportFailed(f"--currency {refused}: start kehu with that currency among KEHU_CURRENCIES "
                           f"(e.g. KEHU_CURRENCIES=CNY,{options.currency}), or import in the shop's currency")


@dataclass
class _Customer:
    ref: str
    name: str
    first_order: datetime
    lines: list[int]
    owner: str | None = None


def _customers_of(rows: Iterable[OrderRow]) -> list[_Customer]:
    """Each customer with a valid row, in the order the file first names them."""
    found: dict[str, _Customer] = {}
    for row in rows:
        customer = found.get(row.customer_ref)
        if customer is None:
            found[row.customer_ref] = _Customer(row.customer_ref, row.name or row.customer_ref, row.occurred_at,
                                                [row.line], row.owner)
            continue
        customer.lines.append(row.line)
        if row.occurred_at < customer.first_order:
            customer.first_order = row.occurred_at
        if row.name and customer.name == customer.ref:
            customer.name = row.name
        if row.owner and customer.owner is None:
            customer.owner = row.owner
    return list(found.values())


async def _register_customers(
    api: Api, options: ImportOptions, customers: list[_Customer], report: ImportReport, out: TextIO, err: TextIO
) -> dict[str, str]:
    def body(batch: list[_Customer]) -> dict[str, Any]:
        return {"customers": [
            {"name": c.name, "external_ref": c.ref, "registered_at": c.first_order.isoformat(), "channel": options.channel}
            | ({"owner": c.owner} if c.owner else {})
            for c in batch]}

    ids: dict[str, str] = {}
    progress = Progress(err, "customers", len(customers))

    async def one(batch: list[_Customer]) -> None:
        accepted, refused = await api.send(options.contacts_url + "/customers/batch", "customers", batch, body)
        for customer, result in accepted:
            ids[customer.ref] = result["id"]
            if result["created"]:
                report.customers_created += 1
            else:
                report.customers_existing += 1
        for customer, why in refused:
            for line in customer.lines:
                _bad(report, out, line, f"contacts refused customer {customer.ref!r}: {why}")
        progress.advance(len(batch))

    try:
        await _in_flight(options.in_flight, [one(b) for b in _chunks(customers, options.batch)])
    finally:
        progress.close()
    return ids


async def _place_orders(
    api: Api, options: ImportOptions, rows: list[OrderRow], ids: dict[str, str], report: ImportReport,
    out: TextIO, err: TextIO,
) -> None:
    currency = {"currency": options.currency} if options.currency else {}

    def body(batch: list[OrderRow]) -> dict[str, Any]:
        return {"orders": [
            {"customer_id": ids[r.customer_ref], "channel": r.channel, "occurred_at": r.occurred_at.isoformat(),
             "external_ref": r.order_ref, **currency,
             "lines": [{"sku": r.sku, "quantity": str(r.quantity), "unit_price": str(r.unit_price),
                        "amount": str(r.amount)}]}
            for r in batch]}

    progress = Progress(err, "orders", len(rows))

    async def one(batch: list[OrderRow]) -> None:
        accepted, refused = await api.send(options.orders_url + "/orders/batch", "orders", batch, body)
        created = sum(1 for _, result in accepted if result["created"])
        report.orders_created += created
        report.orders_existing += len(accepted) - created
        for row, why in refused:
            _bad(report, out, row.line, f"orders refused the order: {why}")
        progress.advance(len(batch))

    try:
        await _in_flight(options.in_flight, [one(b) for b in _chunks(rows, options.batch)])
    finally:
        progress.close()


def _bad(report: ImportReport, out: TextIO, line: int, reason: str) -> None:
    bad = BadRow(line, reason)
    report.bad.append(bad)
    report.valid -= 1
    print(bad, file=out)


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def _in_flight(limit: int, jobs: list[Awaitable[None]]) -> None:
    """Run the jobs with at most ``limit`` at a time; the first failure cancels the others."""
    gate = asyncio.Semaphore(limit)

    async def gated(job: Awaitable[None]) -> None:
        async with gate:
            await job

    tasks = [asyncio.ensure_future(gated(job)) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def summary(report: ImportReport, options: ImportOptions) -> str:
    def rate(n: int, stage: str) -> str:
        seconds = report.stage_s.get(stage, 0.0)
        return f"{seconds:.1f}s, {n / seconds:,.0f}/s" if seconds > 0 else f"{seconds:.1f}s"

    how = "" if report.encoding in (None, "utf-8", "utf-8-sig") else f" (as {report.encoding})"
    lines = [f"read {report.read:,} rows from {options.path.name}{how}: {report.valid:,} valid, {len(report.bad):,} bad"]
    if options.dry_run:
        lines.append(f"dry run: nothing written; would register up to {report.customers:,} customers "
                     f"and place {report.valid:,} orders (parse {rate(report.read, 'parse')})")
        return "\n".join(lines)
    if "customers" in report.stage_s or report.customers_created or report.customers_existing:
        done = report.customers_created + report.customers_existing
        lines.append(f"customers: {report.customers_created:,} created, {report.customers_existing:,} already there "
                     f"({rate(done, 'customers')})")
    if "orders" in report.stage_s or report.orders_created or report.orders_existing:
        done = report.orders_created + report.orders_existing
        lines.append(f"orders:    {report.orders_created:,} created, {report.orders_existing:,} already there "
                     f"({rate(done, 'orders')})")
    if report.retries:
        lines.append("retried: " + ", ".join(f"{n} after {why}" for why, n in sorted(report.retries.items())))
    total = sum(report.stage_s.values())
    stages = " · ".join(f"{name} {seconds:.1f}s" for name, seconds in report.stage_s.items())
    if total > 0:
        lines.append(f"time: {stages} · total {total:.1f}s ({report.read / total:,.0f} rows/s)")
    return "\n".join(lines)


# --- the command ------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """``kehu import orders FILE``: added to the ``kehu`` command's subcommands."""
    command = commands.add_parser("import", help="import data from a file through the services' APIs")
    what = command.add_subparsers(dest="import_what", required=True)
    orders = what.add_parser(
        "orders", help="import an order history (CSV)",
        description="Import a CSV with the header customer_ref,occurred_at,quantity,amount (optional: sku, channel, "
        "order_ref, name, owner). Unknown customers are registered (external_ref = customer_ref); every row becomes an "
        "order and an OrderPlaced. Re-running the same file creates nothing new. Exit code 0: all imported; "
        "1: some rows were bad (reported, the rest imported); 2: fatal error.")
    orders.add_argument("file", type=Path, help="the CSV file")
    orders.add_argument("--dry-run", action="store_true", help="check every row and report bad ones; write nothing")
    orders.add_argument("--batch", type=int, default=MAX_BATCH, help=f"orders per request (1-{MAX_BATCH})")
    orders.add_argument("--timezone", help="zone of date-only occurred_at values (default: the shop's, KEHU_TIMEZONE, "
                        "Asia/Shanghai)")
    orders.add_argument("--channel", default="import", help="channel of rows without one (default import)")
    orders.add_argument("--currency", help="ISO 4217 currency of the amounts, one the shop takes (KEHU_CURRENCIES); "
                        "default: the shop's default currency")
    orders.add_argument("--encoding", help="the file's encoding (utf-8, gb18030, big5, ...); default: told from "
                        "the bytes (UTF-8, else e.g. GB18030 as Excel on Chinese Windows saves)")
    orders.add_argument("--contacts-url", help="default: KEHU_CONTACTS_URL, else contacts on this host")
    orders.add_argument("--orders-url", help="default: KEHU_ORDERS_URL, else orders on this host")
    from kehu import customer_import  # it builds on this module

    customer_import.add_parser(what)


def run_cli(args: argparse.Namespace) -> int:
    if args.import_what == "customers":
        from kehu import customer_import

        return customer_import.run_cli(args)
    settings = Settings()
    token = cli_token(settings) or ""
    if not token and not args.dry_run:
        print(f"kehu import: no token: set KEHU_TOKEN, or start kehu with `kehu up` (it writes "
              f"{settings.home / 'dev-token'})", file=sys.stderr)
        return 2
    options = options_of(args, settings, token)
    return report_and_exit(asyncio.run(run_import(options)), options)


def options_of(args: argparse.Namespace, settings: Settings, token: str) -> ImportOptions:
    """The command line's options; what it leaves out comes from the settings (the shop's time zone)."""
    return ImportOptions(
        path=args.file,
        contacts_url=(args.contacts_url or service_url(settings, "contacts")).rstrip("/"),
        orders_url=(args.orders_url or service_url(settings, "orders")).rstrip("/"),
        token=token,
        dry_run=args.dry_run,
        batch=args.batch,
        timezone=args.timezone or settings.timezone,
        channel=args.channel,
        currency=args.currency,
        encoding=args.encoding,
    )


def report_and_exit(report: ImportReport, options: ImportOptions) -> int:
    out, err = sys.stdout, sys.stderr
    if report.read or not report.fatal:
        print(summary(report, options), file=out)
    if report.fatal:
        print(f"kehu import: {report.fatal}", file=err)
    return report.exit_code
