#!/usr/bin/env python3
"""Console page times on the whole CDNOW history (issue 10). Run on demand, not in tests.

Targets (issue 10), on this 2-core machine with the CDNOW history imported: **Today and customer
360 server time p95 < 300 ms, customer search p95 < 200 ms.**

1. A fresh ``kehu up`` (own ``KEHU_HOME`` and ports, the events clock, USD: ``benchmarks/cdnow.py``'s
   ``Instance``), the console on the port below the services' (``--port-base`` − 1).
2. ``kehu import orders`` of the whole CDNOW master (23,570 customers, 69,659 orders), then a wait
   until insights has every order on its timeline (cdnow.py's ``import_and_wait``: the completion
   signal). Then ``--named`` customers with Chinese names and mobile numbers are registered (CDNOW's
   customers are named by their number and have no phone), so the name, pinyin and phone-tail
   searches a shop makes have something to find; the outboxes are drained and the machine left
   to settle before measuring.
3. ``kehu user add`` makes an admin account (through the console's ``/api/people``, as a shop
   does); the benchmark signs in with httpx as a browser does (the form's ``csrf`` field and the
   cookie) and keeps the session cookie.
4. One client, sequentially: for each page ``--warmup`` unmeasured requests, then ``-n`` measured
   ones (200): ``GET /`` (Today), ``GET /customers/{id}`` (customer 360; heavy buyers with 20 or
   more orders, repeat buyers and one-time buyers, drawn at random from the CDNOW data, ids looked up
   by external_ref), ``GET /customers?q=`` (search: a CDNOW customer's full name, part of a name, an
   external_ref prefix, a phone's last four digits, a Chinese name, its pinyin and initials, a query
   that finds nothing), ``GET /customers?segment=champions``, ``GET /alerts`` and ``GET /segments``.

"Server time" is the time from sending the request until the whole response is read, on loopback,
by a client in this process (httpx, keep-alive). When the console sends a ``Server-Timing``
header (``total``: its handler including the services; ``services``: the wall time spent waiting
on them), its own share (total − services) is reported too. Figures per page: p50, p95, p99, max
(ms, nearest rank) and requests/s (measured requests / their wall time). CPU seconds by process
over the measured window say who did the work.

    .venv/bin/python benchmarks/console.py                 # measure; write results/console-<UTC>.json and RESULTS.md
    .venv/bin/python benchmarks/console.py --no-write      # print only
    .venv/bin/python benchmarks/console.py -n 50 --limit-customers 2000 --no-write   # a quick dry run

Data: the CDNOW master (``benchmarks/cdnow_csv.py`` says where it is and how to get it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cdnow import (
    MASTER_ROWS,
    Instance,
    describe_logs,
    drain_outboxes,
    import_and_wait,
    settle,
    stopped_after,
    write_csv,
)
from benchmarks.cdnow_csv import SOURCE, require_source
from benchmarks.e2e_latency import cpu_by_role, cpu_sample, default_kehu, machine_info, percentile, run_async

HERE = Path(__file__).resolve().parent
SECTION = "## Console (issue 10)"
TARGETS_MS = {"today": 300.0, "customer": 300.0, "search": 200.0}
TARGET_TEXT = "Today and customer 360 server time p95 < 300 ms, customer search p95 < 200 ms"
HEAVY_ORDERS = 20
PASSWORD = "bench-" + uuid.uuid4().hex[:12]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("芳", "伟", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "桂英",
         "建华", "志强")


# -- the `kehu up` under test, with its console ------------------------------------------------------------------


class ConsoleUp(Instance):
    """cdnow.py's `kehu up` (events clock, UTC, USD), with the console on ``port_base - 1``."""

    @property
    def console_port(self) -> int:
        return self.port_base - 1  # where e2e_latency's KehuUp puts it (KEHU_CONSOLE_PORT)

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def env(self) -> dict[str, str]:
        return {**super().env(), "KEHU_CONSOLE_URL": self.console_url}  # for `kehu user`

    def wait_console(self, timeout_s: float) -> str:
        """The console's address once it answers ready (`kehu up` starts it after the services)."""
        if not _ready(self.console_url, timeout_s):
            raise RuntimeError(f"the console did not become ready on {self.console_url}:\n{self.tail()}")
        self.remember_processes()
        return self.console_url


def _ready(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return True
        time.sleep(0.25)
    return False


# -- data the requests use ---------------------------------------------------------------------------


def orders_per_customer(source: Path, limit: int | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    with source.open(encoding="ascii") as lines:
        next(lines)
        for line in lines:
            fields = line.split()
            if fields and (limit is None or int(fields[0]) <= limit):
                counts[fields[0]] += 1
    return counts


def pick_customers(counts: Counter[str], rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(kind, customer_ref): 40 % heavy buyers (≥ 20 orders), 30 % repeat buyers, 30 % one-time."""
    pools = {
        "heavy": sorted(r for r, c in counts.items() if c >= HEAVY_ORDERS),
        "repeat": sorted(r for r, c in counts.items() if 1 < c < HEAVY_ORDERS),
        "one-time": sorted(r for r, c in counts.items() if c == 1),
    }
    heavy, repeat = round(n * 0.4), round(n * 0.3)
    sizes = {"heavy": heavy, "repeat": repeat, "one-time": n - heavy - repeat}
    picked = [(kind, rng.choice(pools[kind])) for kind, size in sizes.items() if pools[kind] for _ in range(size)]
    rng.shuffle(picked)
    return picked


def named_customers(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Customers as a Chinese shop writes them: a name and a mobile number (distinct, no CDNOW overlap)."""
    out = []
    for i in range(n):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        phone = f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
        out.append({"name": name, "phone": phone, "external_ref": f"BENCH-{i:04d}", "category": "current"})
    return out


def register_named(up: ConsoleUp, customers: list[dict[str, Any]]) -> dict[str, str]:
    """Registers them (one batch) and returns external_ref → id."""
    if not customers:
        return {}
    response = httpx.post(f"{up.url('contacts')}/customers/batch", json={"customers": customers},
                          headers={**up.headers(), "Idempotency-Key": str(uuid.uuid4())}, timeout=60)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"POST /customers/batch: {response.status_code} {response.text[:300]}")
    return {c["external_ref"]: item["id"] for c, item in zip(customers, response.json()["items"], strict=True)}


def customer_ids(up: ConsoleUp, refs: Sequence[str]) -> dict[str, str]:
    """external_ref → id, from contacts (one GET per ref, before anything is measured)."""
    ids: dict[str, str] = {}
    with httpx.Client(headers=up.headers(), timeout=30) as http:
        for ref in sorted(set(refs)):
            response = http.get(f"{up.url('contacts')}/customers", params={"external_ref": ref})
            response.raise_for_status()
            items = response.json()["items"]
            if not items:
                raise RuntimeError(f"contacts has no customer with external_ref {ref}")
            ids[ref] = items[0]["id"]
    return ids


def search_queries(counts: Counter[str], named: list[dict[str, Any]], rng: random.Random,
                   n: int) -> list[tuple[str, str]]:
    """(kind, q): what a clerk types. CDNOW names are the customer numbers (``01234``), which are also
    their external_ref; the named customers add Chinese names, pinyin, initials and phone tails."""
    refs = sorted(counts)
    kinds: list[tuple[str, Any]] = [
        ("full name", lambda: rng.choice(refs)),
        ("part of a name", lambda: rng.choice(refs)[1:4]),
        ("external_ref prefix", lambda: rng.choice(refs)[:4]),
        ("nothing found", lambda: f"zz{rng.randint(0, 999):03d}"),
    ]
    if named:
        from pypinyin import lazy_pinyin

        kinds += [
            ("phone tail", lambda: rng.choice(named)["phone"][-4:]),
            ("Chinese name", lambda: rng.choice(named)["name"]),
            ("pinyin", lambda: "".join(lazy_pinyin(rng.choice(named)["name"]))),
            ("initials", lambda: "".join(p[0] for p in lazy_pinyin(rng.choice(named)["name"]))),
        ]
    return [(kind, make()) for kind, make in (rng.choice(kinds) for _ in range(n))]


# -- signing in and measuring ------------------------------------------------------------------------


def add_admin(up: ConsoleUp, name: str) -> None:
    done = subprocess.run([str(up.kehu), "user", "add", name, "--role", "admin", "--password-stdin",
                           "--display-name", "Benchmark"], input=PASSWORD + "\n", env=up.env(),
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kehu user add: exit {done.returncode}: {done.stderr.strip()[-300:]}")


def sign_in(url: str, name: str) -> httpx.Client:
    """A browser-like client (cookies kept, no redirects followed) signed in as ``name``."""
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    page = client.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"GET /sign-in: {page.status_code}, no csrf field")
    response = client.post("/sign-in", data={"name": name, "password": PASSWORD, "csrf": found[1], "next": "/"})
    if response.status_code != 303 or "kehu_session" not in client.cookies:
        raise RuntimeError(f"POST /sign-in: {response.status_code} {response.text[:300]}")
    return client


@dataclass
class PageResult:
    page: str
    target_ms: float | None
    n: int
    errors: int
    error_samples: list[str]
    ms: dict[str, float | None]
    per_s: float
    bytes_mean: int
    console_own_ms: dict[str, float | None] = field(default_factory=dict)  # Server-Timing total - services
    services_ms: dict[str, float | None] = field(default_factory=dict)  # Server-Timing services
    by_kind_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_service_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)  # Server-Timing, each service
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of the machine's cores busy (anyone's processes) while measuring
    load_average: float = 0.0  # 1-minute, at the end
    series: list[list[Any]] = field(default_factory=list)  # [kind, client ms, Server-Timing total, services, status]

    @property
    def passed(self) -> bool | None:
        if self.target_ms is None:
            return None
        p95 = self.ms["p95"]
        return self.errors == 0 and p95 is not None and p95 < self.target_ms


def stats_ms(values_ms: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values_ms)
    out: dict[str, float | None] = {f"p{p}": _r(percentile(ordered, p)) for p in (50, 95, 99)}
    out["max"] = _r(ordered[-1]) if ordered else None
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def server_timing(header: str | None) -> dict[str, float]:
    """``total;dur=12.3, services;dur=8.0`` → {"total": 12.3, "services": 8.0}."""
    out: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, rest = part.strip().partition(";")
        if m := re.search(r"dur=([\d.]+)", rest):
            out[name] = float(m[1])
    return out


def measure(client: httpx.Client, up: ConsoleUp, page: str, requests: list[tuple[str, str]], warmup: int,
            target_ms: float | None) -> PageResult:
    """``requests``: (kind, path); the first ``warmup`` are sent unmeasured."""
    for _, path in requests[:warmup]:
        with contextlib.suppress(httpx.TransportError):
            client.get(path)
    measured = requests[warmup:]
    times: list[float] = []
    kinds: dict[str, list[float]] = {}
    own: list[float] = []
    waited: list[float] = []
    per_service: dict[str, list[float]] = {}
    series: list[list[Any]] = []
    errors: list[str] = []
    size = 0
    before = cpu_sample(up)
    busy_before = _busy_s()
    started = time.perf_counter()
    for kind, path in measured:
        sent = time.perf_counter()
        try:
            response = client.get(path)
        except httpx.TransportError as exc:  # the console dropped the connection (a crash in a page): an error
            errors.append(f"{type(exc).__name__} {path}")
            series.append([kind, round((time.perf_counter() - sent) * 1000.0, 1), None, None, -1])
            continue
        elapsed = (time.perf_counter() - sent) * 1000.0
        times.append(elapsed)
        kinds.setdefault(kind, []).append(elapsed)
        size += len(response.content)
        if response.status_code != 200:
            errors.append(f"{response.status_code} {path}")
        timing = server_timing(response.headers.get("server-timing"))
        if "total" in timing:
            own.append(timing["total"] - timing.get("services", 0.0))
            waited.append(timing.get("services", 0.0))
            for name, ms in timing.items():
                if name not in ("total", "services"):
                    per_service.setdefault(name, []).append(ms)
        series.append([kind, round(elapsed, 1), timing.get("total"), timing.get("services"), response.status_code])
    wall = time.perf_counter() - started
    after = cpu_sample(up)
    busy = (_busy_s() - busy_before) / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0
    return PageResult(
        page=page, target_ms=target_ms, n=len(times), errors=len(errors), error_samples=sorted(set(errors))[:5],
        ms=stats_ms(times), per_s=round(len(measured) / wall, 1) if wall > 0 else 0.0,
        bytes_mean=size // max(1, len(measured)),
        console_own_ms=stats_ms(own) if own else {}, services_ms=stats_ms(waited) if waited else {},
        by_kind_ms={k: {**stats_ms(v), "n": len(v)} for k, v in sorted(kinds.items())} if len(kinds) > 1 else {},
        per_service_ms={name: {**stats_ms(v), "n": len(v)} for name, v in sorted(per_service.items())},
        cpu_s={role: round(s, 2) for role, s in cpu_by_role(before, after).items() if s >= 0.01},
        machine_busy=round(busy, 2), load_average=round(os.getloadavg()[0], 1), series=series,
    )


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (every process, this benchmark's and others')."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def plan(args: argparse.Namespace, ids: dict[str, str], picks: list[tuple[str, str]],
         queries: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    total = args.warmup + args.n
    return {
        "today": [("", "/")] * total,
        "customer": [(kind, f"/customers/{ids[ref]}") for kind, ref in picks],
        "search": [(kind, "/customers?" + str(httpx.QueryParams({"q": q}))) for kind, q in queries],
        "champions": [("", "/customers?segment=champions")] * total,
        "alerts": [("", "/alerts")] * total,
        "segments": [("", "/segments")] * total,
    }


LABELS = {"today": "Today `/`", "customer": "customer 360 `/customers/{id}`", "search": "search `/customers?q=`",
          "champions": "`/customers?segment=champions`", "alerts": "`/alerts`", "segments": "`/segments`"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="kehu-console-bench-"))
    csv_path = home / "cdnow.csv"
    rows = write_csv(args.source, csv_path, None, args.limit_customers)
    counts = orders_per_customer(args.source, args.limit_customers)
    up = ConsoleUp(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    up.stop_timeout_s = args.stop_timeout
    facts: dict[str, Any] = {}
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        console_url = up.wait_console(args.startup_timeout)
        print(f"  kehu up and the console ready in {time.perf_counter() - mark:.1f} s (home {home})", flush=True)
        imported = run_async(import_and_wait(up, csv_path, rows, args))
        print(f"  imported {imported.orders:,} orders of {imported.customers_created:,} customers in "
              f"{imported.end_to_end_s:.1f} s (insights done)", flush=True)
        named = named_customers(rng, args.named)
        named_ids = register_named(up, named)
        picks = pick_customers(counts, rng, args.warmup + args.n)
        ids = customer_ids(up, [ref for _, ref in picks])
        queries = search_queries(counts, named, rng, args.warmup + args.n)
        drained_s, backlog = run_async(drain_outboxes(up))
        settled_s = settle(limit_s=args.settle_s)
        print(f"  outboxes drained in {drained_s:.1f} s (backlog {backlog}), settled {settled_s:.1f} s", flush=True)
        add_admin(up, "bench")
        results: list[PageResult] = []
        with contextlib.closing(sign_in(console_url, "bench")) as client:
            for page, requests in plan(args, ids, picks, queries).items():
                result = measure(client, up, page, requests, args.warmup, TARGETS_MS.get(page))
                results.append(result)
                print(f"  {page:<10} p50 {result.ms['p50']} p95 {result.ms['p95']} p99 {result.ms['p99']} "
                      f"max {result.ms['max']} ms, {result.per_s}/s, {result.errors} errors", flush=True)
        facts = {
            "customers": imported.customers_created + imported.customers_existing + len(named_ids),
            "orders": imported.orders,
            "import_end_to_end_s": round(imported.end_to_end_s, 1),
            "named_customers": len(named_ids),
            "open_alerts": open_alerts(up),
            "heavy_orders_max": max(counts.values()),
        }
    return {"results": results, "facts": facts, "logs": logs}


def open_alerts(up: ConsoleUp) -> int | None:
    """Open alerts in all (the Today page shows at most 200 of them): paging insights' /alerts."""
    total, cursor = 0, None
    with httpx.Client(headers=up.headers(), timeout=60) as http:
        for _ in range(1000):
            params: dict[str, str | int] = {"status": "open", "limit": 500}
            if cursor:
                params["cursor"] = cursor
            response = http.get(f"{up.url('insights')}/alerts", params=params)
            if response.status_code != 200:
                return None
            body = response.json()
            total += len(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return total
    return total


# -- report ----------------------------------------------------------------------------------------


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def verdict(result: PageResult) -> str:
    ok = result.passed
    return "" if ok is None else "pass" if ok else "**FAIL**"


def table(results: Sequence[PageResult]) -> list[str]:
    lines = ["| page | n | p50 | p95 | p99 | max | req/s | console own p50 / p95 | waiting on services p95 "
             "| CPU-ms/req console / all | errors | target p95 | verdict |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        own = f"{_f(r.console_own_ms.get('p50'))} / {_f(r.console_own_ms.get('p95'))}" if r.console_own_ms else "–"
        cpu = f"{_f(cpu_ms(r, ('console',)))} / {_f(cpu_ms(r, None))}"
        lines.append(f"| {LABELS[r.page]} | {r.n} | {_f(r.ms['p50'])} | {_f(r.ms['p95'])} | {_f(r.ms['p99'])} | "
                     f"{_f(r.ms['max'])} | {r.per_s:.1f} | {own} | {_f(r.services_ms.get('p95'))} | {cpu} | "
                     f"{r.errors} | {'< ' + _f(r.target_ms) if r.target_ms else '–'} | {verdict(r)} |")
    return lines


def cpu_ms(result: PageResult, roles: tuple[str, ...] | None) -> float | None:
    """CPU milliseconds per request of these roles (None: every process of the instance, not the client)."""
    if not result.n:
        return None
    used = sum(s for role, s in result.cpu_s.items() if (role in roles if roles else role != "loadgen"))
    return used * 1000.0 / result.n


def kinds_table(results: Sequence[PageResult]) -> list[str]:
    lines = ["| page | kind | n | p50 | p95 | max |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        for kind, ms in r.by_kind_ms.items():
            lines.append(f"| {r.page} | {kind} | {ms['n']:.0f} | {_f(ms['p50'])} | {_f(ms['p95'])} | {_f(ms['max'])} |")
    return lines if len(lines) > 2 else []


def services_table(results: Sequence[PageResult]) -> list[str]:
    """Each service's share of a page, from Server-Timing: its calls' time per page (p50 / p95)."""
    names = sorted({name for r in results for name in r.per_service_ms})
    if not names:
        return []
    lines = ["| page | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for r in results:
        cells = [f"{_f(r.per_service_ms[n]['p50'])} / {_f(r.per_service_ms[n]['p95'])}" if n in r.per_service_ms
                 else "–" for n in names]
        lines.append(f"| {r.page} | " + " | ".join(cells) + " |")
    return lines


def cpu_lines(results: Sequence[PageResult]) -> list[str]:
    out = []
    for r in results:
        top = sorted(r.cpu_s.items(), key=lambda kv: -kv[1])
        out.append(f"  - {r.page} ({r.machine_busy:.0%} of the machine busy, load {r.load_average}): "
                   + ", ".join(f"{role} {s:.1f}" for role, s in top))
    return ["- CPU seconds by process over each page's measured requests, and how busy the whole machine was "
            "(this instance, the client and anything else running):", *out]


def markdown(report: dict[str, Any]) -> list[str]:
    results: list[PageResult] = report["results"]
    facts = report["facts"]
    info = report["machine"]
    failed = [LABELS[r.page] for r in results if r.passed is False]
    lines = [
        SECTION, "",
        f"Target: {TARGET_TEXT}.", "",
        f"Result: {'every target met' if not failed else 'NOT met: ' + ', '.join(failed)}.", "",
        f"- Date (UTC): {report['date']}",
        f"- Command: `{report['command']}`",
        f"- Machine: `{info['uname']}`; {info['cpu_model']}; {info['cores']} cores; {info['ram_gib']} GiB RAM; "
        f"Python {info['python']}; kehu {info['kehu_commit']}",
        f"- Data: the CDNOW master imported whole ({facts.get('orders', 0):,} orders; {facts.get('customers', 0):,} "
        f"customers with the {facts.get('named_customers', 0)} named ones; the heaviest buyer has "
        f"{facts.get('heavy_orders_max', 0)} orders; {facts.get('open_alerts')} open alerts); import to insights done "
        f"{facts.get('import_end_to_end_s')} s.",
        f"- One client (httpx, keep-alive, signed in as an admin, zh-CN), sequential: {report['warmup']} warm-up then "
        f"{report['n']} measured requests per page. Server time = request sent until the whole response is read, "
        "on loopback. *Console own* = the console's `Server-Timing` `total` minus `services` (the wall time its "
        "handler waited on the services). ms, nearest-rank percentiles. CPU-ms/req: CPU time per request of the "
        "console, and of every process of the instance (console, services, PostgreSQL, broker; not the client): "
        "what the page costs whatever else the machine is doing.",
        f"- Raw: `results/{report['raw']}`", "",
        *table(results), "",
    ]
    kinds = kinds_table(results)
    if kinds:
        lines += ["By kind of request:", "", *kinds, ""]
    per_service = services_table(results)
    if per_service:
        lines += ["Time in each service's calls (Server-Timing, p50 / p95 ms; a page's calls run at once):", "",
                  *per_service, ""]
    lines += cpu_lines(results)
    lines += describe_logs(report["logs"])
    return lines


def write_results(args: argparse.Namespace, report: dict[str, Any], lines: list[str]) -> None:
    raw = args.results_dir / report["raw"]
    raw.parent.mkdir(parents=True, exist_ok=True)
    results = [asdict(r) | {"passed": r.passed} for r in report["results"]]
    series = [r.pop("series") for r in results]
    data = {**report, "results": results,
            "series_columns": ["kind", "client ms", "Server-Timing total ms", "Server-Timing services ms", "status"],
            "series": {r["page"]: f"@series{i}@" for i, r in enumerate(results)}}
    text = json.dumps(data, indent=2, ensure_ascii=False)
    for i, rows in enumerate(series):  # one request a line, not one number a line
        joined = ",\n      ".join(json.dumps(row, ensure_ascii=False) for row in rows)
        text = text.replace(f'"@series{i}@"', f"[\n      {joined}\n    ]")
    raw.write_text(text + "\n")
    print(f"wrote {raw}")
    if args.limit_customers is not None:
        print("a subset of CDNOW (--limit-customers): RESULTS.md left alone")
        return
    page = args.results.read_text()
    section = "\n".join(lines).rstrip() + "\n"
    start = page.find(SECTION)
    if start < 0:
        page = page.rstrip() + "\n\n" + section
    else:
        end = page.find("\n## ", start + len(SECTION))
        page = page[:start] + section + ("\n" + page[end + 1:] if end >= 0 else "")
    args.results.write_text(page)
    print(f"updated the section '{SECTION}' of {args.results}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=200, help="measured requests per page (200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per page before them (10)")
    parser.add_argument("--named", type=int, default=200, help="customers with Chinese names and phones added (200)")
    parser.add_argument("--seed", type=int, default=10, help="random seed of the customers and queries (10)")
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"CDNOW_master.txt (default {SOURCE})")
    parser.add_argument("--limit-customers", type=int, default=None, metavar="N",
                        help="only CDNOW customers 1..N (a dry run; RESULTS.md is left alone)")
    parser.add_argument("--port-base", type=int, default=28201,
                        help="KEHU_HTTP_PORT_BASE (28201); the console listens on the port below")
    parser.add_argument("--kafka-port", type=int, default=29493, help="KEHU_EMBEDDED_KAFKA_PORT (29493)")
    parser.add_argument("--settle-s", type=float, default=60.0, help="wait up to S s for an idle machine first (60)")
    parser.add_argument("--no-write", action="store_true", help="print only: no results/*.json, no RESULTS.md")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="the page of current figures")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the raw JSON goes")
    parser.add_argument("--keep-home", action="store_true", help="keep KEHU_HOME (logs) for inspection")
    parser.add_argument("--wait-timeout", type=float, default=900.0, help="seconds for the import, then insights (900)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds for `kehu up` to start (120)")
    parser.add_argument("--stop-timeout", type=float, default=60.0, help="seconds after SIGINT before SIGTERM (60)")
    parser.add_argument("--poll-s", type=float, default=0.5, help="completion polling interval (0.5 s)")
    parser.add_argument("--kehu", type=Path, default=default_kehu(), help="the kehu executable (.venv/bin/kehu)")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the output of `kehu up`")
    args = parser.parse_args(argv)
    if args.n < 1 or args.warmup < 0:
        parser.error("-n must be at least 1 and --warmup at least 0")
    args.command_line = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.kehu.exists():
        print(f"no kehu executable at {args.kehu} (make install, or --kehu)", file=sys.stderr)
        return 2
    require_source(args.source)
    info = machine_info() | {"uname": " ".join(os.uname())}
    now = datetime.now(UTC)
    print(f"console benchmark: CDNOW {'whole' if args.limit_customers is None else f'customers 1..{args.limit_customers}'}"
          f" ({MASTER_ROWS:,} rows in the master), {args.warmup} + {args.n} requests per page; ports "
          f"{args.port_base - 1}-{args.port_base + 3}, broker {args.kafka_port}", flush=True)
    try:
        measured = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; kehu up has been stopped; nothing written", flush=True)
        return 130
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}\nkehu up has been stopped; nothing written "
              "(--keep-home keeps its logs)", flush=True)
        return 2
    report = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.command_line, "machine": info,
              "n": args.n, "warmup": args.warmup, "raw": f"console-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json",
              **measured}
    lines = markdown(report)
    print("\n" + "\n".join(lines), flush=True)
    if not args.no_write:
        write_results(args, report, lines)
    return 0 if all(r.passed is not False for r in measured["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
