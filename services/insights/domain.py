"""The unified customer view, starting with the timeline: pure rules, no I/O.

Summaries are rendered when read, in the reader's language (``Accept-Language``: English and
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


_SUMMARIES = {
    "CustomerRegistered": _registered,
    "OrderPlaced": _order,
    "ComplaintFiled": _complaint,
    "FeedbackReceived": _feedback,
    "ServiceRequested": _service_request,
}
