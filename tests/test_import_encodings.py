"""`kehu import orders` reads a CSV in the encoding it was saved in, and says which.

Excel on Chinese Windows saves GB18030 (GBK): `'utf-8' codec can't decode byte 0xb3` is what a
shop met before the encoding was told from the bytes or given with ``--encoding``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kehu import cli
from kehu.importer import ImportOptions, ImportReport, run_import, summary
from shared.textfile import EncodingProblem, read_text

HISTORY = ("customer_ref,occurred_at,quantity,amount,name\n"
           "c-1,2024-03-01,2,19.00,王芳\n"
           "c-2,2024-03-02,1,4.20,陈杰\n"
           "c-3,2024-03-02,1,4.20,赵敏\n")


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "history.csv"
    path.write_bytes(data)
    return path


async def _dry_run(path: Path, encoding: str | None = None) -> tuple[ImportOptions, ImportReport]:
    options = ImportOptions(path=path, contacts_url="http://127.0.0.1:9", orders_url="http://127.0.0.1:9",
                            token="", dry_run=True, encoding=encoding)
    return options, await run_import(options, out=io.StringIO(), err=io.StringIO())


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_a_gb18030_file_with_chinese_names_is_told_apart_from_utf8(tmp_path: Path, encoding: str) -> None:
    decoded = read_text(_write(tmp_path, HISTORY.encode(encoding)))
    assert (decoded.text, decoded.encoding, decoded.detected) == (HISTORY, "gb18030", True)


@pytest.mark.parametrize(("data", "encoding"), [
    (HISTORY.encode("utf-8"), "utf-8"), (b"\xef\xbb\xbf" + HISTORY.encode("utf-8"), "utf-8-sig"),
    (HISTORY.encode("utf-16"), "utf-16")])
def test_utf8_with_or_without_bom_and_utf16_are_read_as_such(tmp_path: Path, data: bytes, encoding: str) -> None:
    decoded = read_text(_write(tmp_path, data))
    assert (decoded.text, decoded.encoding) == (HISTORY, encoding)


async def test_the_import_reads_the_chinese_names_and_says_the_encoding(tmp_path: Path) -> None:
    options, report = await _dry_run(_write(tmp_path, HISTORY.encode("gb18030")))

    assert report.fatal is None and report.valid == 3
    assert summary(report, options).splitlines()[0] == "read 3 rows from history.csv (as gb18030): 3 valid, 0 bad"


async def test_a_file_that_is_not_in_the_given_encoding_is_fatal_and_says_to_use_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path, HISTORY.encode("gb18030"))

    _, report = await _dry_run(path, encoding="utf-8")

    assert report.fatal == (f"{path}: not readable as utf-8 (byte 0xcd on line 2); give the file's encoding with "
                            "--encoding (gb18030 for Excel on Chinese Windows, big5, utf-8, ...)")
    _, given = await _dry_run(path, encoding="gb18030")
    assert given.fatal is None and given.valid == 3


def test_an_unknown_encoding_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EncodingProblem, match="unknown encoding 'gb9999'; give the file's encoding with --encoding"):
        read_text(_write(tmp_path, b"x"), "gb9999")


def test_the_command_takes_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, HISTORY.encode("gb18030"))
    assert cli.main(["import", "orders", str(path), "--dry-run", "--encoding", "gb18030"]) == 0
    assert "read 3 rows from history.csv (as gb18030): 3 valid, 0 bad" in capsys.readouterr().out
