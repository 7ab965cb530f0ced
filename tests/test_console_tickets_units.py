"""The tickets pages' words without a server: the SLA clock in business time ("剩 2 小时 15 分",
"超时 1 小时", "已暂停（等待客户）"), the worklist's order, the board's columns, what the nav counts,
and the resolution form as the tickets API takes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from console.i18n import Texts
from console.pages import ticket_view as tv
from console.pages.ticket_detail import refusal_words, resolution_body
from console.pages.tickets import _filtered, list_tickets
from console.services import ServiceRefused

ZH = Texts("zh-CN")
EN = Texts("en")
NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def sla(left: float | None, *, clock: str | None = "resolution", paused: bool = False,
        breached: bool | None = None) -> dict[str, Any]:
    return {"clock": clock, "due_at": None, "business_seconds_left": left, "paused": paused,
            "breached": (left is not None and left < 0) if breached is None else breached, "as_of": NOW.isoformat()}


def ticket(n: int, *, status: str = "open", left: float | None = 3600, responded: bool = False, paused: bool = False,
           resolved_days_ago: float | None = None, **more: Any) -> dict[str, Any]:
    resolved_at = (NOW - timedelta(days=resolved_days_ago)).isoformat() if resolved_days_ago is not None else None
    return {"id": f"t{n}", "status": status, "sla": sla(left, paused=paused),
            "first_response_at": NOW.isoformat() if responded else None, "resolved_at": resolved_at,
            "closed_at": None, "occurred_at": f"2026-12-0{n % 7 + 1}T01:00:00+00:00", "assignee": None,
            "queue": "service", "kind": "complaint", "category": "other", **more}


@pytest.mark.parametrize(("seconds", "zh", "en"), [
    (2 * 3600 + 15 * 60 + 59, "2 小时 15 分", "2 h 15 min"),
    (3 * 3600, "3 小时", "3 h"),
    (45 * 60 + 30, "45 分", "45 min"),
    (20, "不到 1 分", "under 1 min"),
    (27 * 3600, "27 小时", "27 h"),  # business hours, not days: a working day is what the calendar says
])
def test_durations_are_whole_business_minutes_in_hours_and_minutes(seconds: float, zh: str, en: str) -> None:
    assert tv.duration_words(ZH, seconds) == zh
    assert tv.duration_words(EN, seconds) == en


def test_the_clock_counts_down_then_says_how_long_overdue() -> None:
    left = tv.clock_of(ZH, sla(2 * 3600 + 15 * 60))
    assert (left.text, left.tone, left.which) == ("剩 2 小时 15 分", "running", "解决")
    assert tv.clock_of(EN, sla(2 * 3600 + 15 * 60)).text == "2 h 15 min left"
    soon = tv.clock_of(ZH, sla(90 * 60, clock="first_response"))
    assert (soon.text, soon.tone, soon.which) == ("剩 1 小时 30 分", "soon", "首次响应")
    late = tv.clock_of(ZH, sla(-3600))
    assert (late.text, late.tone) == ("超时 1 小时", "overdue")
    assert tv.clock_of(EN, sla(-3600)).text == "1 h overdue"


def test_a_paused_clock_and_no_clock_say_so() -> None:
    assert tv.clock_of(ZH, sla(5000, paused=True)).text == "已暂停（等待客户）"
    assert tv.clock_of(EN, sla(5000, paused=True)).tone == "paused"
    none = tv.clock_of(ZH, sla(None, clock=None))
    assert (none.text, none.tone) == ("无时限", "none")
    assert tv.clock_of(ZH, None).tone == "none"


def test_the_worklist_puts_the_most_overdue_first_then_by_time_left_then_paused_then_no_clock() -> None:
    items = [ticket(1, left=None), ticket(2, left=7200), ticket(3, left=-60), ticket(4, left=600),
             ticket(5, left=100, paused=True), ticket(6, left=-7200)]
    assert [t["id"] for t in tv.by_urgency(items)] == ["t6", "t3", "t4", "t2", "t5", "t1"]


def test_the_board_groups_by_status_and_keeps_only_recent_resolutions() -> None:
    items = [ticket(1), ticket(2, responded=True, left=-10), ticket(3, status="waiting_on_customer", paused=True),
             ticket(4, status="resolved", left=None, resolved_days_ago=1),
             ticket(5, status="closed", left=None, resolved_days_ago=3),
             ticket(6, status="resolved", left=None, resolved_days_ago=30), ticket(7, responded=True, left=-900)]
    columns = tv.board(items, NOW)
    assert list(columns) == ["new", "in_progress", "waiting", "resolved"]
    assert {k: [t["id"] for t in v] for k, v in columns.items()} == {
        "new": ["t1"], "in_progress": ["t7", "t2"], "waiting": ["t3"], "resolved": ["t4", "t5"]}
    assert tv.board([], NOW) == {"new": [], "in_progress": [], "waiting": [], "resolved": []}
    assert [tv.column_label(ZH, c) for c in columns] == ["新工单", "处理中", "等待客户", "近期已解决"]


def test_attention_is_overdue_or_breaching_within_two_business_hours_on_a_running_clock() -> None:
    assert tv.needs_attention(ticket(1, left=-1))
    assert tv.needs_attention(ticket(2, left=7200))
    assert not tv.needs_attention(ticket(3, left=7201))
    assert not tv.needs_attention(ticket(4, left=600, paused=True))  # waiting on the customer: not running out
    assert not tv.needs_attention(ticket(5, status="resolved", left=-5))
    assert tv.breaching_soon(ticket(6, left=600)) and not tv.breaching_soon(ticket(7, left=-600))
    assert tv.overdue(ticket(7, left=-600)) and not tv.overdue(ticket(6, left=600))


def test_the_filters_are_checked_on_what_the_service_answered() -> None:
    items = [ticket(1, assignee="wang", queue=None), ticket(2), ticket(3, assignee="mgr", queue=None, kind="feedback"),
             ticket(4, category="quality", left=-5)]
    pick = {"queue": "service", "mine": {"wang"}, "kind": "", "category": "", "sla": ""}
    assert [t["id"] for t in _filtered(items, view="mine", **pick)] == ["t1"]
    assert [t["id"] for t in _filtered(items, view="queue", **pick)] == ["t2", "t4"]
    assert [t["id"] for t in _filtered(items, view="all", **{**pick, "kind": "feedback"})] == ["t3"]
    assert [t["id"] for t in _filtered(items, view="all", **{**pick, "category": "quality"})] == ["t4"]
    assert [t["id"] for t in _filtered(items, view="all", **{**pick, "sla": "overdue"})] == ["t4"]
    assert [t["id"] for t in _filtered(items, view="all", **{**pick, "sla": "soon"})] == ["t1", "t2", "t3"]


def test_the_resolution_form_becomes_the_apis_body() -> None:
    form = {"csrf": "x", "idempotency_key": "k", "responsibility": "ours", "apology_given": "on", "remedy": "refund",
            "remedy_detail": " 退一半 ", "compensation": "¥1,200.50", "resolution": "退款并道歉",
            "customer_answer": "accepted", "answer_comment": "", "category": "", "prevention.action": "入库前抽检",
            "prevention.owner": "wang", "prevention.due_on": "2026-12-20"}
    assert resolution_body(form) == {
        "resolution": "退款并道歉", "apology_given": True, "customer_answer": "accepted", "responsibility": "ours",
        "remedy": "refund", "remedy_detail": "退一半", "compensation": "1200.50",
        "prevention": {"action": "入库前抽检", "owner": "wang", "due_on": "2026-12-20"}}
    bare = resolution_body({"resolution": "", "customer_answer": "pending"})
    assert bare == {"resolution": "", "apology_given": False, "customer_answer": "pending"}


def test_every_code_of_the_service_has_words_in_both_languages() -> None:
    for t in (ZH, EN):
        for words, codes in ((tv.status_label, tv.STATUSES), (tv.category_label, tv.CATEGORIES),
                             (tv.responsibility_label, tv.RESPONSIBILITIES), (tv.remedy_label, tv.REMEDIES),
                             (tv.service_type_label, tv.SERVICE_TYPES), (tv.answer_label, tv.ANSWERS)):
            for code in codes:
                said = words(t, code)
                assert said and (t is EN or said != code), (words.__name__, code)
    assert tv.category_label(ZH, "billing") == "价格与账务"
    assert tv.responsibility_label(ZH, "ours") == "我方"
    assert tv.remedy_label(ZH, "explanation") == "仅解释"
    assert tv.status_label(ZH, "waiting_on_customer") == "等待客户"


def test_an_activity_reads_as_phrases() -> None:
    def person(who: str | None) -> str:
        return {"wang": "王芳"}.get(who or "", who or "—")

    assert tv.activity_details(ZH, {"assignee": "wang", "reason": "熟悉客户"}, person) == ["给 王芳", "熟悉客户"]
    assert tv.activity_details(ZH, {"status": "waiting_on_customer", "previous_status": "open"}, person) == [
        "处理中 → 等待客户"]
    assert tv.activity_details(EN, {"queue": "service"}, person) == ["to the queue Service queue"]
    assert tv.action_label(ZH, "remedy_proposed") == "提出补救方案"


async def test_a_tickets_service_without_the_new_list_filters_is_asked_again_without_them() -> None:
    """Before issue 13's filters (mine, queue, breaching_within…) a tickets service refuses unknown
    query parameters: the page asks again without them and filters what it got itself."""
    asked: list[dict[str, Any]] = []

    class OldTickets:
        async def get(self, service: str, path: str, person: Any, language: str, params: dict[str, Any]) -> Any:
            asked.append(dict(params))
            unknown = [k for k in params if k in ("mine", "queue", "breaching_within")]
            if unknown:
                raise ServiceRefused("tickets", 422, {"detail": "unknown", "errors": [
                    {"field": f"query.{k}", "message": "unknown query parameter (this route takes: …)"}
                    for k in unknown]})
            return {"items": [ticket(1)], "next_cursor": None}

    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(services=OldTickets())))
    who = SimpleNamespace(person=None, texts=ZH)
    page = await list_tickets(request, who, {"mine": "true", "status": "open", "limit": 200})  # type: ignore[arg-type]
    assert page["items"][0]["id"] == "t1"
    assert asked == [{"mine": "true", "status": "open", "limit": 200}, {"status": "open", "limit": 200}]

    class Refusing:
        async def get(self, *args: Any, **kwargs: Any) -> Any:
            raise ServiceRefused("tickets", 422, {"detail": "bad", "errors": [{"field": "query.status",
                                                                              "message": "Input should be …"}]})

    request.app.state.services = Refusing()
    with pytest.raises(ServiceRefused):
        await list_tickets(request, who, {"status": "nonsense"})  # type: ignore[arg-type]


def test_the_forms_offered_follow_the_tickets_state_machine() -> None:
    assert tv.allowed_actions("open") == ["assign", "escalate", "responses", "notes", "status:waiting_on_customer",
                                          "status:closed", "resolution"]
    assert "remedy-answer" in tv.allowed_actions("waiting_on_customer", remedy_pending=True)
    assert "resolution" not in tv.allowed_actions("waiting_on_customer", remedy_pending=True)
    assert "status:open" in tv.allowed_actions("waiting_on_customer")
    assert tv.allowed_actions("resolved") == ["notes", "satisfaction", "reopen", "status:closed"]
    assert tv.allowed_actions("closed") == ["notes", "reopen"]


def test_a_step_refused_in_the_tickets_status_says_what_is_possible_now() -> None:
    refused = ServiceRefused("tickets", 409, {"detail": "a ticket resolved does not allow responses",
                                              "allowed": ["notes", "satisfaction", "reopen", "status:closed"],
                                              "status_now": "resolved"})
    assert refusal_words(ZH, refused) == "工单当前为已解决，不能这样做。现在可以：添加调查记录, 记录满意度, 重新打开, 关闭。"
    assert refusal_words(ZH, ServiceRefused("tickets", 422, {"detail": "x"})) is None


def test_a_resolution_in_the_history_reads_as_what_was_agreed() -> None:
    detail = {"remedy_id": "0a", "remedy": "replace", "remedy_detail": "补发一盒", "compensation": "20.00",
              "resolution": "补发并致歉", "responsibility": "ours", "apology_given": True,
              "prevention": {"action": "出库前核对件数", "owner": "wang", "due_on": "2026-12-31"},
              "customer_answer": "accepted", "compensation_credited": "20.00"}
    assert tv.activity_details(ZH, detail, str) == [
        "换货", "补发一盒", "补偿 ¥20.00", "补发并致歉", "责任：我方", "已致歉", "预防措施：出库前核对件数", "客户已接受",
        "已入账 ¥20.00"]
    assert tv.activity_details(ZH, {"reason": "又坏了", "previous_status": "closed", "reopened_count": 1}, str) == [
        "又坏了", "原为已关闭"]
    assert tv.activity_details(ZH, {"clock": "first_response", "due_at": "2026-12-07T01:00:00Z",
                                    "as_of": "2026-12-07T02:00:00Z"}, str) == ["首次响应"]
