#!/usr/bin/env python3
"""Tickets at a grown shop's size (issue 13). Run on demand, not in tests.

Targets (issue 13), on this 2-core machine: **an SLA sweeper pass over 100,000 open tickets < 5 s**;
**POST /tickets p99 < 50 ms at an offered 200 tickets/s**. Besides, the time of the ticket report
(``GET /reports/tickets``'s queries and arithmetic) over a month of a grown history.

Parts (``--parts``, default all three):

``sweeper``
    An embedded PostgreSQL under ``--home``, a fresh database migrated as tickets does, and
    ``--open`` open tickets inserted by SQL (seconds, not hours through the API): 40 % not yet
    answered (their first-response clock runs), the rest answered (their resolution clock runs).
    Of the running clocks, ``--due-share`` ran out in the last two hours and are not marked yet
    (the pass must raise TicketSlaBreached for each and mark it), ``--marked-share`` ran out
    earlier and are already marked (to skip), the rest are due within five days. Then
    ``services.tickets.sla_sweeper.sweep_once(conn, as_of)`` is timed: the first pass (which
    breaches), a second at the same as_of (nothing new: each clock is breached once), and a third a
    minute later (the steady state). When the sweeper is not built yet the part says so and times
    only the SQL that finds the due clocks.
``report``
    On the same database, ``--history`` resolved and closed tickets over 180 days (first responses,
    resolutions, SLA marks, prevention actions), then the report of the last 30 days and of the
    last 180 days (``services.tickets.routes.reports.compute_report``), ``--repeat`` times each.
``create``
    A fresh ``kehu up`` (own ``KEHU_HOME`` and ports, Asia/Shanghai), ``--customers`` customers
    registered through contacts and known to tickets' replica, then open loop: ticket ``i`` is sent
    at ``t0 + i/rate`` whether or not earlier ones were answered (queueing in the load generator
    counts) for ``--duration`` s after ``--warmup`` s; latency is the answer's time minus the
    *scheduled* time. Complaints, service requests and feedback, each channel, random priority and
    category; the customer's owner is looked up in the replica as in production.

Raw figures go to ``benchmarks/results/tickets-<UTC>.json``; a table is printed.

    .venv/bin/python benchmarks/tickets.py                                   # the issue's sizes
    .venv/bin/python benchmarks/tickets.py --parts sweeper,report --open 100000
    .venv/bin/python benchmarks/tickets.py --parts create --rate 200 --duration 30
    .venv/bin/python benchmarks/tickets.py --open 5000 --history 5000 --customers 100 --rate 50 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cdnow import drain_outboxes, settle, stopped_after
from benchmarks.contacts import make_customers, register, stats_ms
from benchmarks.e2e_latency import POST_TIMEOUT_S, RawHttp, default_kehu, machine_info, run_async
from benchmarks.orders import Shop, customer_ids
from kehu.embedded import EmbeddedPostgres
from shared.db import connect, database_url, prepare_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIGRATIONS = ROOT / "services" / "tickets" / "migrations"
TARGETS = {"sweep_s": 5.0, "p99_ms_at_rate": 50.0}
ZONE = "Asia/Shanghai"
CHANNELS = ("phone", "store", "web", "wechat", "email", "fair")
CATEGORIES = ("quality", "delivery", "billing", "attitude", "product_info", "after_sales", "other")
PRIORITIES = ("low", "normal", "normal", "normal", "high", "critical")

# -- data, straight into the tables ----------------------------------------------------------------

OWNERS_SQL = """
INSERT INTO known_customers (customer_id, source, owner, owner_at)
SELECT md5('c' || g)::uuid, 'bench', CASE WHEN g % 5 = 0 THEN NULL ELSE 'owner-' || (g % 20) END, now()
FROM generate_series(1, $1) g
ON CONFLICT DO NOTHING
"""

# Open tickets: $1 how many, $2 as_of, $3 due share, $4 marked share, $5 customers.
OPEN_SQL = """
WITH drawn AS (
    SELECT g, random() < 0.4 AS unanswered, random() AS r, random() AS spread,
           (ARRAY['complaint', 'complaint', 'service_request', 'feedback'])[1 + g % 4] AS kind,
           (ARRAY['low', 'normal', 'normal', 'high', 'critical'])[1 + g % 5] AS priority
    FROM generate_series(1, $1) g
), timed AS (
    SELECT d.*,
           CASE WHEN r < $3 THEN $2::timestamptz - spread * interval '2 hours'
                WHEN r < $3 + $4 THEN $2::timestamptz - interval '2 hours' - spread * interval '5 days'
                ELSE $2::timestamptz + interval '1 minute' + spread * interval '5 days' END AS due,
           r >= $3 AND r < $3 + $4 AS marked
    FROM drawn d
), shaped AS (
    SELECT t.*, least(CASE WHEN unanswered THEN due - interval '4 hours' ELSE due - interval '3 days' END,
                      $2::timestamptz - interval '1 hour') AS occurred
    FROM timed t
)
INSERT INTO tickets (id, customer_id, kind, channel, subject, description, severity, priority, category, status,
                     occurred_at, recorded_at, due_at, assignee, queue, first_response_due_at, first_response_at,
                     first_response_breached_at, resolution_due_at, resolution_breached_at)
SELECT gen_random_uuid(), md5('c' || (1 + g % $5))::uuid, kind, (ARRAY['phone', 'store', 'web', 'wechat'])[1 + g % 4],
       'bench ticket ' || g, '', CASE WHEN kind = 'complaint' THEN priority END, priority,
       (ARRAY['quality', 'delivery', 'billing', 'attitude', 'product_info', 'after_sales', 'other'])[1 + g % 7],
       'open', occurred, occurred, due,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'owner-' || (g % 20) END, CASE WHEN g % 5 = 0 THEN 'service' END,
       CASE WHEN unanswered THEN due ELSE occurred + interval '4 hours' END,
       CASE WHEN unanswered THEN NULL ELSE occurred + interval '30 minutes' END,
       CASE WHEN unanswered AND marked THEN due END,
       CASE WHEN unanswered THEN greatest(due + interval '3 days', $2::timestamptz + interval '1 day') ELSE due END,
       CASE WHEN NOT unanswered AND marked THEN due END
FROM shaped
"""

# A history: $1 how many, $2 as_of, $3 customers. Resolved (or closed) within 1 to 80 hours, answered
# within 5 to 300 minutes, over the 180 days to as_of; a tenth of the clocks breached and marked.
HISTORY_SQL = """
WITH drawn AS (
    SELECT g, $2::timestamptz - random() * interval '180 days' AS occurred, random() AS r,
           random() * interval '80 hours' + interval '1 hour' AS took, random() * interval '295 minutes' AS answer
    FROM generate_series(1, $1) g
)
INSERT INTO tickets (id, customer_id, kind, channel, subject, description, severity, priority, category, status,
                     occurred_at, recorded_at, assignee, first_response_due_at, first_response_at,
                     first_response_breached_at, resolution_due_at, resolution_breached_at, resolved_at, resolved_by,
                     closed_at, satisfaction, responsibility, resolution)
SELECT gen_random_uuid(), md5('c' || (1 + g % $3))::uuid, (ARRAY['complaint', 'complaint', 'service_request'])[1 + g % 3],
       (ARRAY['phone', 'store', 'web', 'wechat', 'email'])[1 + g % 5], 'history ' || g, '',
       CASE WHEN g % 3 < 2 THEN 'normal' END, 'normal',
       (ARRAY['quality', 'delivery', 'billing', 'attitude', 'product_info', 'after_sales', 'other'])[1 + g % 7],
       CASE WHEN g % 2 = 0 THEN 'closed' ELSE 'resolved' END, occurred, occurred, 'owner-' || (g % 20),
       occurred + interval '4 hours', occurred + interval '5 minutes' + answer,
       CASE WHEN answer > interval '235 minutes' THEN occurred + interval '4 hours' END,
       occurred + interval '60 hours', CASE WHEN took > interval '60 hours' THEN occurred + interval '60 hours' END,
       occurred + took, 'owner-' || (g % 20), CASE WHEN g % 2 = 0 THEN occurred + took + interval '1 day' END,
       CASE WHEN g % 2 = 0 THEN 1 + g % 5 END, 'ours', 'fixed'
FROM drawn
"""

PREVENTION_SQL = """
INSERT INTO prevention_actions (id, ticket_id, category, action, owner, due_on, created_at, done_at, done_by)
SELECT gen_random_uuid(), id, category, 'prevent ' || subject, assignee, (resolved_at + interval '14 days')::date,
       resolved_at, CASE WHEN random() < 0.7 THEN resolved_at + random() * interval '20 days' END, assignee
FROM tickets WHERE status IN ('resolved', 'closed') AND random() < $1
"""

# What a sweep must find: running clocks due by as_of and not yet marked (the indexes of 0004).
DUE_SQL = """
SELECT id, 'first_response' AS clock, first_response_due_at AS due_at FROM tickets
WHERE first_response_at IS NULL AND first_response_breached_at IS NULL AND status IN ('open', 'waiting_on_customer')
  AND first_response_due_at <= $1
UNION ALL
SELECT id, 'resolution', resolution_due_at FROM tickets
WHERE resolution_breached_at IS NULL AND status = 'open' AND resolution_due_at <= $1
"""


async def load_open(conn: asyncpg.Connection, args: argparse.Namespace, as_of: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    await conn.execute("SELECT setseed($1)", (args.seed % 1000) / 1000.0)
    await conn.execute(OWNERS_SQL, args.customers_in_db)
    await conn.execute(OPEN_SQL, args.open, as_of, args.due_share, args.marked_share, args.customers_in_db)
    await conn.execute("ANALYZE")
    due = len(await conn.fetch(DUE_SQL, as_of))
    return {"open": args.open, "due_unmarked": due, "s": round(time.perf_counter() - started, 1)}


async def load_history(conn: asyncpg.Connection, args: argparse.Namespace, as_of: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    await conn.execute(HISTORY_SQL, args.history, as_of, args.customers_in_db)
    await conn.execute(PREVENTION_SQL, 0.05)
    await conn.execute("ANALYZE")
    actions = int(await conn.fetchval("SELECT count(*) FROM prevention_actions"))
    return {"history": args.history, "prevention_actions": actions, "s": round(time.perf_counter() - started, 1)}


def _sweeper() -> Any:
    try:
        return importlib.import_module("services.tickets.sla_sweeper").sweep_once
    except (ImportError, AttributeError):
        return None


def _count(result: Any) -> int | None:
    if isinstance(result, int):
        return result
    if isinstance(result, dict) and "breached" in result:
        return _count(result["breached"])
    try:
        return len(result)
    except TypeError:
        return None


async def time_sweeps(conn: asyncpg.Connection, as_of: datetime) -> dict[str, Any]:
    sweep_once = _sweeper()
    found: dict[str, Any] = {}
    if sweep_once is None:
        started = time.perf_counter()
        due = await conn.fetch(DUE_SQL, as_of)
        found["not_available"] = "services.tickets.sla_sweeper.sweep_once is not on this branch"
        found["due_sql"] = {"clocks": len(due), "s": round(time.perf_counter() - started, 3)}
        return found
    for label, at in (("first", as_of), ("again", as_of), ("a_minute_later", as_of + timedelta(minutes=1))):
        outbox_before = int(await conn.fetchval("SELECT count(*) FROM outbox"))
        started = time.perf_counter()
        async with conn.transaction():  # as sweep_forever and the admin route run it
            result = await sweep_once(conn, at)
        elapsed = time.perf_counter() - started
        events = int(await conn.fetchval("SELECT count(*) FROM outbox")) - outbox_before
        found[label] = {"s": round(elapsed, 3), "breached": _count(result), "events": events}
        print(f"  sweep ({label}): {found[label]}", flush=True)
    return found


async def time_reports(conn: asyncpg.Connection, as_of: datetime, repeat: int) -> dict[str, Any]:
    from services.tickets.routes.reports import compute_report

    found: dict[str, Any] = {}
    for days in (30, 180):
        for who, owner in (("shop", None), ("salesperson", "owner-7")):
            times: list[float] = []
            report = None
            for _ in range(repeat):
                started = time.perf_counter()
                report = await compute_report(conn, as_of - timedelta(days=days), as_of, as_of, ZONE, owner)
                times.append(time.perf_counter() - started)
            assert report is not None
            found[f"{days}d_{who}"] = {"ms": stats_ms(times), "s_worst": round(max(times), 3),
                                       "tickets": report.volume.total, "sla_clocks": report.sla.clocks,
                                       "resolutions": report.resolution_minutes.count}
            print(f"  report {days} days, {who}: {found[f'{days}d_{who}']}", flush=True)
    return found


async def database_parts(args: argparse.Namespace) -> dict[str, Any]:
    """The sweeper and the report on an embedded PostgreSQL of their own (no services running)."""
    home = args.home or Path(tempfile.mkdtemp(prefix="kehu-tickets-bench-pg-"))
    postgres = EmbeddedPostgres(home)
    server = postgres.start()
    name = f"bench_tickets_{uuid.uuid4().hex[:8]}"
    url = await prepare_database(server, name, MIGRATIONS)
    conn = await connect(url)  # with the services' jsonb codec (the sweeper writes history lines)
    as_of = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {}
    try:
        if "sweeper" in args.parts:
            result["open_tickets"] = await load_open(conn, args, as_of)
            print(f"  open tickets loaded: {result['open_tickets']}", flush=True)
            result["sweeper"] = await time_sweeps(conn, as_of)
        if "report" in args.parts:
            result["history_tickets"] = await load_history(conn, args, as_of)
            print(f"  history loaded: {result['history_tickets']}", flush=True)
            result["report"] = await time_reports(conn, as_of + timedelta(minutes=2), args.repeat)
    finally:
        await conn.close()
        admin = await asyncpg.connect(database_url(server, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        if args.home is None:
            postgres.stop()
            shutil.rmtree(home, ignore_errors=True)
    return result


# -- creation through the API ----------------------------------------------------------------------


async def known_to_tickets(up: Shop, n: int, limit_s: float = 300.0) -> float:
    """Seconds until tickets' replica knows ``n`` customers with their owner facts."""
    started = time.monotonic()
    pg = await asyncpg.connect(**up.insights_dsn("kehu_tickets"))
    try:
        while int(await pg.fetchval("SELECT count(*) FROM known_customers WHERE owner_at IS NOT NULL")) < n:
            if time.monotonic() - started > limit_s:
                raise TimeoutError(f"tickets knows fewer than {n} customers after {limit_s:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await pg.close()
    return time.monotonic() - started


def a_ticket(rng: random.Random, ids: Sequence[str]) -> dict[str, Any]:
    kind = rng.choice(("complaint", "complaint", "service_request", "feedback"))
    body: dict[str, Any] = {"customer_id": rng.choice(ids), "kind": kind, "channel": rng.choice(CHANNELS),
                            "subject": f"bench {kind} {rng.randrange(10**6)}", "category": rng.choice(CATEGORIES),
                            "priority": rng.choice(PRIORITIES), "description": "测试工单 " * rng.randint(1, 20)}
    if kind == "service_request":
        body["service_type"] = rng.choice(("warranty", "repair", "return", "question"))
    if kind == "feedback":
        body["satisfaction"] = rng.randint(1, 5)
    return body


async def post(raw: RawHttp, body: bytes) -> int | str:
    """The status, or the kind of error (a connection dropped under load is counted, not fatal)."""
    try:
        status, _ = await asyncio.wait_for(raw.post("/tickets", body), POST_TIMEOUT_S)
        return status
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return type(exc).__name__


async def open_loop(up: Shop, ids: Sequence[str], rate: float, warmup_s: float, duration_s: float,
                    seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    total = int(rate * (warmup_s + duration_s))
    measured_from = int(rate * warmup_s)
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    raw = RawHttp("127.0.0.1", int(up.url("tickets").rsplit(":", 1)[1]), up.headers(), connections=64)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def one(i: int, body: bytes) -> None:
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        answer = await post(raw, body)
        if i >= measured_from:
            statuses[answer] = statuses.get(answer, 0) + 1
            if answer == 201:
                latencies.append(loop.time() - due)

    try:
        await asyncio.gather(*[one(i, orjson.dumps(a_ticket(rng, ids))) for i in range(total)])
    finally:
        await raw.close()
    return {"rate": rate, "warmup_s": warmup_s, "duration_s": duration_s, "ms": stats_ms(latencies),
            "statuses": {str(k): v for k, v in statuses.items()}}


def create_part(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="kehu-tickets-bench-"))
    up = Shop(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    result: dict[str, Any] = {}
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        print(f"  kehu up ready in {time.perf_counter() - mark:.1f} s (home {home})", flush=True)
        seconds = run_async(register(up, make_customers(rng, args.customers, 0, "tickets-bench")))
        ids = run_async(customer_ids(up))
        known_s = run_async(known_to_tickets(up, len(ids)))
        result["load"] = {"customers": len(ids), "register_s": round(seconds, 1), "known_s": round(known_s, 1)}
        print(f"  {len(ids):,} customers registered in {seconds:.1f} s, known to tickets after {known_s:.1f} s",
              flush=True)
        drained_s, _ = run_async(drain_outboxes(up, limit_s=args.drain_s))
        result["load"]["drained_s"] = round(drained_s, 1)
        settle(limit_s=args.settle_s)
        result["latency"] = run_async(open_loop(up, ids, args.rate, args.warmup, args.duration, args.seed))
        print(f"  latency at {args.rate:g}/s: {result['latency']}", flush=True)
        with httpx.Client(headers=up.headers(), timeout=60) as http:
            started = time.perf_counter()
            answer = http.get(up.url("tickets") + "/reports/tickets")
            result["report_http"] = {"status": answer.status_code, "s": round(time.perf_counter() - started, 3)}
    result["logs"] = logs
    return result


# -- verdicts ---------------------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    sweeper = result.get("sweeper")
    if sweeper is not None:
        n = result["open_tickets"]["open"]
        if "first" in sweeper:
            worst = max(v["s"] for v in sweeper.values())
            rows.append((f"SLA sweeper pass, {n:,} open tickets ({sweeper['first']['breached']} breached, worst of 3)",
                         f"{worst:g} s", f"< {TARGETS['sweep_s']:g} s",
                         "pass" if worst < TARGETS["sweep_s"] else "FAIL"))
        else:
            rows.append((f"SLA sweeper pass, {n:,} open tickets", "not measured (no sweeper on this branch; "
                         f"finding the due clocks: {sweeper['due_sql']['s']} s)", f"< {TARGETS['sweep_s']:g} s",
                         "not measured"))
    latency = result.get("create", {}).get("latency")
    if latency is not None:
        p99 = latency["ms"]["p99"]
        rows.append((f"POST /tickets p99 at {latency['rate']:g}/s offered", f"{p99} ms",
                     f"< {TARGETS['p99_ms_at_rate']:g} ms",
                     "not measured" if p99 is None else "pass" if p99 < TARGETS["p99_ms_at_rate"] else "FAIL"))
    return rows


def table(result: dict[str, Any]) -> list[str]:
    lines = ["| measure | measured | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in verdicts(result)]
    latency = result.get("create", {}).get("latency")
    if latency is not None:
        ms = latency["ms"]
        lines += ["", f"POST /tickets at {latency['rate']:g}/s: p50 {ms['p50']} ms, p95 {ms['p95']} ms, "
                  f"p99 {ms['p99']} ms, max {ms['max']} ms ({ms['n']} tickets; statuses {latency['statuses']})"]
    for label, timed in result.get("report", {}).items():
        lines.append(f"report {label}: p50 {timed['ms']['p50']} ms, worst {timed['s_worst']} s "
                     f"({timed['tickets']:,} tickets raised, {timed['sla_clocks']:,} SLA clocks ended)")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--parts", default="sweeper,report,create",
                        help="comma-separated: sweeper, report, create (all three)")
    parser.add_argument("--open", type=int, default=100_000, help="open tickets for the sweeper (100,000)")
    parser.add_argument("--due-share", type=float, default=0.05,
                        help="share of running clocks run out and not yet marked (0.05)")
    parser.add_argument("--marked-share", type=float, default=0.2, help="share already breached and marked (0.2)")
    parser.add_argument("--history", type=int, default=300_000, help="resolved tickets over 180 days (300,000)")
    parser.add_argument("--customers-in-db", type=int, default=50_000, help="customers of the SQL-loaded tickets")
    parser.add_argument("--repeat", type=int, default=5, help="times each report is timed (5)")
    parser.add_argument("--home", type=Path, default=None, help="the embedded PostgreSQL's home (default: a temp dir)")
    parser.add_argument("--customers", type=int, default=2000, help="customers registered for creation (2000)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered tickets/s for latency (200)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds at the rate first (5)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds at the rate (30)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--port-base", type=int, default=28501, help="KEHU_HTTP_PORT_BASE (28501)")
    parser.add_argument("--kafka-port", type=int, default=29793, help="KEHU_EMBEDDED_KAFKA_PORT (29793)")
    parser.add_argument("--drain-s", type=float, default=600.0, help="wait up to S s for the outboxes (600)")
    parser.add_argument("--settle-s", type=float, default=60.0, help="wait up to S s for an idle machine (60)")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--stop-timeout", type=float, default=60.0)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the raw JSON goes")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--keep-home", action="store_true", help="keep KEHU_HOME (logs) for inspection")
    parser.add_argument("--kehu", type=Path, default=default_kehu(), help="the kehu executable (.venv/bin/kehu)")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the output of `kehu up`")
    args = parser.parse_args(argv)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = args.parts - {"sweeper", "report", "create"}
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    args.command_line = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if "create" in args.parts and not args.kehu.exists():
        print(f"no kehu executable at {args.kehu} (make install, or --kehu)", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    print(f"tickets benchmark ({', '.join(sorted(args.parts))}): {args.open:,} open tickets, {args.history:,} in "
          f"history, creation at {args.rate:g}/s for {args.duration:g} s", flush=True)
    measured: dict[str, Any] = {}
    try:
        if args.parts & {"sweeper", "report"}:
            measured.update(run_async(database_parts(args)))
        if "create" in args.parts:
            measured["create"] = create_part(args)
    except KeyboardInterrupt:
        print("\ninterrupted; nothing written", flush=True)
        return 130
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError, asyncpg.PostgresError) as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}\nnothing written (--keep-home keeps the logs)",
              flush=True)
        return 2
    report = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.command_line,
              "machine": machine_info() | {"uname": " ".join(os.uname()), "load_average_at_end": os.getloadavg()},
              "targets": TARGETS, **measured}
    lines = table(measured)
    print("\n" + "\n".join(lines), flush=True)
    if not args.no_write:
        path = args.results_dir / f"tickets-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report | {"table": lines}, indent=2, ensure_ascii=False, default=str) + "\n")
        print(f"wrote {path}")
    return 0 if all(v[3] != "FAIL" for v in verdicts(measured)) else 1


if __name__ == "__main__":
    sys.exit(main())
