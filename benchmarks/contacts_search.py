#!/usr/bin/env python3
"""The contacts search query at scale (issue 11): 200,000 customers with Chinese names and mobile
numbers, 400,000 identities (a phone and a membership card each). Run on demand, not in tests:

    .venv/bin/python benchmarks/contacts_search.py [--customers 200000] [--home /tmp/kehu-search-bench]

It starts (or joins) an embedded PostgreSQL under ``--home``, migrates a database ``bench_search``
as contacts does, loads the customers once (their search texts computed by ``search.search_text``)
and then times the SQL of ``GET /customers?q=`` (``search_customers``, or ``--query
list_customers`` for the plain ``LIKE`` scan) for kinds of query a shop makes: p50 and p99 in ms.
Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from kehu.embedded import EmbeddedPostgres
from services.contacts import search
from shared.db import prepare_database
from shared.sql import load_queries

ROOT = Path(__file__).resolve().parent.parent
Q = load_queries(ROOT / "services" / "contacts" / "sql" / "customers.sql")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红梅飞鹏辉鑫波宇浩凯健俊帆帅旭宁龙林欣晨雪琳晶妍茜瑶怡颖思雨婷倩"


async def load(conn: asyncpg.Connection, count: int) -> None:
    if await conn.fetchval("SELECT count(*) FROM customer_identities") >= 2 * count:
        return
    await conn.execute("TRUNCATE customers CASCADE")
    rng = random.Random(7)
    now = datetime.now(UTC)
    customers, identities = [], []
    for i in range(count):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        phone = f"+861{3 + i % 7}{(i * 7919) % 10**9:09d}"  # distinct: 7919 is prime to 10**9
        customer_id = uuid.UUID(int=(i + 1) | (0x0190 << 112) | (7 << 76) | (2 << 62))
        customers.append((customer_id, name, "person", phone, "potential", now, search.search_text(name, phone, None)))
        identities += [("phone", phone, customer_id), ("membership_card", f"VIP{i:07d}", customer_id)]
    await conn.copy_records_to_table("customers", records=customers, columns=[
        "id", "name", "kind", "phone", "category", "created_at", "search"])
    await conn.copy_records_to_table("customer_identities", records=identities, columns=["kind", "value", "customer_id"])
    await conn.execute("ANALYZE")


async def measure(conn: asyncpg.Connection, query: str) -> None:
    sql = Q[query]
    names = [r["name"] for r in await conn.fetch("SELECT name FROM customers TABLESAMPLE SYSTEM (1) LIMIT 50")]
    cases = {
        "common surname 张": ["张"] * 20, "full names (sampled)": names, "no match 龘": ["龘"] * 20,
        "pinyin zhangw": ["zhangw"] * 20, "initials wf": ["wf"] * 20, "phone tail 8000": ["8000"] * 20,
        "no match xyzq": ["xyzq"] * 20, "membership card": ["vip0123456"] * 20,
    }
    for label, queries in cases.items():
        times = []
        for q in queries:
            tail = search.phone_tail(q)
            args: list[object] = [None, None, None, None, None, search.query_pattern(q), tail, 50, None, None]
            if query == "search_customers":
                args += [search.query_grams(search.query_text(q)), search.query_grams(tail)]
            started = time.perf_counter()
            await conn.fetch(sql, *args)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, round(len(times) * 0.99) - 1)]
        print(f"{label:24s} p50 {statistics.median(times):7.1f} ms   p99 {p99:7.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--home", type=Path, default=Path("/tmp/kehu-search-bench"))
    parser.add_argument("--query", choices=("search_customers", "list_customers"), default="search_customers")
    options = parser.parse_args()
    server = EmbeddedPostgres(options.home).start()
    url = await prepare_database(server, "bench_search", ROOT / "services" / "contacts" / "migrations")
    conn = await asyncpg.connect(url)
    try:
        await load(conn, options.customers)
        await measure(conn, options.query)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
