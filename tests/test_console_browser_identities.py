"""The customer's identities in the console, as a person uses them (Chromium, zh-CN): link a card,
find the customer by it in the search box, be told in words who holds a phone already (with a
link to them), a label asked for `other`, unlink; on a desktop and on a 390 px phone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import accessible, chromium, no_sideways_scroll, person, shoot, shot_name

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-identities")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    from tests.test_console_browser import CHROMIUM_ARGS

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _link(page: Page, kind: str, value: str, label: str = "") -> None:
    section = page.locator("#identities")
    if not await section.locator("details#identity-form").get_attribute("open") == "":
        await section.locator("details#identity-form > summary").click()
    await section.locator("#f-identity-kind").select_option(kind)
    await section.locator("#f-identity-value").fill(value)
    await section.locator("#f-identity-label").fill(label)
    await section.locator("#identity-form button[type=submit]").click()
    await page.wait_for_load_state()


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_identities_are_linked_found_refused_in_words_and_unlinked(
    browser: Browser, console: ConsoleCluster, view: str,
) -> None:
    cluster = console.cluster
    phone = "13800138000" if view == "desktop" else "13900139000"
    card = "vip 0042" if view == "desktop" else "vip 0043"
    holder = await cluster.customer(f"张伟{view}", phone=phone)
    newcomer = await cluster.customer(f"李娜{view}")
    # fresh: this module's console is not the one the other browser module signs in to
    async with person(browser, console, "boss", view=view, fresh=True) as page:
        await page.goto(f"/customers/{newcomer}")
        section = page.locator("#identities")
        await expect(section.locator("h2")).to_contain_text("身份标识")
        await expect(section).to_contain_text("尚未关联电话、会员卡或账号。")

        await _link(page, "membership_card", card)
        await expect(page.locator("#identities .notice")).to_have_text("身份已关联。")
        normal = card.replace(" ", "").upper()
        row = page.locator("#identities li", has_text=normal)
        await expect(row.locator(".tag")).to_have_text("会员卡")

        await _link(page, "phone", phone[:3] + " " + phone[3:7] + " " + phone[7:])  # another customer's phone
        problem = page.locator("#identities .problem")
        await expect(problem).to_contain_text(f"已属于 张伟{view}")
        await expect(problem.get_by_role("link")).to_have_attribute("href", f"/customers/{holder}")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, shot_name("customer-identities-held", view), part=page.locator("#identities"))

        await _link(page, "other", "qq-123456")
        await expect(page.locator("#identities #e-f-identity-label")).to_contain_text("请说明这是什么")

        await page.goto(f"/customers?q={normal.lower()}")
        await expect(page.locator("main")).to_contain_text(f"李娜{view}")

        await page.goto(f"/customers/{newcomer}")
        await page.locator("#identities li", has_text=normal).get_by_role("button").click()
        await page.wait_for_load_state()
        await expect(page.locator("#identities .notice")).to_have_text("身份已解除关联。")
        await expect(page.locator("#identities li", has_text=normal)).to_have_count(0)
        await shoot(page, shot_name("customer-identities", view), full_page=True)
    identities = await cluster.get("contacts", f"/customers/{newcomer}/identities")
    assert identities.json()["items"] == []
