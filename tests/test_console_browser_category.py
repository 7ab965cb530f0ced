"""Categories in the console as a person sees them (Chromium, zh-CN): the change form on the 360 with
its errors and a refused stale change in words, the referral chain, the Win-back page and the
Acquisition report, on a desk and on a 390 px phone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import eventually
from tests.console_support import ConsoleCluster
from tests.test_console_browser import (  # noqa: F401  (fixtures: console, browser)
    VIEWS,
    accessible,
    browser,
    console,
    no_sideways_scroll,
    person,
    shoot,
    shot_name,
)

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Book:
    lead: str  # 孙丽: potential, referred by 周强, who was referred by 吴刚
    referrer: str  # 周强
    lost: str  # 郑敏: lost over the price, with a phone
    moved: str  # 钱多: lost because they moved away (not on the win-back list)


@pytest.fixture(scope="module")
async def book(console: ConsoleCluster) -> Book:  # noqa: F811
    cluster = console.cluster
    now = datetime.now(UTC)
    root = await cluster.customer("吴刚", lead_source="fair", registered_at=(now - timedelta(days=200)).isoformat())
    referrer = await cluster.customer("周强", lead_source="referral", registered_at=(now - timedelta(days=120)).isoformat())
    lead = await cluster.customer("孙丽", lead_source="referral", registered_at=(now - timedelta(days=40)).isoformat())
    lost = await cluster.customer("郑敏", phone="13600136000", lead_source="web", category="current",
                                  registered_at=(now - timedelta(days=300)).isoformat())
    moved = await cluster.customer("钱多", phone="13500135000", category="current")
    for who, by in ((referrer, root), (lead, referrer)):
        await cluster.sql("contacts", "UPDATE customers SET referred_by = $1 WHERE id = $2", uuid.UUID(by),
                          uuid.UUID(who))
    for cid, reason in ((lost, "price"), (moved, "moved_away")):
        response = await cluster.post("contacts", f"/customers/{cid}/category",
                                      {"category": "lost", "reason": "不再来了", "loss_reason": reason,
                                       "as_of": (now - timedelta(days=12)).isoformat()})
        assert response.status_code == 200, response.text
    # a first order through orders: contacts hears of it and the referrer becomes current
    order = {"customer_id": referrer, "channel": "store", "occurred_at": (now - timedelta(days=100)).isoformat(),
             "lines": [{"sku": "茶叶-龙井", "quantity": "1", "unit_price": "88.00"}]}
    assert (await cluster.post("orders", "/orders", order)).status_code == 201

    async def current() -> bool:
        response = await cluster.get("contacts", f"/customers/{referrer}")
        return bool(response.json()["category"] == "current")

    await eventually(current, timeout=30)
    return Book(lead, referrer, lost, moved)


@pytest.mark.parametrize("view", VIEWS)
async def test_the_category_form_offers_only_allowed_steps_and_says_what_is_wrong(
    browser: Browser, console: ConsoleCluster, book: Book, view: str,  # noqa: F811
) -> None:
    cid = (await console.cluster.post("contacts", "/customers", {"name": f"冯{view}"})).json()["id"]
    async with person(browser, console, "wang", view=view) as page:
        await page.goto(f"/customers/{cid}")
        section = page.locator("#category")
        await expect(section.locator("h2")).to_contain_text("潜在客户")
        await section.locator("summary").click()
        options = await section.locator("#f-new-category option").all_inner_texts()
        assert options == ["意向客户", "成交客户", "流失客户"]

        # lost without a loss reason: the error at its field, what was typed kept
        await section.locator("#f-new-category").select_option("lost")
        await section.locator("#f-category-reason").fill("去了隔壁店")
        await section.locator("button[type=submit]").click()
        loss = page.locator("#f-loss_reason")
        await expect(loss).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#e-f-loss_reason")).to_have_text("必填。")
        await expect(page.locator("#f-category-reason")).to_have_value("去了隔壁店")
        await shoot(page, shot_name("category-form-error", view))

        # then with a reason: changed, in the history, and the form now offers only prospective
        await page.locator("#f-loss_reason").select_option("competitor")
        await page.locator("#category button[type=submit]").click()
        await expect(page.locator("#category [role=status]")).to_have_text("客户类别已更改。")
        await expect(page.locator("#category h2")).to_contain_text("流失客户")
        await expect(page.locator("#category")).to_contain_text("转向竞争对手")
        await expect(page.locator("#category .list li").first).to_contain_text("潜在客户 → 流失客户")
        await page.locator("#category summary").click()
        assert await page.locator("#f-new-category option").all_inner_texts() == ["意向客户"]
        await accessible(page)
        if view == "phone":
            await no_sideways_scroll(page)
        await shoot(page, shot_name("category-changed", view), part=page.locator("#category"))


async def test_a_stale_change_is_refused_in_words(browser: Browser, console: ConsoleCluster, book: Book) -> None:  # noqa: F811
    cid = (await console.cluster.post("contacts", "/customers", {"name": "陈旧"})).json()["id"]
    async with person(browser, console, "wang") as page:
        await page.goto(f"/customers/{cid}")
        await page.locator("#category summary").click()
        # meanwhile someone else records a first deal
        changed = await console.cluster.post("contacts", f"/customers/{cid}/category",
                                             {"category": "current", "reason": "签约"})
        assert changed.status_code == 200
        await page.locator("#f-new-category").select_option("prospective")
        await page.locator("#f-category-reason").fill("有意向")
        await page.locator("#category button[type=submit]").click()
        problem = page.locator("#category .problem")
        await expect(problem).to_have_text("成交客户不能直接改为意向客户。当前可改为：流失客户。")
        await expect(page.locator("#f-category-reason")).to_have_value("有意向")
        await shoot(page, "category-refused", part=page.locator("#category"))


async def test_the_360_shows_the_referral_chain(browser: Browser, console: ConsoleCluster, book: Book) -> None:  # noqa: F811
    async with person(browser, console, "boss") as page:
        await page.goto(f"/customers/{book.lead}")
        referrals = page.locator("#referrals")
        await expect(referrals).to_contain_text("介绍人")
        await expect(referrals.locator("a")).to_have_text(["周强", "吴刚"])
        await page.goto(f"/customers/{book.referrer}")
        await expect(page.locator("#referrals")).to_contain_text("直接推荐了 1 位客户")
        await expect(page.locator("#referrals li a")).to_have_text("孙丽")
        # the first order made them current, by itself
        await expect(page.locator("#category")).to_contain_text("因首次下单")
        await accessible(page)
        await shoot(page, "referral-chain", part=page.locator("#referrals"))


@pytest.mark.parametrize("view", VIEWS)
async def test_the_win_back_page_lists_who_is_worth_a_call_and_the_rate_per_reason(
    browser: Browser, console: ConsoleCluster, book: Book, view: str,  # noqa: F811
) -> None:
    async with person(browser, console, "boss", view=view) as page:
        await page.locator("header nav").get_by_role("link", name="客户挽回").click()
        await expect(page.locator("h1")).to_have_text("客户挽回")
        row = page.locator("main table").first.locator("tbody tr", has_text="郑敏")
        await expect(row).to_contain_text("价格")
        await expect(row).to_contain_text("12")
        await expect(row).to_contain_text("电话")
        await expect(page.locator("main table").first).not_to_contain_text("钱多")  # moved away: objective
        await expect(row.get_by_role("link", name="记录跟进")).to_have_attribute(
            "href", f"/customers/{book.lost}#follow-ups")
        chart = page.locator("svg.bars")
        await expect(chart.locator("title")).to_have_text("各流失原因的挽回率")
        await expect(chart).to_contain_text("价格")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, shot_name("win-back", view), full_page=True)


@pytest.mark.parametrize("view", VIEWS)
async def test_the_acquisition_report_per_source_and_period(
    browser: Browser, console: ConsoleCluster, book: Book, view: str,  # noqa: F811
) -> None:
    async with person(browser, console, "boss", view=view) as page:
        await page.locator("header nav").get_by_role("link", name="获客分析").click()
        await expect(page.locator("h1")).to_have_text("获客分析")
        charts = page.locator("svg.bars")
        await expect(charts).to_have_count(3)
        await expect(charts.first).to_contain_text("转介绍")
        table = page.locator("main table")
        referral = table.locator("tbody tr", has_text="转介绍")
        await expect(referral.first).to_be_visible()
        await page.locator("#f-period").select_option("quarter")
        await page.locator("main form button[type=submit]").click()
        await expect(page).to_have_url(__import__("re").compile(r"period=quarter"))
        await expect(table.locator("tbody tr").first).to_contain_text("Q")
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, shot_name("acquisition", view), full_page=True)
