"""The public pool (公海) in the console as people use it: a salesperson claims from the pool (and is
told in words why a claim was refused), a manager hands one person's customers over to another
after a confirm step, sets a pool rule, and an owner releases a customer from the customer page."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-pool")) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(console: ConsoleCluster) -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


async def _owner(console: ConsoleCluster, customer_id: str) -> str | None:
    response = await console.cluster.get("contacts", f"/customers/{customer_id}")
    owner: str | None = response.json()["owner"]
    return owner


@pytest.mark.parametrize("view", ["desktop", "phone"])
async def test_a_salesperson_claims_a_customer_from_the_pool(browser: Browser, console: ConsoleCluster,
                                                             view: str) -> None:
    name = f"公海客户{view}"
    pooled = await console.cluster.customer(name, phone="13600136000" if view == "desktop" else "13600136001")
    async with signed_in(browser, console, "wang", view=view) as page:
        if view == "desktop":
            await page.get_by_role("link", name="公海", exact=True).click()
        else:
            await page.goto("/pool")
        await expect(page.get_by_role("heading", name="公海", level=1)).to_be_visible()
        row = page.locator("tr", has_text=name)
        await expect(row).to_be_visible()
        await accessible(page)
        await no_sideways_scroll(page)
        await shoot(page, "pool" if view == "desktop" else "pool-phone")
        await row.get_by_role("button", name="领取").click()
        await expect(page.get_by_text("客户现在由你负责。")).to_be_visible()
        await expect(page.locator("#h-ownership")).to_contain_text("wang")
    assert await _owner(console, pooled) == "wang"


async def test_a_claim_that_came_too_late_says_who_has_the_customer(browser: Browser, console: ConsoleCluster) -> None:
    pooled = await console.cluster.customer("晚了一步")
    async with signed_in(browser, console, "wang") as page:
        await page.goto("/pool?q=晚了一步")
        row = page.locator("tr", has_text="晚了一步")
        await expect(row).to_be_visible()
        # Someone else is faster: the manager assigns the customer while the page is open.
        assigned = await console.cluster.post("contacts", f"/customers/{pooled}/assign",
                                              {"owner": "li", "reason": "li knows them"})
        assert assigned.status_code == 200, assigned.text
        await row.get_by_role("button", name="领取").click()
        await expect(page.locator(".problem")).to_contain_text("该客户已不在公海：由 li 负责。")
        await shoot(page, "pool-claim-refused")
    assert await _owner(console, pooled) == "li"


async def test_a_manager_hands_over_every_customer_after_seeing_how_many(browser: Browser,
                                                                      console: ConsoleCluster) -> None:
    ids = [await console.cluster.customer(f"交接客户{i}", owner="zhou") for i in range(3)]
    async with signed_in(browser, console, "mgr") as page:
        await page.goto("/pool")
        await page.get_by_role("link", name="交接", exact=True).click()
        await expect(page.get_by_role("heading", name="交接", level=1)).to_be_visible()
        await page.locator("#f-from_owner").select_option("zhou")
        await page.locator("#f-to_owner").select_option("wang")
        await page.locator("#f-reason").fill("周离职")
        await accessible(page)
        await page.get_by_role("button", name="下一步：查看将交接多少客户").click()
        await expect(page.locator("#handover-count")).to_have_text("将有 3 位客户从 zhou 交接给 wang。")
        await shoot(page, "handover-confirm")
        await page.get_by_role("button", name="立即交接").click()
        await expect(page.get_by_role("status")).to_contain_text("已将 3 位客户从 zhou 交接给 wang。")
    assert [await _owner(console, i) for i in ids] == ["wang"] * 3
    history = await console.cluster.get("contacts", f"/customers/{ids[0]}/owner-history")
    assert [(h["how"], h["previous_owner"], h["reason"]) for h in history.json()] == [("handover", "zhou", "周离职")]


async def test_a_manager_sets_a_pool_rule_and_a_bad_value_is_shown_at_its_field(browser: Browser,
                                                                              console: ConsoleCluster) -> None:
    async with signed_in(browser, console, "mgr") as page:
        await page.goto("/pool/rules")
        await expect(page.get_by_role("heading", name="公海规则", level=1)).to_be_visible()
        await page.locator("#r-lost-no_follow_up_days").fill("0")
        await page.locator("#form-lost button").click()
        await expect(page.locator("#e-lost-no_follow_up_days")).to_be_visible()
        await page.locator("#r-lost-no_follow_up_days").fill("45")
        await page.locator("#r-lost-reclaim_days").fill("7")
        await page.locator("#form-lost button").click()
        await expect(page.get_by_role("status")).to_contain_text("已保存")
        await expect(page.locator("#r-lost-no_follow_up_days")).to_have_value("45")
        await accessible(page)
        await shoot(page, "pool-rules")
    rules = (await console.cluster.get("contacts", "/pool/rules")).json()["items"]
    assert [(r["category"], r["no_follow_up_days"], r["reclaim_days"]) for r in rules] == [("lost", 45, 7)]


async def test_an_owner_releases_a_customer_from_the_customer_page(browser: Browser, console: ConsoleCluster) -> None:
    mine = await console.cluster.customer("放回去的客户", owner="wang")
    async with signed_in(browser, console, "wang") as page:
        await page.goto(f"/customers/{mine}")
        await page.get_by_text("放回公海", exact=True).first.click()
        await page.locator("#f-release-reason").fill("客户搬走了")
        await page.locator("#ownership form[action$='/release'] button").click()
        await expect(page.get_by_text("客户已放回公海。")).to_be_visible()
        await expect(page.locator("#ownership")).to_contain_text("从 wang 退回公海")
        await expect(page.locator("#ownership")).to_contain_text("客户搬走了")
        await accessible(page)
        await shoot(page, "customer-ownership", part=page.locator("#ownership"))
    assert await _owner(console, mine) is None

    async def in_pool() -> bool:
        listed = await console.cluster.get("contacts", "/pool", q="放回去的客户")
        return any(c["id"] == mine for c in listed.json()["items"])

    await eventually(in_pool)
