"""Reading a customer list (``shared.customer_file``) and the pure parts of ``kehu import customers``."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import orjson
import pytest

from kehu import cli
from kehu.customer_import import IDENTITIES, CustomerImportOptions, CustomerImportReport, run_customer_import, summary
from shared.customer_file import (
    FileProblem,
    Parsed,
    Table,
    existing_duplicates,
    import_key,
    map_columns,
    parse_customers,
    parse_mapping,
    unique_by_key,
)
from shared.sheet import read_table

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parse(text: str, mapping: str = "", encoding: str = "utf-8") -> Parsed:
    table = read_table(text.encode(encoding), "customers.csv")
    return parse_customers(table, mapping=parse_mapping(mapping), zone=SHANGHAI, now=NOW)


# --- columns ------------------------------------------------------------------------------------


def test_default_header_names_in_any_case_and_spelling_give_their_fields() -> None:
    columns = map_columns(["Name", "PHONE", "e-mail", "External Ref", "lead_source", "Lead Source Detail",
                           "membership_card", "registered_at"])
    assert list(columns.by_index.values()) == ["name", "phone", "email", "external_ref", "lead_source",
                                               "lead_source_detail", "membership_card", "registered_at"]
    assert columns.ignored == []


def test_chinese_headers_name_the_fields() -> None:
    header = ["姓名", "手机", "邮箱", "会员卡号", "微信", "来源", "负责人", "标签", "地址", "备注", "客户编号", "分类"]
    assert list(map_columns(header).by_index.values()) == [
        "name", "phone", "email", "membership_card", "wechat", "lead_source", "owner", "tags", "address", "notes",
        "external_ref", "category"]
    assert list(map_columns(["名称", "电话"]).by_index.values()) == ["name", "phone"]


def test_map_overrides_the_header_and_can_leave_a_column_out() -> None:
    mapping = parse_mapping("Column A=phone，客户名=name, 电话=-")
    columns = map_columns(["客户名", "Column A", "电话", "Whatever"], mapping)
    assert columns.by_index == {0: "name", 1: "phone"}
    assert columns.ignored == ["Whatever"]


@pytest.mark.parametrize(("text", "message"), [
    ("Column A=fone", "unknown field 'fone'"),
    ("phone", "write COLUMN=FIELD"),
])
def test_a_bad_map_is_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(FileProblem, match=message):
        parse_mapping(text)


@pytest.mark.parametrize(("header", "mapping", "message"), [
    (["phone", "email"], "", "no column gives the name"),
    (["姓名", "名称"], "", "both give name"),
    (["name"], "Missing=phone", "the header does not have: 'missing'"),
])
def test_headers_that_cannot_work_are_refused_with_the_way_out(header: list[str], mapping: str, message: str) -> None:
    with pytest.raises(FileProblem, match=message):
        map_columns(header, parse_mapping(mapping))


# --- rows -----------------------------------------------------------------------------------


def test_a_valid_row_becomes_the_body_of_one_customer_of_the_batch() -> None:
    parsed = _parse("姓名,手机,邮箱,类型,分类,来源,来源说明,负责人,标签,地址,备注,会员卡号,微信,注册日期\n"
                    "王芳,138 0013 8000,Wang.Fang@Example.com,个人,意向,转介绍,老李介绍,li,"
                    "茶叶，VIP、老客,上海市徐汇区,爱喝龙井,vip 0001,wangfang88,2024-03-01\n")

    assert parsed.bad == [] and parsed.read == 1
    row = parsed.rows[0]
    assert row.line == 2
    assert row.customer == {
        "name": "王芳", "phone": "+8613800138000", "email": "wang.fang@example.com", "kind": "person",
        "category": "prospective", "lead_source": "referral", "lead_source_detail": "老李介绍", "owner": "li",
        "tags": ["茶叶", "VIP", "老客"], "address": "上海市徐汇区", "notes": "爱喝龙井",
        "registered_at": "2024-03-01T00:00:00+08:00", "external_ref": row.key}
    assert row.identities == (("other", "wangfang88", "WeChat"), ("membership_card", "vip 0001", None))


def test_every_bad_row_is_listed_with_its_line_field_and_reason() -> None:
    parsed = _parse("name,phone,email,category,lead_source,registered_at\n"
                    "Ann,13800138000,ann@example.com,current,web,2024-01-01\n"
                    ",12345,not-mail,vip,tv,2099-01-01\n"
                    "\n"
                    "Bob,+86 139 0000,,,,\n")

    assert parsed.read == 3 and [r.line for r in parsed.rows] == [2]
    assert [(b.line, b.field) for b in parsed.bad] == [
        (3, "name"), (3, "phone"), (3, "email"), (3, "category"), (3, "lead_source"), (3, "registered_at"),
        (5, "phone")]
    text = [str(b) for b in parsed.bad]
    assert text[0] == "line 3: name: is empty"
    assert "line 3: phone: '12345' is not a valid phone number" in text[1]
    assert "unknown category 'vip'" in text[3] and "potential, prospective, current, lost" in text[3]
    assert "in the future" in text[5]
    assert parsed.bad_lines == 2


def test_a_repeated_external_ref_is_a_bad_row_naming_the_first_line() -> None:
    parsed = _parse("name,external_ref\nAnn,C-1\nBob,C-1\n")
    assert [str(b) for b in parsed.bad] == ["line 3: external_ref: 'C-1' repeats line 2"]


def test_rows_sharing_a_phone_email_or_card_are_likely_duplicates_of_each_other() -> None:
    parsed = _parse("name,phone,email,membership_card,external_ref\n"
                    "王芳,13800138000,,VIP 1,A\n"
                    "王 芳,+86 138-0013-8000,,,B\n"
                    "李雷,,li@x.cn,vip1,C\n"
                    "韩梅梅,13900000000,,,D\n")

    by_line = {d.line: d for d in parsed.duplicates}
    assert set(by_line) == {2, 3, 4}
    assert by_line[2].shared == ("phone +8613800138000", "membership_card VIP1")
    assert by_line[2].lines == (3, 4)
    assert by_line[3].lines == (2,) and by_line[4].lines == (2,)
    assert str(by_line[3]) == "line 3: phone +8613800138000 also on line 2"


def test_the_same_person_twice_is_registered_once() -> None:
    parsed = _parse("name,phone\n王芳,13800138000\n王芳,138 0013 8000\n李雷,13800138000\n")

    assert len(parsed.rows) == 3 and len(unique_by_key(parsed.rows)) == 2
    assert any("same name, phone and email 王芳" in d.shared for d in parsed.duplicates)


# --- the import key -------------------------------------------------------------------------------


def test_a_row_without_a_reference_gets_a_stable_import_key() -> None:
    key = import_key("王芳", "+8613800138000", "a@b.cn")
    assert key.startswith("import:") and len(key) == len("import:") + 32
    assert key == import_key(" 王芳 ", "+8613800138000", "A@B.CN")  # blanks and case do not matter
    assert import_key("ＷＡＮＧ  Fang", None, None) == import_key("wang fang", None, None)
    assert key != import_key("王芳", "+8613800138001", "a@b.cn")
    assert key != import_key("王芳", "+8613800138000", None)


def test_the_key_does_not_change_with_the_spelling_of_the_phone_or_the_columns() -> None:
    first = _parse("name,phone,notes\n王芳,138 0013 8000,a\n").rows[0]
    second = _parse("备注,手机,姓名\nb,+86 13800138000,王芳\n").rows[0]
    assert first.key == second.key == first.customer["external_ref"]


def test_a_given_reference_is_the_key() -> None:
    assert _parse("name,external_ref\nAnn,CARD-7\n").rows[0].key == "CARD-7"


# --- files --------------------------------------------------------------------------------------


def test_a_gb18030_csv_as_excel_on_chinese_windows_saves_it_is_read() -> None:
    parsed = _parse("姓名,手机\n张伟,13800138000\n欧阳娜娜,13900139000\n", encoding="gb18030")
    assert parsed.encoding == "gb18030"
    assert [r.customer["name"] for r in parsed.rows] == ["张伟", "欧阳娜娜"]


def _workbook(path: Path) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["客户名", "手机", "会员卡号", "注册日期", None])
    sheet.append(["王芳", 13800138000, "VIP 01", datetime(2024, 3, 1, 9, 30), None])
    sheet.append([None, None, None, None, None])
    sheet.append(["", "12", None, None, None])
    sheet.append(["李雷", "139 0013 9000", 12345, None, None])
    book.save(path)
    return path.read_bytes()


def test_a_small_workbook_is_read_with_row_numbers_and_numbers_as_text(tmp_path: Path) -> None:
    data = _workbook(tmp_path / "list.xlsx")
    table = read_table(data, "list.xlsx", zone=SHANGHAI)
    assert table.header == ["客户名", "手机", "会员卡号", "注册日期"]
    parsed = parse_customers(table, mapping=parse_mapping("客户名=name"), zone=SHANGHAI, now=NOW)

    assert [r.line for r in parsed.rows] == [2, 5]
    first, second = parsed.rows
    assert first.customer["phone"] == "+8613800138000"  # a number cell, not 13800138000.0
    assert first.customer["registered_at"] == "2024-03-01T09:30:00+08:00"
    assert second.identities == (("membership_card", "12345", None),)
    assert [(b.line, b.field) for b in parsed.bad] == [(4, "name"), (4, "phone")]


def test_a_file_that_is_not_a_workbook_is_refused() -> None:
    with pytest.raises(FileProblem, match="Excel"):
        read_table(b"PK\x03\x04 not really a zip", "list.xlsx")


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(FileProblem, match="empty"):
        read_table(b"\n\n", "x.csv")


def test_a_table_with_short_rows_reads_the_missing_cells_as_empty() -> None:
    parsed = parse_customers(Table(["name", "phone", "email"], [(2, ["Ann"])]), now=NOW)
    assert parsed.rows[0].customer == {"name": "Ann", "external_ref": parsed.rows[0].key}


# --- the command's pure parts ---------------------------------------------------------------------


def test_rows_whose_identity_a_customer_in_contacts_holds_are_duplicates_unless_imported_before() -> None:
    parsed = _parse("name,phone,email,external_ref\nAnn,13800138000,ann@x.cn,A\nBob,13900139000,,B\n")
    holder = {"id": "0190-1", "name": "Ann Lee"}
    found = existing_duplicates(parsed.rows, {"A": None, "B": {"id": "b", "name": "Bob"}},
                                {("phone", "+8613800138000"): holder, ("email", "ann@x.cn"): holder,
                                 ("phone", "+8613900139000"): {"id": "other", "name": "Bobby"}})
    assert len(found) == 1
    assert str(found[0]) == "line 2: phone +8613800138000, email ann@x.cn already belongs to 'Ann Lee' (0190-1)"


def test_the_summary_of_a_dry_run_says_nothing_was_written() -> None:
    report = CustomerImportReport(read=3, valid=2, already_imported=1, ignored=["Foo"], stage_s={"parse": 0.1,
                                                                                             "check": 0.2})
    text = summary(report, CustomerImportOptions(path=Path("list.csv"), contacts_url="", token="", dry_run=True))
    assert "read 3 rows from list.csv: 2 valid, 0 bad" in text
    assert "columns not imported: Foo" in text
    assert "dry run: nothing written; 1 already imported" in text


def test_the_command_takes_customers_with_a_map_and_a_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr("kehu.customer_import.run_cli", lambda args: seen.append(args) or 0)
    assert cli.main(["import", "customers", "list.xlsx", "--dry-run", "--map", "客户名=name"]) == 0
    assert seen[0].file == Path("list.xlsx") and seen[0].dry_run and seen[0].mapping == "客户名=name"


def test_the_progress_bar_is_plain_lines_when_stderr_is_not_a_terminal() -> None:
    from kehu.importer import Progress

    err = io.StringIO()
    progress = Progress(err, "customers", 100)
    for _ in range(10):
        progress.advance(10)
    progress.close()
    lines = err.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in err.getvalue() and lines[-1].startswith("customers 100/100")
    assert "/s" in lines[-1]


# --- the command against a contacts that has the identities route (a fake one) -------------------


async def test_batches_of_at_most_1000_then_extra_identities_and_a_held_one_is_a_bad_row(tmp_path: Path) -> None:
    rows = ["姓名,手机,会员卡号,微信"] + [f"客户{i},{13800000000 + i},{'VIP' + str(i) if i < 3 else ''},"
                                          f"{'wx' + str(i) if i == 0 else ''}" for i in range(1500)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    batches: list[int] = []
    linked: list[tuple[str, dict[str, str]]] = []

    def contacts(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json={"paths": {"/customers/batch": {}, IDENTITIES: {}}})
        if request.url.path == "/customers/batch":
            items = orjson.loads(request.content)["customers"]
            batches.append(len(items))
            return httpx.Response(200, json={"items": [
                {"index": i, "id": f"id-{c['phone']}", "external_ref": c["external_ref"], "created": True}
                for i, c in enumerate(items)]})
        body = orjson.loads(request.content)
        linked.append((request.url.path, body))
        if body["value"] == "VIP2":
            return httpx.Response(409, json={"detail": "membership_card VIP2 belongs to 张三"})
        return httpx.Response(201, json=body)

    options = CustomerImportOptions(path=path, contacts_url="http://contacts", token="t",
                                    transport=httpx.MockTransport(contacts))
    out = io.StringIO()
    report = await run_customer_import(options, out=out, err=io.StringIO())

    assert report.fatal is None and sorted(batches) == [500, 1000]
    assert report.created == 1500 and report.identities_linked == 3
    assert ("/customers/id-+8613800000000/identities", {"kind": "other", "value": "wx0", "label": "WeChat"}) in linked
    assert "line 4: membership_card: membership_card VIP2 belongs to 张三" in out.getvalue()
    assert report.exit_code == 1


async def test_a_dry_run_without_contacts_still_checks_the_file_and_says_what_it_could_not(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("name,phone\nAnn,12345\nBob,13800138000\n", encoding="utf-8")
    options = CustomerImportOptions(path=path, contacts_url="http://127.0.0.1:9", token="t", dry_run=True,
                                    retry_delays=(0.01,))
    out = io.StringIO()
    report = await run_customer_import(options, out=out, err=io.StringIO())

    assert report.fatal is None and report.exit_code == 1
    assert "line 2: phone: '12345' is not a valid phone number" in out.getvalue()
    assert report.not_checked and "unreachable" in report.not_checked
    assert "not compared with the customers in contacts" in summary(report, options)
