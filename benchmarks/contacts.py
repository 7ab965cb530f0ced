#!/usr/bin/env python3
"""Contacts at the size of a grown shop (issue 11). Run on demand, not in tests.

Targets (issue 11), with 200,000 customers and 400,000 identities loaded: **identity resolve p99
< 10 ms, search p99 < 50 ms, full duplicate scan < 60 s, import of 100,000 customers < 60 s.**

1. A fresh ``kehu up`` (own ``KEHU_HOME`` and ports: ``benchmarks/cdnow.py``'s ``Instance``).
2. ``--customers`` (200,000) customers with realistic Chinese names (the common surnames by
   frequency, two-character surnames, one- and two-character given names, polyphonic 曾/单/解),
   mainland mobile numbers, and for some an email, registered through ``POST /customers/batch``
   (1000 a request, 4 in flight), as an import does.
3. Identities up to ``--identities`` (400,000): each customer's phone, emails, WeChat open ids and
   membership cards, inserted with SQL straight into ``customer_identities`` (``ON CONFLICT DO
   NOTHING``: where registration linked the phone and email already, only the rest is added).
   SQL rather than ``POST /customers/{id}/identities``, to load them in seconds rather than
   minutes; the measured routes read the same table either way.
4. The outboxes drained and the machine left to settle, then, one client, sequentially:
   - ``POST /identities/resolve`` (phone in various spellings, email, WeChat open id, card; 10 %
     unknown): p50/p95/p99; "not available" when contacts has no such route;
   - ``GET /customers?q=`` by a full Chinese name, a surname + first given character, full pinyin,
     initials, a phone's last four digits (p99 per kind and over all);
   - ``GET /duplicates`` walked to its end: the time of the full scan ("not available" without it);
   - ``kehu import customers`` of a CSV of ``--import-rows`` (100,000) new customers, wall time.

Raw figures go to ``benchmarks/results/contacts-<UTC>.json``; a table is printed.

    .venv/bin/python benchmarks/contacts.py                       # the issue's sizes
    .venv/bin/python benchmarks/contacts.py --customers 20000 --identities 40000 --import-rows 10000 -n 50
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cdnow import Instance, drain_outboxes, settle, stopped_after
from benchmarks.e2e_latency import default_kehu, machine_info, percentile, run_async

HERE = Path(__file__).resolve().parent
TARGETS = {"resolve_p99_ms": 10.0, "search_p99_ms": 50.0, "duplicate_scan_s": 60.0, "import_s": 60.0}

# The most common surnames, roughly by frequency (a name is drawn with these weights), a few
# two-character ones, and given-name characters; 曾, 单, 解 have two readings.
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高",
            "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁",
            "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔",
            "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "付", "方", "白", "邹", "孟", "熊", "秦",
            "邱", "江", "尹", "薛", "闫", "段", "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵",
            "万", "钱", "严", "覃", "武", "戴", "莫", "孔", "向", "汤", "单", "解", "欧阳", "司马", "诸葛", "上官")
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀",
         "英", "华", "慧", "巧", "美", "玲", "桂", "红", "霞", "平", "刚", "文", "辉", "力", "建", "国", "志", "海",
         "鹏", "宇", "浩", "子", "轩", "梓", "涵", "欣", "怡", "佳", "琪", "晨", "博", "思", "雨", "婷", "雪", "琳",
         "嘉", "瑶", "俊", "凯", "斌", "波", "晓", "燕", "春", "梅", "兰", "云", "飞", "龙", "阳", "亮", "成", "东")


MOBILE = ("138", "139", "137", "136", "135", "150", "151", "158", "159", "186", "187", "188", "189", "133", "153",
          "180", "181", "177")  # mainland mobile prefixes; with 8 digits of the customer's number


def surname_weights() -> list[float]:
    return [1.0 / (rank + 8) for rank in range(len(SURNAMES))]  # Zipf-like: 王李张 most common


def chinese_name(rng: random.Random, weights: list[float]) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choices(SURNAMES, weights)[0] + given


def make_customers(rng: random.Random, n: int, start: int, prefix: str) -> list[dict[str, Any]]:
    """``n`` customers: a name, a unique mainland mobile (from ``start``), an email for one in four."""
    weights = surname_weights()
    out = []
    for i in range(start, start + n):
        customer: dict[str, Any] = {"name": chinese_name(rng, weights), "phone": f"{MOBILE[i % len(MOBILE)]}{i:08d}",
                                    "external_ref": f"{prefix}-{i}"}
        if i % 4 == 0:
            customer["email"] = f"c{i}@example.cn"
        out.append(customer)
    return out


# -- loading -------------------------------------------------------------------------------------


async def register(up: Instance, customers: list[dict[str, Any]], in_flight: int = 4) -> float:
    """Register through POST /customers/batch; the seconds it took."""
    url = up.url("contacts") + "/customers/batch"
    gate = asyncio.Semaphore(in_flight)
    started = time.perf_counter()
    async with httpx.AsyncClient(headers=up.headers(), timeout=300) as http:
        async def one(number: int, batch: list[dict[str, Any]]) -> None:
            async with gate:
                for attempt in range(6):
                    response = await http.post(url, json={"customers": batch},
                                               headers={"Idempotency-Key": f"bench-{number}"})
                    if response.status_code == 200:
                        return
                    if response.status_code < 500:
                        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
                    await asyncio.sleep(0.5 * 2 ** attempt)
                raise RuntimeError(f"{url} kept answering {response.status_code}")

        await asyncio.gather(*[one(i, customers[s:s + 1000]) for i, s in enumerate(range(0, len(customers), 1000))])
    return time.perf_counter() - started


async def add_identities(up: Instance, wanted: int) -> dict[str, int]:
    """Phones and emails of every customer, then WeChat open ids and membership cards until
    ``wanted`` identities exist. By SQL: see the module doc."""
    pg = await asyncpg.connect(**up.insights_dsn("kehu_contacts"))
    try:
        await pg.execute("""INSERT INTO customer_identities (kind, value, customer_id, linked_by)
                            SELECT 'phone', phone, id, 'benchmark' FROM customers WHERE phone IS NOT NULL
                            ON CONFLICT DO NOTHING""")
        await pg.execute("""INSERT INTO customer_identities (kind, value, customer_id, linked_by)
                            SELECT 'email', email, id, 'benchmark' FROM customers WHERE email IS NOT NULL
                            ON CONFLICT DO NOTHING""")
        have = int(await pg.fetchval("SELECT count(*) FROM customer_identities"))
        rest = max(0, wanted - have)
        # half WeChat open ids (28 characters, as WeChat's), half membership cards
        await pg.execute("""INSERT INTO customer_identities (kind, value, customer_id, linked_by)
                            SELECT 'wechat_openid', 'oBench' || lpad(to_hex(n), 22, '0'), id, 'benchmark'
                            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM customers) c
                            WHERE n <= $1 ON CONFLICT DO NOTHING""", rest // 2)
        await pg.execute("""INSERT INTO customer_identities (kind, value, customer_id, linked_by)
                            SELECT 'membership_card', 'VIP' || lpad(n::text, 8, '0'), id, 'benchmark'
                            FROM (SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM customers) c
                            WHERE n <= $1 ON CONFLICT DO NOTHING""", rest - rest // 2)
        await pg.execute("ANALYZE customer_identities")
        await pg.execute("ANALYZE customers")
        rows = await pg.fetch("SELECT kind, count(*) AS n FROM customer_identities GROUP BY kind ORDER BY kind")
        return {r["kind"]: int(r["n"]) for r in rows}
    finally:
        await pg.close()


async def sample_identities(up: Instance, n: int, rng: random.Random) -> list[dict[str, str]]:
    pg = await asyncpg.connect(**up.insights_dsn("kehu_contacts"))
    try:
        rows = await pg.fetch("SELECT kind, value FROM customer_identities TABLESAMPLE SYSTEM (5) LIMIT $1", n)
    finally:
        await pg.close()
    out = []
    for row in rows:
        value = row["value"]
        if row["kind"] == "phone" and rng.random() < 0.5:  # as a till types it: no +86, blanks
            digits = value.removeprefix("+86")
            value = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
        out.append({"kind": row["kind"], "value": value})
    unknown = [{"kind": "phone", "value": f"1990{i:07d}"} for i in range(max(1, n // 10))]
    mixed = out + unknown
    rng.shuffle(mixed)
    return mixed


# -- measuring -----------------------------------------------------------------------------------


def stats_ms(values_s: Sequence[float]) -> dict[str, float | int | None]:
    ordered = sorted(v * 1000 for v in values_s)
    return {"n": len(ordered), **{f"p{p}": _r(percentile(ordered, p)) for p in (50, 95, 99)},
            "max": _r(ordered[-1] if ordered else None)}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def routes(up: Instance) -> set[str]:
    return set(httpx.get(up.url("contacts") + "/openapi.json", timeout=10).json().get("paths", {}))


def measure_resolve(up: Instance, identities: list[dict[str, str]], warmup: int) -> dict[str, Any]:
    times: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(headers=up.headers(), timeout=10) as http:
        for i, identity in enumerate(identities):
            started = time.perf_counter()
            response = http.post(up.url("contacts") + "/identities/resolve", json=identity)
            elapsed = time.perf_counter() - started
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if i >= warmup:
                times.append(elapsed)
    return {"ms": stats_ms(times), "statuses": statuses}


def search_queries(customers: list[dict[str, Any]], rng: random.Random, n: int) -> dict[str, list[str]]:
    from pypinyin import Style, lazy_pinyin

    picks = rng.sample(customers, n)
    return {
        "chinese_full": [c["name"] for c in picks],
        "chinese_partial": [c["name"][:2] for c in picks],
        "pinyin_full": ["".join(lazy_pinyin(c["name"])) for c in picks],
        "pinyin_initials": ["".join(lazy_pinyin(c["name"], style=Style.FIRST_LETTER)) for c in picks],
        "phone_tail": [c["phone"][-4:] for c in picks],
    }


def measure_search(up: Instance, queries: dict[str, list[str]], warmup: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    every: list[float] = []
    with httpx.Client(headers=up.headers(), timeout=30) as http:
        for kind, texts in queries.items():
            times: list[float] = []
            found = 0
            for i, text in enumerate(texts):
                started = time.perf_counter()
                response = http.get(up.url("contacts") + "/customers", params={"q": text, "limit": "20"})
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                found += bool(response.json()["items"])
                if i >= warmup:
                    times.append(elapsed)
            every += times
            out[kind] = {"ms": stats_ms(times), "found_share": round(found / max(1, len(texts)), 3)}
    out["all"] = {"ms": stats_ms(every)}
    return out


def measure_duplicates(up: Instance) -> dict[str, Any]:
    """Walk GET /duplicates to its end (following next_cursor when it pages)."""
    started = time.perf_counter()
    pairs = 0
    cursor: str | None = None
    pages = 0
    with httpx.Client(headers=up.headers(), timeout=600) as http:
        while True:
            params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
            response = http.get(up.url("contacts") + "/duplicates", params=params)
            if response.status_code != 200:
                return {"error": f"{response.status_code}: {response.text[:200]}"}
            body = response.json()
            pages += 1
            pairs += len(body.get("items", []))
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return {"s": round(time.perf_counter() - started, 2), "pairs": pairs, "pages": pages}


def measure_import(up: Instance, kehu: Path, home: Path, customers: list[dict[str, Any]]) -> dict[str, Any]:
    """``kehu import customers`` of a CSV with the header a shop's export has (Chinese)."""
    path = home / "import.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["姓名", "手机", "邮箱", "客户编号", "来源", "标签"])
        for c in customers:
            writer.writerow([c["name"], c["phone"], c.get("email", ""), c["external_ref"], "展会", "导入,测试"])
    env = {**up.env(), "KEHU_TOKEN": up.token(), "KEHU_CONTACTS_URL": up.url("contacts")}
    started = time.perf_counter()
    done = subprocess.run([str(kehu), "import", "customers", str(path)], env=env, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    return {"s": round(seconds, 2), "rows": len(customers), "rows_per_s": round(len(customers) / seconds),
            "exit_code": done.returncode, "summary": done.stdout.strip().splitlines()[-4:],
            "stderr_tail": done.stderr.strip().splitlines()[-3:]}


# -- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="kehu-contacts-bench-"))
    up = Instance(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    result: dict[str, Any] = {}
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        print(f"  kehu up ready in {time.perf_counter() - mark:.1f} s (home {home})", flush=True)
        base = make_customers(rng, args.customers, 0, "bench")
        seconds = run_async(register(up, base))
        print(f"  registered {len(base):,} customers in {seconds:.1f} s ({len(base) / seconds:,.0f}/s)", flush=True)
        identities = run_async(add_identities(up, args.identities))
        print(f"  identities: {identities} ({sum(identities.values()):,})", flush=True)
        drained_s, backlog = run_async(drain_outboxes(up, limit_s=args.drain_s))
        settled_s = settle(limit_s=args.settle_s)
        print(f"  outboxes drained in {drained_s:.1f} s (backlog {backlog}), settled {settled_s:.1f} s", flush=True)
        offered = routes(up)
        result["load"] = {"customers": len(base), "register_s": round(seconds, 1), "identities": identities,
                          "drained_s": round(drained_s, 1), "settled_s": round(settled_s, 1)}
        if "/identities/resolve" in offered:
            sample = run_async(sample_identities(up, args.warmup + args.n, rng))
            result["resolve"] = measure_resolve(up, sample, args.warmup)
            print(f"  resolve: {result['resolve']}", flush=True)
        else:
            result["resolve"] = {"not_available": "contacts has no POST /identities/resolve"}
        result["search"] = measure_search(up, search_queries(base, rng, args.warmup + args.n), args.warmup)
        print(f"  search: all {result['search']['all']}", flush=True)
        if "/duplicates" in offered:
            result["duplicates"] = measure_duplicates(up)
            print(f"  duplicates: {result['duplicates']}", flush=True)
        else:
            result["duplicates"] = {"not_available": "contacts has no GET /duplicates"}
        fresh = make_customers(rng, args.import_rows, args.customers, "import")
        result["import"] = measure_import(up, args.kehu, home, fresh)
        print(f"  import: {result['import']}", flush=True)
    result["logs"] = logs
    return result


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, measured, target, verdict) rows of the table."""
    def row(what: str, value: float | None, target: float, unit: str,
            missing: str | None = None) -> tuple[str, str, str, str]:
        if value is None:
            return what, missing or "not measured", f"< {target:g} {unit}", "not available"
        return what, f"{value:g} {unit}", f"< {target:g} {unit}", "pass" if value < target else "FAIL"

    resolve = result["resolve"].get("ms", {}).get("p99")
    search = result["search"]["all"]["ms"]["p99"]
    scan = result["duplicates"].get("s")
    imported = result["import"]["s"] if result["import"]["exit_code"] == 0 else None
    return [
        row("identity resolve p99", resolve, TARGETS["resolve_p99_ms"], "ms", result["resolve"].get("not_available")),
        row("search p99 (all kinds)", search, TARGETS["search_p99_ms"], "ms"),
        row("full duplicate scan", scan, TARGETS["duplicate_scan_s"], "s", result["duplicates"].get("not_available")),
        row(f"import of {result['import']['rows']:,} customers", imported, TARGETS["import_s"], "s",
            f"exit code {result['import']['exit_code']}"),
    ]


def table(result: dict[str, Any]) -> list[str]:
    lines = ["| measure | measured | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in verdicts(result)]
    lines += ["", "| search kind | p50 ms | p95 ms | p99 ms | found |", "|---|---|---|---|---|"]
    for kind, figures in result["search"].items():
        if kind != "all":
            ms = figures["ms"]
            lines.append(f"| {kind} | {ms['p50']} | {ms['p95']} | {ms['p99']} | {figures['found_share']:.0%} |")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=200_000, help="customers loaded first (200,000)")
    parser.add_argument("--identities", type=int, default=400_000, help="identities in all (400,000)")
    parser.add_argument("--import-rows", type=int, default=100_000, help="customers imported with kehu (100,000)")
    parser.add_argument("-n", type=int, default=500, help="measured requests per kind (500)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per kind first (20)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--port-base", type=int, default=28301, help="KEHU_HTTP_PORT_BASE (28301)")
    parser.add_argument("--kafka-port", type=int, default=29593, help="KEHU_EMBEDDED_KAFKA_PORT (29593)")
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
    print(f"contacts benchmark: {args.customers:,} customers, {args.identities:,} identities, import of "
          f"{args.import_rows:,}; {args.warmup} + {args.n} requests per kind", flush=True)
    try:
        measured = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; kehu up has been stopped; nothing written", flush=True)
        return 130
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}\nnothing written (--keep-home keeps the logs)",
              flush=True)
        return 2
    report = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.command_line,
              "machine": machine_info() | {"uname": " ".join(os.uname()), "load_average_at_end": os.getloadavg()},
              "targets": TARGETS, **measured}
    lines = table(measured)
    print("\n" + "\n".join(lines), flush=True)
    if not args.no_write:
        path = args.results_dir / f"contacts-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report | {"table": lines}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}")
    return 0 if all(v[3] != "FAIL" for v in verdicts(measured)) else 1


if __name__ == "__main__":
    sys.exit(main())
