"""A credit standing in words: its reason and evidence in one line, in Chinese or English. No I/O.

The rule and its reasons are in ``credit.py`` (docs/credit.md). The line names the facts the
reason rests on, as a clerk would say them: "最久逾期 75 天，逾期 ¥600.00，按时付款 50%" /
"75 days overdue at most, ¥600.00 overdue, 50% paid on time". Amounts are the shop's currency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from services.insights.wording import Lang

Evidence = Mapping[str, Any]


def _money(value: Any) -> str:
    try:
        amount = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        amount = Decimal(0)
    return f"¥{amount:,.2f}"


def _share(evidence: Evidence) -> float | None:
    share = evidence.get("share_on_time")
    return None if share is None else float(share)


def _days(value: Any) -> float:
    number = float(value or 0)
    return round(number, 1)


def _days_text(number: float) -> str:
    return f"{number:.0f}" if number == int(number) else f"{number:.1f}"


def _longest(evidence: Evidence, lang: Lang) -> str:
    days = int(evidence.get("longest_overdue_days") or 0)
    if lang == "zh":
        return f"最久逾期 {days} 天"
    return f"{days} day{'s' if days != 1 else ''} overdue at most"


def _overdue(evidence: Evidence, lang: Lang) -> str:
    return f"逾期 {_money(evidence.get('overdue'))}" if lang == "zh" else f"{_money(evidence.get('overdue'))} overdue"


def _on_time(evidence: Evidence, lang: Lang) -> list[str]:
    share = _share(evidence)
    if share is None:
        return []
    return [f"按时付款 {share:.0%}" if lang == "zh" else f"{share:.0%} paid on time"]


def _counted(evidence: Evidence, lang: Lang) -> str:
    n = int(evidence.get("instalments_due") or 0)
    return f"{n} 笔已到期" if lang == "zh" else f"{n} instalment{'s' if n != 1 else ''} due"


def _average_late(evidence: Evidence, lang: Lang) -> list[str]:
    if evidence.get("average_days_late") is None:
        return []
    days = _days(evidence.get("average_days_late"))
    text = _days_text(days)
    if lang == "zh":
        return [f"平均迟付 {text} 天"]
    return [f"paid {text} day{'s' if days != 1 else ''} late on average"]


def _owes(evidence: Evidence) -> bool:
    return Decimal(str(evidence.get("overdue") or 0)) > 0


def _long_overdue(e: Evidence, lang: Lang) -> list[str]:
    return [_longest(e, lang), _overdue(e, lang), *_on_time(e, lang)]


def _large_overdue(e: Evidence, lang: Lang) -> list[str]:
    half = "逾期 {0}，占已到期应付的一半以上" if lang == "zh" else "{0} overdue, half or more of all that fell due"
    return [_longest(e, lang), half.format(_money(e.get("overdue"))), *_on_time(e, lang)]


def _often_late(e: Evidence, lang: Lang) -> list[str]:
    return [*_on_time(e, lang), _counted(e, lang), *_average_late(e, lang)]


def _pays_late(e: Evidence, lang: Lang) -> list[str]:
    return [*_average_late(e, lang), *_on_time(e, lang), _counted(e, lang)]


def _on_time_reason(e: Evidence, lang: Lang) -> list[str]:
    return [*_on_time(e, lang), _counted(e, lang)]


def _no_history(e: Evidence, lang: Lang) -> list[str]:
    return ["尚无赊账记录" if lang == "zh" else "nothing bought on account yet"]


def _little_history(e: Evidence, lang: Lang) -> list[str]:
    n = int(e.get("instalments_due") or 0)
    first = (f"记录尚少：仅 {n} 笔已到期" if lang == "zh"
             else f"little history: only {n} instalment{'s' if n != 1 else ''} due")
    return [first, *([_longest(e, lang), _overdue(e, lang)] if _owes(e) else [])]


def _normal(e: Evidence, lang: Lang) -> list[str]:
    return [*_on_time(e, lang), _counted(e, lang), *([_longest(e, lang), _overdue(e, lang)] if _owes(e) else [])]


_REASONS: dict[str, Callable[[Evidence, Lang], list[str]]] = {
    "long_overdue": _long_overdue,
    "large_overdue": _large_overdue,
    "overdue": _long_overdue,
    "often_late": _often_late,
    "pays_late": _pays_late,
    "on_time": _on_time_reason,
    "no_history": _no_history,
    "little_history": _little_history,
    "normal": _normal,
}


def explain_credit(reason: str, evidence: Evidence, lang: Lang) -> str:
    """One line saying why a customer has their credit tier, from the reason and its evidence (a
    reason this module does not know is given as it is)."""
    render = _REASONS.get(reason)
    if render is None:
        return reason
    parts = render(evidence, lang)
    if lang == "zh":
        return "，".join(parts)
    line = ", ".join(parts)
    return line[:1].upper() + line[1:]
