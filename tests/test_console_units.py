"""The console's view code without a server: accounts and sessions rules, catalogues, formats,
charts, forms and the live feed's reading of a record."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from babel.messages.extract import extract_from_dir

from console import accounts, catalogue
from console.charts import Bar, Purchase, Rhythm, bars_svg, rhythm_description, rhythm_svg, rhythm_window
from console.forms import form_errors
from console.i18n import Texts, negotiate
from console.live import change_of
from console.pages.alerts import alert_query
from console.pages.customer import purchases_by_day, timeline_view
from console.services import ServiceRefused

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ZH, EN = Texts("zh-CN"), Texts("en")


# --- accounts, lock-out, sessions --------------------------------------------------------------


def test_passwords_are_argon2id_and_checked() -> None:
    hashed = accounts.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert accounts.password_matches(hashed, "correct horse battery")
    assert not accounts.password_matches(hashed, "correct horse batterY")
    assert not accounts.password_matches(None, "anything")  # an unknown account never matches
    assert not accounts.password_matches("not a hash", "x")


def test_lock_out_after_the_allowed_failures_within_the_window() -> None:
    rule = accounts.LockOut(attempts=3, minutes=15)
    two = [NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)]
    assert accounts.locked_until(two, rule, NOW) is None
    three = [*two, NOW - timedelta(seconds=10)]
    assert accounts.locked_until(three, rule, NOW) == NOW - timedelta(seconds=10) + timedelta(minutes=15)
    # failures older than the window do not count
    old = [NOW - timedelta(minutes=20), NOW - timedelta(minutes=18), NOW - timedelta(minutes=1)]
    assert accounts.locked_until(old, rule, NOW) is None


def test_sessions_end_when_idle_or_too_old() -> None:
    rule = accounts.SessionRule(idle=timedelta(hours=8), longest=timedelta(days=7))
    opened = accounts.open_session(rule, NOW)
    assert opened.token_sha256 == accounts.session_digest(opened.token) != opened.token
    assert opened.expires_at == NOW + timedelta(days=7)
    assert accounts.session_alive(NOW, opened.expires_at, rule, NOW + timedelta(hours=7))
    assert not accounts.session_alive(NOW, opened.expires_at, rule, NOW + timedelta(hours=8, seconds=1))
    assert not accounts.session_alive(NOW + timedelta(days=7), opened.expires_at, rule, NOW + timedelta(days=7))


@pytest.mark.parametrize(("target", "expected"), [
    ("/customers?q=zw", "/customers?q=zw"), (None, "/"), ("", "/"), ("https://evil.example/", "/"),
    ("//evil.example/x", "/"), ("/\\evil.example", "/"), ("customers", "/"),
])
def test_after_sign_in_only_a_path_of_this_console(target: str | None, expected: str) -> None:
    assert accounts.safe_next(target) == expected


def test_csrf_tokens_compare_exactly() -> None:
    assert accounts.csrf_matches("abc", "abc")
    assert not accounts.csrf_matches("abc", "abd")
    assert not accounts.csrf_matches("abc", None)
    assert not accounts.csrf_matches("abc", "")


@pytest.mark.parametrize("name", ["a", "Has Space", "-lead", "x" * 33, "张三"])
def test_account_names_are_plain(name: str) -> None:
    with pytest.raises(ValueError, match="characters"):
        accounts.NewPerson(name=name, role="sales", password="long enough pw")


def test_account_names_are_lower_cased() -> None:
    assert accounts.NewPerson(name=" Wang.Fang ", role="sales", password="long enough pw").name == "wang.fang"


# --- catalogues and locale -------------------------------------------------------------------


def test_every_text_has_both_translations() -> None:
    assert catalogue.missing("zh_CN") == []
    assert catalogue.missing("en") == []


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_entry_has_one_translation_and_one_key(locale: str) -> None:
    # a merge that keeps both sides of an entry leaves two msgstr lines (babel quietly takes one) or
    # the same msgid twice
    path = catalogue.HERE / "locales" / f"{locale}.po"
    entries = path.read_text(encoding="utf-8").split("\n\n")
    keys = [tuple(ln for ln in e.splitlines() if ln.startswith(("msgctxt", "msgid "))) for e in entries]
    assert [e for e in entries if sum(ln.startswith("msgstr ") for ln in e.splitlines()) > 1] == []
    assert len(keys) == len(set(keys))


def test_no_text_is_built_with_an_f_string_or_concatenation_inside_gettext() -> None:
    """Named placeholders only: a translator must see the whole sentence (UI.md 3)."""
    for path in (catalogue.HERE / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"_\(\s*f[\"']", text), path
        assert not re.search(r"_\([^)]*\)\s*~\s*_\(", text), path
    found = list(extract_from_dir(str(catalogue.HERE), catalogue.METHODS, keywords=catalogue.KEYWORDS))
    assert len(found) > 100


@pytest.mark.parametrize(("chosen", "cookie", "header", "expected"), [
    (None, None, None, "zh-CN"),
    (None, None, "en-US,en;q=0.9", "en"),
    (None, None, "fr-FR,zh-TW;q=0.8", "zh-CN"),
    (None, "en", "zh-CN", "en"),
    ("zh-CN", "en", "en", "zh-CN"),
    ("xx", "yy", "de", "zh-CN"),
])
def test_locale_person_then_cookie_then_browser_then_chinese(chosen: str | None, cookie: str | None,
                                                              header: str | None, expected: str) -> None:
    assert negotiate(chosen, cookie, header) == expected


def test_money_the_chinese_way() -> None:
    assert ZH.money("1234.5") == "¥1,234.50"
    assert ZH.money(Decimal("-3")) == "-¥3.00"
    assert ZH.money(None) == "—"
    assert ZH.money_short("123456") == "¥12.3万"
    assert ZH.money_short("250000000") == "¥2.5亿"
    assert EN.money_short("123456") == "¥123.5k"
    assert ZH.money_short("999") == "¥999"


def test_plurals_in_english_and_one_form_in_chinese() -> None:
    assert EN.ngettext("%(num)d day", "%(num)d days", 1) == "1 day"
    assert EN.ngettext("%(num)d day", "%(num)d days", 3) == "3 days"
    assert ZH.ngettext("%(num)d day", "%(num)d days", 3) == "3 天"


def test_words_with_a_context_are_told_apart() -> None:
    assert ZH.pgettext("category", "potential") == "潜在客户"
    assert ZH.pgettext("segment", "potential") == "潜力客户"
    assert (ZH.gettext("Name"), ZH.pgettext("customer", "Name")) == ("用户名", "客户名称")  # sign-in vs a customer's


# --- charts ----------------------------------------------------------------------------------


def _rhythm(today: date = date(2026, 12, 6)) -> Rhythm:
    days = [date(2026, 9, 1) + timedelta(days=12 * i) for i in range(6)]  # last: 2026-10-31
    purchases = [Purchase(d, Decimal("88.00")) for d in days]
    return Rhythm(purchases, today, 12.0, date(2026, 11, 22), date(2026, 11, 30))


def test_the_rhythm_picture_draws_purchases_expected_day_and_overdue_line() -> None:
    svg = str(rhythm_svg(_rhythm(), EN, "Purchases over time"))
    assert svg.count('class="purchase"') == 6
    assert 'class="expected-line"' in svg and "expected 2026-11-22" in svg
    assert 'class="overdue-line"' in svg and "overdue from 2026-11-30" in svg
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg


def test_the_rhythm_in_words() -> None:
    words = rhythm_description(_rhythm(), EN)
    assert "Usually buys every 12 days." in words
    assert "Last purchase 36 days ago." in words
    assert "Overdue for 6 days." in words
    assert "每 12 天" in rhythm_description(_rhythm(), ZH)


def test_the_rhythm_window_ends_after_today_and_the_overdue_line_and_starts_at_most_two_years_back() -> None:
    r = _rhythm()
    start, end = rhythm_window(r)
    assert start == date(2026, 9, 1) - timedelta(days=7)
    assert end == date(2026, 12, 13)
    long_ago = Rhythm([Purchase(date(2015, 1, 1), Decimal(1)), *r.purchases], r.today, 12.0, None, None)
    assert rhythm_window(long_ago)[0] == end - timedelta(days=730)


def test_chart_text_is_escaped() -> None:
    svg = str(bars_svg([Bar("<script>", 3, "3", "/customers?segment=x&y=1")], "t", "d", "c"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'href="/customers?segment=x&amp;y=1"' in svg


# --- forms, pages' pure helpers --------------------------------------------------------------


def test_service_errors_land_at_their_fields_and_the_rest_in_the_summary() -> None:
    refused = ServiceRefused("orders", 422, {"detail": "invalid", "errors": [
        {"field": "body.lines[0].quantity", "message": "not a number"},
        {"field": "lines[0].sku", "message": "String should have at least 1 character", "code": "string_too_short",
         "context": {"min_length": 1}},
        {"field": "name", "message": "String should have at most 200 characters", "code": "string_too_long",
         "context": {"max_length": 200}},
        {"field": "body.currency", "message": "not taken"},
    ]})
    errors, summary = form_errors(refused, ["lines[0].quantity", "lines[0].sku", "name", "channel"], ZH)
    assert errors == {"lines[0].quantity": "not a number", "lines[0].sku": "必填。", "name": "最多 200 个字符。"}
    assert summary == "currency: not taken"
    assert form_errors(refused, ["lines[0].sku"], EN)[0] == {"lines[0].sku": "Required."}
    only_detail = ServiceRefused("orders", 409, {"detail": "external_ref taken"})
    assert form_errors(only_detail, ["channel"], ZH) == ({}, "external_ref taken")


def test_purchases_are_summed_per_shop_day() -> None:
    from zoneinfo import ZoneInfo

    events = [
        {"type": "OrderPlaced", "occurred_at": "2026-11-01T15:30:00+00:00", "data": {"total": "10.00"}},  # 23:30 Shanghai
        {"type": "OrderPlaced", "occurred_at": "2026-11-01T16:30:00+00:00", "data": {"total": "5.00"}},  # next day there
        {"type": "OrderPlaced", "occurred_at": "2026-11-01T10:00:00+00:00", "data": {"total": "2.50"}},
        {"type": "ComplaintFiled", "occurred_at": "2026-11-01T10:00:00+00:00", "data": {}},
    ]
    got = purchases_by_day(events, ZoneInfo("Asia/Shanghai"))
    assert got == [Purchase(date(2026, 11, 1), Decimal("12.50")), Purchase(date(2026, 11, 2), Decimal("5.00"))]


def test_the_timeline_newest_first_by_month_with_type_and_preset() -> None:
    events = [{"type": t, "occurred_at": when} for t, when in [
        ("OrderPlaced", "2026-10-01T10:00:00+00:00"), ("ComplaintFiled", "2026-11-20T10:00:00+00:00"),
        ("OrderPlaced", "2026-12-01T10:00:00+00:00")]]
    months, more = timeline_view(events, kind="", days=None, shown=2, moment=NOW)
    assert [m for m, _ in months] == ["2026-12", "2026-11"] and more
    months, more = timeline_view(events, kind="OrderPlaced", days=30, shown=50, moment=NOW)
    assert [[e["occurred_at"][:10] for e in items] for _, items in months] == [["2026-12-01"]] and not more


def test_the_alert_worklist_query() -> None:
    assert alert_query("", "", None, "all") == [("status", "open")]
    query = dict(alert_query("churn_risk", "wang", 7, "no"))
    assert query["kind"] == "churn_risk" and query["owner"] == "wang" and query["acknowledged"] == "false"
    assert datetime.fromisoformat(query["raised_before"]) < datetime.now(UTC) - timedelta(days=6, hours=23)
    assert "kind" not in dict(alert_query("made_up", "", None, "all"))


def test_the_live_feed_reads_the_cloudevents_headers() -> None:
    change = change_of("kehu.tickets", [("ce_type", b"kehu.tickets.ComplaintFiled.v1"), ("ce_subject", b"c-1")])
    assert change is not None and change.type == "ComplaintFiled" and change.customer_id == "c-1"
    assert '"type": "ComplaintFiled"' in change.sse() and change.sse().startswith("event: change\n")
    assert change_of("kehu.tickets", [("other", b"x")]) is None
