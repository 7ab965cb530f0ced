"""Editing a customer in the console as a person does it (Chromium, zh-CN): the edit form from the
360, the history of changes, the "someone changed it meanwhile" path (412) and re-applying,
contact persons found by search, competitors; and no edit forms for read-only staff."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.console_support import PASSWORD, ConsoleCluster, console_cluster
from tests.test_console_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    VIEWPORTS,
    WAIT_MS,
    ZONE,
    accessible,
    chromium,
    no_sideways_scroll,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-profile")) as running:
        yield running


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
async def signed_in(browser: Browser, console: ConsoleCluster, name: str = "boss", *,
                    view: str = "desktop") -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORTS[view], locale="zh-CN", timezone_id=ZONE,  # type: ignore[arg-type]
                                        is_mobile=view == "phone", has_touch=view == "phone", base_url=console.url)
    context.set_default_timeout(WAIT_MS)
    try:
        page = await context.new_page()
        await page.goto("/sign-in")
        await page.locator("#f-name").fill(name)
        await page.locator("#f-password").fill(PASSWORD)
        await page.locator("main form button[type=submit]").click()
        await expect(page).to_have_url(console.url + "/")
        yield page
    finally:
        await context.close()


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(await page.screenshot(type="png", full_page=True, animations="disabled",
                                                                  caret="hide"))


async def test_a_customer_is_edited_from_the_360_and_the_history_says_who_changed_what(
    browser: Browser, console: ConsoleCluster,
) -> None:
    cid = await console.cluster.customer("孙丽", phone="13600136000")
    async with signed_in(browser, console) as page:
        await page.goto(f"/customers/{cid}")
        await page.locator("#edit-link").click()
        await expect(page.locator("h1")).to_have_text("编辑 孙丽")
        await accessible(page)
        await page.locator("#f-name").fill("孙丽华")
        await page.locator("#f-tags").fill("VIP， 茶, vip")
        await page.locator("#f-lead_source").select_option("fair")
        await page.locator("#f-lead_source_detail").fill("广交会 2026")
        await page.locator("#f-notes").fill("喜欢龙井")
        await shoot(page, "profile-edit")
        await page.get_by_role("button", name="保存").click()

        await expect(page.locator(".notice")).to_have_text("修改已保存。")
        await expect(page.locator("h1")).to_contain_text("孙丽华")
        await expect(page.locator("#profile")).to_contain_text("展会或会议 — 广交会 2026")
        await expect(page.locator("#profile .tag")).to_have_text(["VIP", "茶"])

        await page.locator("#history-link").click()
        await expect(page.locator("h1")).to_have_text("孙丽华 的修改记录")
        newest = page.locator("#history > li").first
        await expect(newest).to_contain_text("boss 修改了")
        await expect(newest).to_contain_text("名称: 孙丽 → 孙丽华")
        await expect(newest).to_contain_text("客户来源: — → 展会或会议")
        await expect(page.locator("#history > li").last).to_contain_text("登记")
        await accessible(page)
        await shoot(page, "profile-history")
    got = (await console.cluster.get("contacts", f"/customers/{cid}")).json()
    assert (got["name"], got["tags"], got["revision"], got["phone"]) == ("孙丽华", ["VIP", "茶"], 2, "+8613600136000")


async def test_a_record_changed_meanwhile_shows_the_current_values_and_re_applies_only_mine(
    browser: Browser, console: ConsoleCluster,
) -> None:
    cid = await console.cluster.customer("周杰")
    async with signed_in(browser, console, "mgr") as page:
        await page.goto(f"/customers/{cid}/edit")
        await page.locator("#f-tags").fill("批发")
        # meanwhile a colleague changes the address (the page still holds revision 1)
        colleague = await console.cluster.http.patch(
            f"{console.cluster.urls['contacts']}/customers/{cid}", json={"address": "上海市徐汇区"},
            headers=console.cluster.headers("admin", **{"If-Match": '"1"'}))
        assert colleague.status_code == 200, colleague.text
        await page.get_by_role("button", name="保存").click()

        problem = page.locator("#form-problem")
        await expect(problem).to_contain_text("在此期间有人修改了这条记录")
        await expect(problem).to_contain_text("test-admin")
        await expect(problem.locator("tbody tr")).to_have_count(1)
        await expect(problem.locator("tbody tr")).to_contain_text("上海市徐汇区")
        await expect(page.locator("#f-address")).to_have_value("上海市徐汇区")  # the current value
        await expect(page.locator("#f-tags")).to_have_value("批发")  # mine, kept
        await accessible(page)
        await shoot(page, "profile-edit-conflict")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_have_text("修改已保存。")
    got = (await console.cluster.get("contacts", f"/customers/{cid}")).json()
    assert (got["address"], got["tags"], got["revision"]) == ("上海市徐汇区", ["批发"], 3)


async def test_contact_persons_are_found_by_search_and_competitors_noted_on_the_360(
    browser: Browser, console: ConsoleCluster,
) -> None:
    company = await console.cluster.customer("远航贸易有限公司", kind="company")
    person = await console.cluster.customer("吴敏", phone="13500135000")
    async with signed_in(browser, console, view="phone") as page:
        await page.goto(f"/customers/{company}")
        await page.get_by_role("link", name="添加联系人").click()
        await page.locator("#f-q").fill("wumin")
        await page.get_by_role("button", name="搜索").click()
        await page.locator(f"#role-{person}").select_option("decision_maker")
        await page.locator(f"#title-{person}").fill("总经理")
        await no_sideways_scroll(page)
        await accessible(page)
        await page.get_by_role("button", name="添加为联系人").click()
        await expect(page.locator(".notice")).to_have_text("联系人已添加。")
        await expect(page.locator("#contact-persons")).to_contain_text("吴敏 决策人 总经理")

        await page.locator("#competitors summary").click()
        await page.locator("#f-competitor").fill("茶叶世家")
        await page.locator("#f-competitor-note").fill("价格低一点")
        await page.get_by_role("button", name="记录", exact=True).click()
        await expect(page.locator("#competitors")).to_contain_text("茶叶世家 — 价格低一点")
        await no_sideways_scroll(page)
        await accessible(page)
        await shoot(page, "profile-contacts-competitors-phone")

        await page.get_by_role("link", name="全部竞争对手").click()
        await expect(page.locator("h1")).to_have_text("竞争对手")
        await expect(page.locator("#competitor-report tbody tr")).to_contain_text("茶叶世家")
        await no_sideways_scroll(page)
        await accessible(page)
        await shoot(page, "profile-competitor-report-phone")
        await page.go_back()
        await page.get_by_role("button", name="移除 吴敏 的决策人角色").click()
        await expect(page.locator("#contact-persons")).to_contain_text("无。")
        await page.goto(f"/customers/{person}")
        await expect(page.locator("#contact-persons h2")).to_have_text("代表的公司")
    report = (await console.cluster.get("contacts", "/competitors")).json()["items"]
    assert [(i["competitor"], i["customers"]) for i in report] == [("茶叶世家", 1)]


async def test_readonly_staff_see_the_record_but_no_edit_forms(browser: Browser, console: ConsoleCluster) -> None:
    cid = await console.cluster.customer("郑强")
    async with signed_in(browser, console, "viewer") as page:
        await page.goto(f"/customers/{cid}")
        await expect(page.locator("#history-link")).to_be_visible()
        await expect(page.locator("#edit-link")).to_have_count(0)
        await expect(page.locator("#competitors form, #contact-persons form")).to_have_count(0)
        response = await page.goto(f"/customers/{cid}/edit")
        assert response is not None and response.status == 403
        response = await page.goto(f"/customers/{cid}/history")
        assert response is not None and response.status == 200
