"""Ownership scopes as a salesperson meets them in the console (Debian's Chromium, headless).

wang (owner id "wang") opens a customer li looks after: a 403 page that names li and says whom to
ask, in Chinese. His Today and his list of customers with alerts hold his customers and the pool's,
never li's, even when he asks for everyone's; a manager's hold li's too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from console.accounts import NewPerson
from console.people_api import add_person
from tests.conftest import Cluster, eventually
from tests.console_support import PASSWORD, ConsoleCluster, console_cluster, csrf_of
from tests.test_console_browser import CHROMIUM_ARGS, VIEWPORTS, WAIT_MS, ZONE, chromium, shoot, sign_in

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Owners:
    wangs: str  # 王的常客: wang's regular, overdue (an open alert) with an open complaint
    lis: str  # 李的常客: the same, li's
    pools: str  # 公海常客: the same, in the pool


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-scopes"), insights_sweep_s=0.5) as running:
        conn = await asyncpg.connect(running.database_url)
        try:  # li signs in too: the console knows the owner id "li" by her name
            await add_person(conn, NewPerson(name="li", role="sales", owner="li", display_name="李娜",
                                             password=PASSWORD), datetime.now(UTC))
        finally:
            await conn.close()
        yield running


async def _overdue_with_complaint(cluster: Cluster, name: str, owner: str | None) -> str:
    """A customer who bought every ten days and stopped two months ago, with an open complaint."""
    customer = await cluster.customer(name, **({"owner": owner} if owner else {}))
    now = datetime.now(UTC)
    for days_ago in (100, 90, 80, 70, 60):
        body = {"customer_id": customer, "channel": "store", "occurred_at": (now - timedelta(days=days_ago)).isoformat(),
                "lines": [{"sku": "茶叶-龙井", "quantity": "1", "unit_price": "45.00"}]}
        assert (await cluster.post("orders", "/orders", body)).status_code == 201
    complaint = {"customer_id": customer, "kind": "complaint", "channel": "phone", "subject": f"{name}的投诉",
                 "description": "茶叶受潮"}
    assert (await cluster.post("tickets", "/tickets", complaint)).status_code == 201
    return customer


@pytest.fixture(scope="module")
async def owners(console: ConsoleCluster) -> Owners:
    cluster = console.cluster
    made = Owners(*[await _overdue_with_complaint(cluster, name, owner)
                    for name, owner in (("王的常客", "wang"), ("李的常客", "li"), ("公海常客", None))])

    async def alerts_raised() -> bool:
        alerts = (await cluster.get("insights", "/alerts", status="open", limit=500)).json()["items"]
        return {made.wangs, made.lis, made.pools} <= {a["customer_id"] for a in alerts}

    await eventually(alerts_raised, timeout=60)
    return made


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def signed_in(browser: Browser, console: ConsoleCluster, name: str, view: str = "desktop") -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORTS[view], locale="zh-CN", timezone_id=ZONE,  # type: ignore[arg-type]
                                        is_mobile=view == "phone", has_touch=view == "phone", base_url=console.url)
    context.set_default_timeout(WAIT_MS)
    try:
        page = await context.new_page()
        await sign_in(page, name)
        await expect(page).to_have_url(console.url + "/")
        yield page
    finally:
        await context.close()


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_a_salesperson_opening_another_owners_customer_gets_a_page_naming_the_owner(
    console: ConsoleCluster, owners: Owners, browser: Browser, view: str,
) -> None:
    async with signed_in(browser, console, "wang", view) as page:
        response = await page.goto(f"/customers/{owners.lis}")

        assert response is not None and response.status == 403
        await expect(page.locator("h1")).to_have_text("其他负责人的客户")
        await expect(page.locator(".out-of-scope")).to_contain_text("该客户由 李娜 (li) 负责")
        await expect(page.locator(".out-of-scope")).to_contain_text("请联系 李娜 (li) 或经理")
        await expect(page.locator(".who")).to_have_count(1)  # still signed in, the menus at hand
        await expect(page.locator("main")).not_to_contain_text("李的常客")  # nothing of the customer is shown
        await shoot(page, "scopes-out-of-scope" if view == "desktop" else "scopes-out-of-scope-phone")

        own = await page.goto(f"/customers/{owners.wangs}")
        assert own is not None and own.status == 200
        await expect(page.locator("h1")).to_contain_text("王的常客")


async def test_a_salespersons_today_and_alert_list_hold_their_customers_and_the_pools_only(
    console: ConsoleCluster, owners: Owners, browser: Browser,
) -> None:
    async with signed_in(browser, console, "wang") as page:
        await page.goto("/?everyone=1")  # "everyone's" for a salesperson: all they may see
        main = page.locator("main")
        await expect(main).to_contain_text("显示您的客户和公海客户的提醒")
        await expect(main).to_contain_text("王的常客")
        await expect(main).to_contain_text("公海常客")
        await expect(main).not_to_contain_text("李的常客")
        await shoot(page, "scopes-today-wang", full_page=True)

        await page.goto("/customers?alert=1")
        await expect(main).to_contain_text("王的常客")
        await expect(main).not_to_contain_text("李的常客")

    async with signed_in(browser, console, "mgr") as page:
        await page.goto("/?everyone=1")
        await expect(page.locator("main")).to_contain_text("李的常客")
        await expect(page.locator("main")).to_contain_text("王的常客")


async def test_an_order_posted_for_another_owners_customer_writes_nothing_and_says_whose_it_is(
    console: ConsoleCluster, owners: Owners,
) -> None:
    before = await console.cluster.sql("orders", "SELECT count(*) AS n FROM orders")
    async with console.signed_in("wang") as client:
        today = await client.get("/")
        refused = await client.post(f"/customers/{owners.lis}/orders", data={
            "csrf": csrf_of(today.text), "idempotency_key": "scopes-order-1", "channel": "store",
            "lines[0].sku": "茶叶", "lines[0].quantity": "1", "lines[0].unit_price": "9.00"})

    assert refused.status_code == 403
    assert "该客户由 李娜 (li) 负责" in refused.text
    assert await console.cluster.sql("orders", "SELECT count(*) AS n FROM orders") == before
