"""The timeline's pure rules: the reader's language and one human line per event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.insights.wording import CHANNELS_ZH, Lang, preferred_language, summarize
from services.orders.domain.orders import NewOrder, place
from shared.events import EVENT_TYPES

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

# --- Accept-Language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR", "en"),
        ("en;q=0.5, zh;q=0.8", "zh"),
        ("zh;q=0.8, en;q=0.5", "zh"),
        ("en, zh", "en"),  # equal quality: the first wins
        (None, "en"),
        ("", "en"),
        ("zh;q=0", "en"),  # q=0 means "not acceptable"
        ("zh;q=0, en;q=0.1", "en"),
        ("de-DE, zh-Hans;q=0.5", "zh"),  # the best of *our* languages
        ("ZH-cn", "zh"),
        ("*", "en"),
        ("zh;q=nonsense, en;q=0.2", "en"),  # an unreadable weight counts as 0
    ],
)
def test_preferred_language_picks_the_best_of_en_and_zh(header: str | None, lang: str) -> None:
    assert preferred_language(header) == lang


# --- summaries: sample data of every event type, as published -------------------------------

CUSTOMER = uuid.UUID("0195a1b2-0000-7000-8000-000000000003")
ORDER = "0195a1b2-0000-7000-8000-00000a1b2c3d"
TICKET = "0195a1b2-0000-7000-8000-0000000c0de7"


def _order_data(**fields: Any) -> dict[str, Any]:
    new = NewOrder.model_validate({
        "customer_id": CUSTOMER, "channel": "store", "currency": "CNY",
        "lines": [{"sku": "TEA-1", "quantity": "2", "unit_price": "9.50"},
                  {"sku": "CUP-7", "quantity": "1", "unit_price": "12.00"}],
        **fields,
    })
    _, event = place(new, order_id=uuid.uuid4(), now=NOW, accepted=("CNY",))
    return event.model_dump(mode="json")


SAMPLES: dict[str, dict[str, Any]] = {
    "CustomerRegistered": {"customer_id": str(CUSTOMER), "name": "王芳", "channel": "wechat"},
    "OrderPlaced": _order_data(),
    "ComplaintFiled": {"channel": "phone", "severity": "critical", "subject": "Kettle leaks"},
    "FeedbackReceived": {"channel": "web", "satisfaction": 4, "subject": "Fast delivery"},
    "ServiceRequested": {"channel": "visit", "subject": "Install the water filter"},
    "ChannelIdentityLinked": {"kind": "membership_card", "value": "VIP0001", "linked_by": "till-1"},
    "ChannelIdentityUnlinked": {"kind": "other", "value": "12345", "label": "QQ", "unlinked_by": "王芳"},
    "CustomerCategoryChanged": {"previous_category": "current", "category": "lost", "reason": "went next door",
                                "loss_reason": "competitor", "loss_kind": "subjective", "changed_by": "wang.li"},
    "FollowUpLogged": {"by": "王芳", "channel": "phone", "note": "想要新茶", "outcome": "order_expected",
                       "next_due": "2026-03-03"},
    "CustomerOwnerAssigned": {"owner": "li", "previous_owner": "wang", "how": "handover", "assigned_by": "mgr",
                              "reason": "wang left"},
    "CustomerReturnedToPool": {"rule": "no_order", "days_without": 91, "limit_days": 90, "previous_owner": "wang",
                               "returned_by": "pool sweeper"},
    "CustomersMerged": {"merged_id": "0190-a", "merged_by": "amy"},
    "CustomerMergeUndone": {"merged_id": "0190-a", "undone_by": "amy"},
    "CustomerProfileUpdated": {"changed_by": "wang.li", "revision": 3, "changes": [
        {"field": "name", "old": "王芳", "new": "王芳芳"}, {"field": "lead_source", "old": None, "new": "fair"}]},
    "ContactPersonAdded": {"person_id": str(CUSTOMER), "role": "purchaser", "title": "采购经理", "added_by": "wang.li"},
    "ContactPersonRemoved": {"person_id": str(CUSTOMER), "role": "payer", "removed_by": "boss"},
    # an order's life, receivables and credit (orders); a ticket resolved (tickets)
    "OrderStatusChanged": {"order_id": ORDER, "previous_status": "confirmed", "status": "fulfilled",
                           "changed_by": "li", "note": "sent by courier"},
    "OrderCancelled": {"order_id": ORDER, "previous_status": "placed", "total": "31.00", "reason": "changed mind",
                       "cancelled_by": "li"},
    "OrderReturned": {"order_id": ORDER, "return_id": ORDER, "whole": False, "amount": "19.00", "reason": "leaks",
                      "returned_by": "li", "lines": [{"line_no": 1, "sku": "TEA-1", "quantity": "2",
                                                      "amount": "19.00"}]},
    "ReceivableScheduled": {"order_id": ORDER, "revision": 2, "instalments": [
        {"no": 1, "due_at": "2025-04-01T00:00:00+00:00", "amount": "100.00", "paid": "0.00"},
        {"no": 2, "due_at": "2025-05-01T00:00:00+00:00", "amount": "100.00", "paid": "0.00"}]},
    "PaymentRecorded": {"payment_id": ORDER, "method": "wechat_pay", "amount": "60.00", "unallocated": "10.00",
                        "reference": "4200001", "recorded_by": "li", "allocations": [
                            {"order_id": ORDER, "instalment_no": 1, "amount": "50.00",
                             "due_at": "2025-04-01T00:00:00+00:00"}]},
    "PaymentOverdue": {"order_id": ORDER, "instalment_no": 1, "due_at": "2025-04-01T00:00:00+00:00",
                       "amount_due": "100.00", "as_of": "2025-04-02T00:00:00+00:00"},
    "InvoiceIssued": {"invoice_id": ORDER, "order_id": ORDER, "number": "INV-0001", "official_number": "04400001",
                      "amount": "31.00"},
    "CreditNoteIssued": {"credit_note_id": ORDER, "amount": "20.00", "reason": "kettle leaked", "ticket_id": ORDER},
    "CreditTermsSet": {"payment_days": 30, "credit_limit": "5000.00", "when_exceeded": "approval", "set_by": "mgr",
                       "reason": "good payer"},
    "OrderApprovalDecided": {"order_id": ORDER, "approved": False, "decided_by": "mgr", "reason": "pays late"},
    "TicketResolved": {"ticket_id": ORDER, "resolution": "replaced the kettle", "compensation": "20.00",
                       "resolved_by": "li"},
    # a ticket's life (tickets)
    "TicketAssigned": {"ticket_id": TICKET, "assignee": "li", "queue": None, "previous_assignee": "wang",
                       "by": "mgr", "reason": "wang is away"},
    "TicketEscalated": {"ticket_id": TICKET, "to": "boss", "by": "li", "reason": "wants a manager"},
    "TicketResponded": {"ticket_id": TICKET, "by": "li", "message": "called back, sorry", "first": True},
    "TicketNoteAdded": {"ticket_id": TICKET, "by": "li", "note": "two more of the batch leak",
                        "responsibility": "ours", "category": "quality"},
    "TicketStatusChanged": {"ticket_id": TICKET, "status": "waiting_on_customer", "previous_status": "open",
                            "by": "li", "reason": "sends it back"},
    "TicketRemedyProposed": {"ticket_id": TICKET, "remedy_id": ORDER, "remedy": "replace", "detail": "a new kettle",
                             "compensation": "20.00", "responsibility": "ours", "apology_given": True, "by": "li"},
    "TicketRemedyAnswered": {"ticket_id": TICKET, "remedy_id": ORDER, "accepted": False, "comment": "wants money",
                             "by": "li"},
    "TicketReopened": {"ticket_id": TICKET, "by": "li", "reason": "the new one leaks too"},
    "TicketSlaBreached": {"ticket_id": TICKET, "clock": "first_response", "kind": "complaint", "priority": "high",
                          "due_at": "2025-03-01T09:30:00+00:00", "assignee": "li",
                          "as_of": "2025-03-01T12:00:00+00:00"},
    "TicketSatisfactionRecorded": {"ticket_id": TICKET, "score": 2, "comment": "took too long", "by": "li"},
    "PreventionActionCompleted": {"ticket_id": TICKET, "action_id": ORDER, "category": "quality", "by": "zhang",
                                  "note": "every kettle is tested"},
}

EXPECTED: dict[tuple[str, Lang], str] = {
    ("CustomerRegistered", "en"): "Registered as a customer: 王芳 (via wechat)",
    ("CustomerRegistered", "zh"): "登记为客户：王芳（渠道：微信）",
    ("OrderPlaced", "en"): "Ordered 3 items (TEA-1 ×2, CUP-7 ×1) for CNY 31.00 at store",
    ("OrderPlaced", "zh"): "在门店下单 3 件（TEA-1 ×2, CUP-7 ×1），金额 CNY 31.00",
    ("ComplaintFiled", "en"): "Complaint by phone (critical): Kettle leaks",
    ("ComplaintFiled", "zh"): "电话投诉（紧急）：Kettle leaks",
    ("FeedbackReceived", "en"): "Feedback by web (4/5): Fast delivery",
    ("FeedbackReceived", "zh"): "网店反馈（满意度 4/5）：Fast delivery",
    ("ServiceRequested", "en"): "Service request by visit: Install the water filter",
    ("ServiceRequested", "zh"): "拜访服务请求：Install the water filter",
    ("ChannelIdentityLinked", "en"): "Identity linked: membership card VIP0001 (by till-1)",
    ("ChannelIdentityLinked", "zh"): "关联身份：会员卡 VIP0001（操作人：till-1）",
    ("ChannelIdentityUnlinked", "en"): "Identity unlinked: QQ 12345 (by 王芳)",
    ("ChannelIdentityUnlinked", "zh"): "解除身份：QQ 12345（操作人：王芳）",
    ("CustomerCategoryChanged", "en"): "Category: current → lost (lost: went to a competitor), by wang.li: went next door",
    ("CustomerCategoryChanged", "zh"): "类别：成交客户 → 流失客户（流失原因：转向竞争对手），wang.li：went next door",
    ("FollowUpLogged", "en"): "王芳 phoned: 想要新茶 — order expected; next follow-up 3 Mar",
    ("FollowUpLogged", "zh"): "王芳 电话跟进：想要新茶 — 预计下单；下次跟进 3月3日",
    ("CustomerOwnerAssigned", "en"): "Handed over from wang to li by mgr: wang left",
    ("CustomerOwnerAssigned", "zh"): "客户由 wang 交接给 li（mgr 操作）：wang left",
    ("CustomerReturnedToPool", "en"): "Returned to the pool: no order for 91 days (limit 90); was wang's",
    ("CustomerReturnedToPool", "zh"): "退回公海：未下单 91 天（上限 90 天），原负责人 wang",
    ("CustomersMerged", "en"): "amy merged the duplicate customer 0190-a into this one (its history is shown here too)",
    ("CustomersMerged", "zh"): "amy 将重复客户 0190-a 合并到此客户（其历史记录一并显示于此）",
    ("CustomerMergeUndone", "en"): "amy undid the merge with customer 0190-a (its history went back to it)",
    ("CustomerMergeUndone", "zh"): "amy 撤销了与客户 0190-a 的合并（其历史记录已归还）",
    ("CustomerProfileUpdated", "en"): "wang.li changed name, lead source",
    ("CustomerProfileUpdated", "zh"): "wang.li 修改了资料：名称、客户来源",
    ("ContactPersonAdded", "en"): "wang.li added a contact person: purchaser (采购经理)",
    ("ContactPersonAdded", "zh"): "wang.li 添加了联系人：采购（采购经理）",
    ("ContactPersonRemoved", "en"): "boss removed a contact person: payer",
    ("ContactPersonRemoved", "zh"): "boss 移除了联系人：付款人",
    ("OrderStatusChanged", "en"): "Order #0a1b2c3d: confirmed → fulfilled (by li): sent by courier",
    ("OrderStatusChanged", "zh"): "订单 #0a1b2c3d：已确认 → 已发货（li 操作）：sent by courier",
    ("OrderCancelled", "en"): "li cancelled order #0a1b2c3d (31.00): changed mind",
    ("OrderCancelled", "zh"): "li 取消了订单 #0a1b2c3d（金额 31.00）：changed mind",
    ("OrderReturned", "en"): "Returned part of order #0a1b2c3d: 2 items (TEA-1 ×2), 19.00 back, by li: leaks",
    ("OrderReturned", "zh"): "退货：订单 #0a1b2c3d 退回 2 件（TEA-1 ×2），退款 19.00，li：leaks",
    ("ReceivableScheduled", "en"):
        "Payment plan of order #0a1b2c3d (2 instalments): 100.00 due 2025-04-01, 100.00 due 2025-05-01",
    ("ReceivableScheduled", "zh"): "订单 #0a1b2c3d 回款计划（2 期）：2025-04-01 前 100.00，2025-05-01 前 100.00",
    ("PaymentRecorded", "en"): "Payment of 60.00 by WeChat Pay, recorded by li (ref. 4200001); 10.00 left on the account",
    ("PaymentRecorded", "zh"): "收款 60.00（微信支付），li 登记，参考号 4200001；10.00 留在账上",
    ("PaymentOverdue", "en"): "Payment overdue: 100.00 of order #0a1b2c3d (instalment 1) was due 2025-04-01",
    ("PaymentOverdue", "zh"): "逾期未付：订单 #0a1b2c3d 第 1 期 100.00，应于 2025-04-01 付清",
    ("InvoiceIssued", "en"): "Invoice INV-0001 for order #0a1b2c3d: 31.00 (fapiao 04400001)",
    ("InvoiceIssued", "zh"): "开具发票 INV-0001（订单 #0a1b2c3d），金额 31.00，发票号码 04400001",
    ("CreditNoteIssued", "en"): "Credit note of 20.00 (compensation for a complaint): kettle leaked",
    ("CreditNoteIssued", "zh"): "开具贷项通知单 20.00（投诉补偿）：kettle leaked",
    ("CreditTermsSet", "en"): "mgr set credit terms: 30 days, limit 5000.00 (beyond it orders wait for approval): "
                              "good payer",
    ("CreditTermsSet", "zh"): "mgr 设置账期：30 天，额度 5000.00（超额需审批）：good payer",
    ("OrderApprovalDecided", "en"): "mgr refused order #0a1b2c3d: pays late",
    ("OrderApprovalDecided", "zh"): "mgr 拒绝了订单 #0a1b2c3d：pays late",
    ("TicketResolved", "en"): "li resolved the ticket: replaced the kettle (compensation 20.00)",
    ("TicketResolved", "zh"): "li 解决了工单：replaced the kettle（补偿 20.00）",
    ("TicketAssigned", "en"):
        'mgr assigned ticket #000c0de7 to li (was wang): wang is away',
    ("TicketAssigned", "zh"):
        'mgr 把工单 #000c0de7 分配给 li（原处理人 wang）：wang is away',
    ("TicketEscalated", "en"):
        'li escalated ticket #000c0de7 to boss: wants a manager',
    ("TicketEscalated", "zh"):
        'li 将工单 #000c0de7 升级给 boss：wants a manager',
    ("TicketResponded", "en"):
        'li answered ticket #000c0de7 (first answer): called back, sorry',
    ("TicketResponded", "zh"):
        'li 首次答复了工单 #000c0de7：called back, sorry',
    ("TicketNoteAdded", "en"):
        'li noted on ticket #000c0de7: two more of the batch leak (responsibility ours, category quality)',
    ("TicketNoteAdded", "zh"):
        'li 记录了工单 #000c0de7 的调查：two more of the batch leak（责任：我方，类别：质量）',
    ("TicketStatusChanged", "en"):
        'Ticket #000c0de7: open → waiting on the customer (by li): sends it back',
    ("TicketStatusChanged", "zh"):
        '工单 #000c0de7：处理中 → 等待客户（li 操作）：sends it back',
    ("TicketRemedyProposed", "en"):
        'li proposed a remedy for ticket #000c0de7: replace, a new kettle (compensation 20.00); apologised',
    ("TicketRemedyProposed", "zh"):
        'li 就工单 #000c0de7 提出补救方案：换货，a new kettle（补偿 20.00），已致歉',
    ("TicketRemedyAnswered", "en"):
        'The customer rejected the remedy for ticket #000c0de7: wants money',
    ("TicketRemedyAnswered", "zh"):
        '客户拒绝了工单 #000c0de7 的补救方案：wants money',
    ("TicketReopened", "en"):
        'li reopened ticket #000c0de7: the new one leaks too',
    ("TicketReopened", "zh"):
        'li 重新打开了工单 #000c0de7：the new one leaks too',
    ("TicketSlaBreached", "en"):
        'Complaint #000c0de7 (high) not answered in time: first response was due 2025-03-01 09:30 UTC, 2.5 h late; handled by li',
    ("TicketSlaBreached", "zh"):
        '投诉 #000c0de7（高）无人及时答复：首次响应时限为 2025-03-01 09:30 UTC，已超时 2.5 小时，处理人 li',
    ("TicketSatisfactionRecorded", "en"):
        'Satisfaction with how ticket #000c0de7 was handled: 2/5: took too long',
    ("TicketSatisfactionRecorded", "zh"):
        '客户对工单 #000c0de7 的处理满意度 2/5：took too long',
    ("PreventionActionCompleted", "en"):
        'zhang completed the prevention action of ticket #000c0de7 (quality): every kettle is tested',
    ("PreventionActionCompleted", "zh"):
        'zhang 完成了工单 #000c0de7 的预防措施（质量）：every kettle is tested',
}


def test_a_follow_up_without_note_or_next_due_still_reads_well() -> None:
    data = {"by": "li", "channel": "fair", "note": "", "outcome": "no_answer", "next_due": None}
    assert summarize("FollowUpLogged", data, "en") == "li followed up by fair: no answer"
    assert summarize("FollowUpLogged", data, "zh") == "li 展会跟进：未联系上"


def test_every_event_type_has_a_sample_and_expected_summaries() -> None:
    # insights' own conclusions are not on the timeline; every event it consumes is
    names = {cls.__name__ for cls in EVENT_TYPES.values() if cls.service != "insights"}
    assert set(SAMPLES) == names
    assert {name for name, _ in EXPECTED} == names


@pytest.mark.parametrize(("event_type", "lang"), sorted(EXPECTED))
def test_every_event_type_is_summarized_in_english_and_chinese(event_type: str, lang: Lang) -> None:
    assert summarize(event_type, SAMPLES[event_type], lang) == EXPECTED[(event_type, lang)]


def test_order_summary_names_skus_quantities_total_and_channel() -> None:
    en = summarize("OrderPlaced", SAMPLES["OrderPlaced"], "en")
    zh = summarize("OrderPlaced", SAMPLES["OrderPlaced"], "zh")
    for text in (en, zh):
        assert "TEA-1 ×2" in text
        assert "CUP-7 ×1" in text
        assert "CNY 31.00" in text
    assert "store" in en
    assert "门店" in zh and "store" not in zh


def test_order_summary_shows_three_lines_then_an_ellipsis() -> None:
    data = _order_data(lines=[{"sku": f"SKU-{i}", "quantity": "1", "unit_price": "1.00"} for i in range(5)])
    text = summarize("OrderPlaced", data, "en")
    assert "SKU-0 ×1, SKU-1 ×1, SKU-2 ×1, …" in text
    assert "SKU-3" not in text
    assert text.startswith("Ordered 5 items")


def test_order_of_a_single_item_is_singular() -> None:
    data = _order_data(lines=[{"sku": "PEN", "quantity": "1", "unit_price": "3.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 1 item (PEN ×1) for CNY 3.00 at store"


def test_fractional_quantities_are_added_exactly() -> None:
    data = _order_data(lines=[{"sku": "RICE", "quantity": "0.5", "unit_price": "8.00"},
                              {"sku": "OIL", "quantity": "0.25", "unit_price": "40.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 0.75 items (RICE ×0.5, OIL ×0.25) for CNY 14.00 at store"


def test_padded_fractional_quantities_are_shown_without_trailing_zeros() -> None:
    data = _order_data(lines=[{"sku": "RICE", "quantity": "2.000", "unit_price": "8.00"},
                              {"sku": "OIL", "quantity": "1.500", "unit_price": "40.00"}])
    assert summarize("OrderPlaced", data, "en") == "Ordered 3.5 items (RICE ×2, OIL ×1.5) for CNY 76.00 at store"


@pytest.mark.parametrize(("channel", "chinese"), sorted(CHANNELS_ZH.items()))
def test_known_channels_are_translated_to_chinese(channel: str, chinese: str) -> None:
    text = summarize("ServiceRequested", {"channel": channel, "subject": "s"}, "zh")
    assert text == f"{chinese}服务请求：s"


def test_unknown_channel_is_shown_as_is_in_chinese() -> None:
    assert summarize("ComplaintFiled", {"channel": "livestream", "subject": "s"}, "zh") == "livestream投诉（一般）：s"


def test_complaint_severity_defaults_to_normal_in_both_languages() -> None:
    data = {"channel": "store", "subject": "Rude staff"}
    assert summarize("ComplaintFiled", data, "en") == "Complaint by store (normal): Rude staff"
    assert summarize("ComplaintFiled", data, "zh") == "门店投诉（一般）：Rude staff"


def test_feedback_without_a_score_shows_no_score() -> None:
    data = {"channel": "email", "subject": "Thanks", "satisfaction": None}
    assert summarize("FeedbackReceived", data, "en") == "Feedback by email: Thanks"
    assert summarize("FeedbackReceived", data, "zh") == "邮件反馈：Thanks"


def test_registration_without_a_channel_says_no_channel() -> None:
    data = {"name": "Acme Ltd", "channel": None}
    assert summarize("CustomerRegistered", data, "en") == "Registered as a customer: Acme Ltd"
    assert summarize("CustomerRegistered", data, "zh") == "登记为客户：Acme Ltd"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_unknown_event_type_falls_back_to_its_name(lang: Lang) -> None:
    assert summarize("OrderTeleported", {"channel": "store", "total": "1.00"}, lang) == "OrderTeleported"


ORDER_LIFE = ("OrderStatusChanged", "OrderCancelled", "OrderReturned", "ReceivableScheduled", "PaymentRecorded",
              "PaymentOverdue", "InvoiceIssued", "CreditNoteIssued", "CreditTermsSet", "OrderApprovalDecided",
              "TicketResolved", "TicketAssigned", "TicketEscalated", "TicketResponded", "TicketNoteAdded",
              "TicketStatusChanged", "TicketRemedyProposed", "TicketRemedyAnswered", "TicketReopened",
              "TicketSlaBreached", "TicketSatisfactionRecorded", "PreventionActionCompleted")


@pytest.mark.parametrize("event_type", ORDER_LIFE)
def test_the_order_life_samples_are_events_as_published(event_type: str) -> None:
    cls = next(c for c in EVENT_TYPES.values() if c.__name__ == event_type)
    data = {"customer_id": str(CUSTOMER), "occurred_at": NOW.isoformat(), **SAMPLES[event_type]}
    published = cls.model_validate(data).model_dump(mode="json")
    assert summarize(event_type, published, "en") == summarize(event_type, SAMPLES[event_type], "en")


def test_an_order_with_a_discount_waiting_for_approval_says_both() -> None:
    data = {**_order_data(), "total": "26.00", "discount": "5.00", "status": "pending_approval"}
    assert summarize("OrderPlaced", data, "en") == (
        "Ordered 3 items (TEA-1 ×2, CUP-7 ×1) for CNY 26.00 (5.00 off) at store, waiting for approval")
    assert summarize("OrderPlaced", data, "zh") == (
        "在门店下单 3 件（TEA-1 ×2, CUP-7 ×1），金额 CNY 26.00（优惠 5.00），待审批")
    lines = [{**line, "discount": "1.50"} for line in data["lines"]]
    placed = {**data, "lines": lines, "discount": "0.00", "status": "placed"}
    assert summarize("OrderPlaced", placed, "en").endswith("(3.00 off) at store")


def test_a_whole_return_a_plan_settled_and_terms_without_limit_read_well() -> None:
    whole = {**SAMPLES["OrderReturned"], "whole": True}
    assert summarize("OrderReturned", whole, "en").startswith("Returned the whole of order #0a1b2c3d: 2 items")
    assert summarize("OrderReturned", whole, "zh").startswith("整单退货：订单 #0a1b2c3d")
    settled = {"order_id": ORDER, "revision": 3, "instalments": []}
    assert summarize("ReceivableScheduled", settled, "en") == "Order #0a1b2c3d owes nothing any more"
    assert summarize("ReceivableScheduled", settled, "zh") == "订单 #0a1b2c3d 已无应收款"
    open_ended = {"payment_days": 0, "credit_limit": None, "when_exceeded": "refuse", "set_by": "mgr", "reason": ""}
    assert summarize("CreditTermsSet", open_ended, "en") == "mgr set credit terms: 0 days, no limit"
    assert summarize("CreditTermsSet", open_ended, "zh") == "mgr 设置账期：0 天，不限额度"
    approved = {**SAMPLES["OrderApprovalDecided"], "approved": True, "reason": "known customer"}
    assert summarize("OrderApprovalDecided", approved, "zh") == "mgr 批准了订单 #0a1b2c3d：known customer"
    cash = {"method": "cash", "amount": "8.00", "unallocated": "0.00", "reference": None, "recorded_by": "till"}
    assert summarize("PaymentRecorded", cash, "en") == "Payment of 8.00 by cash, recorded by till"


def test_order_total_is_shown_as_published_not_recomputed() -> None:
    data = _order_data()
    assert Decimal(data["total"]) == Decimal("31.00")
    assert summarize("OrderPlaced", {**data, "total": "30.00"}, "en").endswith("for CNY 30.00 at store")


def test_an_automatic_category_change_says_an_order_did_it() -> None:
    data = {"previous_category": "lost", "category": "current", "reason": "ordered again", "changed_by": "kehu",
            "automatic": True}
    assert summarize("CustomerCategoryChanged", data, "en") == "Became current by placing an order (was lost)"
    assert summarize("CustomerCategoryChanged", data, "zh") == "因下单自动成为成交客户（原为流失客户）"
# --- owner and pool (contacts) -------------------------------------------------------------------


def test_a_return_to_the_pool_says_which_rule_how_long_and_the_limit() -> None:
    data = {"rule": "no_follow_up", "days_without": 31, "limit_days": 30, "previous_owner": "wang",
            "reclaim_after": "2026-02-08T09:00:00+00:00", "returned_by": "pool sweeper"}
    assert summarize("CustomerReturnedToPool", data, "en") == (
        "Returned to the pool: no follow-up for 31 days (limit 30); was wang's, who may claim back from 2026-02-08")
    assert summarize("CustomerReturnedToPool", data, "zh") == (
        "退回公海：未跟进 31 天（上限 30 天），原负责人 wang，2026-02-08 前不能领回")
    released = {"rule": "released", "previous_owner": "wang", "returned_by": "mgr", "reason": "moved away"}
    assert summarize("CustomerReturnedToPool", released, "en") == "Released to the pool by mgr (was wang): moved away"


def test_an_owner_change_says_how_and_why() -> None:
    handover = {"owner": "li", "previous_owner": "wang", "how": "handover", "assigned_by": "mgr", "reason": "wang left"}
    assert summarize("CustomerOwnerAssigned", handover, "en") == "Handed over from wang to li by mgr: wang left"
    assert summarize("CustomerOwnerAssigned", handover, "zh") == "客户由 wang 交接给 li（mgr 操作）：wang left"
    claimed = {"owner": "wang", "how": "claimed", "assigned_by": "wang.fang"}
    assert summarize("CustomerOwnerAssigned", claimed, "zh") == "wang 从公海领取了客户"
    assigned = {"owner": "li", "how": "assigned", "assigned_by": "mgr"}
    assert summarize("CustomerOwnerAssigned", assigned, "en") == "mgr assigned the customer to li (from the pool)"


# --- a ticket's life (tickets) -------------------------------------------------------------------


def test_a_resolution_with_remedy_responsibility_apology_and_prevention_says_them_all() -> None:
    data = {**SAMPLES["TicketResolved"], "kind": "complaint", "responsibility": "ours", "apology_given": True,
            "remedy": "replace", "prevention": {"action_id": ORDER, "action": "test every kettle", "owner": "zhang",
                                                "due_on": "2025-03-07"}}
    assert summarize("TicketResolved", data, "en") == (
        "li resolved the ticket: replaced the kettle (compensation 20.00); remedy replace, responsibility ours, "
        "apologised, prevention: test every kettle")
    assert summarize("TicketResolved", data, "zh") == (
        "li 解决了工单：replaced the kettle（补偿 20.00）；方案：换货，责任：我方，已致歉，预防措施：test every kettle")


def test_a_complaint_with_priority_and_category_and_a_typed_service_request_read_well() -> None:
    complaint = {"channel": "phone", "severity": "normal", "priority": "high", "category": "delivery",
                 "subject": "Late"}
    assert summarize("ComplaintFiled", complaint, "en") == "Complaint by phone (high, delivery): Late"
    assert summarize("ComplaintFiled", complaint, "zh") == "电话投诉（高，配送）：Late"
    request = {"channel": "store", "subject": "Broken handle", "service_type": "warranty"}
    assert summarize("ServiceRequested", request, "en") == "Service request (warranty) by store: Broken handle"
    assert summarize("ServiceRequested", request, "zh") == "门店服务请求（保修）：Broken handle"


def test_a_reassignment_to_a_queue_a_later_answer_and_a_resolution_breach_read_well() -> None:
    queued = {"ticket_id": TICKET, "assignee": None, "queue": "service", "by": "mgr", "reason": ""}
    assert summarize("TicketAssigned", queued, "en") == "mgr assigned ticket #000c0de7 to the service queue"
    assert summarize("TicketAssigned", queued, "zh") == "mgr 把工单 #000c0de7 分配给 队列 service"
    later = {**SAMPLES["TicketResponded"], "first": False}
    assert summarize("TicketResponded", later, "zh") == "li 答复了工单 #000c0de7：called back, sorry"
    breach = {**SAMPLES["TicketSlaBreached"], "clock": "resolution", "kind": "service_request",
              "as_of": "2025-03-01T09:30:00+00:00", "assignee": None}
    assert summarize("TicketSlaBreached", breach, "en") == (
        "Service request #000c0de7 (high) not resolved in time: resolution was due 2025-03-01 09:30 UTC")
    assert summarize("TicketSlaBreached", breach, "zh") == (
        "服务请求 #000c0de7（高）未按时解决：解决时限为 2025-03-01 09:30 UTC")
