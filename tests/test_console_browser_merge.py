"""Duplicates in the console, as a manager sees them in Chromium: a likely pair side by side with
its reasons, a merge into the record the manager chooses (after a confirmation), the merged
record's 360 pointing at the survivor, and Undo. Desktop and phone; screenshots in tests/artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import eventually
from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import A11Y, chromium, person, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-merge")) as running:
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


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_a_manager_merges_a_likely_duplicate_and_undoes_it(console: ConsoleCluster, browser: Browser,
                                                                 view: str) -> None:
    cluster = console.cluster
    suffix = "1" if view == "desktop" else "2"
    firm = "上海星辰贸易" if view == "desktop" else "北京月光科技"
    older_name, newer_name = f"{firm}有限公司", f"{firm}公司"
    older = await cluster.customer(older_name, kind="company", phone=f"1380013800{suffix}")
    newer = await cluster.customer(newer_name, kind="company", phone=f"1380013899{suffix}",
                                   email=f"buy{suffix}@xingchen.cn")

    async with person(browser, console, "boss", view=view) as page:
        await page.goto("/duplicates?rescan=1")
        pair = page.locator(f"#pair-{older}-{newer}")
        await expect(pair).to_be_visible()
        await expect(pair).to_contain_text("名称相同")  # the reasons, in Chinese
        await expect(pair).to_contain_text("电话号码前 7 位相同")
        assert await page.evaluate(A11Y) == []
        await shoot(page, "duplicates" if view == "desktop" else "duplicates-phone", full_page=True)

        await pair.get_by_label(older_name).check()  # the older record stays
        await pair.locator("button[type=submit]").click()
        await expect(page.locator("h1")).to_contain_text("合并到")
        await page.locator("main form button[type=submit]").click()

        result = page.locator("#merge-result")
        await expect(result).to_contain_text(f"已将 {newer_name} 合并到 {older_name}")
        await shoot(page, "merge-result" if view == "desktop" else "merge-result-phone")
        survivor = (await cluster.get("contacts", f"/customers/{older}")).json()
        assert survivor["email"] == f"buy{suffix}@xingchen.cn"  # filled from the merged record

        await page.goto(f"/customers/{newer}")
        notice = page.locator("#merged-into")
        await expect(notice).to_contain_text("该客户已合并到另一条记录")
        await notice.locator("a").click()
        await expect(page).to_have_url(console.url + f"/customers/{older}")

        await page.goto("/duplicates")
        await page.locator("ul.list li[id^=merge-] form button").first.click()
        await expect(page.locator("p.notice")).to_contain_text("已撤销")

    async def restored() -> bool:
        back = (await cluster.get("contacts", f"/customers/{newer}")).json()
        return back["merged_into"] is None and back["email"] == f"buy{suffix}@xingchen.cn"

    await eventually(restored)
    assert (await cluster.get("contacts", f"/customers/{older}")).json()["email"] is None
