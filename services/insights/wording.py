"""What insights says in words: timeline summaries and the explanations of alerts and stages. No I/O.

The rules themselves are in ``domain.py``. Summaries are rendered when read, in the reader's language (``Accept-Language``: English and
simplified Chinese), from the event data the timeline keeps whole.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from services.insights.wording_orders import ORDER_SUMMARIES, lines_text, quantity_text
from services.insights.wording_orders import Lang as Lang  # the one definition
from services.insights.wording_tickets import CATEGORIES, TICKET_SUMMARIES, explain_unanswered, word
from services.insights.wording_tickets import explain_service as explain_service  # for the routes

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


def _registered(data: dict[str, Any], lang: Lang) -> str:
    name = data.get("name", "")
    via = _channel(data, lang)
    if lang == "zh":
        return f"登记为客户：{name}" + (f"（渠道：{via}）" if via else "")
    return f"Registered as a customer: {name}" + (f" (via {via})" if via else "")


def _order(data: dict[str, Any], lang: Lang) -> str:
    lines = data.get("lines", [])
    items = sum((Decimal(str(ln.get("quantity", 0))) for ln in lines), Decimal(0))
    shown = lines_text(lines)
    money = f"{data.get('currency', '')} {data.get('total', '')}"
    off = Decimal(str(data.get("discount") or 0)) + sum(
        (Decimal(str(ln.get("discount") or 0)) for ln in lines), Decimal(0))
    waiting = data.get("status") == "pending_approval"
    if lang == "zh":
        return (f"在{_channel(data, lang)}下单 {quantity_text(items)} 件（{shown}），金额 {money}"
                + (f"（优惠 {off:.2f}）" if off else "") + ("，待审批" if waiting else ""))
    return (f"Ordered {quantity_text(items)} item{'s' if items != 1 else ''} ({shown}) for {money}"
            + (f" ({off:.2f} off)" if off else "") + f" at {_channel(data, lang)}"
            + (", waiting for approval" if waiting else ""))


def _complaint(data: dict[str, Any], lang: Lang) -> str:
    severity = data.get("priority") or data.get("severity") or "normal"
    category = data.get("category")
    if lang == "zh":
        about = f"，{word(CATEGORIES, category, lang)}" if category else ""
        return f"{_channel(data, lang)}投诉（{SEVERITY_ZH.get(severity, severity)}{about}）：{data.get('subject', '')}"
    about = f", {word(CATEGORIES, category, lang)}" if category else ""
    return f"Complaint by {_channel(data, lang)} ({severity}{about}): {data.get('subject', '')}"


def _feedback(data: dict[str, Any], lang: Lang) -> str:
    score = data.get("satisfaction")
    if lang == "zh":
        return f"{_channel(data, lang)}反馈" + (f"（满意度 {score}/5）" if score else "") + f"：{data.get('subject', '')}"
    return f"Feedback by {_channel(data, lang)}" + (f" ({score}/5)" if score else "") + f": {data.get('subject', '')}"


SERVICE_TYPES = {"warranty": ("warranty", "保修"), "repair": ("repair", "维修"), "return": ("return", "退货"),
                 "question": ("question", "咨询")}


def _service_request(data: dict[str, Any], lang: Lang) -> str:
    service_type = data.get("service_type")
    if lang == "zh":
        what = f"（{word(SERVICE_TYPES, service_type, lang)}）" if service_type else ""
        return f"{_channel(data, lang)}服务请求{what}：{data.get('subject', '')}"
    what = f" ({word(SERVICE_TYPES, service_type, lang)})" if service_type else ""
    return f"Service request{what} by {_channel(data, lang)}: {data.get('subject', '')}"


ALERT_KINDS = {
    "purchase_overdue": ("purchase overdue", "逾期未购"), "quantity_drop": ("buying fewer items", "购买量下降"),
    "value_drop": ("spending less", "消费下降"), "churn_risk": ("churn risk", "流失风险"),
    "stage_decline": ("in decline", "进入衰退期"), "complaint_unanswered": ("complaint unanswered", "投诉未及时答复"),
}


def _acknowledged(data: dict[str, Any], lang: Lang) -> str:
    kind = str(data.get("kind", ""))
    en, zh = ALERT_KINDS.get(kind, (kind, kind))
    who, note = data.get("acknowledged_by", ""), data.get("note", "")
    if lang == "zh":
        return f"{who} 处理了提醒（{zh}）：{note}"
    return f"{who} handled the alert ({en}): {note}"


FIELDS_ZH = {
    "name": "名称", "kind": "类型", "email": "邮箱", "address": "地址", "notes": "备注", "tags": "标签",
    "lead_source": "客户来源", "lead_source_detail": "来源说明", "referred_by": "介绍人", "external_ref": "编号",
    "competitors": "竞争对手",
}
CONTACT_ROLES = {"decision_maker": ("decision maker", "决策人"), "purchaser": ("purchaser", "采购"),
                 "user": ("user", "使用人"), "payer": ("payer", "付款人")}


def _profile_updated(data: dict[str, Any], lang: Lang) -> str:
    fields = [str(c.get("field", "")) for c in data.get("changes", [])]
    who = data.get("changed_by", "")
    if lang == "zh":
        return f"{who} 修改了资料：" + "、".join(FIELDS_ZH.get(f, f) for f in fields)
    return f"{who} changed " + ", ".join(f.replace("_", " ") for f in fields)


def _role(data: dict[str, Any], lang: Lang) -> str:
    role = str(data.get("role", ""))
    en, zh = CONTACT_ROLES.get(role, (role, role))
    title = data.get("title")
    if lang == "zh":
        return zh + (f"（{title}）" if title else "")
    return en + (f" ({title})" if title else "")


def _contact_added(data: dict[str, Any], lang: Lang) -> str:
    if lang == "zh":
        return f"{data.get('added_by', '')} 添加了联系人：{_role(data, lang)}"
    return f"{data.get('added_by', '')} added a contact person: {_role(data, lang)}"


def _contact_removed(data: dict[str, Any], lang: Lang) -> str:
    if lang == "zh":
        return f"{data.get('removed_by', '')} 移除了联系人：{_role(data, lang)}"
    return f"{data.get('removed_by', '')} removed a contact person: {_role(data, lang)}"
IDENTITY_KINDS: dict[str, tuple[str, str]] = {  # kind: (English, Chinese)
    "phone": ("phone", "电话"), "email": ("e-mail", "邮箱"), "wechat_openid": ("WeChat OpenID", "微信 OpenID"),
    "wechat_unionid": ("WeChat UnionID", "微信 UnionID"), "web_account": ("web account", "网店账号"),
    "membership_card": ("membership card", "会员卡"), "fair_badge": ("fair badge", "展会胸卡"),
    "other": ("other identity", "其他身份"),
}


def _identity(data: dict[str, Any], lang: Lang) -> str:
    kind = str(data.get("kind", ""))
    english, chinese = IDENTITY_KINDS.get(kind, (kind, kind))
    name = str(data.get("label") or (chinese if lang == "zh" else english))  # `other`: what its label says
    return f"{name} {data.get('value', '')}"


def _identity_linked(data: dict[str, Any], lang: Lang) -> str:
    by = data.get("linked_by", "")
    if lang == "zh":
        return f"关联身份：{_identity(data, lang)}（操作人：{by}）"
    return f"Identity linked: {_identity(data, lang)} (by {by})"


def _identity_unlinked(data: dict[str, Any], lang: Lang) -> str:
    by = data.get("unlinked_by", "")
    if lang == "zh":
        return f"解除身份：{_identity(data, lang)}（操作人：{by}）"
    return f"Identity unlinked: {_identity(data, lang)} (by {by})"
CATEGORIES_ZH = {"potential": "潜在客户", "prospective": "意向客户", "current": "成交客户", "lost": "流失客户"}
LOSS_REASONS = {
    "moved_away": ("moved away", "搬走了"), "closed_down": ("closed down", "已停业"), "price": ("price", "价格"),
    "service": ("service", "服务"), "quality": ("quality", "质量"), "competitor": ("went to a competitor", "转向竞争对手"),
    "other": ("another reason", "其他原因"),
}


def _category_changed(data: dict[str, Any], lang: Lang) -> str:
    before, after = str(data.get("previous_category", "")), str(data.get("category", ""))
    reason, who = data.get("reason", ""), data.get("changed_by", "")
    loss = LOSS_REASONS.get(str(data.get("loss_reason") or ""))
    if lang == "zh":
        step = f"{CATEGORIES_ZH.get(before, before)} → {CATEGORIES_ZH.get(after, after)}"
        if data.get("automatic"):
            return f"因下单自动成为{CATEGORIES_ZH.get(after, after)}（原为{CATEGORIES_ZH.get(before, before)}）"
        return f"类别：{step}" + (f"（流失原因：{loss[1]}）" if loss else "") + f"，{who}：{reason}"
    if data.get("automatic"):
        return f"Became {after} by placing an order (was {before})"
    return f"Category: {before} → {after}" + (f" (lost: {loss[0]})" if loss else "") + f", by {who}: {reason}"
FOLLOW_UP_VERBS = {
    "phone": ("phoned", "电话跟进"), "visit": ("visited", "上门拜访"), "wechat": ("messaged on WeChat", "微信跟进"),
    "email": ("emailed", "邮件跟进"), "store": ("met in the store", "门店面谈"), "meeting": ("met", "会面"),
}
FOLLOW_UP_OUTCOMES = {
    "reached": ("reached", "已联系上"), "no_answer": ("no answer", "未联系上"), "interested": ("interested", "有意向"),
    "not_interested": ("not interested", "无意向"), "order_expected": ("order expected", "预计下单"),
    "complaint": ("complaint", "有投诉"), "other": ("other", "其他"),
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _follow_up(data: dict[str, Any], lang: Lang) -> str:
    """王芳 phoned: 想要新茶 — order expected; next follow-up 3 Mar."""
    channel, outcome = str(data.get("channel", "")), str(data.get("outcome", ""))
    by, note = data.get("by", ""), str(data.get("note") or "").strip()
    verb_en, verb_zh = FOLLOW_UP_VERBS.get(channel, (f"followed up by {channel}", f"{_channel(data, 'zh')}跟进"))
    outcome_en, outcome_zh = FOLLOW_UP_OUTCOMES.get(outcome, (outcome, outcome))
    due = date.fromisoformat(data["next_due"]) if data.get("next_due") else None
    if lang == "zh":
        text = f"{by} {verb_zh}：" + (f"{note} — " if note else "") + outcome_zh
        return text + (f"；下次跟进 {due.month}月{due.day}日" if due else "")
    text = f"{by} {verb_en}: " + (f"{note} — " if note else "") + outcome_en
    return text + (f"; next follow-up {due.day} {_MONTHS[due.month - 1]}" if due else "")
def _owner_assigned(data: dict[str, Any], lang: Lang) -> str:
    owner, previous, how = data.get("owner", ""), data.get("previous_owner"), str(data.get("how", "assigned"))
    by, reason = data.get("assigned_by", ""), data.get("reason")
    if lang == "zh":
        text = {"claimed": f"{owner} 从公海领取了客户",
                "handover": f"客户由 {previous or '公海'} 交接给 {owner}（{by} 操作）"}.get(
            how, f"{by} 把客户分配给 {owner}" + (f"（原负责人 {previous}）" if previous else "（来自公海）"))
        return text + (f"：{reason}" if reason else "")
    text = {"claimed": f"{owner} claimed the customer from the pool",
            "handover": f"Handed over from {previous or 'the pool'} to {owner} by {by}"}.get(
        how, f"{by} assigned the customer to {owner}" + (f" (was {previous})" if previous else " (from the pool)"))
    return text + (f": {reason}" if reason else "")


POOL_RULES = {"no_follow_up": ("no follow-up", "未跟进"), "no_order": ("no order", "未下单")}


def _returned_to_pool(data: dict[str, Any], lang: Lang) -> str:
    rule, previous = str(data.get("rule", "")), data.get("previous_owner") or "?"
    days, limit = data.get("days_without"), data.get("limit_days")
    until = str(data.get("reclaim_after") or "")[:10]
    if rule == "released":
        reason = data.get("reason")
        if lang == "zh":
            return f"{data.get('returned_by', '')} 把客户放回公海（原负责人 {previous}）" + (f"：{reason}" if reason else "")
        return f"Released to the pool by {data.get('returned_by', '')} (was {previous})" + (f": {reason}" if reason else "")
    en, zh = POOL_RULES.get(rule, (rule, rule))
    if lang == "zh":
        text = f"退回公海：{zh} {days} 天（上限 {limit} 天），原负责人 {previous}"
        return text + (f"，{until} 前不能领回" if until else "")
    text = f"Returned to the pool: {en} for {days} days (limit {limit}); was {previous}'s"
    return text + (f", who may claim back from {until}" if until else "")
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
    **ORDER_SUMMARIES,
    **TICKET_SUMMARIES,
    "CustomersMerged": _merged,
    "CustomerMergeUndone": _merge_undone,
    "CustomerRegistered": _registered,
    "CustomerProfileUpdated": _profile_updated,
    "ContactPersonAdded": _contact_added,
    "ContactPersonRemoved": _contact_removed,
    "CustomerCategoryChanged": _category_changed,
    "CustomerOwnerAssigned": _owner_assigned,
    "CustomerReturnedToPool": _returned_to_pool,
    "OrderPlaced": _order,
    "ComplaintFiled": _complaint,
    "FeedbackReceived": _feedback,
    "ServiceRequested": _service_request,
    "AlertAcknowledged": _acknowledged,
    "ChannelIdentityLinked": _identity_linked,
    "ChannelIdentityUnlinked": _identity_unlinked,
    "FollowUpLogged": _follow_up,
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
    if kind == "complaint_unanswered":
        return explain_unanswered(evidence, lang)
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
