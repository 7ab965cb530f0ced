"""Tickets as a person reads them: the SLA clock in words, the board's columns, and the words for
the tickets service's codes (status, category, responsibility, remedy…). Pure: no I/O, so the unit
tests (tests/test_console_tickets_units.py) check what a page will say.

The clock is the tickets service's (``sla.business_seconds_left``, counted in the shop calendar's
business time): the console only words it — "剩 2 小时 15 分" / "2 h 15 min left", "超时 1 小时",
"已暂停（等待客户）" — and says how urgent it is, in words first and colour second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from console.i18n import Texts

SOON_S = 2 * 3600  # "breaching soon": a running clock with at most two business hours left
SOON_PARAM = "2h"  # the same, as GET /tickets?breaching_within= takes it
RECENT_DAYS = 7  # the board's last column: resolved within this many days
ACTIVE = ("open", "waiting_on_customer")
STATUSES = ("open", "waiting_on_customer", "resolved", "closed")
KINDS = ("complaint", "feedback", "service_request")
PRIORITIES = ("low", "normal", "high", "critical")
CATEGORIES = ("quality", "delivery", "billing", "attitude", "product_info", "after_sales", "other")
RESPONSIBILITIES = ("ours", "customer", "third_party", "undetermined")
REMEDIES = ("replace", "repair", "refund", "discount", "explanation", "other")
SERVICE_TYPES = ("warranty", "repair", "return", "question")
ANSWERS = ("accepted", "rejected", "pending")
COLUMNS = ("new", "in_progress", "waiting", "resolved")


@dataclass(frozen=True)
class Clock:
    """The SLA clock as shown: ``text`` in the person's language, ``tone`` for the style (and the
    sort): overdue, soon, running, paused or none."""

    text: str
    tone: str
    which: str  # the clock's name in words ("first response"), "" when none runs


def duration_words(t: Texts, seconds: float) -> str:
    """Whole business minutes, as hours and minutes: "2 小时 15 分", "45 分", "3 小时"."""
    minutes = int(abs(seconds) // 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return t.gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=rest)
    if hours:
        return t.gettext("%(hours)s h", hours=hours)
    if rest:
        return t.gettext("%(minutes)s min", minutes=rest)
    return t.gettext("under 1 min")


def clock_of(t: Texts, sla: Mapping[str, Any] | None) -> Clock:
    """The words and tone of a ticket's ``sla`` (the API's view at its ``as_of``)."""
    sla = sla or {}
    which = clock_name(t, sla.get("clock"))
    if sla.get("paused"):
        return Clock(t.gettext("paused (waiting on the customer)"), "paused", which)
    left = sla.get("business_seconds_left")
    if left is None or not sla.get("clock"):
        return Clock(t.gettext("no deadline"), "none", "")
    left = float(left)
    if sla.get("breached") or left < 0:
        return Clock(t.gettext("%(time)s overdue", time=duration_words(t, left)), "overdue", which)
    tone = "soon" if left <= SOON_S else "running"
    return Clock(t.gettext("%(time)s left", time=duration_words(t, left)), tone, which)


def clock_name(t: Texts, clock: str | None) -> str:
    return {"first_response": t.gettext("first response"), "resolution": t.gettext("resolution")}.get(clock or "", "")


def urgency(ticket: Mapping[str, Any]) -> tuple[int, float, str]:
    """Sort key of a worklist: overdue and running clocks by time left (the most overdue first),
    then paused ones, then those without a clock, oldest first."""
    sla = ticket.get("sla") or {}
    left = sla.get("business_seconds_left")
    if sla.get("paused"):
        return (1, float(left or 0), ticket.get("occurred_at") or "")
    if left is None or not sla.get("clock"):
        return (2, 0.0, ticket.get("occurred_at") or "")
    return (0, float(left), ticket.get("occurred_at") or "")


def by_urgency(tickets: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(tickets, key=urgency)


def needs_attention(ticket: Mapping[str, Any], within_s: float = SOON_S) -> bool:
    """Overdue, or breaching within ``within_s`` business seconds (the nav's count)."""
    return overdue(ticket) or breaching_soon(ticket, within_s)


def breaching_soon(ticket: Mapping[str, Any], within_s: float = SOON_S) -> bool:
    """A running clock not yet breached with at most ``within_s`` business seconds left."""
    sla = ticket.get("sla") or {}
    left = sla.get("business_seconds_left")
    return (ticket.get("status") in ACTIVE and bool(sla.get("clock")) and not sla.get("paused")
            and not sla.get("breached") and left is not None and 0 <= float(left) <= within_s)


def overdue(ticket: Mapping[str, Any]) -> bool:
    """A running clock past its due time (a paused one is not running out)."""
    sla = ticket.get("sla") or {}
    left = sla.get("business_seconds_left")
    return (ticket.get("status") in ACTIVE and bool(sla.get("clock")) and not sla.get("paused")
            and bool(sla.get("breached") or (left is not None and float(left) < 0)))


def column_of(ticket: Mapping[str, Any], now: datetime, recent_days: int = RECENT_DAYS) -> str | None:
    """The board's column: new (open, nobody has answered the customer yet), in progress (open,
    answered), waiting (on the customer), resolved (or closed) within ``recent_days``; else none."""
    status = ticket.get("status")
    if status == "open":
        return "new" if not ticket.get("first_response_at") else "in_progress"
    if status == "waiting_on_customer":
        return "waiting"
    if status in ("resolved", "closed"):
        when = ticket.get("resolved_at") or ticket.get("closed_at")
        if when and datetime.fromisoformat(when) >= now - timedelta(days=recent_days):
            return "resolved"
    return None


def board(tickets: Iterable[Mapping[str, Any]], now: datetime,
          recent_days: int = RECENT_DAYS) -> dict[str, list[Mapping[str, Any]]]:
    """The tickets by column (``COLUMNS``, every column present): the open ones by urgency, the
    resolved ones newest first."""
    columns: dict[str, list[Mapping[str, Any]]] = {c: [] for c in COLUMNS}
    seen: set[str] = set()
    for ticket in tickets:
        column = column_of(ticket, now, recent_days)
        if column is None or ticket.get("id") in seen:
            continue
        seen.add(str(ticket.get("id")))
        columns[column].append(ticket)
    for name in ("new", "in_progress", "waiting"):
        columns[name] = by_urgency(columns[name])
    columns["resolved"].sort(key=lambda k: k.get("resolved_at") or k.get("closed_at") or "", reverse=True)
    return columns


def column_label(t: Texts, column: str) -> str:
    return {"new": t.gettext("New"), "in_progress": t.gettext("In progress"),
            "waiting": t.gettext("Waiting on the customer"),
            "resolved": t.gettext("Resolved recently")}.get(column, column)


def handler_ids(name: str, owner: str | None) -> set[str]:
    """What a ticket's ``assignee`` holds for this person: the customers' owner id they carry
    (salespeople) or their sign-in name."""
    return {name, *([owner] if owner else [])}


# --- the service's codes in words (literal calls, so the catalogue finds every one) -----------


def status_label(t: Texts, status: str) -> str:
    return {"open": t.pgettext("ticket", "open"), "waiting_on_customer": t.pgettext("ticket", "waiting_on_customer"),
            "resolved": t.pgettext("ticket", "resolved"), "closed": t.pgettext("ticket", "closed")}.get(status, status)


def category_label(t: Texts, category: str | None) -> str:
    return {"quality": t.pgettext("ticket_category", "quality"), "delivery": t.pgettext("ticket_category", "delivery"),
            "billing": t.pgettext("ticket_category", "billing"), "attitude": t.pgettext("ticket_category", "attitude"),
            "product_info": t.pgettext("ticket_category", "product_info"),
            "after_sales": t.pgettext("ticket_category", "after_sales"),
            "other": t.pgettext("ticket_category", "other")}.get(category or "", category or "—")


def responsibility_label(t: Texts, value: str | None) -> str:
    return {"ours": t.pgettext("responsibility", "ours"), "customer": t.pgettext("responsibility", "customer"),
            "third_party": t.pgettext("responsibility", "third_party"),
            "undetermined": t.pgettext("responsibility", "undetermined")}.get(value or "", value or "—")


def remedy_label(t: Texts, value: str | None) -> str:
    return {"replace": t.pgettext("remedy", "replace"), "repair": t.pgettext("remedy", "repair"),
            "refund": t.pgettext("remedy", "refund"), "discount": t.pgettext("remedy", "discount"),
            "explanation": t.pgettext("remedy", "explanation"), "other": t.pgettext("remedy", "other")}.get(
        value or "", value or "—")


def service_type_label(t: Texts, value: str | None) -> str:
    return {"warranty": t.pgettext("service_type", "warranty"), "repair": t.pgettext("service_type", "repair"),
            "return": t.pgettext("service_type", "return"), "question": t.pgettext("service_type", "question")}.get(
        value or "", value or "—")


def answer_label(t: Texts, value: str) -> str:
    return {"accepted": t.gettext("The customer accepted"), "rejected": t.gettext("The customer rejected"),
            "pending": t.gettext("Not answered yet")}.get(value, value)


def queue_label(t: Texts, queue: str | None) -> str:
    return {"service": t.pgettext("queue", "service")}.get(queue or "", queue or "—")


def action_label(t: Texts, action: str) -> str:
    return {"opened": t.pgettext("ticket_action", "opened"), "assigned": t.pgettext("ticket_action", "assigned"),
            "escalated": t.pgettext("ticket_action", "escalated"),
            "responded": t.pgettext("ticket_action", "responded"), "note": t.pgettext("ticket_action", "note"),
            "status": t.pgettext("ticket_action", "status"),
            "remedy_proposed": t.pgettext("ticket_action", "remedy_proposed"),
            "remedy_answered": t.pgettext("ticket_action", "remedy_answered"),
            "resolved": t.pgettext("ticket_action", "resolved"), "reopened": t.pgettext("ticket_action", "reopened"),
            "sla_breached": t.pgettext("ticket_action", "sla_breached"),
            "satisfaction": t.pgettext("ticket_action", "satisfaction")}.get(action, action)


def allowed_actions(status: str, remedy_pending: bool = False) -> list[str]:
    """What may happen to a ticket in ``status``, named as the tickets routes (``status:closed``…):
    the ticket's own ``allowed_actions`` when the service says; this when it does not."""
    handling = ["assign", "escalate", "responses", "notes"]
    if status == "open":
        return [*handling, "status:waiting_on_customer", "status:closed", "resolution"]
    if status == "waiting_on_customer":
        return [*handling, *(["remedy-answer"] if remedy_pending else ["status:open", "resolution"]), "status:closed"]
    if status == "resolved":
        return ["notes", "satisfaction", "reopen", "status:closed"]
    if status == "closed":
        return ["notes", "reopen"]
    return []


def step_label(t: Texts, action: str) -> str:
    """A step of handling (a route's name) in words: what a refusal says is possible now."""
    return {"assign": t.gettext("pass on"), "escalate": t.gettext("escalate"),
            "responses": t.gettext("answer the customer"), "notes": t.gettext("add a note"),
            "status:open": t.gettext("resume"), "status:waiting_on_customer": t.gettext("wait on the customer"),
            "status:closed": t.gettext("close"), "resolution": t.gettext("resolve"),
            "remedy-answer": t.gettext("record the customer's answer"), "reopen": t.gettext("reopen"),
            "satisfaction": t.gettext("record satisfaction")}.get(action, action)


_SILENT = {"first", "remedy_id", "previous_assignee", "previous_queue", "previous_status", "reopened_count", "due_at",
           "as_of", "action_id"}


def activity_details(t: Texts, detail: Mapping[str, Any], person: Callable[[str | None], str]) -> list[str]:
    """An activity's detail as short phrases in the person's words (what the service recorded;
    keys it adds later show as they are)."""
    words: list[str] = []
    for key, value in detail.items():
        if key in _SILENT or value is None or value == "" or value == {} or value == [] or value is False:
            if key == "previous_status" and "status" not in detail and value:
                words.append(t.gettext("was %(status)s", status=status_label(t, str(value))))
            continue
        if key in ("message", "note", "reason", "comment", "resolution", "remedy_detail", "detail", "action"):
            words.append(str(value))
        elif key in ("assignee", "to", "owner", "escalated_to"):
            words.append(t.gettext("to %(who)s", who=person(str(value))))
        elif key == "queue":
            words.append(t.gettext("to the queue %(queue)s", queue=queue_label(t, str(value))))
        elif key == "status":
            before = detail.get("previous_status")
            words.append(f"{status_label(t, str(before))} → {status_label(t, str(value))}" if before
                         else status_label(t, str(value)))
        elif key == "responsibility":
            words.append(t.gettext("responsibility: %(who)s", who=responsibility_label(t, str(value))))
        elif key == "category":
            words.append(t.gettext("category: %(category)s", category=category_label(t, str(value))))
        elif key == "remedy":
            words.append(remedy_label(t, str(value)))
        elif key == "accepted":
            words.append(answer_label(t, "accepted" if value else "rejected"))
        elif key == "customer_answer":
            words.append(answer_label(t, str(value)))
        elif key == "apology_given":
            words.append(t.gettext("apologised"))
        elif key == "score":
            words.append(t.gettext("satisfaction %(score)s of 5", score=value))
        elif key == "clock":
            words.append(clock_name(t, str(value)))
        elif key == "compensation":
            words.append(t.gettext("compensation %(amount)s", amount=t.money(value)))
        elif key == "compensation_credited":
            words.append(t.gettext("credited %(amount)s", amount=t.money(value)))
        elif key == "prevention" and isinstance(value, Mapping):
            words.append(t.gettext("prevention: %(action)s", action=value.get("action", "")))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            words.append(str(value))
    return words
