"""Credit standing (信用) in the console on the real system: orders' receivable events (put in the
orders outbox, as orders' routes publish them) and insights' sweep put a customer on hold (D); the
Today page counts them and leads to the credit page, which shows the customer under D with the
reason in words; a salesperson sees their own customers and the pool's, not a colleague's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import eventually
from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import (
    CHROMIUM_ARGS,
    accessible,
    chromium,
    english_only,
    no_sideways_scroll,
    shoot,
)
from tests.test_console_browser_pool import signed_in
from tests.test_credit_standing import _consumed, _in_orders_outbox, _payment, _schedule

pytestmark = pytest.mark.browser

DAY = timedelta(days=1)
HELD = "欠款未还的客户"
COLLEAGUES = "同事的欠款客户"


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-credit")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _owner_known(console: ConsoleCluster, customer_id: uuid.UUID, owner: str) -> bool:
    rows = await console.cluster.sql("insights", "SELECT owner FROM customer_owners WHERE customer_id = $1",
                                     customer_id)
    return bool(rows) and rows[0]["owner"] == owner


async def _owes_600_unpaid(console: ConsoleCluster, customer_id: uuid.UUID, now: datetime) -> None:
    """Two orders paid on their due dates, then ¥600.00 due 10 days ago and unpaid."""
    events: list[Any] = []
    for n in (100, 70):
        order_id, due = uuid.uuid4(), now - n * DAY
        events += [_schedule(customer_id, order_id, "200.00", due, due, paid="200.00", revision=2),
                   _payment(customer_id, order_id, "200.00", due, due)]
    events.append(_schedule(customer_id, uuid.uuid4(), "600.00", now - 10 * DAY, now - 40 * DAY))
    ids = await _in_orders_outbox(console.cluster, *events)
    for event_id in ids:
        await eventually(lambda e=event_id: _consumed(console.cluster, e), timeout=60)


@pytest.fixture(scope="module")
async def on_hold(console: ConsoleCluster) -> dict[str, str]:
    """wang's customer and li's, both on hold after a sweep 65 days on: 75 days overdue."""
    cluster = console.cluster
    held = uuid.UUID(await cluster.customer(HELD, owner="wang"))
    colleagues = uuid.UUID(await cluster.customer(COLLEAGUES, owner="li"))
    await eventually(lambda: _owner_known(console, held, "wang"), timeout=60)
    await eventually(lambda: _owner_known(console, colleagues, "li"), timeout=60)
    now = datetime.now(UTC)
    await _owes_600_unpaid(console, held, now)
    await _owes_600_unpaid(console, colleagues, now)
    later = (now + 65 * DAY).isoformat().replace("+", "%2B")
    swept = await cluster.post("insights", f"/admin/credit/sweep?as_of={later}", None)
    assert swept.status_code == 200, swept.text
    holds = await cluster.get("insights", "/credit-standings", tier="D")
    assert {str(held), str(colleagues)} <= {i["customer_id"] for i in holds.json()["items"]}
    return {"held": str(held), "colleagues": str(colleagues)}


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_today_counts_the_holds_and_the_credit_page_says_why(browser: Browser, console: ConsoleCluster,
                                                                   on_hold: dict[str, str], view: str) -> None:
    async with signed_in(browser, console, "wang", view=view) as page:
        card = page.locator('a.count[href="/credit?tier=D"]')
        await expect(card).to_have_attribute("aria-label", "暂停赊账 1 位客户")  # only wang's own
        await expect(card.locator("b")).to_have_text("1")
        if view == "desktop":
            await expect(page.locator("header nav a[href='/credit'] .nav-count")).to_have_text("1 暂停赊账")
            await shoot(page, "credit-today")
        await card.click()
        await expect(page).to_have_url(console.url + "/credit?tier=D")
        await expect(page.get_by_role("heading", name="信用", level=1)).to_be_visible()
        row = page.locator("tbody tr", has_text=HELD)
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("D · 暂停赊账")
        await expect(row).to_contain_text("最久逾期 75 天，逾期 ¥600.00，按时付款 67%")
        await expect(row).to_contain_text("¥600.00")
        await expect(row).to_contain_text("75 天")
        await expect(page.get_by_text(COLLEAGUES)).to_have_count(0)  # li's customer is not wang's to see
        await expect(row.get_by_role("link", name=HELD)).to_have_attribute("href", f"/customers/{on_hold['held']}")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "credit" if view == "desktop" else "credit-phone", full_page=True)


async def test_a_manager_sees_every_hold_in_english_and_the_other_tabs(browser: Browser, console: ConsoleCluster,
                                                                      on_hold: dict[str, str]) -> None:
    async with signed_in(browser, console, "mgr") as page:
        try:
            await page.get_by_role("button", name="English").click()
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.locator('a.count[href="/credit?tier=D"]')).to_have_attribute("aria-label",
                                                                                          "2 customers on hold")
            await page.locator("header nav").get_by_role("link", name="Credit 2 on hold").click()
            await expect(page).to_have_url(console.url + "/credit")
            await expect(page.locator("tbody tr")).to_have_count(2)
            row = page.locator("tbody tr", has_text=COLLEAGUES)
            await expect(row).to_contain_text("75 days overdue at most, ¥600.00 overdue, 67% paid on time")
            await expect(row).to_contain_text("D · On hold")
            await english_only(page)
            await shoot(page, "credit-english")
            await page.locator('a.count[href="/credit?tier=A"]').click()
            await expect(page.get_by_text("No customer in this tier.")).to_be_visible()
            await page.locator('a.count[href="/credit?tier=all"]').click()
            await expect(page.locator("tbody tr", has_text=HELD)).to_be_visible()
            await expect(page.locator('a.count[href="/credit?tier=all"] b')).to_have_text("2")
        finally:  # the choice is the person's: leave mgr in Chinese
            await page.goto("/")
            back = page.get_by_role("button", name="中文")
            if await back.count():
                await back.click()


async def test_the_api_explains_in_the_language_asked_and_the_console_counts_per_person(
        console: ConsoleCluster, on_hold: dict[str, str]) -> None:
    cluster = console.cluster
    url = cluster.urls["insights"] + f"/customers/{on_hold['held']}/credit-standing"
    later = datetime.now(UTC) + 65 * DAY
    for language, words in (("zh-CN,zh;q=0.9", "最久逾期 75 天，逾期 ¥600.00，按时付款 67%"),
                            ("en", "75 days overdue at most, ¥600.00 overdue, 67% paid on time")):
        answer = await cluster.http.get(url, params={"as_of": later.isoformat()},
                                        headers={**cluster.headers("admin"), "Accept-Language": language})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["reason"], answer.json()["explanation"]) == ("long_overdue", words)
    counts = await cluster.get("insights", "/credit-standings/counts")
    assert counts.status_code == 200 and counts.json()["counts"]["D"] >= 2
    assert set(counts.json()["counts"]) == {"A", "B", "C", "D"}
    async with console.signed_in("wang") as client:
        assert (await client.get("/credit/on-hold")).text == "1"
        page = await client.get("/credit", params={"tier": "B"})
        assert page.status_code == 200 and HELD in page.text and COLLEAGUES not in page.text
    async with console.signed_in("mgr") as client:
        assert (await client.get("/credit/on-hold")).text == "2"
        every = await client.get("/credit", params={"tier": "all"})
        assert HELD in every.text and COLLEAGUES in every.text
