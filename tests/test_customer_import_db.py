"""`kehu import customers` against a real contacts (and its database): import, re-run, dry run."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kehu.customer_import import CustomerImportOptions, run_customer_import
from tests.conftest import Cluster, own_cluster

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
async def shared_cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with own_cluster(pg_url, tmp_path_factory.mktemp("customer-import")) as running:
        yield running


def _options(cluster: Cluster, path: Path, **fields: object) -> CustomerImportOptions:
    return CustomerImportOptions(path=path, contacts_url=cluster.urls["contacts"], token=cluster.tokens["admin"],
                                 retry_delays=(0.1, 1.0, 3.0), timezone="Asia/Shanghai", **fields)  # type: ignore[arg-type]


async def _count(cluster: Cluster, query: str, *args: object) -> int:
    return int((await cluster.sql("contacts", query, *args))[0][0])


def _file(tmp_path: Path, tag: str) -> Path:
    """Three customers (one without a reference), a bad row, and one person twice."""
    path = tmp_path / f"{tag}.csv"
    path.write_text(
        "姓名,手机,邮箱,客户编号,分类,来源,标签,备注\n"
        f"王芳,1380013{tag[:4]},wf-{tag}@example.com,{tag}-1,意向,展会,\"茶叶,VIP\",爱喝龙井\n"
        f"李雷,1390013{tag[:4]},,{tag}-2,current,web,,\n"
        "韩梅梅,12345,,,,,,\n"
        f"欧阳娜娜,1370013{tag[:4]},,,,,,\n"
        f"欧阳娜娜,137 0013 {tag[:4]},,,,,,\n",
        encoding="gb18030")
    return path


def _tag() -> str:
    return f"{uuid.uuid4().int % 10_000:04d}{uuid.uuid4().hex[:4]}"


async def test_a_file_is_imported_and_importing_it_again_creates_nothing(shared_cluster: Cluster, tmp_path: Path) -> None:
    tag = _tag()
    path = _file(tmp_path, tag)
    out, err = io.StringIO(), io.StringIO()

    first = await run_customer_import(_options(shared_cluster, path), out=out, err=err)

    assert first.fatal is None and first.exit_code == 1  # the bad row
    assert "line 4: phone: '12345' is not a valid phone number" in out.getvalue()
    assert (first.created, first.existed) == (3, 0)
    rows = await shared_cluster.sql(
        "contacts", "SELECT name, phone, category, lead_source, tags, notes, external_ref FROM customers "
        "WHERE external_ref = $1", f"{tag}-1")
    assert [dict(r) for r in rows] == [{
        "name": "王芳", "phone": f"+861380013{tag[:4]}", "category": "prospective", "lead_source": "fair",
        "tags": ["茶叶", "VIP"], "notes": "爱喝龙井", "external_ref": f"{tag}-1"}]
    assert await _count(shared_cluster, "SELECT count(*) FROM customers WHERE name = '欧阳娜娜' AND phone = $1",
                        f"+861370013{tag[:4]}") == 1  # the same person twice: one customer
    assert await _count(shared_cluster, "SELECT count(*) FROM customers WHERE external_ref LIKE 'import:%' "
                        "AND phone = $1", f"+861370013{tag[:4]}") == 1

    again = await run_customer_import(_options(shared_cluster, path), out=io.StringIO(), err=io.StringIO())

    assert (again.created, again.existed) == (0, 3)
    assert await _count(shared_cluster, "SELECT count(*) FROM customers WHERE phone LIKE $1",
                        f"%0013{tag[:4]}") == 3


async def test_a_dry_run_writes_nothing_and_names_rows_contacts_already_holds(
    shared_cluster: Cluster, tmp_path: Path
) -> None:
    tag = _tag()
    holder = await shared_cluster.customer("王芳（门店）", phone=f"1380013{tag[:4]}")
    before = await _count(shared_cluster, "SELECT count(*) FROM customers")
    outbox = await _count(shared_cluster, "SELECT count(*) FROM outbox")
    out = io.StringIO()

    report = await run_customer_import(_options(shared_cluster, _file(tmp_path, tag), dry_run=True), out=out,
                                       err=io.StringIO())

    assert report.fatal is None and report.exit_code == 1
    assert await _count(shared_cluster, "SELECT count(*) FROM customers") == before
    assert await _count(shared_cluster, "SELECT count(*) FROM outbox") == outbox
    assert [(d.line, d.customer and d.customer["id"]) for d in report.existing] == [(2, holder)]
    text = out.getvalue()
    assert f"likely duplicate: line 2: phone +861380013{tag[:4]}" in text and "王芳（门店）" in text
    assert "likely duplicate: line 5: same name, phone and email 欧阳娜娜 also on line 6" in text.replace(
        f"phone +861370013{tag[:4]}, ", "")
    assert report.already_imported == 0


async def test_a_dry_run_after_an_import_counts_the_rows_as_imported_before(
    shared_cluster: Cluster, tmp_path: Path
) -> None:
    tag = _tag()
    path = _file(tmp_path, tag)
    await run_customer_import(_options(shared_cluster, path), out=io.StringIO(), err=io.StringIO())

    report = await run_customer_import(_options(shared_cluster, path, dry_run=True), out=io.StringIO(),
                                       err=io.StringIO())

    assert report.already_imported == 3
    assert report.existing == []  # their phones are their own, not another customer's


async def test_an_unreachable_contacts_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("name\nAnn\n", encoding="utf-8")
    options = CustomerImportOptions(path=path, contacts_url="http://127.0.0.1:9", token="t", retry_delays=(0.01,))
    report = await run_customer_import(options, out=io.StringIO(), err=io.StringIO())
    assert report.exit_code == 2 and report.fatal and "unreachable" in report.fatal
