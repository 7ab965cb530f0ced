"""Charts as SVG drawn on the server: no chart library, nothing to download, readable without script.

Each chart says what it shows in its ``<title>``/``<desc>`` (a screen reader reads them), never relies
on colour alone (lines are dashed differently and labelled in words; in China red means "up"), and
the page shows the numbers behind it in a table. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import escape

from markupsafe import Markup

from console.i18n import Texts

# Drawn 480 units wide: on a 390 px phone the labels stay about 10 px high, and on a desk the
# stylesheet caps the chart's width (a wider drawing would shrink its text on phones to nothing).
WIDTH = 480
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 16, 16, 40, 36


@dataclass(frozen=True)
class Purchase:
    day: date
    amount: Decimal


@dataclass(frozen=True)
class Rhythm:
    """What the rhythm picture draws: purchases, the usual gap, the expected next day, the overdue line."""

    purchases: Sequence[Purchase]
    today: date
    typical_gap_days: float | None
    expected_next: date | None
    overdue_from: date | None


def rhythm_window(rhythm: Rhythm, *, most_days: int = 730) -> tuple[date, date]:
    """From the first purchase shown to a little after the later of today and the overdue line;
    at most ``most_days`` back, so a regular's last two years fit a phone's width."""
    ends = [rhythm.today] + [d for d in (rhythm.expected_next, rhythm.overdue_from) if d]
    end = max(ends) + timedelta(days=7)
    first = min((p.day for p in rhythm.purchases), default=rhythm.today - timedelta(days=90))
    start = max(first - timedelta(days=7), end - timedelta(days=most_days))
    return start, end


def rhythm_svg(rhythm: Rhythm, t: Texts, title: str) -> Markup:
    start, end = rhythm_window(rhythm)
    span = max((end - start).days, 1)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    base_y = PAD_TOP + plot_h

    def x(day: date) -> float:
        return PAD_LEFT + plot_w * (day - start).days / span

    shown = [p for p in rhythm.purchases if start <= p.day <= end]
    top = max((p.amount for p in shown), default=Decimal(1)) or Decimal(1)
    parts: list[str] = []
    # month ticks (the first of each month), labelled YYYY-MM every few months so they do not collide
    month = date(start.year, start.month, 1)
    months: list[date] = []
    while month <= end:
        if month >= start:
            months.append(month)
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    every = max(1, len(months) // 6)
    for i, m in enumerate(months):
        parts.append(f'<line x1="{x(m):.1f}" y1="{PAD_TOP}" x2="{x(m):.1f}" y2="{base_y}" class="grid"/>')
        if i % every == 0:
            parts.append(f'<text x="{x(m):.1f}" y="{base_y + 16}" class="tick">{m:%Y-%m}</text>')
    parts.append(f'<line x1="{PAD_LEFT}" y1="{base_y}" x2="{WIDTH - PAD_RIGHT}" y2="{base_y}" class="axis"/>')
    # the overdue zone: from the overdue day on, hatched and labelled
    if rhythm.overdue_from and rhythm.overdue_from <= end:
        ox = max(x(rhythm.overdue_from), PAD_LEFT)
        parts.append(f'<rect x="{ox:.1f}" y="{PAD_TOP}" width="{WIDTH - PAD_RIGHT - ox:.1f}" height="{plot_h}" '
                     f'class="overdue-zone"/>')
        parts.append(f'<line x1="{ox:.1f}" y1="{PAD_TOP - 10}" x2="{ox:.1f}" y2="{base_y}" class="overdue-line"/>')
        parts.append(_label(ox, PAD_TOP - 14, t.gettext("overdue from %(day)s", day=rhythm.overdue_from.isoformat()),
                            "overdue-label", anchor="end" if ox > WIDTH * 0.7 else "start"))
    if rhythm.expected_next and start <= rhythm.expected_next <= end:
        ex = x(rhythm.expected_next)
        parts.append(f'<line x1="{ex:.1f}" y1="{PAD_TOP}" x2="{ex:.1f}" y2="{base_y}" class="expected-line"/>')
        parts.append(_label(ex, PAD_TOP + 12, t.gettext("expected %(day)s", day=rhythm.expected_next.isoformat()),
                            "expected-label", anchor="end" if ex > WIDTH * 0.6 else "start"))
    tx = x(rhythm.today)
    parts.append(f'<line x1="{tx:.1f}" y1="{PAD_TOP}" x2="{tx:.1f}" y2="{base_y}" class="today-line"/>')
    parts.append(_label(tx, base_y - 4, t.gettext("today"), "today-label", anchor="end"))
    for p in shown:
        h = max(3.0, float(p.amount / top) * (plot_h - 24))
        px = x(p.day)
        parts.append(f'<rect x="{px - 3:.1f}" y="{base_y - h:.1f}" width="6" height="{h:.1f}" class="purchase">'
                     f'<title>{escape(p.day.isoformat())}: {escape(t.money(p.amount))}</title></rect>')
    desc = rhythm_description(rhythm, t)
    svg = (f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="rhythm-title rhythm-desc" '
           f'xmlns="http://www.w3.org/2000/svg" class="rhythm">'
           f'<title id="rhythm-title">{escape(title)}</title><desc id="rhythm-desc">{escape(desc)}</desc>'
           f'{_STYLE}{"".join(parts)}</svg>')
    return Markup(svg)


def rhythm_description(rhythm: Rhythm, t: Texts) -> str:
    """The picture in one or two sentences: what a screen reader says, and the caption."""
    n = len(rhythm.purchases)
    said = [t.ngettext("%(num)d purchase day shown.", "%(num)d purchase days shown.", n)]
    if rhythm.typical_gap_days is not None:
        said.append(t.gettext("Usually buys every %(days)s days.", days=t.number(rhythm.typical_gap_days)))
    if rhythm.purchases:
        last = max(p.day for p in rhythm.purchases)
        said.append(t.ngettext("Last purchase %(num)d day ago.", "Last purchase %(num)d days ago.",
                               (rhythm.today - last).days))
    if rhythm.expected_next:
        said.append(t.gettext("Next purchase expected on %(day)s.", day=rhythm.expected_next.isoformat()))
    if rhythm.overdue_from:
        if rhythm.today >= rhythm.overdue_from:
            said.append(t.ngettext("Overdue for %(num)d day.", "Overdue for %(num)d days.",
                                   (rhythm.today - rhythm.overdue_from).days))
        else:
            said.append(t.gettext("Overdue from %(day)s.", day=rhythm.overdue_from.isoformat()))
    return " ".join(said)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value in words, as the page formats it
    href: str | None = None


def bars_svg(bars: Sequence[Bar], title: str, desc: str, ident: str) -> Markup:
    """Horizontal bars, one per row, each a link when it drills down; the value written beside it."""
    row = 34
    height = PAD_TOP + row * max(len(bars), 1) + 8
    label_w = 110
    plot_w = WIDTH - label_w - 80
    top = max((b.value for b in bars), default=1.0) or 1.0
    rows: list[str] = []
    for i, bar in enumerate(bars):
        y = PAD_TOP + i * row
        w = max(2.0, plot_w * bar.value / top) if bar.value > 0 else 0.0
        body = (f'<text x="{label_w - 8}" y="{y + 20}" class="bar-label" text-anchor="end">{escape(bar.label)}</text>'
                f'<rect x="{label_w}" y="{y + 6}" width="{w:.1f}" height="20" class="bar"/>'
                f'<text x="{label_w + w + 6:.1f}" y="{y + 21}" class="bar-value">{escape(bar.shown)}</text>')
        if bar.href:
            body = f'<a href="{escape(bar.href)}" aria-label="{escape(bar.label)}: {escape(bar.shown)}">{body}</a>'
        rows.append(body)
    svg = (f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{ident}-title {ident}-desc" '
           f'xmlns="http://www.w3.org/2000/svg" class="bars">'
           f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>'
           f'{_STYLE}{"".join(rows)}</svg>')
    return Markup(svg)


def _label(x: float, y: float, text: str, cls: str, *, anchor: str = "start") -> str:
    dx = -4 if anchor == "end" else 4
    return f'<text x="{x + dx:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'


_STYLE = """<style>
.grid{stroke:#e3e6ec;stroke-width:1}.axis{stroke:#4a5365;stroke-width:1}
.tick,.bar-label,.bar-value{font-size:14px;fill:#1d2330}
.purchase{fill:#0b5cad}.bar{fill:#0b5cad}
.expected-line{stroke:#1e6b34;stroke-width:2;stroke-dasharray:6 4}.expected-label{font-size:14px;fill:#1e6b34}
.overdue-line{stroke:#a4161a;stroke-width:2}.overdue-label{font-size:14px;fill:#a4161a;font-weight:600}
.overdue-zone{fill:#a4161a;fill-opacity:.08}
.today-line{stroke:#1d2330;stroke-width:1;stroke-dasharray:2 3}.today-label{font-size:14px;fill:#1d2330}
a:focus .bar,a:hover .bar{fill:#083f78}
</style>"""

