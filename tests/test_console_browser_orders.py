"""Orders in the console as a clerk enters them: from the customer 360, a catalogue line found by
typing (its list price filled in) and an ad-hoc line, discounts and the live total; a refused line
named at its field with what was typed kept; the order's page, confirming it and returning a line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import (
    accessible,
    launched_chromium,
    no_sideways_scroll,
    shoot,
    signed_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-orders")) as running:
        cluster = running.cluster
        tea = await cluster.http.put(cluster.urls["orders"] + "/products/TEA-1", headers=cluster.headers(),
                                     json={"name": "龙井 250g", "category": "茶叶", "list_price": "88.00"})
        assert tea.status_code in (200, 201), tea.text
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


async def test_an_order_entered_from_the_360_is_confirmed_and_a_line_returned(
        browser: Browser, console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("下单客户")
    async with signed_in(browser, console, "boss") as page:
        await page.goto(f"/customers/{customer}")
        await page.locator("#new-order").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("下单")
        await page.locator('[name="lines[0].sku"]').fill("TEA")
        await expect(page.locator("#catalogue-hits option[value='TEA-1']")).to_have_count(1)
        await page.locator('[name="lines[0].sku"]').fill("TEA-1")
        await page.locator('[name="lines[0].quantity"]').fill("2")
        await page.locator('[name="lines[0].discount"]').fill("6")
        await expect(page.locator("fieldset[data-line='0'] [data-line-info]")).to_have_text("龙井 250g · 茶叶")
        await page.locator('[name="lines[1].sku"]').fill("礼盒")
        await page.locator('[name="lines[1].quantity"]').fill("1")
        await page.locator('[name="discount"]').fill("10")
        await page.locator("#f-channel").select_option("phone")
        await page.locator("#f-paid_with").select_option("wechat_pay")
        await page.get_by_role("button", name="下单").click()  # the ad-hoc line has no price yet: refused
        await expect(page.locator("#e-f-lines\\[1\\]\\.unit_price")).to_be_visible()
        await expect(page.locator('[name="lines[0].sku"]')).to_have_value("TEA-1")
        await shoot(page, "orders-entry-refused", full_page=True)

        await page.locator('[name="lines[1].unit_price"]').fill("20")
        await expect(page.locator("#order-total")).to_have_text("¥180.00")
        await accessible(page)
        await shoot(page, "orders-entry", full_page=True)
        await page.get_by_role("button", name="下单").click()

        await expect(page.locator("#order-status")).to_have_text("已下单")
        await expect(page.locator("main")).to_contain_text("¥180.00")
        await expect(page.get_by_role("link", name="收款与发票")).to_be_visible()
        await page.get_by_role("button", name="确认", exact=True).click()
        await expect(page.locator("#order-status")).to_have_text("已确认")
        await expect(page.locator("#history")).to_contain_text("已下单 → 已确认")

        await page.locator("#qty-1").fill("1")
        await page.locator("#f-return-reason").fill("包装破损")
        await page.get_by_role("button", name="登记退货").click()
        await expect(page.locator("#returns")).to_contain_text("包装破损")
        await expect(page.locator("#returns")).to_contain_text("¥80.53")
        await accessible(page)
        await shoot(page, "orders-detail", full_page=True)

        await page.get_by_role("link", name="订单", exact=True).click()
        await expect(page.locator("#orders-list")).to_contain_text("TEA-1, 礼盒")


async def test_order_entry_and_the_catalogue_work_on_a_phone(browser: Browser, console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("手机下单客户")
    async with signed_in(browser, console, "boss", view="phone") as page:
        await page.goto(f"/customers/{customer}/orders/new")
        await no_sideways_scroll(page)
        await shoot(page, "orders-entry-phone", full_page=True)
        await page.goto("/catalogue?sku=TEA-1")
        await expect(page.locator("#f-name")).to_have_value("龙井 250g")
        await page.locator("#f-list_price").fill("90.00")
        await page.get_by_role("button", name="保存商品").click()
        await expect(page.locator("#products")).to_contain_text("¥90.00")
        await no_sideways_scroll(page)
        await shoot(page, "orders-catalogue-phone", full_page=True)
