"""Receivables (应收) in the console as people use it: a manager records a payment on a customer's
statement (a payment above what is owed is refused at its field first), and sees the ageing page
with its chart and the customer in their bucket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

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
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-receivables")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


async def _owing(console: ConsoleCluster, name: str, price: str, days_ago: int) -> str:
    """A customer with 30 days' terms and an order on account placed ``days_ago`` days ago."""
    cluster = console.cluster
    customer = await cluster.customer(name)
    await cluster.sql("orders", "INSERT INTO credit_terms (customer_id, payment_days, credit_limit, when_exceeded, "
                      "set_by) VALUES ($1::uuid, 30, NULL, 'refuse', 'test')", customer)
    placed = await cluster.post("orders", "/orders", {
        "customer_id": customer, "channel": "store",
        "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        "lines": [{"sku": "茶叶", "quantity": "1", "unit_price": price}]})
    assert placed.status_code == 201, placed.text
    return customer


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_a_manager_records_a_payment_on_the_statement(browser: Browser, console: ConsoleCluster,
                                                            view: str) -> None:
    name = f"赊账茶行{view}"
    customer = await _owing(console, name, "100.00", days_ago=40)
    async with signed_in(browser, console, "mgr", view=view) as page:
        await page.goto(f"/customers/{customer}")
        await page.get_by_role("link", name="对账单", exact=True).click()
        await expect(page.get_by_role("heading", name=f"对账单 · {name}", level=1)).to_be_visible()
        await expect(page.locator("#closing")).to_have_text("¥100.00")
        # more than owed: refused at the amount field, what was typed kept
        await page.locator("#f-amount").fill("500")
        await page.locator("#payment-form button[type=submit]").click()
        await expect(page.locator("#e-f-amount")).to_be_visible()
        await expect(page.locator("#f-amount")).to_have_value("500")
        await page.locator("#f-amount").fill("30")
        await page.locator("#f-method").select_option("wechat_pay")
        await page.locator("#f-reference").fill("WX-778")
        await page.locator("#payment-form button[type=submit]").click()
        await expect(page.get_by_text("收款已登记。")).to_be_visible()
        await expect(page.locator("#closing")).to_have_text("¥70.00")
        await expect(page.locator("#statement-lines")).to_contain_text("收款")
        await expect(page.locator("#customer-ageing")).to_contain_text("¥70.00")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "statement" if view == "desktop" else "statement-phone", full_page=True)
    payments = (await console.cluster.get("orders", "/payments", customer_id=customer)).json()["items"]
    assert [(p["amount"], p["method"], p["reference"]) for p in payments] == [("30.00", "wechat_pay", "WX-778")]


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_the_ageing_page_shows_the_buckets_and_who_owes(browser: Browser, console: ConsoleCluster,
                                                             view: str) -> None:
    name = f"逾期客户{view}"
    await _owing(console, name, "250.00", days_ago=75)  # due 45 days ago: 31-60
    async with signed_in(browser, console, "mgr", view=view) as page:
        if view == "desktop":
            await page.get_by_role("link", name="应收", exact=True).click()
        else:
            await page.goto("/receivables")
        await expect(page.get_by_role("heading", name="应收", level=1)).to_be_visible()
        await expect(page.locator("svg.bars")).to_be_visible()
        row = page.locator("tr", has_text=name)
        await expect(row).to_contain_text("¥250.00")
        await expect(row.locator("td[data-label='逾期 31-60 天']")).to_have_text("¥250.00")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "receivables" if view == "desktop" else "receivables-phone", full_page=True)
        await row.get_by_role("link", name=name).click()
        await expect(page.get_by_role("heading", name=f"对账单 · {name}", level=1)).to_be_visible()


async def test_an_order_gets_an_invoice_with_its_fapiao_number_and_an_instalment_plan(browser: Browser,
                                                                                      console: ConsoleCluster) -> None:
    name = "分期客户"
    customer = await _owing(console, name, "300.00", days_ago=1)
    order_id = (await console.cluster.get("orders", "/orders", customer_id=customer)).json()["items"][0]["id"]
    async with signed_in(browser, console, "mgr") as page:
        await page.goto(f"/customers/{customer}/statement")
        await page.locator("#statement-lines a").first.click()
        await expect(page.get_by_role("heading", name="订单应收", level=1)).to_be_visible()
        await page.locator("#invoice-form #f-official_number").fill("04400001")
        await page.locator("#invoice-form button[type=submit]").click()
        await expect(page.get_by_text("发票已保存。")).to_be_visible()
        await expect(page.locator("#h-invoices + table")).to_contain_text("04400001")
        today = datetime.now(UTC).date()
        await page.locator("#f-due_1").fill((today + timedelta(days=30)).isoformat())
        await page.locator("#f-amount_1").fill("100")
        await page.locator("#f-due_2").fill((today + timedelta(days=60)).isoformat())
        await page.locator("#f-amount_2").fill("100")
        await page.locator("#plan-form button[type=submit]").click()
        await expect(page.locator("#plan-form .error")).to_be_visible()  # 200 is not the 300 owed
        await page.locator("#f-amount_2").fill("200")
        await page.locator("#plan-form button[type=submit]").click()
        await expect(page.get_by_text("回款计划已设定。")).to_be_visible()
        await accessible(page)
        await shoot(page, "order-receivable", full_page=True)
    owed = (await console.cluster.get("orders", f"/orders/{order_id}/receivable")).json()
    assert [i["amount"] for i in owed["instalments"]] == ["100.00", "200.00"]
    invoices = (await console.cluster.get("orders", "/invoices", order_id=order_id)).json()["items"]
    assert [i["official_number"] for i in invoices] == ["04400001"]
