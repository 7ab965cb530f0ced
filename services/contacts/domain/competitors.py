"""Competitors a customer also buys from, with a note; and the report per competitor. No I/O.

A customer's competitors are part of its record: a change is one ``competitors`` row of the
record's history (old → new: the competitors and their notes) and a ``CustomerProfileUpdated``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import Invalid
from shared.events import CustomerCategory, FieldChange

MAX_NAME = 100
FIELD = "competitors"
CATEGORIES: tuple[CustomerCategory, ...] = ("potential", "prospective", "current", "lost")
_BLANKS = re.compile(r"\s+")
NAME_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
"""Something besides blanks (and no NUL, which the edge refuses anyway)."""


class CompetitorNote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field("", max_length=1000, description="What the customer buys there, and why.")


class Competitor(BaseModel):
    competitor: str = Field(description="The competitor's name, as first noted.")
    note: str
    noted_at: datetime
    noted_by: str


class CompetitorList(BaseModel):
    items: list[Competitor]


class CompetitorReportItem(BaseModel):
    competitor: str
    customers: int = Field(description="How many customers (in your scope) also buy from them.")
    by_category: dict[str, int] = Field(description="The same, per category (potential, prospective, current, lost).")


class CompetitorReport(BaseModel):
    items: list[CompetitorReportItem] = Field(description="Most customers first.")


def competitor_name(raw: str) -> str:
    """A competitor's name as kept: blanks trimmed, inner blanks as one space; 1 to 100 characters."""
    name = _BLANKS.sub(" ", raw).strip()
    if not name:
        raise Invalid.field("path.name", "a competitor needs a name")
    if len(name) > MAX_NAME:
        raise Invalid.field("path.name", f"at most {MAX_NAME} characters")
    return name


def change(before: Mapping[str, str], after: Mapping[str, str]) -> FieldChange | None:
    """The history row of a change of the competitors (name → note), or None when nothing changed."""
    if dict(before) == dict(after):
        return None
    return FieldChange(field=FIELD, old=dict(sorted(before.items())), new=dict(sorted(after.items())))


def report(rows: Iterable[Mapping[str, object]]) -> CompetitorReport:
    """Rows (competitor, category, customers) folded into one item per competitor, most customers first."""
    items: dict[str, CompetitorReportItem] = {}
    for row in rows:
        name = str(row["competitor"])
        item = items.get(name)
        if item is None:
            item = items[name] = CompetitorReportItem(competitor=name, customers=0,
                                                      by_category={c: 0 for c in CATEGORIES})
        count = int(str(row["customers"]))
        item.customers += count
        category = str(row["category"])
        item.by_category[category] = item.by_category.get(category, 0) + count
    return CompetitorReport(items=sorted(items.values(), key=lambda i: (-i.customers, i.competitor)))
