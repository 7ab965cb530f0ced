"""Timeline summaries of a ticket's life after it is opened (assignment, escalation, answers,
notes, status, remedies, resolution, reopening, SLA breaches, satisfaction, prevention). No I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.insights.service import Part
from services.insights.wording_orders import Lang

TICKET_KINDS = {"complaint": ("complaint", "投诉"), "feedback": ("feedback", "反馈"),
                "service_request": ("service request", "服务请求")}
PRIORITIES = {"low": ("low", "低"), "normal": ("normal", "一般"), "high": ("high", "高"), "critical": ("critical", "紧急")}
CATEGORIES = {
    "quality": ("quality", "质量"), "delivery": ("delivery", "配送"), "billing": ("billing", "价格与账务"),
    "attitude": ("attitude", "服务态度"), "product_info": ("product information", "产品信息"),
    "after_sales": ("after-sales", "售后"), "other": ("other", "其他"),
}
RESPONSIBILITIES = {"ours": ("ours", "我方"), "customer": ("the customer's", "客户"),
                    "third_party": ("a third party's", "第三方"), "undetermined": ("undetermined", "待定")}
REMEDIES = {"replace": ("replace", "换货"), "repair": ("repair", "维修"), "refund": ("refund", "退款"),
            "discount": ("discount", "折扣"), "explanation": ("explanation only", "仅解释"), "other": ("other", "其他")}
STATUSES = {"open": ("open", "处理中"), "waiting_on_customer": ("waiting on the customer", "等待客户"),
            "resolved": ("resolved", "已解决"), "closed": ("closed", "已关闭")}
CLOCKS = {"first_response": ("first response", "首次响应"), "resolution": ("resolution", "解决")}


def word(table: dict[str, tuple[str, str]], value: Any, lang: Lang) -> str:
    en, zh = table.get(str(value), (str(value), str(value)))
    return zh if lang == "zh" else en


def ticket_no(data: dict[str, Any]) -> str:
    """A ticket as people say it: ``#`` and the last eight characters of its id (as an order's)."""
    return "#" + str(data.get("ticket_id", ""))[-8:]


def _when(value: Any) -> str:
    """``2025-03-01 09:30`` (UTC, as published) of an RFC 3339 time; the text as it is otherwise."""
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value or "")


def _assigned(data: dict[str, Any], lang: Lang) -> str:
    who, to, queue = data.get("by", ""), data.get("assignee"), data.get("queue")
    previous, reason = data.get("previous_assignee"), str(data.get("reason") or "")
    if lang == "zh":
        target = to if to else f"队列 {queue}"
        return (f"{who} 把工单 {ticket_no(data)} 分配给 {target}" + (f"（原处理人 {previous}）" if previous else "")
                + (f"：{reason}" if reason else ""))
    target = to if to else f"the {queue} queue"
    return (f"{who} assigned ticket {ticket_no(data)} to {target}" + (f" (was {previous})" if previous else "")
            + (f": {reason}" if reason else ""))


def _escalated(data: dict[str, Any], lang: Lang) -> str:
    who, to, reason = data.get("by", ""), data.get("to", ""), data.get("reason", "")
    if lang == "zh":
        return f"{who} 将工单 {ticket_no(data)} 升级给 {to}：{reason}"
    return f"{who} escalated ticket {ticket_no(data)} to {to}: {reason}"


def _responded(data: dict[str, Any], lang: Lang) -> str:
    who, message, first = data.get("by", ""), data.get("message", ""), bool(data.get("first"))
    if lang == "zh":
        return f"{who} {'首次' if first else ''}答复了工单 {ticket_no(data)}：{message}"
    return f"{who} answered ticket {ticket_no(data)}" + (" (first answer)" if first else "") + f": {message}"


def _note(data: dict[str, Any], lang: Lang) -> str:
    who, note = data.get("by", ""), data.get("note", "")
    responsibility, category = data.get("responsibility"), data.get("category")
    if lang == "zh":
        found = "，".join(([f"责任：{word(RESPONSIBILITIES, responsibility, lang)}"] if responsibility else [])
                         + ([f"类别：{word(CATEGORIES, category, lang)}"] if category else []))
        return f"{who} 记录了工单 {ticket_no(data)} 的调查：{note}" + (f"（{found}）" if found else "")
    found = ", ".join(([f"responsibility {word(RESPONSIBILITIES, responsibility, lang)}"] if responsibility else [])
                      + ([f"category {word(CATEGORIES, category, lang)}"] if category else []))
    return f"{who} noted on ticket {ticket_no(data)}: {note}" + (f" ({found})" if found else "")


def _status_changed(data: dict[str, Any], lang: Lang) -> str:
    step = f"{word(STATUSES, data.get('previous_status'), lang)} → {word(STATUSES, data.get('status'), lang)}"
    who, reason = data.get("by", ""), str(data.get("reason") or "")
    if lang == "zh":
        return f"工单 {ticket_no(data)}：{step}（{who} 操作）" + (f"：{reason}" if reason else "")
    return f"Ticket {ticket_no(data)}: {step} (by {who})" + (f": {reason}" if reason else "")


def _remedy_proposed(data: dict[str, Any], lang: Lang) -> str:
    who, detail, compensation = data.get("by", ""), str(data.get("detail") or ""), data.get("compensation")
    remedy = word(REMEDIES, data.get("remedy"), lang)
    if lang == "zh":
        return (f"{who} 就工单 {ticket_no(data)} 提出补救方案：{remedy}" + (f"，{detail}" if detail else "")
                + (f"（补偿 {compensation}）" if compensation else "") + ("，已致歉" if data.get("apology_given") else ""))
    return (f"{who} proposed a remedy for ticket {ticket_no(data)}: {remedy}" + (f", {detail}" if detail else "")
            + (f" (compensation {compensation})" if compensation else "")
            + ("; apologised" if data.get("apology_given") else ""))


def _remedy_answered(data: dict[str, Any], lang: Lang) -> str:
    accepted, comment = bool(data.get("accepted")), str(data.get("comment") or "")
    if lang == "zh":
        return f"客户{'接受' if accepted else '拒绝'}了工单 {ticket_no(data)} 的补救方案" + (f"：{comment}" if comment else "")
    return (f"The customer {'accepted' if accepted else 'rejected'} the remedy for ticket {ticket_no(data)}"
            + (f": {comment}" if comment else ""))


def _resolved(data: dict[str, Any], lang: Lang) -> str:
    who, resolution, compensation = data.get("resolved_by", ""), data.get("resolution", ""), data.get("compensation")
    remedy, responsibility = data.get("remedy"), data.get("responsibility")
    prevention = data.get("prevention") or {}
    if lang == "zh":
        extra = "，".join(([f"方案：{word(REMEDIES, remedy, lang)}"] if remedy else [])
                         + ([f"责任：{word(RESPONSIBILITIES, responsibility, lang)}"] if responsibility else [])
                         + (["已致歉"] if data.get("apology_given") else [])
                         + ([f"预防措施：{prevention.get('action', '')}"] if prevention else []))
        return (f"{who} 解决了工单：{resolution}" + (f"（补偿 {compensation}）" if compensation else "")
                + (f"；{extra}" if extra else ""))
    extra = ", ".join(([f"remedy {word(REMEDIES, remedy, lang)}"] if remedy else [])
                      + ([f"responsibility {word(RESPONSIBILITIES, responsibility, lang)}"] if responsibility else [])
                      + (["apologised"] if data.get("apology_given") else [])
                      + ([f"prevention: {prevention.get('action', '')}"] if prevention else []))
    return (f"{who} resolved the ticket: {resolution}" + (f" (compensation {compensation})" if compensation else "")
            + (f"; {extra}" if extra else ""))


def _reopened(data: dict[str, Any], lang: Lang) -> str:
    who, reason = data.get("by", ""), data.get("reason", "")
    if lang == "zh":
        return f"{who} 重新打开了工单 {ticket_no(data)}：{reason}"
    return f"{who} reopened ticket {ticket_no(data)}: {reason}"


def late_hours(data: dict[str, Any]) -> float | None:
    """Hours from the due time to the sweep that found the breach (``as_of``)."""
    try:
        due, found = datetime.fromisoformat(str(data["due_at"])), datetime.fromisoformat(str(data["as_of"]))
    except (KeyError, ValueError):
        return None
    return max((found - due).total_seconds() / 3600, 0.0)


def _hours(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _sla_breached(data: dict[str, Any], lang: Lang) -> str:
    kind = word(TICKET_KINDS, data.get("kind"), lang)
    priority = word(PRIORITIES, data.get("priority"), lang)
    clock = data.get("clock")
    due, late = _when(data.get("due_at")), late_hours(data)
    assignee = data.get("assignee")
    if lang == "zh":
        what = "无人及时答复" if clock == "first_response" else "未按时解决"
        return (f"{kind} {ticket_no(data)}（{priority}）{what}：{word(CLOCKS, clock, lang)}时限为 {due}"
                + (f"，已超时 {_hours(late)} 小时" if late else "") + (f"，处理人 {assignee}" if assignee else ""))
    what = "not answered in time" if clock == "first_response" else "not resolved in time"
    return (f"{kind.capitalize()} {ticket_no(data)} ({priority}) {what}: {word(CLOCKS, clock, lang)} was due "
            f"{due}" + (f", {_hours(late)} h late" if late else "") + (f"; handled by {assignee}" if assignee else ""))


def _satisfaction(data: dict[str, Any], lang: Lang) -> str:
    score, comment = data.get("score", ""), str(data.get("comment") or "")
    if lang == "zh":
        return f"客户对工单 {ticket_no(data)} 的处理满意度 {score}/5" + (f"：{comment}" if comment else "")
    return f"Satisfaction with how ticket {ticket_no(data)} was handled: {score}/5" + (f": {comment}" if comment else "")


def _prevention_done(data: dict[str, Any], lang: Lang) -> str:
    who, note, category = data.get("by", ""), str(data.get("note") or ""), data.get("category")
    if lang == "zh":
        return (f"{who} 完成了工单 {ticket_no(data)} 的预防措施" + (f"（{word(CATEGORIES, category, lang)}）" if category else "")
                + (f"：{note}" if note else ""))
    return (f"{who} completed the prevention action of ticket {ticket_no(data)}"
            + (f" ({word(CATEGORIES, category, lang)})" if category else "") + (f": {note}" if note else ""))


TICKET_SUMMARIES: dict[str, Callable[[dict[str, Any], Lang], str]] = {
    "TicketAssigned": _assigned,
    "TicketEscalated": _escalated,
    "TicketResponded": _responded,
    "TicketNoteAdded": _note,
    "TicketStatusChanged": _status_changed,
    "TicketRemedyProposed": _remedy_proposed,
    "TicketRemedyAnswered": _remedy_answered,
    "TicketResolved": _resolved,
    "TicketReopened": _reopened,
    "TicketSlaBreached": _sla_breached,
    "TicketSatisfactionRecorded": _satisfaction,
    "PreventionActionCompleted": _prevention_done,
}


# --- the service part of the churn risk and the complaint_unanswered alert ------------------------


def explain_unanswered(evidence: dict[str, Any], lang: Lang) -> str:
    ticket, due = "#" + str(evidence.get("ticket_id") or "")[-8:], _when(evidence.get("due_at"))
    late = evidence.get("observed")
    if lang == "zh":
        return f"投诉 {ticket} 无人及时答复：首次响应时限为 {due}" + (f"，发现时已超时 {_hours(float(late))} 小时" if late else "")
    return f"Complaint {ticket} not answered in time: the first answer was due {due}" + (
        f", {_hours(float(late))} h late when found" if late else "")


def explain_service(part: Part, lang: Lang) -> str:
    """Why one part of the service risk holds, in the reader's language."""
    ticket = "#" + str(part.ticket_id or "")[-8:]
    age = _hours(part.age_days or 0.0)
    share = f"+{part.risk:.0%}"
    if part.reason == "open_complaint":
        priority = word(PRIORITIES, part.priority, lang)
        if lang == "zh":
            return (f"投诉 {ticket}（{priority}）已开启 {age} 天" + (f"，重开 {part.reopened} 次" if part.reopened else "")
                    + f"：{share}")
        return (f"Complaint {ticket} ({priority}) open for {age} days"
                + (f", reopened {part.reopened}×" if part.reopened else "") + f": {share}")
    if part.reason == "subjective_cause":
        if lang == "zh":
            return f"投诉 {ticket} 责任在我方，尚未解决：{share}"
        return f"Complaint {ticket} is our fault and not yet resolved: {share}"
    if part.reason == "unanswered":
        if lang == "zh":
            return f"投诉 {ticket} 超过首次响应时限 {age} 天仍无人答复：{share}"
        return f"Complaint {ticket} still unanswered {age} days after its first answer was due: {share}"
    if part.reason == "low_satisfaction":
        if lang == "zh":
            return f"最近一次满意度 {part.score}/5（{age} 天前）：{share}"
        return f"Latest satisfaction {part.score}/5 ({age} days ago): {share}"
    return part.reason
