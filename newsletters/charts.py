"""Server-side SVG charts for the dashboard: geometry only, drawn by the templates.

No JavaScript library and nothing from a CDN. The plot is an SVG in a fixed 1000 by 200 space that
the page stretches to its width (`preserveAspectRatio="none"`, strokes that do not scale), so a
chart reads the same on a phone and on a desk; its labels are HTML beside it, at fixed places
(top, middle and bottom of the scale; first, middle and last day), so they never shrink with it.
Every chart is shown with its figures as a table too (the templates do that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils import dateformat

WIDTH = 1000
HEIGHT = 200


@dataclass(frozen=True)
class Line:
    key: str  # CSS class suffix and legend key
    label: str
    points: str  # SVG polyline points
    total: int


@dataclass(frozen=True)
class LineChart:
    lines: list[Line]
    y_labels: tuple[str, str, str]  # top, middle, bottom of the scale
    x_labels: tuple[str, str, str]  # first, middle, last day
    zero_y: float | None  # where 0 is, when the scale goes below it

    @property
    def width(self) -> int:
        return WIDTH

    @property
    def height(self) -> int:
        return HEIGHT

    @property
    def gridlines(self) -> tuple[float, float, float]:
        return (0.0, HEIGHT / 2, float(HEIGHT))


def nice_ceiling(value: float) -> int:
    """The smallest of 2, 4, 6, 8 or 10 times 10^k at or above `value` (at least 2).

    Even, so the middle of the scale is a whole number too.
    """
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    for step in (2, 4, 6, 8, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # not reached


def _label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _day_label(day: date) -> str:
    # Django's month names, in the language of the request ("3 Mar" in English).
    return dateformat.format(day, "j M")


def line_chart(
    *, days: Sequence[date], series: Sequence[tuple[str, str, Sequence[int]]]
) -> LineChart:
    """Lines of daily values (key, label, values per day) on one scale from its low to its high.

    The scale starts at 0 unless a value is negative (a running net figure can be).
    """
    values = [v for _, _, vs in series for v in vs] or [0]
    high = nice_ceiling(max(values)) if max(values) > 0 else 0
    low = -nice_ceiling(-min(values)) if min(values) < 0 else 0
    if high == low:
        high = 2
    span = high - low
    count = max(1, len(days) - 1)

    def y(value: float) -> float:
        return round(HEIGHT - (value - low) / span * HEIGHT, 1)

    lines = [
        Line(
            key=key,
            label=label,
            points=" ".join(f"{round(i * WIDTH / count, 1)},{y(v)}" for i, v in enumerate(vals)),
            total=sum(vals),
        )
        for key, label, vals in series
    ]
    middle_day = days[len(days) // 2] if days else None
    return LineChart(
        lines=lines,
        y_labels=(_label(high), _label((high + low) / 2), _label(low)),
        x_labels=(
            _day_label(days[0]) if days else "",
            _day_label(middle_day) if middle_day else "",
            _day_label(days[-1]) if days else "",
        ),
        zero_y=y(0) if low < 0 else None,
    )


def bar_width(*, value: int, largest: int) -> float:
    """A bar's length in percent of the longest (which is 100)."""
    return round(100 * value / largest, 1) if largest > 0 else 0.0
