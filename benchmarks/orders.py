#!/usr/bin/env python3
"""Orders at a busy shop's pace, and receivables of a grown one (issue 12). Run on demand, not in tests.

Targets (issue 12), on this 2-core machine: **POST /orders throughput ≥ 1000 orders/s** with
concurrent clients; **p99 < 50 ms at an offered 500 orders/s**; **receivables ageing of 200,000
customers < 2 s**. Besides, the time of the sales report (``GET /reports/sales``) over every order.

1. A fresh ``kehu up`` (own ``KEHU_HOME`` and ports: ``benchmarks/cdnow.py``'s ``Instance``, with the
   default zone and currency, Asia/Shanghai and CNY).
2. ``--customers`` customers registered through ``POST /customers/batch``; ``--terms-share`` of
   them given credit terms through ``PUT /customers/{id}/credit-terms`` when orders answers that
   route (a 404/405 means credit terms are not built: skipped, and said so in the results). The
   outboxes drained, so orders knows every customer from its replica.
3. Throughput: ``--clients`` clients, each placing orders one after the other (1–3 lines, some for
   customers with terms) until ``--orders`` were sent; accepted orders per second of wall time.
4. Latency: open loop at ``--rate`` orders/s for ``--duration`` s after ``--warmup`` s: order ``i``
   is sent at ``t0 + i/rate`` whether or not earlier ones were answered; latency is the answer's
   time minus the *scheduled* time (queueing in the load generator counts).
5. Ageing: ``--ageing-customers`` customers' open instalments (1–3 orders each, due from 150 days
   ago to 30 days ahead, some partly paid) inserted by SQL straight into ``orders`` and
   ``receivable_instalments`` (seconds rather than hours through the API; the reads are the same).
   Then ``GET /receivables/ageing`` is timed when orders offers it, and in any case the SQL an ageing
   needs (each customer's open amounts per bucket of days past due), ``--repeat`` times each.
6. ``GET /reports/sales`` by period (month), channel and owner over every order, ``--repeat`` times.

Raw figures go to ``benchmarks/results/orders-<UTC>.json``; a table is printed. The load generator
runs on the same machine as everything it measures (with e2e_latency's lean HTTP client, RawHttp).

    .venv/bin/python benchmarks/orders.py                          # the issue's sizes
    .venv/bin/python benchmarks/orders.py --customers 200 --orders 500 --rate 100 --duration 5 --ageing-customers 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cdnow import Instance, drain_outboxes, settle, stopped_after
from benchmarks.contacts import make_customers, register, stats_ms
from benchmarks.e2e_latency import POST_TIMEOUT_S, RawHttp, default_kehu, machine_info, run_async

HERE = Path(__file__).resolve().parent
TARGETS = {"throughput_per_s": 1000.0, "p99_ms_at_rate": 50.0, "ageing_s": 2.0}
CHANNELS = ("store", "web", "wechat", "phone")
SKUS = tuple(f"SKU-{n:04d}" for n in range(1, 201))

AGEING_SQL = """
SELECT o.customer_id,
       sum(i.amount - i.paid) FILTER (WHERE i.due_at >= $1) AS current,
       sum(i.amount - i.paid) FILTER (WHERE i.due_at < $1 AND i.due_at >= $1 - interval '30 days') AS d1_30,
       sum(i.amount - i.paid) FILTER (WHERE i.due_at < $1 - interval '30 days'
                                        AND i.due_at >= $1 - interval '60 days') AS d31_60,
       sum(i.amount - i.paid) FILTER (WHERE i.due_at < $1 - interval '60 days'
                                        AND i.due_at >= $1 - interval '90 days') AS d61_90,
       sum(i.amount - i.paid) FILTER (WHERE i.due_at < $1 - interval '90 days') AS over_90
FROM receivable_instalments i JOIN orders o ON o.id = i.order_id
WHERE i.paid < i.amount AND o.status <> 'cancelled'
GROUP BY o.customer_id
"""


class Shop(Instance):
    """``Instance`` as a Chinese shop: the default zone and currency (CNY), not CDNOW's UTC and USD."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("KEHU_TIMEZONE", None)
        env.pop("KEHU_CURRENCIES", None)
        return env


# -- loading -------------------------------------------------------------------------------------


async def customer_ids(up: Instance) -> list[str]:
    pg = await asyncpg.connect(**up.insights_dsn("kehu_contacts"))
    try:
        return [str(r["id"]) for r in await pg.fetch("SELECT id FROM customers ORDER BY id")]
    finally:
        await pg.close()


async def known_to_orders(up: Instance, n: int, limit_s: float = 300.0) -> float:
    """Seconds until orders' replica knows ``n`` customers (else each order would ask contacts)."""
    started = time.monotonic()
    pg = await asyncpg.connect(**up.insights_dsn("kehu_orders"))
    try:
        while int(await pg.fetchval("SELECT count(*) FROM known_customers")) < n:
            if time.monotonic() - started > limit_s:
                raise TimeoutError(f"orders knows fewer than {n} customers after {limit_s:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await pg.close()
    return time.monotonic() - started


async def give_terms(up: Instance, ids: Sequence[str]) -> dict[str, Any]:
    """Credit terms for ``ids``, when orders has the route; else why not."""
    if not ids:
        return {"given": 0}
    body = {"payment_days": 30, "credit_limit": "1000000.00", "when_exceeded": "refuse", "reason": "benchmark"}
    async with httpx.AsyncClient(headers=up.headers(), timeout=30) as http:
        first = await http.put(f"{up.url('orders')}/customers/{ids[0]}/credit-terms", json=body,
                               headers={"Idempotency-Key": f"terms-{ids[0]}"})
        if first.status_code in (404, 405):
            return {"given": 0, "not_available": f"PUT /customers/{{id}}/credit-terms answered {first.status_code}"}
        if first.status_code >= 300:
            return {"given": 0, "refused": f"{first.status_code}: {first.text[:300]}"}
        gate = asyncio.Semaphore(8)

        async def one(customer_id: str) -> int:
            async with gate:
                response = await http.put(f"{up.url('orders')}/customers/{customer_id}/credit-terms", json=body,
                                          headers={"Idempotency-Key": f"terms-{customer_id}"})
                return response.status_code

        statuses = await asyncio.gather(*[one(c) for c in ids[1:]])
    return {"given": 1 + sum(1 for s in statuses if s < 300), "statuses": sorted(set(statuses) | {first.status_code})}


def an_order(rng: random.Random, ids: Sequence[str]) -> dict[str, Any]:
    lines = [{"sku": rng.choice(SKUS), "quantity": str(rng.randint(1, 3)), "unit_price": f"{rng.randint(5, 300)}.00"}
             for _ in range(rng.randint(1, 3))]
    return {"customer_id": rng.choice(ids), "channel": rng.choice(CHANNELS), "lines": lines}


# -- measuring -----------------------------------------------------------------------------------


async def throughput(up: Instance, ids: Sequence[str], orders: int, clients: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    bodies = [orjson.dumps(an_order(rng, ids)) for _ in range(orders)]
    statuses: dict[int | str, int] = {}
    raw = raw_client(up, clients)
    queue = iter(bodies)

    async def client() -> None:
        for body in queue:  # shared iterator: each body is sent once
            answer = await post(raw, body)
            statuses[answer] = statuses.get(answer, 0) + 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*[client() for _ in range(clients)])
    finally:
        await raw.close()
    elapsed = time.perf_counter() - started
    accepted = statuses.get(201, 0)
    return {"orders": orders, "clients": clients, "s": round(elapsed, 2), "accepted": accepted,
            "per_s": round(accepted / elapsed, 1), "statuses": {str(k): v for k, v in statuses.items()}}


def raw_client(up: Instance, connections: int) -> RawHttp:
    """e2e_latency's lean keep-alive client: httpx would spend more CPU than the service it loads."""
    return RawHttp("127.0.0.1", int(up.url("orders").rsplit(":", 1)[1]), up.headers(), connections=connections)


async def post(raw: RawHttp, body: bytes) -> int | str:
    """The status, or the kind of error (a connection dropped under load is counted, not fatal)."""
    try:
        status, _ = await asyncio.wait_for(raw.post("/orders", body), POST_TIMEOUT_S)
        return status
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return type(exc).__name__


async def open_loop(up: Instance, ids: Sequence[str], rate: float, warmup_s: float, duration_s: float,
                    seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    total = int(rate * (warmup_s + duration_s))
    measured_from = int(rate * warmup_s)
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    raw = raw_client(up, 64)
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
        await asyncio.gather(*[one(i, orjson.dumps(an_order(rng, ids))) for i in range(total)])
    finally:
        await raw.close()
    return {"rate": rate, "warmup_s": warmup_s, "duration_s": duration_s, "ms": stats_ms(latencies),
            "statuses": {str(k): v for k, v in statuses.items()}}


async def load_receivables(up: Instance, customers: int, seed: int) -> dict[str, Any]:
    """1–3 orders on account per customer, each with 1–2 open instalments, straight into the tables."""
    pg = await asyncpg.connect(**up.insights_dsn("kehu_orders"))
    started = time.perf_counter()
    try:
        await pg.execute("SELECT setseed($1)", (seed % 1000) / 1000.0)
        await pg.execute("""
            CREATE TEMP TABLE bench_orders AS
            SELECT gen_random_uuid() AS id, c.customer_id,
                   now() - (random() * 180 || ' days')::interval AS occurred_at,
                   round((20 + random() * 2000)::numeric, 2) AS total,
                   1 + (random() < 0.3)::int AS instalments
            FROM (SELECT gen_random_uuid() AS customer_id, 1 + floor(random() * 3)::int AS n
                  FROM generate_series(1, $1)) c, generate_series(1, c.n)""", customers)
        await pg.execute("""
            INSERT INTO orders (id, customer_id, channel, currency, total, occurred_at, external_ref)
            SELECT id, customer_id, 'store', 'CNY', total, occurred_at, 'bench-ageing-' || id FROM bench_orders""")
        await pg.execute("""
            INSERT INTO receivable_instalments (order_id, no, due_at, amount, paid)
            SELECT o.id, k.no, o.occurred_at + ((30 * k.no) || ' days')::interval,
                   round(o.total / o.instalments, 2) AS amount,
                   CASE WHEN random() < 0.25 THEN round(o.total / o.instalments / 2, 2) ELSE 0 END
            FROM bench_orders o, generate_series(1, o.instalments) AS k(no)""")
        await pg.execute("ANALYZE orders")
        await pg.execute("ANALYZE receivable_instalments")
        orders = int(await pg.fetchval("SELECT count(*) FROM bench_orders"))
        instalments = int(await pg.fetchval("SELECT count(*) FROM receivable_instalments"))
    finally:
        await pg.close()
    return {"customers": customers, "orders": orders, "instalments": instalments,
            "s": round(time.perf_counter() - started, 1)}


async def time_ageing_sql(up: Instance, repeat: int) -> dict[str, Any]:
    pg = await asyncpg.connect(**up.insights_dsn("kehu_orders"))
    times: list[float] = []
    rows = 0
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            rows = len(await pg.fetch(AGEING_SQL, datetime.now(UTC)))
            times.append(time.perf_counter() - started)
    finally:
        await pg.close()
    return {"customers": rows, "ms": stats_ms(times), "s_best": round(min(times), 3), "s_worst": round(max(times), 3)}


def offered(up: Instance) -> set[str]:
    return set(httpx.get(up.url("orders") + "/openapi.json", timeout=10).json().get("paths", {}))


def time_get(up: Instance, path: str, params: dict[str, str], repeat: int) -> dict[str, Any]:
    times: list[float] = []
    statuses: dict[int, int] = {}
    size = 0
    with httpx.Client(headers=up.headers(), timeout=120) as http:
        for _ in range(repeat):
            started = time.perf_counter()
            response = http.get(up.url("orders") + path, params=params)
            times.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            size = len(response.content)
    return {"path": path, "params": params, "ms": stats_ms(times), "s_worst": round(max(times), 3), "bytes": size,
            "statuses": {str(k): v for k, v in statuses.items()}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="kehu-orders-bench-"))
    up = Shop(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    result: dict[str, Any] = {}
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        print(f"  kehu up ready in {time.perf_counter() - mark:.1f} s (home {home})", flush=True)
        seconds = run_async(register(up, make_customers(rng, args.customers, 0, "orders-bench")))
        ids = run_async(customer_ids(up))
        known_s = run_async(known_to_orders(up, len(ids)))
        terms = run_async(give_terms(up, ids[: int(len(ids) * args.terms_share)]))
        result["load"] = {"customers": len(ids), "register_s": round(seconds, 1), "known_s": round(known_s, 1),
                          "credit_terms": terms}
        print(f"  {len(ids):,} customers registered in {seconds:.1f} s; credit terms: {terms}", flush=True)
        drained_s, _ = run_async(drain_outboxes(up, limit_s=args.drain_s))
        result["load"]["drained_s"] = round(drained_s, 1)
        settle(limit_s=args.settle_s)
        result["throughput"] = run_async(throughput(up, ids, args.orders, args.clients, args.seed))
        print(f"  throughput: {result['throughput']}", flush=True)
        run_async(drain_outboxes(up, limit_s=args.drain_s))
        settle(limit_s=args.settle_s)
        result["latency"] = run_async(open_loop(up, ids, args.rate, args.warmup, args.duration, args.seed))
        print(f"  latency at {args.rate:g}/s: {result['latency']}", flush=True)
        run_async(drain_outboxes(up, limit_s=args.drain_s))
        result["receivables"] = run_async(load_receivables(up, args.ageing_customers, args.seed))
        print(f"  receivables loaded: {result['receivables']}", flush=True)
        settle(limit_s=args.settle_s)
        paths = offered(up)
        result["ageing_sql"] = run_async(time_ageing_sql(up, args.repeat))
        print(f"  ageing (SQL): {result['ageing_sql']}", flush=True)
        if "/receivables/ageing" in paths:
            result["ageing_http"] = time_get(up, "/receivables/ageing", {}, args.repeat)
        else:
            result["ageing_http"] = {"not_available": "orders has no GET /receivables/ageing"}
        print(f"  ageing (HTTP): {result['ageing_http']}", flush=True)
        year = {"from": (datetime.now(UTC) - timedelta(days=365)).isoformat(), "to": datetime.now(UTC).isoformat()}
        result["sales_report"] = {by: time_get(up, "/reports/sales", {**year, "by": by, "period": "month"}, args.repeat)
                                  for by in ("period", "channel", "owner")} if "/reports/sales" in paths else {}
        print(f"  sales report: { {k: v['ms'] for k, v in result['sales_report'].items()} }", flush=True)
    result["logs"] = logs
    return result


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    per_s = result["throughput"]["per_s"]
    rows.append((f"POST /orders throughput ({result['throughput']['clients']} clients)", f"{per_s:g}/s",
                 f"≥ {TARGETS['throughput_per_s']:g}/s", "pass" if per_s >= TARGETS["throughput_per_s"] else "FAIL"))
    p99 = result["latency"]["ms"]["p99"]
    rows.append((f"POST /orders p99 at {result['latency']['rate']:g}/s offered", f"{p99} ms",
                 f"< {TARGETS['p99_ms_at_rate']:g} ms",
                 "not measured" if p99 is None else "pass" if p99 < TARGETS["p99_ms_at_rate"] else "FAIL"))
    http = result["ageing_http"]
    worst = http.get("s_worst", result["ageing_sql"]["s_worst"])
    what = "GET /receivables/ageing" if "s_worst" in http else "ageing SQL (no route yet)"
    rows.append((f"{what}, {result['receivables']['customers']:,} customers (worst)", f"{worst:g} s",
                 f"< {TARGETS['ageing_s']:g} s", "pass" if worst < TARGETS["ageing_s"] else "FAIL"))
    return rows


def table(result: dict[str, Any]) -> list[str]:
    lines = ["| measure | measured | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in verdicts(result)]
    lat = result["latency"]["ms"]
    lines += ["", f"POST latency at {result['latency']['rate']:g}/s: p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
              f"p99 {lat['p99']} ms, max {lat['max']} ms ({lat['n']} orders)"]
    for by, timed in result["sales_report"].items():
        lines.append(f"GET /reports/sales by={by}: p50 {timed['ms']['p50']} ms, worst {timed['s_worst']} s")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=2000, help="customers registered for orders (2000)")
    parser.add_argument("--terms-share", type=float, default=0.2, help="share given credit terms (0.2)")
    parser.add_argument("--orders", type=int, default=30_000, help="orders sent for throughput (30,000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients for throughput (32)")
    parser.add_argument("--rate", type=float, default=500.0, help="offered orders/s for latency (500)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds at the rate first (5)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds at the rate (30)")
    parser.add_argument("--ageing-customers", type=int, default=200_000, help="customers with receivables (200,000)")
    parser.add_argument("--repeat", type=int, default=5, help="times each read is timed (5)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--port-base", type=int, default=28401, help="KEHU_HTTP_PORT_BASE (28401)")
    parser.add_argument("--kafka-port", type=int, default=29693, help="KEHU_EMBEDDED_KAFKA_PORT (29693)")
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
    args.command_line = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.kehu.exists():
        print(f"no kehu executable at {args.kehu} (make install, or --kehu)", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    print(f"orders benchmark: {args.customers:,} customers, {args.orders:,} orders by {args.clients} clients, "
          f"{args.rate:g}/s for {args.duration:g} s, ageing of {args.ageing_customers:,} customers", flush=True)
    try:
        measured = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; kehu up has been stopped; nothing written", flush=True)
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
        path = args.results_dir / f"orders-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report | {"table": lines}, indent=2, ensure_ascii=False, default=str) + "\n")
        print(f"wrote {path}")
    return 0 if all(v[3] != "FAIL" for v in verdicts(measured)) else 1


if __name__ == "__main__":
    sys.exit(main())
