"""The import page's words for a row the parser refuses: in the person's language (the command keeps
its English), every problem the parser can name listed for the catalogue."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import shared.customer_file
from console.i18n import Texts
from console.pages.import_words import ROW_PROBLEMS, row_reason
from shared.customer_file import BadRow, parse_customers
from shared.sheet import read_table

ZH, EN = Texts("zh-CN"), Texts("en")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _bad(csv: str) -> list[BadRow]:
    table = read_table(csv.encode(), "list.csv", zone=ZoneInfo("Asia/Shanghai"))
    return parse_customers(table, phone_region="CN", zone=ZoneInfo("Asia/Shanghai"), now=NOW).bad


def test_a_bad_rows_reasons_are_in_chinese_on_a_chinese_page_and_as_the_command_says_in_english() -> None:
    bad = _bad("姓名,手机,分类,邮箱\n,13800138000,,\n韩梅梅,12345,vip,nope\n")
    assert [(b.line, b.field) for b in bad] == [(2, "name"), (3, "phone"), (3, "email"), (3, "category")]
    assert [row_reason(ZH, b) for b in bad] == [
        "为空", "'12345' 不是有效的电话号码（按 CN 的号码读取）", "'nope' 不是电子邮箱地址",
        "未知的分类 'vip'（可填 potential, prospective, current, lost；或中文，如 潜在/潜在客户/意向/意向客户）"]
    assert [row_reason(EN, b) for b in bad] == [b.reason for b in bad]
    assert bad[1].reason == "'12345' is not a valid phone number (read as a number in CN)"  # the command's words


def test_a_reason_the_console_does_not_list_is_shown_as_the_parser_said_it() -> None:
    assert row_reason(ZH, BadRow(4, "customer", "contacts refused it: no")) == "contacts refused it: no"


def test_every_row_problem_the_parser_can_name_is_listed_for_the_catalogue() -> None:
    tree = ast.parse(Path(shared.customer_file.__file__).read_text(encoding="utf-8"))
    named = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "RowProblem"
             and node.args and isinstance(node.args[0], ast.Constant)}
    named |= set(shared.customer_file._UNKNOWN.values())
    assert len(named) == len(ROW_PROBLEMS) and named == ROW_PROBLEMS
