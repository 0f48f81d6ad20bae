"""The geometry of the pipeline's bar charts, drawn by the template as inline SVG: per group
(a month, a status) two bars, the amount and the weighted amount, in one currency (amounts
of different currencies are never on one scale). A sentence sums the chart up for those who
cannot see it; the table beside it has every number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# Drawing units of the viewBox (the SVG scales to the width it is given).
LEFT = 8
TOP = 22
PLOT_HEIGHT = 150
BAR_WIDTH = 20
# A group is as wide as its label needs (about 7 units a character), within these bounds.
GROUP_WIDTH = (60, 150)
CHAR_WIDTH = 7
MIN_WIDTH = 240  # room for the scale's label
LABEL_GAP = 16
HEIGHT = TOP + PLOT_HEIGHT + LABEL_GAP + 8


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    weighted: bool
    value: str


@dataclass(frozen=True)
class Group:
    label: str
    short_label: str
    centre: int
    bars: tuple[Bar, Bar]


@dataclass(frozen=True)
class Chart:
    title: str
    summary: str
    width: int
    height: int
    baseline: int
    label_y: int
    top: int
    bar_width: int
    top_label: str
    groups: list[Group]


def money(value: str | None, currency: str | None = None) -> str:
    """A decimal string as people read it ("1,234.50 EUR"); as it is when not a number."""
    if value is None:
        return ""
    try:
        shown = f"{Decimal(value):,}"
    except InvalidOperation:
        shown = str(value)
    return f"{shown} {currency}" if currency else shown


def month_label(month: str) -> str:
    """ "2027-01" -> "Jan 2027"; the forecast's "past_due" bucket -> "Past due"."""
    if month == "past_due":
        return "Past due"
    try:
        return date.fromisoformat(f"{month}-01").strftime("%b %Y")
    except ValueError:
        return month


def bar_chart(title: str, currency: str | None, rows: list[tuple[str, str, str]]) -> Chart:
    """``rows``: (label, amount, weighted amount), amounts as decimal strings."""
    amounts = [(label, _number(a), _number(w), a, w) for label, a, w in rows]
    top = max([a for _, a, *_ in amounts] + [w for _, _, w, *_ in amounts] + [Decimal(0)])
    baseline = TOP + PLOT_HEIGHT
    longest = max((len(label) for label, *_ in rows), default=0)
    width = max(GROUP_WIDTH[0], min(GROUP_WIDTH[1], CHAR_WIDTH * longest + 12))
    fits = (width - 8) // CHAR_WIDTH
    groups = []
    for index, (label, amount, weighted, amount_text, weighted_text) in enumerate(amounts):
        left = LEFT + index * width + (width - 2 * BAR_WIDTH) // 2
        bars = (
            _bar(left, amount, top, baseline, False, money(amount_text, currency)),
            _bar(left + BAR_WIDTH, weighted, top, baseline, True, money(weighted_text, currency)),
        )
        short = label if len(label) <= fits else label[: fits - 1] + "…"
        groups.append(Group(label, short, LEFT + index * width + width // 2, bars))
    return Chart(
        title=title,
        summary=_summary(title, currency, amounts),
        width=max(MIN_WIDTH, LEFT * 2 + len(rows) * width),
        height=HEIGHT,
        baseline=baseline,
        label_y=baseline + LABEL_GAP,
        top=TOP,
        bar_width=BAR_WIDTH,
        top_label=f"top of scale: {money(str(top), currency)}",
        groups=groups,
    )


def _bar(x: int, value: Decimal, top: Decimal, baseline: int, weighted: bool, text: str) -> Bar:
    height = float(value / top * PLOT_HEIGHT) if top > 0 and value > 0 else 0.0
    return Bar(x, round(baseline - height, 1), round(height, 1), weighted, text)


def _summary(title: str, currency: str | None, amounts: list) -> str:
    shown = [
        f"{label}: {money(a, currency)}, weighted {money(w, currency)}"
        for label, amount, _, a, w in amounts
        if amount
    ]
    if not shown:
        return f"{title}: nothing to show."
    return f"{title}, amount and weighted amount: " + "; ".join(shown) + "."


def _number(value: str | None) -> Decimal:
    try:
        return Decimal(value or 0)
    except InvalidOperation:
        return Decimal(0)
