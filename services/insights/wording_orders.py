"""Timeline summaries of an order's life after it is placed (status, cancel, return), of its
receivables (payment plan, payments, overdue, invoices, credit notes), of credit terms and
approvals; and the helpers ``wording`` shares. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

Lang = Literal["en", "zh"]


def quantity_text(value: Any) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def lines_text(lines: list[dict[str, Any]]) -> str:
    """The first three lines as ``SKU ×quantity``, then an ellipsis."""
    shown = ", ".join(f"{ln.get('sku')} ×{quantity_text(ln.get('quantity'))}" for ln in lines[:3])
    return shown + (", …" if len(lines) > 3 else "")


# --- an order's life, receivables and credit (orders) ---------------------------------------------

ORDER_STATUSES = {
    "pending_approval": ("waiting for approval", "待审批"), "placed": ("placed", "已下单"),
    "confirmed": ("confirmed", "已确认"), "fulfilled": ("fulfilled", "已发货"), "completed": ("completed", "已完成"),
    "cancelled": ("cancelled", "已取消"), "returned": ("returned", "已退货"),
}
PAYMENT_METHODS = {
    "cash": ("cash", "现金"), "wechat_pay": ("WeChat Pay", "微信支付"), "alipay": ("Alipay", "支付宝"),
    "bank_transfer": ("bank transfer", "银行转账"), "card": ("card", "刷卡"),
    "credit_note": ("credit note", "贷项通知单"), "other": ("other means", "其他方式"),
}


def _order_no(data: dict[str, Any]) -> str:
    """An order as people say it: ``#`` and the last eight characters of its id (the random part
    of a UUIDv7; its first characters are the time, alike for orders of the same minute)."""
    return "#" + str(data.get("order_id", ""))[-8:]


def _status(value: Any, lang: Lang) -> str:
    en, zh = ORDER_STATUSES.get(str(value), (str(value), str(value)))
    return zh if lang == "zh" else en


def _day(value: Any) -> str:
    return str(value or "")[:10]


def _status_changed(data: dict[str, Any], lang: Lang) -> str:
    step = f"{_status(data.get('previous_status'), lang)} → {_status(data.get('status'), lang)}"
    who, note = data.get("changed_by", ""), str(data.get("note") or "")
    if lang == "zh":
        return f"订单 {_order_no(data)}：{step}（{who} 操作）" + (f"：{note}" if note else "")
    return f"Order {_order_no(data)}: {step} (by {who})" + (f": {note}" if note else "")


def _cancelled(data: dict[str, Any], lang: Lang) -> str:
    who, reason, total = data.get("cancelled_by", ""), data.get("reason", ""), data.get("total", "")
    if lang == "zh":
        return f"{who} 取消了订单 {_order_no(data)}（金额 {total}）：{reason}"
    return f"{who} cancelled order {_order_no(data)} ({total}): {reason}"


def _returned(data: dict[str, Any], lang: Lang) -> str:
    lines = data.get("lines", [])
    items = sum((Decimal(str(ln.get("quantity", 0))) for ln in lines), Decimal(0))
    who, reason, amount = data.get("returned_by", ""), data.get("reason", ""), data.get("amount", "")
    if lang == "zh":
        what = "整单退货" if data.get("whole") else "退货"
        return f"{what}：订单 {_order_no(data)} 退回 {quantity_text(items)} 件（{lines_text(lines)}），退款 {amount}，{who}：{reason}"
    what = "Returned the whole of" if data.get("whole") else "Returned part of"
    return (f"{what} order {_order_no(data)}: {quantity_text(items)} item{'s' if items != 1 else ''} ({lines_text(lines)}), "
            f"{amount} back, by {who}: {reason}")


def _scheduled(data: dict[str, Any], lang: Lang) -> str:
    instalments = data.get("instalments", [])
    if not instalments:
        return f"订单 {_order_no(data)} 已无应收款" if lang == "zh" else f"Order {_order_no(data)} owes nothing any more"
    shown = instalments[:3]
    if lang == "zh":
        plan = "，".join(f"{_day(i.get('due_at'))} 前 {i.get('amount', '')}" for i in shown)
        count = f"（{len(instalments)} 期）" if len(instalments) > 1 else ""
        return f"订单 {_order_no(data)} 回款计划{count}：{plan}" + ("，…" if len(instalments) > 3 else "")
    plan = ", ".join(f"{i.get('amount', '')} due {_day(i.get('due_at'))}" for i in shown)
    count = f" ({len(instalments)} instalments)" if len(instalments) > 1 else ""
    return f"Payment plan of order {_order_no(data)}{count}: {plan}" + (", …" if len(instalments) > 3 else "")


def _payment(data: dict[str, Any], lang: Lang) -> str:
    method = str(data.get("method", ""))
    en, zh = PAYMENT_METHODS.get(method, (method, method))
    who, ref, amount = data.get("recorded_by", ""), data.get("reference"), data.get("amount", "")
    left = Decimal(str(data.get("unallocated") or 0))
    if lang == "zh":
        return (f"收款 {amount}（{zh}），{who} 登记" + (f"，参考号 {ref}" if ref else "")
                + (f"；{left:.2f} 留在账上" if left else ""))
    return (f"Payment of {amount} by {en}, recorded by {who}" + (f" (ref. {ref})" if ref else "")
            + (f"; {left:.2f} left on the account" if left else ""))


def _overdue(data: dict[str, Any], lang: Lang) -> str:
    no, due, owed = data.get("instalment_no", ""), _day(data.get("due_at")), data.get("amount_due", "")
    if lang == "zh":
        return f"逾期未付：订单 {_order_no(data)} 第 {no} 期 {owed}，应于 {due} 付清"
    return f"Payment overdue: {owed} of order {_order_no(data)} (instalment {no}) was due {due}"


def _invoice(data: dict[str, Any], lang: Lang) -> str:
    number, official, amount = data.get("number", ""), data.get("official_number"), data.get("amount", "")
    if lang == "zh":
        return f"开具发票 {number}（订单 {_order_no(data)}），金额 {amount}" + (f"，发票号码 {official}" if official else "")
    return f"Invoice {number} for order {_order_no(data)}: {amount}" + (f" (fapiao {official})" if official else "")


def _credit_note(data: dict[str, Any], lang: Lang) -> str:
    amount, reason, complaint = data.get("amount", ""), data.get("reason", ""), data.get("ticket_id")
    if lang == "zh":
        return f"开具贷项通知单 {amount}" + ("（投诉补偿）" if complaint else "") + f"：{reason}"
    return f"Credit note of {amount}" + (" (compensation for a complaint)" if complaint else "") + f": {reason}"


def _credit_terms(data: dict[str, Any], lang: Lang) -> str:
    days, limit, who = data.get("payment_days", ""), data.get("credit_limit"), data.get("set_by", "")
    reason, approval = str(data.get("reason") or ""), data.get("when_exceeded") == "approval"
    if lang == "zh":
        text = f"{who} 设置账期：{days} 天，" + (
            f"额度 {limit}（超额" + ("需审批）" if approval else "拒单）") if limit is not None else "不限额度")
        return text + (f"：{reason}" if reason else "")
    text = f"{who} set credit terms: {days} days, " + (
        f"limit {limit} (beyond it orders " + ("wait for approval)" if approval else "are refused)")
        if limit is not None else "no limit")
    return text + (f": {reason}" if reason else "")


def _approval(data: dict[str, Any], lang: Lang) -> str:
    who, reason, approved = data.get("decided_by", ""), data.get("reason", ""), data.get("approved")
    if lang == "zh":
        return f"{who} {'批准' if approved else '拒绝'}了订单 {_order_no(data)}：{reason}"
    return f"{who} {'approved' if approved else 'refused'} order {_order_no(data)}: {reason}"


ORDER_SUMMARIES: dict[str, Callable[[dict[str, Any], Lang], str]] = {
    "OrderStatusChanged": _status_changed,
    "OrderCancelled": _cancelled,
    "OrderReturned": _returned,
    "ReceivableScheduled": _scheduled,
    "PaymentRecorded": _payment,
    "PaymentOverdue": _overdue,
    "InvoiceIssued": _invoice,
    "CreditNoteIssued": _credit_note,
    "CreditTermsSet": _credit_terms,
    "OrderApprovalDecided": _approval,
}
