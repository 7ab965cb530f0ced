"""End to end: `kehu up` as a user runs it (real processes, embedded broker and database)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest

from shared.identity import PersonClaims, load_private_key, mint
from tests.conftest import eventually, free_port

pytestmark = pytest.mark.e2e


@dataclass
class Running:
    process: subprocess.Popen[str]
    home: Path
    urls: dict[str, str]  # the four services and the console
    token: str
    startup_s: float
    output: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


def _free_port_base() -> int:
    while True:
        base = free_port()
        if all(_is_free(base + i) for i in range(1, 4)):
            return base


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_kehu(home: Path, **env: str) -> Running:
    base, console_port = _free_port_base(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    environment.update(KEHU_HOME=str(home), KEHU_HTTP_PORT_BASE=str(base), KEHU_CONSOLE_PORT=str(console_port),
                       KEHU_EMBEDDED_KAFKA_PORT=str(free_port()), **env)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "kehu", "up"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=home.parent)
    output: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.startswith("logs in "):  # the banner's last line: all of it has been read
                up.set()

    threading.Thread(target=read, daemon=True).start()
    if not up.wait(60):
        process.kill()
        raise AssertionError("kehu up did not come up:\n" + "\n".join(output))
    urls = {name: f"http://127.0.0.1:{base + i}" for i, name in enumerate(("contacts", "orders", "tickets", "insights"))}
    urls["console"] = f"http://127.0.0.1:{console_port}"
    token = (home / "dev-token").read_text().strip()
    return Running(process, home, urls, token, time.monotonic() - started, output)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / ".kehu"


async def _slice(kehu: Running, http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    customer = await http.post(kehu.urls["contacts"] + "/customers", headers=kehu.headers,
                               json={"name": name, "phone": "138 0013 8000"})
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["id"]
    order = await http.post(kehu.urls["orders"] + "/orders", headers=kehu.headers, json={
        "customer_id": customer_id, "channel": "store",
        "lines": [{"sku": "A1", "quantity": 2, "unit_price": "9.50"}]})
    assert order.status_code == 201, order.text
    ticket = await http.post(kehu.urls["tickets"] + "/tickets", headers=kehu.headers, json={
        "customer_id": customer_id, "kind": "complaint", "channel": "phone",
        "subject": "Cracked cup", "description": "One of the six cups was cracked"})
    assert ticket.status_code == 201, ticket.text
    return customer_id, order.json()["id"]


async def _timeline(kehu: Running, http: httpx.AsyncClient, customer_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"{kehu.urls['insights']}/customers/{customer_id}/timeline",
                              headers=kehu.headers, params={"limit": 1000})
    if response.status_code == 404:  # insights has seen no event of the customer yet
        return []
    assert response.status_code == 200
    return list(response.json()["items"])


async def _person_reads(kehu: Running, http: httpx.AsyncClient, customer_id: str) -> None:
    """Every service accepts a person token signed with the key `kehu up` keeps in its home."""
    claims = PersonClaims.issue(sub=str(uuid.uuid4()), name="wang.fang", role="readonly", owner=None, now=time.time())
    headers = {"Authorization": "Bearer " + mint(claims, load_private_key(kehu.home / "identity" / "console-key.pem"))}
    for url in (f"{kehu.urls['contacts']}/customers/{customer_id}", f"{kehu.urls['orders']}/orders",
                f"{kehu.urls['tickets']}/tickets", f"{kehu.urls['insights']}/customers/{customer_id}/timeline"):
        response = await http.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)


async def _console_sign_in(kehu: Running, name: str, password: str) -> None:
    """As a browser does: the sign-in page (its CSRF field and cookie), the form, then Today."""
    async with httpx.AsyncClient(base_url=kehu.urls["console"], timeout=10) as browser:
        page = await browser.get("/sign-in")
        assert page.status_code == 200
        found = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert found, page.text
        signed_in = await browser.post("/sign-in", data={"name": name, "password": password,
                                                          "csrf": found.group(1), "next": "/"})
        assert (signed_in.status_code, signed_in.headers.get("location")) == (303, "/"), signed_in.text
        today = await browser.get("/")
        assert today.status_code == 200 and "今日" in today.text


def _kehu_user(kehu: Running, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kehu user ...` as someone in the repository runs it: the dev token from KEHU_HOME."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}, "KEHU_HOME": str(kehu.home),
           "KEHU_CONSOLE_URL": kehu.urls["console"]}
    return subprocess.run([sys.executable, "-m", "kehu", "user", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


async def _console_and_kehu_user(kehu: Running) -> None:
    password = (kehu.home / "dev-password").read_text().strip()
    assert stat.S_IMODE((kehu.home / "dev-password").stat().st_mode) == 0o600
    assert any(line.startswith(f"  console   {kehu.urls['console']}   (sign in as admin;") and password in line
               for line in kehu.output), kehu.output
    await _console_sign_in(kehu, "admin", password)
    added = await asyncio.to_thread(_kehu_user, kehu, "add", "wang", "--role", "sales", "--owner", "wang",
                                    "--password-stdin", stdin="wang's password 1\n")
    assert added.returncode == 0, added.stderr
    await _console_sign_in(kehu, "wang", "wang's password 1")
    listed = await asyncio.to_thread(_kehu_user, kehu, "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:4] for line in listed.stdout.splitlines()[1:]] == [
        ["admin", "admin", "-", "active"], ["wang", "sales", "wang", "active"]]
    disabled = await asyncio.to_thread(_kehu_user, kehu, "disable", "wang")
    assert disabled.returncode == 0 and "disabled wang (sales)" in disabled.stdout, disabled.stderr
    listed = await asyncio.to_thread(_kehu_user, kehu, "list")
    assert "disabled" in next(line for line in listed.stdout.splitlines() if line.startswith("wang "))
    # a console that dies is started again, like the services
    (console,) = _consoles(kehu)
    console.kill()
    await eventually(lambda: _console_ready(kehu, console.pid), timeout=60, interval=0.2)
    assert any(line.startswith("console exited with code -9; restarting") for line in kehu.output), kehu.output
    await _console_sign_in(kehu, "admin", password)


def _consoles(kehu: Running) -> list[psutil.Process]:
    found = []
    for process in kehu.descendants():
        with contextlib.suppress(psutil.Error):  # one that just exited
            if process.cmdline()[-2:] == ["serve", "console"] and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


async def _console_ready(kehu: Running, killed: int) -> bool:
    if not [p for p in _consoles(kehu) if p.pid != killed]:
        return False
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            return (await http.get(kehu.urls["console"] + "/health/ready")).status_code == 200
        except httpx.HTTPError:
            return False


async def test_kehu_up_runs_the_slice_keeps_data_across_restarts_and_stops_cleanly(home: Path) -> None:
    kehu = start_kehu(home)
    print(f"kehu up: all four services ready in {kehu.startup_s:.1f}s")
    children = kehu.descendants()
    try:
        assert any("dev admin token" in line and kehu.token in line for line in kehu.output)
        async with httpx.AsyncClient(timeout=10) as http:
            customer_id, order_id = await _slice(kehu, http, "王芳")
            # the first order also makes the customer current (contacts publishes the change)
            items = await eventually(lambda: _at_least(kehu, http, customer_id, 4), timeout=5)
            assert sorted(i["type"] for i in items) == sorted(["CustomerRegistered", "OrderPlaced",
                                                               "CustomerCategoryChanged", "ComplaintFiled"])
            # kehu up made the console's key pair, and every service trusts it
            assert stat.S_IMODE((home / "identity" / "console-key.pem").stat().st_mode) == 0o600
            await _person_reads(kehu, http, customer_id)
        # the console runs beside the services: the admin `kehu up` made signs in, `kehu user` manages accounts
        assert json.loads((home / "status.json").read_text())["services"]["console"] == int(
            kehu.urls["console"].rsplit(":", 1)[1])
        await _console_and_kehu_user(kehu)
    finally:
        code = kehu.stop()
    assert code == 0, "\n".join(kehu.output)
    assert kehu.output[-1] == "kehu stopped"
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not (home / "pgdata" / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"
    password = (home / "dev-password").read_text().strip()

    again = start_kehu(home)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            kept = await http.get(f"{again.urls['contacts']}/customers/{customer_id}", headers=again.headers)
            assert kept.status_code == 200 and kept.json()["name"] == "王芳"
            assert (await http.get(f"{again.urls['orders']}/orders/{order_id}", headers=again.headers)).status_code == 200
            assert len(await _timeline(again, http, customer_id)) == 4
            await _person_reads(again, http, customer_id)  # the key pair was kept, not made anew
            await _console_sign_in(again, "admin", password)  # and the console's first password
            # the broker came back empty; new events still flow (and old ones are not doubled)
            order = await http.post(again.urls["orders"] + "/orders", headers=again.headers, json={
                "customer_id": customer_id, "channel": "wechat",
                "lines": [{"sku": "B2", "quantity": "1", "unit_price": "30.00"}]})
            assert order.status_code == 201
            items = await eventually(lambda: _at_least(again, http, customer_id, 5), timeout=5)
            assert [i["type"] for i in items].count("OrderPlaced") == 2
            assert [i["type"] for i in items].count("CustomerCategoryChanged") == 1  # already current
    finally:
        assert again.stop() == 0
    assert (home / "dev-password").read_text().strip() == password


async def test_a_planned_broker_recycle_under_load_loses_and_doubles_nothing(home: Path) -> None:
    kehu = start_kehu(home, KEHU_BROKER_RECYCLE_RECORDS="100", KEHU_BROKER_RECYCLE_CHECK_S="0.5")
    try:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as http:
            customers = await _register(kehu, http, 10)

            async def order(i: int) -> str:
                await asyncio.sleep(i / 100)  # open loop, 100 orders/s
                response = await http.post(kehu.urls["orders"] + "/orders", headers=kehu.headers, json={
                    "customer_id": customers[i % 10], "channel": "store",
                    "lines": [{"sku": f"S{i}", "quantity": "1", "unit_price": "1.00"}]})
                assert response.status_code == 201, response.text
                return str(response.json()["id"])

            placed = await asyncio.gather(*[order(i) for i in range(1000)])

            async def all_seen() -> list[str] | None:
                seen = []
                for customer_id in customers:
                    seen += [i["data"]["order_id"] for i in await _timeline(kehu, http, customer_id)
                             if i["type"] == "OrderPlaced"]
                return seen if len(seen) >= len(placed) else None

            seen = await eventually(all_seen, timeout=60, interval=0.5)
            await asyncio.sleep(2)  # give any duplicate time to show
            seen = await all_seen() or []
            recycles = await _recycles(home)
    finally:
        kehu.stop()
    print(f"{recycles} planned recycles under load; {len(placed)} orders placed, {len(seen)} seen by insights")
    assert recycles >= 2, "\n".join(kehu.output)
    assert sorted(seen) == sorted(placed)
    assert any("embedded broker recycled" in line for line in kehu.output)


async def _register(kehu: Running, http: httpx.AsyncClient, n: int) -> list[str]:
    customers = []
    for i in range(n):
        response = await http.post(kehu.urls["contacts"] + "/customers", headers=kehu.headers,
                                   json={"name": f"Regular {i}"})
        assert response.status_code == 201, response.text
        customers.append(str(response.json()["id"]))
    return customers


async def _at_least(kehu: Running, http: httpx.AsyncClient, customer_id: str, n: int) -> list[dict[str, Any]] | None:
    items = await _timeline(kehu, http, customer_id)
    return items if len(items) >= n else None


async def _recycles(home: Path) -> int:
    status = json.loads((home / "status.json").read_text())
    return int(status["broker_recycles"])


async def test_orders_wait_in_the_outbox_while_the_broker_is_down_and_arrive_exactly_once(home: Path) -> None:
    kehu = start_kehu(home)
    broker = next(p for p in kehu.descendants() if p.name() == "tansu")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            customers = await _register(kehu, http, 5)

            async def place(i: int) -> str:
                response = await http.post(kehu.urls["orders"] + "/orders", headers=kehu.headers, json={
                    "customer_id": customers[i % 5], "channel": "store",
                    "lines": [{"sku": f"S{i}", "quantity": "1", "unit_price": "2.50"}]})
                assert response.status_code == 201, response.text
                return str(response.json()["id"])

            before = [await place(i) for i in range(20)]
            await eventually(lambda: _orders_seen(kehu, http, customers, len(before)), timeout=10)

            broker.suspend()  # the broker stops answering: nothing reaches Kafka
            during = [await place(i) for i in range(20, 60)]
            backlog = await _sql(home, "orders", "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            assert backlog >= 30, "the orders should be waiting in the outbox"

            broker.kill()  # ... and dies; `kehu up` starts an empty one, the services keep running
            after = [await place(i) for i in range(60, 65)]
            placed = before + during + after
            seen = await eventually(lambda: _orders_seen(kehu, http, customers, len(placed)), timeout=60)
            await asyncio.sleep(2)  # anything doubled would show up now
            seen = await _orders_seen(kehu, http, customers, 0) or []
            inbox = await _sql(home, "insights", "SELECT count(*) FROM inbox WHERE topic = 'kehu.orders' AND consumer = 'insights'")
    finally:
        kehu.stop()
    assert any("the embedded broker stopped unexpectedly" in line for line in kehu.output)
    assert sorted(seen) == sorted(placed)
    assert inbox == len(placed)


async def _orders_seen(kehu: Running, http: httpx.AsyncClient, customers: list[str], n: int) -> list[str] | None:
    seen: list[str] = []
    for customer_id in customers:
        seen += [i["data"]["order_id"] for i in await _timeline(kehu, http, customer_id) if i["type"] == "OrderPlaced"]
    return seen if len(seen) >= max(n, 1) else None


async def _sql(home: Path, service: str, query: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres:@/kehu_{service}?host={home / 'pgdata'}")
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def _shop_day(at: str) -> date:
    return datetime.fromisoformat(at).astimezone(ZoneInfo("Asia/Shanghai")).date()


async def test_an_imported_history_raises_and_clears_alerts_with_evidence_and_exports(home: Path) -> None:
    """The user's path: `kehu up`, `kehu import orders FILE`, then the alerts and `kehu export`.

    A weekly regular pauses for five weeks and comes back (purchase_overdue raised at day 14 of the
    gap, cleared by the return), then halves her baskets (quantity_drop raised, still open)."""
    start = datetime(2025, 3, 3, tzinfo=UTC)
    days = [*range(0, 70, 7), *range(98, 140, 7)]
    rows = ["customer_ref,occurred_at,quantity,amount"]
    rows += [f"mei,{(start + timedelta(days=d)).date()},{4 if d < 120 else 2},{40 if d < 120 else 20}.00" for d in days]
    rows += ["once,2025-03-10,1,9.90", "bad,2025-02-30,1,1.00"]
    csv_path = home.parent / "history.csv"
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    kehu = start_kehu(home, KEHU_INSIGHTS_CLOCK="events")
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}, "KEHU_HOME": str(home),
               "KEHU_HTTP_PORT_BASE": kehu.urls["contacts"].rsplit(":", 1)[1]}
        imported = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "kehu", "import", "orders", str(csv_path)], env=env,
            capture_output=True, text=True, timeout=60)
        assert imported.returncode == 1, imported.stdout + imported.stderr  # one bad row, the rest imported
        assert "line 19: occurred_at '2025-02-30' is not a date" in imported.stdout + imported.stderr
        async with httpx.AsyncClient(timeout=10) as http:
            mei = (await http.get(kehu.urls["contacts"] + "/customers", params={"external_ref": "mei"},
                                  headers=kehu.headers)).json()["items"][0]["id"]

            async def mei_alerts() -> list[dict[str, Any]] | None:
                response = await http.get(kehu.urls["insights"] + "/alerts", params={"customer_id": mei},
                                          headers=kehu.headers)
                items = response.json()["items"]
                return items if {a["kind"] for a in items} >= {"purchase_overdue", "quantity_drop"} else None

            alerts = {a["kind"]: a for a in await eventually(mei_alerts, timeout=30)}
            overdue = alerts["purchase_overdue"]
            assert overdue["status"] == "cleared" and overdue["cleared_reason"] == "purchase"
            # The file's dates are days of the shop (KEHU_TIMEZONE, default Asia/Shanghai), and so are the rules'
            assert _shop_day(overdue["raised_at"]) == (start + timedelta(days=63 + 14)).date()
            assert _shop_day(overdue["cleared_at"]) == (start + timedelta(days=98)).date()
            assert (overdue["evidence"]["baseline"], overdue["evidence"]["threshold"]) == (7, 14)
            timeline = await _timeline(kehu, http, mei)
            assert set(overdue["evidence"]["event_ids"]) <= {i["event_id"] for i in timeline}
            drop = alerts["quantity_drop"]
            assert drop["status"] == "open" and drop["evidence"]["baseline"] == 4 and drop["evidence"]["observed"] == 2

        exported = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "kehu", "export", "insights", "--as-of", "2025-08-01"],
            env=env, capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        lines = exported.stdout.splitlines()
        header = lines[0].split(",")
        for column in ("customer_ref", "churn_risk", "p_alive", "expected_purchases_90d", "expected_value_90d",
                       "segment", "lifecycle_stage", "open_alerts"):
            assert column in header
        by_ref = {row.split(",")[header.index("customer_ref")]: row.split(",") for row in lines[1:]}
        assert set(by_ref) == {"mei", "once"}
        assert by_ref["mei"][header.index("lifecycle_stage")] == "decline"
    finally:
        assert kehu.stop() == 0
