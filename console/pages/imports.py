"""Import customers (导入客户; managers and admins): upload a CSV or XLSX, see what a dry run of
``kehu import customers`` would say, then import it as the signed-in person.

The page reads the file with the same parser as the command (``shared.customer_file``). Between
the preview and the import the console keeps nothing: the preview's form carries the file back
(base64), and the import parses it again, so what is imported is what was previewed. Each batch
of the import has an Idempotency-Key derived from the preview's, so pressing the button twice
registers nobody twice (and re-importing a file finds its rows by their key anyway).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from console.pages.import_words import row_reason
from console.services import ServiceRefused, Services
from console.web import Viewer, check_csrf, render, require_page, services, viewer
from shared.customer_file import (
    CustomerRow,
    FileProblem,
    Parsed,
    existing_duplicates,
    identities_of,
    parse_customers,
    parse_mapping,
    unique_by_key,
)
from shared.sheet import read_table

router = APIRouter(include_in_schema=False)
PERMISSION = "customers:assign"  # managers and admins: an import registers customers for everyone
MAX_UPLOAD_BYTES = 1024 * 1024  # about 10,000 customers; larger lists: `kehu import customers`
MAX_LOOKUPS = 5000  # values asked of contacts in a preview; beyond, the preview says it did not check
BATCH = 500  # customers per request: well within the console's per-call time limit
LOOKUPS_IN_FLIGHT = 8
SHOWN = 200  # bad rows and duplicates listed on the page


@router.get("/import", response_class=HTMLResponse)
async def import_page(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, PERMISSION)
    return _form(request, who)


def _form(request: Request, who: Viewer, *, status: int = 200, problem: str | None = None,
          mapping: str = "") -> HTMLResponse:
    return render(request, "import.html", who, status=status, step="upload", problem=problem, mapping=mapping,
                  max_bytes=MAX_UPLOAD_BYTES)


async def _posted(request: Request, who: Viewer) -> dict[str, Any]:
    # The preview's form carries the file back as base64 (a third larger than the file): parse
    # the form with room for it before check_csrf reads the (then cached) form.
    await request.form(max_part_size=2 * MAX_UPLOAD_BYTES)
    return await check_csrf(request, who)


def _too_large(who: Viewer, size: int) -> str:
    size_kb, limit_kb = f"{size / 1024:,.0f}", f"{MAX_UPLOAD_BYTES / 1024:,.0f}"
    return who.texts.gettext(
        "The file is %(size)s KB; the console takes files up to %(limit)s KB (about 10,000 customers). "
        "Split it, or import it with `kehu import customers` on the server.", size=size_kb, limit=limit_kb)


def _parse(request: Request, data: bytes, filename: str, mapping: str) -> Parsed:
    settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    table = read_table(data, filename, zone=zone)
    return parse_customers(table, mapping=parse_mapping(mapping), phone_region=settings.phone_region, zone=zone,
                           now=datetime.now(UTC))


@router.post("/import/preview", response_class=HTMLResponse)
async def preview(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, PERMISSION)
    form = await _posted(request, who)
    mapping = form.get("mapping", "").strip()
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _form(request, who, status=422, mapping=mapping, problem=who.texts.gettext("Choose a CSV or XLSX file."))
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _form(request, who, status=413, mapping=mapping, problem=_too_large(who, upload.size or len(data)))
    try:
        parsed = await asyncio.to_thread(_parse, request, data, upload.filename, mapping)
    except FileProblem as exc:
        return _form(request, who, status=422, mapping=mapping, problem=str(exc))
    checked = await _check_existing(services(request), who, parsed)
    existing, already = checked if checked else ([], 0)
    rows = unique_by_key(parsed.rows)
    return render(request, "import.html", who, step="preview", parsed=parsed, filename=upload.filename,
                  mapping=mapping, to_import=len(rows), checked=checked is not None, existing=existing,
                  already=already, shown=SHOWN, file_b64=base64.b64encode(data).decode(),
                  import_key=str(uuid.uuid4()), max_bytes=MAX_UPLOAD_BYTES,
                  reason=lambda bad: row_reason(who.texts, bad))


async def _check_existing(api: Services, who: Viewer, parsed: Parsed) -> tuple[list[Any], int] | None:
    """What contacts already holds, as the person sees it: rows imported before (by key) and rows
    whose phone belongs to a customer; None when the file asks too many questions for a preview."""
    refs: dict[str, dict[str, Any] | None] = {row.key: None for row in parsed.rows}
    phones: dict[tuple[str, str], dict[str, Any] | None] = {
        (kind, value): None for row in parsed.rows for kind, value in identities_of(row) if kind == "phone"}
    if len(refs) + len(phones) > MAX_LOOKUPS:
        return None
    lang = who.texts.accept_language
    gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def first(params: dict[str, str]) -> dict[str, Any] | None:
        async with gate:
            page = await api.get("contacts", "/customers", who.person, lang, params={**params, "limit": "1"})
        items = page["items"]
        return {"id": items[0]["id"], "name": items[0]["name"]} if items else None

    async def ref(key: str) -> None:
        refs[key] = await first({"external_ref": key})

    async def phone(value: str) -> None:
        phones[("phone", value)] = await first({"phone": value})

    await asyncio.gather(*[ref(k) for k in refs], *[phone(v) for _, v in phones])
    already = sum(1 for row in unique_by_key(parsed.rows) if refs[row.key] is not None)
    return existing_duplicates(parsed.rows, refs, phones), already


@router.post("/import/run", response_class=HTMLResponse)
async def run(request: Request, who: Viewer = Depends(viewer)) -> HTMLResponse:
    require_page(who, PERMISSION)
    form = await _posted(request, who)
    mapping, filename = form.get("mapping", ""), form.get("filename", "customers.csv")
    try:
        data = base64.b64decode(form.get("file_b64", ""), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        return _form(request, who, status=422, mapping=mapping, problem=who.texts.gettext("Choose a CSV or XLSX file."))
    if len(data) > MAX_UPLOAD_BYTES:
        return _form(request, who, status=413, mapping=mapping, problem=_too_large(who, len(data)))
    try:
        parsed = await asyncio.to_thread(_parse, request, data, filename, mapping)
    except FileProblem as exc:
        return _form(request, who, status=422, mapping=mapping, problem=str(exc))
    key = form.get("import_key") or str(uuid.uuid4())
    result = await _register(services(request), who, unique_by_key(parsed.rows), key)
    return render(request, "import.html", who, step="done", parsed=parsed, filename=filename, result=result,
                  shown=SHOWN, max_bytes=MAX_UPLOAD_BYTES, mapping=mapping, reason=lambda bad: row_reason(who.texts, bad))


async def _register(api: Services, who: Viewer, rows: list[CustomerRow], key: str) -> dict[str, Any]:
    """POST the rows in batches; a customer contacts refuses (a 422 naming it) is reported and the
    rest of its batch sent again, as ``kehu import customers`` does."""
    created, existed, refused = 0, 0, []
    lang = who.texts.accept_language
    for number, start in enumerate(range(0, len(rows), BATCH)):
        batch = rows[start:start + BATCH]
        attempt = 0
        while batch:
            body = {"customers": [row.customer for row in batch]}
            try:
                answer = await api.post("contacts", "/customers/batch", who.person, lang, body,
                                        idempotency_key=f"{key}-{number}-{attempt}")
            except ServiceRefused as exc:
                named = _named_items(exc)
                if exc.status != 422 or not named:
                    raise
                refused += [(batch[i].line, why) for i, why in sorted(named.items())]
                batch = [row for i, row in enumerate(batch) if i not in named]
                attempt += 1
                continue
            for item in answer["items"]:
                created += item["created"]
                existed += not item["created"]
            break
    return {"created": created, "existed": existed, "refused": refused}


def _named_items(refused: ServiceRefused) -> dict[int, str]:
    named: dict[int, str] = {}
    for name, error in refused.field_errors().items():
        if name.startswith("customers[") and "]" in name:
            index, _, field = name.removeprefix("customers[").partition("]")
            if index.isdigit():
                named[int(index)] = f"{field.lstrip('.')}: {error.get('message')}"
    return named
