#!/usr/bin/env python3
"""The full duplicate scan (issue 11: < 60 s with 200,000 customers). Run on demand, not in tests.

An embedded PostgreSQL with contacts' migrations; 200,000 customers with Chinese names (10 % of them
companies with 有限公司/公司 suffixes), mainland mobiles (1 % a number someone already has), half with
an email; identities: every phone, email and a membership card (~500,000). Then the keys' backfill
(once; registration keeps them afterwards) and two full scans (``routes/duplicates.run_scan``).

    .venv/bin/python benchmarks/duplicates.py [customers]

Measured 2026-12-07 on the shared 2-core machine under a load average of ~15 (8 helpers working):
200,000 customers, 498,027 identities: keys backfill 175 s (pinyin, once), full scan 15.4 s
(2,018 likely pairs), again 13.2 s.
"""
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kehu.embedded import EmbeddedPostgres
from services.contacts import duplicate_keys
from services.contacts.routes.duplicates import run_scan
from shared.db import create_pool, prepare_database

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红梅飞鑫波宇浩凯健俊帆帅旭宁颖琳晨欣怡博文斌涵瑶雪慧"


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="merge-bench-"))
    pg = EmbeddedPostgres(home)
    url = pg.start()
    try:
        db = await prepare_database(url, "bench_contacts", Path("services/contacts/migrations"))
        pool = await create_pool(db, size=4, acquire_timeout_s=60, command_timeout_s=None)
        rnd = random.Random(7)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        rows = []
        for i in range(N):
            name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
            if rnd.random() < 0.1:
                name = rnd.choice(("上海", "北京", "深圳", "广州")) + name + rnd.choice(("有限公司", "公司", "贸易有限公司"))
            phone = f"+861{rnd.choice('3589')}{rnd.randrange(10**9):09d}"
            if rnd.random() < 0.01 and rows:  # 1 %: a phone someone already has
                phone = rows[rnd.randrange(len(rows))][3]
            rows.append((uuid.uuid4(), name, "person", phone, f"c{i}@example.cn" if i % 2 else None, now, "potential"))
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("customers", records=rows,
                                             columns=["id", "name", "kind", "phone", "email", "created_at", "category"])
            await conn.execute("INSERT INTO customer_identities (kind, value, customer_id) "
                               "SELECT DISTINCT ON (phone) 'phone', phone, id FROM customers ORDER BY phone, id")
            await conn.execute("INSERT INTO customer_identities (kind, value, customer_id) "
                               "SELECT 'email', email, id FROM customers WHERE email IS NOT NULL")
            await conn.execute("INSERT INTO customer_identities (kind, value, customer_id) "
                               "SELECT 'membership_card', 'M' || row_number() OVER (), id FROM customers")
            await conn.execute("ANALYZE")
            ids = await conn.fetchval("SELECT count(*) FROM customer_identities")
        print(f"loaded {N} customers, {ids} identities in {time.perf_counter() - t0:.1f}s", flush=True)
        t0 = time.perf_counter()
        await duplicate_keys.refresh_all(pool)
        print(f"keys backfill: {time.perf_counter() - t0:.1f}s", flush=True)
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE customers")
        t0 = time.perf_counter()
        scan = await run_scan(pool)
        print(f"full scan: {time.perf_counter() - t0:.1f}s, {scan.customers} customers, {scan.pairs} pairs", flush=True)
        t0 = time.perf_counter()
        scan = await run_scan(pool)
        print(f"second scan: {time.perf_counter() - t0:.1f}s, {scan.pairs} pairs", flush=True)
        await pool.close()
    finally:
        pg.stop()


asyncio.run(main())
