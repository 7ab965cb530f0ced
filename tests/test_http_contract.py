"""The HTTP edge every route shares, on the real services: what independent clients found.

NUL characters and unknown query parameters are 422s naming the field, bodies are bounded (413),
every error status an operation answers is declared as problem details in its OpenAPI document,
``/docs`` works offline, and what needs no token is exactly what carries no customer data.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from shared.edge import QUERY_VALUE_MAX
from shared.settings import SERVICES, Settings
from tests.conftest import Cluster, own_cluster

# The HTTP edge does not change with the PostgreSQL version: these run once, on the embedded server;
# the SQL their requests reach is run on both servers by the database tests.
pytestmark = pytest.mark.contract

OPEN_PATHS = {"/docs", "/openapi.json", "/health/live", "/health/ready", "/metrics"}


@pytest.fixture(scope="module")
async def cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """One cluster for the module: these tests look at answers, not at a fresh state."""
    async with own_cluster(pg_url, tmp_path_factory.mktemp("edge-cluster")) as running:
        yield running


def _fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [e["field"] for e in response.json()["errors"]]


# --- 1. NUL characters -------------------------------------------------------------------------


async def test_text_with_a_nul_character_is_a_422_naming_the_field(cluster: Cluster) -> None:
    customer = await cluster.customer()

    response = await cluster.post("contacts", "/customers", {"name": "Li", "channel": "shop\u0000"})
    assert response.status_code == 422 and _fields(response) == ["channel"]

    response = await cluster.post("tickets", "/tickets",
                                  {"customer_id": customer, "kind": "complaint", "subject": "late\u0000"})
    assert response.status_code == 422 and _fields(response) == ["subject"]

    body = {"customer_id": customer, "channel": "store",
            "lines": [{"sku": "A1", "quantity": "1", "unit_price": "1"}, {"sku": "B\u0000", "quantity": "1",
                                                                         "unit_price": "1"}]}
    response = await cluster.post("orders", "/orders", body)
    assert response.status_code == 422 and _fields(response) == ["lines[1].sku"]

    response = await cluster.get("tickets", "/tickets", status="\u0000")
    assert response.status_code == 422 and _fields(response) == ["query.status"]

    response = await cluster.get("insights", "/alerts", owner="wang\u0000")
    assert response.status_code == 422 and _fields(response) == ["query.owner"]

    # An escaped backslash before `u0000` is no NUL: the text is stored as sent.
    response = await cluster.post("contacts", "/customers", {"name": "Li \\u0000"})
    assert response.status_code == 201 and response.json()["name"] == "Li \\u0000"


async def test_a_nul_in_a_header_never_reaches_a_route(cluster: Cluster) -> None:
    head = (f"POST /customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.tokens['admin']}\r\n"
            "Idempotency-Key: a\x00b\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n")
    answer = await _raw_exchange(cluster.urls["contacts"], head.encode(), b'{"name":"Li"}')
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]  # the HTTP parser refuses it


async def test_a_request_head_the_server_cannot_parse_is_the_declared_400(cluster: Cluster) -> None:
    query = "&".join(f"id={uuid.uuid4()}" for _ in range(2400))  # some 96 KB: httpx would refuse to send it
    head = f"GET /customers?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.tokens['admin']}\r\n\r\n"
    answer = await _raw_exchange(cluster.urls["contacts"], head.encode(), b"")
    document = (await cluster.http.get(cluster.urls["contacts"] + "/openapi.json")).json()
    declared = document["paths"]["/customers"]["get"]["responses"]["400"]["content"]
    assert answer.startswith(b"HTTP/1.1 400 ") and b"content-type: text/plain" in answer.lower()
    assert "text/plain" in declared


async def test_unknown_query_parameters_are_a_422_naming_them(cluster: Cluster) -> None:
    ref = f"card-{uuid.uuid4().hex[:8]}"
    await cluster.customer("Zhang", external_ref=ref)

    response = await cluster.get("contacts", "/customers", name="x")
    assert response.status_code == 422 and _fields(response) == ["query.name"]
    assert "external_ref" in response.json()["errors"][0]["message"]  # says what the route takes

    response = await cluster.get("contacts", "/customers", phone="null", **{"x-unknown": "42"})
    assert response.status_code == 422 and "query.x-unknown" in _fields(response)

    response = await cluster.get("orders", "/health/live", verbose="1")
    assert response.status_code == 422 and _fields(response) == ["query.verbose"]

    response = await cluster.get("orders", "/health/live", **{"a\x00": "1"})  # the name quoted as sent
    assert response.status_code == 422 and _fields(response) == ["query.a\x00"]

    response = await cluster.get("contacts", "/customers", external_ref=ref, limit=5)
    assert response.status_code == 200 and len(response.json()["items"]) == 1


async def test_query_values_are_bounded(cluster: Cluster) -> None:
    response = await cluster.get("contacts", "/customers", external_ref="x" * (QUERY_VALUE_MAX + 1))
    assert response.status_code == 422 and _fields(response) == ["query.external_ref"]

    response = await cluster.get("contacts", "/customers", external_ref="x" * QUERY_VALUE_MAX)
    assert response.status_code == 200

    too_many = [("id", str(uuid.uuid4())) for _ in range(501)]
    response = await cluster.http.get(cluster.urls["contacts"] + "/customers", params=too_many,
                                      headers=cluster.headers())
    assert response.status_code == 422 and _fields(response) == ["query.id"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_query_parameter_declares_its_bound(service: str) -> None:
    for path, operation in _operations(_document(service)):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            for schema in parameter["schema"].get("anyOf", [parameter["schema"]]):
                where = f"{path} ?{parameter['name']}"
                if schema.get("type") == "array":
                    assert "maxItems" in schema, f"{where}: a list without maxItems"
                if schema.get("type") == "string":
                    assert {"maxLength", "format", "enum", "const"} & set(schema), f"{where}: unbounded text"


async def test_routing_answers_name_what_the_path_takes(cluster: Cluster) -> None:
    base = cluster.urls["contacts"]
    # /customers/batch is not a customer id: the path takes POST only.
    answer = await cluster.http.get(base + "/customers/batch", headers=cluster.headers())
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    answer = await cluster.http.request("OPTIONS", base + "/customers", headers=cluster.headers())
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST"
    answer = await cluster.http.get(base + "/customers/not-an-id", headers=cluster.headers())
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_utf8_json_is_a_422(cluster: Cluster) -> None:
    answer = await cluster.http.post(cluster.urls["tickets"] + "/tickets", content=b"\xff\xfe{",
                                     headers=cluster.headers(**{"Content-Type": "application/json"}))
    assert answer.status_code == 422 and _fields(answer) == ["body"]


async def test_admin_outbox_paging_is_bounded(cluster: Cluster) -> None:
    answer = await cluster.get("orders", "/admin/outbox", after=-29918372609110786048, limit=10)
    assert answer.status_code == 422 and _fields(answer) == ["query.after"]
    answer = await cluster.get("orders", "/admin/outbox", limit=50_001)
    assert answer.status_code == 422 and _fields(answer) == ["query.limit"]


def _strings(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, list):
        return [s for item in schema for s in _strings(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema] if schema.get("type") == "string" else []
    return own + [s for value in schema.values() for s in _strings(value)]


@pytest.mark.parametrize("service", SERVICES)
def test_the_documents_say_free_text_holds_no_nul(service: str) -> None:
    """So that a client generating schema-valid text (schemathesis does) never sends one."""
    document = _document(service)
    params = [p for _, op in _operations(document) for p in op.get("parameters", [])]
    inputs = {k: v for k, v in document["components"]["schemas"].items() if k not in ("Problem", "FieldError")}
    for schema in _strings([inputs, params]):
        if not {"format", "enum", "const"} & set(schema):
            assert re.fullmatch(schema["pattern"], "a\x00b") is None, schema


# --- 2. request size ---------------------------------------------------------------------------


async def _raw_exchange(url: str, head: bytes, body: bytes) -> bytes:
    """Send a request head and part of a body, then read the answer without sending the rest."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_a_body_over_the_limit_is_a_413_before_it_is_read(cluster: Cluster) -> None:
    limit = Settings().max_body_bytes
    token = cluster.tokens["admin"]
    common = (f"POST /customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              "Content-Type: application/json\r\n")

    # Content-Length says 50 MB and nothing follows: answered from the header alone.
    answer = await _raw_exchange(cluster.urls["contacts"],
                                 f"{common}Content-Length: {50_000_000}\r\n\r\n".encode(), b"")
    assert answer.startswith(b"HTTP/1.1 413 ") and b"application/problem+json" in answer
    assert b"KEHU_MAX_BODY_BYTES" in answer

    # Chunked, no length: answered once the chunks pass the limit, the body never finished.
    chunk = b"x" * (limit + 1)
    answer = await _raw_exchange(cluster.urls["contacts"], f"{common}Transfer-Encoding: chunked\r\n\r\n".encode(),
                                 b"%x\r\n%s\r\n" % (len(chunk), chunk))
    assert answer.startswith(b"HTTP/1.1 413 ") and b"application/problem+json" in answer

    # 5 MB through an ordinary client.
    response = await cluster.http.post(cluster.urls["orders"] + "/orders/batch", content=b" " * 5_000_000,
                                       headers=cluster.headers(**{"Content-Type": "application/json"}))
    assert response.status_code == 413 and response.json()["title"] == "Content too large"


def test_the_largest_import_batch_fits_the_default_limit() -> None:
    """1000 customers, each text field at its longest in Chinese, as `kehu import` sends them."""
    now = "2026-12-06T10:00:00.123456+00:00"
    batch = {"customers": [{"name": "客" * 200, "external_ref": "卡" * 100, "registered_at": now,
                            "channel": "门" * 32, "owner": "王" * 64} for _ in range(1000)]}
    assert len(orjson.dumps(batch)) < Settings().max_body_bytes / 3


# --- 3. problem details in the OpenAPI documents ----------------------------------------------


def _document(service: str) -> dict[str, Any]:
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    return dict(module.create_app().openapi())


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, methods in document["paths"].items()
            for method, op in methods.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_answer_is_declared_as_problem_details(service: str) -> None:
    document = _document(service)
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for where, operation in _operations(document):
        responses = operation["responses"]
        expected = {"422"}
        if operation.get("security"):
            expected |= {"401", "403", "503"}
        if "requestBody" in operation:
            expected.add("413")
        assert expected <= set(responses), f"{where} declares {sorted(responses)}"
        for status, response in responses.items():
            if status[0] in "45" and status != "400" and where != "GET /health/ready":
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{where} {status}"


async def test_real_error_answers_are_the_declared_ones(cluster: Cluster) -> None:
    document = (await cluster.http.get(cluster.urls["orders"] + "/openapi.json")).json()
    place = document["paths"]["/orders"]["post"]["responses"]
    unknown = str(uuid.uuid4())
    answers = [
        await cluster.http.post(cluster.urls["orders"] + "/orders", json={}),
        await cluster.post("orders", "/orders", {}, role="readonly"),
        await cluster.post("orders", "/orders", {"customer_id": "x"}),
        await cluster.post("orders", "/orders", {"customer_id": unknown, "channel": "store",
                                                 "lines": [{"sku": "A", "quantity": "1", "unit_price": "1"}]}),
    ]
    assert [a.status_code for a in answers] == [401, 403, 422, 422]
    for answer in answers:
        assert str(answer.status_code) in place
        assert answer.headers["content-type"] == "application/problem+json"
    one = await cluster.get("orders", f"/orders/{unknown}")
    assert one.status_code == 404 and "404" in document["paths"]["/orders/{order_id}"]["get"]["responses"]


# --- 5. docs offline, and what needs no token -------------------------------------------------


async def test_docs_reference_only_assets_the_service_serves(cluster: Cluster) -> None:
    base = cluster.urls["contacts"]
    page = await cluster.http.get(base + "/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert len(references) >= 4, references  # script, stylesheet, icon, the document
    for reference in references:
        assert reference.startswith("/"), f"/docs loads {reference} from elsewhere"
        asset = await cluster.http.get(base + reference)
        assert asset.status_code == 200 and len(asset.content) > 0, reference
    assert "https://" not in page.text and "http://" not in page.text


async def test_only_documents_health_and_metrics_are_open(cluster: Cluster) -> None:
    for service in SERVICES:
        base = cluster.urls[service]
        for path in OPEN_PATHS:
            assert (await cluster.http.get(base + path)).status_code == 200, f"{service} {path}"
        document = (await cluster.http.get(base + "/openapi.json")).json()
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if path in OPEN_PATHS:
                    assert not operation.get("security"), f"{service} {path}"
                    continue
                assert operation.get("security") == [{"HTTPBearer": []}], f"{service} {method} {path}"
                concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
                answer = await cluster.http.request(method.upper(), base + concrete)
                assert answer.status_code == 401, f"{service} {method} {path}: {answer.status_code}"


async def test_metrics_carry_no_customer_data(cluster: Cluster) -> None:
    customer = await cluster.customer("Wang Fang", external_ref="card-secret-77", phone="+8613900000077")
    assert (await cluster.order(customer)).status_code == 201
    await cluster.get("contacts", f"/customers/{customer}")
    for service in SERVICES:
        text = (await cluster.http.get(cluster.urls[service] + "/metrics")).text
        for secret in (customer, "Wang Fang", "card-secret-77", "13900000077"):
            assert secret not in text, f"{service} /metrics shows {secret}"


# --- 6. an independent client: schemathesis ---------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


async def test_schemathesis_finds_no_failure_on_any_service(cluster: Cluster) -> None:
    """Every phase (stateful included) and every check, a few examples per operation: the README
    gives the full run. schemathesis.toml says, each with its reason, what no document can express."""

    async def run(service: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "st"), "--config-file", str(ROOT / "schemathesis.toml"), "run",
            cluster.urls[service] + "/openapi.json", "-H", f"Authorization: Bearer {cluster.tokens['admin']}",
            "--max-examples", "3", "--seed", "9", "--workers", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,  # the hooks' path
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        )
        output, _ = await process.communicate()
        return await process.wait(), output.decode(errors="replace")

    results = await asyncio.gather(*(run(service) for service in SERVICES))
    for service, (code, output) in zip(SERVICES, results, strict=True):
        assert code == 0, f"schemathesis found failures on {service}:\n{output[-8000:]}"
