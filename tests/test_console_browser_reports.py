"""The sales report in the console as a manager and a salesperson use it: net sales per week as
bars, per channel and per category as bars with a table, the range and grouping chosen in the
form (a first day after the last is shown at its field); a salesperson's report holds their own
customers and the pool's only; the page fits a phone.

The order discount and the categories of lines are set in SQL: catalogue and lifecycle endpoints
are built by another part of issue 12, not on this branch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import eventually
from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import (
    accessible,
    launched_chromium,
    no_sideways_scroll,
    shoot,
    signed_in,
)

pytestmark = pytest.mark.browser

NOVEMBER = "/reports/sales?since=2026-11-01&until=2026-11-30&period=week"


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-reports")) as running:
        await _november(running)
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


async def _november(console: ConsoleCluster) -> None:
    """Orders in November 2026: wang's customer in the store, a pool customer online, another
    owner's customer on WeChat (a salesperson never sees it)."""
    cluster = console.cluster
    wangs = await cluster.customer("王的老客户", owner="wang")
    pools = await cluster.customer("公海散客")
    lis = await cluster.customer("李的客户", owner="li")
    for customer_id in (wangs, pools, lis):
        async def known(cid: str = customer_id) -> bool:
            rows = await cluster.sql("orders", "SELECT owner_at FROM known_customers WHERE customer_id = $1",
                                     uuid.UUID(cid))
            return bool(rows) and rows[0]["owner_at"] is not None
        await eventually(known, timeout=30)
    placed = []
    for customer_id, channel, price, day in ((wangs, "store", "120.00", "03"), (wangs, "store", "80.00", "10"),
                                             (pools, "web", "300.00", "11"), (lis, "wechat", "500.00", "18")):
        body = {"customer_id": customer_id, "channel": channel, "occurred_at": f"2026-11-{day}T11:00:00+08:00",
                "lines": [{"sku": "T-1", "quantity": "1", "unit_price": price}]}
        response = await cluster.post("orders", "/orders", body)
        assert response.status_code == 201, response.text
        placed.append(uuid.UUID(response.json()["id"]))
    await cluster.sql("orders", "UPDATE order_lines SET category = '茶叶' WHERE order_id = ANY($1::uuid[])", placed[:2])
    await cluster.sql("orders", "UPDATE orders SET discount = 20.00, total = 100.00 WHERE id = $1", placed[0])


async def test_a_manager_reads_net_sales_per_week_and_per_channel_then_per_category(
    browser: Browser, console: ConsoleCluster,
) -> None:
    async with signed_in(browser, console, "mgr") as page:
        await page.get_by_role("link", name="销售报表", exact=True).click()
        await expect(page.get_by_role("heading", name="销售报表", level=1)).to_be_visible()
        await page.locator("#f-since").fill("2026-11-01")
        await page.locator("#f-until").fill("2026-11-30")
        await page.locator("#f-period").select_option("week")
        await page.get_by_role("button", name="显示").click()
        totals = page.locator("dl.figures")
        await expect(totals).to_contain_text("¥980.00")  # 100 + 80 + 300 + 500
        await expect(totals).to_contain_text("¥20.00")  # the discount
        await expect(page.locator("#sales-periods-title")).to_have_text("每期净销售额")
        rows = page.locator("section[aria-labelledby=h-sales-grouped] tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.nth(0)).to_contain_text("¥500.00")  # WeChat first: the largest net
        await expect(page.locator("tr", has_text="门店")).to_contain_text("¥180.00")
        await accessible(page)
        await shoot(page, "sales-report", full_page=True)

        await page.locator("#f-by").select_option("category")
        await page.get_by_role("button", name="显示").click()
        await expect(page.locator("tr", has_text="茶叶")).to_contain_text("¥200.00")  # before the order's discount
        await expect(page.locator("tr", has_text="未分类")).to_contain_text("¥800.00")
        await expect(page.get_by_text("整单折扣（¥20.00）不属于任何品类")).to_be_visible()


async def test_a_salesperson_sees_their_customers_and_the_pool_on_a_phone(
    browser: Browser, console: ConsoleCluster,
) -> None:
    async with signed_in(browser, console, "wang", view="phone") as page:
        await page.goto(NOVEMBER + "&by=owner")
        await expect(page.get_by_role("heading", name="销售报表", level=1)).to_be_visible()
        await expect(page.locator("dl.figures")).to_contain_text("¥480.00")  # 100 + 80 + 300, not li's 500
        await expect(page.locator("tr", has_text="公海（无负责人）")).to_contain_text("¥300.00")
        await expect(page.locator("tr", has_text="李")).to_have_count(0)
        await no_sideways_scroll(page)
        await accessible(page)
        await shoot(page, "sales-report-phone", full_page=True)


async def test_a_first_day_after_the_last_is_said_at_its_field(browser: Browser, console: ConsoleCluster) -> None:
    async with signed_in(browser, console, "mgr") as page:
        await page.goto("/reports/sales?since=2026-11-30&until=2026-11-01")
        await expect(page.locator("#e-f-since")).to_have_text("开始日期不能晚于结束日期。")
        await expect(page.locator("dl.figures")).to_have_count(0)
