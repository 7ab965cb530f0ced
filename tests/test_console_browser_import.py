"""The console's import page in Chromium: upload a customer list, read the preview, import it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from console.pages.imports import MAX_UPLOAD_BYTES
from tests.console_support import ConsoleCluster, console_cluster, csrf_of
from tests.test_console_browser import CHROMIUM_ARGS, VIEWPORTS, WAIT_MS, ZONE, chromium, shoot, sign_in

pytestmark = pytest.mark.browser

# Two good rows, one person twice (imported once), a bad phone and an unknown category, a phone
# that a customer registered at the till already has, and a column the page leaves out.
LIST = ("姓名,手机,邮箱,分类,来源,标签,备注,会员等级\n"
        "王芳,13800138001,wangfang@example.com,意向,展会,\"茶叶,VIP\",爱喝龙井,金卡\n"
        "李雷,13900139001,,current,web,,,\n"
        "韩梅梅,12345,,vip,,,,\n"
        "欧阳娜娜,13700137001,,,,,,\n"
        "欧阳娜娜,137 0013 7001,,,,,,\n"
        "张伟,13600136001,,,,,,\n")


@pytest.fixture(scope="module")
async def console(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    async with console_cluster(pg_url, tmp_path_factory.mktemp("browser-import")) as running:
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


async def _page(browser: Browser, console: ConsoleCluster, view: str = "desktop") -> Page:
    context = await browser.new_context(viewport=VIEWPORTS[view], locale="zh-CN", timezone_id=ZONE,  # type: ignore[arg-type]
                                        is_mobile=view == "phone", has_touch=view == "phone", base_url=console.url)
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await sign_in(page, "mgr")
    return page


async def test_a_manager_uploads_a_list_reads_the_preview_and_imports_it(
    browser: Browser, console: ConsoleCluster, tmp_path: Path
) -> None:
    till = await console.cluster.customer("张伟（门店）", phone="13600136001")
    path = tmp_path / "客户名单.csv"
    path.write_bytes(LIST.encode("gb18030"))  # as Excel on Chinese Windows saves it
    page = await _page(browser, console)
    try:
        await page.goto("/customers")
        await page.get_by_role("link", name="导入客户").click()
        await expect(page.get_by_role("heading", name="导入客户")).to_be_visible()
        await page.locator("#f-file").set_input_files(path)
        await page.get_by_role("button", name="预览").click()

        counts = page.locator("#preview-counts")
        await expect(counts).to_contain_text("6读取行数")
        await expect(counts).to_contain_text("4待导入客户")  # 王芳, 李雷, 欧阳娜娜 once, 张伟
        await expect(counts).to_contain_text("1有误的行")
        bad = page.locator("#bad-rows")
        await expect(bad).to_contain_text("'12345' 不是有效的电话号码")  # the parser's words, in the page's language
        await expect(bad).to_contain_text("未知的分类 'vip'")
        await expect(bad.locator("tbody tr").first).to_contain_text("4")
        duplicates = page.locator("#duplicates")
        await expect(duplicates.get_by_role("link", name="张伟（门店）")).to_have_attribute("href", f"/customers/{till}")
        await expect(duplicates).to_contain_text("本文件第 6 行")
        await expect(page.get_by_text("未导入的列：会员等级")).to_be_visible()
        await shoot(page, "import-preview", full_page=True)

        await page.get_by_role("button", name="导入 4 位客户").click()
        await expect(page.locator("#import-result")).to_contain_text("新增 4 位客户，0 位已存在")
        await shoot(page, "import-done")
    finally:
        await page.context.close()

    rows = await console.cluster.sql("contacts", "SELECT name, category, lead_source, tags FROM customers "
                                     "WHERE phone = '+8613800138001'")
    assert [dict(r) for r in rows] == [{"name": "王芳", "category": "prospective", "lead_source": "fair",
                                        "tags": ["茶叶", "VIP"]}]
    assert len(await console.cluster.sql("contacts", "SELECT 1 FROM customers WHERE name = '欧阳娜娜'")) == 1


async def test_the_same_list_again_imports_nothing_new_on_a_phone(
    browser: Browser, console: ConsoleCluster, tmp_path: Path
) -> None:
    path = tmp_path / "again.csv"
    path.write_text("name,phone\n周杰,13500135001\n", encoding="utf-8")
    page = await _page(browser, console, "phone")
    try:
        for expected in ("新增 1 位客户，0 位已存在", "新增 0 位客户，1 位已存在"):
            await page.goto("/import")
            await page.locator("#f-file").set_input_files(path)
            await page.get_by_role("button", name="预览").click()
            await page.get_by_role("button", name="导入 1 位客户").click()
            await expect(page.locator("#import-result")).to_contain_text(expected)
        await page.goto("/import")
        await page.locator("#f-file").set_input_files(path)
        await page.get_by_role("button", name="预览").click()
        await expect(page.locator("#preview-counts")).to_contain_text("1以前已导入")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the preview is {width} px wide on a 390 px phone"
        await shoot(page, "import-preview-phone", full_page=True)
    finally:
        await page.context.close()


async def test_a_file_over_the_limit_is_refused_with_a_clear_message(console: ConsoleCluster) -> None:
    async with console.signed_in("mgr") as client:
        form = await client.get("/import")
        big = b"name\n" + b"x" * MAX_UPLOAD_BYTES
        response = await client.post("/import/preview", data={"csrf": csrf_of(form.text)},
                                     files={"file": ("big.csv", big, "text/csv")})
    assert response.status_code == 413
    assert re.search(r"1,024 KB.*kehu import customers", response.text)


async def test_a_salesperson_may_not_import(console: ConsoleCluster) -> None:
    async with console.signed_in("wang") as client:
        assert (await client.get("/import")).status_code == 403
        customers = await client.get("/customers")
    assert 'href="/import"' not in customers.text


async def test_a_workbook_is_previewed_like_a_csv(console: ConsoleCluster, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["客户名", "电话", "会员卡号"])
    sheet.append(["钱多多", 13300133001, "VIP 9"])
    sheet.append(["孙小小", "bad", None])
    book.save(tmp_path / "list.xlsx")
    async with console.signed_in("mgr") as client:
        form = await client.get("/import")
        response = await client.post("/import/preview", data={"csrf": csrf_of(form.text)},
                                     files={"file": ("名单.xlsx", (tmp_path / "list.xlsx").read_bytes())})
    assert response.status_code == 200, response.text[:500]
    assert "导入 1 位客户" in response.text
    assert re.search(r"<td[^>]*>3</td><td[^>]*>phone</td>", response.text)
