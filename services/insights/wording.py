"""What insights says in words: timeline summaries and the explanations of alerts and stages. No I/O.

The rules themselves are in ``domain.py``. Summaries are rendered when read, in the reader's language (``Accept-Language``: English and
simplified Chinese), from the event data the timeline keeps whole.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

Lang = Literal["en", "zh"]

CHANNELS_ZH = {
    "store": "门店", "shop": "门店", "phone": "电话", "web": "网店", "wechat": "微信", "fair": "展会",
    "visit": "拜访", "email": "邮件", "import": "导入", "meeting": "会议",
}
SEVERITY_ZH = {"low": "低", "normal": "一般", "high": "高", "critical": "紧急"}


class TimelineItem(BaseModel):
    event_id: uuid.UUID
    type: str = Field(description="Event name: CustomerRegistered, OrderPlaced, ComplaintFiled, ...")
    source: str = Field(description="The service that published it: /kehu/<service>.")
    occurred_at: datetime = Field(description="Business time.")
    recorded_at: datetime = Field(description="When the publishing service recorded it.")
    summary: str = Field(description="One human line, in the language asked for.")
    data: dict[str, Any] = Field(description="The event's data as published.")


def preferred_language(accept_language: str | None) -> Lang:
    """The best of our languages for an ``Accept-Language`` header (English when nothing fits)."""
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en") or tag == "*":
            return "en"
    return "en"


def summarize(event_type: str, data: dict[str, Any], lang: Lang) -> str:
    render = _SUMMARIES.get(event_type)
    if render is None:
        return event_type
    return render(data, lang)


def _channel(data: dict[str, Any], lang: Lang) -> str:
    channel = str(data.get("channel") or "")
    return CHANNELS_ZH.get(channel, channel) if lang == "zh" else channel


def _qty(value: Any) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def _registered(data: dict[str, Any], lang: Lang) -> str:
    name = data.get("name", "")
    via = _channel(data, lang)
    if lang == "zh":
        return f"登记为客户：{name}" + (f"（渠道：{via}）" if via else "")
    return f"Registered as a customer: {name}" + (f" (via {via})" if via else "")


def _order(data: dict[str, Any], lang: Lang) -> str:
    lines = data.get("lines", [])
    items = sum((Decimal(str(ln.get("quantity", 0))) for ln in lines), Decimal(0))
    shown = ", ".join(f"{ln.get('sku')} ×{_qty(ln.get('quantity'))}" for ln in lines[:3])
    if len(lines) > 3:
        shown += ", …"
    money = f"{data.get('currency', '')} {data.get('total', '')}"
    if lang == "zh":
        return f"在{_channel(data, lang)}下单 {_qty(items)} 件（{shown}），金额 {money}"
    return f"Ordered {_qty(items)} item{'s' if items != 1 else ''} ({shown}) for {money} at {_channel(data, lang)}"


def _complaint(data: dict[str, Any], lang: Lang) -> str:
    severity = data.get("severity", "normal")
    if lang == "zh":
        return f"{_channel(data, lang)}投诉（{SEVERITY_ZH.get(severity, severity)}）：{data.get('subject', '')}"
    return f"Complaint by {_channel(data, lang)} ({severity}): {data.get('subject', '')}"


def _feedback(data: dict[str, Any], lang: Lang) -> str:
    score = data.get("satisfaction")
    if lang == "zh":
        return f"{_channel(data, lang)}反馈" + (f"（满意度 {score}/5）" if score else "") + f"：{data.get('subject', '')}"
    return f"Feedback by {_channel(data, lang)}" + (f" ({score}/5)" if score else "") + f": {data.get('subject', '')}"


def _service_request(data: dict[str, Any], lang: Lang) -> str:
    if lang == "zh":
        return f"{_channel(data, lang)}服务请求：{data.get('subject', '')}"
    return f"Service request by {_channel(data, lang)}: {data.get('subject', '')}"


ALERT_KINDS = {
    "purchase_overdue": ("purchase overdue", "逾期未购"), "quantity_drop": ("buying fewer items", "购买量下降"),
    "value_drop": ("spending less", "消费下降"), "churn_risk": ("churn risk", "流失风险"),
    "stage_decline": ("in decline", "进入衰退期"),
}


def _acknowledged(data: dict[str, Any], lang: Lang) -> str:
    kind = str(data.get("kind", ""))
    en, zh = ALERT_KINDS.get(kind, (kind, kind))
    who, note = data.get("acknowledged_by", ""), data.get("note", "")
    if lang == "zh":
        return f"{who} 处理了提醒（{zh}）：{note}"
    return f"{who} handled the alert ({en}): {note}"


def _merged(data: dict[str, Any], lang: Lang) -> str:
    merged, by = data.get("merged_id", ""), data.get("merged_by", "")
    if lang == "zh":
        return f"{by} 将重复客户 {merged} 合并到此客户（其历史记录一并显示于此）"
    return f"{by} merged the duplicate customer {merged} into this one (its history is shown here too)"


def _merge_undone(data: dict[str, Any], lang: Lang) -> str:
    merged, by = data.get("merged_id", ""), data.get("undone_by", "")
    if lang == "zh":
        return f"{by} 撤销了与客户 {merged} 的合并（其历史记录已归还）"
    return f"{by} undid the merge with customer {merged} (its history went back to it)"


_SUMMARIES = {
    "CustomersMerged": _merged,
    "CustomerMergeUndone": _merge_undone,
    "CustomerRegistered": _registered,
    "OrderPlaced": _order,
    "ComplaintFiled": _complaint,
    "FeedbackReceived": _feedback,
    "ServiceRequested": _service_request,
    "AlertAcknowledged": _acknowledged,
}


# --- explanations of profile conclusions -------------------------------------------------------


def _n(value: Any) -> str:
    if value is None:
        return "?"
    number = float(value)
    return f"{number:.0f}" if abs(number - round(number)) < 0.05 else f"{number:.1f}"


def explain_alert(kind: str, evidence: dict[str, Any], lang: Lang) -> str:
    """One line saying why an alert holds, from its evidence, in the reader's language."""
    b, o, t = _n(evidence.get("baseline")), _n(evidence.get("observed")), _n(evidence.get("threshold"))
    if kind == "purchase_overdue":
        if lang == "zh":
            return f"已 {o} 天未购买；平时约每 {b} 天购买一次（超过 {t} 天即为逾期）"
        return f"No purchase for {o} days; usually buys every {b} days (overdue after {t})"
    if kind == "quantity_drop":
        if lang == "zh":
            return f"最近每次购买 {o} 件，平时 {b} 件（低于 {t} 件即报警）"
        return f"Recent purchases average {o} items against a usual {b} (alert below {t})"
    if kind == "value_drop":
        if lang == "zh":
            return f"最近每次消费 {o}，平时 {b}（低于 {t} 即报警）"
        return f"Recent purchases average {o} in value against a usual {b} (alert below {t})"
    if kind == "churn_risk":
        risk = float(evidence.get("observed") or 0)
        if lang == "zh":
            return f"流失风险 {risk:.0%}（阈值 {float(evidence.get('threshold') or 0):.0%}）"
        return f"Churn risk {risk:.0%} (threshold {float(evidence.get('threshold') or 0):.0%})"
    if kind == "stage_decline":
        if lang == "zh":
            return "客户关系进入衰退期：" + (f"已 {o} 天未购买，平时每 {b} 天" if evidence.get("unit") == "days"
                                        else f"最近 {o}，平时 {b}")
        return "The relationship is in decline: " + (
            f"no purchase for {o} days, usually every {b}" if evidence.get("unit") == "days"
            else f"recent {o} against a usual {b}")
    return kind


STAGES_ZH = {"exploration": "考察期", "formation": "形成期", "stability": "稳定期", "decline": "衰退期", "lost": "流失"}
SEGMENTS_ZH = {"prospect": "潜在客户", "champions": "冠军客户", "loyal": "忠诚客户", "potential": "潜力客户",
               "at_risk": "风险客户", "hibernating": "沉睡客户", "lost": "流失客户"}


def explain_stage(reason: str, evidence: dict[str, Any], lang: Lang) -> str:
    b, o, t = _n(evidence.get("baseline")), _n(evidence.get("observed")), _n(evidence.get("threshold"))
    texts = {
        "no_purchase": ("Registered, no purchase yet", "已登记，尚未购买"),
        "first_purchase": ("One purchase day so far: trying us out", "目前只购买过一天：试用阶段"),
        "repeat_purchases": (f"Came back: {o} purchase days, about every {b} days",
                             f"已回购：共 {o} 天有购买，约每 {b} 天一次"),
        "regular_rhythm": (f"A regular: {o} purchase days, about every {b} days",
                           f"老顾客：共 {o} 天有购买，约每 {b} 天一次"),
        "overdue_gap": (f"Buying less often: no purchase for {o} days, usually every {b} (threshold {t})",
                        f"购买变少：已 {o} 天未购买，平时每 {b} 天（阈值 {t} 天）"),
        "basket_drop": (f"Buying less: recent {o} against a usual {b}", f"购买量下降：最近 {o}，平时 {b}"),
        "long_absence": (f"No purchase for {o} days (lost after {t})", f"已 {o} 天未购买（超过 {t} 天视为流失）"),
    }
    en, zh = texts.get(reason, (reason, reason))
    return zh if lang == "zh" else en
