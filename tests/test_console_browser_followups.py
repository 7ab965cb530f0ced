"""Follow-ups in the console as a salesperson on the road sees them: Debian's Chromium at 390 px
(and a desk), zh-CN, the shop's time zone. Logging a follow-up from the customer page with a quick
pick for the next one, seeing it in the list; My follow-ups with what is overdue and the quick log;
the count on Today; a manager choosing whose list."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import eventually
from tests.console_support import ConsoleCluster, console_cluster
from tests.test_console_browser import (
    CHROMIUM_ARGS,
    ZONE,
    accessible,
    chromium,
    no_sideways_scroll,
    person,
    shoot,
    shot_name,
)

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Book:
    tea_house: str  # 王芳茶庄: wang's, nothing planned yet
    late: str  # 张伟: wang's, a follow-up was due three days ago
    lis: str  # 李娜: li's, due today


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-followups")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def book(console: ConsoleCluster) -> Book:
    cluster = console.cluster
    tea_house = await cluster.customer("王芳茶庄", phone="13800138001", owner="wang")
    late = await cluster.customer("张伟", phone="13900139002", owner="wang")
    lis = await cluster.customer("李娜", owner="li")
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    for customer, due in ((late, today - timedelta(days=3)), (lis, today)):
        body = {"occurred_at": (datetime.now(UTC) - timedelta(days=5)).isoformat(), "channel": "phone",
                "outcome": "interested", "note": "下周再打", "next_due": due.isoformat()}
        response = await cluster.post("contacts", f"/customers/{customer}/follow-ups", body)
        assert response.status_code == 201, response.text
    return Book(tea_house, late, lis)


async def test_a_salesperson_logs_a_follow_up_from_the_customer_page_on_a_phone(
    browser: Browser, console: ConsoleCluster, book: Book,
) -> None:
    next_week = (datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date() + timedelta(days=7)).isoformat()
    async with person(browser, console, "wang", view="phone", fresh=True) as page:
        await page.goto(f"/customers/{book.tea_house}")
        section = page.locator("#follow-ups")
        await expect(section.get_by_role("heading", name="跟进")).to_be_visible()
        await expect(section).to_contain_text("还没有跟进记录")
        await section.locator("summary", has_text="记录跟进").click()
        await page.locator("#fu-channel").select_option("wechat")
        await page.locator("#fu-outcome").select_option(label="预计下单")
        await page.locator("#fu-note").fill("想要新茶，下周到货后通知")
        await section.get_by_role("button", name="+7 天").click()  # fills the date, sends nothing
        await expect(page.locator("#fu-next")).to_have_value(next_week)
        await expect(section.get_by_role("button", name="+7 天")).to_have_attribute("aria-pressed", "true")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "follow-up-form-phone", part=section)
        await section.get_by_role("button", name="保存跟进").click()

        await expect(page).to_have_url(re.compile(rf"/customers/{book.tea_house}\?done=follow_up#follow-ups$"))
        await expect(section.get_by_role("status")).to_have_text("跟进已记录。")
        entry = section.locator("ul.follow-ups li")
        await expect(entry).to_have_count(1)
        await expect(entry).to_contain_text("想要新茶，下周到货后通知")
        await expect(entry).to_contain_text("预计下单")
        await expect(entry).to_contain_text("微信")
        await expect(entry).to_contain_text(f"下次跟进 {next_week}")
        await expect(entry).to_contain_text(" · 王芳 · ")  # who logged it, by the name the console knows (wang)
        await expect(section).to_contain_text(re.compile(rf"下次跟进：\s*{next_week}"))
        await expect(section).to_contain_text("7 天后到期")
        await no_sideways_scroll(page)
        await shoot(page, "follow-up-logged-phone", part=section)

        # The timeline carries it in words once insights has it.
        async def on_timeline() -> bool:
            await page.reload()
            return "想要新茶" in (await page.locator("#timeline").inner_text())

        await eventually(on_timeline, timeout=20, interval=0.5)
        await expect(page.locator("#timeline")).to_contain_text("wang 微信跟进：想要新茶，下周到货后通知 — 预计下单")


async def test_a_next_due_day_before_the_follow_up_is_shown_at_its_field(
    browser: Browser, console: ConsoleCluster, book: Book,
) -> None:
    async with person(browser, console, "wang", view="phone", fresh=True) as page:
        await page.goto(f"/customers/{book.tea_house}")
        section = page.locator("#follow-ups")
        await section.locator("summary", has_text="记录跟进").click()
        await page.locator("#fu-note").fill("日期填错了")
        await page.locator("#fu-next").fill("2020-01-01")
        await section.get_by_role("button", name="保存跟进").click()
        await expect(page.locator("#e-fu-next")).to_be_visible()
        await expect(page.locator("#fu-next")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#fu-note")).to_have_value("日期填错了")  # what was typed stays
        await accessible(page)


@pytest.mark.parametrize("view", ["desktop", "phone"])  # the phone logs last: 张伟 leaves the list
async def test_my_follow_ups_shows_what_is_overdue_and_logs_it_in_place(
    browser: Browser, console: ConsoleCluster, book: Book, view: str,
) -> None:
    async with person(browser, console, "wang", view=view, fresh=True) as page:
        card = page.locator("a.count", has_text="待跟进")  # Today counts them and leads there
        await expect(card.locator("b")).to_have_text("1")
        await shoot(page, shot_name("follow-ups-today-card", view))
        await card.click()
        await expect(page).to_have_url(console.url + "/follow-ups")
        await expect(page.locator("h1")).to_have_text("我的跟进")
        await expect(page.locator('header nav a[aria-current="page"]')).to_have_text("跟进")
        due = page.locator("ul.due-list > li")
        row = due.filter(has_text="张伟")
        await expect(row.locator(".tag").first).to_have_text("逾期 3 天")
        await expect(row).to_contain_text("上次（")  # what was said last time, by whom
        await expect(row).to_contain_text("下周再打")
        await expect(row.get_by_role("link", name="13900139002")).to_have_attribute("href", re.compile("^tel:"))
        await expect(page.locator("main")).not_to_contain_text("李娜")  # li's customer is not wang's
        await expect(page.locator("#f-owner")).to_have_count(0)  # a salesperson sees only their own
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, shot_name("follow-ups-due", view), full_page=True)

        if view == "phone":  # log it from the list: the customer leaves the list (nothing more planned)
            await row.locator("summary", has_text="记录跟进").click()
            await row.locator("textarea").fill("已到店，买了两盒")
            await row.locator("select[name=outcome]").select_option(label="已联系上")
            await row.get_by_role("button", name="保存跟进").click()
            await expect(page.get_by_role("status")).to_have_text("跟进已记录。")
            await expect(page.locator("main")).not_to_contain_text("张伟")
            await expect(page.locator("main")).to_contain_text("没有到期的跟进")
            await shoot(page, "follow-ups-due-logged-phone")


async def test_a_manager_chooses_whose_follow_ups(browser: Browser, console: ConsoleCluster, book: Book) -> None:
    async with person(browser, console, "mgr", view="phone", fresh=True) as page:
        await page.goto("/follow-ups")
        await expect(page.locator("ul.due-list")).to_contain_text("李娜")  # everyone's by default
        await page.locator("#f-owner").select_option("wang")
        await page.get_by_role("button", name="显示").click()
        await expect(page).to_have_url(re.compile(r"/follow-ups\?owner=wang"))
        await expect(page.locator("main")).not_to_contain_text("李娜")
        await accessible(page)
        await no_sideways_scroll(page)
