#!/usr/bin/env python3
"""The ageing query at scale (issue 12): 200,000 customers with open instalments (one order on
account each, one or two instalments due from 150 days ago to 60 days ahead, some partly paid),
20 salespeople. Run on demand, not in tests:

    .venv/bin/python benchmarks/receivables_ageing.py [--customers 200000] [--home /tmp/kehu-ageing-bench]

It starts (or joins) an embedded PostgreSQL under ``--home``, migrates a database ``bench_ageing``
as orders does, loads the rows once, then times the SQL of ``GET /receivables/ageing``: the shop's
totals (``ageing_totals``) plus the first page of customers (``ageing_customers``, 100), for the
shop and for one salesperson. Target: < 2 s for both queries together.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from kehu.embedded import EmbeddedPostgres
from shared.db import prepare_database
from shared.sql import load_queries

ROOT = Path(__file__).resolve().parent.parent
Q = load_queries(ROOT / "services" / "orders" / "sql" / "ageing.sql")


async def load(conn: asyncpg.Connection, count: int) -> None:
    if await conn.fetchval("SELECT count(*) FROM orders") >= count:
        return
    await conn.execute("TRUNCATE orders, known_customers CASCADE")
    await conn.execute("""
        INSERT INTO known_customers (customer_id, source, owner, owner_at)
        SELECT md5('c' || g)::uuid, 'bench', 'owner-' || (g % 20), now() FROM generate_series(1, $1) g""", count)
    await conn.execute("""
        INSERT INTO orders (id, customer_id, channel, currency, total, occurred_at, recorded_at, receivable_revision)
        SELECT md5('o' || g)::uuid, md5('c' || g)::uuid, 'store', 'CNY', 100 + g % 900,
               now() - make_interval(days => g % 180), now(), 1
        FROM generate_series(1, $1) g""", count)
    await conn.execute("""
        INSERT INTO receivable_instalments (order_id, no, due_at, amount, paid)
        SELECT md5('o' || g)::uuid, n, now() - make_interval(days => g % 210 - 60 - 30 * n),
               (100 + g % 900) / 2.0, CASE WHEN g % 5 = 0 THEN 10 ELSE 0 END
        FROM generate_series(1, $1) g, generate_series(1, 1 + g % 2) n""", count)
    await conn.execute("ANALYZE")


async def measure(conn: asyncpg.Connection, rounds: int) -> None:
    as_of = datetime.now(UTC)
    for label, owner in (("shop", None), ("one salesperson", "owner-7")):
        times, page_times = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            totals = await conn.fetchrow(Q["ageing_totals"], as_of, owner)
            middle = time.perf_counter()
            page = await conn.fetch(Q["ageing_customers"], as_of, owner, None, 100, None)
            times.append((time.perf_counter() - started) * 1000)
            page_times.append((time.perf_counter() - middle) * 1000)
        print(f"{label:16s} totals+page median {statistics.median(times):7.0f} ms  max {max(times):7.0f} ms  "
              f"(page alone median {statistics.median(page_times):.0f} ms; total owed {totals['total']}, "
              f"page of {len(page)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--home", type=Path, default=Path("/tmp/kehu-ageing-bench"))
    options = parser.parse_args()
    server = EmbeddedPostgres(options.home).start()
    url = await prepare_database(server, "bench_ageing", ROOT / "services" / "orders" / "migrations")
    conn = await asyncpg.connect(url)
    try:
        await load(conn, options.customers)
        print(f"{await conn.fetchval('SELECT count(*) FROM receivable_instalments')} instalments of "
              f"{options.customers} customers")
        await measure(conn, options.rounds)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
