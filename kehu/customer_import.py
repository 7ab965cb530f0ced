"""`kehu import customers FILE.csv|FILE.xlsx`: a customer list into contacts, through its API.

The columns, the synonyms (姓名, 手机, 会员卡号 ...), ``--map`` and what makes a row the same
customer on the next run are in ``shared.customer_file``, the parser the console's import page
uses too.

1. **Parse** the whole file (a CSV in any encoding ``shared.textfile`` tells, or the first sheet of
   a workbook); report every bad row as ``line N: field: reason`` and the rows that share a phone,
   email, reference or card within the file.
2. ``--dry-run`` then asks contacts which rows it knows already: by the row's key (imported by an
   earlier run: nothing to do) and by phone, email and card (likely duplicates of a customer
   registered another way), and stops without writing.
3. Otherwise ``POST /customers/batch``, up to 1000 customers per request, a few in flight, each
   request retried with its own ``Idempotency-Key`` (``kehu.importer.Api``); then the extra
   identities (WeChat, membership card, ...) one ``POST /customers/{id}/identities`` each, when
   contacts offers that route.

Exit code as ``kehu import orders``: 0 everything valid was imported, 1 some rows were bad (the
good ones were imported), 2 a fatal error (service unreachable after retries, refused token,
unreadable file or header).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from kehu.client import cli_token
from kehu.importer import RETRY_DELAYS_S, Api, ImportFailed, Progress, _chunks, _detail, _in_flight
from shared.customer_file import (
    BadRow,
    CustomerRow,
    Duplicate,
    FileProblem,
    Parsed,
    existing_duplicates,
    identities_of,
    parse_customers,
    parse_mapping,
    unique_by_key,
)
from shared.settings import Settings, service_url
from shared.sheet import read_table

MAX_BATCH = 1000
LOOKUPS_IN_FLIGHT = 16
RESOLVE = "/identities/resolve"
IDENTITIES = "/customers/{customer_id}/identities"


@dataclass
class CustomerImportOptions:
    path: Path
    contacts_url: str
    token: str
    dry_run: bool = False
    mapping: str = ""
    encoding: str | None = None
    batch: int = MAX_BATCH
    in_flight: int = 3
    phone_region: str = "CN"
    timezone: str = "UTC"
    retry_delays: Sequence[float] = RETRY_DELAYS_S
    transport: httpx.AsyncBaseTransport | None = None  # tests: a fake contacts


@dataclass
class CustomerImportReport:
    read: int = 0
    valid: int = 0
    bad: list[BadRow] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)  # within the file
    existing: list[Duplicate] = field(default_factory=list)  # a customer in contacts holds an identity
    already_imported: int = 0  # dry run: rows whose key contacts has (an earlier run)
    unchecked: list[str] = field(default_factory=list)  # dry run: kinds contacts cannot be asked about
    not_checked: str | None = None  # dry run: why the rows were not compared with contacts at all
    ignored: list[str] = field(default_factory=list)
    created: int = 0
    existed: int = 0
    identities_linked: int = 0
    identities_skipped: int = 0  # contacts has no identities route yet
    stage_s: dict[str, float] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    fatal: str | None = None

    @property
    def exit_code(self) -> int:
        return 2 if self.fatal else 1 if self.bad else 0


async def run_customer_import(
    options: CustomerImportOptions, *, out: TextIO | None = None, err: TextIO | None = None
) -> CustomerImportReport:
    """Parse; then check (dry run) or register; bad rows and duplicates go to ``out``, progress to ``err``."""
    out, err = out or sys.stdout, err or sys.stderr
    report = CustomerImportReport()
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        report.fatal = f"unknown time zone {options.timezone!r} (use an IANA name such as Asia/Shanghai)"
        return report
    if not 1 <= options.batch <= MAX_BATCH:
        report.fatal = f"--batch must be between 1 and {MAX_BATCH}"
        return report
    started = time.monotonic()
    try:
        mapping = parse_mapping(options.mapping)
        table = read_table(options.path.read_bytes(), options.path.name, encoding=options.encoding, zone=zone)
        parsed = parse_customers(table, mapping=mapping, phone_region=options.phone_region, zone=zone,
                                 now=datetime.now(UTC))
    except (OSError, FileProblem) as exc:
        report.fatal = f"{options.path}: {exc}"
        return report
    report.stage_s["parse"] = time.monotonic() - started
    report.read, report.valid, report.bad = parsed.read, len(parsed.rows), list(parsed.bad)
    report.duplicates, report.ignored, report.encoding = parsed.duplicates, parsed.ignored, parsed.encoding
    for bad in parsed.bad:
        print(bad, file=out)
    for duplicate in parsed.duplicates:
        print(f"likely duplicate: {duplicate}", file=out)
    if not parsed.rows:
        return report
    if options.dry_run and not options.token:
        report.not_checked = "no token (KEHU_TOKEN or `kehu up`'s dev-token)"
        return report

    headers = {"Authorization": f"Bearer {options.token}"}
    connections = max(options.in_flight, LOOKUPS_IN_FLIGHT) + 1
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=httpx.Timeout(120.0, connect=5.0),
                                 transport=options.transport) as http:
        api = Api(http, options.retry_delays)
        try:
            routes = await contacts_routes(api, options.contacts_url)
            stage = time.monotonic()
            if options.dry_run:
                await check_existing(api, options.contacts_url, parsed, routes, report, err)
                for duplicate in report.existing:
                    print(f"likely duplicate: {duplicate}", file=out)
                report.stage_s["check"] = time.monotonic() - stage
                return report
            ids = await _register(api, options, parsed, report, out, err)
            report.stage_s["customers"] = time.monotonic() - stage
            if any(row.identities for row in parsed.rows):
                stage = time.monotonic()
                await _link_identities(api, options, parsed.rows, ids, IDENTITIES in routes, report, out, err)
                report.stage_s["identities"] = time.monotonic() - stage
        except ImportFailed as exc:
            if options.dry_run:  # the file is checked all the same; only the comparison is missing
                report.not_checked = str(exc)
            else:
                report.fatal = str(exc)
        report.retries = api.retries
    return report


async def contacts_routes(api: Api, contacts_url: str) -> set[str]:
    """The paths contacts serves (its OpenAPI document), so routes added later are used when there."""
    response = await api.request("GET", contacts_url + "/openapi.json")
    if response.status_code != 200:
        raise ImportFailed(f"{contacts_url}/openapi.json answered {response.status_code}: {_detail(response)}")
    return {path.replace("{customer_id:uuid}", "{customer_id}") for path in response.json().get("paths", {})}


# --- the dry run: what contacts knows already --------------------------------------------------


async def check_existing(
    api: Api, contacts_url: str, parsed: Parsed, routes: set[str], report: CustomerImportReport, err: TextIO
) -> None:
    """Rows contacts has by their key (imported before) and rows whose phone, email or card a customer
    in contacts holds. Each distinct value is asked once, ``LOOKUPS_IN_FLIGHT`` at a time."""
    resolve = RESOLVE in routes
    by_ref: dict[str, dict[str, Any] | None] = {row.key: None for row in parsed.rows}
    by_identity: dict[tuple[str, str], dict[str, Any] | None] = {}
    for row in parsed.rows:
        for kind, value in identities_of(row):
            if resolve or kind == "phone":
                by_identity[(kind.split(":")[0], value)] = None
    if not resolve:
        report.unchecked = ["email", "WeChat", "membership_card"]
    progress = Progress(err, "checking", len(by_ref) + len(by_identity))
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def ask_ref(ref: str) -> None:
        async with gate:
            response = await api.request("GET", _url(contacts_url + "/customers", external_ref=ref, limit="1"))
        by_ref[ref] = _first(response)
        progress.advance(1)

    async def ask_identity(kind: str, value: str) -> None:
        async with gate:
            if resolve:
                response = await api.request("POST", contacts_url + RESOLVE, orjson.dumps({"kind": kind, "value": value}),
                                             {"Content-Type": "application/json"})
                found = response.json() if response.status_code == 200 else None
                if found is not None:
                    found = {"id": found.get("customer_id"), "name": found.get("name")}
            else:
                found = _first(await api.request("GET", _url(contacts_url + "/customers", phone=value, limit="1")))
        by_identity[(kind, value)] = found
        progress.advance(1)

    jobs: list[Awaitable[None]] = [ask_ref(ref) for ref in by_ref]
    jobs += [ask_identity(kind, value) for kind, value in by_identity]
    try:
        await _in_flight(LOOKUPS_IN_FLIGHT, jobs)
    finally:
        progress.close()
    report.already_imported = sum(1 for row in unique_by_key(parsed.rows) if by_ref[row.key] is not None)
    report.existing = existing_duplicates(parsed.rows, by_ref, by_identity)


def _url(base: str, **params: str) -> str:
    return str(httpx.URL(base, params=params))


def _first(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        raise ImportFailed(f"{response.request.url} answered {response.status_code}: {_detail(response)}")
    items = response.json().get("items") or []
    return {"id": items[0]["id"], "name": items[0]["name"]} if items else None


# --- the import --------------------------------------------------------------------------------


async def _register(
    api: Api, options: CustomerImportOptions, parsed: Parsed, report: CustomerImportReport, out: TextIO, err: TextIO
) -> dict[str, str]:
    """Register each distinct customer once; their ids by key."""
    rows = unique_by_key(parsed.rows)
    ids: dict[str, str] = {}
    progress = Progress(err, "customers", len(rows))

    def body(batch: list[CustomerRow]) -> dict[str, Any]:
        return {"customers": [row.customer for row in batch]}

    async def one(batch: list[CustomerRow]) -> None:
        accepted, refused = await api.send(options.contacts_url + "/customers/batch", "customers", batch, body)
        for row, result in accepted:
            ids[row.key] = result["id"]
            if result["created"]:
                report.created += 1
            else:
                report.existed += 1
        for row, why in refused:
            _bad(report, out, BadRow(row.line, "customer", f"contacts refused it: {why}"))
        progress.advance(len(batch))

    try:
        await _in_flight(options.in_flight, [one(b) for b in _chunks(rows, options.batch)])
    finally:
        progress.close()
    return ids


async def _link_identities(
    api: Api, options: CustomerImportOptions, rows: Sequence[CustomerRow], ids: dict[str, str], offered: bool,
    report: CustomerImportReport, out: TextIO, err: TextIO,
) -> None:
    wanted = [(row, identity) for row in rows if row.key in ids for identity in row.identities]
    if not offered:
        report.identities_skipped = len(wanted)
        return
    progress = Progress(err, "identities", len(wanted))

    def linker(row: CustomerRow, kind: str, value: str, label: str | None) -> Callable[[], Awaitable[None]]:
        async def link() -> None:
            url = options.contacts_url + IDENTITIES.format(customer_id=ids[row.key])
            body = {"kind": kind, "value": value} | ({"label": label} if label else {})
            response = await api.post(url, orjson.dumps(body), api.key("identity"))
            if response.status_code in (200, 201):
                report.identities_linked += 1
            elif response.status_code in (409, 422):
                _bad(report, out, BadRow(row.line, label or kind, _detail(response)), counts=False)
            else:
                raise ImportFailed(f"{url} answered {response.status_code}: {_detail(response)}")
            progress.advance(1)
        return link

    try:
        await _in_flight(options.in_flight * 4, [linker(row, *identity)() for row, identity in wanted])
    finally:
        progress.close()


def _bad(report: CustomerImportReport, out: TextIO, bad: BadRow, *, counts: bool = True) -> None:
    report.bad.append(bad)
    if counts:
        report.valid -= 1
    print(bad, file=out)


def summary(report: CustomerImportReport, options: CustomerImportOptions) -> str:
    def rate(n: int, stage: str) -> str:
        seconds = report.stage_s.get(stage, 0.0)
        return f"{seconds:.1f}s, {n / seconds:,.0f}/s" if seconds > 0 else f"{seconds:.1f}s"

    how = "" if report.encoding in (None, "utf-8", "utf-8-sig") else f" (as {report.encoding})"
    bad_lines = len({b.line for b in report.bad})
    lines = [f"read {report.read:,} rows from {options.path.name}{how}: {report.valid:,} valid, {bad_lines:,} bad"]
    if report.ignored:
        lines.append("columns not imported: " + ", ".join(report.ignored) + " (name them with --map COLUMN=FIELD)")
    if report.duplicates:
        lines.append(f"likely duplicates within the file: {len(report.duplicates):,} rows")
    if options.dry_run:
        if report.not_checked:
            lines.append(f"not compared with the customers in contacts: {report.not_checked}")
        if report.stage_s.get("check") is not None:
            lines.append(f"likely duplicates of customers in contacts: {len(report.existing):,} rows"
                         + (f" (not checked: {', '.join(report.unchecked)}; contacts has no /identities/resolve)"
                            if report.unchecked else ""))
        earlier = "" if "check" not in report.stage_s else \
            f"; {report.already_imported:,} already imported by an earlier run"
        lines.append(f"dry run: nothing written{earlier} (parse {rate(report.read, 'parse')})")
        return "\n".join(lines)
    if "customers" in report.stage_s:
        lines.append(f"customers: {report.created:,} created, {report.existed:,} already there "
                     f"({rate(report.created + report.existed, 'customers')})")
    if report.identities_linked or "identities" in report.stage_s:
        lines.append(f"identities: {report.identities_linked:,} linked")
    if report.identities_skipped:
        lines.append(f"identities: {report.identities_skipped:,} not linked (WeChat, cards, ...): this contacts has no "
                     f"{IDENTITIES} yet; import the file again once it has")
    if report.retries:
        lines.append("retried: " + ", ".join(f"{n} after {why}" for why, n in sorted(report.retries.items())))
    total = sum(report.stage_s.values())
    if total > 0:
        stages = " · ".join(f"{name} {seconds:.1f}s" for name, seconds in report.stage_s.items())
        lines.append(f"time: {stages} · total {total:.1f}s ({report.read / total:,.0f} rows/s)")
    return "\n".join(lines)


# --- the command ------------------------------------------------------------------------------


def add_parser(what: Any) -> None:
    """``kehu import customers FILE``: added beside ``kehu import orders``."""
    customers = what.add_parser(
        "customers", help="import a customer list (CSV or XLSX)",
        description="Import a customer list. Columns by name (name, kind, phone, email, external_ref, category, "
        "lead_source, lead_source_detail, channel, owner, tags, address, notes, wechat, membership_card, "
        "registered_at, ...) or in Chinese (姓名, 手机, 邮箱, 会员卡号, 微信, 来源, 负责人, 标签, 地址, 备注, ...). "
        "Re-running the same file creates nothing new. Exit code 0: all imported; 1: some rows were bad "
        "(reported, the rest imported); 2: fatal error.")
    customers.add_argument("file", type=Path, help="the CSV or XLSX file")
    customers.add_argument("--dry-run", action="store_true",
                           help="check every row, list bad rows and likely duplicates (also against contacts); "
                           "write nothing")
    customers.add_argument("--map", dest="mapping", default="", metavar="'COLUMN=FIELD,...'",
                           help="which column gives which field, e.g. 'Column A=phone,客户名=name'; COLUMN=- "
                           "leaves a column out")
    customers.add_argument("--batch", type=int, default=MAX_BATCH, help=f"customers per request (1-{MAX_BATCH})")
    customers.add_argument("--encoding", help="the CSV's encoding (utf-8, gb18030, big5, ...); default: told from "
                           "the bytes")
    customers.add_argument("--timezone", help="zone of dates without one (default: the shop's, KEHU_TIMEZONE)")
    customers.add_argument("--contacts-url", help="default: KEHU_CONTACTS_URL, else contacts on this host")


def run_cli(args: argparse.Namespace) -> int:
    settings = Settings()
    token = cli_token(settings) or ""
    if not token and not args.dry_run:
        print(f"kehu import: no token: set KEHU_TOKEN, or start kehu with `kehu up` (it writes "
              f"{settings.home / 'dev-token'})", file=sys.stderr)
        return 2
    options = CustomerImportOptions(
        path=args.file, contacts_url=(args.contacts_url or service_url(settings, "contacts")).rstrip("/"),
        token=token, dry_run=args.dry_run, mapping=args.mapping, encoding=args.encoding, batch=args.batch,
        phone_region=settings.phone_region, timezone=args.timezone or settings.timezone)
    report = asyncio.run(run_customer_import(options))
    if report.read or not report.fatal:
        print(summary(report, options))
    if report.fatal:
        print(f"kehu import: {report.fatal}", file=sys.stderr)
    return report.exit_code
