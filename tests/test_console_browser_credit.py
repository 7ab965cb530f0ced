"""Credit in the console as a manager uses it: the tier badge at the top of the customer page, the
credit panel and its terms form, an order on account refused in words, and the approval queue
where a pending order is approved with a reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, expect

from shared.events import CreditEvidence, CreditStandingChanged, CreditTier, envelope_for
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


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-credit")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


async def _tier(console: ConsoleCluster, customer_id: str, tier: CreditTier) -> None:
    """Insights judged the customer (a CreditStandingChanged on kehu.insights), and orders has it."""
    event = CreditStandingChanged(
        customer_id=uuid.UUID(customer_id), occurred_at=datetime.now(UTC), previous_tier=None, tier=tier,
        reason="long_overdue", rule_version="test",
        evidence=CreditEvidence(instalments_due=4, share_on_time=0.25, average_days_late=50.0,
                                outstanding=Decimal("1200.00"), overdue=Decimal("1200.00"), longest_overdue_days=95))
    producer = AIOKafkaProducer(bootstrap_servers=console.cluster.broker.bootstrap, linger_ms=5)
    await producer.start()
    try:
        key, value, headers = envelope_for(event).to_record()
        await producer.send_and_wait("kehu.insights", value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    async def arrived() -> bool:
        answer = await console.cluster.get("orders", f"/customers/{customer_id}/credit")
        return answer.status_code == 200 and answer.json()["tier"] == tier

    await eventually(arrived, timeout=30)


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_a_manager_sets_terms_and_sees_the_tier_badge(browser: Browser, console: ConsoleCluster,
                                                            view: str) -> None:
    customer = await console.cluster.customer(f"信用面板{view}")
    await _tier(console, customer, "C")
    async with signed_in(browser, console, "mgr", view=view) as page:
        await page.goto(f"/customers/{customer}")
        badge = page.locator("header.customer-head [data-tier]")
        await expect(badge).to_have_text("信用 C · 关注")
        await expect(page.locator("#credit-reason")).to_contain_text("最久逾期 95 天")
        await expect(page.locator("#credit-terms")).to_have_text("现结（无赊账）")
        await page.locator("#credit summary").click()
        await page.locator("#f-payment_days").fill("45")
        await page.locator("#f-credit_limit").fill("5000")
        await page.locator("#f-when_exceeded").select_option("approval")
        await page.locator("#f-credit-reason").fill("老客户，按时付款")
        await page.get_by_role("button", name="保存条款").click()
        await expect(page.get_by_role("status").filter(has_text="信用条款已保存。")).to_be_visible()
        await expect(page.locator("#credit-limit")).to_have_text("¥5,000.00")
        await expect(page.locator("#credit-available")).to_have_text("¥5,000.00")
        await expect(page.locator("#credit-terms")).to_contain_text("45 天内付款")
        await expect(page.locator("#credit-history")).to_contain_text("老客户，按时付款")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "credit-panel" if view == "desktop" else "credit-panel-phone",
                    part=page.locator("#credit") if view == "desktop" else None)
        if view == "desktop":
            await shoot(page, "credit-badge", part=page.locator("header.customer-head"))
    terms = (await console.cluster.get("orders", f"/customers/{customer}/credit")).json()["terms"]
    assert terms == {"payment_days": 45, "credit_limit": "5000.00", "when_exceeded": "approval"}


async def test_a_bad_limit_is_shown_at_its_field(browser: Browser, console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("填错额度")
    async with signed_in(browser, console, "mgr") as page:
        await page.goto(f"/customers/{customer}")
        await page.locator("#credit summary").click()
        await page.locator("#f-credit_limit").fill("很多")
        await page.locator("#f-credit-reason").fill("试试")
        await page.get_by_role("button", name="保存条款").click()
        await expect(page.locator("#e-f-credit_limit")).to_be_visible()
    assert (await console.cluster.get("orders", f"/customers/{customer}/credit")).json()["terms"] is None


async def test_a_manager_approves_a_pending_order_from_the_queue(browser: Browser, console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("等审批的店")
    put = await console.cluster.http.put(f"{console.cluster.urls['orders']}/customers/{customer}/credit-terms",
                                         json={"payment_days": 30, "credit_limit": "100", "when_exceeded": "approval",
                                               "reason": "新客户"}, headers=console.cluster.headers("admin"))
    assert put.status_code == 200, put.text
    async with signed_in(browser, console, "wang") as page:  # the clerk places it: it waits, and says so
        await page.goto(f"/customers/{customer}")
        await page.locator("#order-form summary").click()
        await page.locator("#f-lines\\[0\\]\\.sku").fill("茶叶")
        await page.locator("#f-lines\\[0\\]\\.quantity").fill("2")
        await page.locator("#f-lines\\[0\\]\\.unit_price").fill("80.00")
        await page.get_by_role("button", name="确认下单").click()
        await expect(page.get_by_role("status")).to_contain_text("等待经理审批")
    [order] = (await console.cluster.get("orders", "/orders", customer_id=customer)).json()["items"]
    order_id = order["id"]
    async with signed_in(browser, console, "mgr") as page:
        nav = page.get_by_role("link", name="审批")
        await expect(nav.locator(".nav-count")).not_to_have_text("")
        await nav.click()
        await expect(page.get_by_role("heading", name="审批", level=1)).to_be_visible()
        item = page.locator(f"#approval-{order_id}")
        await expect(item).to_contain_text("等审批的店")
        await expect(item).to_contain_text("超出信用额度")
        await expect(item).to_contain_text("¥160.00")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "approvals")
        await item.get_by_role("button", name="批准").click()  # no reason yet: the service says so
        await expect(page.locator("#form-problem")).to_be_visible()
        await page.locator(f"#r-{order_id}").fill("周五付款")
        await page.locator(f"#approval-{order_id}").get_by_role("button", name="批准").click()
        await expect(page.get_by_role("status")).to_contain_text("订单已批准")
        await expect(page.locator(f"#approval-{order_id}")).to_have_count(0)
    credit = (await console.cluster.get("orders", f"/customers/{customer}/credit")).json()
    assert credit["outstanding"] == "160.00"


async def test_an_order_over_the_limit_is_refused_in_words(browser: Browser, console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("额度用完")
    put = await console.cluster.http.put(f"{console.cluster.urls['orders']}/customers/{customer}/credit-terms",
                                         json={"payment_days": 30, "credit_limit": "10", "when_exceeded": "refuse",
                                               "reason": "小额"}, headers=console.cluster.headers("admin"))
    assert put.status_code == 200, put.text
    async with signed_in(browser, console, "wang") as page:
        await page.goto(f"/customers/{customer}")
        await page.locator("#order-form summary").click()
        await expect(page.locator("#order-credit")).to_contain_text("可用额度 ¥10.00")
        await page.locator("#f-lines\\[0\\]\\.sku").fill("大米")
        await page.locator("#f-lines\\[0\\]\\.quantity").fill("3")
        await page.locator("#f-lines\\[0\\]\\.unit_price").fill("9.50")
        await page.get_by_role("button", name="确认下单").click()
        await expect(page.locator("#order-form .problem")).to_contain_text("将超出信用额度 ¥10.00")
        await shoot(page, "credit-refused", part=page.locator("#order-form"))


async def test_on_a_phone_in_english_a_manager_refuses_a_pending_order(browser: Browser,
                                                                       console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("Refused Ltd")
    put = await console.cluster.http.put(f"{console.cluster.urls['orders']}/customers/{customer}/credit-terms",
                                         json={"payment_days": 15, "credit_limit": "20", "when_exceeded": "approval",
                                               "reason": "new"}, headers=console.cluster.headers("admin"))
    assert put.status_code == 200, put.text
    order_id = (await console.cluster.order(customer, price="30.00", quantity="1")).json()["id"]
    async with signed_in(browser, console, "mgr", view="phone", locale="en") as page:
        await page.goto("/approvals")
        if await page.get_by_role("button", name="English").count():
            await page.get_by_role("button", name="English").click()
        await expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
        item = page.locator(f"#approval-{order_id}")
        await expect(item).to_contain_text("over the credit limit")
        await no_sideways_scroll(page)
        await accessible(page)
        await shoot(page, "approvals-phone", part=item)
        await page.locator(f"#r-{order_id}").fill("too much owed already")
        await item.get_by_role("button", name="Refuse").click()
        await expect(page.get_by_role("status")).to_contain_text("The order was refused")
        await page.get_by_role("button", name="中文").click()  # the person's choice is kept: back to Chinese
        await expect(page.get_by_role("heading", name="审批", level=1)).to_be_visible()
    order = (await console.cluster.get("orders", "/approvals")).json()["items"]
    assert order_id not in [o["order_id"] for o in order]
    cancelled = await console.cluster.sql("orders", "SELECT status FROM orders WHERE id = $1", uuid.UUID(order_id))
    assert [r["status"] for r in cancelled] == ["cancelled"]


async def test_a_manager_overrides_the_credit_check_from_the_order_form(browser: Browser,
                                                                       console: ConsoleCluster) -> None:
    customer = await console.cluster.customer("特批的店")
    put = await console.cluster.http.put(f"{console.cluster.urls['orders']}/customers/{customer}/credit-terms",
                                         json={"payment_days": 30, "credit_limit": "10", "when_exceeded": "refuse",
                                               "reason": "小额"}, headers=console.cluster.headers("admin"))
    assert put.status_code == 200, put.text
    async with signed_in(browser, console, "mgr") as page:
        await page.goto(f"/customers/{customer}")
        await page.locator("#order-form summary").click()
        await page.locator("#f-lines\\[0\\]\\.sku").fill("大米")
        await page.locator("#f-lines\\[0\\]\\.quantity").fill("3")
        await page.locator("#f-lines\\[0\\]\\.unit_price").fill("9.50")
        await page.locator("#f-credit_override\\.reason").fill("老朋友，明天付现")
        await page.get_by_role("button", name="确认下单").click()
        await expect(page.get_by_role("status").filter(has_text="订单已下")).to_be_visible()
        await expect(page.locator("#credit-outstanding")).to_have_text("¥28.50")
    audit = await console.cluster.sql("orders", "SELECT override, reason, decided_by FROM credit_decisions d "
                                      "JOIN orders o ON o.id = d.order_id WHERE o.customer_id = $1",
                                      uuid.UUID(customer))
    assert [(a["override"], a["reason"], a["decided_by"]) for a in audit] == [(True, "老朋友，明天付现", "mgr")]
