"""The console over HTTP on the real cluster: sign-in, sessions, CSRF, lock-out, roles, the person's
identity reaching the services, forms, and a service that is down."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually
from tests.console_support import PASSWORD, ConsoleCluster, console_cluster, csrf_of, key_of

pytestmark = pytest.mark.database
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
async def cc(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleCluster]:
    home: Path = tmp_path_factory.mktemp("console")
    async with console_cluster(pg_url, home, console_sign_in_attempts=3, console_lockout_minutes=1) as running:
        yield running


async def _post_sign_in(cc: ConsoleCluster, name: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=cc.url) as client:
        page = await client.get("/sign-in")
        return await client.post("/sign-in", data={"name": name, "password": password, "csrf": csrf_of(page.text)})


async def test_a_wrong_password_says_so_and_signs_nobody_in(cc: ConsoleCluster) -> None:
    response = await _post_sign_in(cc, "mgr", "wrong password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "kehu_session" not in response.cookies
    assert (await _post_sign_in(cc, "nobody-at-all", "whatever!!")).status_code == 401


async def test_repeated_failures_lock_the_account_even_for_the_right_password(cc: ConsoleCluster) -> None:
    await cc.sql("INSERT INTO people (id, name, display_name, role, locale, password_hash, created_at, "
                 "password_changed_at) SELECT gen_random_uuid(), 'locky', 'L', 'sales', 'en', password_hash, now(), "
                 "now() FROM people WHERE name = 'wang'")
    for _ in range(3):
        assert (await _post_sign_in(cc, "locky", "not it at all")).status_code == 401
    locked = await _post_sign_in(cc, "locky", PASSWORD)
    assert locked.status_code == 429
    assert "已锁定" in locked.text
    await cc.sql("UPDATE sign_in_failures SET failed_at = failed_at - interval '2 minutes' WHERE name = 'locky'")
    assert (await _post_sign_in(cc, "locky", PASSWORD)).status_code == 303  # the lock-out ran out


async def test_the_session_cookie_is_httponly_and_samesite(cc: ConsoleCluster) -> None:
    response = await _post_sign_in(cc, "mgr", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "kehu_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    stored = await cc.sql("SELECT token_sha256 FROM sessions")
    token = re.search(r"kehu_session=([^;]+)", cookie)
    assert token and all(r["token_sha256"] != token.group(1) for r in stored)  # only its digest is kept


async def test_sign_in_without_its_csrf_token_is_refused(cc: ConsoleCluster) -> None:
    async with httpx.AsyncClient(base_url=cc.url) as client:
        response = await client.post("/sign-in", data={"name": "mgr", "password": PASSWORD})
    assert response.status_code == 403


async def test_a_page_without_a_session_goes_to_sign_in_and_back(cc: ConsoleCluster) -> None:
    async with httpx.AsyncClient(base_url=cc.url) as client:
        response = await client.get("/customers?q=zw")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/customers%3Fq%3Dzw"
        fragment = await client.get("/", headers={"X-Kehu-Fragment": "board"})
        assert fragment.status_code == 401 and fragment.headers["x-kehu-sign-in"] == "/sign-in"
        page = await client.get("/sign-in", params={"next": "/customers?q=zw"})
        signed = await client.post("/sign-in", data={"name": "mgr", "password": PASSWORD, "csrf": csrf_of(page.text),
                                                     "next": "/customers?q=zw"})
        assert signed.status_code == 303 and signed.headers["location"] == "/customers?q=zw"


async def test_an_idle_session_ends(cc: ConsoleCluster) -> None:
    async with cc.signed_in("mgr", follow=False) as client:
        assert (await client.get("/people")).status_code == 403  # signed in (a manager is not an admin)
        await cc.sql("UPDATE sessions SET seen_at = seen_at - interval '9 hours'")
        response = await client.get("/")
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_forms_need_the_session_csrf_token(cc: ConsoleCluster) -> None:
    async with cc.signed_in("boss") as client:
        before = await cc.cluster.get("contacts", "/customers", limit=500)
        response = await client.post("/customers/new", data={"name": "Forged", "idempotency_key": str(uuid.uuid4())})
        assert response.status_code == 403
        assert "表单已过期" in response.text
        after = await cc.cluster.get("contacts", "/customers", limit=500)
        assert len(after.json()["items"]) == len(before.json()["items"])
        response = await client.post("/sign-out", data={"csrf": "not the token"})
        assert response.status_code == 403
        assert (await client.get("/")).status_code == 200  # still signed in


async def test_sign_out_ends_the_session(cc: ConsoleCluster) -> None:
    async with cc.signed_in("mgr") as client:
        page = await client.get("/")
        response = await client.post("/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"
        client.cookies.clear()
    again = httpx.AsyncClient(base_url=cc.url, cookies={"kehu_session": "x"})
    async with again:
        assert (await again.get("/")).status_code == 303


async def test_a_role_without_permission_gets_a_page_that_says_so(cc: ConsoleCluster) -> None:
    customer = await cc.cluster.customer("只读测试")
    async with cc.signed_in("viewer") as client:
        page = await client.get("/people")
        assert page.status_code == 403
        assert "people:admin" in page.text and "无权" in page.text
        card = await client.get(f"/customers/{customer}")
        assert card.status_code == 200 and 'action="/customers/' + customer + '/orders"' not in card.text
        response = await client.post(f"/customers/{customer}/orders", data={"csrf": csrf_of(card.text)})
        assert response.status_code == 403


async def test_the_person_acts_in_the_services_and_a_retried_form_writes_once(cc: ConsoleCluster) -> None:
    async with cc.signed_in("wang") as client:
        form = await client.get("/customers/new")
        data = {"csrf": csrf_of(form.text), "idempotency_key": key_of(form.text, "/customers/new"),
                "name": "李娜", "kind": "person", "phone": "139 0013 9000", "category": "potential"}
        first = await client.post("/customers/new", data=data, follow_redirects=False)
        again = await client.post("/customers/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    customer_id = first.headers["location"].split("/")[2].split("?")[0]
    stored = (await cc.cluster.get("contacts", f"/customers/{customer_id}")).json()
    assert stored["owner"] == "wang"  # a salesperson's new customer is theirs
    assert stored["phone"] == "+8613900139000"
    found = (await cc.cluster.get("contacts", "/customers", phone="13900139000")).json()["items"]
    assert len(found) == 1


async def test_a_validation_error_is_shown_at_its_field_with_what_was_typed(cc: ConsoleCluster) -> None:
    customer = await cc.cluster.customer("表单测试")
    async with cc.signed_in("boss") as client:
        card = await client.get(f"/customers/{customer}")
        response = await client.post(f"/customers/{customer}/orders", data={
            "csrf": csrf_of(card.text), "idempotency_key": key_of(card.text, f"/customers/{customer}/orders"),
            "channel": "store", "lines[0].sku": "茶叶-001", "lines[0].quantity": "abc", "lines[0].unit_price": "12.50",
        })
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="f-lines\[0\]\.quantity"[^>]*value="abc"[^>]*aria-invalid="true"', html, re.S)
    assert 'id="e-f-lines[0].quantity" role="alert"' in html
    found = re.search(r'id="e-f-lines\[0\]\.quantity" role="alert">([^<]*)<', html)
    assert found and found.group(1) == "请填写有效的数字。", found  # the service says it in English, with a code
    assert 'value="茶叶-001"' in html and 'value="12.50"' in html
    orders = (await cc.cluster.get("orders", "/orders", customer_id=customer)).json()["items"]
    assert orders == []


async def test_a_service_that_is_down_shows_on_the_part_that_needs_it(cc: ConsoleCluster) -> None:
    async with cc.signed_in("boss") as client:
        await cc.cluster.stop("tickets")
        try:
            today = await client.get("/")
        finally:
            settings = cc.settings.model_copy(update={"tickets_url": cc.cluster.urls["tickets"]})
            database = cc.cluster.database_urls["tickets"].rsplit("/", 1)[1]
            await cc.cluster.start("tickets", settings, database)
    assert today.status_code == 200, today.text
    assert "工单服务 暂时无响应" in today.text  # the complaints part says which service
    assert "老客逾期未购" in today.text  # the alerts part still renders


async def test_people_api_for_kehu_user(cc: ConsoleCluster) -> None:
    api = f"{cc.url}/api/people"
    admin = {"Authorization": f"Bearer {cc.cluster.tokens['admin']}"}
    async with httpx.AsyncClient() as http:
        assert (await http.get(api)).status_code == 401
        sales = {"Authorization": f"Bearer {cc.cluster.tokens['sales']}"}
        assert (await http.get(api, headers=sales)).status_code == 403
        body = {"name": "Liu.Yang", "role": "sales", "owner": "liu", "password": "a long password"}
        created = await http.post(api, json=body, headers={**admin, "Idempotency-Key": "k1"})
        assert created.status_code == 201 and created.json()["name"] == "liu.yang"
        replay = await http.post(api, json=body, headers={**admin, "Idempotency-Key": "k1"})
        assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true"
        taken = await http.post(api, json=body, headers=admin)
        assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "name"
        short = await http.post(api, json={**body, "name": "x2", "password": "short"}, headers=admin)
        assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"
        listed = (await http.get(api, headers=admin)).json()["items"]
        assert "liu.yang" in [p["name"] for p in listed]
        disabled = await http.post(f"{api}/liu.yang/disable", headers=admin)
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert (await _post_sign_in(cc, "liu.yang", "a long password")).status_code == 401  # disabled


@pytest.mark.contract
async def test_schemathesis_finds_no_failure_on_the_console_api(cc: ConsoleCluster) -> None:
    """The console's own API (`/api/people`, health, metrics), as the services' are checked."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "st"), "--config-file", str(ROOT / "schemathesis.toml"), "run",
        cc.url + "/openapi.json", "-H", f"Authorization: Bearer {cc.cluster.tokens['admin']}",
        "--max-examples", "3", "--seed", "9", "--workers", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    try:
        output, _ = await process.communicate()
        assert await process.wait() == 0, f"schemathesis found failures on the console:\n{output.decode()[-8000:]}"
    finally:  # its stateful phase sets passwords and disables accounts it finds: the other tests need them
        await cc.restore_people()


async def _regular_gone_quiet(cc: ConsoleCluster, name: str, owner: str) -> str:
    """A customer who bought every 12 days and stopped 40 days ago: insights raises alerts on them."""
    customer = await cc.cluster.customer(name, owner=owner)
    now = datetime.now(UTC)
    for i in range(8):
        when = now - timedelta(days=40 + 12 * (7 - i))
        response = await cc.cluster.post("orders", "/orders", {
            "customer_id": customer, "channel": "store", "occurred_at": when.isoformat(),
            "lines": [{"sku": "茶叶", "quantity": "2", "unit_price": "45.00"}]})
        assert response.status_code == 201, response.text

    async def overdue() -> bool:
        alerts = (await cc.cluster.get("insights", "/alerts", customer_id=customer, status="open")).json()["items"]
        return any(a["kind"] == "purchase_overdue" for a in alerts)

    await eventually(overdue, timeout=45)
    return customer


async def test_search_and_filters_reach_contacts_and_insights(cc: ConsoleCluster) -> None:
    quiet = await _regular_gone_quiet(cc, "曾小贤", owner="wang")
    await cc.cluster.customer("Zeng Trading Co", kind="company", external_ref="ZT-0042")
    async with cc.signed_in("mgr") as client:
        for query in ("小贤", "zengxiaoxian", "zxx", "cxx"):  # 曾 reads zeng and ceng
            page = await client.get("/customers", params={"q": query})
            assert page.status_code == 200 and "曾小贤" in page.text, query
        by_ref = await client.get("/customers", params={"q": "zt-00"})
        assert "Zeng Trading Co" in by_ref.text and "曾小贤" not in by_ref.text
        alerted = await client.get("/customers", params={"alert": "1"})
        assert f'href="/customers/{quiet}"' in alerted.text and "Zeng Trading Co" not in alerted.text
        part = await client.get("/customers", params={"q": "zxx"}, headers={"X-Kehu-Fragment": "results"})
        assert part.text.lstrip().startswith('<div data-part="results">') and "<html" not in part.text


async def test_an_alert_handled_in_the_console_shows_who_on_the_list_and_the_timeline(cc: ConsoleCluster) -> None:
    customer = await _regular_gone_quiet(cc, "孙丽", owner="sun")
    async with cc.signed_in("wang") as client:  # sun's customer: outside a salesperson's scope, even on everyone's
        assert "孙丽" not in (await client.get("/", params={"everyone": "1"})).text
        assert "孙丽" not in (await client.get("/")).text
    async with cc.signed_in("mgr") as client:
        today = await client.get("/", params={"everyone": "1"})
        assert "孙丽" in today.text and "老客逾期未购" in today.text
        worklist = await client.get("/alerts", params={"kind": "purchase_overdue", "owner": "sun"})
        alert_id = re.search(r'action="/alerts/([0-9a-f-]+)/acknowledge"', worklist.text)
        assert alert_id
        action = f"/alerts/{alert_id.group(1)}/acknowledge"
        done = await client.post(action, data={
            "csrf": csrf_of(worklist.text), "idempotency_key": key_of(worklist.text, action),
            "note": "已电话联系，下周来店", "back": "/alerts?kind=purchase_overdue&handled=all"}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/alerts?kind=purchase_overdue")
        handled = await client.get("/alerts", params={"kind": "purchase_overdue", "handled": "yes"})
        assert "已由 Manager Liu 处理" in handled.text  # the name the console shows for mgr
        card = await client.get(f"/customers/{customer}")
        assert "已电话联系，下周来店" in card.text  # on the customer's timeline


async def test_segments_and_stages_as_charts_that_open_the_list(cc: ConsoleCluster) -> None:
    await _regular_gone_quiet(cc, "周强", owner="zhou")
    async with cc.signed_in("mgr") as client:
        page = await client.get("/segments")
    assert page.status_code == 200
    assert page.text.count('role="img"') == 4  # customers and value, per segment and per stage
    assert 'href="/customers?segment=champions"' in page.text and 'href="/customers?stage=decline"' in page.text


async def test_a_page_says_how_long_it_took_and_how_much_of_that_it_waited_on_services(cc: ConsoleCluster) -> None:
    async with cc.signed_in("mgr") as client:
        response = await client.get("/segments")  # two insights calls at once
    assert response.status_code == 200, response.text[-500:]
    timing = {name: float(ms) for name, ms in re.findall(r"(\w+);dur=([\d.]+)", response.headers["server-timing"])}
    assert set(timing) == {"total", "services", "insights"}
    assert timing["total"] >= timing["services"] > 0
